"""Costs: how long each (stage, kind) takes and how big each message and stash is.

Costs are indexed by *stage* (virtual stage: one model chunk on one device), so the same object
serves every schedule. They come from explicit numbers (paper-style studies, ``--costs F=1,B=2``)
or from the transformer workload model. Times are seconds (or abstract slots), sizes bytes (or
microbatch units when no sizes are known: one stage's activations of one microbatch = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def _per_stage(value: float | Sequence[float], n: int, name: str) -> tuple[float, ...]:
    if isinstance(value, int | float):
        values = (float(value),) * n
    else:
        values = tuple(float(v) for v in value)
        if len(values) != n:
            raise ValueError(f"costs.{name}: {len(values)} values given for {n} stages; give one per stage or a single number")
    for i, v in enumerate(values):
        if v < 0 or v != v:
            raise ValueError(f"costs.{name}[{i}]: {v} is negative or NaN; durations and sizes must be >= 0")
    return values


@dataclass(frozen=True)
class Costs:
    """Per-stage costs. ``backward`` is the full backward B; ``backward_input`` (I) and
    ``backward_weight`` (W) are its split halves, used by zero-bubble style schedules.

    ``message_bytes[s]`` is the size of the boundary tensor *leaving* stage s forward (the
    gradient travelling back into s has the same size). ``activation_bytes[s]`` is what one
    microbatch stashes on stage s between F and its backward; after I, W keeps
    ``weight_keep`` of it. ``param_bytes[s]`` is one copy of stage s's weights; its gradients
    have the same size (what a gradient all-reduce moves), and ``optimizer_bytes[s]`` is the
    optimizer state. ``overlap`` scales an overlapped F&B chunk: its duration is
    ``overlap * (F + B)`` (1.0 = one GPU computes both, no hiding).
    """

    num_stages: int
    forward: tuple[float, ...]
    backward: tuple[float, ...]
    backward_input: tuple[float, ...]
    backward_weight: tuple[float, ...]
    message_bytes: tuple[float, ...]
    activation_bytes: tuple[float, ...]
    param_bytes: tuple[float, ...]
    optimizer_bytes: tuple[float, ...]
    weight_keep: float = 0.5
    overlap: float = 1.0
    sized: bool = False  # True when activation/param sizes are real bytes, not units

    @classmethod
    def make(
        cls,
        num_stages: int,
        *,
        F: float | Sequence[float] = 1.0,
        B: float | Sequence[float] | None = None,
        I: float | Sequence[float] | None = None,  # noqa: E741 - the literature's name
        W: float | Sequence[float] | None = None,
        message_bytes: float | Sequence[float] = 0.0,
        activation_bytes: float | Sequence[float] = 1.0,
        param_bytes: float | Sequence[float] = 0.0,
        optimizer_bytes: float | Sequence[float] = 0.0,
        weight_keep: float = 0.5,
        overlap: float = 1.0,
        sized: bool = False,
    ) -> Costs:
        """Build costs from scalars (uniform) or per-stage sequences.

        Missing values follow the literature's conventions: B = 2F; with only B given, I = W =
        B/2; with I and W given and no B, B = I + W.
        """
        if num_stages < 1:
            raise ValueError(f"costs: num_stages={num_stages}; need at least 1 stage")
        f = _per_stage(F, num_stages, "F")
        if B is None:
            if I is not None and W is not None:
                b = tuple(x + y for x, y in zip(_per_stage(I, num_stages, "I"), _per_stage(W, num_stages, "W"), strict=True))
            else:
                b = tuple(2.0 * x for x in f)
        else:
            b = _per_stage(B, num_stages, "B")
        i = _per_stage(I, num_stages, "I") if I is not None else tuple(x / 2 for x in b)
        w = _per_stage(W, num_stages, "W") if W is not None else tuple(x / 2 for x in b)
        if not 0.0 <= weight_keep <= 1.0:
            raise ValueError(f"costs.weight_keep: {weight_keep}; must be within [0, 1]")
        if not 0.0 < overlap <= 1.0:
            raise ValueError(f"costs.overlap: {overlap}; must be within (0, 1] (1 = F&B costs F + B)")
        return cls(
            num_stages=num_stages,
            forward=f,
            backward=b,
            backward_input=i,
            backward_weight=w,
            message_bytes=_per_stage(message_bytes, num_stages, "message_bytes"),
            activation_bytes=_per_stage(activation_bytes, num_stages, "activation_bytes"),
            param_bytes=_per_stage(param_bytes, num_stages, "param_bytes"),
            optimizer_bytes=_per_stage(optimizer_bytes, num_stages, "optimizer_bytes"),
            weight_keep=weight_keep,
            overlap=overlap,
            sized=sized,
        )
