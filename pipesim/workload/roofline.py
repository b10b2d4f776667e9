"""Per-op roofline cost model of one transformer layer and of the LM head.

A layer is a list of ops (norms, the QKV/projection/MLP matmuls, rotary embedding, the
attention core, activations, residual adds). Each op is costed as

    time = max(FLOPs / rate(op), bytes / (bandwidth · memory efficiency)) + kernels · gap

and never less than ``kernels · launch`` (the host cannot issue kernels faster than that).
``rate`` is, for matmuls, the GPU's fitted GEMM curve ``FLOPs / (e_max · peak) + t0`` per
matmul (a fixed per-GEMM overhead: wave quantisation and tails), and for the fused attention
kernels a fraction of peak. Forward (F), input gradient (I) and weight gradient (W) are three
op lists built from the same layer description, so B = I + W is not forced to be 2F.

Stored activations are counted tensor by tensor from what autograd keeps in a PyTorch block
(no dropout): flash attention (``scaled_dot_product_attention``) keeps q, k, v, its output and a
log-sum-exp, eager attention additionally the s×s softmax. docs/workload.md lists every op and
every stored tensor, and how the model compares with the committed H200 measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipesim.workload.hardware import GPUSpec, WorkloadError, dtype_bytes

Phase = Literal["F", "I", "W"]
ATTENTIONS: tuple[str, ...] = ("flash", "eager")
MLPS: tuple[str, ...] = ("gelu", "swiglu")


@dataclass(frozen=True)
class PieceCost:
    """One layer (or the head) for one microbatch on one GPU: seconds of F, I (including any
    recomputation) and W, the bytes stashed from F to the backward, and the share of them W
    still needs after I. ``source`` says which model (or profile) produced the numbers."""

    forward_s: float
    input_grad_s: float
    weight_grad_s: float
    activation_bytes: float
    weight_keep: float
    source: str

    @property
    def backward_s(self) -> float:
        return self.input_grad_s + self.weight_grad_s

    def as_dict(self) -> dict[str, Any]:
        return {"forward_s": self.forward_s, "backward_s": self.backward_s,
                "input_grad_s": self.input_grad_s, "weight_grad_s": self.weight_grad_s,
                "activation_bytes": self.activation_bytes, "weight_keep": self.weight_keep,
                "source": self.source}


@dataclass(frozen=True)
class Op:
    """One kernel (or a few fused ones): ``kind`` picks how FLOPs turn into time."""

    name: str
    kind: Literal["matmul", "attention_fwd", "attention_bwd", "memory"]
    flops: float = 0.0
    bytes: float = 0.0
    kernels: int = 1

    def seconds(self, gpu: GPUSpec, dtype: str) -> float:
        peak = gpu.flops_for(dtype)
        compute = 0.0
        if self.kind == "matmul" and self.flops:
            compute = self.flops / (gpu.matmul_efficiency * peak) + self.kernels * gpu.matmul_overhead_s
        elif self.kind == "attention_fwd":
            compute = self.flops / (gpu.attention_efficiency[0] * peak)
        elif self.kind == "attention_bwd":
            compute = self.flops / (gpu.attention_efficiency[1] * peak)
        memory = self.bytes / (gpu.bandwidth() * gpu.memory_efficiency)
        busy = max(compute, memory) + self.kernels * gpu.kernel_gap_s
        return max(busy, self.kernels * gpu.launch_s)


@dataclass(frozen=True)
class LayerShape:
    """What the op list needs: b sequences of s tokens, hidden h, a query heads sharing
    ``kv_heads`` key/value heads, MLP of width ``ffn``; ``llama`` selects RMSNorm, rotary
    positions and no biases (GPT: LayerNorm, learned positions, biases)."""

    b: int
    s: int
    h: int
    heads: int
    kv_heads: int
    ffn: int
    mlp: str
    attention: str
    dtype: str = "bf16"
    rotary: bool = False

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise WorkloadError(f"model.attention: {self.attention!r}; valid: {', '.join(ATTENTIONS)}")
        if self.mlp not in MLPS:
            raise WorkloadError(f"model.mlp: {self.mlp!r}; valid: {', '.join(MLPS)}")
        if self.heads % self.kv_heads:
            raise WorkloadError(f"model.kv_heads: {self.kv_heads} does not divide the {self.heads} attention heads")

    @property
    def d(self) -> int:
        return dtype_bytes(self.dtype)

    @property
    def tokens(self) -> int:
        return self.b * self.s

    @property
    def kv_width(self) -> int:
        return self.kv_heads * (self.h // self.heads)

    @property
    def qkv_width(self) -> int:
        return self.h + 2 * self.kv_width

    @property
    def fc1_width(self) -> int:
        """SwiGLU's gate and up projections are one fused matrix (h → 2·ffn)."""
        return 2 * self.ffn if self.mlp == "swiglu" else self.ffn

    def linears(self) -> list[tuple[str, int, int]]:
        """(name, input width, output width) of every weight matrix, in forward order."""
        return [("qkv", self.h, self.qkv_width), ("proj", self.h, self.h),
                ("fc1", self.h, self.fc1_width), ("fc2", self.ffn, self.h)]


def _matmul(name: str, m: int, n: int, k: int, d: int) -> Op:
    return Op(name, "matmul", 2.0 * m * n * k, float(d * (m * k + k * n + m * n)))


def _pass(name: str, elements: float, passes: float, d: float, kernels: int = 1) -> Op:
    """A memory-bound op touching ``elements`` values ``passes`` times (reads + writes)."""
    return Op(name, "memory", 0.0, elements * passes * d, kernels)


def layer_ops(x: LayerShape, phase: Phase) -> list[Op]:
    """The ops of one layer's forward (F), input-gradient (I) or weight-gradient (W) pass."""
    if phase == "W":
        w_ops = [_matmul(f"{n}.dW", o, i, x.tokens, x.d) for n, i, o in x.linears()]
        if x.mlp == "gelu":  # GPT biases: db = Σ dY
            w_ops += [_pass(f"{n}.db", x.tokens * o, 1, x.d) for n, _, o in x.linears()]
        return w_ops
    t, d, s, b = x.tokens, x.d, x.s, x.b
    bsh = t * x.h
    scores = b * x.heads * s * s
    bwd = phase == "I"
    # Element-wise ops read and write their tensors; a backward reads the saved input and the
    # incoming gradient and writes one gradient, so roughly 1.5× the forward's traffic.
    grow = 1.5 if bwd else 1.0
    ops: list[Op] = []

    def lin(name: str, k_in: int, n_out: int) -> None:
        ops.append(_matmul(f"{name}.dX", t, k_in, n_out, d) if bwd else _matmul(name, t, n_out, k_in, d))

    ops.append(_pass("norm1", bsh, 2 * grow, d))
    lin("qkv", x.h, x.qkv_width)
    if x.rotary:  # q·cos + rotate_half(q)·sin, same for k: five element-wise kernels each
        ops.append(_pass("rotary", t * (x.h + x.kv_width), 10 * grow, d, kernels=10))
    attn_flops = 2.0 * b * s * s * x.h  # QKᵀ and PV over the causal half of s × s
    if x.attention == "flash":
        if bwd:  # recompute S and P, then dV, dP, dQ, dK: 2.5× the forward's matmuls
            # Around the kernel: rowsum(dO·O) reads dO and O; dQ is accumulated in fp32
            # (zero fill, then read and written back in the training dtype).
            ops.append(_pass("attention.dot_do_o", 2 * bsh, 1, d))
            ops.append(Op("attention.bwd", "attention_bwd", 2.5 * attn_flops, 0.0, 1))
            ops.append(_pass("attention.dq_fp32", bsh, 2, 4 + d / 2, kernels=2))
            ops.append(_pass("qkv.grad_cat", t * x.qkv_width, 2, d))
        else:
            ops.append(Op("attention.fwd", "attention_fwd", attn_flops, 0.0, 1))
    else:
        full = 2.0 * attn_flops  # eager kernels compute the whole s × s
        gqa = x.kv_heads != x.heads
        ops.append(_pass("q.scale", bsh, 2 * grow, d))
        if gqa:
            ops.append(_pass("kv.repeat", 2 * bsh, 2 * grow, d, kernels=2))
        n_mm = 4 if bwd else 2
        for i in range(n_mm):
            ops.append(Op(f"attention.mm{i}", "matmul", full / 2, d * (scores + 2 * bsh)))
        ops.append(_pass("mask", scores, 2 * grow, d))
        # softmax reads its input for the maximum, the sum and the result, and writes once;
        # its backward reads y and dy and writes dx.
        ops.append(_pass("softmax", scores, 3 if bwd else 4, d))
        ops.append(_pass("o.transpose", bsh, 2, d))
    lin("proj", x.h, x.h)
    ops.append(_pass("residual1", bsh, 3, d))  # forward: x + attention; backward: the two grads summed
    ops.append(_pass("norm2", bsh, 2 * grow, d))
    lin("fc1", x.h, x.fc1_width)
    if x.mlp == "gelu":
        ops.append(_pass("gelu", t * x.ffn, 2 * grow, d))
    else:  # silu(gate) then · up; the backward of both plus the gradient concatenation
        ops.append(_pass("swiglu", t * x.ffn, (7 if bwd else 5), d, kernels=3 if bwd else 2))
    lin("fc2", x.ffn, x.h)
    ops.append(_pass("residual2", bsh, 3, d))
    return [op for op in ops if op.kernels]


def layer_time(x: LayerShape, gpu: GPUSpec, phase: Phase) -> float:
    return sum(op.seconds(gpu, x.dtype) for op in layer_ops(x, phase))


def layer_stash_bytes(x: LayerShape) -> float:
    """Bytes autograd keeps between one layer's forward and backward (its output included,
    its input not: the input is the previous layer's output, counted there).

    Both attentions: norm1 output, the QKV output (q, k, v are views of it), the attention
    output, the first residual sum, norm2 output, the MLP's saved tensors (GELU: fc1 output and
    the GELU output; SwiGLU: fc1's fused gate|up output, silu(gate) and the product) and the
    layer output; rotary adds the rotated q and k; norms keep fp32 statistics and flash
    attention an fp32 log-sum-exp per query. Eager attention adds the s×s softmax output in the
    training dtype (and, with grouped KV heads, the K and V repeated to every query head).
    """
    t, d = x.tokens, x.d
    mlp = 2 * x.ffn if x.mlp == "gelu" else 4 * x.ffn
    widths = x.h + x.qkv_width + x.h + x.h + x.h + mlp + x.h
    if x.rotary:
        widths += x.h + x.kv_width
    stats = 4.0 * t * 2 * (2 if x.mlp == "gelu" else 1)  # mean and rstd (LayerNorm) or rstd
    stash = d * t * widths + stats
    if x.attention == "flash":
        return stash + 4.0 * x.b * x.heads * x.s
    extra = d * x.b * x.heads * x.s * x.s
    if x.kv_heads != x.heads:
        extra += 2 * d * t * (x.h - x.kv_width)
    return stash + extra


def linear_input_bytes(x: LayerShape) -> float:
    """What a deferred W still needs: the inputs of the four linear layers."""
    return x.d * x.tokens * (3 * x.h + x.ffn)


def head_ops(b: int, s: int, h: int, vocab: int, dtype: str, phase: Phase) -> list[Op]:
    """Final norm, LM head (h → V, no bias), logits cast to fp32 and cross-entropy."""
    d, t = dtype_bytes(dtype), b * s
    logits = t * vocab
    if phase == "W":
        return [_matmul("lm.dW", vocab, h, t, d)]
    if phase == "F":
        return [_pass("norm", t * h, 2, d), _matmul("lm", t, vocab, h, d),
                _pass("to_fp32", logits, 1, d + 4), _pass("log_softmax", logits, 2, 4),
                _pass("nll", t, 1, 4)]
    # nll backward writes a dense fp32 gradient (zero fill + scatter), log_softmax backward
    # reads it and the saved output and writes one, the cast back to the dtype reads and writes.
    return [_pass("nll.bwd", logits, 1, 4, kernels=2), _pass("log_softmax.bwd", logits, 3, 4),
            _pass("to_dtype", logits, 1, d + 4), _matmul("lm.dX", t, h, vocab, d),
            _pass("norm.bwd", t * h, 3, d)]


def head_time(b: int, s: int, h: int, vocab: int, dtype: str, gpu: GPUSpec, phase: Phase) -> float:
    return sum(op.seconds(gpu, dtype) for op in head_ops(b, s, h, vocab, dtype, phase))


def head_stash_bytes(b: int, s: int, h: int, vocab: int, dtype: str) -> float:
    """The fp32 log-softmax (4 bytes per logit) and the LM head's input (the norm output);
    the bf16 logits and their fp32 copy are not kept."""
    return 4.0 * b * s * vocab + dtype_bytes(dtype) * b * s * h
