"""GPU specifications: how fast a device computes and how much it holds.

A ``GPUSpec`` turns FLOPs into seconds: ``time = flops / (peak · efficiency)``. ``peak_flops``
is the *dense* (no 2:4 sparsity) bf16 tensor-core rate from the vendor's data sheet, because
that is the rate a training step's matmuls run at; ``efficiency`` is the achievable fraction of
it (model FLOPs utilisation). 0.45 is the default: Megatron-LM reports 40-52% MFU for large
GPT runs on A100/H100, and smaller models or consumer cards tend to sit lower, so 0.45 is a
middle value rather than a best case.

Numeric formats also live here (``DTYPES``) because they are a property of the hardware's
arithmetic, and both the transformer model and compression need their byte widths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from pipesim.units import MAX_QUANTITY_CHARS, UnitError, parse, parse_rate, parse_size


class WorkloadError(ValueError):
    """A workload description (GPU, model, split, compression) that cannot be used.

    Defined here because ``hardware`` is the leaf module of the workload package; the package
    re-exports it.
    """


# Bytes per element of each training number format.
DTYPES: MappingProxyType[str, int] = MappingProxyType({"bf16": 2, "fp16": 2, "fp32": 4, "fp8": 1})


def dtype_bytes(dtype: str, *, key: str = "dtype") -> int:
    """Byte width of ``dtype``; unknown names raise and list the valid ones."""
    try:
        return DTYPES[dtype.lower()]
    except (KeyError, AttributeError):
        raise WorkloadError(f"{key}: unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}") from None


@dataclass(frozen=True)
class GPUSpec:
    """One GPU. Rates in FLOP/s, sizes in bytes, bandwidth in bytes/s.

    ``fp8_flops``/``fp32_flops`` are the dense rates for those formats; ``None`` means unknown,
    and :meth:`flops_for` then falls back to ``peak_flops`` (the bf16 rate), i.e. it assumes
    neither a speed-up nor a slow-down rather than inventing one.
    """

    name: str
    peak_flops: float
    memory_bytes: float
    efficiency: float = 0.45
    memory_bandwidth: float | None = None
    fp8_flops: float | None = None
    fp32_flops: float | None = None
    # Roofline constants (pipesim.workload.roofline). Fitted to the H200 measurements in
    # benchmarks/gpu by benchmarks/gpu/fit_roofline.py (docs/workload.md#gpu-constants says
    # which measurement each comes from and what it was checked on) and used as fractions of
    # the data-sheet peak and bandwidth by every preset without measurements of its own.
    # Matmuls: t = FLOPs / (matmul_efficiency · peak) + matmul_overhead_s, where the
    # efficiency is the sustained rate of the grid's GEMMs that run for milliseconds (the
    # power-limited clock a training step runs at) and the overhead the short GEMMs' excess.
    matmul_efficiency: float = 0.70
    matmul_overhead_s: float = 12e-6
    # A GEMM with a dimension that is not a multiple of 16 bytes (an odd vocabulary) runs on
    # cuBLAS's unaligned kernels: fraction of peak from the H200's 50257- vs 50304-token heads.
    unaligned_matmul_efficiency: float = 0.11
    # Fused (flash) attention forward and backward as fractions of peak, causal FLOPs counted:
    # FlashAttention-3's H100 figures for head dim 128 at 2k-4k tokens (cuDNN is similar).
    attention_efficiency: tuple[float, float] = (0.55, 0.42)
    memory_efficiency: float = 0.88  # sustained / data-sheet bandwidth (H200 copy: 4.22 of 4.8 TB/s)
    kernel_gap_s: float = 1e-6  # GPU-side gap between dependent kernels (H200, CUDA-graph replay)
    # Host time per kernel of an eager PyTorch training pass (module call, autograd
    # recording, dispatch, launch): the H200 host's, from the one measured pass whose GPU
    # work is shorter than its issue time (gpt3-1.3b forward at microbatch 1).
    host_op_s: float = 56e-6

    def __post_init__(self) -> None:
        for key in ("peak_flops", "memory_bytes", "fp8_flops", "fp32_flops", "memory_bandwidth"):
            v = getattr(self, key)
            if v is not None and not v > 0:
                raise WorkloadError(f"gpu.{key}: {v}; must be > 0")
        if not 0.0 < self.efficiency <= 1.0:
            raise WorkloadError(
                f"gpu.efficiency: {self.efficiency}; must be within (0, 1] (achievable fraction of peak)"
            )

    def bandwidth(self) -> float:
        """Data-sheet memory bandwidth; a preset without one cannot use the roofline model."""
        if self.memory_bandwidth is None:
            raise WorkloadError(f"gpu.bandwidth: GPU {self.name!r} has none; give hardware.bandwidth")
        return self.memory_bandwidth

    def flops_for(self, dtype: str) -> float:
        """Dense peak FLOP/s for matmuls in ``dtype`` (fp16 runs at the bf16 rate)."""
        width = dtype_bytes(dtype)
        if width == 1 and self.fp8_flops is not None:
            return self.fp8_flops
        if width == 4 and self.fp32_flops is not None:
            return self.fp32_flops
        return self.peak_flops

    def achieved_flops(self, dtype: str = "bf16") -> float:
        """FLOP/s actually sustained: peak for ``dtype`` times ``efficiency``."""
        return self.flops_for(dtype) * self.efficiency


_T = 1e12
_GB = 1e9

# Vendor data-sheet figures, dense (sparsity halved away). fp32 is the non-tensor-core rate,
# because PyTorch does not use TF32 for matmuls unless asked to.
_PRESETS: MappingProxyType[str, GPUSpec] = MappingProxyType(
    {
        # A100 SXM 80 GB: 312 TF bf16 dense, 19.5 TF fp32, HBM2e 2.039 TB/s. No fp8 units.
        # Its GEMMs reach a larger share of peak than Hopper's: the public maximum-achievable
        # matmul benchmark (ml-engineering's MAMF table) has A100 SXM at 85.9% and H100 SXM
        # at 80.1%, so the H200's sustained 0.70 is scaled by 85.9 / 80.1 (docs/workload.md).
        "a100": GPUSpec("A100", 312 * _T, 80 * _GB, memory_bandwidth=2039 * _GB, fp32_flops=19.5 * _T,
                        matmul_efficiency=0.75),
        # H100 SXM5 80 GB: 989 TF bf16 dense (1979 sparse), 1979 TF fp8 dense, 67 TF fp32,
        # HBM3 3.35 TB/s.
        "h100": GPUSpec("H100", 989 * _T, 80 * _GB, memory_bandwidth=3350 * _GB, fp8_flops=1979 * _T,
                        fp32_flops=67 * _T),
        # H200 SXM: the H100 die with 141 GB HBM3e at 4.8 TB/s; compute identical.
        "h200": GPUSpec("H200", 989 * _T, 141 * _GB, memory_bandwidth=4800 * _GB, fp8_flops=1979 * _T,
                        fp32_flops=67 * _T),
        # B200 in HGX B200 (1000 W): 2.25 PF bf16 dense, 4.5 PF fp8 dense, 80 TF fp32,
        # 192 GB HBM3e at 8 TB/s (NVIDIA's HGX table; GB200 parts at 1200 W are ~10% faster).
        "b200": GPUSpec("B200", 2250 * _T, 192 * _GB, memory_bandwidth=8000 * _GB, fp8_flops=4500 * _T,
                        fp32_flops=80 * _T),
        # RTX 4090 (Ada whitepaper): bf16 with fp32 accumulate 165.2 TF dense. GeForce parts
        # run fp32-accumulate at half the fp16-accumulate rate (330 TF), and training needs
        # fp32 accumulation, so 165 is the honest figure. fp8 (fp32 acc.) 330 TF, fp32 82.6 TF,
        # 24 GB GDDR6X at 1008 GB/s.
        "rtx4090": GPUSpec("RTX 4090", 165 * _T, 24 * _GB, memory_bandwidth=1008 * _GB, fp8_flops=330 * _T,
                           fp32_flops=82.6 * _T),
        # RTX 3090 (GA102 whitepaper): bf16/fp16 with fp32 accumulate 71 TF dense, fp32 35.6 TF,
        # 24 GB GDDR6X at 936 GB/s. No fp8 units.
        "rtx3090": GPUSpec("RTX 3090", 71 * _T, 24 * _GB, memory_bandwidth=936 * _GB, fp32_flops=35.6 * _T),
        # T4 (Turing): no bf16 units; the figure is the 65 TF fp16 mixed-precision tensor rate,
        # so use it with dtype="fp16". fp32 8.1 TF, 16 GB GDDR6 at 320 GB/s.
        "t4": GPUSpec("T4", 65 * _T, 16 * _GB, memory_bandwidth=320 * _GB, fp32_flops=8.1 * _T),
    }
)

# Friendlier override names (as in scenario files) for the dataclass fields.
_ALIASES = MappingProxyType(
    {
        "memory": "memory_bytes",
        "peak": "peak_flops",
        "flops": "peak_flops",
        "bandwidth": "memory_bandwidth",
        "fp8": "fp8_flops",
        "fp32": "fp32_flops",
    }
)

_FLOPS_PREFIX = MappingProxyType({"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18})
_FLOPS_SUFFIXES = ("flop/s", "flops")


def parse_flops(value: str | float | int, *, key: str = "") -> float:
    """FLOP/s from a number or a string such as ``'312 TFLOP/s'``, ``'1.98 PFLOPS'``, ``'312e12'``.

    units.py knows bytes, rates and times but not arithmetic rates, so the FLOP/s suffix is
    stripped here and the number is handed to ``units.parse``. The suffix is cut with string
    operations, not a regular expression: a pattern such as ``\\s*(.*?)\\s*`` backtracks in
    cubic time on a long run of spaces, and this string comes straight from a user's file.
    """
    where = f"{key}: " if key else ""
    if isinstance(value, str) and len(value) > MAX_QUANTITY_CHARS:
        raise UnitError(f"{where}a {len(value)}-character string is not a compute rate; a quantity is at most "
                        f"{MAX_QUANTITY_CHARS} characters, such as '312 TFLOP/s'")
    try:
        if isinstance(value, str):
            text = value.strip()
            suffix = next((s for s in _FLOPS_SUFFIXES if text.lower().endswith(s)), None)
            if suffix is not None:
                head = text[: -len(suffix)]
                prefix = head[-1:].lower() if head[-1:].lower() in _FLOPS_PREFIX else ""
                number = head[: len(head) - len(prefix)].strip()
                if number:
                    return parse(number, "number", key=key) * _FLOPS_PREFIX[prefix]
        return parse(value, "number", key=key)
    except UnitError:
        raise UnitError(f"{where}cannot read {value!r}; expected a compute rate such as '312 TFLOP/s'") from None


def _normalise(name: str) -> str:
    # "RTX 4090", "rtx-4090" and "rtx_4090" all mean the same card.
    return re.sub(r"[\s_\-]", "", name.lower())


def known_gpus() -> list[str]:
    return list(_PRESETS)


def gpu_preset(name: str, **overrides: Any) -> GPUSpec:
    """A preset GPU, optionally with fields replaced.

    Names are case-insensitive and ignore spaces, dashes and underscores. Overrides accept
    field names or aliases (``memory``, ``peak``, ``bandwidth``, ``fp8``, ``fp32``) and unit
    strings: ``gpu_preset("a100", memory="40 GiB", peak="250 TFLOP/s")``.
    """
    spec = _PRESETS.get(_normalise(name))
    if spec is None:
        raise WorkloadError(f"unknown GPU {name!r}; known: {', '.join(_PRESETS)}")
    valid = {f.name for f in fields(GPUSpec)}
    changes: dict[str, Any] = {}
    for raw_key, value in overrides.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in valid:
            allowed = sorted((valid | set(_ALIASES)) - {"name"})
            raise WorkloadError(f"gpu: unknown field {raw_key!r}; valid: {', '.join(allowed)}")
        changes[key] = _convert(key, value)
    return replace(spec, **changes) if changes else spec


def _convert(key: str, value: Any) -> Any:
    where = f"gpu.{key}"
    if key == "name":
        return str(value)
    if key == "memory_bytes":
        return parse_size(value, key=where)
    if key == "memory_bandwidth":
        return None if value is None else parse_rate(value, key=where)
    if key in ("peak_flops", "fp8_flops", "fp32_flops"):
        return None if value is None and key != "peak_flops" else parse_flops(value, key=where)
    return parse(value, "number", key=where)  # efficiency
