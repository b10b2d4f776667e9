"""Measure a preset's layer and head into a profile, and import times from a Kineto trace.

The measuring loop is independent of PyTorch: it drives a ``Backend`` (build a layer or head
for a shape, run one pass, report the allocator's stash) and a timer. The PyTorch backend
lives in ``pipesim.workload.torch_backend`` (needs ``pip install pipesim[profile]`` and a GPU);
tests drive the loop with a fake backend and a fake timer, so no GPU or torch is needed.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from pipesim.workload.hardware import WorkloadError
from pipesim.workload.profile import FORMAT, VERSION, parse_profile
from pipesim.workload.transformer import ModelSpec

PASSES = ("forward", "backward", "input_grad")


class Backend(Protocol):
    """What the loop needs from a framework. ``prepare`` builds the piece (``"layer"`` or
    ``"head"``) for microbatch size b and returns an opaque handle; ``run(handle, pass_)``
    returns a zero-argument callable that does one pass (any untimed setup, such as the
    forward a backward needs, happens inside ``run`` before the callable is returned);
    ``stash_bytes`` and ``weight_keep_bytes`` are the allocator's delta over a forward and
    the linear layers' inputs; ``release`` frees the handle."""

    gpu_name: str
    dtype: str

    def prepare(self, kind: str, model: ModelSpec, b: int) -> Any: ...

    def run(self, handle: Any, pass_: str) -> Callable[[], None]: ...

    def stash_bytes(self, handle: Any) -> int: ...

    def weight_keep_bytes(self, handle: Any) -> int: ...

    def release(self, handle: Any) -> None: ...


Timer = Callable[[Callable[[], None]], float]  # seconds one call of the function took


def measure(model: ModelSpec, backend: Backend, timer: Timer, microbatch_sizes: Sequence[int],
            *, warmup: int = 3, repeats: int = 10, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A profile document (medians of ``repeats`` timed calls after ``warmup`` untimed ones)
    for ``model``'s layer and head at each microbatch size."""
    if warmup < 0 or repeats < 1:
        raise WorkloadError(f"repeats: {repeats} (warm-up {warmup}); need at least 1 timed repeat")
    entries = []
    for b in microbatch_sizes:
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise WorkloadError(f"microbatch sizes: {b!r}; each must be a whole number >= 1")
        for kind in ("layer", "head"):
            handle = backend.prepare(kind, model, b)
            try:
                times = {}
                for pass_ in PASSES:
                    samples = []
                    for i in range(warmup + repeats):
                        seconds = timer(backend.run(handle, pass_))
                        if i >= warmup:
                            samples.append(seconds)
                    times[f"{pass_}_s"] = statistics.median(samples)
                entry: dict[str, Any] = {"kind": kind, "preset": model.name, "shape": _shape(kind, model),
                                         "microbatch_size": b, **times,
                                         "activation_bytes": backend.stash_bytes(handle)}
                if kind == "layer":
                    entry["weight_keep_bytes"] = backend.weight_keep_bytes(handle)
            finally:
                backend.release(handle)
            entries.append(entry)
            if log is not None:
                log(f"{kind} b={b}: F {1e3 * times['forward_s']:.3f} ms, B {1e3 * times['backward_s']:.3f} ms")
    doc = {"format": FORMAT, "version": VERSION, "gpu": backend.gpu_name, "dtype": backend.dtype,
           "source": "pipesim profile", "entries": entries}
    parse_profile(doc, "measured")  # the writer and the reader agree on the format
    return doc


def _shape(kind: str, model: ModelSpec) -> dict[str, Any]:
    if kind == "head":
        return {"hidden": model.hidden, "seq_len": model.seq_len, "vocab": model.vocab}
    return {"hidden": model.hidden, "heads": model.heads, "kv_heads": model.kv_groups, "seq_len": model.seq_len,
            "ffn_hidden": model.ffn, "mlp": model.mlp, "attention": model.attention,
            "rotary": not model.learned_positions}


def from_kineto(trace: Any, model: ModelSpec, microbatch_size: int, gpu: str, dtype: str,
                name: str = "trace") -> dict[str, Any]:
    """A profile document from a PyTorch profiler (Kineto) trace.

    The traced program marks each pass with ``torch.profiler.record_function`` named
    ``layer.forward``, ``layer.backward``, ``layer.input_grad`` (and the same for ``head.``);
    the importer takes the GPU-side spans of those annotations (category
    ``gpu_user_annotation``) where present, else the host-side ones (``user_annotation``),
    and keeps the median duration of each. Stored bytes are not in a trace: give them in the
    annotation's ``args`` as ``activation_bytes`` if known, else 0 (times only).
    """
    events = trace.get("traceEvents") if isinstance(trace, dict) else None
    if not isinstance(events, list):
        raise WorkloadError(f"{name}: traceEvents: missing; not a PyTorch profiler trace")
    spans: dict[tuple[str, str], dict[str, list[float]]] = {}
    stash: dict[str, int] = {}
    for ev in events:
        if not isinstance(ev, dict) or ev.get("ph") != "X" or not isinstance(ev.get("name"), str):
            continue
        kind, _, pass_ = ev["name"].partition(".")
        if kind not in ("layer", "head") or pass_ not in PASSES:
            continue
        cat = ev.get("cat", "")
        if cat not in ("gpu_user_annotation", "user_annotation"):
            continue
        spans.setdefault((kind, pass_), {}).setdefault(cat, []).append(float(ev.get("dur", 0.0)) * 1e-6)
        args = ev.get("args") or {}
        if isinstance(args, dict) and isinstance(args.get("activation_bytes"), int):
            stash[kind] = args["activation_bytes"]
    entries = []
    for kind in ("layer", "head"):
        found = {p: spans.get((kind, p), {}) for p in PASSES}
        if not any(found.values()):
            continue
        missing = [p for p in PASSES if not found[p]]
        if missing:
            raise WorkloadError(f"{name}: no '{kind}.{missing[0]}' annotation; need {', '.join(kind + '.' + p for p in PASSES)}")
        times = {f"{p}_s": statistics.median(_prefer_gpu(found[p])) for p in PASSES}
        entries.append({"kind": kind, "preset": model.name, "shape": _shape(kind, model),
                        "microbatch_size": microbatch_size, **times, "activation_bytes": stash.get(kind, 0)})
    if not entries:
        raise WorkloadError(f"{name}: no layer.* or head.* annotations (record_function) found")
    doc = {"format": FORMAT, "version": VERSION, "gpu": gpu, "dtype": dtype,
           "source": f"Kineto trace {name}", "entries": entries}
    parse_profile(doc, name)
    return doc


def _prefer_gpu(by_cat: dict[str, list[float]]) -> list[float]:
    return by_cat.get("gpu_user_annotation") or by_cat["user_annotation"]


def merge(docs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One profile from several of the same GPU and dtype (entries concatenated)."""
    docs = list(docs)
    first = docs[0]
    for d in docs[1:]:
        if (d["gpu"], d["dtype"]) != (first["gpu"], first["dtype"]):
            raise WorkloadError(f"profiles for {first['gpu']}/{first['dtype']} and {d['gpu']}/{d['dtype']} "
                                "cannot share a file")
    return {**first, "entries": [e for d in docs for e in d["entries"]]}


def write(doc: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")
