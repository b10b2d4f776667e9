"""Activation compression at pipeline-stage boundaries.

Low-bandwidth pipelines (decentralised training over WAN links) shrink what crosses a stage
boundary: Subspace Networks / Protocol Models confine boundary activations to a fixed rank-k
subspace and send k coordinates per token instead of h; learned projections (MAPL) do the same
with a trained basis; quantisation shrinks each coordinate. Both directions are compressed:
forward activations and backward activation-gradients.

The simulation model (docs/reference.md#activation-compression):

* bytes per token = k · bits/8 + side data (e.g. a token id the receiver needs to rebuild the
  part of the activation outside the subspace), instead of h · dtype bytes;
* compute: the sender projects (encode, ≈ 2·tokens·h·k FLOPs) and the receiver expands
  (decode, same again), for the forward activation and again for the backward gradient.

Public reference point: h = 1024, k = 160 bf16 coordinates + a 2-byte token id is
160·2 + 2 = 322 B per token instead of 1024·2 = 2048 B, ≈ 6.4× less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipesim.units import UnitError, parse, parse_size
from pipesim.workload.hardware import WorkloadError, dtype_bytes


@dataclass(frozen=True)
class CompressionSpec:
    """How boundary tensors are compressed. Give exactly one of ``rank`` (k) or ``ratio``
    (r, meaning k = h / r, rounded to the nearest integer, at least 1).

    ``bits`` is the width of each sent coordinate; ``None`` keeps the training dtype's width
    (16 for bf16), so quantisation is opt-in. ``side_bytes_per_token`` is uncompressed side
    data sent with every token (a token id: 2 or 4 bytes). ``projection`` adds the
    encode/decode FLOPs; turn it off when the projection is fused or negligible.
    """

    rank: int | None = None
    ratio: float | None = None
    bits: int | None = None
    side_bytes_per_token: float = 0.0
    projection: bool = True

    def __post_init__(self) -> None:
        if (self.rank is None) == (self.ratio is None):
            raise WorkloadError("compression: give exactly one of rank (k) or ratio (h/k)")
        if self.rank is not None and (isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1):
            raise WorkloadError(f"compression.rank: {self.rank!r}; must be a whole number >= 1")
        if self.ratio is not None and not self.ratio >= 1.0:
            raise WorkloadError(f"compression.ratio: {self.ratio!r}; must be >= 1 (h / k)")
        if self.bits is not None and (
            isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 1 <= self.bits <= 32
        ):
            raise WorkloadError(f"compression.bits: {self.bits!r}; must be a whole number within 1..32")
        if not self.side_bytes_per_token >= 0:
            raise WorkloadError(f"compression.side_bytes_per_token: {self.side_bytes_per_token!r}; must be >= 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, key: str = "compression") -> CompressionSpec:
        """Build from a scenario mapping; sizes may be unit strings (``side_bytes_per_token: 2 B``)."""
        allowed = ("rank", "ratio", "bits", "side_bytes_per_token", "projection")
        unknown = [k for k in data if k not in allowed]
        if unknown:
            raise WorkloadError(f"{key}: unknown field {unknown[0]!r}; valid: {', '.join(allowed)}")
        kw: dict[str, Any] = dict(data)
        try:
            if kw.get("ratio") is not None:
                kw["ratio"] = parse(kw["ratio"], "number", key=f"{key}.ratio")
            if "side_bytes_per_token" in kw:
                kw["side_bytes_per_token"] = parse_size(kw["side_bytes_per_token"], key=f"{key}.side_bytes_per_token")
        except UnitError as exc:
            raise WorkloadError(str(exc)) from None
        try:
            return cls(**kw)
        except WorkloadError as exc:
            text = str(exc)
            if key != "compression" and text.startswith("compression"):
                text = key + text[len("compression"):]
            raise WorkloadError(text) from None

    def rank_for(self, hidden: int) -> int:
        """k for a model of hidden size ``hidden``; a rank above h is an error (it would grow
        the message and the basis could not be orthonormal)."""
        if self.rank is not None:
            if self.rank > hidden:
                raise WorkloadError(f"compression.rank: {self.rank} exceeds hidden size {hidden}")
            return self.rank
        ratio = float(self.ratio or 1.0)  # __post_init__ guarantees ratio is set here
        if ratio > hidden:
            raise WorkloadError(f"compression.ratio: {ratio:g} exceeds hidden size {hidden} (k would be < 1)")
        return max(1, round(hidden / ratio))

    def coordinate_bytes(self, dtype: str = "bf16") -> float:
        """Bytes per sent coordinate."""
        return self.bits / 8 if self.bits is not None else float(dtype_bytes(dtype))

    def payload_bytes_per_token(self, hidden: int, dtype: str = "bf16") -> float:
        """Compressed coordinates of one token (excluding side data)."""
        return self.rank_for(hidden) * self.coordinate_bytes(dtype)

    def bytes_per_token(self, hidden: int, dtype: str = "bf16") -> float:
        """Everything one token costs on the wire in one direction."""
        return self.payload_bytes_per_token(hidden, dtype) + self.side_bytes_per_token

    def projection_flops(self, tokens: float, hidden: int) -> float:
        """One encode or one decode of ``tokens`` tokens: a (tokens × h) · (h × k) matmul."""
        return 2.0 * tokens * hidden * self.rank_for(hidden) if self.projection else 0.0

    def effective_ratio(self, hidden: int, dtype: str = "bf16") -> float:
        """Uncompressed over compressed bytes per token, side data included (what the wire sees)."""
        return effective_ratio(self, hidden, dtype)


def effective_ratio(spec: CompressionSpec | None, hidden: int, dtype: str = "bf16") -> float:
    """How many times fewer bytes cross a boundary; 1.0 without compression."""
    if spec is None:
        return 1.0
    return hidden * dtype_bytes(dtype) / spec.bytes_per_token(hidden, dtype)
