"""Figures: Gantt charts, schedule tables, memory and link charts of a ``Trace``, and charts of
results tables (lines, bars, heat maps, multi-panel ``plot_panels``) for sweeps and studies.

matplotlib is imported inside the drawing functions, so importing this package (and pipesim)
never loads it. Every function returns a ``matplotlib.figure.Figure`` that belongs to no
pyplot state, and writes PNG/SVG/PDF when given a path.
"""

from pipesim.plot.charts import (
    link_load,
    plot_bars,
    plot_heatmap,
    plot_lines,
    plot_link_load,
    plot_memory,
)
from pipesim.plot.gantt import plot_gantt
from pipesim.plot.gantt_layout import assign_subrows, layout_gantt
from pipesim.plot.panels import Axis, Bars, Note, Panel, Rule, Series, plot_panels
from pipesim.plot.style import output_paths, save_figure
from pipesim.plot.table import plot_schedule_table

__all__ = [
    "Axis",
    "Bars",
    "Note",
    "Panel",
    "Rule",
    "Series",
    "assign_subrows",
    "layout_gantt",
    "link_load",
    "output_paths",
    "plot_bars",
    "plot_gantt",
    "plot_heatmap",
    "plot_lines",
    "plot_link_load",
    "plot_memory",
    "plot_panels",
    "plot_schedule_table",
    "save_figure",
]
