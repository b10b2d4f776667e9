"""The search's two bounds, parsed once: the memory limit per device and the budget.

Memory limit. ``kp`` is k times the activation memory 1F1B holds on a device: p microbatches
of that device's share of one model copy (the Zero Bubble paper's 1p and 2p, where M_B is a
device's activations of one microbatch). A device's share is the sum of its stages' stashes
divided by the number of model copies in the layout (Chimera's two replicas share one
device's share between them), so ``1p`` is the same bytes for 1F1B, interleaved and V shapes
at equal work. ``BYTES`` ("40 GB", "3e10") bounds each device's stashed activations directly;
it needs activation sizes (a model scenario, or ``costs.activation_bytes``).

Budget. ``30s`` / ``2 min`` is wall-clock seconds; a bare whole number (``2000``) is candidate
evaluations. An evaluation budget makes the search byte-for-byte deterministic; a time budget
is deterministic only up to where the clock stops it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pipesim.costs import Costs
from pipesim.schedule.layout import Layout
from pipesim.search.errors import SearchError
from pipesim.units import parse_size, parse_time

_PER_P = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*p\s*$")


@dataclass(frozen=True)
class MemoryLimit:
    text: str
    per_p: float | None = None  # k of "kp"
    nbytes: float | None = None

    def per_device(self, layout: Layout, costs: Costs) -> tuple[float, ...]:
        """Each device's bound on stashed activations, in ``costs.activation_bytes`` units."""
        if self.nbytes is not None:
            if not costs.sized:
                raise SearchError(f"--memory-limit: {self.text!r} is a size but these costs carry no activation "
                                  "sizes; give a model scenario (or costs.activation_bytes), or use 1p, 2p, ...")
            return (self.nbytes,) * layout.num_devices
        k = self.per_p or 0.0
        return tuple(k * layout.num_devices * s for s in device_share(layout, costs))


def parse_memory_limit(text: str | None) -> MemoryLimit | None:
    """``1p``, ``1.5p``, ``2p`` or a size (``40 GB``, ``3e10``); None or ``none``: unbounded."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    m = _PER_P.match(text)
    if m:
        k = float(m.group(1))
        if not (math.isfinite(k) and k > 0):
            raise SearchError(f"--memory-limit: {text!r}; k in kp must be > 0 (1p is 1F1B's activation memory)")
        return MemoryLimit(text.strip(), per_p=k)
    try:
        nbytes = parse_size(text, key="--memory-limit")
    except ValueError:
        raise SearchError(f"--memory-limit: {text!r} is neither kp (1p, 2p: multiples of 1F1B's activation "
                          "memory) nor a size such as '40 GB'") from None
    if not (math.isfinite(nbytes) and nbytes > 0):
        raise SearchError(f"--memory-limit: {text!r}; a size must be > 0")
    return MemoryLimit(text.strip(), nbytes=nbytes)


def device_share(layout: Layout, costs: Costs) -> tuple[float, ...]:
    """Per device, the activations one microbatch stashes on its share of one model copy."""
    copies = layout.num_stages / max(layout.num_parts, 1)
    out = [0.0] * layout.num_devices
    for s, d in enumerate(layout.stage_device):
        out[d] += costs.activation_bytes[s]
    return tuple(x / copies for x in out)


def least_memory(layout: Layout, costs: Costs) -> tuple[float, ...]:
    """Per device, what any order must be able to stash: one microbatch's activations on every
    stage of its route that the device holds (its forwards there all run before its first
    backward there can), for the worst route."""
    out = [0.0] * layout.num_devices
    dev = layout.stage_device
    for route in layout.routes:
        held = [0.0] * layout.num_devices
        for s in route:
            held[dev[s]] += costs.activation_bytes[s]
        out = [max(a, b) for a, b in zip(out, held, strict=True)]
    return tuple(out)


def check_fits(limit: MemoryLimit, layout: Layout, costs: Costs, label: str) -> tuple[float, ...]:
    """The per-device bound, or a ``SearchError`` naming the device and the least that fits."""
    bound = limit.per_device(layout, costs)
    need = least_memory(layout, costs)
    for d, (b, n) in enumerate(zip(bound, need, strict=True)):
        if b < n * (1 - 1e-9):
            if limit.per_p is not None:
                share = device_share(layout, costs)[d] * layout.num_devices
                least = f"{n / share:.3g}p" if share > 0 else "more"
            else:
                least = f"{n:.4g} bytes"
            raise SearchError(f"--memory-limit: {limit.text} is below what any order of {label} needs on device {d} "
                              f"(one microbatch's activations on its stages, {n:.4g}); give at least {least}")
    return bound


@dataclass(frozen=True)
class Budget:
    text: str
    evals: int | None = None
    seconds: float | None = None

    def share(self, fraction: float, parts: int, workers: int = 1) -> tuple[int | None, float | None]:
        """``(max_evals, max_seconds)`` for one of ``parts`` searches that get ``fraction`` of
        the budget between them, ``workers`` at a time (at least one evaluation each)."""
        parts = max(parts, 1)
        evals = None if self.evals is None else max(1, int(self.evals * fraction) // parts)
        rounds = math.ceil(parts / max(workers, 1))
        seconds = None if self.seconds is None else self.seconds * fraction / rounds
        return evals, seconds


def parse_budget(text: str | None) -> Budget | None:
    """``30s`` / ``2 min`` (seconds) or a whole number of evaluations (``2000``); None: unbounded."""
    if text is None:
        return None
    raw = text.strip()
    if re.fullmatch(r"[0-9]+", raw):
        evals = int(raw)
        if evals < 1:
            raise SearchError(f"--budget: {text!r} evaluations; give at least 1 (or a time such as 30s)")
        return Budget(raw, evals=evals)
    try:
        seconds = parse_time(raw, key="--budget")
    except ValueError:
        raise SearchError(f"--budget: {text!r} is neither a time (30s, 2 min) nor a whole number of "
                          "evaluations (2000)") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise SearchError(f"--budget: {text!r}; a time budget must be > 0 (e.g. 30s)")
    return Budget(raw, seconds=seconds)
