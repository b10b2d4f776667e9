"""What a search hands back: the ranked table (every plan tried, and every named schedule on
the same problem), the JSON document, and the files of the output folder.

The best order is written as PyTorch's CSV. A CSV names stages, not devices; its reader infers
a chain-numbered route (1F1B, interleaved, V shapes, Hanayo), so layouts it cannot infer
(Chimera's two routes and replicated parts) also get ``layout.json``: stage -> device, stage ->
model part, the routes and each microbatch's route (``pipesim.schedule.Layout``'s fields).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipesim.schedule.layout_file import layout_document, write_layout
from pipesim.schedule.table import Schedule
from pipesim.search.plan import PlanResult, describe
from pipesim.search.variant import Base

COLUMNS = ("rank", "what", "source", "plan", "table_time", "sim_time", "bubble_ratio", "peak_memory", "status",
           "reason")


@dataclass
class Row:
    what: str  # "search" or "named"
    plan: str
    table_time: float | None
    sim_time: float | None = None
    bubble_ratio: float | None = None
    peak: float | None = None
    status: str = "ok"
    reason: str = ""
    source: str = ""

    @property
    def key(self) -> tuple[int, float]:
        """Simulated rows first (by simulated time), then rows timed at the table level only,
        then rows that could not run: a table-level time is a lower bound on the network."""
        if self.status != "ok":
            return (2, float("inf"))
        if self.sim_time is not None:
            return (0, self.sim_time)
        return (1, self.table_time if self.table_time is not None else float("inf"))


def search_rows(result: PlanResult) -> list[Row]:
    out = []
    for t in result.tried:
        src = t.source if t is not result.best else f"{t.source} (best)"
        out.append(Row("search", t.plan.label(), t.table_time, t.sim_time, t.bubble_ratio, t.peak_memory, t.status,
                       t.reason, src))
    return out


def named_rows_scenario(source: str | Path, overrides: Sequence[str], microbatches: int | None) -> list[Row]:
    """Every registry schedule on the base scenario (``pipesim compare``'s rows: table level,
    then simulated; infeasible with the reason)."""
    from pipesim.compare import compare
    from pipesim.schedule import Registry

    rows = compare(source, Registry.default().names(), overrides=overrides, microbatches=microbatches)
    return [Row("named", r.schedule, r.table_time, r.iteration_time, r.bubble_table, r.peak_memory,
                "ok" if r.feasible else "infeasible", r.reason, "generator") for r in rows]


def over_limit(rows: Sequence[Row], result: PlanResult, limit_text: str | None) -> list[Row]:
    """The named rows whose stashed activations exceed the memory limit marked so (they are
    not candidates for the answer; the search's answer is no slower than every other one)."""
    over = {n.name for n in result.floor if not n.fits}
    if not over or limit_text is None:
        return list(rows)
    return [replace(r, status="over limit", reason=f"stashed activations exceed --memory-limit {limit_text}")
            if r.what == "named" and r.status == "ok" and r.plan in over else r for r in rows]


def named_rows_table(base: Base, microbatches: int) -> list[Row]:
    """Every registry schedule on the table form's problem: its costs divided among each
    schedule's stages (equal work), timed with the constant delay."""
    from pipesim.costs import Costs
    from pipesim.ideal import evaluate
    from pipesim.plan import finalize
    from pipesim.schedule import Registry

    reg = Registry.default()
    p = base.devices or 1
    out = []
    for name in reg.names():
        peak: float | None
        try:
            sched = reg.generate(name, p, microbatches)
            scale = p / max(sched.layout.num_parts, 1)

            def get(key: str, scale: float = scale) -> float | None:
                return base.costs[key] * scale if key in base.costs else None

            costs = Costs.make(sched.num_stages, F=get("F") or 0.0, B=get("B"), I=get("I"), W=get("W"))
            if reg.get(name).cost_aware:
                sched = reg.generate(name, p, microbatches, costs=costs)
            res = evaluate(finalize(sched, costs), costs, message_delay=base.delay)
        except ValueError as exc:
            out.append(Row("named", name, None, status="infeasible", reason=str(exc).splitlines()[0],
                           source="generator"))
            continue
        met = res.metrics()
        peak = max(met.get("peak_memory_bytes") or met.get("peak_memory_units") or [0.0])
        out.append(Row("named", name, res.makespan, None, res.bubble_ratio, peak, source="generator"))
    return out


def ranked(rows: Sequence[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (*r.key, r.what, r.plan))


def write_ranked(rows: Sequence[Row], stem: Path) -> None:
    """``stem.csv`` (every column) and ``stem.md`` (a markdown table)."""
    table = [_cells(i, r) for i, r in enumerate(ranked(rows), 1)]
    with open(stem.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(table)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


def _cells(rank: int, r: Row) -> list[str]:
    return [str(rank) if r.status == "ok" else "", r.what, r.source, r.plan, _num(r.table_time), _num(r.sim_time),
            "" if r.bubble_ratio is None else f"{r.bubble_ratio:.4f}", _num(r.peak), r.status, r.reason]


def needs_layout_file(schedule: Schedule) -> bool:
    """Whether the CSV alone reads back into another layout (several routes, replicas)."""
    from pipesim.schedule.torch_csv import read_csv, write_csv

    try:
        return read_csv(write_csv(schedule), num_microbatches=schedule.num_microbatches).layout != schedule.layout
    except ValueError:
        return True


def write_best(schedule: Schedule, folder: Path) -> list[Path]:
    """``best.csv`` and, where the CSV cannot carry it, ``layout.json``."""
    from pipesim.schedule.torch_csv import write_csv

    out = [folder / "best.csv"]
    write_csv(schedule, out[0])
    if needs_layout_file(schedule):
        out.append(folder / "layout.json")
        write_layout(schedule.layout, out[1])
    return out


def json_document(result: PlanResult, metrics: dict[str, Any]) -> dict[str, Any]:
    """``{"metrics": ..., "schedule": ..., "plan": ..., "free_network": ..., "tried": ..., "notes": ...}``."""
    sched = result.best_scored.schedule
    keep = ("makespan", "iteration_time", "bubble_ratio", "span_bubble_ratio", "peak_activations",
            "peak_memory_bytes", "peak_memory_units", "memory_unit", "busy", "bytes_moved", "weight_copies")
    out_metrics = {k: metrics[k] for k in keep if k in metrics}
    out_metrics["level"] = result.level
    out_metrics["table_time"] = result.best.table_time
    free = result.free_best
    return {
        "metrics": out_metrics,
        "schedule": {"name": sched.name, "devices": sched.num_devices, "microbatches": sched.num_microbatches,
                     "stages": sched.num_stages, "actions": sched.as_strings(),
                     "layout": layout_document(sched.layout)},
        "plan": describe(result),
        "free_network": {"plan": free.plan.label(), "table_time": free.table_time,
                         "sim_time": result.free_scored.makespan if result.free_scored else None,
                         "same_order": free.schedule is not None and free.schedule.actions == sched.actions},
        "evaluations": result.evaluations,
        "tried": [{"plan": t.plan.label(), "status": t.status, "reason": t.reason, "table_time": t.table_time,
                   "sim_time": t.sim_time} for t in result.tried],
        "notes": result.notes,
    }
