"""The quickstart scenario: calibrated costs, a padded vocabulary, and a split whose slowest stage
is as fast as any split of the model can make it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pipesim.scenario import ScenarioError, build, load_scenario

QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"
GPT2_VOCAB = 50257


@pytest.fixture(scope="module")
def built():
    return build(load_scenario(QUICKSTART))


def test_uses_the_calibrated_model_with_megatron_padding(built) -> None:
    model = built.model
    assert (model.cost_model, model.attention, model.dropout) == ("roofline", "flash", 0.0)
    # Megatron-LM pads the vocabulary up to a multiple of 128 (tensor parallelism 1 here).
    assert model.vocab == -(-GPT2_VOCAB // 128) * 128 == 50304
    assert built.workload.stages[0].time.F > 0 and all(s.layers >= 1 for s in built.workload.stages)


def test_vocab_override_reaches_the_weights() -> None:
    # The tied embedding (stage 0) and the LM head (last stage) each hold V x h weights: padding
    # by 47 tokens adds 47 x 2048 bf16 values to each, and nothing elsewhere.
    padded = build(load_scenario(QUICKSTART)).costs.param_bytes
    plain = build(load_scenario(QUICKSTART, [f"model.vocab={GPT2_VOCAB}"])).costs.param_bytes
    extra = (50304 - GPT2_VOCAB) * 2048 * 2
    assert [a - b for a, b in zip(padded, plain, strict=True)] == [extra, 0, 0, 0, 0, 0, 0, extra]


@pytest.mark.parametrize("value, what", [("0", "is too small"), ("abc", "is not a whole number"),
                                         ("50304.5", "is not a whole number"), ("true", "is not a whole number")])
def test_bad_vocab_is_one_line_naming_the_key(value: str, what: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(QUICKSTART, [f"model.vocab={value}"])
    msg = str(info.value)
    assert msg.startswith("scenario.model.vocab: ") and what in msg and "\n" not in msg


def test_split_minimises_the_slowest_stage(built) -> None:
    """Every stage's F + B is its layer count times one layer's, plus the head on the last
    stage; over every split of the 24 layers into 8 non-empty stages (245,157 of them), none
    has a faster slowest stage than the scenario's."""
    work = [f + b for f, b in zip(built.costs.forward, built.costs.backward, strict=True)]
    split = [s.layers for s in built.workload.stages]
    layer = work[0] / split[0]
    for n, w in zip(split[:-1], work[:-1], strict=True):
        assert w == pytest.approx(n * layer, rel=1e-12)
    head = work[-1] - split[-1] * layer
    assert head > layer  # the LM head at V = 50304 costs more than a layer (about 2.1)

    n_layers, n_stages = sum(split), len(split)

    def slowest(cuts: tuple[int, ...]) -> float:
        sizes = [b - a for a, b in itertools.pairwise(cuts)]
        return max(max(sizes[:-1]) * layer, sizes[-1] * layer + head)

    best = min(slowest((0, *inner, n_layers))
               for inner in itertools.combinations(range(1, n_layers), n_stages - 1))
    assert max(work) == pytest.approx(best, rel=1e-12)


def test_first_device_peak_is_p_stashes_on_top_of_the_model_state(built) -> None:
    # 1F1B keeps p microbatches in flight on the first device: its weights, gradients and Adam
    # state (2 + 2 + 12 bytes per parameter) plus p stashes; the simulation's peak says the same,
    # far below the A100's 80 GB (the closed form's eager-attention stash would be 3.6x larger).
    import pipesim

    c, p = built.costs, built.schedule.num_devices
    first = 2 * c.param_bytes[0] + c.optimizer_bytes[0] + p * c.activation_bytes[0]
    metrics = pipesim.run(built, level="table").metrics
    assert metrics["peak_memory_bytes"][0] == pytest.approx(first, rel=1e-12)
    assert metrics["fits_in_memory"] and first < 0.2 * built.memory_limit
