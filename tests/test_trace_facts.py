"""The trace carries the facts its readers need: checked against the schedule, not the code."""

from __future__ import annotations

import pytest

import pipesim
from pipesim.costs import Costs
from pipesim.network import cluster
from pipesim.sim.engine import SimOptions, Simulation
from pipesim.trace import COMPUTE_KINDS


def _traces(name: str, p: int, m: int, dp: int = 1):
    sched = pipesim.generate(name, p, m)
    costs = Costs.make(sched.num_stages, F=1e-3, B=2e-3, message_bytes=8e6, param_bytes=1e8, sized=True)
    table = pipesim.evaluate(sched, costs).trace()
    sim = Simulation(sched, costs, cluster(2, 2 * dp, inter="eth25"), SimOptions(dp=dp)).run().trace
    return sched, table, sim


@pytest.mark.parametrize(("name", "dp"), [("1f1b", 1), ("interleaved", 1), ("zb-v", 1), ("chimera", 2), ("dualpipe", 1)])
def test_messages_name_the_actions_at_both_ends(name, dp):
    _, table, sim = _traces(name, 4, 8, dp)
    for trace in (table, sim):
        spans = {(s.track, s.label): s for s in trace.spans if s.kind in COMPUTE_KINDS}
        pipeline = [m for m in trace.messages if m.kind in ("act", "grad")]
        assert pipeline
        for msg in pipeline:
            made = spans[(trace.devices[msg.src], msg.producer)]
            used = spans[(trace.devices[msg.dst], msg.consumer)]
            assert made.end == msg.sent  # sent when its producer finished
            assert used.start >= msg.arrived  # consumed only after it arrived
            assert made.microbatch == msg.microbatch or made.kind == "F&B"


@pytest.mark.parametrize("name", ["interleaved", "zb-v", "chimera", "hanayo", "dualpipe"])
def test_compute_spans_carry_chunk_route_and_parts(name):
    sched, table, sim = _traces(name, 4, 8)
    lay = sched.layout
    for trace in (table, sim):
        for s in trace.spans:
            if s.kind not in COMPUTE_KINDS:
                continue
            device = lay.stage_device[s.stage]
            assert s.chunk == sorted(lay.device_stages[device]).index(s.stage)
            if s.microbatch >= 0 and not s.parts:
                assert s.route == lay.mb_route[s.microbatch]
            if s.kind == "F&B":
                assert len(s.parts) == 2 and s.label == "(" + ";".join(s.parts) + ")OVERLAP_F_B"


def test_units_version_and_scenario_hash():
    _, table, sim = _traces("1f1b", 4, 8)
    for trace in (table, sim):
        assert trace.meta["memory_unit"] == "bytes" and trace.meta["time_unit"] == "s"
        assert trace.meta["pipesim_version"] == pipesim.__version__
    unitless = pipesim.evaluate(pipesim.generate("1f1b", 4, 8)).trace(time_unit="slot")
    assert (unitless.memory_unit, unitless.time_unit) == ("stage-microbatch", "slot")
    a = pipesim.run("scenarios/paper_costs.yaml", level="table").trace.meta["scenario_hash"]
    b = pipesim.run("scenarios/paper_costs.yaml", level="table").trace.meta["scenario_hash"]
    c = pipesim.run("scenarios/paper_costs.yaml", level="table",
                    overrides=["parallel.microbatches=8"]).trace.meta["scenario_hash"]
    assert a == b != c


def test_metrics_never_put_counts_in_a_byte_field():
    out = pipesim.evaluate(pipesim.generate("1f1b", 4, 8)).metrics()  # unit costs: no sizes
    assert out["memory_unit"] == "stage-microbatch"
    assert not any(k.endswith("_bytes") for k in out)
    assert out["peak_memory_units"] == [4.0, 3.0, 2.0, 1.0]


def test_trace_file_is_streamed_event_by_event_and_equals_the_dump(tmp_path, monkeypatch):
    import json

    from pipesim import export

    costs = Costs.make(4, F=1.0, B=2.0, message_bytes=1e6)
    sched = pipesim.Registry.default().generate("1f1b", 4, 6)
    trace = Simulation(sched, costs, cluster(1, 4, intra="pcie4"), SimOptions()).run().trace
    path = export.write_chrome_trace(trace, tmp_path / "t.json")
    assert path.read_text() == export.dumps_chrome_trace(trace)
    doc = json.loads(path.read_text())
    assert doc["traceEvents"] == json.loads(json.dumps(export.to_chrome_trace(trace)["traceEvents"]))

    # The writer consumes events as they are made: it never asks for them as a list.
    def no_list(_trace):
        raise AssertionError("write_chrome_trace built the whole event list")

    monkeypatch.setattr(export, "to_chrome_trace", no_list)
    assert export.write_chrome_trace(trace, tmp_path / "u.json").read_text() == path.read_text()
