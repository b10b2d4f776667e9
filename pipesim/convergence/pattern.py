"""The staleness pattern a convergence run replays, taken from a schedule.

For every stage s and every microbatch k of a run of ``iterations`` x m microbatches a
``Pattern`` holds three integers:

* ``forward[s, k]`` -- the weight version stage s's forward of k used (and, with weight
  stashing, its backward too);
* ``backward[s, k]`` -- the newest version when that backward ran (what a stage without
  stashing computes its backward with);
* ``update[s, k]`` -- which of stage s's updates applies k's gradient (update u turns version u
  into u + 1; -1 if none does inside the run).

They come from ``pipesim.staleness`` (which reads the schedule's per-device order), so the
pattern is the schedule's, not a formula's: PipeDream's warm-up, where the first microbatches
all read version 0, is in it. Synchronous schedules are one flushed iteration; their pattern
is tiled: iteration i reads version i everywhere and is applied as update i.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MODES = ("sync", "pipedream", "2bw", "constant")


@dataclass(frozen=True, eq=False)
class Pattern:
    name: str
    mode: str
    microbatches: int  # per iteration (m)
    iterations: int
    forward: np.ndarray  # int [stages, iterations * m]
    backward: np.ndarray
    update: np.ndarray

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"pattern mode: {self.mode!r}; valid: {', '.join(MODES)}")
        if self.microbatches < 1 or self.iterations < 1:
            raise ValueError(f"pattern: m={self.microbatches}, iterations={self.iterations}; both must be >= 1")
        shape = (self.forward.shape[0], self.microbatches * self.iterations)
        for what in ("forward", "backward", "update"):
            arr = getattr(self, what)
            if arr.ndim != 2 or arr.shape != shape:
                raise ValueError(f"pattern {what}: shape {arr.shape}; expected {shape} (stages x iterations*m)")
        applied = self.update >= 0
        if np.any(self.forward < 0) or np.any(self.backward < self.forward):
            raise ValueError("pattern: a backward read an older version than its forward, or a version is < 0")
        if np.any(applied & (self.update < self.forward)):
            raise ValueError("pattern: a gradient is applied before the version it was computed on exists")

    @property
    def stages(self) -> int:
        return int(self.forward.shape[0])

    @property
    def total(self) -> int:
        return int(self.forward.shape[1])

    def delays(self) -> np.ndarray:
        """Per stage and microbatch: updates between the version read and the one the gradient
        is applied to (-1 where it is never applied)."""
        return np.where(self.update >= 0, self.update - self.forward, -1)

    def fingerprint(self) -> bytes:
        """Equal for patterns that train identically (the name does not matter)."""
        head = np.array([self.stages, self.microbatches, self.iterations], dtype=np.int64)
        return b"".join(a.astype(np.int64).tobytes() for a in (head, self.forward, self.backward, self.update))

    def summary(self) -> dict[str, Any]:
        d = self.delays()
        ok = d >= 0
        return {
            "schedule": self.name, "mode": self.mode, "stages": self.stages, "microbatches": self.microbatches,
            "iterations": self.iterations,
            "max_delay": [int(d[s][ok[s]].max(initial=0)) for s in range(self.stages)],
            "mean_delay": [float(d[s][ok[s]].mean()) if ok[s].any() else 0.0 for s in range(self.stages)],
            "updates": [int(self.update[s].max(initial=-1)) + 1 for s in range(self.stages)],
        }


def _tiled(stages: int, m: int, iterations: int, delay: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    it = np.repeat(np.arange(iterations, dtype=np.int64), m)
    now = np.tile(it, (stages, 1))
    return np.maximum(now - delay, 0), now.copy(), now.copy()


def synchronous(name: str, stages: int, microbatches: int, iterations: int) -> Pattern:
    """A flushed schedule: every microbatch of iteration i reads version i, update i applies them."""
    return Pattern(name, "sync", microbatches, iterations, *_tiled(stages, microbatches, iterations, 0))


def constant_delay(stages: int, microbatches: int, iterations: int, delay: int) -> Pattern:
    """Delayed gradient descent: one update per iteration computed on the version ``delay``
    updates old (version 0 until that exists). ``delay`` = 1 is PipeDream-2BW's pattern."""
    if delay < 0:
        raise ValueError(f"delay: {delay}; must be >= 0")
    return Pattern(f"delay-{delay}", "constant", microbatches, iterations,
                   *_tiled(stages, microbatches, iterations, delay))


def from_report(report: Any, microbatches: int, iterations: int, name: str | None = None) -> Pattern:
    """The pattern of a ``pipesim.staleness.StalenessReport`` (its per-microbatch versions and
    update groups), cut to ``iterations`` x ``microbatches``; synchronous reports are tiled."""
    stages = len(report.stages)
    label = name or report.schedule
    if report.mode == "sync":
        return synchronous(label, stages, microbatches, iterations)
    total = microbatches * iterations
    fwd = np.zeros((stages, total), dtype=np.int64)
    bwd = np.zeros_like(fwd)
    upd = np.full_like(fwd, -1)
    for s, st in enumerate(report.stages):
        if not st.update_groups or not st.backward_versions:
            raise ValueError(f"staleness report of '{label}': stage {s} lacks backward versions or update groups")
        fv, bv = dict(st.forward_versions), dict(st.backward_versions)
        missing = [k for k in range(total) if k not in fv or k not in bv]
        if missing:
            raise ValueError(f"staleness report of '{label}': stage {s} has no microbatch {missing[0]}; "
                             f"the schedule streams fewer than iterations={iterations} x m={microbatches}")
        fwd[s] = [fv[k] for k in range(total)]
        bwd[s] = [bv[k] for k in range(total)]
        for u, group in enumerate(st.update_groups):
            if max(group) >= total:  # an update that needs microbatches past the run, and all after it
                break
            upd[s, list(group)] = u
    return Pattern(label, report.mode, microbatches, iterations, fwd, bwd, upd)


def from_schedule(schedule: Any, iterations: int) -> Pattern:
    """The pattern of ``schedule`` over ``iterations`` iterations. A streamed (asynchronous)
    schedule that simulates fewer iterations is generated again with ``iterations``."""
    import pipesim
    from pipesim.staleness import staleness

    if iterations < 1:
        raise ValueError(f"--iterations: {iterations}; must be >= 1")
    report = staleness(schedule)
    m = int(schedule.options.get("microbatches_per_iteration") or schedule.num_microbatches)
    if report.mode != "sync" and int(schedule.options.get("iterations", 1)) < iterations:
        gen = pipesim.registry().get(schedule.name)
        opts: dict[str, Any] = {o.name: schedule.options[o.name] for o in gen.options if o.name in schedule.options}
        opts["iterations"] = iterations
        schedule = pipesim.generate(schedule.name, schedule.num_devices, m, **opts)
        report = staleness(schedule)
    return from_report(report, m, iterations, schedule.name)


def for_schedule(name: str, p: int, m: int, iterations: int, **options: Any) -> Pattern:
    """``from_schedule`` of ``pipesim.generate(name, p, m, **options)``."""
    import pipesim

    return from_schedule(pipesim.generate(name, p, m, **options), iterations)
