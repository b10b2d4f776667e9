"""The search's two bounds, parsed once: the memory limit per device and the budget.

Memory limit. ``kp`` is k times the activation memory 1F1B holds on a device: k x p
microbatches of one microbatch's stash on that device along a route (the Zero Bubble paper's
1p and 2p, M_B its per-microbatch activations; ``pipesim.search.problem.activation_limit``, the
order search's own unit), so ``1p`` is the same bytes for 1F1B, interleaved and V shapes at
equal work, and Chimera's two replicas on a device count once. ``BYTES`` ("40 GB", "3e10") bounds each device's stashed activations directly;
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
from pipesim.search.problem import activation_limit, build_problem
from pipesim.search.problem import least_memory as order_least_memory
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
        return tuple(activation_limit(layout, costs, (self.per_p or 0.0) * layout.num_devices))


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


def least_memory(layout: Layout, costs: Costs) -> tuple[float, ...]:
    """Per device, what any order must be able to stash (the order search's own bound,
    ``pipesim.search.problem.least_memory``: one microbatch's activations on the device)."""
    problem = build_problem(layout, costs, split_backward=False, message_delay=0.0, edge_delay=None)
    return tuple(order_least_memory(problem))


def check_fits(limit: MemoryLimit, layout: Layout, costs: Costs, label: str) -> tuple[float, ...]:
    """The per-device bound, or a ``SearchError`` naming the device and the least that fits."""
    bound = limit.per_device(layout, costs)
    need = least_memory(layout, costs)
    share = activation_limit(layout, costs, layout.num_devices)  # 1p
    for d, (b, n) in enumerate(zip(bound, need, strict=True)):
        if b < n * (1 - 1e-9):
            if limit.per_p is not None:
                least = f"{n / share[d]:.3g}p" if share[d] > 0 else "more"
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
