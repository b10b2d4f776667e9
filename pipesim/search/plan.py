"""The plan search: every plan of the space searched at the table level, the best few re-scored
on the scenario's network (with measured delays fed back to the order search), one winner.

Work is bounded before it starts: the space is counted (``space.Axes.count``) and, when it holds
more plans than ``max_plans`` (or than the evaluation budget), a seeded sample is tried and the
result says so. The budget is shared out up front: 70% to the table-level searches, one per
plan, and 30% to the network rounds of ``rescore`` plans (the table level's best plan of each
layout first, since the network can reverse the ranking of layouts, then the next best). Plans run on the sweep's
executors (``pipesim.sweep.map_items``: a process pool, or Dask), in plan order, so the result
does not depend on ``jobs``.

Ranking: plans of one search share the global batch, so their makespans compare directly. A
plan is *tried* when it builds and some order of it fits the memory limit; the winner is the
fastest simulated order among the re-scored plans (the table form, without a network, ranks by
the table level with its constant delay), unless a named schedule on the base scenario that fits
the memory limit is faster on the network (``floor``): then that named order is the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipesim.ideal import evaluate
from pipesim.schedule.table import Schedule
from pipesim.search.errors import SearchError
from pipesim.search.floor import Named, named_floor
from pipesim.search.limits import Budget, MemoryLimit, check_fits
from pipesim.search.order import search_order
from pipesim.search.score import Scored, refine, simulate
from pipesim.search.space import Axes, Plan, bounded
from pipesim.search.variant import Base, fits, make_problem, without_reduce

TABLE_SHARE = 0.7  # of the budget, for the table-level searches (the rest: network rounds)


@dataclass(frozen=True)
class Settings:
    """How each plan is searched (plain data, sent to the workers)."""

    space: tuple[str, ...]
    memory: MemoryLimit | None = None
    seed: int = 0
    max_evals: int | None = None
    max_seconds: float | None = None
    rounds: int = 2


@dataclass
class Tried:
    """One plan: its best order at the table level and, when re-scored, on the network."""

    plan: Plan
    status: str  # "ok" | "infeasible"
    reason: str = ""
    schedule: Schedule | None = None
    table_time: float | None = None
    sim_time: float | None = None
    bubble_ratio: float | None = None
    peak: float | None = None  # stashed activations, max over devices (costs.activation_bytes units)
    peak_memory: float | None = None  # everything a device holds, max over devices (bytes or units)
    evaluations: int = 0
    source: str = ""
    layers: tuple[int, ...] = ()
    named: list[tuple[str, float, bool]] = field(default_factory=list)  # (label, table time, fits)

    @property
    def time(self) -> float:
        t = self.sim_time if self.sim_time is not None else self.table_time
        return float("inf") if t is None else t


@dataclass
class PlanResult:
    best: Tried
    best_scored: Scored
    free_best: Tried  # the table level's winner: what a search without the network returns
    free_scored: Scored | None  # that winner on the network (None in the table form)
    tried: list[Tried]
    history: list[Scored]  # the winning plan's network rounds
    notes: list[str]
    level: str  # "sim" or "table": what ranked the winner
    floor: list[Named] = field(default_factory=list)  # the named schedules on the base scenario (scenario form)

    @property
    def evaluations(self) -> int:
        return sum(t.evaluations for t in self.tried)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def search_point(item: tuple[Base, Plan, Settings]) -> Tried:
    """One plan searched at the table level (module-level: it runs in pool workers)."""
    base, plan, st = item
    try:
        problem = make_problem(base, plan)
    except ValueError as exc:
        return Tried(plan, "infeasible", reason=_one_line(exc))
    try:
        limit = check_fits(st.memory, problem.layout, problem.costs, plan.layout_label) if st.memory else None
    except SearchError as exc:
        return Tried(plan, "infeasible", reason=_one_line(exc))
    named = problem.named(plan.split_backward)
    timed = [(s, evaluate(s, problem.costs, message_delay=problem.delay).makespan) for s in named]
    ok = [s for s in named if fits(s, problem.costs, limit)]
    rows = [(s.name, t, fits(s, problem.costs, limit)) for s, t in timed]
    order: Schedule | None = None
    if "order" in st.space:
        found = search_order(problem.layout, problem.costs, split_backward=plan.split_backward,
                             message_delay=problem.delay, memory_limit=limit, seed=st.seed, max_evals=st.max_evals,
                             max_seconds=st.max_seconds, seeds_from=[without_reduce(s) for s in ok])
        order, evals, source = problem.finish(found.schedule), found.evaluations, found.source
        if not fits(order, problem.costs, limit):
            # Never return an order over the limit: fall back to the best named one that fits.
            order, evals, source = None, found.evaluations, ""
    else:
        evals, source = len(named), ""
    if order is None:
        if not ok:
            return Tried(plan, "infeasible", reason=f"no order of {plan.layout_label} found within --memory-limit "
                         f"{st.memory.text if st.memory else ''}".strip(), named=rows)
        best = min(((evaluate(s, problem.costs, message_delay=problem.delay).makespan, i) for i, s in enumerate(ok)))
        order, source = ok[best[1]], f"named: {ok[best[1]].name}"
    result = evaluate(order, problem.costs, message_delay=problem.delay)
    work = getattr(problem.built, "workload", None)
    met = result.metrics()
    memory = met.get("peak_memory_bytes") or met.get("peak_memory_units") or [0.0]
    return Tried(plan, "ok", schedule=order, table_time=result.makespan, bubble_ratio=result.bubble_ratio,
                 peak=max(result.peak_activation_bytes, default=0.0), peak_memory=max(memory), evaluations=evals, source=source,
                 layers=tuple(s.layers for s in work.stages) if work is not None else (), named=rows)


def refine_point(item: tuple[Base, Plan, Settings, Schedule]) -> list[Scored]:
    """One plan's table winner simulated, then the network rounds (module-level, for workers)."""
    base, plan, st, start = item
    problem = make_problem(base, plan)
    limit = check_fits(st.memory, problem.layout, problem.costs, plan.layout_label) if st.memory else None
    seeds = [s for s in problem.named(plan.split_backward) if fits(s, problem.costs, limit)]
    return refine(problem, start, rounds=st.rounds, split_backward=plan.split_backward, memory_limit=limit,
                  seed=st.seed, max_evals=st.max_evals, max_seconds=st.max_seconds, seeds=seeds)


Report = Callable[[str], None]


def search_plan(base: Base, axes: Axes, settings: Settings, *, budget: Budget | None = None, max_plans: int = 48,
                rescore: int = 3, jobs: int | None = 1, executor: str = "process", address: str | None = None,
                report: Report | None = None) -> PlanResult:
    """Search every plan of ``axes`` (bounded by ``max_plans``) on ``base`` (see module doc)."""
    from pipesim.sweep import map_items

    if max_plans < 1:
        raise SearchError(f"--max-plans: {max_plans}; must be >= 1")
    limit = max_plans if budget is None or budget.evals is None else min(max_plans, budget.evals)
    plans, note = bounded(axes, limit, settings.seed)
    notes = [*axes.notes, note]
    workers = jobs or 1
    evals, seconds = budget.share(TABLE_SHARE, len(plans), workers) if budget else (None, None)
    table_settings = replace(settings, max_evals=evals, max_seconds=seconds)
    best_so_far: list[Tried] = []
    done = [0]

    def on_table(_: int, tried: Tried) -> None:
        done[0] += 1
        if tried.status == "ok" and (not best_so_far or tried.time < best_so_far[0].time):
            best_so_far[:] = [tried]
        if report is not None:
            lead = f"table level: {done[0]}/{len(plans)} plans"
            report(lead + (f" | best {best_so_far[0].time:.6g} ({best_so_far[0].plan.label()})" if best_so_far else ""))

    tried: list[Tried] = map_items(search_point, [(base, p, table_settings) for p in plans], jobs=jobs,
                                   progress=False, executor=executor, address=address, on_result=on_table)
    ok = sorted((t for t in tried if t.status == "ok"), key=lambda t: (t.time, plans.index(t.plan)))
    if not ok:
        raise SearchError(_nothing_fits(tried, settings))
    free_best = ok[0]
    top = _diverse(ok, max(1, rescore))
    runs = len(top) * len(axes.placements) * max(settings.rounds, 1)
    evals, seconds = budget.share(1 - TABLE_SHARE, runs, workers) if budget else (None, None)
    net_settings = replace(settings, max_evals=evals, max_seconds=seconds)
    net_done = [0]

    def on_net(_: int, history: list[Scored]) -> None:
        net_done[0] += 1
        if report is not None:
            fastest = min(h.makespan for h in history)
            report(f"network rounds: {net_done[0]}/{len(top) * len(axes.placements)} plans | last plan's best "
                   f"{fastest:.6g}")

    # Each re-scored plan on every placement of the space (the first: the scenario's own).
    placed = [_placed(t, name, place) for t in top for name, place in axes.placements]
    histories: list[list[Scored]] = map_items(
        refine_point, [(base, t.plan, net_settings, t.schedule) for t in placed], jobs=jobs, progress=False,
        executor=executor, address=address, on_result=on_net)
    for t, hist in zip(placed, histories, strict=True):
        t.sim_time = min(h.makespan for h in hist)
        t.evaluations += len(hist) - 1
    tried = [t for t in tried if t not in top] + placed
    # Rank the re-scored plans by their fastest order on the network (ties: plan order).
    scored = sorted(enumerate(zip(placed, histories, strict=True)),
                    key=lambda ith: (min(h.makespan for h in ith[1][1]), ith[0]))
    winner, hist = scored[0][1]
    best_scored = min(hist, key=lambda h: (h.makespan, hist.index(h)))
    winner.schedule = best_scored.schedule
    winner.source = best_scored.source if best_scored.source != "table" else winner.source
    free_hist = histories[top.index(free_best) * len(axes.placements)]
    level = "table" if base.scenario is None else "sim"
    floor = named_floor(base, axes, settings.memory)
    fastest = min((n for n in floor if n.fits), key=lambda n: n.sim_time, default=None)
    if fastest is not None and fastest.sim_time < best_scored.makespan:
        # A named schedule on the base scenario beats every re-scored plan: it is the answer.
        problem = make_problem(base, fastest.plan)
        best_scored = simulate(problem, fastest.schedule, f"named: {fastest.name} (base scenario)")
        table = evaluate(fastest.schedule, problem.costs, message_delay=problem.delay)
        met = table.metrics()
        work = problem.built.workload
        winner = Tried(fastest.plan, "ok", schedule=fastest.schedule, table_time=table.makespan,
                       sim_time=best_scored.makespan, bubble_ratio=table.bubble_ratio,
                       peak=max(table.peak_activation_bytes, default=0.0),
                       peak_memory=max(met.get("peak_memory_bytes") or met.get("peak_memory_units") or [0.0]),
                       source=best_scored.source, layers=tuple(s.layers for s in work.stages) if work else ())
        tried.append(winner)
        hist = [best_scored]
        notes.append(f"named floor: {fastest.name} on the base scenario beat every searched plan on the network")
    return PlanResult(winner, best_scored, free_best, free_hist[0] if level == "sim" else None, tried, hist, notes,
                      level, floor)


def _placed(tried: Tried, name: str, placement: tuple[int, ...] | None) -> Tried:
    """A copy of a table-level result for one placement (the table level cannot tell them apart)."""
    plan = replace(tried.plan, placement=placement, placement_name=name)
    return replace(tried, plan=plan, named=list(tried.named))


def _diverse(ranked: Sequence[Tried], k: int) -> list[Tried]:
    """The ``k`` plans to re-score: the table level's best of each layout first (the network
    may reverse the order of layouts: a bidirectional layout's all-reduce or an interleaved
    layout's extra messages are what the table level does not see), then the next best."""
    firsts: dict[str, Tried] = {}
    for t in ranked:
        firsts.setdefault(t.plan.layout_label, t)
    out = list(firsts.values())[:k]
    out += [t for t in ranked if t not in out][:k - len(out)]
    return sorted(out, key=lambda t: ranked.index(t))


def _nothing_fits(tried: Sequence[Tried], settings: Settings) -> str:
    reasons = list(dict.fromkeys(t.reason for t in tried if t.reason))
    if settings.memory is not None and any("memory-limit" in r for r in reasons):
        first = next(r for r in reasons if "memory-limit" in r)
        return first + (f" ({len(tried)} plans tried, none fits)" if len(tried) > 1 else "")
    return (f"no plan of the space can run: {reasons[0]}" + (f" (and {len(reasons) - 1} other reasons)"
                                                             if len(reasons) > 1 else "")) if reasons else \
        "no plan of the space can run"


def describe(result: PlanResult) -> dict[str, Any]:
    """The winner's plan as plain data (for JSON output)."""
    plan = result.best.plan
    return {"layout": plan.layout_label, "family": plan.family, "degree": plan.degree,
            "microbatches": plan.microbatches, "microbatch_size": plan.microbatch_size, "split": plan.split,
            "layers_per_part": list(result.best.layers) or None,
            "placement": list(plan.placement) if plan.placement is not None else None,
            "placement_name": plan.placement_name, "backward": "split" if plan.split_backward else "whole",
            "source": result.best.source, "level": result.level}
