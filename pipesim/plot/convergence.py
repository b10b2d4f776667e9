"""Loss curves against (simulated) wall-clock time, one line per series, from plain arrays.

Nothing here knows about schedules, problems or the convergence model: a series is a label,
x and y values, and optionally a lower and upper band (e.g. the min and max over seeds), so
any study can draw with it. matplotlib is imported inside the function (see ``style``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from pipesim.plot import style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


class LossSeries(NamedTuple):
    label: str
    x: npt.ArrayLike
    y: npt.ArrayLike
    lo: npt.ArrayLike | None = None
    hi: npt.ArrayLike | None = None
    color: str | None = None  # None: the next series colour (give a schedule its style.schedule_color)


def plot_loss_curves(series: Sequence[LossSeries], path: style.PathArg = None, *, target: float | None = None,
                     title: str | None = None, xlabel: str = "simulated wall-clock time (s)",
                     ylabel: str = "loss", log_y: bool = True, formats: Iterable[str] | None = None,
                     width: float = 7.5, height: float = 4.2, ax: Axes | None = None,
                     font_size: float | None = None) -> Figure:
    """One line per series (with its band shaded), a dashed line at ``target``; the x axis
    starts at 0 and the y axis is logarithmic unless ``log_y`` is False. With ``ax`` the curves
    are drawn into that axes (of a figure the caller composes) and its figure is returned."""
    if not series:
        raise ValueError("plot_loss_curves: no series to draw")
    with style.style_context():
        if ax is None:
            fig = style.new_figure(width, height)
            # 3.1 in on the right for the legend, whatever the width (long schedule names fit)
            ax = fig.add_axes((0.75 / width, 0.13, max(1.0, width - 0.75 - 3.1) / width, 0.75))
        else:
            fig = ax.get_figure(root=True)  # type: ignore[assignment]  # an axes of a figure
        for i, s in enumerate(series):
            color = s.color or style.SERIES_COLORS[i % len(style.SERIES_COLORS)]
            x, y = np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)
            if len(x) != len(y):
                raise ValueError(f"plot_loss_curves: series {s.label!r} has {len(x)} x values and {len(y)} y values")
            if s.lo is not None and s.hi is not None:
                ax.fill_between(x, np.asarray(s.lo, dtype=float), np.asarray(s.hi, dtype=float), color=color,
                                alpha=0.18, linewidth=0)
            ax.plot(x, y, color=color, linewidth=1.5, label=s.label)
        if target is not None:
            ax.axhline(target, color="#222222", linestyle=(0, (4, 3)), linewidth=0.9, label=f"target {target:g}")
        if log_y:
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.set_yscale("log")
            plain = FuncFormatter(lambda v, _pos: f"{v:g}")
            ax.yaxis.set_major_formatter(plain)
            low, high = ax.get_ylim()
            # within about a decade the major ticks are too few: label the minor ones too
            ax.yaxis.set_minor_formatter(plain if high / max(low, 1e-300) < 20 else NullFormatter())
        ax.set_xlim(left=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title, loc="left", fontweight="bold", fontsize=style.FONT_SIZE)
        ax.grid(True, which="major", color=style.GRID_COLOR, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, labelspacing=0.7)
        style.scale_fonts(fig, font_size)
    if path is not None:
        style.save_figure(fig, path, formats)
    return fig
