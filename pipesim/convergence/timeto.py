"""Time to target: iterations to reach a loss x the schedule's simulated time per iteration.

For each schedule the scenario is run with ``schedule.name`` overridden (``pipesim.run``;
its ``metrics["iteration_time"]`` is the time per iteration on the scenario's cluster), the
built schedule's staleness pattern is replayed on the problem for every seed
(``run_stale``), and the two are multiplied. Schedules with the same pattern -- every
synchronous schedule of the same shape -- train identically, so each pattern is trained once
per seed and shared.

Bands are Student-t 95% confidence intervals of the mean over seeds; a schedule counts as
reaching the target only if every seed does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipesim.convergence.executor import Curve, Training, run_stale
from pipesim.convergence.pattern import Pattern, from_schedule
from pipesim.convergence.problems import Problem

# Two-sided 95% Student-t quantiles for 1..30 degrees of freedom (standard tables); 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042)
DEFAULT_SCHEDULES = ("1f1b", "zb-h1", "pipedream", "pipedream-2bw")


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and its 95% t-interval (lo = hi = mean for one value)."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean, mean
    half = (_T95[len(x) - 2] if len(x) - 1 <= len(_T95) else 1.96) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


@dataclass(frozen=True, eq=False)
class Outcome:
    """One schedule: its pattern, time per iteration and one curve per seed."""

    schedule: str
    pattern: Pattern
    time_per_iteration_s: float
    iterations_simulated: int
    curves: tuple[Curve, ...]
    target: float

    def per_seed(self) -> list[int | None]:
        return [c.iterations_to(self.target) for c in self.curves]

    def row(self) -> dict[str, Any]:
        """The JSON-ready summary (``pipesim converge --json`` prints a list of these)."""
        its = self.per_seed()
        reached = [i for i in its if i is not None]
        summary = self.pattern.summary()
        final = float(np.mean([c.loss[-1] for c in self.curves]))
        out: dict[str, Any] = {
            "schedule": self.schedule, "mode": self.pattern.mode, "stages": self.pattern.stages,
            "microbatches": self.pattern.microbatches, "max_delay": max(summary["max_delay"]),
            "time_per_iteration_s": self.time_per_iteration_s, "iterations_simulated": self.iterations_simulated,
            "seeds": len(its), "reached": len(reached), "iterations_to_target_per_seed": its,
            "iterations_to_target": None, "iterations_to_target_ci": None,
            "time_to_target_s": None, "time_to_target_ci_s": None,
            "final_loss": final if math.isfinite(final) else None,  # None: a seed diverged
            "diverged": sum(c.diverged for c in self.curves),
        }
        if its and len(reached) == len(its):
            mean, lo, hi = mean_ci(reached)
            t = self.time_per_iteration_s
            out.update({"iterations_to_target": mean, "iterations_to_target_ci": [lo, hi],
                        "time_to_target_s": mean * t, "time_to_target_ci_s": [lo * t, hi * t]})
        return out

    def band(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Wall-clock times and the median, min and max loss over seeds at each evaluation
        (seeds that stopped early, e.g. diverged, drop out of later points)."""
        n = max(len(c.loss) for c in self.curves)
        grid = np.full((len(self.curves), n), np.nan)
        for i, c in enumerate(self.curves):
            grid[i, :len(c.loss)] = np.where(np.isfinite(c.loss), c.loss, np.nan)
        longest = max(self.curves, key=lambda c: len(c.loss))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns after every seed diverged
            return (longest.iterations * self.time_per_iteration_s, np.nanmedian(grid, axis=0),
                    np.nanmin(grid, axis=0), np.nanmax(grid, axis=0))


def rank(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Fastest time to target first; schedules that miss it after, by final loss."""
    def key(o: Outcome) -> tuple[float, float]:
        r = o.row()
        ttt = r["time_to_target_s"]
        loss = r["final_loss"] if r["final_loss"] is not None else math.inf
        return (ttt if ttt is not None else math.inf, loss)

    return sorted(outcomes, key=key)


def time_to_target(scenario: str | Path | Mapping[str, Any], problem: Problem, target: float,
                   training: Training, *, schedules: Sequence[str] = DEFAULT_SCHEDULES, seeds: int = 3,
                   iterations: int = 200, overrides: Sequence[str] = (), level: str = "sim",
                   progress: Callable[[str], None] | None = None) -> list[Outcome]:
    """Every schedule's time to ``target`` on ``scenario``'s cluster, ranked."""
    import pipesim

    if seeds < 1:
        raise ValueError(f"--seeds: {seeds}; must be >= 1")
    if not math.isfinite(target):
        raise ValueError(f"--target: {target}; must be a finite loss")
    if not schedules:
        raise ValueError("--schedules: give at least one schedule name")
    trained: dict[bytes, tuple[Curve, ...]] = {}
    out = []
    for name in schedules:
        sets = [*overrides, f"schedule.name={name}"]
        try:
            built = pipesim.build(pipesim.load_scenario(scenario, sets))
        except ValueError as exc:
            raise ValueError(f"--schedules {name}: {str(exc).splitlines()[0]}") from None
        metrics = pipesim.run(built, level=level).metrics  # type: ignore[arg-type]
        pattern = from_schedule(built.schedule, iterations)
        key = pattern.fingerprint()
        if key not in trained:
            if progress:
                progress(f"training {problem.name} with the staleness of {name} ({seeds} seeds)")
            trained[key] = tuple(run_stale(problem, pattern, training, seed) for seed in range(seeds))
        out.append(Outcome(name, pattern, float(metrics["iteration_time"]), int(metrics["iterations_simulated"]),
                           trained[key], target))
    return rank(out)
