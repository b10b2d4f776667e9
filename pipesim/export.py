"""Trace export: Chrome/Perfetto JSON (and back), span CSV, metrics JSON.

Chrome trace layout (open the file in ui.perfetto.dev or chrome://tracing):

- process 0 "devices": one thread per device (``trace.devices`` order), compute and collective
  spans as ``ph:"X"`` slices; memory samples as ``ph:"C"`` counters named ``memory <device>``.
- process 1 "links": one thread per link direction and *concurrent transfer*: transfers that
  overlap on a link (shared bandwidth) go to sub-lanes ``link:a->b``, ``link:a->b #2``, ...
  (greedy interval packing, as few as the largest number in flight at once), because
  overlapping ``X`` slices on one thread are dropped or misdrawn by Perfetto. Slices are named
  for what they carry: ``act mb3 s1→s2 · 8.389 MB``.
- process 2 "other tracks": spans on tracks that are neither (kept so nothing is lost).
- every ``Message`` becomes one flow arrow with steps: ``ph:"s"`` on the slice that produced it
  (sending device), ``ph:"t"`` on each of its link slices, ``ph:"f"`` (``bp:"e"``) on the slice
  that consumed it, all with the message id and each at the start of the slice it binds to,
  so Perfetto draws producer -> link hops -> consumer at the real send and arrival times. A
  message with no action at an end (a collective's piece) starts or ends on its link slices.

Times: ``ts``/``dur`` are microseconds. A trace in seconds is scaled by 1e6. A unitless trace
(``meta["time_unit"]`` = "slot") is scaled so that **one slot = 1000 µs** (it displays as 1 ms
per slot); the scale is recorded in ``otherData.pipesim.time_scale_us`` so ``load_chrome_trace``
restores the original times. ``otherData.pipesim`` also carries the device and link names, the
meta dict and the messages, which is what makes the export a lossless round trip (up to float
rounding of ``ts * scale / scale``).

Output is deterministic: events are emitted in a fixed order and serialised with sorted keys,
one event per line, so the same trace always gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from pipesim.budget import MAX_DEVICES
from pipesim.trace import COMPUTE_KINDS, MemorySample, Message, Span, Trace
from pipesim.units import format_size

FORMAT_VERSION = 1
SLOT_SCALE_US = 1000.0  # one abstract time unit (slot) in the exported microseconds
PID_DEVICES, PID_LINKS, PID_OTHER = 0, 1, 2
_SLOT_UNITS = ("slot", "slots", "unit", "units", "unitless", "")


def time_scale_us(trace: Trace) -> float:
    """Microseconds per trace time unit: 1e6 for seconds, ``SLOT_SCALE_US`` for slots."""
    unit = str(trace.meta.get("time_unit", "s")).strip().lower()
    if unit in _SLOT_UNITS:
        return SLOT_SCALE_US
    return {"s": 1e6, "ms": 1e3, "us": 1.0, "µs": 1.0, "ns": 1e-3}.get(unit, 1e6)


_NONFINITE = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}
_FROM_NONFINITE = {v: float(k) for k, v in _NONFINITE.items()}


def _jsonable(value: Any, strict: bool = True) -> Any:
    """Values as strict JSON: tuples to lists, numpy scalars to Python, non-finite floats to
    the strings "Infinity"/"-Infinity"/"NaN" (Chrome and Perfetto reject bare Infinity),
    anything else to its ``str``. ``strict=False`` keeps non-finite floats as floats."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, strict) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, strict) for v in value]
    if strict and isinstance(value, float) and not math.isfinite(value):
        return _NONFINITE[str(value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item") and callable(value.item):
        try:
            return _jsonable(value.item(), strict)
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist") and callable(value.tolist):
        return _jsonable(value.tolist(), strict)
    return str(value)


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else _NONFINITE[str(x)]


def _restore(value: Any) -> Any:
    """Inverse of ``_jsonable``'s non-finite strings, for meta read back from an export."""
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, str) and value in _FROM_NONFINITE:
        return _FROM_NONFINITE[value]
    return value


def _slice_name(span: Span) -> str:
    if span.label:
        return span.label
    if span.microbatch >= 0:
        return f"{span.stage}{span.kind}{span.microbatch}" if span.stage >= 0 else f"{span.kind}{span.microbatch}"
    return span.kind


def _span_args(span: Span) -> dict[str, Any]:
    args: dict[str, Any] = {"stage": span.stage, "microbatch": span.microbatch, "bytes": span.nbytes,
                            "queued": span.queued, "message": span.message, "label": span.label}
    if span.chunk >= 0:  # compute spans carry where they sit in the layout
        args.update({"chunk": span.chunk, "route": span.route})
    if span.parts:
        args["parts"] = list(span.parts)
    return args


def _anchors(trace: Trace) -> dict[tuple[int, str], float]:
    """Start time of every compute slice by (device lane, action label): a message names the
    actions that produced and consumed it, so its arrow is bound to exactly those slices."""
    lane = {name: i for i, name in enumerate(trace.devices)}
    out: dict[tuple[int, str], float] = {}
    for s in trace.spans:
        if s.kind in COMPUTE_KINDS and s.label and s.track in lane:
            out[(lane[s.track], s.label)] = s.start
    return out


def _sublanes(spans: list[Span]) -> list[int]:
    """Greedy interval packing: the lowest sub-lane free at each span's start (touching is not
    overlapping), so the number of sub-lanes is the most transfers in flight at once."""
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end, i))
    lane_end: list[float] = []
    out = [0] * len(spans)
    for i in order:
        sp = spans[i]
        k = next((j for j, end in enumerate(lane_end) if end <= sp.start), len(lane_end))
        if k == len(lane_end):
            lane_end.append(0.0)
        lane_end[k] = max(sp.end, sp.start)
        out[i] = k
    return out


def _xfer_name(span: Span, msg: Message | None, devices: list[str]) -> str:
    """``act mb3 s1→s2 · 8.389 MB``: kind, microbatch, stages (or devices) and size."""
    if msg is None:
        return _slice_name(span)
    ends = [_stage_of(msg.producer), _stage_of(msg.consumer)]
    if ends[0] is not None and ends[1] is not None:
        where = f"s{ends[0]}→s{ends[1]}"
    else:
        names = [devices[d] if 0 <= d < len(devices) else str(d) for d in (msg.src, msg.dst)]
        where = "→".join(names)
    what = msg.label if msg.kind == "flow" and msg.label else msg.kind
    mb = f" mb{msg.microbatch}" if msg.microbatch >= 0 else ""
    return f"{what}{mb} {where} · {format_size(msg.nbytes)}"


def _stage_of(label: str) -> int | None:
    """The stage an action label starts with (``2F3`` -> 2), if it does."""
    digits = ""
    for ch in label:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits and len(digits) < len(label) else None


def _chrome(trace: Trace) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    """The Chrome trace's events, produced one at a time (a writer can stream them to disk
    without holding them all), and its ``otherData``."""
    scale = time_scale_us(trace)
    dev_tid = {name: i for i, name in enumerate(trace.devices)}
    links = set(trace.links)
    other_names = sorted({s.track for s in trace.spans if s.track not in dev_tid and s.track not in links})
    other_tid = {name: i for i, name in enumerate(other_names)}
    # Link sub-lanes: thread ids in trace.links order, a link's sub-lanes side by side.
    by_link: dict[str, list[Span]] = {name: [] for name in trace.links}
    for sp in trace.spans:
        if sp.track in by_link:
            by_link[sp.track].append(sp)
    lane_of: dict[int, int] = {}  # id(span) -> thread id
    lane_names: list[str] = []
    lane_track: list[str] = []  # thread id -> the link track it belongs to
    for name in trace.links:
        spans = by_link[name]
        rows = _sublanes(spans)
        base = len(lane_names)
        depth = max(rows, default=0) + 1
        lane_names.extend(name if k == 0 else f"{name} #{k + 1}" for k in range(depth))
        lane_track.extend([name] * depth)
        for sp, k in zip(spans, rows, strict=True):
            lane_of[id(sp)] = base + k

    def where(span: Span) -> tuple[int, int]:
        if span.track in dev_tid:
            return PID_DEVICES, dev_tid[span.track]
        if span.track in links:
            return PID_LINKS, lane_of[id(span)]
        return PID_OTHER, other_tid[span.track]

    def events() -> Iterator[dict[str, Any]]:
        procs = [(PID_DEVICES, "devices", trace.devices), (PID_LINKS, "links", lane_names),
                 (PID_OTHER, "other tracks", other_names)]
        for pid, pname, threads in procs:
            if not threads:
                continue
            yield {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": pname}}
            yield {"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}}
            for tid, tname in enumerate(threads):
                yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": tname}}
                yield {"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
                       "args": {"sort_index": tid}}

        by_id = {m.id: m for m in trace.messages}
        hops: dict[int, list[tuple[float, int]]] = {}  # message id -> (start, link thread) per link slice
        for span in trace.sorted_spans():
            pid, tid = where(span)
            name = _slice_name(span)
            if pid == PID_LINKS:
                name = _xfer_name(span, by_id.get(span.message), trace.devices)
                if span.message >= 0:
                    hops.setdefault(span.message, []).append((span.start, tid))
            yield {"ph": "X", "name": name, "cat": span.kind, "pid": pid, "tid": tid,
                   "ts": span.start * scale, "dur": max(span.end - span.start, 0.0) * scale,
                   "args": _span_args(span)}

        anchor = _anchors(trace)
        for msg in sorted(trace.messages, key=lambda m: (m.sent, m.id)):
            if not (0 <= msg.src < len(trace.devices) and 0 <= msg.dst < len(trace.devices)):
                continue
            # Producer slice -> each link slice in time order -> consumer slice; an end with no
            # action (a collective's piece) is left out, and an arrow needs two points.
            points: list[tuple[int, int, float]] = []
            if (msg.src, msg.producer) in anchor:
                points.append((PID_DEVICES, msg.src, anchor[(msg.src, msg.producer)]))
            points += [(PID_LINKS, tid, t) for t, tid in sorted(hops.get(msg.id, ()))]
            if (msg.dst, msg.consumer) in anchor:
                points.append((PID_DEVICES, msg.dst, anchor[(msg.dst, msg.consumer)]))
            if len(points) < 2:
                continue
            name = msg.label or f"{msg.kind} mb{msg.microbatch}"
            for i, (pid, tid, ts) in enumerate(points):
                ph = "s" if i == 0 else "f" if i == len(points) - 1 else "t"
                ev: dict[str, Any] = {"ph": ph, "id": msg.id, "name": name, "cat": f"msg.{msg.kind}", "pid": pid,
                                      "tid": tid, "ts": ts * scale}
                if ph == "f":
                    ev["bp"] = "e"
                yield ev

        ordered = sorted(enumerate(trace.memory), key=lambda im: (im[1].device, im[1].time, im[0]))
        for _, mem in ordered:
            dname = trace.devices[mem.device] if 0 <= mem.device < len(trace.devices) else f"device{mem.device}"
            yield {"ph": "C", "name": f"memory {dname}", "pid": PID_DEVICES, "tid": 0,
                   "ts": mem.time * scale, "args": {"activations": mem.activations, "total": mem.total}}

    pipesim = {
        "format": FORMAT_VERSION,
        "time_scale_us": scale,
        "time_unit": str(trace.meta.get("time_unit", "s")),
        "devices": list(trace.devices),
        "links": list(trace.links),
        "link_lanes": lane_track,
        "meta": _jsonable(trace.meta),
        "messages": [[m.id, m.src, m.dst, _finite(m.nbytes), _finite(m.sent), _finite(m.arrived), m.kind,
                      m.stage, m.microbatch, m.label, m.producer, m.consumer] for m in trace.messages],
        "note": "ts/dur in microseconds; unitless (slot) traces use 1 slot = 1000 us",
    }
    return events(), {"pipesim": pipesim}


def to_chrome_trace(trace: Trace) -> dict[str, Any]:
    """The trace as a Chrome/Perfetto ``{"traceEvents": [...], ...}`` dict (see module doc)."""
    events, other = _chrome(trace)
    return {"traceEvents": list(events), "displayTimeUnit": "ms", "otherData": other}


def _write_chrome(trace: Trace, out: TextIO) -> None:
    """Sorted keys, one event per line, byte-stable; events are written as they are made."""
    events, other = _chrome(trace)
    enc = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
    out.write('{"displayTimeUnit":"ms",\n"otherData":' + enc.encode(other) + ',\n"traceEvents":[\n')
    sep = ""
    for e in events:
        out.write(sep + enc.encode(e))
        sep = ",\n"
    out.write("\n]}\n")


def dumps_chrome_trace(trace: Trace) -> str:
    """Serialised Chrome trace: sorted keys, one event per line, byte-stable."""
    buf = io.StringIO()
    _write_chrome(trace, buf)
    return buf.getvalue()


def write_chrome_trace(trace: Trace, path: str | Path) -> Path:
    """Write the Chrome trace to ``path``, streaming its events (the file is the same bytes as
    ``dumps_chrome_trace``); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", encoding="utf-8", newline="\n") as fh:
        _write_chrome(trace, fh)
    return p


def from_chrome_trace(data: Mapping[str, Any]) -> Trace:
    """Rebuild a ``Trace`` from a dict made by ``to_chrome_trace``.

    A Chrome trace from elsewhere (no ``otherData.pipesim``) is read best-effort: every thread
    becomes a device track and slices become spans (``ts``/``dur`` taken as microseconds).
    """
    events = data.get("traceEvents")
    if not isinstance(events, list):
        raise ValueError("not a Chrome trace: expected a JSON object with a 'traceEvents' list")
    for i, e in enumerate(events):
        if not isinstance(e, dict) or not isinstance(e.get("args", {}), dict):
            what = "its args are" if isinstance(e, dict) else "it is"
            raise ValueError(f"not a Chrome trace: traceEvents[{i}]: {what} {type(e.get('args') if isinstance(e, dict) else e).__name__}, "
                             "expected a JSON object")
    try:
        return _read_events(data, events)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        what = str(exc) if type(exc) is ValueError else f"{type(exc).__name__} {exc}"
        raise ValueError(f"not a trace pipesim can read: {what} (write one with 'pipesim run --trace')") from None


def _read_events(data: Mapping[str, Any], events: list[dict[str, Any]]) -> Trace:
    other = data.get("otherData") or {}
    info = other.get("pipesim") if isinstance(other, dict) else None
    if info is not None and not isinstance(info, dict):
        raise ValueError(f"otherData.pipesim is {type(info).__name__}, expected a JSON object")
    names: dict[tuple[Any, Any], str] = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[(e["pid"], e["tid"])] = str(e["args"]["name"])
    if info is None:
        scale = 1e6
        devices = [names[k] for k in sorted(names)]
        trace = Trace(devices=devices, meta={"level": "imported"})
    else:
        if int(info.get("format", 0)) > FORMAT_VERSION:
            raise ValueError(f"Chrome trace written by a newer pipesim (format {info['format']}); upgrade pipesim")
        scale = _number(info["time_scale_us"], "otherData.pipesim.time_scale_us", positive=True)
        for key in ("devices", "links", "messages"):
            if not isinstance(info.get(key), list):
                raise ValueError(f"otherData.pipesim.{key} is {type(info.get(key)).__name__}, expected a list")
        if len(info["devices"]) > MAX_DEVICES:
            raise ValueError(f"otherData.pipesim.devices: {len(info['devices']):,} devices; at most {MAX_DEVICES:,}")
        trace = Trace(devices=list(info["devices"]), links=list(info["links"]), meta=_restore(dict(info["meta"])))
        rows = _restore(info["messages"])
        for j, row in enumerate(rows):
            if not isinstance(row, list) or not 10 <= len(row) <= 12:
                raise ValueError(f"otherData.pipesim.messages[{j}] is {row!r:.60}, expected a list of 10 to 12 fields")
        trace.messages = [Message(int(i), int(s), int(d), float(b), float(t0), float(t1), str(k), int(st),
                                  int(mb), str(lab), *(str(x) for x in ends))
                          for i, s, d, b, t0, t1, k, st, mb, lab, *ends in rows]
    lanes = [str(x) for x in info.get("link_lanes", trace.links)] if info is not None else []
    device_of = {f"memory {name}": i for i, name in enumerate(trace.devices)}
    for index, e in enumerate(events):
        if e.get("ph") == "C" and e.get("name") in device_of:
            args = e.get("args") or {}
            trace.memory.append(MemorySample(device_of[e["name"]], float(e["ts"]) / scale,
                                             float(args.get("activations", 0.0)), float(args.get("total", 0.0))))
        if e.get("ph") != "X":
            continue
        track = names.get((e.get("pid"), e.get("tid")), f"{e.get('pid')}:{e.get('tid')}")
        if e.get("pid") == PID_LINKS and isinstance(e.get("tid"), int) and e["tid"] < len(lanes):
            track = lanes[e["tid"]]  # a link's sub-lanes are one track
        args = e.get("args") or {}
        where = f"traceEvents[{index}]"
        _whole(e.get("pid"), f"{where}.pid")
        _whole(e.get("tid"), f"{where}.tid")
        ts = _number(e["ts"], f"{where}.ts")
        start = ts / scale
        end = (ts + _number(e.get("dur", 0.0), f"{where}.dur")) / scale
        trace.spans.append(Span(track, str(e.get("cat", e.get("name", ""))), start, end,
                                stage=_whole(args.get("stage", -1), f"{where}.args.stage", low=-1),
                                microbatch=_whole(args.get("microbatch", -1), f"{where}.args.microbatch", low=-1),
                                nbytes=float(args.get("bytes", 0.0)), message=int(args.get("message", -1)),
                                label=str(args.get("label", "")), queued=float(args.get("queued", 0.0)),
                                chunk=int(args.get("chunk", -1)), route=int(args.get("route", -1)),
                                parts=tuple(str(x) for x in args.get("parts", ()))))
    if info is None and not trace.devices:
        trace.devices = sorted({s.track for s in trace.spans})
    return trace


def _number(value: Any, where: str, *, positive: bool = False) -> float:
    """A finite number >= 0 (> 0 with ``positive``) from a trace field, else a one-line error."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0 \
            or (positive and value == 0):
        raise ValueError(f"{where} is {value!r}; expected a finite number {'> 0' if positive else '>= 0'}")
    return float(value)


def _whole(value: Any, where: str, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{where} is {value!r}; expected a whole number >= {low}")
    return value


def load_chrome_trace(path: str | Path) -> Trace:
    """Read a Chrome trace JSON file written by ``write_chrome_trace`` back into a ``Trace``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{p}: not valid JSON ({err}); expected a Chrome trace from 'pipesim run --trace'") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not UTF-8 text; expected a Chrome trace from 'pipesim run --trace'") from None
    except RecursionError:
        raise ValueError(f"{p}: JSON nested too deeply to be a trace; expected a Chrome trace from "
                         "'pipesim run --trace'") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object with 'traceEvents'")
    return from_chrome_trace(data)


SPAN_COLUMNS = ("track", "kind", "start", "end", "duration", "stage", "microbatch", "bytes", "queued",
                "message", "label")


def write_spans_csv(trace: Trace, path: str | Path) -> Path:
    """One row per span in time order (``Trace.sorted_spans``); times in the trace's unit."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(SPAN_COLUMNS)
        for s in trace.sorted_spans():
            w.writerow([s.track, s.kind, repr(s.start), repr(s.end), repr(s.end - s.start), s.stage,
                        s.microbatch, repr(s.nbytes), repr(s.queued), s.message, s.label])
    return p


def write_metrics_json(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Metrics as indented JSON in the dict's own (deterministic) key order, floats unrounded.

    Non-finite floats are written as JSON's common extensions ``Infinity``/``NaN`` (Python's
    json module reads them back); numpy values become plain numbers and lists.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(_jsonable(metrics, strict=False), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p

