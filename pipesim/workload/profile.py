"""Measured profiles: per GPU × dtype × layer shape, times and stored bytes by microbatch size.

A profile file (JSON, documented in docs/workload.md#profile-files) holds measured layers and
heads. ``Profile.layer(model, gpu, b, dtype)`` answers for a model whose layer shape, GPU and
dtype match an entry set: exactly at a measured microbatch size, linearly interpolated between
two, and scaled in proportion to b from the nearest one outside the measured range (layer
times and stashes grow linearly in b once the GPU is full). It returns ``None`` where it has no
data, and the analytic model answers instead.

W is taken as backward − input-grad, so that I + W reproduces the measured full backward.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pipesim.workload.hardware import GPUSpec, WorkloadError
from pipesim.workload.roofline import PieceCost
from pipesim.workload.transformer import ModelSpec

FORMAT = "pipesim-profile"
VERSION = 1
_TIMES = ("forward_s", "backward_s", "input_grad_s")
_LAYER_KEYS = ("hidden", "heads", "kv_heads", "seq_len", "ffn_hidden", "mlp", "attention", "rotary")
_HEAD_KEYS = ("hidden", "seq_len", "vocab")


@dataclass(frozen=True)
class Point:
    """One measured microbatch size."""

    microbatch_size: int
    forward_s: float
    backward_s: float
    input_grad_s: float
    activation_bytes: float
    weight_keep_bytes: float

    def scaled(self, b: int) -> Point:
        """This point at microbatch size b, in proportion to b."""
        k = b / self.microbatch_size
        return Point(b, *(k * getattr(self, f) for f in
                                             ("forward_s", "backward_s", "input_grad_s", "activation_bytes",
                                              "weight_keep_bytes")))


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def layer_key(model: ModelSpec) -> tuple[Any, ...]:
    return (model.hidden, model.heads, model.kv_groups, model.seq_len, model.ffn, model.mlp, model.attention,
            not model.learned_positions, model.dropout > 0)


def head_key(model: ModelSpec) -> tuple[Any, ...]:
    return (model.hidden, model.seq_len, model.vocab)


@dataclass(frozen=True)
class Profile:
    """Parsed profile: (gpu, dtype, kind, shape key) -> points sorted by microbatch size."""

    name: str
    gpu: str
    dtype: str
    tables: dict[tuple[str, tuple[Any, ...]], tuple[Point, ...]]

    def _lookup(self, kind: str, key: tuple[Any, ...], gpu: GPUSpec, b: int, dtype: str) -> Point | None:
        if _norm(gpu.name) != _norm(self.gpu) or dtype.lower() != self.dtype:
            return None
        points = self.tables.get((kind, key))
        if not points:
            return None
        sizes = [p.microbatch_size for p in points]
        i = bisect_left(sizes, b)
        if i < len(sizes) and sizes[i] == b:
            return points[i]
        if i == 0 or i == len(sizes):
            near = points[0] if i == 0 else points[-1]
            return near.scaled(b)
        lo, hi = points[i - 1], points[i]
        u = (b - lo.microbatch_size) / (hi.microbatch_size - lo.microbatch_size)
        vals = [(1 - u) * getattr(lo, f) + u * getattr(hi, f) for f in
                ("forward_s", "backward_s", "input_grad_s", "activation_bytes", "weight_keep_bytes")]
        return Point(b, *vals)

    def layer(self, model: ModelSpec, gpu: GPUSpec, b: int, dtype: str) -> PieceCost | None:
        p = self._lookup("layer", layer_key(model), gpu, b, dtype)
        if p is None:
            return None
        keep = p.weight_keep_bytes / p.activation_bytes if p.activation_bytes else 1.0
        return PieceCost(p.forward_s, p.input_grad_s, p.backward_s - p.input_grad_s, p.activation_bytes,
                         min(keep, 1.0), f"profile {self.name}")

    def head(self, model: ModelSpec, gpu: GPUSpec, b: int, dtype: str) -> PieceCost | None:
        p = self._lookup("head", head_key(model), gpu, b, dtype)
        if p is None:
            return None
        return PieceCost(p.forward_s, p.input_grad_s, p.backward_s - p.input_grad_s, p.activation_bytes, 1.0,
                         f"profile {self.name}")


def parse_profile(data: Any, name: str = "profile") -> Profile:
    """Check and index a profile document; errors name the entry and key."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WorkloadError(f"{name}: format: expected {FORMAT!r} (a pipesim profile file)")
    if data.get("version") != VERSION:
        raise WorkloadError(f"{name}: version: {data.get('version')!r}; valid: {VERSION}")
    for key in ("gpu", "dtype"):
        if not isinstance(data.get(key), str):
            raise WorkloadError(f"{name}: {key}: {data.get(key)!r}; must be a string")
    tables: dict[tuple[str, tuple[Any, ...]], list[Point]] = {}
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise WorkloadError(f"{name}: entries: must be a list")
    for i, e in enumerate(entries):
        where = f"{name}: entries[{i}]"
        if not isinstance(e, dict) or e.get("kind") not in ("layer", "head"):
            raise WorkloadError(f"{where}.kind: {e.get('kind') if isinstance(e, dict) else e!r}; valid: layer, head")
        keys = _LAYER_KEYS if e["kind"] == "layer" else _HEAD_KEYS
        shape = e.get("shape")
        if not isinstance(shape, dict) or any(k not in shape for k in keys):
            raise WorkloadError(f"{where}.shape: needs {', '.join(keys)}")
        b = e.get("microbatch_size")
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise WorkloadError(f"{where}.microbatch_size: {b!r}; must be a whole number >= 1")
        nums = []
        for k in (*_TIMES, "activation_bytes"):
            v = e.get(k)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise WorkloadError(f"{where}.{k}: {v!r}; must be a number >= 0")
            nums.append(float(v))
        keep = float(e.get("weight_keep_bytes", nums[-1]))
        shape_key = tuple(shape[k] for k in keys)
        if e["kind"] == "layer":  # optional: measured with dropout (absent: without)
            dropout = shape.get("dropout", False)
            if not isinstance(dropout, bool):
                raise WorkloadError(f"{where}.shape.dropout: {dropout!r}; must be true or false")
            shape_key += (dropout,)
        tables.setdefault((e["kind"], shape_key), []).append(Point(b, nums[0], nums[1], nums[2], nums[3], keep))
    sorted_tables = {k: tuple(sorted(v, key=lambda p: p.microbatch_size)) for k, v in tables.items()}
    return Profile(name, data["gpu"], data["dtype"].lower(), sorted_tables)


def bundled_profiles() -> list[str]:
    """Profiles shipped with pipesim, by file name."""
    return sorted(p.name for p in resources.files("pipesim.workload.profiles").iterdir()
                  if p.name.endswith(".json"))


def load_profile(path: str | Path) -> Profile:
    """A profile file by path, or a bundled one by name (``h200-bf16`` or ``h200-bf16.json``)."""
    text: str | None = None
    p = Path(path)
    if p.is_file():
        text = p.read_text()
    else:
        stem = str(path) if str(path).endswith(".json") else f"{path}.json"
        if stem in bundled_profiles():
            text = resources.files("pipesim.workload.profiles").joinpath(stem).read_text()
    if text is None:
        raise WorkloadError(f"hardware.profile: {str(path)!r} is neither a file nor a bundled profile "
                            f"({', '.join(bundled_profiles())})")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkloadError(f"hardware.profile: {p.name}: not JSON ({exc.msg}, line {exc.lineno})") from None
    return parse_profile(data, p.name)
