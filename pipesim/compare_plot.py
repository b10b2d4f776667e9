"""The figure of ``pipesim compare``: one Gantt block per schedule on a shared time axis, and a
bar panel of iteration time and peak memory, so that a reader sees both *why* (the blocks)
and *how much* (the bars) in one figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipesim.plot.style import (
    KIND_COLORS,
    KIND_NAMES,
    new_figure,
    scale_fonts,
    schedule_color,
    schedule_label,
    style_context,
    time_scale,
)
from pipesim.units import format_time


def plot_compare(rows: Sequence[Any], traces: Mapping[str, Any], path: str | Path, *, width: float = 11.0,
                 font_size: float | None = None, title: str | None = None) -> Path:
    """Draw the feasible rows' traces (ranked order, best on top) and the bar panel to ``path``;
    ``width`` in inches, ``font_size`` in points, ``title`` above the figure ("" or None: none)."""
    if not (isinstance(width, int | float) and 4.0 <= width <= 60.0):
        raise ValueError(f"width={width!r} inches; give 4 to 60")
    shown = [r for r in rows if r.feasible and r.schedule in traces]
    if not shown:
        raise ValueError("--plot: no feasible schedule to draw")
    horizon = max(traces[r.schedule].makespan for r in shown) or 1.0
    factor, unit = time_scale(horizon, False)
    heights = [len(traces[r.schedule].devices) for r in shown]
    total = sum(heights) + 2 * len(shown)
    with style_context():
        fig = new_figure(float(width), 0.12 * total + 1.0 + 2.2 + 0.9)
        # 0.9 in between the blocks and the bars: the x label above and the bar legends below
        # (hspace is a fraction of the mean axes height)
        gap = 0.9 / ((0.12 * total + 1.0 + 2.2) / 2)
        grid = fig.add_gridspec(2, 2, height_ratios=[0.12 * total + 1.0, 2.2], width_ratios=[1, 1], hspace=gap)
        ax = fig.add_subplot(grid[0, :])
        y, ticks, labels = 0.0, [], []
        used: set[str] = set()
        for r, h in zip(shown, heights, strict=True):
            tr = traces[r.schedule]
            index = {name: i for i, name in enumerate(tr.devices)}
            for s in tr.spans:
                if s.track not in index:
                    continue  # link lanes are not drawn here
                kind = s.kind if s.kind in KIND_COLORS else "allreduce"
                used.add(kind)
                row = y + index[s.track]
                ax.broken_barh([(s.start * factor, (s.end - s.start) * factor)], (row, 0.9),
                               facecolors=KIND_COLORS[kind], linewidth=0)
            ticks.append(y + h / 2)
            name = schedule_label(r.schedule)
            labels.append(f"{name}\n{format_time(r.iteration_time)}" if r.iteration_time else name)
            y += h + 2
            ax.axhline(y - 1, color="#bbbbbb", linewidth=0.5)
        ax.set_ylim(y - 1, -1)
        ax.set_yticks(ticks, labels, fontsize=7)
        ax.set_xlim(0, horizon * factor)
        ax.set_xlabel(f"time ({unit}); one row per device, one block per schedule")
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=KIND_COLORS[k], label=KIND_NAMES.get(k, k)) for k in KIND_COLORS if k in used],
                  loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, ncols=6)  # above the blocks, off the data
        names = [schedule_label(r.schedule) for r in shown]
        bar_t = fig.add_subplot(grid[1, 0])
        bar_t.barh(names, [(r.iteration_time or 0.0) * factor for r in shown],
                   color=[schedule_color(r.schedule) for r in shown])
        bar_t.barh(names, [(r.table_time or 0.0) * factor for r in shown], color="none", edgecolor="#222222",
                   label="free network (table level)")
        bar_t.invert_yaxis()
        bar_t.set_xlabel(f"iteration time ({unit})")
        bar_t.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0))  # above the bars
        bar_m = fig.add_subplot(grid[1, 1])
        sized = all(r.memory_unit == "bytes" for r in shown)
        bar_m.barh(names, [(r.peak_memory or 0.0) / (1e9 if sized else 1.0) for r in shown],
                   color=[schedule_color(r.schedule) for r in shown])
        limit = shown[0].memory_limit
        if sized and limit:
            bar_m.axvline(limit / 1e9, color="#CC3311", linestyle="--", linewidth=1, label="GPU memory")
            bar_m.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0))
        bar_m.invert_yaxis()
        bar_m.set_yticks(range(len(names)), [""] * len(names))
        bar_m.set_xlabel("peak memory (GB)" if sized else "peak memory (model-stage units)")
        if title:
            fig.suptitle(title, x=0.02, ha="left", fontweight="bold")
        scale_fonts(fig, font_size)
        out = Path(path)
        fig.savefig(out, bbox_inches="tight")
    return out
