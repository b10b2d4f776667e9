"""Run one built scenario at the table or simulation level and collect its metrics.

`pipesim run`, `pipesim levels` and `pipesim sweep` all go through here, so a number in a
sweep's results.csv means exactly what the same key means in `pipesim run --json`. The
schedule is compiled and validated once (``pipesim.timeline``) and handed to the level.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from pipesim.budget import chunks_per_message
from pipesim.timeline import compile_schedule
from pipesim.trace import Trace

Level = Literal["table", "sim"]
LEVELS: tuple[str, ...] = ("table", "sim")


@dataclass
class Outcome:
    level: Level
    metrics: dict[str, Any]
    result: Any  # TableResult or SimResult
    trace_meta: dict[str, Any] = field(default_factory=dict)

    traced: bool = True  # False: run with ``trace=False``, which keeps no trace

    @cached_property
    def trace(self) -> Trace:
        """The run's trace, built on first use: a caller that reads only metrics never pays for it."""
        if not self.traced:
            raise ValueError("this run kept no trace (run_built(..., trace=False)); run it again with trace=True")
        trace = self.result.trace() if self.level == "table" else self.result.trace
        trace.meta.update(self.trace_meta)
        return trace


def run_built(built: Any, level: Level = "sim", *, trace: bool = True,
              progress: Callable[[int, int, float], None] | None = None) -> Outcome:
    """Evaluate ``built`` (a ``pipesim.scenario.build.Built``) and add throughput figures.

    ``trace=False``: the caller reads only metrics, so the simulation keeps no per-transfer
    records (what the trace's link spans and messages are built from), only per-link counters;
    a long run's memory then grows by its per-action times alone. The metrics are the same.
    ``progress``: see ``pipesim.sim.engine.Simulation.run`` (the simulation level only)."""
    if level not in LEVELS:
        raise ValueError(f"--level: '{level}' is not a level; choose table or sim")
    # The table level does its own deadlock dry run (a guessed order, else the walk that also
    # times the actions): validated, the schedule is walked at most once.
    compiled = compile_schedule(built.schedule, built.costs, check=built.sim_options.validate,
                                dry_run=level != "table")
    budget = built.scenario.limits.budget
    result: Any
    if level == "table":
        from pipesim.ideal import run_table

        result = run_table(compiled, grad_sync=built.sim_options.grad_sync)
    else:
        from pipesim.sim.engine import Simulation

        budget.check(simulation_events(compiled, built.sim_options), f"scenario {built.scenario.name!r}")
        options = built.sim_options if trace else replace(built.sim_options, record_links=False)
        result = Simulation(built.schedule, built.costs, built.topology, options, compiled=compiled).run(progress)
    metrics = result.metrics()
    makespan = metrics["makespan"]
    iterations = max(1, int(getattr(built, "iterations_in_schedule", 1) or 1))
    samples = built.samples_per_iteration * iterations
    tokens = (built.tokens_per_iteration or 0) * iterations
    metrics["scenario"] = built.scenario.name
    metrics["iterations_simulated"] = iterations
    metrics["iteration_time"] = makespan / iterations if makespan > 0 else 0.0
    metrics["samples_per_s"] = samples / makespan if makespan > 0 else 0.0
    metrics["tokens_per_s"] = tokens / makespan if makespan > 0 and tokens else None
    metrics["memory_limit_bytes"] = built.memory_limit
    peak = metrics.get("peak_memory_bytes")
    if peak:
        metrics["max_peak_memory_bytes"] = max(peak)
        metrics["fits_in_memory"] = built.memory_limit is None or max(peak) <= built.memory_limit
    if built.schedule.options.get("weight_update") or built.schedule.name.startswith("pipedream"):
        metrics["staleness"] = _staleness(built)
    meta = {"scenario": built.scenario.name, "scenario_hash": scenario_hash(built.scenario), "makespan": makespan,
            "bubble_ratio": metrics["bubble_ratio"]}
    if built.memory_limit is not None:
        meta["memory_limit"] = built.memory_limit
    return Outcome(level, metrics, result, meta, traced=trace or level == "table")


def simulation_events(compiled: Any, options: Any) -> float:
    """A lower estimate of the simulation's events (``pipesim.budget``): every compute action,
    and every message once per chunk on at least one link, for each data-parallel copy."""
    # Only fixed chunks are simulated as chunks; ``auto`` and ``fluid`` messages are one flow.
    chunk = options.chunking.size if options.chunking.mode == "fixed" else None
    nbytes = compiled.messages.nbytes
    transfers = float(len(nbytes)) if chunk is None else sum(chunks_per_message(b, chunk) for b in nbytes)
    return options.dp * (len(compiled.durations) + transfers)


def scenario_hash(scenario: Any) -> str:
    """A short hash of the resolved scenario (every value after defaults and overrides): two
    traces with the same hash came from the same input."""
    from pipesim.scenario import scenario_to_dict

    text = json.dumps(scenario_to_dict(scenario), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _staleness(built: Any) -> dict[str, Any]:
    """Per-stage weight versions and gradient delays. Devices run their lists in order at both
    levels, so list order is the timeline order here."""
    from pipesim.staleness import staleness

    report = staleness(built.schedule)
    return {"mode": report.mode, "stages": report.summary()}
