"""Workload model: FLOPs, bytes and times checked against arithmetic written out by hand from
the formulas in docs/reference.md (#transformer-costs, #activation-compression)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipesim.costs import Costs
from pipesim.units import UnitError
from pipesim.workload import (
    CompressionSpec,
    ModelSpec,
    WorkloadError,
    boundary_bytes,
    describe,
    effective_ratio,
    gpu_preset,
    layer_activation_bytes,
    layer_flops,
    model_preset,
    split_layers,
    stage_costs,
    summarize,
    total_params,
    weight_keep_fraction,
)

GPT13 = model_preset("gpt3-1.3b")  # L=24, h=2048, a=16, s=2048, V=50257
A100 = gpu_preset("A100")  # 312 TFLOP/s bf16 dense, efficiency 0.45
RATE = 312e12 * 0.45

# gpt3-1.3b, b = 1, per layer, written out from the formulas:
#   F = 24·b·s·h² + 4·b·s²·h = 24·2048·2048² + 4·2048²·2048 = 28·2^33
#   I = s·b·h·(24h + 8s)     = 2048·2048·(24·2048 + 8·2048) = 2^22 · 2^16 = 2^38
#   W = 24·s·b·h²            = 24·2^33
LAYER_F = 24 * 2048 * 2048**2 + 4 * 2048**2 * 2048
LAYER_I = 2048 * 2048 * (24 * 2048 + 8 * 2048)
LAYER_W = 24 * 2048 * 2048**2
# LM head on the last stage: 2·b·s·h·V each for F, I and W.
HEAD = 2 * 2048 * 2048 * 50257
# Activations per layer (bf16, no recompute): s·b·h·(34 + 5·a·s/h) = 2^22·(34 + 80) bytes.
LAYER_ACT = 2048 * 2048 * (34 + 5 * 16 * 2048 / 2048)
# Last stage extras: logits b·s·V·(2 + 4) + final-norm and head inputs 2·(2·s·b·h).
HEAD_ACT = 2048 * 50257 * (2 + 4) + 2 * 2 * 2048 * 2048
LAYER_PARAMS = 12 * 2048**2 + 13 * 2048


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12)


class TestHandComputedPreset:
    def test_layer_constants(self) -> None:
        assert LAYER_F == 28 * 2**33
        assert LAYER_I == 2**38
        assert LAYER_ACT == 114 * 2**22
        f = layer_flops(GPT13)
        assert (f.F, f.I, f.W) == (LAYER_F, LAYER_I, LAYER_W)

    def test_four_stage_flops_and_times(self) -> None:
        s = summarize(GPT13, A100, 4)
        assert [x.layers for x in s.stages] == [6, 6, 6, 6]
        for x in s.stages[:3]:
            assert (x.flops.F, x.flops.I, x.flops.W) == (6 * LAYER_F, 6 * LAYER_I, 6 * LAYER_W)
        last = s.stages[3]
        assert (last.flops.F, last.flops.I, last.flops.W) == (6 * LAYER_F + HEAD, 6 * LAYER_I + HEAD, 6 * LAYER_W + HEAD)
        c = stage_costs(GPT13, A100, 4)
        # 6·28·2^33 / 140.4e12 ≈ 10.2786 ms; the head adds 2·2^22·50257 / 140.4e12 ≈ 3.0 ms.
        assert c.forward == (approx(6 * LAYER_F / RATE),) * 3 + (approx((6 * LAYER_F + HEAD) / RATE),)
        assert c.forward[0] == pytest.approx(10.2786e-3, rel=1e-4)
        assert c.backward_input[0] == approx(6 * LAYER_I / RATE)
        assert c.backward_weight[3] == approx((6 * LAYER_W + HEAD) / RATE)

    def test_four_stage_bytes(self) -> None:
        c = stage_costs(GPT13, A100, 4)
        assert c.sized
        assert c.message_bytes == (2048 * 2048 * 2.0,) * 4  # b·s·h bf16 = 8 MiB
        assert c.activation_bytes == (6 * LAYER_ACT,) * 3 + (6 * LAYER_ACT + HEAD_ACT,)
        assert c.weight_keep == approx(32 / 114)  # W keeps 32·sbh of 114·sbh
        emb = 50257 * 2048 + 2048 * 2048  # token + learned position embeddings
        head = 2 * 2048 + 50257 * 2048  # final norm + (tied copy of) the LM head
        params = [6 * LAYER_PARAMS + emb, 6 * LAYER_PARAMS, 6 * LAYER_PARAMS, 6 * LAYER_PARAMS + head]
        assert c.param_bytes == tuple(2.0 * p for p in params)  # one copy of the bf16 weights
        assert c.optimizer_bytes == tuple(12.0 * p for p in params)  # Adam: fp32 master, m, v

    def test_total_params(self) -> None:
        expected = 24 * LAYER_PARAMS + 50257 * 2048 + 2048 * 2048 + 2 * 2048
        assert total_params(GPT13) == expected == 1_315_723_264
        # The last stage's copy of the tied embedding is counted per stage but not in the total.
        s = summarize(GPT13, A100, 4)
        assert sum(x.params for x in s.stages) == expected + 50257 * 2048
        assert sum(x.params for x in summarize(GPT13, A100, 1).stages) == expected
        llama = model_preset("7b")  # untied: head is a separate matrix, no learned positions
        assert total_params(llama) == 32 * (12 * 4096**2 + 13 * 4096) + 2 * 32000 * 4096 + 2 * 4096
        assert sum(x.params for x in summarize(llama, A100, 8).stages) == total_params(llama)


class TestRelations:
    @pytest.mark.parametrize("name", ["gpt3-1.3b", "gpt3-2.7b", "7b", "13b", "70b"])
    def test_split_backward_sums_to_twice_forward(self, name: str) -> None:
        m = model_preset(name)
        f = layer_flops(m, 2)
        assert f.B == f.I + f.W == 2 * f.F
        c = stage_costs(m, A100, 8, microbatch_size=2)
        for s in range(8):
            assert c.backward[s] == approx(c.backward_input[s] + c.backward_weight[s])
            assert c.backward[s] == approx(2 * c.forward[s])

    def test_microbatch_size_scales_linearly(self) -> None:
        one, four = stage_costs(GPT13, A100, 4), stage_costs(GPT13, A100, 4, microbatch_size=4)
        for a, b in [(one.forward, four.forward), (one.message_bytes, four.message_bytes),
                     (one.activation_bytes, four.activation_bytes)]:
            assert b == tuple(approx(4 * x) for x in a)
        assert four.param_bytes == one.param_bytes

    def test_tensor_parallel_divides_messages_time_memory(self) -> None:
        one, two = stage_costs(GPT13, A100, 4), stage_costs(GPT13, A100, 4, tensor_parallel=2)
        assert two.message_bytes == (2048 * 2048 * 2 / 2,) * 4  # b·s·h·2 / t
        assert two.forward == tuple(approx(x / 2) for x in one.forward)
        assert two.activation_bytes == tuple(approx(x / 2) for x in one.activation_bytes)
        assert two.optimizer_bytes == tuple(approx(x / 2) for x in one.optimizer_bytes)
        assert boundary_bytes(GPT13, 1, "bf16", 4) == 2048 * 2048 * 2 / 4

    def test_dtype_sets_bytes_and_rate(self) -> None:
        fp32 = summarize(GPT13, A100, 4, dtype="fp32")
        assert fp32.stages[0].message_bytes == 2048 * 2048 * 4
        # (16·4 + 2)·sbh + (2·4 + 1)·a·s²·b per layer.
        assert fp32.stages[1].activation_bytes == 6 * (66 * 2048 * 2048 + 9 * 16 * 2048 * 2048)
        assert fp32.achieved_flops == 19.5e12 * 0.45  # A100 fp32 without tensor cores
        h100 = gpu_preset("h100")
        assert summarize(GPT13, h100, 4, dtype="FP8").achieved_flops == 1979e12 * 0.45
        assert summarize(GPT13, h100, 4, dtype="fp16").achieved_flops == 989e12 * 0.45
        # A GPU without a figure for fp8 runs it at its bf16 rate (no invented speed-up).
        assert summarize(GPT13, A100, 4, dtype="fp8").achieved_flops == RATE

    def test_optimizer_state(self) -> None:
        p0 = 6 * LAYER_PARAMS
        assert stage_costs(GPT13, A100, 4, optimizer="sgd").optimizer_bytes[1] == 4 * p0
        assert stage_costs(GPT13, A100, 4, optimizer="none").optimizer_bytes[1] == 0
        assert stage_costs(GPT13, A100, 4, optimizer=8).optimizer_bytes[1] == 8 * p0

    def test_describe_is_plain_data(self) -> None:
        d = describe(GPT13, A100, 4, microbatch_size=2, compression=CompressionSpec(rank=256))
        json.dumps(d)
        assert d["layers_per_stage"] == [6, 6, 6, 6]
        assert d["total_params"] == total_params(GPT13)
        st0 = d["stages"][0]
        assert st0["flops"]["B"] == st0["flops"]["I"] + st0["flops"]["W"]
        assert st0["static_bytes"] == st0["param_bytes"] + st0["optimizer_bytes"]
        assert d["compression_ratio"] == 2048 / 256
        assert isinstance(summarize(GPT13, A100, 4).to_costs(), Costs)


class TestRecompute:
    def test_full(self) -> None:
        none, full = summarize(GPT13, A100, 4), summarize(GPT13, A100, 4, recompute="full")
        for a, b in zip(none.stages, full.stages, strict=True):
            assert b.flops.F == a.flops.F and b.flops.W == a.flops.W
            assert b.flops.I - a.flops.I == 6 * LAYER_F  # one extra forward per layer, before I
        # Only the layer input stays: 2·s·b·h per layer; the head's stash is unchanged.
        assert full.stages[0].activation_bytes == 6 * 2 * 2048 * 2048
        assert full.stages[3].activation_bytes == 6 * 2 * 2048 * 2048 + HEAD_ACT
        assert full.weight_keep == 1.0

    def test_selective(self) -> None:
        none, sel = summarize(GPT13, A100, 4), summarize(GPT13, A100, 4, recompute="selective")
        for a, b in zip(none.stages, sel.stages, strict=True):
            assert b.flops.I - a.flops.I == 6 * 4 * 2048**2 * 2048  # attention core: 4·b·s²·h
        assert sel.stages[1].activation_bytes == 6 * 34 * 2048 * 2048
        assert sel.weight_keep == approx(32 / 34)

    def test_ordering(self) -> None:
        runs = {m: stage_costs(GPT13, A100, 4, recompute=m) for m in ("none", "selective", "full")}
        assert runs["none"].activation_bytes[1] > runs["selective"].activation_bytes[1] > runs["full"].activation_bytes[1]
        assert runs["none"].backward[1] < runs["selective"].backward[1] < runs["full"].backward[1]
        assert runs["none"].forward == runs["full"].forward
        assert layer_activation_bytes(GPT13, 1, "bf16", "FULL") == 2 * 2048 * 2048
        assert weight_keep_fraction(GPT13) == approx(32 / 114)


class TestCompression:
    def test_public_reference_point(self) -> None:
        # h = 1024, k = 160 bf16 coordinates + a 2-byte token id: 160·2 + 2 = 322 B per token
        # instead of 1024·2 = 2048 B.
        spec = CompressionSpec(rank=160, side_bytes_per_token=2)
        assert spec.bytes_per_token(1024) == 322
        assert spec.effective_ratio(1024) == pytest.approx(2048 / 322)  # ≈ 6.36
        assert effective_ratio(spec, 1024) == pytest.approx(6.36, abs=0.01)
        m = ModelSpec(layers=24, hidden=1024, heads=16, seq_len=1024, vocab=32000)
        c = stage_costs(m, A100, 4, microbatch_size=2, compression=spec)
        assert c.message_bytes == (2 * 1024 * 322.0,) * 4  # b·s tokens × 322 B
        assert effective_ratio(None, 1024) == 1.0

    def test_bits_ratio_and_tp(self) -> None:
        assert CompressionSpec(rank=160, bits=8, side_bytes_per_token=2).bytes_per_token(1024) == 160 + 2
        assert CompressionSpec(ratio=8).rank_for(4096) == 512
        assert CompressionSpec(ratio=3).rank_for(1024) == 341  # round(1024 / 3)
        # bits default to the dtype's width.
        assert CompressionSpec(rank=100).bytes_per_token(1024, "fp32") == 400
        # tensor parallel scatters the coordinates, not the side data: b·s·(k·2/t + side).
        spec = CompressionSpec(rank=256, side_bytes_per_token=4)
        assert boundary_bytes(GPT13, 1, "bf16", 2, spec) == 2048 * (256 * 2 / 2 + 4)

    def test_projection_flops(self) -> None:
        k = 256
        proj = 2 * 2048 * 2048 * k  # 2·b·s·h·k per encode or decode
        base = summarize(GPT13, A100, 4)
        comp = summarize(GPT13, A100, 4, compression=CompressionSpec(rank=k))
        diffs = [(c.flops.F - a.flops.F, c.flops.I - a.flops.I, c.flops.W - a.flops.W)
                 for a, c in zip(base.stages, comp.stages, strict=True)]
        # Ends cross one boundary (encode or decode), the middle two (decode in, encode out).
        assert diffs == [(proj, proj, 0), (2 * proj, 2 * proj, 0), (2 * proj, 2 * proj, 0), (proj, proj, 0)]
        off = summarize(GPT13, A100, 4, compression=CompressionSpec(rank=k, projection=False))
        assert [x.flops for x in off.stages] == [x.flops for x in base.stages]
        single = summarize(GPT13, A100, 1, compression=CompressionSpec(rank=k))
        assert single.stages[0].flops == summarize(GPT13, A100, 1).stages[0].flops

    def test_errors_name_the_key(self) -> None:
        with pytest.raises(WorkloadError, match=r"^compression\.rank: 5000 exceeds hidden size 4096$"):
            stage_costs(model_preset("7b"), A100, 4, compression=CompressionSpec(rank=5000))
        with pytest.raises(WorkloadError, match="exactly one of rank"):
            CompressionSpec(rank=4, ratio=2.0)
        with pytest.raises(WorkloadError, match="exactly one of rank"):
            CompressionSpec()
        with pytest.raises(WorkloadError, match=r"compression\.rank: 0; must be a whole number >= 1"):
            CompressionSpec(rank=0)
        with pytest.raises(WorkloadError, match=r"compression\.ratio: 0\.5; must be >= 1"):
            CompressionSpec(ratio=0.5)
        with pytest.raises(WorkloadError, match=r"compression\.bits: 0; must be a whole number within 1\.\.32"):
            CompressionSpec(rank=4, bits=0)
        with pytest.raises(WorkloadError, match=r"compression\.side_bytes_per_token: -1"):
            CompressionSpec(rank=4, side_bytes_per_token=-1)
        with pytest.raises(WorkloadError, match=r"compression\.ratio: 5000 exceeds hidden size 4096"):
            CompressionSpec(ratio=5000).rank_for(4096)

    def test_from_dict(self) -> None:
        spec = CompressionSpec.from_dict({"rank": 160, "side_bytes_per_token": "2 B"})
        assert spec == CompressionSpec(rank=160, side_bytes_per_token=2.0)
        with pytest.raises(WorkloadError, match=r"^compression: unknown field 'rnak'; valid: rank, ratio"):
            CompressionSpec.from_dict({"rnak": 160})
        with pytest.raises(WorkloadError, match=r"^stages\[1\]\.compression\.rank: -3"):
            CompressionSpec.from_dict({"rank": -3}, key="stages[1].compression")
        with pytest.raises(WorkloadError, match=r"compression\.side_bytes_per_token: '2 B/s' is a rate"):
            CompressionSpec.from_dict({"rank": 4, "side_bytes_per_token": "2 B/s"})


class TestSplit:
    def test_remainder_goes_to_the_middle(self) -> None:
        assert split_layers(24, 4) == (6, 6, 6, 6)
        assert split_layers(10, 4) == (2, 3, 3, 2)
        assert split_layers(7, 4) == (2, 2, 2, 1)  # ties prefer the earlier stage
        assert split_layers(5, 3) == (2, 2, 1)
        assert split_layers(26, 4) == (6, 7, 7, 6)

    @given(layers=st.integers(1, 200), stages=st.integers(1, 64))
    def test_split_properties(self, layers: int, stages: int) -> None:
        if stages > layers:
            with pytest.raises(WorkloadError):
                split_layers(layers, stages)
            return
        split = split_layers(layers, stages)
        assert sum(split) == layers and len(split) == stages
        assert max(split) - min(split) <= 1 and min(split) >= 1
        # Every stage given an extra layer is at least as close to the middle as any stage without one.
        centre = (stages - 1) / 2
        heavy = [abs(i - centre) for i, n in enumerate(split) if n > layers // stages]
        light = [abs(i - centre) for i, n in enumerate(split) if n == layers // stages]
        assert not heavy or not light or max(heavy) <= min(light)

    def test_explicit_split(self) -> None:
        s = summarize(GPT13, A100, 3, layers_per_stage=[10, 10, 4])
        assert [x.layers for x in s.stages] == [10, 10, 4]
        assert s.stages[2].flops.F == 4 * LAYER_F + HEAD

    def test_split_errors(self) -> None:
        with pytest.raises(WorkloadError, match=r"num_stages: 25 stages but model 'gpt3-1.3b' has only 24 layers"):
            stage_costs(GPT13, A100, 25)
        with pytest.raises(WorkloadError, match=r"layers_per_stage: 3 values given for 4 stages"):
            stage_costs(GPT13, A100, 4, layers_per_stage=[8, 8, 8])
        with pytest.raises(WorkloadError, match=r"layers_per_stage: sums to 20 but model 'gpt3-1.3b' has 24 layers"):
            stage_costs(GPT13, A100, 4, layers_per_stage=[5, 5, 5, 5])
        with pytest.raises(WorkloadError, match=r"layers_per_stage\[1\]: -1; must be a whole number >= 0"):
            stage_costs(GPT13, A100, 2, layers_per_stage=[25, -1])
        with pytest.raises(WorkloadError, match=r"num_stages: 0; need at least 1 stage"):
            stage_costs(GPT13, A100, 0)


class TestPresetsAndErrors:
    def test_gpu_presets(self) -> None:
        assert gpu_preset("a100") is gpu_preset("A100")
        assert gpu_preset("RTX 4090") == gpu_preset("rtx-4090") == gpu_preset("Rtx_4090")
        table = {"a100": (312e12, 80e9), "h100": (989e12, 80e9), "h200": (989e12, 141e9),
                 "b200": (2250e12, 192e9), "rtx4090": (165e12, 24e9), "rtx3090": (71e12, 24e9),
                 "t4": (65e12, 16e9)}
        for name, (peak, mem) in table.items():
            g = gpu_preset(name)
            assert (g.peak_flops, g.memory_bytes, g.efficiency) == (peak, mem, 0.45)

    def test_gpu_overrides(self) -> None:
        g = gpu_preset("a100", memory="40 GiB", peak="250 TFLOP/s", efficiency=0.5, bandwidth="1.5 TB/s")
        assert g.memory_bytes == 40 * 2**30 and g.peak_flops == 250e12
        assert g.efficiency == 0.5 and g.memory_bandwidth == 1.5e12
        assert gpu_preset("h100", peak_flops="1.2 PFLOPS").peak_flops == pytest.approx(1.2e15)
        assert gpu_preset("h100", peak_flops=5e14).peak_flops == 5e14

    def test_gpu_errors(self) -> None:
        with pytest.raises(WorkloadError, match=r"unknown GPU 'v100'; known: a100, h100, h200, b200, rtx4090"):
            gpu_preset("v100")
        with pytest.raises(WorkloadError, match=r"gpu: unknown field 'memroy'; valid: .*memory"):
            gpu_preset("a100", memroy="40 GB")
        with pytest.raises(UnitError, match=r"gpu\.memory_bytes: '40 GB/s' is a rate"):
            gpu_preset("a100", memory="40 GB/s")
        with pytest.raises(UnitError, match=r"gpu\.peak_flops: cannot read 'fast'"):
            gpu_preset("a100", peak="fast")
        with pytest.raises(WorkloadError, match=r"gpu\.efficiency: 1\.5; must be within \(0, 1\]"):
            gpu_preset("a100", efficiency=1.5)
        with pytest.raises(WorkloadError, match=r"gpu\.memory_bytes: 0\.0; must be > 0"):
            gpu_preset("a100", memory=0)

    def test_model_presets(self) -> None:
        assert model_preset("GPT3-1.3B") is GPT13
        assert (GPT13.layers, GPT13.hidden, GPT13.heads, GPT13.seq_len, GPT13.vocab) == (24, 2048, 16, 2048, 50257)
        m70 = model_preset("70b")
        assert (m70.layers, m70.hidden, m70.heads, m70.vocab) == (80, 8192, 64, 32000)
        assert model_preset("llama-7b") is model_preset("7b")
        for name, billions in [("gpt3-1.3b", 1.3), ("gpt3-2.7b", 2.7), ("7b", 6.7), ("13b", 12.9), ("70b", 65.0)]:
            assert total_params(model_preset(name)) / 1e9 == pytest.approx(billions, abs=0.06)

    def test_model_and_option_errors(self) -> None:
        with pytest.raises(WorkloadError, match=r"unknown model 'gpt5'; known: gpt3-1.3b, gpt3-2.7b, 7b, 13b, 70b"):
            model_preset("gpt5")
        with pytest.raises(WorkloadError, match=r"model\.heads: 3 does not divide hidden size 1024"):
            ModelSpec(layers=2, hidden=1024, heads=3, seq_len=8, vocab=10)
        with pytest.raises(WorkloadError, match=r"model\.layers: 0; must be a whole number >= 1"):
            ModelSpec(layers=0, hidden=1024, heads=4, seq_len=8, vocab=10)
        with pytest.raises(WorkloadError, match=r"dtype: unknown dtype 'int4'; valid: bf16, fp16, fp32, fp8"):
            stage_costs(GPT13, A100, 4, dtype="int4")
        with pytest.raises(WorkloadError, match=r"recompute: unknown mode 'some'; valid: none, full, selective"):
            stage_costs(GPT13, A100, 4, recompute="some")
        with pytest.raises(WorkloadError, match=r"optimizer: unknown 'lion'; valid: adam, adamw, sgd, none"):
            stage_costs(GPT13, A100, 4, optimizer="lion")
        with pytest.raises(WorkloadError, match=r"optimizer: -1; bytes of state"):
            stage_costs(GPT13, A100, 4, optimizer=-1)
        with pytest.raises(WorkloadError, match=r"tensor_parallel: 3 does not divide the model's 16 attention heads"):
            stage_costs(GPT13, A100, 4, tensor_parallel=3)
        with pytest.raises(WorkloadError, match=r"tensor_parallel: 0; must be a whole number >= 1"):
            stage_costs(GPT13, A100, 4, tensor_parallel=0)
        with pytest.raises(WorkloadError, match=r"microbatch_size: 0; must be a whole number >= 1"):
            stage_costs(GPT13, A100, 4, microbatch_size=0)

    def test_workload_error_is_a_value_error(self) -> None:
        assert issubclass(WorkloadError, ValueError)
