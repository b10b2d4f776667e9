"""Order search for a fixed layout: the best per-device action order under a memory limit.

``search_order`` builds starting orders three ways, then improves the best of them:

1. the orders of the named generators for the layout's family (``pipesim.search.seeds``) and
   any orders the caller passes in ``seeds_from``;
2. the list scheduler of ``pipesim.search.construct`` under a grid of rules (in-flight cap,
   forward guard, W gap, depth-first or not), each run on the real costs and delays; on a
   chain, first with the warm-up lengths of ``pipesim.search.race`` that let the first
   gradient race back up;
3. local search (``pipesim.search.local``) from the best few, restarting from the next one
   when it stalls.

Every candidate is timed by ``pipesim.search.timing`` (equal to ``pipesim.ideal.evaluate``) and
kept only if each device's stash, counted as ``pipesim.timeline.memory`` counts it, stays
within the limit. The winner is never worse than any starting order that fits the limit.

Determinism: everything random comes from ``seed``; with ``max_evals`` the result is the same
byte for byte on every run. ``max_seconds`` only stops the search earlier, so a result under a
time budget depends on the machine: use an evaluation budget to reproduce one.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipesim.costs import Costs
from pipesim.schedule.layout import Layout
from pipesim.schedule.table import Schedule
from pipesim.search.construct import Rule, list_order, sequential_order
from pipesim.search.errors import SearchError
from pipesim.search.local import Budget, directed, improve, makespan, span
from pipesim.search.problem import Problem, build_problem, least_memory
from pipesim.search.race import race_warmup
from pipesim.search.seeds import convert_backward, generator_seeds
from pipesim.search.timing import Timer, peaks

#: Evaluations when neither budget is given.
DEFAULT_EVALS = 2000
OBJECTIVES = ("makespan", "span")


@dataclass(frozen=True)
class OrderResult:
    schedule: Schedule  # validated; ``evaluate(schedule, costs, message_delay=...)`` reproduces makespan
    makespan: float
    evaluations: int  # candidate orders scored
    peak_memory: tuple[float, ...]  # per device, in the units of ``costs.activation_bytes``
    source: str  # which construction or move produced the winner
    span: float = 0.0  # the longest device's own span (first start to last end)


def search_order(
    layout: Layout,
    costs: Costs,
    *,
    split_backward: bool = False,
    message_delay: float = 0.0,
    edge_delay: Mapping[tuple[int, int], float] | None = None,
    memory_limit: float | Sequence[float] | None = None,
    seed: int = 0,
    max_evals: int | None = None,
    max_seconds: float | None = None,
    seeds_from: Sequence[Schedule] = (),
    progress: Callable[[int, float], None] | None = None,
    objective: str = "makespan",
    named_seeds: bool = True,
) -> OrderResult:
    """Best order found for ``layout`` under ``costs``.

    ``edge_delay[(src_stage, dst_stage)]`` overrides ``message_delay`` for one cross-device
    hand-over (the delays measured by a simulation, fed back); ``memory_limit`` bounds each
    device's stashed activations (``costs.activation_bytes`` units, one number or one per
    device; None: unbounded; ``problem.activation_limit`` turns the Zero Bubble paper's "1p"
    and "2p" into these units); ``seeds_from`` are orders the search starts from and never
    returns anything worse than (those that exceed the limit are skipped). ``objective`` is
    "makespan" or "span" (the longest device's own span, the Zero Bubble paper's cost).
    ``named_seeds`` also starts from the named generators of the layout's family. Without a
    budget the search stops after ``DEFAULT_EVALS`` evaluations.
    """
    if objective not in OBJECTIVES:
        raise SearchError(f"objective: {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    _check_costs(costs)
    problem = build_problem(layout, costs, split_backward=split_backward, message_delay=message_delay,
                            edge_delay=edge_delay)
    limit = _limits(problem, memory_limit)
    evals = _evals(max_evals) if max_evals is not None or max_seconds is None else sys.maxsize
    budget = Budget(evals, _deadline(max_seconds))
    by_span = objective == "span"
    score = span if by_span else makespan
    timer = Timer(problem)
    found: list[tuple[tuple[float, float], int, str, list[list[int]]]] = []  # (value, arrival, source, orders)

    def consider(orders: list[list[int]], source: str) -> None:
        if max(p - x for p, x in zip(peaks(problem, orders), limit, strict=True)) > 0 or not timer.time(orders):
            return
        found.append((score(timer), len(found), source, [list(r) for r in timer.orders]))

    for k, s in enumerate(seeds_from):
        converted = convert_backward(s, split_backward)
        if converted is None:
            raise SearchError(f"seeds_from[{k}]: schedule '{s.name}' holds actions other than F, B, I, W")
        consider(problem.orders_of(converted, f"seeds_from[{k}]"), f"seed:{s.name}")
        budget.used += 1
    if named_seeds:
        for name, s in generator_seeds(problem, message_delay):
            consider(problem.orders_of(s, name), f"generator:{name}")
            budget.used += 1
    # Constructions take at most half the evaluations and a third of the time: on a large
    # program one costs as much as dozens of local-search moves.
    build_until = time.perf_counter() + (max_seconds / 3 if max_seconds is not None else math.inf)
    for k, rule in enumerate(_rules(problem, limit)):
        if k and (budget.used >= budget.max_evals // 2 or time.perf_counter() > build_until):
            break
        if not budget.spend():
            break
        orders = list_order(problem, rule, limit)
        if orders is not None:
            consider(orders, f"list:{rule}")
    if not found:
        budget.used += 1
        consider(sequential_order(problem), "sequential")
    found.sort(key=lambda x: (x[0], x[1]))
    starts = [orders for _, _, _, orders in found[:4]]
    best_value, _, source, best = found[0]
    improved, value = improve(problem, timer, starts, limit, (score, directed(score)), by_span, random.Random(seed),
                              budget, progress)
    if value < best_value[0]:
        best, source = improved, f"local search from {source}"
    timer.time(best)
    if progress is not None:
        progress(budget.used, score(timer)[0])
    return OrderResult(problem.schedule(best), timer.makespan(), budget.used, tuple(peaks(problem, best)), source,
                       timer.span())


def _rules(problem: Problem, limit: Sequence[float]) -> list[Rule]:
    """The constructions tried, the ones that do well on common layouts first: on a chain, the
    warm-up that races the first gradient (``pipesim.search.race``) leads; on a long chain it
    alone reaches the Zero Bubble paper's ZB-2p, where the rest of the grid and local search
    within a minute do not."""
    multi = any(len(st) > 1 for st in problem.layout.device_stages)
    warmup = race_warmup(problem, limit)
    out = [Rule(cap, 0.0, gap, True, warmup) for cap, gap in ((2.0, 0.0), (math.inf, 0.0), (2.0, 1.0))] \
        if warmup is not None else []
    for cap in (2.0, 1.0, math.inf, 1.5, 3.0):
        for guard in (0.0, 0.5, 1.0):
            for gap in (0.0, 1.0):
                for deep in ((True, False) if multi else (True,)):
                    out.append(Rule(cap, guard, gap, deep))
    return out


def _check_costs(costs: Costs) -> None:
    for name in ("forward", "backward", "backward_input", "backward_weight", "activation_bytes"):
        for s, v in enumerate(getattr(costs, name)):
            if not math.isfinite(v):
                raise SearchError(f"costs.{name}[{s}]: {v}; the search needs finite costs")


def _limits(problem: Problem, memory_limit: float | Sequence[float] | None) -> list[float]:
    D = problem.num_devices
    if memory_limit is None:
        return [math.inf] * D
    if isinstance(memory_limit, int | float) and not isinstance(memory_limit, bool):
        values = [float(memory_limit)] * D
    elif isinstance(memory_limit, Sequence) and not isinstance(memory_limit, str):
        values = [float(v) for v in memory_limit]
        if len(values) != D:
            raise SearchError(f"memory_limit: {len(values)} values for {D} devices; give one number or one per device")
    else:
        raise SearchError(f"memory_limit: {memory_limit!r}; expected a number, one number per device, or None")
    need = least_memory(problem)
    for d, (v, n) in enumerate(zip(values, need, strict=True)):
        if v != v or v < n:
            raise SearchError(f"memory_limit: {v:g} on device {d} is below {n:g}, the least any valid order needs "
                              "(one microbatch's activations on that device)")
    return values


def _evals(max_evals: int | None) -> int:
    if max_evals is None:
        return DEFAULT_EVALS
    if isinstance(max_evals, bool) or not isinstance(max_evals, int) or max_evals < 1:
        raise SearchError(f"max_evals: {max_evals!r}; must be a whole number >= 1")
    return max_evals


def _deadline(max_seconds: float | None) -> float:
    if max_seconds is None:
        return math.inf
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float) or not max_seconds > 0 \
            or not math.isfinite(max_seconds):
        raise SearchError(f"max_seconds: {max_seconds!r}; must be a finite number of seconds > 0")
    return time.perf_counter() + max_seconds
