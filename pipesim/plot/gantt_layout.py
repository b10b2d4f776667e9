"""The Gantt chart's geometry and content, decided before anything is drawn.

Which lanes and rows exist in the window, how overlapping transfers stack into sub-rows, how
tall rows are, what each box says, which chunks and message kinds the legend lists, and the
title's key figures. ``pipesim.plot.gantt`` draws what this decides; nothing here imports
matplotlib.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipesim.plot import style
from pipesim.trace import COMPUTE_KINDS, Span, Trace

# Kinds drawn as a thin strip at the bottom of a device row (they overlap compute spans).
STRIP_KINDS = ("allreduce",)

DEFAULT_WIDTH = 12.0  # inches
MAX_LABELS = 2500  # beyond this many box labels the figure is unreadable anyway and slow
BOX_HEIGHT = 0.8  # of a device row's pitch
LINK_PITCH = 0.5  # one link sub-row, in device-row units
LINK_BOX = 0.84  # of a link sub-row
MAX_WIDTH_INCHES = 200.0  # 30,000 px at 150 dpi
LANE_PAD = 0.2  # space between link lanes, in device-row units
LINK_GAP = 0.7  # between the last device row and the first link lane
TOP_MARGIN = 0.62  # inches: title and key-figures lines
HEADLINE = 0.24  # inches of TOP_MARGIN taken by the title line (none with title="")
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
    headline: bool = True  # False for ``title=""``: the key figures move up into its place

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
        return self.top + self.body_inches + self.bottom

    @property
    def top(self) -> float:
        """Inches above the plot: the title line (unless left out) and the key figures."""
        return TOP_MARGIN if self.headline else TOP_MARGIN - HEADLINE

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


def in_window(spans: Iterable[Span], t0: float, t1: float) -> list[Span]:
    return [s for s in spans if s.end >= t0 and s.start <= t1 and not (s.end == t0 and s.start < t0)]


# How link lanes are shown: ``condensed`` (the default) drops idle links and folds each node's
# intra-node links (NVLink, PCIe to the NIC) into one lane, since on a multi-node run they are
# many, short and rarely the story; ``busy`` shows each link that carried traffic; ``all``
# every link of the trace, idle ones included.
LINK_MODES = ("condensed", "busy", "all")


def link_mode(links: bool | str) -> str | None:
    """``links`` argument -> a LINK_MODES entry, or None for no lanes (``False``/``"none"``)."""
    if links is False or links == "none":
        return None
    if links is True:
        return "condensed"
    if links in LINK_MODES:
        return str(links)
    raise ValueError(f"links={links!r}; choose none, {', '.join(LINK_MODES)} (or True/False)")


def node_of_link(name: str) -> str | None:
    """The node a link lies inside ('link:n0.gpu0->n0.nvsw' -> 'n0'), or None for a link between
    nodes or to a switch outside them ('link:n0.nic0.tx->leaf0')."""
    text = name[5:] if name.startswith("link:") else name
    if "->" not in text:
        return None
    a, b = text.split("->", 1)
    na, nb = a.split(".", 1)[0] if "." in a else None, b.split(".", 1)[0] if "." in b else None
    return na if na is not None and na == nb else None


def link_lanes(trace: Trace, t0: float, t1: float, mode: str = "busy") -> list[Lane]:
    """Lanes for the links inside [t0, t1], in ``trace.links`` order (see LINK_MODES): a folded
    node lane stands where that node's first busy intra-node link would."""
    by_link: dict[str, list[Span]] = {name: [] for name in trace.links}
    for s in trace.spans:
        if s.track in by_link:
            by_link[s.track].append(s)
    groups: dict[str, tuple[list[Span], list[str]]] = {}
    order: list[str] = []
    for name in trace.links:
        spans = in_window(by_link[name], t0, t1)
        if not spans and mode != "all":
            continue
        node = node_of_link(name) if mode == "condensed" else None
        key = f"{node} intra-node" if node is not None else name
        if key not in groups:
            groups[key] = ([], [])
            order.append(key)
        groups[key][0].extend(spans)
        groups[key][1].append(name)
    lanes = []
    for key in order:
        spans, members = groups[key]
        spans.sort(key=lambda s: (s.start, s.end))
        # a node with one busy intra-node link keeps that link's own name
        label = members[0] if len(members) == 1 else f"{key} ({len(members)} links)"
        lanes.append(Lane(label, spans, assign_subrows([(s.start, s.end) for s in spans])))
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
    links: bool | str = False,
    time_range: tuple[float, float] | None = None,
    width: float | None = None,
    max_links: int | None = None,
    title: str | None = None,
) -> GanttLayout:
    """The figure's geometry; ``plot_gantt`` draws exactly this (tests check the PNG size).
    ``title=""`` leaves out the title line and its space. ``links``: False, True (condensed) or
    one of LINK_MODES."""
    mode = link_mode(links)
    if not trace.devices:
        raise ValueError("trace has no devices, so there is nothing to draw; is it a trace from pipesim?")
    t0, t1 = _window(trace, time_range)
    lay = GanttLayout(t0, t1, list(trace.devices), width=float(width or DEFAULT_WIDTH), headline=title != "")
    if not 2.0 <= lay.width <= MAX_WIDTH_INCHES:
        raise ValueError(f"width={lay.width:g} inches; a Gantt chart needs 2 to {MAX_WIDTH_INCHES:g} "
                         f"(wider PNGs do not open in common viewers)")
    if mode is not None:
        lay.lanes = link_lanes(trace, t0, t1, mode)
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


def message_kinds(trace: Trace) -> dict[int, str]:
    return {m.id: m.kind for m in trace.messages}


def kinds_present(trace: Trace, lay: GanttLayout) -> tuple[list[str], list[str]]:
    devs = set(lay.devices)
    kinds = {s.kind for s in in_window((s for s in trace.spans if s.track in devs), lay.t0, lay.t1)}
    known = [k for k in style.KIND_ORDER if k in kinds]
    other = sorted(kinds - set(style.KIND_ORDER))
    msg_kinds: list[str] = []
    if lay.lanes:
        mk = message_kinds(trace)
        seen = {lane_kind(s, mk) for lane in lay.lanes for s in lane.spans}
        msg_kinds = [k for k in (*style.MESSAGE_COLORS, "") if k in seen]
        msg_kinds += sorted(seen - set(style.MESSAGE_COLORS) - {""})
    return known + other, msg_kinds


def _legend_entries(trace: Trace, lay: GanttLayout) -> list[str]:
    kinds, msgs = kinds_present(trace, lay)
    out = [style.KIND_NAMES.get(k, k) for k in kinds]
    n = num_chunks(trace)
    if n > 1:
        out += [chunk_label(trace, c) + "    " for c in range(n)]  # the wider two-box swatch
    out += [style.MESSAGE_NAMES.get(k, k) for k in msgs]
    if any(s.queued > 0 for lane in lay.lanes for s in lane.spans):
        out.append("queued")
    return out


def kind_color(kind: str) -> str:
    return style.KIND_COLORS.get(kind, style.OTHER_COLOR)


def chunk_swatch(trace: Trace, chunk: int, patch: type, kinds: Iterable[str]) -> tuple[Any, ...]:
    """Legend swatch of one chunk: its shade of the first two drawn compute ``kinds`` side by
    side (draw with ``legend_args``), labelled with ``chunk_label``, so the key says the shade
    applies to every kind rather than naming one more colour."""
    n = num_chunks(trace)
    parts = []
    shown = [k for k in kinds if k in COMPUTE_KINDS][:2] or ["F"]
    for k in shown:
        rgb = style.shade(kind_color(k), style.chunk_tint(n, chunk))
        parts.append(patch(facecolor=rgb, edgecolor=style.edge_color(rgb), linewidth=0.5))
    parts[0].set_label(chunk_label(trace, chunk))
    return tuple(parts)


def legend_args(handles: Sequence[Any]) -> dict[str, Any]:
    """``handles``/``labels``/``handler_map`` for a legend whose entries may be chunk swatches."""
    from matplotlib.legend_handler import HandlerTuple

    labels = [(h[0] if isinstance(h, tuple) else h).get_label() for h in handles]
    return {"handles": list(handles), "labels": labels, "handler_map": {tuple: HandlerTuple(ndivide=None, pad=0.0)}}


def lane_kind(span: Span, kinds: dict[int, str]) -> str:
    """The colour key of a span on a link lane: its message's kind, or ``allreduce`` for a whole
    overlapped all-reduce (a lane of its own, not one message)."""
    return "allreduce" if span.kind in STRIP_KINDS else kinds.get(span.message, "")


def message_color(kind: str) -> str:
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
        if busy > 0:  # a replay of explicit flows computes nothing: no bubble to speak of
            bubble = 1.0 - busy / (len(trace.devices) * makespan)
    if bubble is not None:
        parts.append(f"bubble {100.0 * float(bubble):.1f}%")
    if "level" in meta:
        parts.append(f"{meta['level']} level")
    return "   ".join(parts)
