"""The cost-balanced layer split (``model.layers_per_stage: balanced``) against a brute force
over every split, costed by the workload model itself."""

from __future__ import annotations

import itertools

import pytest

from pipesim.scenario import ScenarioError, build, load_scenario
from pipesim.scenario.split import PartCosts, balanced_split, device_loads
from pipesim.schedule import Registry
from pipesim.workload import ModelSpec, gpu_preset, summarize

REG = Registry.default()


def scenario(name: str, p: int, m: int, model: dict, options: dict | None = None) -> dict:
    return {
        "name": "split",
        "model": {**model, "layers_per_stage": "balanced"},
        "hardware": {"gpu": "A100"},
        "parallel": {"pp": p, "microbatches": m},
        "schedule": {"name": name, "options": options or {}},
    }


# Small models whose embedding and head weigh from a fraction of a layer to several layers.
MODELS = {
    "light-head": {"layers": 8, "hidden": 256, "heads": 4, "seq_len": 128, "vocab": 1000},
    "head-of-two-layers": {"layers": 9, "hidden": 256, "heads": 4, "seq_len": 128, "vocab": 6000},
    "heavy-head": {"layers": 10, "hidden": 128, "heads": 4, "seq_len": 64, "vocab": 20000},
    "roofline": {"layers": 9, "hidden": 512, "heads": 8, "seq_len": 256, "vocab": 8000, "cost_model": "roofline"},
}

CASES = [  # (schedule, p, m, options): every family, small enough to enumerate every split
    ("1f1b", 3, 3, {}),
    ("1f1b", 4, 4, {}),
    ("interleaved", 2, 4, {"v": 2}),
    ("zb-v", 2, 4, {}),
    ("zb-v", 3, 6, {}),
    ("hanayo", 2, 2, {"waves": 2}),
    ("chimera", 4, 4, {}),
    ("dualpipe", 2, 4, {}),
    ("dualpipev", 3, 6, {}),
]


def brute_force(schedule, model: ModelSpec) -> tuple[float, float]:
    """(busiest device, slowest stage), lexicographically least over every split with at least
    one layer per part, each split costed by the workload model from scratch."""
    lay = schedule.layout
    parts, L = lay.num_parts, model.layers
    gpu = gpu_preset("A100")
    keys = []
    for cuts in itertools.combinations(range(1, L), parts - 1):
        split = tuple(b - a for a, b in itertools.pairwise((0, *cuts, L)))
        c = summarize(model, gpu, parts, layers_per_stage=split).to_costs()
        part = [f + b for f, b in zip(c.forward, c.backward, strict=True)]
        loads = [0.0] * lay.num_devices
        for s, mbs in enumerate(lay.stage_microbatches):
            loads[lay.stage_device[s]] += len(mbs) * part[lay.stage_part[s]]
        keys.append((max(loads), max(part)))
    # Equal loads summed in another order differ in the last bits: compare within 1e-9.
    busiest = min(k[0] for k in keys)
    return busiest, min(k[1] for k in keys if k[0] <= busiest * (1 + 1e-9))


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("name,p,m,options", CASES)
def test_balanced_split_is_optimal(name, p, m, options, model):
    built = build(load_scenario(scenario(name, p, m, MODELS[model], options)))
    assert built.workload is not None
    split = [s.layers for s in built.workload.stages]
    assert sum(split) == MODELS[model]["layers"] and min(split) >= 1
    c = built.workload.to_costs()
    part = [f + b for f, b in zip(c.forward, c.backward, strict=True)]
    lay = built.schedule.layout
    loads = [0.0] * lay.num_devices
    for s, mbs in enumerate(lay.stage_microbatches):
        loads[lay.stage_device[s]] += len(mbs) * part[lay.stage_part[s]]
    busiest, slowest = brute_force(built.schedule, built.model)
    assert max(loads) == pytest.approx(busiest, rel=1e-9)
    assert max(part) == pytest.approx(slowest, rel=1e-9)


def test_v_shape_charges_embedding_and_head_to_the_same_device():
    # zb-v on 2 devices: parts 0 and 3 (embedding, head) are both on device 0. With a head of
    # several layers the balanced split gives device 0 the fewest layers in total.
    built = build(load_scenario(scenario("zb-v", 2, 4, MODELS["heavy-head"])))
    split = [s.layers for s in built.workload.stages]
    assert split[0] + split[3] < split[1] + split[2]


def test_affine_model_matches_hand_values():
    # 1F1B, 3 parts, 7 layers; part costs 1 + n, n, 3 + n (embedding 1, head 3): loads equal
    # at n = (4, 3, 0) but every part needs a layer: (3, 3, 1) -> 4, 3, 4.
    lay = REG.generate("1f1b", 3, 3).layout
    costs = PartCosts((1.0, 0.0, 3.0), 1.0)
    split = balanced_split(lay, 7, costs)
    assert split == (3, 3, 1)
    assert device_loads(lay, costs, split) == [12.0, 9.0, 12.0]


def test_asymmetric_layout_falls_back_to_the_slowest_stage():
    # Chimera with a 3:1 down/up split: devices compute their two parts for unequal numbers of
    # microbatches, so only the slowest stage is balanced; still a valid split.
    lay = REG.generate("chimera", 4, 8, down_fraction=0.75).layout
    costs = PartCosts((0.5, 0.0, 0.0, 2.0), 1.0)
    split = balanced_split(lay, 12, costs)
    assert sum(split) == 12 and min(split) >= 1
    # Stage costs 0.5 + n0, n1, n2, 2 + n3: a max of 3.5 leaves room for 3 + 3 + 3 + 1 = 10 layers
    # only, a max of 4 for 3 + 4 + 4 + 2 = 13.
    assert max(costs.cost(k, n) for k, n in enumerate(split)) == 4.0


def test_bad_values_are_one_line_errors():
    sc = scenario("1f1b", 2, 2, MODELS["light-head"])
    sc["model"]["layers_per_stage"] = "even"
    with pytest.raises(ScenarioError, match=r"layers_per_stage.*balanced") as exc:
        load_scenario(sc)
    assert "\n" not in str(exc.value)
