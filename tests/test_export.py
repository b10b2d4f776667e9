"""Chrome-trace export: validity, flow pairing, round trip, determinism; CSV and metrics JSON."""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections import Counter

import pytest

from pipesim.costs import Costs
from pipesim.export import (
    PID_DEVICES,
    PID_LINKS,
    SLOT_SCALE_US,
    dumps_chrome_trace,
    from_chrome_trace,
    load_chrome_trace,
    to_chrome_trace,
    write_chrome_trace,
    write_metrics_json,
    write_spans_csv,
)
from pipesim.ideal import evaluate
from pipesim.schedule.registry import Registry
from pipesim.trace import MemorySample, Message, Span, Trace


def link_trace() -> Trace:
    """Two devices in seconds, one forward message crossing two link hops (one queued)."""
    tr = Trace(devices=["gpu0", "gpu1"], links=["link:gpu0->sw", "link:sw->gpu1", "link:unused"],
               meta={"schedule": "synthetic", "devices": 2, "stages": 2, "microbatches": 1, "level": "sim",
                     "memory_limit": math.inf, "tags": ("a", "b")})
    tr.spans += [
        Span("gpu0", "F", 0.0, 1e-3, stage=0, microbatch=0, label="0F0"),
        Span("gpu0", "allreduce", 4e-3, 5e-3),
        Span("gpu1", "F", 2e-3, 3e-3, stage=1, microbatch=0, label="1F0"),
        Span("link:gpu0->sw", "xfer", 1e-3, 1.4e-3, nbytes=4e6, message=7),
        Span("link:sw->gpu1", "xfer", 1.5e-3, 1.9e-3, nbytes=4e6, message=7, queued=1e-4),
    ]
    tr.messages.append(Message(7, 0, 1, 4e6, 1e-3, 1.9e-3, "act", 0, 0, "0F0->1F0"))
    tr.memory += [MemorySample(0, 0.0, 1e9, 2e9), MemorySample(0, 2e-3, 0.0, 1e9), MemorySample(1, 2e-3, 1e9, 2e9)]
    return tr


def table_trace(p: int = 4, m: int = 8) -> Trace:
    tr = evaluate(Registry.default().generate("1f1b", p, m), Costs.make(p, F=1.0, B=2.0)).trace()
    tr.meta["time_unit"] = "slot"
    return tr


def check_valid(data: dict) -> None:
    events = data["traceEvents"]
    assert isinstance(events, list) and events
    for e in events:
        assert e["ph"] in ("M", "X", "s", "t", "f", "C")
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        if e["ph"] == "X":
            for key in ("name", "ts", "dur", "cat", "args"):
                assert key in e
            assert e["dur"] >= 0 and e["ts"] >= 0
        if e["ph"] in ("s", "t", "f", "C"):
            assert isinstance(e["ts"], int | float)
        if e["ph"] == "f":
            assert e["bp"] == "e"
    starts = Counter(e["id"] for e in events if e["ph"] == "s")
    ends = Counter(e["id"] for e in events if e["ph"] == "f")
    assert starts == ends and set(starts.values()) <= {1}
    threads = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    for e in events:
        if e["ph"] in ("X", "s", "t", "f"):
            assert (e["pid"], e["tid"]) in threads


def test_table_trace_is_valid_chrome_json():
    data = json.loads(dumps_chrome_trace(table_trace()))
    check_valid(data)
    names = [e["args"]["name"] for e in data["traceEvents"] if e["name"] == "thread_name"]
    assert names == ["gpu0", "gpu1", "gpu2", "gpu3"]
    procs = [e["args"]["name"] for e in data["traceEvents"] if e["name"] == "process_name"]
    assert procs == ["devices"]
    # 1F1B p=4, m=8: 4*8 F + 4*8 B slices; (p-1)*m activations + (p-1)*m gradients = 48 flows
    assert sum(e["ph"] == "X" for e in data["traceEvents"]) == 64
    assert sum(e["ph"] == "s" for e in data["traceEvents"]) == 2 * 3 * 8


def test_slot_traces_scale_to_1000_us_and_flows_sit_on_slice_starts():
    data = to_chrome_trace(table_trace())
    assert data["otherData"]["pipesim"]["time_scale_us"] == SLOT_SCALE_US
    events = data["traceEvents"]
    slices = {(e["tid"], e["name"]): e for e in events if e["ph"] == "X"}
    # 0F0 runs in slot [0, 1) on gpu0 and 1F0 in [1, 2) on gpu1: the first arrow goes 0 us -> 1000 us
    assert slices[(0, "0F0")]["ts"] == 0 and slices[(0, "0F0")]["dur"] == 1000
    assert slices[(1, "1F0")]["ts"] == 1000
    starts = {(e["tid"], e["ts"]) for e in events if e["ph"] == "X"}
    flows = [e for e in events if e["ph"] in ("s", "f")]
    assert all((e["tid"], e["ts"]) in starts for e in flows)
    first = min((e for e in flows if e["ph"] == "s" and e["tid"] == 0), key=lambda e: e["ts"])
    partner = next(e for e in flows if e["ph"] == "f" and e["id"] == first["id"])
    assert (first["ts"], partner["tid"], partner["ts"]) == (0, 1, 1000)


def test_link_trace_lanes_args_and_counters():
    data = to_chrome_trace(link_trace())
    check_valid(data)
    events = data["traceEvents"]
    threads = {(e["pid"], e["args"]["name"]) for e in events if e["name"] == "thread_name"}
    assert {(1, "link:gpu0->sw"), (1, "link:sw->gpu1"), (1, "link:unused"), (0, "gpu0")} <= threads
    xfer = [e for e in events if e["ph"] == "X" and e["cat"] == "xfer"]
    assert [(e["pid"], e["ts"], e["args"]["bytes"]) for e in xfer] == [(1, 1000.0, 4e6), (1, 1500.0, 4e6)]
    assert xfer[1]["args"]["queued"] == 1e-4 and xfer[1]["dur"] == pytest.approx(400.0)
    counters = [e for e in events if e["ph"] == "C"]
    assert [(e["name"], e["ts"], e["args"]["total"]) for e in counters] == [
        ("memory gpu0", 0.0, 2e9), ("memory gpu0", 2000.0, 1e9), ("memory gpu1", 2000.0, 2e9)]
    # inf in meta must not produce invalid JSON
    json.loads(dumps_chrome_trace(link_trace()))


def assert_same_trace(a: Trace, b: Trace) -> None:
    assert b.devices == a.devices and b.links == a.links
    key = lambda s: (s.track, s.start, s.kind, s.stage, s.microbatch)  # noqa: E731
    sa, sb = sorted(a.spans, key=key), sorted(b.spans, key=key)
    assert len(sa) == len(sb)
    for x, y in zip(sa, sb, strict=True):
        assert (x.track, x.kind, x.stage, x.microbatch, x.nbytes, x.message, x.label, x.queued) == (
            y.track, y.kind, y.stage, y.microbatch, y.nbytes, y.message, y.label, y.queued)
        assert y.start == pytest.approx(x.start, rel=1e-12, abs=1e-15)
        assert y.end == pytest.approx(x.end, rel=1e-12, abs=1e-15)
    assert b.messages == a.messages
    assert len(b.memory) == len(a.memory)
    for x, y in zip(sorted(a.memory, key=lambda m: (m.device, m.time)), b.memory, strict=True):
        assert (x.device, x.activations, x.total) == (y.device, y.activations, y.total)
        assert y.time == pytest.approx(x.time, rel=1e-12, abs=1e-15)


def test_round_trip_link_trace(tmp_path):
    tr = link_trace()
    path = write_chrome_trace(tr, tmp_path / "t.json")
    back = load_chrome_trace(path)
    assert_same_trace(tr, back)
    assert back.meta["memory_limit"] == math.inf
    assert back.meta["tags"] == ["a", "b"] and back.meta["schedule"] == "synthetic"


def test_round_trip_table_trace(tmp_path):
    tr = table_trace(3, 5)
    back = load_chrome_trace(write_chrome_trace(tr, tmp_path / "t.json"))
    assert_same_trace(tr, back)
    assert back.meta == tr.meta and back.makespan == pytest.approx(tr.makespan)


def test_deterministic_bytes(tmp_path):
    assert dumps_chrome_trace(table_trace()) == dumps_chrome_trace(table_trace())
    write_chrome_trace(link_trace(), tmp_path / "a.json")
    write_chrome_trace(link_trace(), tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_load_rejects_non_traces(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_chrome_trace(bad)
    bad.write_text('{"events": []}')
    with pytest.raises(ValueError, match="traceEvents"):
        load_chrome_trace(bad)


def test_foreign_chrome_trace_loads_best_effort(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"traceEvents": [
        {"ph": "M", "name": "thread_name", "pid": 5, "tid": 2, "args": {"name": "rank0"}},
        {"ph": "X", "name": "fwd", "cat": "F", "pid": 5, "tid": 2, "ts": 10, "dur": 5},
    ]}))
    tr = load_chrome_trace(path)
    assert tr.devices == ["rank0"]
    assert (tr.spans[0].kind, tr.spans[0].start, tr.spans[0].end) == ("F", 1e-5, 1.5e-5)


def test_spans_csv(tmp_path):
    tr = link_trace()
    path = write_spans_csv(tr, tmp_path / "s.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(tr.spans)
    assert [float(r["start"]) for r in rows] == sorted(float(r["start"]) for r in rows)
    queued = next(r for r in rows if r["track"] == "link:sw->gpu1")
    assert float(queued["queued"]) == 1e-4 and float(queued["bytes"]) == 4e6 and queued["message"] == "7"
    assert float(queued["duration"]) == pytest.approx(4e-4)


def test_metrics_json_keeps_order_and_floats(tmp_path):
    metrics = {"schedule": "1f1b", "makespan": 0.1 + 0.2, "busy": (1.0, 2.5), "peak": math.inf, "a": 1}
    path = write_metrics_json(metrics, tmp_path / "m.json")
    text = path.read_text()
    back = json.loads(text)
    assert list(back) == ["schedule", "makespan", "busy", "peak", "a"]
    assert back["makespan"] == 0.1 + 0.2 and "0.30000000000000004" in text
    assert back["busy"] == [1.0, 2.5] and back["peak"] == math.inf
    write_metrics_json(metrics, tmp_path / "m2.json")
    assert (tmp_path / "m2.json").read_bytes() == path.read_bytes()


def contended_sim_trace() -> Trace:
    """1F1B over two nodes whose 4 GPUs share one slow NIC: transfers overlap on the NIC."""
    from pipesim.network import cluster
    from pipesim.sim.engine import Simulation

    sched = Registry.default().generate("gpipe", 4, 4)
    costs = Costs.make(4, F=1e-3, B=2e-3, message_bytes=8 * 2**20)
    topo = cluster(2, 2, intra="nvlink3", inter="eth10", gpus_per_nic=2)
    return Simulation(sched, costs, topo).run().trace


def test_concurrent_transfers_get_sub_lanes_and_arrows_run_producer_links_consumer():
    trace = contended_sim_trace()
    data = to_chrome_trace(trace)
    check_valid(data)
    events = data["traceEvents"]
    lanes = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"
             and e["pid"] == PID_LINKS}
    assert any("#2" in name for name in lanes.values())  # some link carried two at once
    # No two slices on one thread overlap (Perfetto would drop or misdraw them).
    by_thread: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for e in events:
        if e["ph"] == "X":
            by_thread.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for slices in by_thread.values():
        slices.sort()
        assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(slices))
    # Every pipeline message: s on its producer's slice, t on each link slice, f on its consumer's.
    starts = {(e["pid"], e["tid"], e["ts"]): e for e in events if e["ph"] == "X"}
    chains: dict[int, list[dict]] = {}
    for e in events:
        if e["ph"] in ("s", "t", "f"):
            chains.setdefault(e["id"], []).append(e)
    msgs = {m.id: m for m in trace.messages}
    crossing = 0
    for mid, chain in chains.items():
        assert [e["ph"] for e in chain] == ["s"] + ["t"] * (len(chain) - 2) + ["f"]
        slices = [starts[(e["pid"], e["tid"], e["ts"])] for e in chain]  # each binds to a slice start
        assert slices[0]["pid"] == PID_DEVICES and slices[-1]["pid"] == PID_DEVICES
        assert slices[0]["name"] == msgs[mid].producer and slices[-1]["name"] == msgs[mid].consumer
        assert all(x["pid"] == PID_LINKS for x in slices[1:-1])
        assert [e["ts"] for e in chain] == sorted(e["ts"] for e in chain)
        crossing += len(chain) > 2
    assert crossing > 0
    names = [e["name"] for e in events if e["ph"] == "X" and e["pid"] == PID_LINKS]
    assert "act mb0 s1→s2 · 8 MiB" in names
    # Reading it back folds the sub-lanes into their links again.
    back = from_chrome_trace(json.loads(dumps_chrome_trace(trace)))
    assert back.links == trace.links
    assert sorted(s.track for s in back.spans if s.kind == "xfer") == sorted(
        s.track for s in trace.spans if s.kind == "xfer")
