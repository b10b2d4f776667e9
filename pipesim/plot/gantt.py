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

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipesim.plot import style
from pipesim.trace import COMPUTE_KINDS, Span, Trace

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Kinds drawn as a thin strip at the bottom of a device row (they overlap compute spans).
STRIP_KINDS = ("allreduce",)

DEFAULT_WIDTH = 12.0  # inches
MAX_LABELS = 2500  # beyond this many box labels the figure is unreadable anyway and slow
BOX_HEIGHT = 0.8  # of a device row's pitch
LINK_PITCH = 0.5  # one link sub-row, in device-row units
LINK_BOX = 0.84  # of a link sub-row
LANE_PAD = 0.2  # space between link lanes, in device-row units
LINK_GAP = 0.7  # between the last device row and the first link lane
TOP_MARGIN = 0.62  # inches: title and key-figures lines
AXIS_MARGIN = 0.5  # inches: time ticks and axis label
LEGEND_ROW = 0.24  # inches per legend row
RIGHT_MARGIN = 0.25


def assign_subrows(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """Greedy interval partitioning: the lowest sub-row free at each interval's start.

    Two intervals share a sub-row only if they do not overlap (touching end-to-start is not an
    overlap). Processing by start time makes the number of sub-rows equal to the largest number
    of intervals in flight at once, which is the least possible.
    """
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1], i))
    out = [0] * len(intervals)
    active: list[tuple[float, int]] = []  # (end, row)
    free: list[int] = []
    rows = 0
    for i in order:
        start, end = intervals[i]
        while active and active[0][0] <= start:
            heapq.heappush(free, heapq.heappop(active)[1])
        if free:
            row = heapq.heappop(free)
        else:
            row = rows
            rows += 1
        out[i] = row
        heapq.heappush(active, (max(end, start), row))
    return out


@dataclass
class Lane:
    """One link direction: its spans in the window and each span's sub-row."""

    name: str
    spans: list[Span]
    subrows: list[int]
    top: float = 0.0  # y of the lane's top edge, device-row units (y grows downwards)

    @property
    def depth(self) -> int:
        return max(self.subrows, default=0) + 1

    @property
    def height(self) -> float:
        return self.depth * LINK_PITCH


@dataclass
class GanttLayout:
    """Everything about the figure's geometry that does not need matplotlib."""

    t0: float
    t1: float
    devices: list[str]
    lanes: list[Lane] = field(default_factory=list)
    width: float = DEFAULT_WIDTH  # inches
    row_inches: float = 0.34
    left: float = 0.8
    legend_rows: int = 1
    hidden_lanes: int = 0  # busy link lanes left out by ``max_links``

    @property
    def body_units(self) -> float:
        """Plot height in device-row units."""
        units = float(len(self.devices))
        if self.lanes:
            units += LINK_GAP + sum(lane.height + LANE_PAD for lane in self.lanes)
        return units

    @property
    def body_inches(self) -> float:
        return self.body_units * self.row_inches

    @property
    def bottom(self) -> float:
        return AXIS_MARGIN + LEGEND_ROW * self.legend_rows + 0.08

    @property
    def height(self) -> float:
        return TOP_MARGIN + self.body_inches + self.bottom

    @property
    def figsize(self) -> tuple[float, float]:
        return (self.width, self.height)

    @property
    def device_font(self) -> float:
        """Point size of the device row labels: as large as the row comfortably allows."""
        return min(style.FONT_SIZE - 0.5, max(4.0, 0.75 * self.row_inches * 72.0))

    @property
    def lane_font(self) -> float:
        return min(self.device_font, 7.0)


def row_inches(num_devices: int) -> float:
    """Height of one device row: roomy for a few devices, thin (but legible) at 64."""
    return min(0.34, max(0.12, 6.0 / max(num_devices, 1)))


def _window(trace: Trace, time_range: tuple[float, float] | None) -> tuple[float, float]:
    if time_range is not None:
        t0, t1 = float(time_range[0]), float(time_range[1])
        if not t1 > t0:
            raise ValueError(f"time_range=({t0}, {t1}): the end must be after the start")
        return t0, t1
    t0 = min((s.start for s in trace.spans), default=0.0)
    t1 = max((s.end for s in trace.spans), default=1.0)
    t0 = min(t0, 0.0)
    if not t1 > t0:
        return t0, t0 + 1.0
    # A hair of room after the last action so its outline is not cut by the axes edge.
    return t0, t1 + 0.004 * (t1 - t0)


def _in_window(spans: Iterable[Span], t0: float, t1: float) -> list[Span]:
    return [s for s in spans if s.end >= t0 and s.start <= t1 and not (s.end == t0 and s.start < t0)]


def link_lanes(trace: Trace, t0: float, t1: float) -> list[Lane]:
    """Lanes for the links that carried traffic inside [t0, t1], in ``trace.links`` order."""
    by_link: dict[str, list[Span]] = {name: [] for name in trace.links}
    for s in trace.spans:
        if s.track in by_link:
            by_link[s.track].append(s)
    lanes = []
    for name in trace.links:
        spans = _in_window(by_link[name], t0, t1)
        if spans:
            lanes.append(Lane(name, spans, assign_subrows([(s.start, s.end) for s in spans])))
    return lanes


def count_legend_rows(entries: Sequence[str], width: float) -> int:
    per = [0.42 + 0.075 * len(e) for e in entries]
    rows, used = 1, 0.0
    for w in per:
        if used and used + w > width - 0.4:
            rows += 1
            used = 0.0
        used += w
    return rows


def layout_gantt(
    trace: Trace,
    *,
    links: bool = False,
    time_range: tuple[float, float] | None = None,
    width: float | None = None,
    max_links: int | None = None,
) -> GanttLayout:
    """The figure's geometry; ``plot_gantt`` draws exactly this (tests check the PNG size)."""
    if not trace.devices:
        raise ValueError("trace has no devices, so there is nothing to draw; is it a trace from pipesim?")
    t0, t1 = _window(trace, time_range)
    lay = GanttLayout(t0, t1, list(trace.devices), width=float(width or DEFAULT_WIDTH))
    if lay.width < 2.0:
        raise ValueError(f"width={lay.width} inches is too narrow for a Gantt chart; use at least 2")
    if links:
        lay.lanes = link_lanes(trace, t0, t1)
        if max_links is not None and len(lay.lanes) > max_links:
            lay.hidden_lanes = len(lay.lanes) - max(max_links, 0)
            busiest = sorted(range(len(lay.lanes)), key=lambda i: (-sum(s.duration for s in lay.lanes[i].spans), i))
            keep = set(busiest[: max(max_links, 0)])
            lay.lanes = [lane for i, lane in enumerate(lay.lanes) if i in keep]
    lay.row_inches = row_inches(len(lay.devices))
    # Very many lanes: shrink rows so the figure stays printable (< 40 in tall).
    if lay.body_units * lay.row_inches > 38.0:
        lay.row_inches = max(0.05, 38.0 / lay.body_units)
    dev_chars = max((len(style.device_label(d)) for d in lay.devices), default=5)
    lane_chars = max((len(style.link_label(x.name)) for x in lay.lanes), default=0)
    need = max(dev_chars * lay.device_font, lane_chars * lay.lane_font) * 0.62 / 72.0
    lay.left = min(3.0, max(0.55, need + 0.2))
    lay.legend_rows = count_legend_rows(_legend_entries(trace, lay), lay.width)
    return lay


# --- what to draw -------------------------------------------------------------------------

def box_text(span: Span) -> str:
    """The number printed inside a device box: the microbatch; both for an F&B chunk."""
    if span.parts:
        return "|".join(_microbatch(part) for part in span.parts)
    if span.kind == "REDUCE_GRAD":
        return "AR"
    return str(span.microbatch) if span.microbatch >= 0 else ""


def _microbatch(label: str) -> str:
    """The microbatch of a simple action label such as "5B1": its trailing digits."""
    digits = len(label) - len(label.rstrip("0123456789"))
    return label[-digits:] if digits else ""


def num_chunks(trace: Trace) -> int:
    """How many chunks the trace's compute spans carry (1 when they carry none)."""
    return max((s.chunk for s in trace.spans if s.kind in COMPUTE_KINDS), default=0) + 1


def chunk_of(span: Span) -> int:
    return max(span.chunk, 0)


def chunk_label(trace: Trace, chunk: int) -> str:
    """Legend text of a chunk, with the stages the trace shows in it: 'chunk 1 (stages 4–7)'."""
    stages = sorted({s.stage for s in trace.spans if s.kind in COMPUTE_KINDS and s.chunk == chunk and s.stage >= 0})
    if not stages:
        return f"chunk {chunk}"
    if len(stages) == 1:
        return f"chunk {chunk} (stage {stages[0]})"
    if stages == list(range(stages[0], stages[-1] + 1)):
        return f"chunk {chunk} (stages {stages[0]}–{stages[-1]})"
    return f"chunk {chunk} ({len(stages)} stages)"


def _message_kinds(trace: Trace) -> dict[int, str]:
    return {m.id: m.kind for m in trace.messages}


def _kinds_present(trace: Trace, lay: GanttLayout) -> tuple[list[str], list[str]]:
    devs = set(lay.devices)
    kinds = {s.kind for s in _in_window((s for s in trace.spans if s.track in devs), lay.t0, lay.t1)}
    known = [k for k in style.KIND_ORDER if k in kinds]
    other = sorted(kinds - set(style.KIND_ORDER))
    msg_kinds: list[str] = []
    if lay.lanes:
        mk = _message_kinds(trace)
        seen = {mk.get(s.message, "") for lane in lay.lanes for s in lane.spans}
        msg_kinds = [k for k in (*style.MESSAGE_COLORS, "") if k in seen]
        msg_kinds += sorted(seen - set(style.MESSAGE_COLORS) - {""})
    return known + other, msg_kinds


def _legend_entries(trace: Trace, lay: GanttLayout) -> list[str]:
    kinds, msgs = _kinds_present(trace, lay)
    out = [style.KIND_NAMES.get(k, k) for k in kinds]
    n = num_chunks(trace)
    if n > 1:
        out += [chunk_label(trace, c) for c in range(n)]
    out += [style.MESSAGE_NAMES.get(k, k) for k in msgs]
    if any(s.queued > 0 for lane in lay.lanes for s in lane.spans):
        out.append("queued")
    return out


def _kind_color(kind: str) -> str:
    return style.KIND_COLORS.get(kind, style.OTHER_COLOR)


def _message_color(kind: str) -> str:
    return style.MESSAGE_COLORS.get(kind, style.XFER_COLOR)


def default_title(trace: Trace) -> str:
    return str(trace.meta.get("schedule", "pipeline schedule"))


def key_figures(trace: Trace, unitless: bool) -> str:
    """'p=4 · m=8 · makespan 38.6 ms · bubble 37.8%' from meta, computed when meta lacks them."""
    meta = trace.meta
    p = meta.get("devices", len(trace.devices))
    parts = [f"p={p}"]
    stages = meta.get("stages")
    if stages is not None and stages != p:
        parts.append(f"{stages} stages")
    if "microbatches" in meta:
        parts.append(f"m={meta['microbatches']}")
    makespan = float(meta.get("makespan", trace.makespan))
    parts.append(f"makespan {style.format_duration(makespan, unitless)}")
    bubble = meta.get("bubble_ratio")
    if bubble is None and makespan > 0 and trace.devices:
        devs = set(trace.devices)
        busy = sum(s.duration for s in trace.spans if s.track in devs and s.kind in COMPUTE_KINDS)
        bubble = 1.0 - busy / (len(trace.devices) * makespan)
    if bubble is not None:
        parts.append(f"bubble {100.0 * float(bubble):.1f}%")
    if "level" in meta:
        parts.append(f"{meta['level']} level")
    return "   ".join(parts)


# --- drawing -------------------------------------------------------------------------------

def plot_gantt(
    trace: Trace,
    path: style.PathArg = None,
    *,
    links: bool = False,
    time_range: tuple[float, float] | None = None,
    title: str | None = None,
    width: float | None = None,
    formats: Iterable[str] | None = None,
    time_unit: str | None = None,
    labels: bool = True,
    legend: bool = True,
    max_links: int | None = None,
) -> Figure:
    """Draw ``trace`` as a Gantt chart; write it to ``path`` (suffix picks PNG/SVG/PDF; a list of
    paths or ``formats=("png", "svg")`` writes several) and return the matplotlib Figure.

    ``links=True`` adds one lane per link direction that carried traffic (``max_links=N``: only
    the N busiest, in trace order, for big topologies). ``time_range=(t0,
    t1)`` zooms (trace time units). ``width`` is in inches (height follows the rows).
    ``time_unit="slot"`` overrides ``trace.meta["time_unit"]`` for abstract-cost traces.
    """
    with style.style_context():
        fig = _draw(trace, links=links, time_range=time_range, title=title, width=width,
                    time_unit=time_unit, labels=labels, legend=legend, max_links=max_links)
    style.save_figure(fig, path, formats)
    return fig


def _draw(trace: Trace, *, links: bool, time_range: tuple[float, float] | None, title: str | None,
          width: float | None, time_unit: str | None, labels: bool, legend: bool,
          max_links: int | None) -> Figure:
    import numpy as np
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.patches import Patch

    lay = layout_gantt(trace, links=links, time_range=time_range, width=width, max_links=max_links)
    unitless = style.is_unitless(trace, time_unit)
    factor, unit = style.time_scale(lay.t1 - lay.t0, unitless)
    W, H = lay.figsize
    fig = style.new_figure(W, H)
    ax_w = W - lay.left - RIGHT_MARGIN
    ax = fig.add_axes((lay.left / W, lay.bottom / H, ax_w / W, lay.body_inches / H))
    x_lo, x_hi = lay.t0 * factor, lay.t1 * factor
    px_per_x = ax_w * style.DPI / (x_hi - x_lo)
    px_per_row = lay.row_inches * style.DPI

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
    dev_font = min(8.0, 0.55 * BOX_HEIGHT * lay.row_inches * 72.0)
    strips: list[Span] = []
    for s in _in_window((s for s in trace.spans if s.track in row_of), lay.t0, lay.t1):
        if s.kind in STRIP_KINDS:
            strips.append(s)
            continue
        r = row_of[s.track]
        xs0.append(max(s.start, lay.t0) * factor)
        xs1.append(min(s.end, lay.t1) * factor)
        ys0.append(r + (1 - BOX_HEIGHT) / 2)
        ys1.append(r + (1 + BOX_HEIGHT) / 2)
        tint = style.chunk_tint(nchunks, chunk_of(s))
        faces.append(style.shade(_kind_color(s.kind), tint))
        texts.append(box_text(s))
        fonts.append(dev_font)

    top = len(lay.devices) + LINK_GAP
    queue_segments = []
    msg_kind = _message_kinds(trace) if lay.lanes else {}
    lane_centers = []
    link_font = min(6.5, 0.6 * LINK_BOX * LINK_PITCH * lay.row_inches * 72.0)
    for lane in lay.lanes:
        lane.top = top
        lane_centers.append(top + lane.height / 2)
        for s, sub in zip(lane.spans, lane.subrows, strict=True):
            y = top + sub * LINK_PITCH
            xs0.append(max(s.start, lay.t0) * factor)
            xs1.append(min(s.end, lay.t1) * factor)
            ys0.append(y + (1 - LINK_BOX) / 2 * LINK_PITCH)
            ys1.append(y + (1 + LINK_BOX) / 2 * LINK_PITCH)
            faces.append(style.to_rgb(_message_color(msg_kind.get(s.message, ""))))
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

    # Title block: schedule (bold) then the key figures.
    headline = title if title is not None else default_title(trace)
    fig.text(lay.left / W, 1 - 0.2 / H, headline, ha="left", va="center",
             fontsize=style.FONT_SIZE + 2.5, fontweight="bold", color="#111111")
    fig.text(lay.left / W, 1 - 0.44 / H, key_figures(trace, unitless), ha="left", va="center",
             fontsize=style.FONT_SIZE, color="#333333")
    notes = []
    if time_range is not None:
        notes.append(f"window {style.format_duration(lay.t0, unitless)} – {style.format_duration(lay.t1, unitless)}")
    if lay.hidden_lanes:
        notes.append(f"{len(lay.lanes)} busiest of {len(lay.lanes) + lay.hidden_lanes} busy links")
    if notes:
        fig.text(1 - RIGHT_MARGIN / W, 1 - 0.44 / H, "   ".join(notes), ha="right", va="center",
                 fontsize=style.FONT_SIZE - 1, color="#555555")

    if legend:
        handles = _legend_handles(trace, lay, Patch)
        if handles:
            fig.legend(handles=handles, loc="upper center", ncol=_legend_cols(handles, lay),
                       bbox_to_anchor=(0.5, (lay.bottom - AXIS_MARGIN) / H),
                       handlelength=1.2, handleheight=0.9, columnspacing=1.2, borderaxespad=0.0)
    return fig


def _legend_handles(trace: Trace, lay: GanttLayout, patch: type) -> list:
    kinds, msgs = _kinds_present(trace, lay)
    handles = [patch(facecolor=_kind_color(k), edgecolor=style.edge_color(style.to_rgb(_kind_color(k))),
                     linewidth=0.5, label=style.KIND_NAMES.get(k, k)) for k in kinds]
    n = num_chunks(trace)
    if n > 1:
        for c in range(n):
            rgb = style.shade(style.KIND_COLORS["F"], style.chunk_tint(n, c))
            handles.append(patch(facecolor=rgb, edgecolor=style.edge_color(rgb), linewidth=0.5,
                                 label=chunk_label(trace, c)))
    for k in msgs:
        handles.append(patch(facecolor=_message_color(k), label=style.MESSAGE_NAMES.get(k, k)))
    if any(s.queued > 0 for lane in lay.lanes for s in lane.spans):
        from matplotlib.lines import Line2D

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
                fontsize=fonts[i], color=style.text_color(faces[i]), zorder=4, clip_on=True)
