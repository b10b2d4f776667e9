"""Per-op roofline cost model of one transformer layer and of the LM head.

A layer is a list of ops (norms, the QKV/projection/MLP matmuls, rotary embedding, the
attention core, activations, residual adds). Each op's GPU time is

    max(FLOPs / rate(op), bytes / (bandwidth · memory efficiency)) + kernels · gap

where ``rate`` is, for matmuls, the GPU's fitted GEMM curve ``FLOPs / (e · peak) + t0`` per
matmul (a fixed per-GEMM overhead: wave quantisation and tails; ``e`` drops to the GPU's
unaligned-GEMM fraction when a dimension is not a whole number of 16-byte vectors), and for
the fused attention kernels a fraction of peak. A pass (F, I or W) takes

    max(sum of its ops' GPU times, kernels issued · host time per kernel)

because an eager framework issues kernels from one host thread: in a stack of layers the host
runs ahead while kernels are long, and the GPU waits for it when they are short (small layers
at microbatch 1). Forward (F), input gradient (I) and weight gradient (W) are three op lists
built from the same layer description, so B = I + W is not forced to be 2F.

Stored activations are counted tensor by tensor from what autograd keeps in a PyTorch block:
flash attention (``scaled_dot_product_attention``) keeps q, k, v, its output and a
log-sum-exp, eager attention additionally the s×s softmax. docs/workload.md lists every op and
every stored tensor, and how the model compares with the committed measurements.
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
    """One kernel (or a few fused ones): ``kind`` picks how FLOPs turn into time. A matmul
    with ``aligned=False`` has a dimension that is not a whole number of 16-byte vectors."""

    name: str
    kind: Literal["matmul", "attention_fwd", "attention_bwd", "memory"]
    flops: float = 0.0
    bytes: float = 0.0
    kernels: int = 1
    aligned: bool = True

    def seconds(self, gpu: GPUSpec, dtype: str) -> float:
        """GPU time of the op (host issue time is accounted per pass, see ``pass_time``)."""
        peak = gpu.flops_for(dtype)
        compute = 0.0
        if self.kind == "matmul" and self.flops:
            eff = gpu.matmul_efficiency if self.aligned else gpu.unaligned_matmul_efficiency
            compute = self.flops / (eff * peak) + self.kernels * gpu.matmul_overhead_s
        elif self.kind == "attention_fwd":
            compute = self.flops / (gpu.attention_efficiency[0] * peak)
        elif self.kind == "attention_bwd":
            compute = self.flops / (gpu.attention_efficiency[1] * peak)
        memory = self.bytes / (gpu.bandwidth() * gpu.memory_efficiency)
        return max(compute, memory) + self.kernels * gpu.kernel_gap_s


def pass_time(ops: list[Op], gpu: GPUSpec, dtype: str) -> float:
    """One pass: its kernels' GPU time, or the host's time to issue them if that is longer.

    The sum (not a per-op maximum) because the host issues asynchronously: while kernels are
    longer than their issue time it runs ahead and the GPU never waits; when they are
    shorter, the GPU drains the queue and then runs at the host's pace.
    """
    gpu_s = sum(op.seconds(gpu, dtype) for op in ops)
    host_s = sum(op.kernels for op in ops) * gpu.host_op_s
    return max(gpu_s, host_s)


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
    dropout: bool = False  # dropout on the attention probabilities and both residual branches

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
    # Hopper's tensor-memory accelerator and the 128-bit vector loads of earlier GPUs need
    # every row of A, B and C to start on a 16-byte boundary; a dimension that is not a
    # multiple of 16 / d elements forces cuBLAS onto slower kernels (docs/workload.md).
    aligned = all((dim * d) % 16 == 0 for dim in (m, n, k))
    return Op(name, "matmul", 2.0 * m * n * k, float(d * (m * k + k * n + m * n)), aligned=aligned)


def _pass(name: str, elements: float, passes: float, d: float, kernels: int = 1) -> Op:
    """A memory-bound op touching ``elements`` values ``passes`` times (reads + writes)."""
    return Op(name, "memory", 0.0, elements * passes * d, kernels)


def layer_ops(x: LayerShape, phase: Phase) -> list[Op]:
    """The ops of one layer's forward (F), input-gradient (I) or weight-gradient (W) pass."""
    t, d, s, b = x.tokens, x.d, x.s, x.b
    bsh = t * x.h
    if phase == "W":  # only the weight-gradient GEMMs: dW = dYᵀX per linear layer
        return [_matmul(f"{n}.dW", o, i, t, d) for n, i, o in x.linears()]
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
        if x.kv_heads != x.heads:
            ops.append(_pass("kv.repeat", 2 * bsh, 2 * grow, d, kernels=2))
        ops.append(_pass("q.scale", bsh, 2 * grow, d))
        for i in range(4 if bwd else 2):
            ops.append(Op(f"attention.mm{i}", "matmul", full / 2, d * (scores + 2 * bsh)))
        ops.append(_pass("mask", scores, 2 * grow, d))
        # softmax reads its input for the maximum, the sum and the result, and writes once;
        # its backward reads y and dy and writes dx.
        ops.append(_pass("softmax", scores, 3 if bwd else 4, d))
        if x.dropout:  # on the probabilities: writes them and a one-byte mask; the backward
            # reads the gradient and the mask and writes one
            ops.append(_pass("attention.dropout", scores, 2 + 1 / d, d))
        ops.append(_pass("o.transpose", bsh, 2, d))
    lin("proj", x.h, x.h)
    if x.dropout:  # on each residual branch, as attention's
        ops.append(_pass("dropout1", bsh, 2 + 1 / d, d))
    ops.append(_pass("residual1", bsh, 3, d))  # forward: x + attention; backward: the two grads summed
    ops.append(_pass("norm2", bsh, 2 * grow, d))
    lin("fc1", x.h, x.fc1_width)
    if x.mlp == "gelu":
        ops.append(_pass("gelu", t * x.ffn, 2 * grow, d))
    else:  # silu(gate) then · up; the backward of both plus the gradient concatenation
        ops.append(_pass("swiglu", t * x.ffn, (7 if bwd else 5), d, kernels=3 if bwd else 2))
    lin("fc2", x.ffn, x.h)
    if x.dropout:
        ops.append(_pass("dropout2", bsh, 2 + 1 / d, d))
    ops.append(_pass("residual2", bsh, 3, d))
    if bwd:
        # The parameter gradients that are not GEMMs stay in the backward pass when W is
        # deferred (Zero Bubble's implementation defers only the weight GEMMs): the norms'
        # scale (and LayerNorm's shift) gradients, Σ dY·x̂ over the tokens, and with biases
        # db = Σ dY.
        ops += [_pass(f"{n}.dweight", bsh, 2, d) for n in ("norm1", "norm2")]
        if x.mlp == "gelu":
            ops += [_pass(f"{n}.db", t * o, 1, d) for n, _, o in x.linears()]
    return [op for op in ops if op.kernels]


def layer_time(x: LayerShape, gpu: GPUSpec, phase: Phase) -> float:
    return pass_time(layer_ops(x, phase), gpu, x.dtype)


def layer_stash_bytes(x: LayerShape) -> float:
    """Bytes autograd keeps between one layer's forward and backward (its output included,
    its input not: the input is the previous layer's output, counted there).

    Both attentions: norm1 output, the QKV output (q, k, v are views of it), the attention
    output, the first residual sum, norm2 output, the MLP's saved tensors (GELU: fc1 output and
    the GELU output; SwiGLU: fc1's fused gate|up output, silu(gate) and the product) and the
    layer output; rotary adds the rotated q and k; norms keep fp32 statistics and flash
    attention an fp32 log-sum-exp per query. Eager attention adds the s×s softmax output in the
    training dtype (and, with grouped KV heads, the K and V repeated to every query head).
    Dropout keeps a one-byte mask per residual branch element and, with eager attention, the
    mask and the dropped-out probabilities (flash kernels regenerate the mask from the seed):
    for a GPT layer with eager attention that is Korthikanti et al.'s 34·s·b·h + 5·a·s²·b
    plus the norms' fp32 statistics.
    """
    t, d = x.tokens, x.d
    mlp = 2 * x.ffn if x.mlp == "gelu" else 4 * x.ffn
    widths = x.h + x.qkv_width + x.h + x.h + x.h + mlp + x.h
    if x.rotary:
        widths += x.h + x.kv_width
    stats = 4.0 * t * 2 * (2 if x.mlp == "gelu" else 1)  # mean and rstd (LayerNorm) or rstd
    stash = d * t * widths + stats + (2.0 * t * x.h if x.dropout else 0.0)
    if x.attention == "flash":
        return stash + 4.0 * x.b * x.heads * x.s
    extra = scores_stash_bytes(x)
    if x.kv_heads != x.heads:
        extra += 2 * d * t * (x.h - x.kv_width)
    return stash + extra


def scores_stash_bytes(x: LayerShape) -> float:
    """The s × s tensors eager attention keeps: the softmax output in the training dtype, and
    with dropout its mask (one byte) and the dropped-out probabilities. Flash keeps none."""
    if x.attention == "flash":
        return 0.0
    return (x.d + (1 + x.d if x.dropout else 0)) * x.b * x.heads * x.s * x.s


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
    return pass_time(head_ops(b, s, h, vocab, dtype, phase), gpu, dtype)


def head_stash_bytes(b: int, s: int, h: int, vocab: int, dtype: str) -> float:
    """The fp32 log-softmax (4 bytes per logit) and the LM head's input (the norm output);
    the bf16 logits and their fp32 copy are not kept."""
    return 4.0 * b * s * vocab + dtype_bytes(dtype) * b * s * h
