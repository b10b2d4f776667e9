"""Paper-style Gantt chart of a trace: one row per device, optional link lanes below.

Reads only a ``Trace``. Every box of one figure goes into a single ``PolyCollection`` (per-box
face colours and edge widths), so 64 devices x 2000 actions draw in about a second; text is
placed only where it fits (computed from the box width in pixels) and is switched off
altogether when there would be too much of it to read.

Shading rule: a span's colour is its kind's palette colour (``style.KIND_COLORS``) tinted by
its *chunk*, the fact the span carries (the stage's index among its device's stages: the
virtual-stage chunk of interleaved, V-shape and Hanayo schedules, the replica of Chimera and
DualPipe). The first chunk is lightest, the last darkest.

Link lanes: one lane per link direction that carried traffic in the window; transfers that
overlap in time on one lane are stacked into sub-rows (``assign_subrows``), so a lane's
height shows its worst contention at a glance. Transfers are coloured by the kind of message
they carry; a faint line before a transfer shows how long it queued.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pipesim.plot import style
from pipesim.plot.gantt_layout import (
    AXIS_MARGIN,
    BOX_HEIGHT,
    HEADLINE,
    LANE_PAD,
    LINK_BOX,
    LINK_GAP,
    LINK_PITCH,
    MAX_LABELS,
    RIGHT_MARGIN,
    STRIP_KINDS,
    GanttLayout,
    box_text,
    chunk_of,
    chunk_swatch,
    default_title,
    in_window,
    key_figures,
    kind_color,
    kinds_present,
    lane_kind,
    layout_gantt,
    legend_args,
    message_color,
    message_kinds,
    num_chunks,
)
from pipesim.trace import Span, Trace

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# --- drawing -------------------------------------------------------------------------------

def plot_gantt(
    trace: Trace,
    path: style.PathArg = None,
    *,
    links: bool | str = False,
    time_range: tuple[float, float] | None = None,
    title: str | None = None,
    width: float | None = None,
    formats: Iterable[str] | None = None,
    time_unit: str | None = None,
    labels: bool = True,
    legend: bool = True,
    max_links: int | None = None,
    ax: Axes | None = None,
    font_size: float | None = None,
) -> Figure:
    """Draw ``trace`` as a Gantt chart; write it to ``path`` (suffix picks PNG/SVG/PDF; a list of
    paths or ``formats=("png", "svg")`` writes several) and return the matplotlib Figure.

    ``links=True`` (or ``"condensed"``) adds link lanes: each link between nodes that carried
    traffic, and one folded lane per node for its intra-node links; ``"busy"`` one lane per
    link direction that carried traffic; ``"all"`` every link, idle ones too (``max_links=N``:
    only the N busiest lanes, in trace order, for big topologies). ``time_range=(t0,
    t1)`` zooms (trace time units). ``width`` is in inches (height follows the rows).
    ``time_unit="slot"`` overrides ``trace.meta["time_unit"]`` for abstract-cost traces.
    ``ax`` draws into that axes of a figure the caller composes (title on the axes, legend to
    its right) and returns that figure. ``font_size`` (points) rescales the text, not the boxes'
    labels (they are sized to fit their boxes).
    """
    with style.style_context():
        fig = _draw(trace, links=links, time_range=time_range, title=title, width=width,
                    time_unit=time_unit, labels=labels, legend=legend, max_links=max_links, ax=ax)
        style.scale_fonts(fig, font_size)
    style.save_figure(fig, path, formats)
    return fig


def _draw(trace: Trace, *, links: bool | str, time_range: tuple[float, float] | None, title: str | None,
          width: float | None, time_unit: str | None, labels: bool, legend: bool,
          max_links: int | None, ax: Axes | None = None) -> Figure:
    import numpy as np
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.patches import Patch

    lay = layout_gantt(trace, links=links, time_range=time_range, width=width, max_links=max_links, title=title)
    unitless = style.is_unitless(trace, time_unit)
    factor, unit = style.time_scale(lay.t1 - lay.t0, unitless)
    own = ax is None
    if ax is None:
        W, H = lay.figsize
        fig = style.new_figure(W, H)
        ax_w = W - lay.left - RIGHT_MARGIN
        ax = fig.add_axes((lay.left / W, lay.bottom / H, ax_w / W, lay.body_inches / H))
        row_inches = lay.row_inches
    else:
        fig = ax.get_figure(root=True)  # type: ignore[assignment]  # an axes of a figure
        W, H = (float(v) for v in fig.get_size_inches())
        box = ax.get_position()
        ax_w = box.width * W
        row_inches = box.height * H / max(lay.body_units, 1e-9)
    x_lo, x_hi = lay.t0 * factor, lay.t1 * factor
    px_per_x = ax_w * style.DPI / (x_hi - x_lo)
    px_per_row = row_inches * style.DPI

    # Collect boxes as (x0, x1, y0, y1, face rgb, text, fontsize) in plot coordinates.
    xs0: list[float] = []
    xs1: list[float] = []
    ys0: list[float] = []
    ys1: list[float] = []
    faces: list[tuple[float, float, float]] = []
    texts: list[str] = []
    fonts: list[float] = []
    row_of = {name: i for i, name in enumerate(lay.devices)}
    nchunks = num_chunks(trace)
    dev_font = min(8.0, 0.55 * BOX_HEIGHT * row_inches * 72.0)
    strips: list[Span] = []
    # What is actually drawn, so the legend lists exactly that (kinds, chunks, message kinds).
    drawn_kinds: set[str] = set()
    drawn_chunks: set[int] = set()
    drawn_msgs: set[str] = set()
    for s in in_window((s for s in trace.spans if s.track in row_of), lay.t0, lay.t1):
        if s.kind in STRIP_KINDS:
            strips.append(s)
            drawn_kinds.add(s.kind)
            continue
        drawn_kinds.add(s.kind)
        drawn_chunks.add(chunk_of(s))
        r = row_of[s.track]
        xs0.append(max(s.start, lay.t0) * factor)
        xs1.append(min(s.end, lay.t1) * factor)
        ys0.append(r + (1 - BOX_HEIGHT) / 2)
        ys1.append(r + (1 + BOX_HEIGHT) / 2)
        tint = style.chunk_tint(nchunks, chunk_of(s))
        faces.append(style.shade(kind_color(s.kind), tint))
        texts.append(box_text(s))
        fonts.append(dev_font)

    top = len(lay.devices) + LINK_GAP
    queue_segments = []
    msg_kind = message_kinds(trace) if lay.lanes else {}
    lane_centers = []
    link_font = min(6.5, 0.6 * LINK_BOX * LINK_PITCH * row_inches * 72.0)
    for lane in lay.lanes:
        lane.top = top
        lane_centers.append(top + lane.height / 2)
        for s, sub in zip(lane.spans, lane.subrows, strict=True):
            y = top + sub * LINK_PITCH
            xs0.append(max(s.start, lay.t0) * factor)
            xs1.append(min(s.end, lay.t1) * factor)
            ys0.append(y + (1 - LINK_BOX) / 2 * LINK_PITCH)
            ys1.append(y + (1 + LINK_BOX) / 2 * LINK_PITCH)
            key = lane_kind(s, msg_kind)
            faces.append(style.to_rgb(message_color(key)))
            drawn_msgs.add(key)
            texts.append(style.format_bytes(s.nbytes) if s.nbytes > 0 else "")
            fonts.append(link_font)
            if s.queued > 0:
                q0 = max(s.start - s.queued, lay.t0) * factor
                yc = y + LINK_PITCH / 2
                queue_segments.append(((q0, yc), (max(s.start, lay.t0) * factor, yc)))
        top += lane.height + LANE_PAD

    x0 = np.asarray(xs0, dtype=float)
    # A 28 us NVLink transfer in a 500 ms window is far below one pixel and would vanish;
    # give every box at least ~1.2 px so each transfer and action stays visible.
    x1 = np.maximum(np.asarray(xs1, dtype=float), x0 + 1.2 / px_per_x) if len(xs1) else np.asarray(xs1, dtype=float)
    y0 = np.asarray(ys0, dtype=float)
    y1 = np.asarray(ys1, dtype=float)
    w_px = (x1 - x0) * px_per_x
    h_px = (y1 - y0) * px_per_row
    if len(x0):
        verts = np.stack([np.stack([x0, y0], 1), np.stack([x0, y1], 1),
                          np.stack([x1, y1], 1), np.stack([x1, y0], 1)], axis=1)
        face = np.asarray(faces, dtype=float)
        edges = face * 0.55  # the face darkened: crisp outlines that never look like a new colour
        # Outlines only where a box is big enough that they don't swallow its colour.
        lw = np.where((w_px >= 5.0) & (h_px >= 5.0), 0.5, 0.0)
        coll = PolyCollection(list(verts), facecolors=face, edgecolors=edges, linewidths=lw,
                              antialiased=True, zorder=2)
        if len(x0) > 20000:
            coll.set_rasterized(True)  # keep SVGs of huge traces small
        ax.add_collection(coll)

    if labels and len(x0):
        _place_text(ax, x0, x1, y0, y1, w_px, h_px, faces, texts, fonts)

    if strips:
        segs = []
        for s in strips:
            r = row_of[s.track]
            y = r + (1 + BOX_HEIGHT) / 2 - 0.12
            segs.append([(max(s.start, lay.t0) * factor, y), (min(s.end, lay.t1) * factor, y)])
        ax.add_collection(LineCollection(segs, colors=style.KIND_COLORS["allreduce"],
                                         linewidths=max(1.0, 0.18 * px_per_row * 72 / style.DPI),
                                         capstyle="butt", zorder=3))
    if queue_segments:
        ax.add_collection(LineCollection(queue_segments, colors="#999999", linewidths=0.6,
                                         linestyles=(0, (1.0, 1.0)), zorder=1))

    # Axes: devices top to bottom, then link lanes; idle time stays white.
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(lay.body_units, 0.0)
    ticks = [i + 0.5 for i in range(len(lay.devices))] + lane_centers
    ax.set_yticks(ticks)
    ax.set_yticklabels([style.device_label(d) for d in lay.devices] +
                       [style.link_label(x.name) for x in lay.lanes])
    for i, t in enumerate(ax.get_yticklabels()):
        t.set_fontsize(lay.device_font if i < len(lay.devices) else lay.lane_font)
    ax.tick_params(axis="y", length=0, pad=4)
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(f"time ({unit})")
    ax.xaxis.grid(True, color=style.GRID_COLOR, linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    if lay.lanes:
        ysep = len(lay.devices) + LINK_GAP / 2
        ax.axhline(ysep, color="#BBBBBB", linewidth=0.6, zorder=1)
        for lane in lay.lanes[:-1]:
            yl = lane.top + lane.height + LANE_PAD / 2
            ax.axhline(yl, color="#F0F0F0", linewidth=0.5, zorder=0)

    if not own:
        # A panel of someone else's figure: a one-line title, the legend beside the axes.
        headline = title if title is not None else default_title(trace)
        if headline:
            ax.set_title(headline, loc="left", fontweight="bold", fontsize=style.FONT_SIZE)
        handles = _legend_handles(trace, lay, Patch, drawn_kinds, drawn_chunks, drawn_msgs) if legend else []
        if handles:
            ax.legend(**legend_args(handles), loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                      handlelength=1.2, handleheight=0.9)
        return fig

    # Title block: schedule (bold) then the key figures.
    figures_y = 0.44
    if lay.headline:
        headline = title if title is not None else default_title(trace)
        fig.text(lay.left / W, 1 - 0.2 / H, headline, ha="left", va="center",
                 fontsize=style.FONT_SIZE + 2.5, fontweight="bold", color="#111111")
    else:
        figures_y -= HEADLINE
    fig.text(lay.left / W, 1 - figures_y / H, key_figures(trace, unitless), ha="left", va="center",
             fontsize=style.FONT_SIZE, color="#333333")
    notes = []
    if time_range is not None:
        notes.append(f"window {style.format_duration(lay.t0, unitless)} – {style.format_duration(lay.t1, unitless)}")
    if lay.hidden_lanes:
        notes.append(f"{len(lay.lanes)} busiest of {len(lay.lanes) + lay.hidden_lanes} busy links")
    if notes:
        fig.text(1 - RIGHT_MARGIN / W, 1 - figures_y / H, "   ".join(notes), ha="right", va="center",
                 fontsize=style.FONT_SIZE - 1, color="#555555")

    if legend:
        handles = _legend_handles(trace, lay, Patch, drawn_kinds, drawn_chunks, drawn_msgs)
        if handles:
            fig.legend(**legend_args(handles), loc="upper center", ncol=_legend_cols(handles, lay),
                       bbox_to_anchor=(0.5, (lay.bottom - AXIS_MARGIN) / H),
                       handlelength=1.2, handleheight=0.9, columnspacing=1.2, borderaxespad=0.0)
    return fig


def _legend_handles(trace: Trace, lay: GanttLayout, patch: type, drawn_kinds: set[str], drawn_chunks: set[int],
                    drawn_msgs: set[str]) -> list:
    """Legend entries for what was drawn, and nothing else: kinds with boxes (strip kinds as the
    strip they are), one neutral shade per chunk (the shading applies to every kind), message
    kinds with transfers in a shown lane."""
    from matplotlib.lines import Line2D

    kinds, msgs = kinds_present(trace, lay)
    handles: list = []
    for k in kinds:
        if k not in drawn_kinds:
            continue
        if k in STRIP_KINDS:
            handles.append(Line2D([], [], color=style.KIND_COLORS["allreduce"], linewidth=2.5,
                                  solid_capstyle="butt", label=style.KIND_NAMES.get(k, k)))
        else:
            handles.append(patch(facecolor=kind_color(k), edgecolor=style.edge_color(style.to_rgb(kind_color(k))),
                                 linewidth=0.5, label=style.KIND_NAMES.get(k, k)))
    n = num_chunks(trace)
    if n > 1:
        for c in range(n):
            if c not in drawn_chunks:
                continue
            handles.append(chunk_swatch(trace, c, patch, [k for k in kinds if k in drawn_kinds]))
    for k in msgs:
        if k in drawn_msgs:
            handles.append(patch(facecolor=message_color(k), label=style.MESSAGE_NAMES.get(k, k)))
    if any(s.queued > 0 for lane in lay.lanes for s in lane.spans):
        handles.append(Line2D([], [], color="#999999", linewidth=0.8, linestyle=(0, (1.0, 1.0)), label="queued"))
    return handles


def _legend_cols(handles: list, lay: GanttLayout) -> int:
    rows = max(lay.legend_rows, 1)
    return max(1, math.ceil(len(handles) / rows))


def _place_text(ax, x0, x1, y0, y1, w_px, h_px, faces, texts, fonts) -> None:
    """Print each box's text where it fits; nothing at all past ``MAX_LABELS`` boxes."""
    fits = []
    for i, text in enumerate(texts):
        if not text or fonts[i] < 4.0:
            continue
        need_w = style.text_width_px(text, fonts[i], style.DPI) + 3.0
        need_h = fonts[i] * style.DPI / 72.0 * 1.05
        if w_px[i] >= need_w and h_px[i] >= need_h:
            fits.append(i)
    if len(fits) > MAX_LABELS:
        return
    for i in fits:
        ax.text((x0[i] + x1[i]) / 2, (y0[i] + y1[i]) / 2, texts[i], ha="center", va="center_baseline",
                fontsize=fonts[i], color=style.text_color(faces[i]), zorder=4, clip_on=True, gid="box-label")
