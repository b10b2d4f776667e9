"""Multi-panel charts described as data: lines, markers, bars, reference lines and notes.

A figure is a sequence of ``Panel``s. A panel holds ``Series`` (a line and/or markers),
``Bars``, reference ``Rule``s, text ``Note``s and shaded x ranges, plus an ``Axis``
description for x and y. ``plot_panels`` lays the panels out in rows (sizes in inches, so fonts
keep their size whatever the figure's), adds a title, a subtitle and a figure-wide legend, and
saves PNG/SVG like every other pipesim figure.

Study scripts thereby say *what* they show (which numbers, which reference lines, which
notes), while how it is drawn (style, grid, tick formatting, legends, byte-stable files) stays
in one place. Legend entries that stand for no data (a key to line styles, say) are series or
bars with no points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pipesim.plot import style
from pipesim.plot.placement import move_off_lines, place_legend

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LineStyle = Literal["-", "--", "-.", ":", "none"] | tuple[float, tuple[float, ...]]
InsideLoc = Literal["upper left", "upper right", "lower left", "lower right", "upper center", "lower center", "best"]


@dataclass(frozen=True)
class Series:
    """A line through ``(x, y)`` with optional markers. ``hollow`` (one flag, or one per point)
    fills markers with ``face`` (default white, which hides the line; ``"none"`` shows what is
    beneath); ``y_in_axes`` reads y as a fraction of the panel's height (marks that sit on the
    axis whatever its scale)."""

    x: Sequence[Any] = ()
    y: Sequence[float] = ()
    label: str | None = None
    color: str = "#222222"
    marker: str = ""
    size: float = 4.5
    line: LineStyle = "-"
    width: float = 1.4
    hollow: bool | Sequence[bool] = False
    edge: str | None = None
    edge_width: float | None = None
    face: str = "white"
    alpha: float = 1.0
    z: float = 3.0
    y_in_axes: bool = False


@dataclass(frozen=True)
class Bars:
    """Vertical bars centred on ``x``, stacked on ``bottom`` when given; a ``hatch`` is drawn
    in the ``edge`` colour."""

    x: Sequence[float] = ()
    height: Sequence[float] = ()
    bottom: float | Sequence[float] = 0.0
    width: float = 0.8
    color: str | tuple[float, float, float] = "#4477AA"
    edge: str = "white"
    hatch: str | None = None
    linewidth: float = 0.4
    label: str | None = None


@dataclass(frozen=True)
class Rule:
    """A horizontal (or ``vertical``) reference line across the panel."""

    at: float
    vertical: bool = False
    color: str = "#222222"
    line: LineStyle = "-"
    width: float = 1.0
    label: str | None = None
    alpha: float = 1.0
    z: float = 2.0


@dataclass(frozen=True)
class Note:
    """Text at ``(x, y)``. ``where``: ``data``; ``axes`` (fractions of the panel); ``x-data``
    (x in data, y a fraction: text along an axis); ``y-data`` (x a fraction, y in data: text on
    a horizontal rule). ``offset`` in points; ``size`` relative to the base font size."""

    x: float
    y: float
    text: str
    where: str = "data"
    color: str = "#333333"
    size: float = -1.0
    ha: str = "left"
    va: str = "bottom"
    rotation: float = 0.0
    offset: tuple[float, float] = (0.0, 0.0)
    bold: bool = False
    box: bool = False


@dataclass(frozen=True)
class Axis:
    """``scale``: linear, log or log2. ``ticks`` fixes the major ticks (and drops minor ones);
    ``ticklabels`` names them, else ``fmt`` formats value / ``unit`` (e.g. ``"{:g}k"`` with
    ``unit=1e3``); on a log axis without ticks, ``log_subs`` picks the labelled mantissas (1, 2, 5
    gives 100, 200, 500, 1000). ``limits`` may be given high-to-low to reverse the axis."""

    label: str = ""
    scale: str = "linear"
    ticks: Sequence[float] | None = None
    ticklabels: Sequence[str] | None = None
    fmt: str | None = None
    unit: float = 1.0
    log_subs: tuple[float, ...] | None = None
    limits: tuple[float | None, float | None] | None = None
    integer: bool = False


@dataclass(frozen=True)
class Panel:
    """One set of axes. ``legend``: None, ``"right"`` (outside, beside the panel) or a
    location inside it (``"upper left"``, ...). ``weight`` is its width relative to the other
    panels of its row; ``grid``: ``both``, ``x``, ``y`` or ``none``."""

    series: Sequence[Series] = ()
    bars: Sequence[Bars] = ()
    rules: Sequence[Rule] = ()
    notes: Sequence[Note] = ()
    spans: Sequence[tuple[float, float]] = ()
    title: str = ""
    x: Axis = field(default_factory=Axis)
    y: Axis = field(default_factory=Axis)
    legend: Literal["right"] | InsideLoc | None = None
    legend_title: str | None = None
    legend_columns: int = 1
    grid: Literal["both", "x", "y", "none"] = "both"
    weight: float = 1.0


def plot_panels(
    panels: Sequence[Panel | None],
    path: style.PathArg = None,
    *,
    columns: int = 2,
    width: float = 10.5,
    row_height: float = 3.3,
    title: str = "",
    subtitle: str = "",
    legend: Sequence[Series | Bars | Rule] = (),
    legend_columns: int = 3,
    legend_at: str = "bottom",
    legend_title: str | None = None,
    margins: tuple[float, float, float, float] | None = None,
    gaps: tuple[float, float] = (0.75, 0.85),
    formats: Iterable[str] | None = None,
    ax: Axes | Sequence[Axes | None] | None = None,
) -> Figure:
    """Panels in rows of ``columns`` (``None`` leaves a cell empty), ``row_height`` inches each.

    ``legend`` entries make a figure-wide legend below the panels (``legend_at="bottom"``) or
    to their right (``"right"``). ``margins`` (left, right, top, bottom) and ``gaps`` (between
    columns, between rows) are inches; by default room is left for the title, the legend and
    the axis labels.

    ``ax`` (one axes, or one per panel with ``None`` where a panel is ``None``) draws the panels
    into axes of a figure the caller composes; layout arguments are then unused, the figure-wide
    ``legend`` goes to the right of the last axes, and that figure is returned.
    """
    if ax is not None:
        return _into_axes(panels, ax, path, title=title, legend=legend, legend_title=legend_title, formats=formats)
    if legend_at not in ("bottom", "right"):
        raise ValueError(f"legend_at={legend_at!r}; choose 'bottom' or 'right'")
    rows = [list(panels[i:i + columns]) for i in range(0, len(panels), columns)] or [[]]
    legend_rows = math.ceil(len(legend) / max(1, legend_columns)) if legend and legend_at == "bottom" else 0
    if margins is None:
        top = 0.3 + (0.3 if title else 0.0) + (0.25 if subtitle else 0.0)
        right = 2.6 if legend and legend_at == "right" else 0.3
        margins = (0.75, right, top, 0.6 + 0.22 * legend_rows + (0.2 if legend_rows else 0.0))
    left, right, top, bottom = margins
    H = top + bottom + len(rows) * row_height - gaps[1]
    with style.style_context():
        fig = style.new_figure(width, H)
        for r, row in enumerate(rows):
            total = sum(p.weight for p in row if p is not None) + sum(1.0 for p in row if p is None)
            room = width - left - right - gaps[0] * (len(row) - 1)
            x0 = left
            y0 = H - top - (r + 1) * row_height + gaps[1]
            for p in row:
                w = room * ((p.weight if p is not None else 1.0) / total)
                if p is not None:
                    ax = fig.add_axes((x0 / width, y0 / H, w / width, (row_height - gaps[1]) / H))
                    _draw_panel(ax, p)
                x0 += w + gaps[0]
        if title:
            fig.text(0.1 / width, 1 - 0.15 / H, title, ha="left", va="top", fontweight="bold",
                     fontsize=style.FONT_SIZE + 1)
        if subtitle:
            fig.text(0.1 / width, 1 - (0.45 if title else 0.15) / H, subtitle, ha="left", va="top",
                     fontsize=style.FONT_SIZE - 1, color="#444444")
        if legend:
            handles = [_handle(e) for e in legend]
            if legend_at == "bottom":
                fig.legend(handles=handles, loc="lower center", ncol=legend_columns,
                           bbox_to_anchor=(0.5, 0.05 / H), title=legend_title)
            else:
                fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1 - (right - 0.15) / width,
                                                                             1 - top / H),
                           title=legend_title, alignment="left")
    style.save_figure(fig, path, formats)
    return fig


def _into_axes(panels: Sequence[Panel | None], ax: Axes | Sequence[Axes | None], path: style.PathArg, *,
               title: str, legend: Sequence[Series | Bars | Rule], legend_title: str | None,
               formats: Iterable[str] | None) -> Figure:
    axes = [ax] if not isinstance(ax, Sequence) else list(ax)
    if len(axes) != len(panels):
        raise ValueError(f"plot_panels: {len(panels)} panels but {len(axes)} axes in ax=")
    drawn = [a for a, p in zip(axes, panels, strict=True) if a is not None and p is not None]
    if not drawn:
        raise ValueError("plot_panels: ax= names no axes for any panel")
    fig = drawn[0].get_figure(root=True)
    if fig is None:
        raise ValueError("plot_panels: the axes in ax= belong to no figure")
    with style.style_context():
        for a, p in zip(axes, panels, strict=True):
            if a is not None and p is not None:
                _draw_panel(a, p)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold", fontsize=style.FONT_SIZE + 1)
        if legend:
            drawn[-1].legend(handles=[_handle(e) for e in legend], loc="upper left", bbox_to_anchor=(1.02, 1.0),
                             borderaxespad=0.0, title=legend_title)
    style.save_figure(fig, path, formats)  # type: ignore[arg-type]  # a Figure, not a SubFigure
    return fig  # type: ignore[return-value]


def _draw_panel(ax: Axes, p: Panel) -> None:
    from matplotlib.transforms import blended_transform_factory

    for x0, x1 in p.spans:
        ax.axvspan(x0, x1, color="#F2F2F2", zorder=0)
    for b in p.bars:
        ax.bar(list(b.x), list(b.height), width=b.width, bottom=b.bottom, color=b.color, edgecolor=b.edge,
               hatch=b.hatch, linewidth=b.linewidth, label=b.label, zorder=2)
    for s in p.series:
        trans = blended_transform_factory(ax.transData, ax.transAxes) if s.y_in_axes else ax.transData
        hollow = [s.hollow] * len(s.x) if isinstance(s.hollow, bool) else list(s.hollow)
        same = len(set(hollow)) <= 1
        first = s.hollow if isinstance(s.hollow, bool) else bool(hollow and hollow[0])
        # One call when every marker looks alike; otherwise the line, then each marker on top.
        ax.plot(list(s.x), list(s.y), color=s.color, linestyle=s.line, linewidth=s.width,
                marker=s.marker if same else "", markersize=s.size, alpha=s.alpha, zorder=s.z,
                markerfacecolor=s.face if first else s.color, transform=trans,
                markeredgecolor=s.edge or s.color, markeredgewidth=_edge_width(s, any(hollow)),
                label=s.label, clip_on=not s.y_in_axes)
        if not same:
            for xv, yv, h in zip(s.x, s.y, hollow, strict=True):
                ax.plot([xv], [yv], linestyle="none", marker=s.marker, markersize=s.size, color=s.color,
                        markerfacecolor=s.face if h else s.color, markeredgewidth=_edge_width(s, h), zorder=s.z,
                        markeredgecolor=s.edge or s.color)
    for rule in p.rules:
        line = ax.axvline if rule.vertical else ax.axhline
        line(rule.at, color=rule.color, linestyle=rule.line, linewidth=rule.width, alpha=rule.alpha,
             zorder=rule.z, label=rule.label)
    _axis(ax, ax.xaxis, p.x, "x")
    _axis(ax, ax.yaxis, p.y, "y")
    movable = []
    for n in p.notes:
        trans = {"data": ax.transData, "axes": ax.transAxes,
                 "x-data": blended_transform_factory(ax.transData, ax.transAxes),
                 "y-data": blended_transform_factory(ax.transAxes, ax.transData)}[n.where]
        box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85} if n.box else None
        note = ax.annotate(n.text, (n.x, n.y), xycoords=trans, xytext=n.offset, textcoords="offset points",
                           ha=n.ha, va=n.va, rotation=n.rotation, color=n.color, fontsize=style.FONT_SIZE + n.size,
                           fontweight="bold" if n.bold else "normal", bbox=box, zorder=6, annotation_clip=False)
        if n.where != "axes":  # text tied to data (a point, a rule) must not hide data
            movable.append(note)
    if p.title:
        ax.set_title(p.title, loc="left", fontweight="bold", fontsize=style.FONT_SIZE)
    if p.grid != "none":
        ax.grid(True, axis=p.grid, which="major", color=style.GRID_COLOR, linewidth=0.6)
    ax.set_axisbelow(True)
    if p.legend == "right":
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, title=p.legend_title,
                  ncol=p.legend_columns, labelspacing=0.7)
    elif p.legend:
        # the requested corner if it is free of data, else another free corner, else outside
        place_legend(ax, p.legend, title=p.legend_title, ncol=p.legend_columns, frameon=True, facecolor="white",
                     edgecolor="none", framealpha=0.9)
    # labels tied to data move off any line, marker or bar they would cover (not axes-placed notes)
    move_off_lines(ax, movable)


def _axis(ax: Axes, axis: Any, a: Axis, which: str) -> None:
    from matplotlib.ticker import (
        FixedLocator,
        FuncFormatter,
        LogLocator,
        MaxNLocator,
        NullFormatter,
        NullLocator,
    )

    if a.scale == "log2":
        (ax.set_xscale if which == "x" else ax.set_yscale)("log", base=2)
    elif a.scale in ("log", "linear"):
        (ax.set_xscale if which == "x" else ax.set_yscale)(a.scale)
    else:
        raise ValueError(f"axis scale {a.scale!r}; choose linear, log or log2")
    if a.ticks is not None and a.ticklabels is not None:
        axis.set_ticks(list(a.ticks), labels=list(a.ticklabels))
        axis.set_minor_locator(NullLocator())
    elif a.ticks is not None:
        axis.set_major_locator(FixedLocator(list(a.ticks)))
        axis.set_minor_locator(NullLocator())
    elif a.log_subs is not None and a.scale == "log":
        axis.set_major_locator(LogLocator(base=10, subs=a.log_subs))
        axis.set_minor_formatter(NullFormatter())
    if a.integer:
        axis.set_major_locator(MaxNLocator(integer=True))
    if a.fmt is not None and a.ticklabels is None:
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: a.fmt.format(v / a.unit) if a.fmt else ""))
        if a.scale != "linear":
            axis.set_minor_formatter(NullFormatter())
    if a.limits is not None:
        (ax.set_xlim if which == "x" else ax.set_ylim)(*a.limits)
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(a.label)


def _handle(entry: Series | Bars | Rule) -> Any:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if isinstance(entry, Bars):
        return Patch(facecolor=entry.color, hatch=entry.hatch, edgecolor=entry.edge, label=entry.label)
    if isinstance(entry, Rule):
        return Line2D([], [], color=entry.color, linestyle=entry.line, linewidth=entry.width, label=entry.label)
    hollow = entry.hollow if isinstance(entry.hollow, bool) else any(entry.hollow)
    return Line2D([], [], color=entry.color, linestyle=entry.line, linewidth=entry.width, marker=entry.marker,
                  markersize=entry.size, markerfacecolor=entry.face if hollow else entry.color,
                  markeredgecolor=entry.edge or entry.color, markeredgewidth=_edge_width(entry, hollow),
                  label=entry.label)


def _edge_width(s: Series, hollow: bool) -> float:
    """Hollow markers get a slightly heavier outline: it is all there is of them."""
    return s.edge_width if s.edge_width is not None else (1.2 if hollow else 1.0)
