"""Table level: evaluate a schedule with per-(stage, kind) costs and a constant message delay.

Pure Python, no SimPy. Each device runs its list in order; an action starts when its device is
free and its inputs exist (plus ``message_delay`` when an input crosses devices). Because the
per-device order is fixed, these times are the earliest possible for that order, so with a
free network the SimPy engine must reproduce them exactly (a tested identity).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.deps import DEP_ACT, DEP_GRAD, DEP_LOCAL, Program
from pipesim.schedule.table import Schedule
from pipesim.schedule.validate import validate
from pipesim.trace import MemorySample, Message, Span, Trace

ReduceTime = float | Sequence[float] | Callable[[int], float]

SPAN_KIND = {Kind.F: "F", Kind.B: "B", Kind.I: "I", Kind.W: "W", Kind.OVERLAP_F_B: "F&B",
             Kind.REDUCE_GRAD: "REDUCE_GRAD"}


def check_costs(schedule: Schedule, costs: Costs) -> None:
    if costs.num_stages != schedule.num_stages:
        raise ValueError(
            f"costs are for {costs.num_stages} stages but schedule '{schedule.name}' has "
            f"{schedule.num_stages} stages ({schedule.num_devices} devices); give one cost per stage"
        )


def action_durations(program: Program, costs: Costs, reduce_time: ReduceTime = 0.0) -> list[float]:
    """Duration of every action id. An overlapped F&B chunk costs ``overlap * (F + B)``."""
    fwd, bwd, inp, wgt = costs.forward, costs.backward, costs.backward_input, costs.backward_weight
    table = {Kind.F: fwd, Kind.B: bwd, Kind.I: inp, Kind.W: wgt}
    if callable(reduce_time):
        red = reduce_time
    elif isinstance(reduce_time, int | float):
        value = float(reduce_time)
        def red(_s: int) -> float:
            return value
    else:
        seq = tuple(reduce_time)
        def red(s: int) -> float:
            return seq[s]
    out = []
    for a in program.actions:
        k = a.kind
        if k is Kind.OVERLAP_F_B:
            f, b = a.sub  # type: ignore[misc]
            out.append(costs.overlap * (fwd[f.stage] + table[b.kind][b.stage]))
        elif k is Kind.REDUCE_GRAD:
            out.append(float(red(a.stage)))
        else:
            out.append(table[k][a.stage])
    return out


@dataclass
class TableResult:
    """Start and end of every action, plus the metrics of DESIGN.md's table level."""

    program: Program
    costs: Costs
    start: list[float]
    end: list[float]
    message_delay: float

    @property
    def schedule(self) -> Schedule:
        return self.program.schedule

    @cached_property
    def makespan(self) -> float:
        return max(self.end, default=0.0)

    @cached_property
    def busy(self) -> list[float]:
        out = [0.0] * self.program.num_devices
        for g, d in enumerate(self.program.device):
            out[d] += self.end[g] - self.start[g]
        return out

    @cached_property
    def spans(self) -> list[tuple[float, float]]:
        """Each device's own span: first start to last end (0, 0 for an idle device)."""
        out = []
        for f, c in zip(self.program.first, self.program.count, strict=True):
            if c == 0:
                out.append((0.0, 0.0))
            else:
                out.append((min(self.start[f : f + c]), max(self.end[f : f + c])))
        return out

    @property
    def bubble_ratio(self) -> float:
        """Idle time over (devices x makespan)."""
        total = self.program.num_devices * self.makespan
        return 0.0 if total == 0 else 1.0 - sum(self.busy) / total

    @property
    def span_bubble_ratio(self) -> float:
        """Idle time inside each device's own span over the sum of spans (Zero Bubble's measure)."""
        total = sum(e - s for s, e in self.spans)
        return 0.0 if total == 0 else 1.0 - sum(self.busy) / total

    @cached_property
    def _memory(self) -> tuple[list[int], list[float], list[list[tuple[float, float, int]]]]:
        return activation_profile(self.program, self.costs, self.start, self.end)

    @property
    def peak_inflight(self) -> list[int]:
        """Per device, the most microbatches whose forward ran and whose backward has not finished."""
        return self._memory[0]

    @property
    def peak_activation_bytes(self) -> list[float]:
        """Per device, peak stashed activations (bytes, or stage-microbatch units without sizes)."""
        return self._memory[1]

    @property
    def weight_copies(self) -> list[float]:
        lay = self.schedule.layout
        return [lay.weight_copies(d) for d in range(lay.num_devices)]

    def metrics(self) -> dict[str, Any]:
        from pipesim.metrics import table_metrics

        return table_metrics(self)

    def trace(self, time_unit: str | None = None) -> Trace:
        """The table level's trace: device spans, messages (with the constant delay), memory.

        ``time_unit="slot"`` marks abstract costs (``--costs F=1,B=2``) so figures do not
        label them as seconds.
        """
        prog, sched = self.program, self.schedule
        tr = Trace(devices=[f"gpu{d}" for d in range(prog.num_devices)],
                   meta={"level": "table", "schedule": sched.name, "devices": sched.num_devices,
                         "stages": sched.num_stages, "microbatches": sched.num_microbatches,
                         "message_delay": self.message_delay, "makespan": self.makespan,
                         "bubble_ratio": self.bubble_ratio})
        if time_unit is not None:
            tr.meta["time_unit"] = time_unit
        for g, a in enumerate(prog.actions):
            mb = a.microbatch if a.microbatch is not None else (a.sub[0].microbatch if a.sub else -1)
            tr.spans.append(Span(tr.devices[prog.device[g]], SPAN_KIND[a.kind], self.start[g], self.end[g],
                                 stage=a.stage, microbatch=mb if mb is not None else -1, label=str(a)))
        msg_bytes = self.costs.message_bytes
        mid = 0
        for g, deps in enumerate(prog.deps):
            for dep in deps:
                if dep.kind in (DEP_ACT, DEP_GRAD):
                    sent = self.end[dep.pred]
                    tr.messages.append(Message(mid, prog.device[dep.pred], prog.device[g], msg_bytes[dep.stage], sent,
                                               sent + self.message_delay, "act" if dep.kind == DEP_ACT else "grad",
                                               dep.stage, dep.microbatch))
                    mid += 1
        for d, samples in enumerate(self._memory[2]):
            tr.memory.extend(MemorySample(d, t, act, act) for t, act, _ in samples)
        return tr


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
    """Activation memory as a function of each device's action order alone.

    ``steps[d]`` lists, in device order, ``(action id, at its start, bytes, microbatches)``: the
    stash after that action starts (forwards) or ends (everything else). Times only place these
    steps, so a level computes them once and maps them onto its own start/end times.
    """

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
    """Per device, ``(time, bytes, microbatches)`` after each step, placed at the given times."""
    return [[(start[g] if at_start else end[g], b, n) for g, at_start, b, n in line] for line in steps.steps]


def activation_profile(
    program: Program, costs: Costs, start: Sequence[float], end: Sequence[float]
) -> tuple[list[int], list[float], list[list[tuple[float, float, int]]]]:
    """Peak microbatches and bytes per device, and each device's timeline (see ``activation_steps``)."""
    steps = activation_steps(program, costs)
    return steps.peaks_n, steps.peaks_b, activation_timelines(steps, start, end)


def evaluate(
    schedule: Schedule,
    costs: Costs | None = None,
    *,
    message_delay: float = 0.0,
    reduce_time: ReduceTime = 0.0,
    program: Program | None = None,
) -> TableResult:
    """Validate ``schedule`` (unless a validated ``program`` is given) and time every action."""
    if costs is None:
        costs = Costs.make(schedule.num_stages)
    check_costs(schedule, costs)
    if message_delay < 0:
        raise ValueError(f"message_delay: {message_delay}; must be >= 0")
    if program is None or program.order is None:
        program = validate(schedule)
    order = program.order or []
    dur = action_durations(program, costs, reduce_time)
    n = len(program.actions)
    start = [0.0] * n
    end = [0.0] * n
    free = [0.0] * program.num_devices
    device, deps = program.device, program.deps
    for g in order:
        d = device[g]
        t = free[d]
        for pred, kind, _, _ in deps[g]:
            e = end[pred]
            if kind != DEP_LOCAL:
                e += message_delay
            if e > t:
                t = e
        start[g] = t
        t += dur[g]
        end[g] = t
        free[d] = t
    return TableResult(program, costs, start, end, message_delay)
