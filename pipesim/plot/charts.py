"""Memory and link-load charts of a trace, and small line/bar helpers for study figures.

The helpers take results tables as lists of dicts (one dict per row, as sweeps produce them),
so a study script is ``plot_lines(rows, x="m", y="bubble_ratio", hue="schedule", path=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipesim.plot import style
from pipesim.plot.gantt_layout import assign_subrows
from pipesim.trace import Trace

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Rows = Sequence[Mapping[str, Any]]
MAX_LEGEND_SERIES = 10  # more devices than this get a colour bar instead of a legend


# --- memory ---------------------------------------------------------------------------------

def memory_is_bytes(trace: Trace, override: str | None = None) -> bool:
    """Whether memory samples are bytes, as the trace declares (``Trace.memory_unit``), else
    stage-microbatch units; ``override`` replaces the declaration."""
    unit = override if override is not None else trace.memory_unit
    return str(unit).lower() in ("b", "byte", "bytes")


def _bytes_scale(peak: float) -> tuple[float, str]:
    for factor, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if peak >= factor:
            return factor, unit
    return 1.0, "B"


def memory_series(trace: Trace, field: str = "total") -> dict[int, tuple[list[float], list[float]]]:
    """Per device index: (times, values) in time order, stable for equal times (record order)."""
    out: dict[int, tuple[list[float], list[float]]] = {}
    samples = sorted(enumerate(trace.memory), key=lambda im: (im[1].device, im[1].time, im[0]))
    for _, m in samples:
        ts, vs = out.setdefault(m.device, ([], []))
        ts.append(m.time)
        vs.append(getattr(m, field))
    return out


def plot_memory(
    trace: Trace,
    path: style.PathArg = None,
    *,
    field: str = "total",
    title: str | None = None,
    formats: Iterable[str] | None = None,
    memory_unit: str | None = None,
    width: float = 8.0,
    ax: Axes | None = None,
    font_size: float | None = None,
) -> Figure:
    """Memory over time per device as step lines, each device's peak marked, the highest peak
    labelled, and ``trace.meta["memory_limit"]`` (bytes) drawn as a limit line when present.
    ``ax`` draws into that axes of a figure the caller composes and returns that figure."""
    if field not in ("total", "activations"):
        raise ValueError(f"field={field!r}; choose 'total' or 'activations'")
    with style.style_context():
        fig = _draw_memory(trace, field, title, memory_unit, width, ax)
        style.scale_fonts(fig, font_size)
    style.save_figure(fig, path, formats)
    return fig


def _draw_memory(trace: Trace, field: str, title: str | None, memory_unit: str | None, width: float,
                 ax: Axes | None = None) -> Figure:
    import matplotlib

    from pipesim.plot.placement import move_off_lines

    series = memory_series(trace, field)
    in_bytes = memory_is_bytes(trace, memory_unit)
    limit = trace.meta.get("memory_limit")
    peak_all = max((max(v) for _, v in series.values() if v), default=0.0)
    top = max(peak_all, float(limit) if limit else 0.0)
    yf, yu = _bytes_scale(top) if in_bytes else (1.0, "microbatch activations")
    unitless = style.is_unitless(trace)
    end = max(trace.makespan, max((t[-1] for t, _ in series.values() if t), default=0.0))
    tf, tu = style.time_scale(end, unitless)

    many = len(series) > MAX_LEGEND_SERIES
    own = ax is None
    if ax is None:
        fig = style.new_figure(width + (0.9 if not many else 0.6), 4.2)
        ax = fig.add_axes((0.09, 0.13, 0.74 if not many else 0.8, 0.74))
    else:
        fig = ax.get_figure(root=True)  # type: ignore[assignment]  # an axes of a figure
    cmap = matplotlib.colormaps["viridis"]
    ndev = max(len(trace.devices), 1)
    for d, (ts, vs) in sorted(series.items()):
        color = cmap(d / max(ndev - 1, 1)) if many else style.SERIES_COLORS[d % len(style.SERIES_COLORS)]
        xs = [t * tf for t in ts] + [end * tf]
        ys = [v / yf for v in vs] + [vs[-1] / yf]
        name = style.device_label(trace.devices[d]) if d < len(trace.devices) else f"device {d}"
        ax.step(xs, ys, where="post", color=color, linewidth=1.1 if not many else 0.8, label=name)
        k = max(range(len(vs)), key=lambda i: (vs[i], -i))
        ax.plot([ts[k] * tf], [vs[k] / yf], marker="o", markersize=3.5, color=color, zorder=3)
    peak_label = None
    if series:
        d, (ts, vs) = max(series.items(), key=lambda kv: (max(kv[1][1]), -kv[0]))
        k = max(range(len(vs)), key=lambda i: (vs[i], -i))
        name = style.device_label(trace.devices[d]) if d < len(trace.devices) else f"device {d}"
        value = style.format_bytes(vs[k]) if in_bytes else f"{vs[k]:g}"
        peak_label = ax.annotate(f"peak {value} ({name})", (ts[k] * tf, vs[k] / yf), xytext=(6, 6),
                    textcoords="offset points", fontsize=style.FONT_SIZE - 1, color="#333333")
    if limit:
        ax.axhline(float(limit) / yf, color="#CC3311", linestyle=(0, (4, 2)), linewidth=1.0,
                   label="memory limit")
        ax.text(0.0, float(limit) / yf, f" limit {style.format_bytes(float(limit))}", va="bottom",
                ha="left", fontsize=style.FONT_SIZE - 1.5, color="#CC3311", transform=ax.get_yaxis_transform())
    ax.set_xlim(0, end * tf if end > 0 else 1)
    ax.set_ylim(0, (top / yf) * 1.12 if top > 0 else 1)
    ax.set_xlabel(f"time ({tu})")
    ax.set_ylabel(f"{'memory' if field == 'total' else 'activations'} ({yu})")
    ax.grid(True, color=style.GRID_COLOR, linewidth=0.6)
    ax.set_axisbelow(True)
    head = title if title is not None else f"{trace.meta.get('schedule', 'trace')}: memory per device"
    ax.set_title(head, loc="left", fontweight="bold")
    if many:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        sm = ScalarMappable(norm=Normalize(0, ndev - 1), cmap=cmap)
        if own:
            fig.colorbar(sm, cax=fig.add_axes((0.91, 0.13, 0.015, 0.74)), label="device")
        else:
            fig.colorbar(sm, ax=ax, label="device")
    elif series or limit:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    if peak_label is not None:
        move_off_lines(ax, [peak_label])  # the peak's label must not hide another device's line
    return fig


# --- links ----------------------------------------------------------------------------------

def link_load(trace: Trace) -> list[dict[str, Any]]:
    """Per link that carried traffic: bytes, transfers, busy time (union of its spans),
    utilisation (busy / makespan), total queueing delay and the most transfers at once."""
    window = trace.makespan or max((s.end for s in trace.spans), default=0.0)
    by_link: dict[str, list] = {name: [] for name in trace.links}
    for s in trace.spans:
        if s.track in by_link:
            by_link[s.track].append(s)
    out = []
    for name in trace.links:
        spans = by_link[name]
        if not spans:
            continue
        busy, cur_s, cur_e = 0.0, None, None
        for s in sorted(spans, key=lambda x: (x.start, x.end)):
            if cur_e is None or s.start > cur_e:
                if cur_e is not None:
                    busy += cur_e - cur_s
                cur_s, cur_e = s.start, s.end
            else:
                cur_e = max(cur_e, s.end)
        if cur_e is not None:
            busy += cur_e - cur_s
        out.append({
            "link": name,
            "bytes": sum(s.nbytes for s in spans),
            "transfers": len(spans),
            "busy": busy,
            "utilisation": busy / window if window > 0 else 0.0,
            "queued": sum(s.queued for s in spans),
            "max_concurrent": max(assign_subrows([(s.start, s.end) for s in spans])) + 1,
        })
    return out


def plot_link_load(
    trace: Trace,
    path: style.PathArg = None,
    *,
    title: str | None = None,
    top: int | None = None,
    formats: Iterable[str] | None = None,
    ax: Sequence[Axes] | None = None,
) -> Figure:
    """Horizontal bars per link lane: bytes carried and utilisation (busy time / makespan).

    ``top=N`` keeps the N busiest links (by utilisation) for big topologies. ``ax`` is a pair
    of axes (bytes, utilisation) of a figure the caller composes; that figure is returned.
    """
    if ax is not None and len(ax) != 2:
        raise ValueError(f"plot_link_load: ax= takes two axes (bytes, utilisation), got {len(ax)}")
    load = link_load(trace)
    if top is not None:
        keep = {r["link"] for r in sorted(load, key=lambda r: (-r["utilisation"], r["link"]))[:top]}
        load = [r for r in load if r["link"] in keep]
    with style.style_context():
        fig = _draw_link_load(trace, load, title, ax)
    style.save_figure(fig, path, formats)
    return fig


def _draw_link_load(trace: Trace, load: list[dict[str, Any]], title: str | None,
                    axes: Sequence[Axes] | None = None) -> Figure:
    n = max(len(load), 1)
    row = min(0.28, max(0.09, 8.0 / n))
    names = [style.link_label(r["link"]) for r in load]
    font = min(style.FONT_SIZE - 0.5, max(4.0, 0.75 * row * 72))
    left = 0.3 + max((len(x) for x in names), default=4) * font * 0.62 / 72
    H = 1.2 + n * row
    W = left + 7.0
    if axes is None:
        fig = style.new_figure(W, H)
        body = (n * row) / H
        a1 = fig.add_axes((left / W, 0.7 / H, 3.1 / W, body))
        a2 = fig.add_axes(((left + 3.5) / W, 0.7 / H, 3.1 / W, body))
    else:
        a1, a2 = axes
        fig = a1.get_figure(root=True)  # type: ignore[assignment]  # an axes of a figure
    ys = list(range(len(load)))
    peak = max((r["bytes"] for r in load), default=0.0)
    bf, bu = _bytes_scale(peak)
    a1.barh(ys, [r["bytes"] / bf for r in load], color=style.MESSAGE_COLORS["act"], height=0.75)
    a2.barh(ys, [100.0 * r["utilisation"] for r in load], color="#4477AA", height=0.75)
    for ax in (a1, a2):
        ax.set_ylim(max(len(load), 1) - 0.5, -0.5)
        ax.grid(True, axis="x", color=style.GRID_COLOR, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
    a1.set_yticks(ys)
    a1.set_yticklabels(names, fontsize=font)
    a2.set_yticks(ys)
    a2.set_yticklabels([])
    a1.set_xlabel(f"bytes carried ({bu})")
    a2.set_xlabel("utilisation (% of makespan busy)")
    a2.set_xlim(0, 100)
    head = title if title is not None else f"{trace.meta.get('schedule', 'trace')}: link load"
    if axes is not None:
        if head:
            a1.set_title(head, loc="left", fontweight="bold", fontsize=style.FONT_SIZE)
    elif head:
        fig.text(left / W, 1 - 0.25 / H, head, fontweight="bold", fontsize=style.FONT_SIZE + 1, va="center")
    if not load:
        a1.text(0.5, 0.5, "no link traffic in this trace", transform=a1.transAxes, ha="center")
    return fig


# --- generic study helpers ------------------------------------------------------------------

def _unique(values: Iterable[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def _check_columns(rows: Rows, *cols: str | None) -> None:
    for c in cols:
        if c is not None and rows and any(c not in r for r in rows):
            known = ", ".join(sorted(rows[0]))
            raise KeyError(f"column {c!r} is missing from some rows; columns: {known}")


def _plain_log_ticks(axis: Any, values: Sequence[Any]) -> None:
    """Log axes labelled 4, 8, 16 rather than 4x10^0: a sweep's own values when there are
    few of them, plain numbers otherwise."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    nums = sorted({float(v) for v in values if isinstance(v, int | float) and v > 0})
    if 0 < len(nums) <= 12:
        axis.set_ticks(nums)
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _finish(ax: Axes, title: str, xlabel: str | None, ylabel: str | None, x: str, y: str, legend: bool) -> None:
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel if xlabel is not None else x)
    ax.set_ylabel(ylabel if ylabel is not None else y)
    ax.grid(True, color=style.GRID_COLOR, linewidth=0.6)
    ax.set_axisbelow(True)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _figure_and_axes(ax: Axes | None, width: float, height: float, legend: bool) -> tuple[Figure, Axes]:
    """A new figure with one Axes (room on the right for an outside legend), or ``ax`` and its figure."""
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    total = width + (1.4 if legend else 0.0)
    fig = style.new_figure(total, height)
    return fig, fig.add_axes((0.12, 0.15, 0.83 * width / total, 0.74))


def plot_lines(
    rows: Rows,
    x: str,
    y: str,
    hue: str | None = None,
    path: style.PathArg = None,
    title: str = "",
    xlabel: str | None = None,
    ylabel: str | None = None,
    logx: bool = False,
    logy: bool = False,
    *,
    formats: Iterable[str] | None = None,
    width: float = 6.5,
    height: float = 3.8,
    ax: Axes | None = None,
) -> Figure:
    """One line per ``hue`` value (first-seen order), points sorted by ``x``, with markers.
    ``ax``: draw into this matplotlib Axes (a panel of a figure of your own) instead of a new
    figure; ``width``/``height`` are then unused and nothing is saved unless ``path`` is given."""
    _check_columns(rows, x, y, hue)
    groups = _unique(r[hue] for r in rows) if hue else [None]
    with style.style_context():
        fig, ax = _figure_and_axes(ax, width, height, bool(hue))
        markers = "osD^vP*X"
        for i, g in enumerate(groups):
            pts = sorted(((r[x], r[y]) for r in rows if hue is None or r[hue] == g), key=lambda p: p[0])
            name, color = style.series_style(g, i)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[i % len(markers)], markersize=4,
                    linewidth=1.4, color=color, label=name if hue else None)
        if logx:
            ax.set_xscale("log")
            _plain_log_ticks(ax.xaxis, _unique(r[x] for r in rows))
        if logy:
            ax.set_yscale("log")
            _plain_log_ticks(ax.yaxis, [])
        _finish(ax, title, xlabel, ylabel, x, y, bool(hue))
    style.save_figure(fig, path, formats)
    return fig


def plot_bars(
    rows: Rows,
    x: str,
    y: str,
    hue: str | None = None,
    path: style.PathArg = None,
    title: str = "",
    xlabel: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
    *,
    horizontal: bool = False,
    formats: Iterable[str] | None = None,
    width: float = 6.5,
    height: float = 3.8,
    ax: Axes | None = None,
) -> Figure:
    """Grouped bars: categories are ``x`` values, one bar per ``hue`` value within each.
    ``ax`` as in ``plot_lines``."""
    _check_columns(rows, x, y, hue)
    cats = _unique(r[x] for r in rows)
    groups = _unique(r[hue] for r in rows) if hue else [None]
    value = {(r[x], r[hue] if hue else None): r[y] for r in rows}
    with style.style_context():
        fig, ax = _figure_and_axes(ax, width, height, bool(hue))
        bw = 0.8 / len(groups)
        for i, g in enumerate(groups):
            pos = [c + (i - (len(groups) - 1) / 2) * bw for c in range(len(cats))]
            vals = [value.get((c, g), 0.0) for c in cats]
            name, color = style.series_style(g, i)
            label = name if hue else None
            if horizontal:
                ax.barh(pos, vals, height=bw * 0.95, color=color, label=label)
            else:
                ax.bar(pos, vals, width=bw * 0.95, color=color, label=label)
        ticks = list(range(len(cats)))
        if horizontal:
            ax.set_yticks(ticks)
            ax.set_yticklabels([str(c) for c in cats])
            ax.invert_yaxis()
            if logy:
                ax.set_xscale("log")
            _finish(ax, title, ylabel, xlabel, y, x, bool(hue))
        else:
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(c) for c in cats])
            if logy:
                ax.set_yscale("log")
            _finish(ax, title, xlabel, ylabel, x, y, bool(hue))
    style.save_figure(fig, path, formats)
    return fig


def plot_heatmap(
    values: Sequence[Sequence[float | None]],
    xlabels: Sequence[str],
    ylabels: Sequence[str],
    path: style.PathArg = None,
    *,
    cell_text: Sequence[Sequence[str]] | None = None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    colorbar: str = "",
    log: bool = False,
    vmax: float | None = None,
    tick_format: str = "{:g}",
    tick_unit: float = 1.0,
    formats: Iterable[str] | None = None,
    width: float = 7.6,
    height: float = 4.1,
    ax: Axes | None = None,
) -> Figure:
    """``ax`` as in ``plot_lines`` (the colour bar then takes room from it). A grid of coloured cells: ``values[i][j]`` is row ``ylabels[i]`` (first row at the
    bottom), column ``xlabels[j]``; None leaves a cell blank. ``cell_text`` is written in each
    cell in black or white, whichever reads on its colour. The colour bar's ticks show
    value / ``tick_unit`` through ``tick_format`` (``"{:g}k"`` with 1e3 gives 10k)."""
    import numpy as np
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    grid = np.array([[np.nan if v is None else float(v) for v in row] for row in values], dtype=float)
    if grid.shape != (len(ylabels), len(xlabels)):
        raise ValueError(f"values are {grid.shape[0]} x {grid.shape[1]}; labels give {len(ylabels)} x {len(xlabels)}")
    lo, hi = float(np.nanmin(grid)), float(vmax if vmax is not None else np.nanmax(grid))
    with style.style_context():
        own = ax is None
        if ax is None:
            fig = style.new_figure(width, height)
            ax = fig.add_axes((0.12, 0.14, 0.70, 0.70))
        else:
            fig = ax.figure  # type: ignore[assignment]
        norm = LogNorm(vmin=lo, vmax=hi) if log else Normalize(vmin=lo, vmax=hi)
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", norm=norm)
        for i in range(len(ylabels)):
            for j in range(len(xlabels)):
                if cell_text is None or np.isnan(grid[i, j]) or not cell_text[i][j]:
                    continue
                r, g, b = (float(c) for c in im.cmap(im.norm(grid[i, j]))[:3])
                ax.text(j, i, cell_text[i][j], ha="center", va="center", fontsize=style.FONT_SIZE - 1.5,
                        color=style.text_color((r, g, b)), linespacing=1.1)
        ax.set_xticks(range(len(xlabels)), labels=list(xlabels))
        ax.set_yticks(range(len(ylabels)), labels=list(ylabels))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, loc="left", fontweight="bold", fontsize=style.FONT_SIZE)
        cb = fig.colorbar(im, cax=fig.add_axes((0.85, 0.14, 0.025, 0.70))) if own else fig.colorbar(im, ax=ax)
        cb.set_label(colorbar)
        if log:
            cb.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            cb.ax.yaxis.set_minor_formatter(NullFormatter())
        cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: tick_format.format(v / tick_unit)))
    style.save_figure(fig, path, formats)
    return fig
