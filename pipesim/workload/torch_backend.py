"""PyTorch backend for ``pipesim profile``: a pre-norm decoder block and an LM head built from
a ``ModelSpec``, timed with CUDA events, the stash read from the caching allocator.

torch is imported lazily (``pip install pipesim[profile]``) and typed as ``Any`` so that
pipesim type-checks and imports without it. The block matches the roofline model's op list
and benchmarks/gpu/measure_layers.py: GPT style (LayerNorm, GELU, biases) or LLaMA style
(RMSNorm, rotary, SwiGLU with fused gate|up, no biases), flash (``scaled_dot_product_attention``)
or eager attention, grouped KV heads.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from pipesim.workload.hardware import WorkloadError
from pipesim.workload.transformer import ModelSpec

_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def load_torch() -> Any:
    """torch, or a one-line error saying how to get it."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise WorkloadError("PyTorch is not installed; `pip install pipesim[profile]` on a machine with a GPU") from None


class TorchBackend:
    """See ``pipesim.workload.measure.Backend``. ``device`` 'cpu' only checks the code path."""

    def __init__(self, device: str = "cuda", dtype: str = "bf16") -> None:
        torch = self.torch = load_torch()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise WorkloadError("no CUDA GPU visible to PyTorch; `pipesim profile` measures on a GPU")
        if dtype not in _DTYPES:
            raise WorkloadError(f"--dtype: {dtype!r}; valid: {', '.join(_DTYPES)}")
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.dtype = dtype
        self.tdtype = getattr(torch, _DTYPES[dtype])
        self.gpu_name = (torch.cuda.get_device_name(self.device).replace("NVIDIA ", "") if self.cuda else "cpu")

    # -- the Backend protocol -------------------------------------------------------------

    def prepare(self, kind: str, model: ModelSpec, b: int) -> dict[str, Any]:
        torch = self.torch
        kw = {"device": self.device, "dtype": self.tdtype}
        x = torch.randn(b, model.seq_len, model.hidden, **kw, requires_grad=True)
        if kind == "layer":
            module, target = _block(torch, model, kw), None
        else:
            module = _head(torch, model, kw)
            target = torch.randint(0, model.vocab, (b, model.seq_len), device=self.device)
        return {"module": module, "x": x, "target": target, "params": list(module.parameters())}

    def run(self, h: dict[str, Any], pass_: str) -> Callable[[], None]:
        torch = self.torch

        def forward() -> Any:
            return h["module"](h["x"]) if h["target"] is None else h["module"](h["x"], h["target"])

        if pass_ == "forward":
            def forward_only() -> None:
                forward()  # the output (and its graph) is dropped when the call returns

            return forward_only
        out = forward()  # untimed: the graph a backward needs
        dy = torch.ones_like(out) if out.dim() == 0 else torch.randn_like(out)
        inputs = [h["x"]] + (h["params"] if pass_ == "backward" else [])

        def backward() -> None:
            torch.autograd.grad(out, inputs, dy)

        return backward

    def stash_bytes(self, h: dict[str, Any]) -> int:
        if not self.cuda:
            return 0
        torch = self.torch
        torch.cuda.synchronize(self.device)
        before = torch.cuda.memory_allocated(self.device)
        out = h["module"](h["x"]) if h["target"] is None else h["module"](h["x"], h["target"])
        torch.cuda.synchronize(self.device)
        delta = int(torch.cuda.memory_allocated(self.device) - before)
        del out
        return delta

    def weight_keep_bytes(self, h: dict[str, Any]) -> int:
        m = h["module"]
        x = h["x"]
        tokens = x.shape[0] * x.shape[1]
        width = sum(lin.in_features for lin in (m.qkv, m.proj, m.fc1, m.fc2))
        return int(tokens * width * x.element_size())

    def release(self, h: dict[str, Any]) -> None:
        h.clear()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def timer(self, fn: Callable[[], None]) -> float:
        """Seconds of one call: CUDA events around it, synchronised before and after."""
        torch = self.torch
        if not self.cuda:
            import time

            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        torch.cuda.synchronize(self.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end)) / 1e3


def _block(torch: Any, model: ModelSpec, kw: dict[str, Any]) -> Any:
    nn, F = torch.nn, torch.nn.functional
    h, a, kv, hd = model.hidden, model.heads, model.kv_groups, model.hidden // model.heads
    gpt = model.mlp == "gelu"
    rotary = not model.learned_positions

    class Block(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            norm = (lambda: nn.LayerNorm(h, **kw)) if gpt else (lambda: nn.RMSNorm(h, **kw))
            self.norm1, self.norm2 = norm(), norm()
            self.qkv = nn.Linear(h, (a + 2 * kv) * hd, bias=gpt, **kw)
            self.proj = nn.Linear(h, h, bias=gpt, **kw)
            self.fc1 = nn.Linear(h, model.ffn * (1 if gpt else 2), bias=gpt, **kw)
            self.fc2 = nn.Linear(model.ffn, h, bias=gpt, **kw)
            if rotary:
                inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, device=kw["device"]).float() / hd))
                ang = torch.outer(torch.arange(model.seq_len, device=kw["device"]).float(), inv)
                ang = torch.cat([ang, ang], -1)[:, None, :]
                self.register_buffer("cos", ang.cos().to(kw["dtype"]), persistent=False)
                self.register_buffer("sin", ang.sin().to(kw["dtype"]), persistent=False)

        def rot(self, t: Any) -> Any:
            half = t.shape[-1] // 2
            return t * self.cos + torch.cat([-t[..., half:], t[..., :half]], -1) * self.sin

        def forward(self, x: Any) -> Any:
            b, s, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(b, s, a + 2 * kv, hd).split([a, kv, kv], 2)
            if rotary:
                q, k = self.rot(q), self.rot(k)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            if model.attention == "flash":
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=kv != a)
            else:
                if kv != a:
                    k, v = k.repeat_interleave(a // kv, 1), v.repeat_interleave(a // kv, 1)
                scores = (q * (1 / math.sqrt(hd))) @ k.transpose(-1, -2)
                mask = torch.ones(s, s, dtype=torch.bool, device=x.device).triu(1)
                o = torch.softmax(scores.masked_fill(mask, float("-inf")), -1) @ v
            x = x + self.proj(o.transpose(1, 2).reshape(b, s, h))
            u = self.fc1(self.norm2(x))
            if gpt:
                u = F.gelu(u, approximate="tanh")
            else:
                gate, up = u.chunk(2, -1)
                u = F.silu(gate) * up
            return x + self.fc2(u)

    return Block()


def _head(torch: Any, model: ModelSpec, kw: dict[str, Any]) -> Any:
    nn, F = torch.nn, torch.nn.functional
    h, vocab = model.hidden, model.vocab

    class Head(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(h, **kw) if model.mlp == "gelu" else nn.RMSNorm(h, **kw)
            self.lm = nn.Linear(h, vocab, bias=False, **kw)

        def forward(self, x: Any, target: Any) -> Any:
            logits = self.lm(self.norm(x)).float()
            return F.cross_entropy(logits.view(-1, vocab), target.view(-1))

    return Head()
