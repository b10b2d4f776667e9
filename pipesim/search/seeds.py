"""Named generators as starting points: the orders of every registered schedule whose layout is
the one searched, converted to the searched backward form.

A generator's order is a valid order of the same actions, so the search can start from it and
never return anything slower. A full backward B becomes I followed at once by W (or I becomes
B and its W is dropped), which keeps the order valid. Generators that need options (chunks,
waves) are tried with the values the layout implies; any that do not produce this layout are
skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipesim.schedule.action import Action, Kind
from pipesim.schedule.registry import Registry
from pipesim.schedule.table import Schedule
from pipesim.search.problem import Problem


def _requests(problem: Problem) -> Iterator[tuple[str, dict[str, object]]]:
    lay = problem.layout
    p, S = lay.num_devices, lay.num_stages
    if p == S:
        for name in ("1f1b", "zb-h1", "zb-h2", "gpipe"):
            yield name, {}
    if S % p == 0 and p < S:
        v = S // p
        yield "interleaved", {"v": v}
        yield "looped-bfs", {"v": v}
        if v % 2 == 0:
            yield "hanayo", {"waves": v // 2, "strict": False}
        if v == 2:
            yield "zb-v", {}
            yield "chimera", {"reduce_grad": False}


def generator_seeds(problem: Problem, message_delay: float) -> list[tuple[str, Schedule]]:
    """(name, schedule in the searched form) of every named generator producing this layout."""
    lay = problem.layout
    registry = Registry.default()
    out = []
    for name, options in _requests(problem):
        gen = registry.get(name)
        if gen.cost_aware:
            options = {**options, "costs": problem.costs, "message_delay": message_delay}
        try:
            s = gen(lay.num_devices, lay.num_microbatches, **options)
        except ValueError:  # this p, m or option is outside the generator's regime
            continue
        got = s.layout
        if (got.stage_device, got.routes, got.mb_route) != (lay.stage_device, lay.routes, lay.mb_route):
            continue
        converted = convert_backward(s, problem.split_backward)
        if converted is not None:
            out.append((name, converted))
    return out


def convert_backward(schedule: Schedule, split: bool) -> Schedule | None:
    """``schedule`` with B as I then W (``split``) or I as B and no W; None when it holds
    actions other than F, B, I, W."""
    rows = []
    for row in schedule.actions:
        out: list[Action] = []
        for a in row:
            if a.kind is Kind.F:
                out.append(a)
            elif a.kind is Kind.B:
                out += [Action(a.stage, Kind.I, a.microbatch), Action(a.stage, Kind.W, a.microbatch)] if split else [a]
            elif a.kind is Kind.I:
                out.append(a if split else Action(a.stage, Kind.B, a.microbatch))
            elif a.kind is Kind.W:
                if split:
                    out.append(a)
            else:
                return None
        rows.append(out)
    return schedule.with_actions(rows)

