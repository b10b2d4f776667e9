"""One layer's and the LM head's times and stored bytes, from either cost model.

``closed-form`` is FLOPs / (peak · efficiency) with the Korthikanti activation formula (the
paper reproductions use it); ``roofline`` is the per-op model of ``pipesim.workload.roofline``.
A measured profile (``pipesim.workload.profile``) replaces either where it has data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipesim.workload.hardware import GPUSpec, dtype_bytes
from pipesim.workload.roofline import (
    LayerShape,
    PieceCost,
    head_stash_bytes,
    head_time,
    layer_stash_bytes,
    layer_time,
    linear_input_bytes,
    scores_stash_bytes,
)
from pipesim.workload.transformer import (
    ModelSpec,
    check_recompute,
    head_activation_bytes,
    head_flops,
    layer_activation_bytes,
    layer_flops,
    recompute_flops,
    weight_keep_fraction,
)

if TYPE_CHECKING:
    from pipesim.workload.profile import Profile


def layer_shape(model: ModelSpec, microbatch_size: int, dtype: str = "bf16") -> LayerShape:
    return LayerShape(b=microbatch_size, s=model.seq_len, h=model.hidden, heads=model.heads,
                      kv_heads=model.kv_groups, ffn=model.ffn, mlp=model.mlp, attention=model.attention,
                      dtype=dtype.lower(), rotary=not model.learned_positions, dropout=model.dropout > 0)


def layer_cost(model: ModelSpec, gpu: GPUSpec, microbatch_size: int = 1, dtype: str = "bf16",
               recompute: str = "none", profile: Profile | None = None) -> PieceCost:
    """One transformer layer, one microbatch, on one GPU (no tensor parallelism)."""
    mode = check_recompute(recompute)
    if profile is not None:
        hit = profile.layer(model, gpu, microbatch_size, dtype)
        if hit is not None:
            return _recompute(hit, mode, model, microbatch_size, dtype)
    if model.cost_model == "closed-form":
        rate = gpu.achieved_flops(dtype)
        f = layer_flops(model, microbatch_size)
        extra = recompute_flops(model, microbatch_size, mode)
        return PieceCost(f.F / rate, (f.I + extra) / rate, f.W / rate,
                         layer_activation_bytes(model, microbatch_size, dtype, mode),
                         weight_keep_fraction(model, dtype, mode), "closed-form")
    x = layer_shape(model, microbatch_size, dtype)
    hit = PieceCost(layer_time(x, gpu, "F"), layer_time(x, gpu, "I"), layer_time(x, gpu, "W"),
                    layer_stash_bytes(x), linear_input_bytes(x) / layer_stash_bytes(x), "roofline")
    return _recompute(hit, mode, model, microbatch_size, dtype)


def _recompute(cost: PieceCost, mode: str, model: ModelSpec, b: int, dtype: str) -> PieceCost:
    """Recomputation on top of a roofline or measured layer: ``full`` keeps only the layer
    input and runs the forward again before I; ``selective`` drops the s×s tensors that eager
    attention keeps (softmax output, and with dropout its mask and output) and runs the
    attention core again, costed as the forward's attention share of FLOPs,
    4bs²h / (24bsh² + 4bs²h), of the forward time. Flash attention keeps nothing s×s, so there
    selective equals none."""
    if mode == "none":
        return cost
    if mode == "full":
        return PieceCost(cost.forward_s, cost.input_grad_s + cost.forward_s, cost.weight_grad_s,
                         dtype_bytes(dtype) * b * model.seq_len * model.hidden, 1.0, cost.source)
    if model.attention == "flash":
        return cost
    s, h = model.seq_len, model.hidden
    share = 4 * s / (24 * h + 4 * s)
    scores = scores_stash_bytes(layer_shape(model, b, dtype))
    act = max(cost.activation_bytes - scores, 0.0)
    keep = min(1.0, cost.weight_keep * cost.activation_bytes / act) if act else 1.0
    return PieceCost(cost.forward_s, cost.input_grad_s + share * cost.forward_s, cost.weight_grad_s,
                     act, keep, cost.source)


def head_cost(model: ModelSpec, gpu: GPUSpec, microbatch_size: int = 1, dtype: str = "bf16",
              profile: Profile | None = None) -> PieceCost:
    """The final norm, LM head and loss for one microbatch on one GPU."""
    if profile is not None:
        hit = profile.head(model, gpu, microbatch_size, dtype)
        if hit is not None:
            return hit
    b, s, h, v = microbatch_size, model.seq_len, model.hidden, model.vocab
    if model.cost_model == "closed-form":
        rate = gpu.achieved_flops(dtype)
        f = head_flops(model, b)
        return PieceCost(f.F / rate, f.I / rate, f.W / rate, head_activation_bytes(model, b, dtype), 1.0,
                         "closed-form")
    dtype = dtype.lower()
    return PieceCost(head_time(b, s, h, v, dtype, gpu, "F"), head_time(b, s, h, v, dtype, gpu, "I"),
                     head_time(b, s, h, v, dtype, gpu, "W"), head_stash_bytes(b, s, h, v, dtype), 1.0,
                     "roofline")
