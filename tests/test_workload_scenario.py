"""The roofline keys and hardware.profile in scenario files."""

from __future__ import annotations

import pytest

from pipesim.scenario import ScenarioError, build, load_scenario


def _built(tmp_path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return build(load_scenario(path))


BASE = """
hardware: {gpu: h200}
model: {preset: 7b, microbatch_size: 1%s}
parallel: {pp: 4, microbatches: 8}
"""


def test_roofline_keys_change_costs(tmp_path) -> None:
    closed = _built(tmp_path, BASE % "").costs
    roof = _built(tmp_path, BASE % ", cost_model: roofline").costs
    eager = _built(tmp_path, BASE % ", cost_model: roofline, attention: eager").costs
    assert roof.forward[1] < closed.forward[1]  # the closed form's 0.45 efficiency is pessimistic
    assert roof.activation_bytes[1] < closed.activation_bytes[1] / 3  # flash keeps no s × s tensors
    assert eager.activation_bytes[1] > 2 * roof.activation_bytes[1]
    gqa = _built(tmp_path, BASE % ", cost_model: roofline, kv_heads: 8").costs
    assert gqa.activation_bytes[1] < roof.activation_bytes[1]
    # dropout keeps a mask byte and the dropped probabilities per s × s element (8 layers per
    # stage, 32 heads, s = 4096) and a mask byte per residual-branch element
    drop = _built(tmp_path, BASE % ", cost_model: roofline, attention: eager, dropout: 0.1").costs
    extra = 8 * (3 * 32 * 4096**2 + 2 * 4096 * 4096)
    assert drop.activation_bytes[1] - eager.activation_bytes[1] == extra
    assert drop.forward[1] > eager.forward[1]


def test_hardware_profile_overrides(tmp_path) -> None:
    text = BASE.replace("{gpu: h200}", "{gpu: h200, profile: h200-bf16}") % ", cost_model: roofline"
    prof = _built(tmp_path, text)
    roof = _built(tmp_path, BASE % ", cost_model: roofline")
    assert prof.costs.forward[1] == pytest.approx(8 * 3.40e-3, rel=0.01)  # 8 layers x the measured 3.40 ms
    assert prof.costs.forward[1] != roof.costs.forward[1]


def test_bad_keys_name_the_key(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="attention"):
        _built(tmp_path, BASE % ", attention: sparse")
    for bad in ("1.5", "-0.1", "yes"):
        with pytest.raises(ScenarioError, match="dropout"):
            _built(tmp_path, BASE % f", cost_model: roofline, dropout: {bad}")
    with pytest.raises(ScenarioError, match="profile"):
        _built(tmp_path, BASE.replace("{gpu: h200}", "{gpu: h200, profile: nope.json}") % "")
