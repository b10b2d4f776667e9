"""Memory as a function of the schedule and the costs: static memory and activation steps.

Activation memory depends on each device's action *order* only; times merely place its steps.
So it is computed once per compiled program, and each level maps the steps onto its own start
and end times. Sizes are bytes when the costs carry sizes, else stage-microbatch units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.deps import Program
from pipesim.schedule.table import Schedule


def static_memory(schedule: Schedule, costs: Costs) -> list[float]:
    """Per device: weights (one copy per stashed version), one gradient buffer, optimizer state.

    Asynchronous schedules record per-stage weight versions in ``layout.notes["weight_versions"]``
    (PipeDream stashes p - s versions on stage s, 2BW two); everything else keeps one.
    """
    lay = schedule.layout
    versions = lay.notes.get("weight_versions") if lay.notes else None
    out = []
    for d in range(lay.num_devices):
        total = 0.0
        for s in lay.device_stages[d]:
            copies = float(versions[s]) if isinstance(versions, Sequence) else 1.0
            total += costs.param_bytes[s] * (copies + 1.0) + costs.optimizer_bytes[s]
        out.append(total)
    return out


class ActivationSteps(NamedTuple):
    """``steps[d]`` lists, in device order, ``(action id, at its start, size, microbatches)``: the
    stash after that action starts (forwards) or ends (everything else). ``peaks_n`` and
    ``peaks_b`` are each device's most microbatches in flight and largest stash."""

    peaks_n: list[int]
    peaks_b: list[float]
    steps: list[list[tuple[int, bool, float, int]]]


def activation_steps(program: Program, costs: Costs) -> ActivationSteps:
    """Walk each device's actions in order: F stashes its activations (at its start), I frees all
    but W's share, W frees the rest, B frees everything (at their ends)."""
    act, keep = costs.activation_bytes, costs.weight_keep
    peaks_n: list[int] = []
    peaks_b: list[float] = []
    steps: list[list[tuple[int, bool, float, int]]] = []
    for f, c in zip(program.first, program.count, strict=True):
        cur_b, cur_n, pk_b, pk_n = 0.0, 0, 0.0, 0
        line: list[tuple[int, bool, float, int]] = []
        for g in range(f, f + c):
            a = program.actions[g]
            parts: tuple[Action, ...] = a.sub if a.sub is not None else (a,)
            for part in parts:
                k, s = part.kind, part.stage
                if k is Kind.F:
                    cur_b += act[s]
                    cur_n += 1
                    line.append((g, True, cur_b, cur_n))
                elif k is Kind.B:
                    cur_b -= act[s]
                    cur_n -= 1
                elif k is Kind.I:
                    cur_b -= act[s] * (1.0 - keep)
                elif k is Kind.W:
                    cur_b -= act[s] * keep
                    cur_n -= 1
                if cur_b > pk_b:
                    pk_b = cur_b
                if cur_n > pk_n:
                    pk_n = cur_n
            if a.kind is not Kind.F and a.kind is not Kind.REDUCE_GRAD:
                line.append((g, False, max(cur_b, 0.0), cur_n))
        peaks_n.append(pk_n)
        peaks_b.append(pk_b)
        steps.append(line)
    return ActivationSteps(peaks_n, peaks_b, steps)


def activation_timelines(
    steps: ActivationSteps, start: Sequence[float], end: Sequence[float]
) -> list[list[tuple[float, float, int]]]:
    """Per device, ``(time, size, microbatches)`` after each step, placed at the given times."""
    return [[(start[g] if at_start else end[g], b, n) for g, at_start, b, n in line] for line in steps.steps]
