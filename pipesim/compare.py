"""Compare schedules on one scenario at equal work: which schedule on this cluster?

Every requested schedule runs on the same scenario (model, GPU, topology, microbatches); only
``schedule.name`` changes and its options fall back to the generator's defaults. Equal work
holds by construction: a model-based scenario cuts the model into each schedule's own parts
(p for 1F1B, p·v for interleaved, 2p for V shapes, 2Wp for Hanayo, p for Chimera/DualPipe)
with a split balanced by cost for that schedule's layout (``model.layers_per_stage:
balanced``, ``pipesim.scenario.split``: the busiest device's load, embedding and LM head
included, is minimised, then the slowest stage), so that no schedule runs on a split written
for another. ``split="scenario"`` keeps the scenario's own list for the schedules whose part
count it fits (the row says when it fell back). A costs-based scenario must give its costs
``per: device`` (one device's share of one model copy), which ``scenario.build`` divides among
each schedule's stages.

Each schedule is evaluated at the table level (free network) and simulated (the scenario's
network), then checked against the GPU memory. A schedule that cannot be built (a regime
requirement, a bad split) or does not fit is reported *infeasible* with the reason; the rest
are ranked by simulated iteration time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipesim.schedule.registry import Registry


class CompareError(ValueError):
    """A bad request to ``compare`` (unknown schedule, bad microbatch count)."""


@dataclass
class Row:
    """One schedule's result; times in seconds (or slots), memory in bytes or stage units."""

    schedule: str
    feasible: bool
    reason: str = ""
    note: str = ""
    microbatches: int | None = None
    stages: int | None = None
    table_time: float | None = None
    iteration_time: float | None = None
    samples_per_s: float | None = None
    peak_memory: float | None = None
    memory_unit: str = ""
    memory_limit: float | None = None
    bubble_compute: float | None = None  # idle the schedule's order leaves, over devices x makespan
    bubble_comm: float | None = None  # waiting for data in flight, over devices x makespan
    bubble_collective: float | None = None  # time in gradient collectives beyond the table level's
    bubble_table: float | None = None  # the table level's bubble ratio (free network)
    bytes_moved: float | None = None
    weight_copies: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_schedules(spec: str | None, registry: Registry) -> list[str]:
    """``a,b,c`` or ``all`` (every registered schedule) -> canonical names, in the given order."""
    if spec is None or spec.strip().lower() == "all":
        return registry.names()
    names: list[str] = []
    for item in spec.split(","):
        if not item.strip():
            continue
        try:
            names.append(registry.get(item).name)
        except ValueError as exc:
            raise CompareError(f"--schedules: {exc}") from None
    if not names:
        raise CompareError(f"--schedules: {spec!r} names no schedule; give a,b,c or all ({', '.join(registry.names())})")
    return list(dict.fromkeys(names))


SPLITS = ("balanced", "scenario")


def compare(source: str | Path, schedules: Sequence[str], *, overrides: Sequence[str] = (),
            microbatches: int | None = None, simulate: bool = True,
            traces: dict[str, Any] | None = None, split: str = "balanced") -> list[Row]:
    """Run every schedule in ``schedules`` on the scenario ``source``; rows ranked best first.
    ``traces``, when given, receives each built schedule's trace (simulated, else table level).
    ``split``: ``balanced`` (every schedule on its own cost-balanced layer split) or
    ``scenario`` (the scenario's ``model.layers_per_stage`` where it fits)."""
    if microbatches is not None and microbatches < 1:
        raise CompareError(f"--microbatches: {microbatches}; must be a whole number >= 1")
    if split not in SPLITS:
        raise CompareError(f"--split: {split!r}; valid: {', '.join(SPLITS)}")
    base = list(overrides)
    if microbatches is not None:
        base.append(f"parallel.microbatches={microbatches}")
    rows = [_one(source, name, base, simulate, traces, split) for name in schedules]
    return rank(rows)


def rank(rows: list[Row]) -> list[Row]:
    """Feasible rows by iteration time (table time without simulation), then infeasible ones."""
    def key(r: Row) -> tuple[int, float]:
        t = r.iteration_time if r.iteration_time is not None else r.table_time
        return (0 if r.feasible else 1, t if t is not None else float("inf"))

    return sorted(rows, key=key)


def _build(source: str | Path, name: str, overrides: list[str], split: str) -> tuple[Any, str]:
    from pipesim.scenario import build, load_scenario

    ov = [*overrides, f"schedule.name={name}", "schedule.options={}"]
    sc = load_scenario(source, ov)
    if sc.model is None:
        return build(sc), ""
    note = ""
    if split == "scenario" and isinstance(sc.model.layers_per_stage, tuple):
        try:
            return build(sc), ""
        except ValueError as exc:
            if "layers_per_stage" not in str(exc):
                raise
        note = "balanced layer split (the scenario's is for another part count)"
    return build(load_scenario(source, [*ov, "model.layers_per_stage=balanced"])), note


def _one(source: str | Path, name: str, overrides: list[str], simulate: bool,
         traces: dict[str, Any] | None, split: str) -> Row:
    from pipesim.runner import run_built

    try:
        built, note = _build(source, name, overrides, split)
    except ValueError as exc:
        return Row(name, False, reason=_one_line(exc))
    sched = built.schedule
    costs_per = built.scenario.costs.per if built.scenario.costs is not None else None
    if costs_per == "stage" and sched.layout.num_parts != sched.num_devices:
        # Per-stage numbers give each of a chunked schedule's stages a whole stage's work.
        note = "; ".join(x for x in (note, "costs per stage: not equal work (use costs.per: device)") if x)
    row = Row(name, True, note=note, microbatches=built.microbatches, stages=sched.num_stages,
              memory_limit=built.memory_limit)
    if built.workload is not None:
        row.extra["layers_per_part"] = [s.layers for s in built.workload.stages]
    row.extra["order_message_delay"] = built.message_delay
    try:
        outcome = run_built(built, "table")
    except ValueError as exc:
        return Row(name, False, reason=_one_line(exc), note=note)
    table = outcome.metrics
    row.table_time = float(table["iteration_time"])
    row.bubble_table = float(table["bubble_ratio"])
    row.memory_unit = str(table.get("memory_unit", ""))
    if costs_per == "device" and row.memory_unit != "bytes":
        row.memory_unit = "model-stage"  # a device's share of one model copy per microbatch
    row.weight_copies = max(table["weight_copies"])
    row.extra["compute_time"] = float(sum(table["busy"]))  # equal work: the same for every schedule
    metrics = table
    if simulate:
        outcome = run_built(built, "sim")
        metrics = outcome.metrics
        devices = len(metrics["busy"]) or 1
        area = devices * metrics["makespan"] if metrics["makespan"] > 0 else 1.0
        row.bubble_comm = sum(metrics.get("waiting_for_data", [])) / area
        row.bubble_compute = sum(metrics.get("idle_by_schedule", [])) / area
        # The simulator counts a device holding a gradient all-reduce as busy; the table level
        # gives collectives no time, so the busy time beyond the table's is collective time.
        # The levels add the same compute times differently (the table its durations, the
        # simulation end - start), so a difference within rounding is none.
        beyond = sum(metrics["busy"]) - sum(table["busy"])
        row.bubble_collective = (beyond if beyond > 1e-12 * sum(table["busy"]) else 0.0) / area
        row.bytes_moved = float(metrics.get("bytes_moved", 0.0))
    else:
        row.bubble_compute = row.bubble_table
    if traces is not None:
        traces[name] = outcome.trace
    row.iteration_time = float(metrics["iteration_time"])
    row.samples_per_s = float(metrics["samples_per_s"])
    peak = metrics.get("peak_memory_bytes") or metrics.get("peak_memory_units") or [0.0]
    row.peak_memory = float(max(peak))
    if built.memory_limit is not None and metrics.get("memory_unit") == "bytes" and row.peak_memory > built.memory_limit:
        row.feasible = False
        row.reason = (f"out of memory: peak {row.peak_memory / 1e9:.1f} GB > GPU memory "
                      f"{built.memory_limit / 1e9:.1f} GB")
    return row


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
