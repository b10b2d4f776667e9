"""Measure one transformer block, the LM head and a few roofline micro-benchmarks on one GPU.

Standalone (torch and the standard library only; pipesim is not imported) so that it runs on a
bare GPU machine. The shapes follow pipesim's model presets (pipesim/workload/transformer.py):

    gpt3-1.3b  24 layers, h=2048, 16 heads, s=2048, V=50257, LayerNorm, GELU MLP 4h, biases
    gpt3-2.7b  32 layers, h=2560, 32 heads, s=2048, V=50257, same style
    7b         32 layers, h=4096, 32 heads, s=4096, V=32000, RMSNorm, SwiGLU 11008, rotary
    13b        40 layers, h=5120, 40 heads, s=4096, V=32000, RMSNorm, SwiGLU 13824, rotary
    70b        80 layers, h=8192, 64 heads (8 KV heads, GQA), s=4096, V=32000, SwiGLU 28672

For each preset, microbatch size b in {1, 2, 4} and attention in {flash, eager} it records, for
one pre-norm block (norm -> attention -> residual, norm -> MLP -> residual), all in the run's
dtype (bf16 on CUDA; parameters built in that dtype, no autocast, no dropout):

* ``forward_s``: the forward with the autograd graph kept (a training forward);
* ``backward_s``: ``torch.autograd.grad(out, [x] + params, dy)``, i.e. I + W in one pass;
* ``input_grad_s``: ``torch.autograd.grad(out, [x], dy)`` with the parameters still requiring
  grad; autograd then skips the weight-gradient matmuls (I alone);
* ``weight_grad_s``: the deferred weight-gradient pass done by hand, as a split-backward
  schedule runs it: for every linear layer ``dW = dY^T X`` (and ``db = sum dY`` where there is
  a bias), from the ``dY`` captured during an I pass and the ``X`` saved by the forward. The
  norms' scale/shift gradients (element-wise, O(b s h)) are not in it;
* ``weight_grad_by_difference_s``: ``backward_s - input_grad_s`` (medians);
* memory from the caching allocator, after a warm-up step (so cuBLAS workspaces exist already):
  ``activation_bytes_incl_output`` = ``memory_allocated`` after the forward minus before it, with
  the input ``x`` and ``dy`` allocated before (so excluded) and the block's output still alive
  (so included); ``activation_bytes_excl_output`` subtracts the output's bytes;
  ``saved_tensor_bytes`` counts the distinct storages autograd saved (parameters and the input
  excluded); ``linear_input_bytes`` the distinct storages of the linear layers' inputs (what a
  deferred W still needs); ``forward_peak_bytes``/``backward_peak_bytes``/``input_grad_peak_bytes``
  are ``max_memory_allocated`` during that pass minus ``memory_allocated`` just before it.

The head (final norm, LM head matmul h -> V, logits ``.float()``, ``F.cross_entropy``) is measured
the same way at the preset's vocabulary, and for the GPT presets also at V padded to 50304.

Micro-benchmarks: bf16 GEMM TFLOP/s over a grid of shapes, copy/add/sum bandwidth and the launch
floor of a one-element kernel.

Timing: CUDA events around the timed region, ``torch.cuda.synchronize()`` before and after each
sample, warm-up iterations first; every sample is kept and the median reported. On the CPU
(``--device cpu``) ``time.perf_counter`` is used and allocator figures are null; the CPU path only
checks that the code runs.

Usage:
    python benchmarks/gpu/measure_layers.py --out h200_raw.json
    python benchmarks/gpu/measure_layers.py --device cpu --quick --out /dev/null
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------
# Model shapes


@dataclass(frozen=True)
class Shape:
    name: str
    hidden: int
    heads: int
    kv_heads: int
    seq_len: int
    vocab: int
    ffn_hidden: int
    style: str  # "gpt": LayerNorm, GELU MLP, biases, learned positions; "llama": RMSNorm, SwiGLU, rotary
    layers: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


PRESETS: dict[str, Shape] = {
    "gpt3-1.3b": Shape("gpt3-1.3b", 2048, 16, 16, 2048, 50257, 4 * 2048, "gpt", 24),
    "gpt3-2.7b": Shape("gpt3-2.7b", 2560, 32, 32, 2048, 50257, 4 * 2560, "gpt", 32),
    "7b": Shape("7b", 4096, 32, 32, 4096, 32000, 11008, "llama", 32),
    "13b": Shape("13b", 5120, 40, 40, 4096, 32000, 13824, "llama", 40),
    "70b": Shape("70b", 8192, 64, 8, 4096, 32000, 28672, "llama", 80),
}
PADDED_GPT_VOCAB = 50304  # 50257 rounded up to a multiple of 128


def quick_shape(shape: Shape) -> Shape:
    """Tiny stand-in with the same style (and GQA where the preset has it) for smoke tests."""
    heads = 4
    kv = 2 if shape.kv_heads != shape.heads else heads
    ffn = 4 * 64 if shape.style == "gpt" else 172
    return replace(shape, hidden=64, heads=heads, kv_heads=kv, seq_len=64, vocab=500, ffn_hidden=ffn)


def layer_matmul_flops(shape: Shape, b: int) -> dict[str, float]:
    """Forward matmul FLOPs of one block (2 per multiply-add), and the I/W split.

    qkv 2bsh(h + 2 kv hd); attention QK^T and PV 2 * 2 b s^2 a hd = 4bs^2h (full s x s, no causal
    halving, as pipesim's formula counts it); output projection 2bsh^2; MLP 2bsh*4h*2 = 16bsh^2
    (GELU) or 3 * 2bsh*ffn (SwiGLU: gate, up, down). For GPT shapes the total is 24bsh^2 + 4bs^2h.
    I = linear + 2 * attention (the attention core has no weights), W = linear.
    """
    s, h, hd = shape.seq_len, shape.hidden, shape.head_dim
    qkv = 2 * b * s * h * (h + 2 * shape.kv_heads * hd)
    proj = 2 * b * s * h * h
    mlp = (2 if shape.style == "gpt" else 3) * 2 * b * s * h * shape.ffn_hidden
    attn = 4 * b * s * s * h
    linear = qkv + proj + mlp
    return {
        "forward_flops": float(linear + attn),
        "forward_linear_flops": float(linear),
        "forward_attention_flops": float(attn),
        "input_grad_flops": float(linear + 2 * attn),
        "weight_grad_flops": float(linear),
        "megatron_forward_flops": float(24 * b * s * h * h + 4 * b * s * s * h),
    }


# --------------------------------------------------------------------------------------------
# Modules


class Block(nn.Module):
    """Pre-norm decoder block. ``capture`` (a list) makes the linears record their inputs and,
    with ``capture_grads``, their output gradients through tensor hooks (for the hand-made
    deferred W pass; the hooks keep those gradients alive, so memory is measured without them)."""

    def __init__(self, shape: Shape, attention: str, device: torch.device, dtype: torch.dtype):
        super().__init__()
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        h, hd = shape.hidden, shape.head_dim
        gpt = shape.style == "gpt"
        self.shape, self.attention, self.gpt = shape, attention, gpt
        norm: Callable[[], nn.Module] = (
            (lambda: nn.LayerNorm(h, eps=1e-5, **kw)) if gpt else (lambda: nn.RMSNorm(h, eps=1e-5, **kw))
        )
        self.norm1, self.norm2 = norm(), norm()
        self.qkv = nn.Linear(h, (shape.heads + 2 * shape.kv_heads) * hd, bias=gpt, **kw)
        self.proj = nn.Linear(h, h, bias=gpt, **kw)
        if gpt:
            self.fc1 = nn.Linear(h, shape.ffn_hidden, bias=True, **kw)
        else:  # gate and up projections fused into one matrix (Megatron's layout)
            self.fc1 = nn.Linear(h, 2 * shape.ffn_hidden, bias=False, **kw)
        self.fc2 = nn.Linear(shape.ffn_hidden, h, bias=gpt, **kw)
        s = shape.seq_len
        if not gpt:
            inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd))
            ang = torch.outer(torch.arange(s, device=device, dtype=torch.float32), inv)
            ang = torch.cat([ang, ang], dim=-1)[:, None, :]  # (s, 1, hd)
            self.register_buffer("cos", ang.cos().to(dtype), persistent=False)
            self.register_buffer("sin", ang.sin().to(dtype), persistent=False)
        if attention == "eager":
            mask = torch.ones(s, s, dtype=torch.bool, device=device).triu(1)
            self.register_buffer("causal_mask", mask, persistent=False)
        self.capture: list[dict[str, Any]] | None = None
        self.capture_grads = False

    def _lin(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        y = layer(x)
        if self.capture is not None and y.requires_grad:
            entry: dict[str, Any] = {"layer": layer, "x": x}
            self.capture.append(entry)
            if self.capture_grads:
                y.register_hook(lambda g, e=entry: e.__setitem__("dy", g))
        return y

    def _rotary(self, t: torch.Tensor) -> torch.Tensor:  # t: (b, s, heads, hd)
        half = t.shape[-1] // 2
        rot = torch.cat([-t[..., half:], t[..., :half]], dim=-1)
        return t * self.cos + rot * self.sin

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        gqa = self.shape.kv_heads != self.shape.heads
        if self.attention == "flash":
            if gqa:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if gqa:  # eager: materialise the shared K/V heads
            rep = self.shape.heads // self.shape.kv_heads
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q * (1.0 / math.sqrt(q.shape[-1])), k.transpose(-1, -2))
        scores = scores.masked_fill(self.causal_mask, float("-inf"))
        return torch.matmul(torch.softmax(scores, dim=-1), v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sh = self.shape
        b, s, h = x.shape
        qkv = self._lin(self.qkv, self.norm1(x)).view(b, s, sh.heads + 2 * sh.kv_heads, sh.head_dim)
        q, k, v = qkv.split([sh.heads, sh.kv_heads, sh.kv_heads], dim=2)
        if not self.gpt:
            q, k = self._rotary(q), self._rotary(k)
        o = self._attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + self._lin(self.proj, o.transpose(1, 2).reshape(b, s, h))
        u = self._lin(self.fc1, self.norm2(x))
        if self.gpt:
            u = F.gelu(u, approximate="tanh")
        else:
            gate, up = u.chunk(2, dim=-1)
            u = F.silu(gate) * up
        return x + self._lin(self.fc2, u)


class Head(nn.Module):
    """Final norm + LM head (no bias) + fp32 cross-entropy; returns the scalar loss."""

    def __init__(self, shape: Shape, vocab: int, device: torch.device, dtype: torch.dtype):
        super().__init__()
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        h = shape.hidden
        self.norm = nn.LayerNorm(h, eps=1e-5, **kw) if shape.style == "gpt" else nn.RMSNorm(h, eps=1e-5, **kw)
        self.lm = nn.Linear(h, vocab, bias=False, **kw)
        self.vocab = vocab

    def forward(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.lm(self.norm(x))
        return F.cross_entropy(logits.float().view(-1, self.vocab), targets.view(-1))


def weight_grad_pass(capture: list[dict[str, Any]]) -> list[torch.Tensor]:
    """The deferred W of a split backward: dW = dY^T X (and db = sum dY) per linear layer."""
    out = []
    for e in capture:
        dy, x = e["dy"], e["x"]
        dy2, x2 = dy.reshape(-1, dy.shape[-1]), x.reshape(-1, x.shape[-1])
        out.append(dy2.t() @ x2)
        if e["layer"].bias is not None:
            out.append(dy2.sum(0))
    return out


# --------------------------------------------------------------------------------------------
# Timing and memory helpers


class Bench:
    def __init__(self, device: torch.device, warmup: int, repeats: int):
        self.device, self.warmup, self.repeats = device, warmup, repeats
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def samples(self, region: Callable[[Any], Any], setup: Callable[[], Any] | None = None,
                warmup: int | None = None, repeats: int | None = None) -> list[float]:
        """Seconds per call of ``region(setup())``; ``setup`` is untimed and its state (and what
        ``region`` returns) is dropped before the next sample."""
        warmup = self.warmup if warmup is None else warmup
        repeats = self.repeats if repeats is None else repeats
        out: list[float] = []
        for i in range(warmup + repeats):
            state = setup() if setup is not None else None
            self.sync()
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                result = region(state)
                end.record()
                end.synchronize()
                dt = start.elapsed_time(end) / 1e3
            else:
                t0 = time.perf_counter()
                result = region(state)
                dt = time.perf_counter() - t0
            del result, state
            if i >= warmup:
                out.append(dt)
        return out

    def allocated(self) -> int | None:
        return torch.cuda.memory_allocated(self.device) if self.cuda else None

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int | None:
        return torch.cuda.max_memory_allocated(self.device) if self.cuda else None


def _sub(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


@contextlib.contextmanager
def count_saved(exclude: set[int], found: dict[int, int]):
    """Record distinct storages autograd saves (data pointer -> bytes), skipping ``exclude``."""

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr not in exclude:
            found[ptr] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield


def storage_bytes(tensors: list[torch.Tensor]) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


def free_memory(cuda: bool) -> None:
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()


def sdpa_choice(shape: Shape, b: int, device: torch.device, dtype: torch.dtype) -> str | None:
    """Which fused SDPA backend PyTorch picks for this shape (private API; None if unavailable)."""
    try:
        q = torch.empty(b, shape.heads, shape.seq_len, shape.head_dim, device=device, dtype=dtype)
        kv = torch.empty(b, shape.kv_heads, shape.seq_len, shape.head_dim, device=device, dtype=dtype)
        kw = {"enable_gqa": True} if shape.kv_heads != shape.heads else {}
        q.requires_grad_(True)
        code = torch._fused_sdp_choice(q, kv, kv, None, 0.0, True, **kw)
        try:
            from torch.nn.attention import SDPBackend

            return SDPBackend(code).name
        except Exception:
            return str(code)
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"


def attention_kernels(block: Block, x: torch.Tensor, dy: torch.Tensor) -> list[str]:
    """Names of attention-looking CUDA kernels in one profiled forward + backward."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        out = block(x)
        torch.autograd.grad(out, [x], dy)
        torch.cuda.synchronize()
    keys = ("flash", "fmha", "attention", "cudnn", "sdpa", "softmax")
    names = {e.key for e in prof.key_averages() if any(k in e.key.lower() for k in keys)}
    return sorted(n[:160] for n in names)


# --------------------------------------------------------------------------------------------
# Measurements


def measure_block(bench: Bench, shape: Shape, b: int, attention: str, dtype: torch.dtype,
                  profile_kernels: bool) -> dict[str, Any]:
    dev = bench.device
    rec: dict[str, Any] = {"preset": shape.name, "microbatch_size": b, "attention": attention}
    rec["shape"] = asdict(shape) | {"head_dim": shape.head_dim}
    rec.update(layer_matmul_flops(shape, b))
    if attention == "flash" and bench.cuda:
        rec["sdpa_backend_choice"] = sdpa_choice(shape, b, dev, dtype)
    torch.manual_seed(0)
    block = Block(shape, attention, dev, dtype)
    params = list(block.parameters())
    rec["block_params"] = sum(p.numel() for p in params)
    x = torch.randn(b, shape.seq_len, shape.hidden, device=dev, dtype=dtype, requires_grad=True)
    dy = torch.randn_like(x)
    rec["input_bytes"] = x.untyped_storage().nbytes()
    inputs_all = [x, *params]

    # Warm-up step: kernels loaded, cuBLAS workspaces and flash buffers allocated.
    torch.autograd.grad(block(x), inputs_all, dy)
    bench.sync()
    if profile_kernels and bench.cuda:
        try:
            rec["attention_kernels"] = attention_kernels(block, x, dy)
        except Exception as exc:
            rec["attention_kernels"] = f"profiler failed: {type(exc).__name__}: {exc}"

    # Memory: one forward with the graph alive, then the full backward.
    free_memory(bench.cuda)
    bench.sync()
    exclude = {p.untyped_storage().data_ptr() for p in params} | {x.untyped_storage().data_ptr()}
    saved: dict[int, int] = {}
    before = bench.allocated()
    bench.reset_peak()
    block.capture = []
    with count_saved(exclude, saved):
        out = block(x)
    bench.sync()
    after, fpeak = bench.allocated(), bench.peak()
    rec["output_bytes"] = out.untyped_storage().nbytes()
    rec["activation_bytes_incl_output"] = _sub(after, before)
    excl = _sub(after, before)
    rec["activation_bytes_excl_output"] = None if excl is None else excl - rec["output_bytes"]
    rec["saved_tensor_bytes"] = sum(saved.values())
    rec["linear_input_bytes"] = storage_bytes([e["x"] for e in block.capture])
    rec["forward_peak_bytes"] = _sub(fpeak, before)
    block.capture = None
    bench.reset_peak()
    before_b = bench.allocated()
    grads = torch.autograd.grad(out, inputs_all, dy)
    bench.sync()
    rec["backward_peak_bytes"] = _sub(bench.peak(), before_b)
    del grads, out
    free_memory(bench.cuda)

    # Timings.
    fwd = bench.samples(lambda _: block(x))
    rec["forward_samples_s"], rec["forward_s"] = fwd, median(fwd)
    bwd = bench.samples(lambda out: torch.autograd.grad(out, inputs_all, dy), setup=lambda: block(x))
    rec["backward_samples_s"], rec["backward_s"] = bwd, median(bwd)
    ig = bench.samples(lambda out: torch.autograd.grad(out, [x], dy), setup=lambda: block(x))
    rec["input_grad_samples_s"], rec["input_grad_s"] = ig, median(ig)

    # Peak of an I pass alone (no hooks).
    out = block(x)
    bench.sync()
    bench.reset_peak()
    before_i = bench.allocated()
    torch.autograd.grad(out, [x], dy)
    bench.sync()
    rec["input_grad_peak_bytes"] = _sub(bench.peak(), before_i)
    del out

    # Deferred W: capture dY during one I pass, then time the weight-gradient matmuls alone.
    block.capture, block.capture_grads = [], True
    out = block(x)
    torch.autograd.grad(out, [x], dy)
    bench.sync()
    capture, block.capture, block.capture_grads = block.capture, None, False
    del out
    missing = [type(e["layer"]).__name__ for e in capture if "dy" not in e]
    if missing:
        rec["weight_grad_note"] = f"{len(missing)} linear output gradients were not captured"
    else:
        wg = bench.samples(lambda _: weight_grad_pass(capture))
        rec["weight_grad_samples_s"], rec["weight_grad_s"] = wg, median(wg)
    capture.clear()
    if rec["backward_s"] is not None and rec["input_grad_s"] is not None:
        rec["weight_grad_by_difference_s"] = rec["backward_s"] - rec["input_grad_s"]
    for key, flops in (("forward", "forward_flops"), ("backward", None), ("input_grad", "input_grad_flops"),
                       ("weight_grad", "weight_grad_flops")):
        t = rec.get(f"{key}_s")
        if not t:
            continue
        n = rec["input_grad_flops"] + rec["weight_grad_flops"] if flops is None else rec[flops]
        rec[f"{key}_tflops_per_s"] = n / t / 1e12
    rec["status"] = "ok"
    return rec


def measure_head(bench: Bench, shape: Shape, b: int, vocab: int, dtype: torch.dtype) -> dict[str, Any]:
    dev = bench.device
    rec: dict[str, Any] = {"preset": shape.name, "microbatch_size": b, "vocab": vocab,
                           "hidden": shape.hidden, "seq_len": shape.seq_len,
                           "norm": "layernorm" if shape.style == "gpt" else "rmsnorm",
                           "loss": "logits.float() then F.cross_entropy (mean)"}
    rec["matmul_flops_forward"] = float(2 * b * shape.seq_len * shape.hidden * vocab)
    torch.manual_seed(0)
    head = Head(shape, vocab, dev, dtype)
    params = list(head.parameters())
    x = torch.randn(b, shape.seq_len, shape.hidden, device=dev, dtype=dtype, requires_grad=True)
    targets = torch.randint(0, shape.vocab, (b, shape.seq_len), device=dev)  # real ids < preset V
    inputs_all = [x, *params]
    rec["input_bytes"] = x.untyped_storage().nbytes()
    torch.autograd.grad(head(x, targets), inputs_all)
    free_memory(bench.cuda)
    bench.sync()
    exclude = {p.untyped_storage().data_ptr() for p in params} | {x.untyped_storage().data_ptr()}
    saved: dict[int, int] = {}
    before = bench.allocated()
    bench.reset_peak()
    with count_saved(exclude, saved):
        loss = head(x, targets)
    bench.sync()
    rec["activation_bytes_incl_output"] = _sub(bench.allocated(), before)  # output: a scalar loss
    rec["saved_tensor_bytes"] = sum(saved.values())
    rec["forward_peak_bytes"] = _sub(bench.peak(), before)
    bench.reset_peak()
    before_b = bench.allocated()
    grads = torch.autograd.grad(loss, inputs_all)
    bench.sync()
    rec["backward_peak_bytes"] = _sub(bench.peak(), before_b)
    del grads, loss
    free_memory(bench.cuda)
    fwd = bench.samples(lambda _: head(x, targets))
    rec["forward_samples_s"], rec["forward_s"] = fwd, median(fwd)
    bwd = bench.samples(lambda loss: torch.autograd.grad(loss, inputs_all), setup=lambda: head(x, targets))
    rec["backward_samples_s"], rec["backward_s"] = bwd, median(bwd)
    ig = bench.samples(lambda loss: torch.autograd.grad(loss, [x]), setup=lambda: head(x, targets))
    rec["input_grad_samples_s"], rec["input_grad_s"] = ig, median(ig)
    rec["status"] = "ok"
    return rec


def gemm_shapes(quick: bool) -> list[tuple[int, int, int]]:
    """(M, N, K): M tokens, K in-features, N out-features. 10 (N, K) pairs per M, 40 in all."""
    if quick:
        return [(64, 64, 64), (128, 64, 128)]
    pairs = [(2048, 2048), (4096, 4096), (8192, 8192), (11008, 11008), (28672, 28672),
             (11008, 4096), (4096, 11008), (28672, 8192), (8192, 28672), (8192, 2048)]
    return [(m, n, k) for m in (2048, 4096, 8192, 16384) for n, k in pairs]


def measure_gemm(bench: Bench, m: int, n: int, k: int, dtype: torch.dtype) -> dict[str, Any]:
    a = torch.randn(m, k, device=bench.device, dtype=dtype)
    w = torch.randn(n, k, device=bench.device, dtype=dtype)
    flops = 2.0 * m * n * k
    fwd = bench.samples(lambda _: a @ w.t())  # y = x W^T, as nn.Linear
    rec = {"m": m, "n": n, "k": k, "layout": "A[m,k] @ W[n,k]^T", "flops": flops,
           "samples_s": fwd, "median_s": median(fwd)}
    rec["tflops_per_s"] = flops / rec["median_s"] / 1e12 if rec["median_s"] else None
    return rec


def measure_bandwidth(bench: Bench, numel: int, dtype: torch.dtype) -> list[dict[str, Any]]:
    a = torch.randn(numel, device=bench.device, dtype=dtype)
    b = torch.randn(numel, device=bench.device, dtype=dtype)
    c = torch.empty_like(a)
    nbytes = a.untyped_storage().nbytes()
    out = []
    for op, fn, moved in (("copy", lambda _: c.copy_(a), 2 * nbytes),
                          ("add", lambda _: torch.add(a, b, out=c), 3 * nbytes),
                          ("sum", lambda _: a.sum(), nbytes)):
        sm = bench.samples(fn)
        med = median(sm)
        out.append({"op": op, "tensor_bytes": nbytes, "bytes_moved": moved, "samples_s": sm,
                    "median_s": med, "gb_per_s": moved / med / 1e9 if med else None})
    return out


def measure_launch(bench: Bench, loops: int) -> dict[str, Any]:
    t = torch.zeros(1, device=bench.device)
    single = bench.samples(lambda _: t.add_(1.0), warmup=10, repeats=max(bench.repeats, 20))

    def many(_: Any) -> None:
        for _i in range(loops):
            t.add_(1.0)

    burst = bench.samples(many)
    rec: dict[str, Any] = {
        "kernel": "one-element add_ (float32)",
        "single_launch_samples_s": single, "single_launch_s": median(single),
        "back_to_back_launches": loops, "back_to_back_samples_s": burst,
        "back_to_back_per_launch_s": median(burst) / loops if burst else None,
    }
    if bench.cuda:
        try:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _i in range(3):
                    t.add_(1.0)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                for _i in range(loops):
                    t.add_(1.0)
            gs = bench.samples(lambda _: g.replay())
            rec["graph_replay_samples_s"] = gs
            rec["graph_replay_per_kernel_s"] = median(gs) / loops
        except Exception as exc:
            rec["graph_replay_error"] = f"{type(exc).__name__}: {exc}"
    return rec


# --------------------------------------------------------------------------------------------
# Run


def nvidia_smi_query() -> str:
    q = ("name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,"
         "temperature.gpu,persistence_mode")
    try:
        res = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv"], capture_output=True,
                             text=True, timeout=20)
        return res.stdout.strip()
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"


def environment(device: torch.device, dtype: torch.dtype, args: argparse.Namespace) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "started_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "args": vars(args) | {"out": os.path.basename(args.out)},  # no machine paths in the record
        "allow_tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "allow_bf16_reduced_precision_reduction": torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
    }
    b = torch.backends.cuda
    meta["sdpa_enabled"] = {name: bool(getattr(b, f"{name}_sdp_enabled")()) for name in
                            ("flash", "mem_efficient", "math", "cudnn") if hasattr(b, f"{name}_sdp_enabled")}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        meta["gpu"] = {"name": p.name, "capability": f"{p.major}.{p.minor}",
                       "multiprocessors": p.multi_processor_count, "total_memory_bytes": p.total_memory,
                       "l2_cache_bytes": getattr(p, "L2_cache_size", None)}
        meta["nvidia_smi"] = nvidia_smi_query()
        try:
            res = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20)
            head = [ln for ln in res.stdout.splitlines() if "CUDA Version" in ln]
            meta["nvidia_smi_header"] = head[0].strip(" |") if head else None
        except Exception as exc:
            meta["nvidia_smi_header"] = f"unavailable: {type(exc).__name__}"
    meta["definitions"] = __doc__
    return meta


class Output:
    def __init__(self, path: str, meta: dict[str, Any]):
        self.path = path
        self.data: dict[str, Any] = {"meta": meta, "layers": [], "heads": [], "gemm": [],
                                     "bandwidth": [], "launch": []}

    def add(self, kind: str, rec: Any) -> None:
        if isinstance(rec, list):
            self.data[kind].extend(rec)
        else:
            self.data[kind].append(rec)
        self.write()

    def write(self) -> None:
        if self.path in ("-", os.devnull):
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.data, fh, indent=1)
        os.replace(tmp, self.path)


def guarded(fn: Callable[[], Any], base: dict[str, Any], cuda: bool) -> Any:
    """Run one configuration; OOM becomes ``status: "oom"``, other errors ``"error: ..."``."""
    try:
        return fn()
    except torch.cuda.OutOfMemoryError:
        rec = base | {"status": "oom"}
    except Exception as exc:
        rec = base | {"status": f"error: {type(exc).__name__}: {str(exc)[:400]}"}
    free_memory(cuda)
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="h200_raw.json", help="JSON file to write ('-' for none)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--dtype", default=None, help="bf16 (default on cuda) or fp32 (default on cpu)")
    ap.add_argument("--quick", action="store_true", help="tiny shapes, 1 warm-up, 1 repeat")
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    ap.add_argument("--microbatches", default="1,2,4")
    ap.add_argument("--attention", default="flash,eager")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--repeats-70b", type=int, default=10, help="timed repeats for the 70b block")
    ap.add_argument("--skip-micro", action="store_true", help="skip GEMM/bandwidth/launch benchmarks")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    dtype_name = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    if args.quick:
        args.warmup, args.repeats, args.repeats_70b = 1, 1, 1
    bench = Bench(device, args.warmup, args.repeats)
    cuda = bench.cuda
    if cuda:
        torch.cuda.set_device(device)
    t0 = time.perf_counter()
    out = Output(args.out, environment(device, dtype, args))

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    log(f"torch {torch.__version__} on {out.data['meta'].get('gpu', {}).get('name', device)}, {dtype_name}")

    if not args.skip_micro:
        for m, n, k in gemm_shapes(args.quick):
            rec = guarded(lambda m=m, n=n, k=k: measure_gemm(bench, m, n, k, dtype),
                          {"m": m, "n": n, "k": k}, cuda)
            out.add("gemm", rec)
            log(f"gemm {m}x{n}x{k}: {rec.get('tflops_per_s') or 0:.1f} TFLOP/s {rec.get('status', '')}")
            free_memory(cuda)
        numel = 1 << 14 if args.quick else 1 << 30  # 2 GiB per bf16 tensor
        recs = guarded(lambda: measure_bandwidth(bench, numel, dtype), {"op": "bandwidth"}, cuda)
        out.add("bandwidth", recs)
        for r in recs if isinstance(recs, list) else [recs]:
            log(f"bandwidth {r.get('op')}: {r.get('gb_per_s') or 0:.0f} GB/s {r.get('status', '')}")
        free_memory(cuda)
        rec = guarded(lambda: measure_launch(bench, 10 if args.quick else 1000), {"kernel": "launch"}, cuda)
        out.add("launch", rec)
        log(f"launch floor: single {1e6 * (rec.get('single_launch_s') or 0):.1f} us, back-to-back "
            f"{1e6 * (rec.get('back_to_back_per_launch_s') or 0):.2f} us/launch, graph "
            f"{1e6 * (rec.get('graph_replay_per_kernel_s') or 0):.2f} us/kernel")

    microbatches = [int(v) for v in args.microbatches.split(",")]
    attentions = [a.strip() for a in args.attention.split(",")]
    for name in [p.strip() for p in args.presets.split(",")]:
        shape = PRESETS[name]
        if args.quick:
            shape = quick_shape(shape)
        bench.repeats = args.repeats_70b if name == "70b" else args.repeats
        for b in microbatches:
            for attention in attentions:
                first = b == microbatches[0]
                rec = guarded(lambda s=shape, b=b, a=attention, f=first: measure_block(bench, s, b, a, dtype, f),
                              {"preset": name, "microbatch_size": b, "attention": attention}, cuda)
                out.add("layers", rec)
                free_memory(cuda)
                act = rec.get("activation_bytes_incl_output")
                log(f"layer {name} b={b} {attention:5s}: {rec['status']}"
                    + (f", F {1e3 * rec['forward_s']:.2f} ms, B {1e3 * rec['backward_s']:.2f} ms, "
                       f"I {1e3 * rec['input_grad_s']:.2f} ms, W {1e3 * (rec.get('weight_grad_s') or 0):.2f} ms, "
                       f"F {rec['forward_tflops_per_s']:.0f} TFLOP/s"
                       + (f", act {act / 2**20:.0f} MiB" if act is not None else "")
                       if rec["status"] == "ok" else ""))
            vocabs = [shape.vocab] + ([PADDED_GPT_VOCAB] if shape.style == "gpt" and not args.quick else [])
            for vocab in vocabs:
                rec = guarded(lambda s=shape, b=b, v=vocab: measure_head(bench, s, b, v, dtype),
                              {"preset": name, "microbatch_size": b, "vocab": vocab}, cuda)
                out.add("heads", rec)
                free_memory(cuda)
                log(f"head  {name} b={b} V={vocab}: {rec['status']}"
                    + (f", F {1e3 * rec['forward_s']:.2f} ms, B {1e3 * rec['backward_s']:.2f} ms"
                       if rec["status"] == "ok" else ""))

    out.data["meta"]["finished_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    out.data["meta"]["elapsed_s"] = time.perf_counter() - t0
    if cuda:
        out.data["meta"]["nvidia_smi_at_end"] = nvidia_smi_query()
    out.write()
    summary(out.data)
    log("done")
    return 0


def summary(data: dict[str, Any]) -> None:
    """Compact table of the headline numbers (the run's log tail)."""
    heads = {(r["preset"], r["microbatch_size"], r["vocab"]): r for r in data["heads"]}
    by = {(r["preset"], r["microbatch_size"], r["attention"]): r for r in data["layers"]}
    print("\npreset      b  flashF_ms flashB_ms  I_ms  W_ms  act_MiB  eagerF_ms eagerB_ms eager_act_MiB head_F_ms")
    for (preset, b, att), r in by.items():
        if att != "flash":
            continue
        e = by.get((preset, b, "eager"), {})
        shape = r.get("shape") or {}
        h = heads.get((preset, b, shape.get("vocab")), {})

        def ms(d: dict[str, Any], k: str) -> str:
            v = d.get(k)
            return f"{1e3 * v:.2f}" if isinstance(v, float) else d.get("status", "-")

        def mib(d: dict[str, Any]) -> str:
            v = d.get("activation_bytes_incl_output")
            return f"{v / 2**20:.0f}" if isinstance(v, int) else d.get("status", "-")

        print(f"{preset:10s} {b:2d} {ms(r, 'forward_s'):>9s} {ms(r, 'backward_s'):>9s} {ms(r, 'input_grad_s'):>5s} "
              f"{ms(r, 'weight_grad_s'):>5s} {mib(r):>8s} {ms(e, 'forward_s'):>10s} {ms(e, 'backward_s'):>9s} "
              f"{mib(e):>13s} {ms(h, 'forward_s'):>9s}")


if __name__ == "__main__":
    raise SystemExit(main())
