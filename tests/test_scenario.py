"""Scenario files: one-line errors for every class of mistake, --set overrides, cost mapping rules,
the bundled examples, and the table == simulation identity through a scenario.

Oracles: error messages are written out in full here (the valid-key lists come from the schema's
documented order, preset lists from the workload module); per-stage costs are derived by hand
from the mapping rules in ``pipesim.scenario.build``.
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import pytest

from pipesim.inputs import InputError
from pipesim.network.options import Chunking
from pipesim.scenario import ScenarioError, build, load_scenario, scenario_to_dict
from pipesim.schedule.registry import Registry
from pipesim.workload import gpu_preset, known_models, model_preset, summarize

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

BASE: dict[str, Any] = {
    "name": "t",
    "costs": {"F": 1, "B": 2},
    "parallel": {"pp": 4, "microbatches": 8},
    "schedule": {"name": "1f1b"},
}


def scenario(**sections: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def error(data: Any, overrides: tuple[str, ...] = (), *, built: bool = False) -> str:
    with pytest.raises(ScenarioError) as info:
        s = load_scenario(data, list(overrides))
        if built:
            build(s)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def registry_of(*modules: str) -> Registry:
    gens = []
    for mod in modules:
        gens.extend(importlib.import_module(f"pipesim.schedule.generators.{mod}").GENERATORS)
    return Registry(gens)


# ---------------------------------------------------------------------------------------------
# Errors: one line, key path, value, what is valid


def test_unknown_key_suggests_the_nearest():
    msg = error(scenario(parallel={"pp_size": 4, "microbatches": 8}))
    assert msg == ("scenario.parallel: unknown key 'pp_size' (did you mean 'pp'?); "
                   "valid keys: pp, dp, placement, microbatches")


def test_unknown_top_level_key():
    msg = error(scenario(modle={"preset": "7b"}))
    assert msg.startswith("scenario: unknown key 'modle' (did you mean 'model'?); valid keys: name, description, model")


def test_wrong_unit_kind():
    assert error(scenario(costs={"F": "8 MiB"})) == "scenario.costs.F: '8 MiB' is a size, expected a time such as '50 ms'"
    assert error(scenario(costs={"F": 1, "message_bytes": "40 GB/s"})) == (
        "scenario.costs.message_bytes: '40 GB/s' is a rate, expected a size such as '32 MiB'")
    assert error(scenario(network={"overhead": "5 MB"})) == (
        "scenario.network.overhead: '5 MB' is a size, expected a time such as '50 ms'")


def test_negative_number_names_the_list_item():
    assert error(scenario(costs={"F": [1, -2, 1, 1]})) == (
        "scenario.costs.F[1]: -2 is negative; expected a finite time >= 0 such as '50 ms'")
    assert error(scenario(costs={"F": 1, "message_bytes": "-1 MiB"})) == (
        "scenario.costs.message_bytes: '-1 MiB' is negative; expected a finite size >= 0 such as '32 MiB'")


def test_whole_numbers_and_choices():
    assert error(scenario(parallel={"pp": 0, "microbatches": 8})) == (
        "scenario.parallel.pp: 0 is too small; expected a whole number in [1, 65,536]")
    assert error(scenario(parallel={"pp": 4, "microbatches": 2.5})) == (
        "scenario.parallel.microbatches: 2.5 is not a whole number; expected a whole number >= 1")
    assert error(scenario(network={"policy": "fare"})) == (
        "scenario.network.policy: 'fare' is not valid (did you mean 'fair'?); valid: fair, fifo")


def test_model_and_costs_are_exclusive():
    msg = error(scenario(model={"preset": "gpt3-1.3b"}, hardware={"gpu": "A100"}))
    assert msg == ("scenario: give either a model section (a transformer, costs derived from FLOPs) or a costs "
                   "section (explicit F/B/I/W times), not both")
    msg = error(scenario(costs=None))
    assert msg.startswith("scenario: missing a workload; give exactly one of model")


def test_unknown_presets():
    msg = error(scenario(costs=None, model={"preset": "gpt5"}, hardware={"gpu": "A100"}))
    assert msg == f"scenario.model.preset: unknown model 'gpt5'; known: {', '.join(known_models())}"
    msg = error(scenario(costs=None, model="gpt3-1.3b", hardware="A10"))
    assert msg.startswith("scenario.hardware.gpu: unknown GPU 'A10' (did you mean 'a100'?); known: a100, h100")


def test_incomplete_model_shape():
    msg = error(scenario(costs=None, model={"layers": 4, "hidden": 64}, hardware="A100"))
    assert msg == ("scenario.model: missing heads, seq_len, vocab; give a preset "
                   f"({', '.join(known_models())}) or all of layers, hidden, heads, seq_len, vocab")


def test_unknown_schedule_and_options():
    names = ", ".join(Registry.default().names())
    assert error(scenario(schedule={"name": "xyzzy"}), built=True) == (
        f"scenario.schedule.name: unknown schedule 'xyzzy'; known: {names}")
    assert error(scenario(schedule={"name": "gpipe", "options": {"v": 2}}), built=True) == (
        "scenario.schedule.options: unknown key 'v'; schedule 'gpipe' takes no options")


def test_schedule_option_errors_name_the_option():
    reg = registry_of("hanayo")
    s = load_scenario(scenario(schedule={"name": "hanayo", "options": {"wave": 2}}))
    with pytest.raises(ScenarioError) as info:
        build(s, registry=reg)
    assert str(info.value).startswith("scenario.schedule.options: unknown key 'wave' (did you mean 'waves'?); "
                                      "valid keys: waves")
    s = load_scenario(scenario(schedule={"name": "hanayo", "options": {"waves": "two"}}))
    with pytest.raises(ScenarioError) as info:
        build(s, registry=reg)
    assert str(info.value).startswith("scenario.schedule.options.waves: 'two' is not a valid int")


def test_schedule_requirement_error_is_prefixed():
    reg = registry_of("chimera")
    s = load_scenario(scenario(parallel={"pp": 3, "microbatches": 6}, schedule={"name": "chimera"}))
    with pytest.raises(ScenarioError) as info:
        build(s, registry=reg)
    msg = str(info.value)
    assert msg.startswith("scenario.schedule: ") and "\n" not in msg
    assert msg.endswith("(scenario.parallel: pp=3, microbatches=6)")


def test_too_many_devices_for_the_topology():
    pytest.importorskip("pipesim.network")
    msg = error(scenario(parallel={"pp": 4, "dp": 2, "microbatches": 8},
                         topology={"kind": "single_node", "gpus": 4}), built=True)
    assert msg == ("scenario.parallel: pp=4 x dp=2 needs 8 devices but the single_node topology has 4; "
                   "lower pp or dp, or enlarge the topology")


def test_topology_errors_are_prefixed():
    pytest.importorskip("pipesim.network")
    assert error(scenario(topology={"kind": "cluster", "num_nodes": 0, "gpus_per_node": 4}), built=True).startswith(
        "scenario.topology.num_nodes: 0 ")
    assert error(scenario(topology={"kind": "clustr"}), built=True).startswith(
        "scenario.topology.kind: unknown topology kind 'clustr' (did you mean 'cluster'?); known: ")
    assert error(scenario(topology={"nodes": 2})) == (
        "scenario.topology: missing key 'kind'; expected kind: single_node, cluster, internet, wan_chain, free or graph")


def test_device_count_defaults_to_pp_times_dp():
    pytest.importorskip("pipesim.network")
    for kind in ("free", "wan_chain", "internet"):
        b = build(load_scenario(scenario(topology={"kind": kind}, parallel={"pp": 4, "dp": 2, "microbatches": 8})))
        assert len(b.topology.devices) == 8, kind


def test_placement_by_name():
    pytest.importorskip("pipesim.network")
    topo = {"kind": "single_node", "gpus": 4}
    b = build(load_scenario(scenario(topology=topo, parallel={"pp": 4, "microbatches": 8,
                                                              "placement": ["n0.gpu3", 2, "n0.gpu1", 0]})))
    assert b.sim_options.placement == (3, 2, 1, 0)
    msg = error(scenario(topology=topo, parallel={"pp": 4, "microbatches": 8,
                                                  "placement": ["n0.gpu3", 2, "n0.gpu", 0]}), built=True)
    assert msg.startswith("scenario.parallel.placement[2]: unknown device 'n0.gpu' (did you mean ")


def test_placement_errors():
    pytest.importorskip("pipesim.network")
    assert error(scenario(parallel={"pp": 4, "microbatches": 8, "placement": [0, 1, 2]}), built=True) == (
        "scenario.parallel.placement: 3 entries given; pp=4 x dp=1 needs 4 (one topology device per pipeline "
        "device and replica, replica-major)")
    msg = error(scenario(parallel={"pp": 4, "microbatches": 8, "placement": [0, 1, 2, 1]}), built=True)
    assert msg.startswith("scenario.parallel.placement[3]: device 1 ")


def test_bad_set_path():
    assert error(BASE, ("parallel.pp_size=4",)) == (
        "scenario.parallel: unknown key 'pp_size' (did you mean 'pp'?); valid keys: pp, dp, placement, "
        "microbatches (from --set parallel.pp_size=4)")
    assert error(BASE, ("parallel.pp.x=4",)) == (
        "scenario.parallel.pp: is a value, not a section; cannot set 'x' inside it (from --set parallel.pp.x=4)")
    assert error(BASE, ("microbatches=4",)).startswith("scenario: unknown key 'microbatches'; valid keys: name,")
    assert error(BASE, ("parallel.microbatches",)) == (
        "--set 'parallel.microbatches': expected KEY.PATH=VALUE, e.g. --set parallel.microbatches=16")


def test_bad_set_value():
    assert error(BASE, ("parallel.microbatches=abc",)) == (
        "scenario.parallel.microbatches: 'abc' is not a whole number; expected a whole number >= 1 "
        "(from --set parallel.microbatches=abc)")
    assert error(BASE, ("costs.F=[1, 2",)).startswith("--set 'costs.F=[1, 2': cannot read the value '[1, 2' as YAML")
    assert error(BASE, ("costs.B=2 MB",)) == (
        "scenario.costs.B: '2 MB' is a size, expected a time such as '50 ms' (from --set costs.B=2 MB)")


def test_missing_file_and_bad_yaml(tmp_path):
    msg = error(tmp_path / "nothere.yaml")
    assert msg.startswith("scenario file '") and msg.endswith("nothere.yaml' not found")
    bad = tmp_path / "bad.yaml"
    bad.write_text("parallel: {pp: 4\n")
    msg = error(bad)
    assert msg.startswith(f"scenario file '{bad}': YAML syntax error at line ")


def test_explicit_cost_list_length():
    msg = error(scenario(costs={"F": [1, 2, 3]}), built=True)
    assert msg == ("scenario.costs.F: 3 values given but schedule '1f1b' has 4 stages (costs.per: stage); give "
                   "one value or one per stage (per: part takes 4; per: device takes 4)")


def test_layers_per_stage_must_match_parts():
    data = scenario(costs=None, model={"preset": "gpt3-1.3b", "layers_per_stage": [12, 12]}, hardware="A100")
    assert error(data, built=True) == (
        "scenario.model.layers_per_stage: 2 values given but schedule '1f1b' cuts the model into 4 parts "
        "(4 stages on 4 devices); give one layer count per part, or 'balanced'")


def test_workload_error_is_rebased():
    data = scenario(costs=None, model={"preset": "gpt3-1.3b", "layers_per_stage": [6, 6, 6, 5]}, hardware="A100")
    assert error(data, built=True) == (
        "scenario.model.layers_per_stage: sums to 23 but model 'gpt3-1.3b' has 24 layers")
    data = scenario(costs=None, model={"preset": "gpt3-1.3b", "tensor_parallel": 3}, hardware="A100")
    assert error(data, built=True) == (
        "scenario.model.tensor_parallel: 3 does not divide the model's 16 attention heads")


def test_compression_needs_a_model():
    msg = error(scenario(compression={"ratio": 4}))
    assert msg.startswith("scenario: compression needs a model section")
    msg = error(scenario(costs=None, model="7b", hardware="H100", compression={"rank": 8, "ratio": 4}))
    assert msg == "scenario.compression: give exactly one of rank (k) or ratio (h/k)"


def test_iterations_conflict():
    reg = registry_of("pipedream")
    s = load_scenario(scenario(iterations=2, schedule={"name": "pipedream", "options": {"iterations": 3}}))
    with pytest.raises(ScenarioError) as info:
        build(s, registry=reg)
    assert str(info.value) == ("scenario.schedule.options.iterations: 3 disagrees with scenario.iterations: 2; "
                               "set only scenario.iterations")


def test_every_error_lists_all_problems_but_reports_the_first():
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario(parallel={"pp": 0, "microbatches": "x"}))
    assert info.value.lines == [
        "scenario.parallel.pp: 0 is too small; expected a whole number in [1, 65,536]",
        "scenario.parallel.microbatches: 'x' is not a whole number; expected a whole number >= 1",
    ]
    assert str(info.value) == info.value.lines[0]


def test_errors_carry_their_key_path_as_a_tuple():
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario(network={"chunk_bytes": "-1 MB"}), ["parallel.dp=2"])
    assert isinstance(info.value, InputError)
    assert info.value.path == ("scenario", "network", "chunk_bytes")
    graph = {"kind": "graph", "devices": ["a", "b"], "links": [{"a": "a", "b": "b", "bandwidth": "40 GB"}]}
    with pytest.raises(ScenarioError) as info:
        build(load_scenario(scenario(topology=graph, parallel={"pp": 2, "microbatches": 4})))
    # the topology reader's error, nested under the scenario rather than re-prefixed as text
    assert info.value.path == ("scenario", "topology", "links", 0, "bandwidth")
    assert str(info.value) == ("scenario.topology.links[0].bandwidth: '40 GB' is a size, expected a rate such as "
                               "'40 GB/s'")


def test_set_annotation_follows_the_path():
    msg = error(BASE, ("parallel.placement=[0, -1, 2, 3]",))
    assert msg == ("scenario.parallel.placement[1]: -1 is too small; expected a whole number >= 0, or a topology "
                   "device name (from --set parallel.placement=[0, -1, 2, 3])")


@pytest.mark.parametrize(
    ("written", "echo", "chunk"),
    [("auto", "auto", 4 * 2.0**20), (None, None, None), (0, None, None), ("off", None, None),
     ("1 MiB", 2.0**20, 2.0**20)],
)
def test_chunking_is_parsed_once_and_echoes_its_spelling(written, echo, chunk):
    s = load_scenario(scenario(network={"chunk_bytes": written, "policy": "FIFO"}))
    assert s.network.chunking == Chunking.parse(written)
    assert scenario_to_dict(s)["network"]["chunk_bytes"] == echo
    assert load_scenario(scenario_to_dict(s)) == s
    options = build(s).sim_options
    assert (options.chunking, options.chunking.chunk_bytes, options.policy) == (Chunking.parse(written), chunk, "fifo")


# ---------------------------------------------------------------------------------------------
# --set overrides reach the built objects


def test_overrides_reach_built_objects():
    pytest.importorskip("pipesim.network")
    s = load_scenario(BASE, ["parallel.microbatches=16", "network.policy=fifo", "costs.F=3 ms",
                             "schedule.name=gpipe", "network.chunk_bytes=1 MiB", "network.blocking_send=true",
                             "hardware.gpu=H100", "hardware.memory=40 GiB"])
    b = build(s)
    assert b.schedule.name == "gpipe" and b.schedule.num_microbatches == 16
    assert b.costs.forward == (3e-3,) * 4
    assert b.costs.backward == (2.0,) * 4  # B given explicitly stays
    assert b.sim_options.policy == "fifo"
    assert b.sim_options.chunking.chunk_bytes == 2**20
    assert b.sim_options.blocking_send is True
    assert b.memory_limit == 40 * 2**30
    assert b.samples_per_iteration == 16


def test_override_into_free_form_sections():
    s = load_scenario(BASE, ["schedule.options.waves=2", "schedule.name=hanayo"])
    assert s.schedule.options == {"waves": 2}
    s = load_scenario(BASE, ["topology.kind=free", "parallel.placement=[3, 2, 1, 0]", "parallel.placement[0]=3"])
    assert s.topology == {"kind": "free"} and s.parallel.placement == (3, 2, 1, 0)


def test_shorthands_and_section_replacement():
    s = load_scenario(BASE, ["costs=null", "model=gpt3-1.3b", "hardware=A100"])
    assert s.costs is None and s.model is not None and s.model.preset == "gpt3-1.3b"
    assert s.hardware is not None and s.hardware.gpu == "A100"


def test_round_trip_through_dict():
    s = load_scenario(scenario(network={"chunk_bytes": None, "overhead": "5 us"}, outputs={"formats": ["svg"]}))
    again = load_scenario(scenario_to_dict(s))
    assert again == s
    assert scenario_to_dict(s)["network"]["overhead"] == pytest.approx(5e-6)


# ---------------------------------------------------------------------------------------------
# Cost mapping rules (build.py module doc), derived by hand


def test_model_costs_follow_model_parts_for_replicated_stages():
    pytest.importorskip("pipesim.network")
    reg = registry_of("chimera")
    data = scenario(costs=None, model="gpt3-1.3b", hardware="A100", schedule="chimera")
    b = build(load_scenario(data), registry=reg)
    ref = summarize(model_preset("gpt3-1.3b"), gpu_preset("A100"), 4)
    assert b.schedule.num_stages == 8
    for s in range(8):
        k = s % 4  # Chimera: stages k and 4 + k compute model part k
        assert b.costs.forward[s] == ref.stages[k].time.F
        assert b.costs.backward[s] == ref.stages[k].time.B
        assert b.costs.activation_bytes[s] == ref.stages[k].activation_bytes
    assert b.costs.sized


def test_explicit_costs_per_part_and_per_device():
    pytest.importorskip("pipesim.network")
    reg = registry_of("chimera", "hanayo")
    per_part = scenario(costs={"per": "part", "F": [1, 2, 3, 4]}, schedule="chimera")
    b = build(load_scenario(per_part), registry=reg)
    assert b.costs.forward == (1, 2, 3, 4, 1, 2, 3, 4)
    assert b.costs.backward == (2, 4, 6, 8, 2, 4, 6, 8)  # B = 2F by default
    # per: device on Hanayo (2p model parts on p devices): a stage is half a device's share.
    per_dev = scenario(costs={"per": "device", "F": [2, 4, 6, 8], "message_bytes": "8 MiB",
                              "param_bytes": "1 GB"}, schedule="hanayo")
    b = build(load_scenario(per_dev), registry=reg)
    lay = b.schedule.layout
    assert b.costs.forward == tuple([2, 4, 6, 8][lay.stage_device[s]] / 2 for s in range(8))
    assert b.costs.message_bytes == (8 * 2**20,) * 8  # boundary tensors keep their size
    assert b.costs.param_bytes == (0.5e9,) * 8
    # per: device on Chimera: each replica stage is a full device share (factor p / parts = 1).
    b = build(load_scenario(scenario(costs={"per": "device", "F": 5}, schedule="chimera")), registry=reg)
    assert b.costs.forward == (5.0,) * 8


def test_samples_and_tokens_per_iteration():
    pytest.importorskip("pipesim.network")
    data = scenario(costs=None, model={"preset": "gpt3-1.3b", "microbatch_size": 2}, hardware="A100",
                    parallel={"pp": 4, "dp": 2, "microbatches": 8})
    b = build(load_scenario(data))
    assert b.samples_per_iteration == 8 * 2 * 2
    assert b.tokens_per_iteration == 32 * 2048
    assert b.memory_limit == 80e9
    assert len(b.topology.devices) == 8  # default: a free topology of pp x dp devices
    assert b.describe()["parallel"] == {"pp": 4, "dp": 2, "microbatches": 8, "placement": None}


def test_pipedream_receives_iterations():
    pytest.importorskip("pipesim.network")
    b = build(load_scenario(scenario(iterations=3, schedule="pipedream")), registry=registry_of("pipedream"))
    assert b.schedule.num_microbatches == 3 * 8
    assert b.iterations == 3 and b.iterations_in_schedule == 3
    assert b.samples_per_iteration == 8


# ---------------------------------------------------------------------------------------------
# Bundled scenarios and the table == simulation identity


BUNDLED = sorted(SCENARIOS.glob("*.yaml"))


def test_bundled_scenarios_exist():
    names = {p.name for p in BUNDLED}
    assert {"quickstart.yaml", "paper_costs.yaml", "chimera_ib.yaml", "wan_compressed.yaml",
            "explicit_graph.yaml", "pytorch_csv.yaml"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_scenario_builds(path):
    pytest.importorskip("pipesim.network")
    s = load_scenario(path)
    if s.schedule.csv is not None:
        pytest.importorskip("pipesim.schedule.torch_csv")
    b = build(s)
    assert b.costs.num_stages == b.schedule.num_stages
    assert len(b.topology.devices) >= b.schedule.num_devices * b.sim_options.dp
    assert b.describe()["name"] == load_scenario(path).name


def test_uniform_costs_free_topology_reproduce_the_table_level():
    pytest.importorskip("pipesim.network")
    engine = pytest.importorskip("pipesim.sim.engine")
    from pipesim.ideal import evaluate

    data = scenario(costs={"F": "1 ms", "B": "2 ms", "message_bytes": "8 MiB"}, topology={"kind": "free"},
                    parallel={"pp": 4, "microbatches": 8})
    b = build(load_scenario(data))
    sim = engine.Simulation(b.schedule, b.costs, b.topology, b.sim_options).run()
    table = evaluate(b.schedule, b.costs)
    assert len(sim.start[0]) == len(table.start)
    for g in range(len(table.start)):
        assert sim.start[0][g] == pytest.approx(table.start[g], abs=1e-9)
        assert sim.end[0][g] == pytest.approx(table.end[g], abs=1e-9)
    # closed form for 1F1B with uniform costs and no communication: (m + p - 1)(F + B)
    assert table.makespan == pytest.approx((8 + 4 - 1) * 3e-3, abs=1e-12)


def test_generator_iterations_option_stands_for_the_scenario_count():
    pytest.importorskip("pipesim.network")
    s = load_scenario(scenario(schedule={"name": "pipedream", "options": {"iterations": 2}}))
    assert s.iterations == 2
    again = load_scenario(scenario_to_dict(s))  # the echo states it twice, consistently
    b = build(again, registry=registry_of("pipedream"))
    assert b.schedule.num_microbatches == 2 * 8 and b.iterations == 2


def test_csv_schedule_is_relative_to_the_scenario_file(tmp_path):
    pytest.importorskip("pipesim.network")
    pytest.importorskip("pipesim.schedule.torch_csv")
    b = build(load_scenario(SCENARIOS / "pytorch_csv.yaml"))
    assert b.schedule.num_devices == 4 and b.schedule.num_microbatches == 8
    assert b.costs.forward == (0.010, 0.010, 0.010, 0.014)
    assert b.samples_per_iteration == 8
    # pp / microbatches, when given, must agree with the file
    msg = error(SCENARIOS / "pytorch_csv.yaml", ("parallel.microbatches=4",), built=True)
    assert msg == ("scenario.parallel.microbatches: 4 disagrees with the schedule csv, which has 8; leave "
                   "microbatches out or set it to 8")
    # a scenario elsewhere does not find the csv next to the bundled one
    moved = tmp_path / "moved.yaml"
    moved.write_text((SCENARIOS / "pytorch_csv.yaml").read_text())
    msg = error(moved, built=True)
    assert msg == ("scenario.schedule.csv: file 'schedules/example_1f1b.csv' not found (paths are relative to the "
                   "scenario file's folder)")
