"""Network-aware scoring: a candidate order judged by the contention-aware simulation, and the
delays that simulation measured fed back to the order search.

The table level charges every cross-device hand-over one constant delay; on a real network a
message's delay depends on what else is on its links (a NIC shared by a node's GPUs, an
oversubscribed spine, a WAN hop). ``simulate`` runs an order on the scenario's network and
``edge_delays`` reads, from the run's trace, the mean of ``arrived - sent`` over every
activation and gradient message of each hand-over ``(producing stage, consuming stage)``.
``refine`` alternates the two: search an order with the measured delays
(``search_order(edge_delay=...)``), simulate it, measure again, for a few rounds, and keeps the
order the simulation finds fastest. Everything is deterministic: the simulation has no
randomness and the order search is seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipesim.schedule.action import Action, compute_parts
from pipesim.schedule.table import Schedule
from pipesim.search.order import search_order
from pipesim.search.variant import Variant, fits, without_reduce
from pipesim.trace import Trace

EdgeDelays = dict[tuple[int, int], float]


@dataclass
class Scored:
    """One order simulated on the scenario's network."""

    schedule: Schedule
    makespan: float  # simulated
    metrics: dict[str, Any]
    delays: EdgeDelays
    source: str  # "table" (the table-level winner) or "round k" (searched with round k-1's delays)


def _stage(label: str, microbatch: int) -> int | None:
    """The stage of the action ``label`` (for an overlapped F&B chunk, the part with
    ``microbatch``... or its first part)."""
    try:
        action = Action.parse(label)
    except ValueError:
        return None
    parts = compute_parts(action)
    for part in parts:
        if part.microbatch == microbatch:
            return part.stage
    return parts[0].stage if parts else None


def edge_delays(trace: Trace) -> EdgeDelays:
    """Mean ``arrived - sent`` per ``(producing stage, consuming stage)`` over the trace's
    activation and gradient messages (collectives and free flows are not hand-overs)."""
    sums: dict[tuple[int, int], list[float]] = {}
    for msg in trace.messages:
        if msg.kind not in ("act", "grad") or not msg.producer or not msg.consumer:
            continue
        src, dst = _stage(msg.producer, msg.microbatch), _stage(msg.consumer, msg.microbatch)
        if src is None or dst is None:
            continue
        acc = sums.setdefault((src, dst), [0.0, 0.0])
        acc[0] += msg.arrived - msg.sent
        acc[1] += 1
    return {edge: total / n for edge, (total, n) in sorted(sums.items())}


def simulate(problem: Variant, schedule: Schedule, source: str = "table") -> Scored:
    """``schedule`` on the problem's scenario network (the table form has no network: it is
    timed at the table level with its constant delay)."""
    if problem.built is None:
        from pipesim.ideal import evaluate

        result = evaluate(schedule, problem.costs, message_delay=problem.delay)
        return Scored(schedule, result.makespan, result.metrics(), {}, source)
    from pipesim.sim.engine import Simulation

    built = problem.built
    res = Simulation(schedule, problem.costs, built.topology, built.sim_options).run()
    return Scored(schedule, res.makespan, res.metrics(), edge_delays(res.trace), source)


def simulate_trace(base: Any, plan: Any, schedule: Schedule) -> Trace:
    """The trace of ``schedule`` for ``plan`` on ``base`` (simulated on the scenario's network;
    the table form's table level, in slots when its costs are abstract)."""
    from pipesim.search.variant import make_problem

    problem = make_problem(base, plan)
    if problem.built is None:
        from pipesim.ideal import evaluate

        return evaluate(schedule, problem.costs, message_delay=problem.delay).trace(time_unit="slot")
    from pipesim.sim.engine import Simulation

    built = problem.built
    trace = Simulation(schedule, problem.costs, built.topology, built.sim_options).run().trace
    trace.meta["scenario"] = built.scenario.name
    return trace


def refine(problem: Variant, start: Schedule, *, rounds: int, split_backward: bool,
           memory_limit: Sequence[float] | None, seed: int, max_evals: int | None, max_seconds: float | None,
           seeds: Sequence[Schedule] = ()) -> list[Scored]:
    """``start`` and the named ``seeds`` simulated, then up to ``rounds`` orders searched with
    the delays measured on the fastest so far (first round) or the previous round's order;
    stops early when a round returns an order already simulated or one over the memory limit.
    Returns every simulated order in the order they were tried (the caller keeps the fastest)."""
    history = [simulate(problem, start, "table")]
    if problem.built is None:
        return history
    seen = {start.actions}
    for named in seeds:  # the named orders of this layout, so that none of them beats the result
        if named.actions not in seen:
            seen.add(named.actions)
            history.append(simulate(problem, named, f"named: {named.name}"))
    for r in range(1, rounds + 1):
        prev = min(history, key=lambda h: h.makespan) if r == 1 else history[-1]
        if not prev.delays:  # nothing crossed a device boundary: the network cannot change the order
            break
        best = min(history, key=lambda s: s.makespan)
        typical = sum(prev.delays.values()) / len(prev.delays)
        found = search_order(problem.layout, problem.costs, split_backward=split_backward, message_delay=typical,
                             edge_delay=prev.delays, memory_limit=memory_limit, seed=seed + r,
                             max_evals=max_evals, max_seconds=max_seconds,
                             seeds_from=[without_reduce(best.schedule), *(without_reduce(s) for s in seeds)])
        order = problem.finish(found.schedule)
        if order.actions in seen or not fits(order, problem.costs, memory_limit):
            # A repeat ends the rounds; so does an order over the limit (never returned).
            break
        seen.add(order.actions)
        history.append(simulate(problem, order, f"round {r}"))
    return history
