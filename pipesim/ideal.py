"""Table level: evaluate a schedule with per-(stage, kind) costs and a constant message delay.

Pure Python, no SimPy. Each device runs its list in order; an action starts when its device is
free and its inputs exist (plus ``message_delay`` when an input crosses devices). Because the
per-device order is fixed, these times are the earliest possible for that order, so with a
free network the SimPy engine must reproduce them exactly (a tested identity). Everything that
does not depend on times comes from the compiled program (``pipesim.timeline``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pipesim.costs import Costs
from pipesim.network.options import GRAD_SYNC, GradSync
from pipesim.schedule.deps import Program, loop_view
from pipesim.schedule.presort import guessed_order
from pipesim.schedule.table import Schedule
from pipesim.schedule.validate import deadlock_error
from pipesim.schedule.walk import INF, start_after, walk
from pipesim.timeline import (
    Compiled,
    ReduceTime,
    busy_and_spans,
    compile_schedule,
    timeline_metrics,
)
from pipesim.timeline.gradsync import overlap_view
from pipesim.timeline.trace_build import table_trace
from pipesim.trace import Trace


@dataclass
class TableResult:
    """Start and end of every action of a compiled program, and the metrics derived from them."""

    compiled: Compiled
    start: list[float]
    end: list[float]
    message_delay: float
    grad_end: float = 0.0  # when the last overlapped all-reduce lands (grad_sync: overlap)
    overlap_work: list[float] | None = None  # per-device busy time under grad_sync: overlap

    @property
    def work(self) -> list[float]:
        """Per device, the durations it ran (``busy``): every action holds its device for
        exactly its duration at this level (an overlapped REDUCE_GRAD for none)."""
        return self.compiled.work if self.overlap_work is None else self.overlap_work

    @property
    def program(self) -> Program:
        return self.compiled.program

    @property
    def costs(self) -> Costs:
        return self.compiled.costs

    @property
    def schedule(self) -> Schedule:
        return self.compiled.schedule

    @cached_property
    def makespan(self) -> float:
        # No duration is negative (``compile_schedule`` checks), so each device's start and end
        # times never decrease along its list: its last action ends last (ties are equal floats).
        prog, end = self.program, self.end
        last = max((end[f + n - 1] for f, n in zip(prog.first, prog.count, strict=True) if n), default=0.0)
        return max(last, self.grad_end)

    @cached_property
    def _metrics(self) -> dict[str, Any]:
        out = timeline_metrics(self.compiled, [self.start], [self.end], self.makespan, "table", self.work)
        out["message_delay"] = self.message_delay
        return out

    @cached_property
    def _busy_spans(self) -> tuple[list[float], list[tuple[float, float]]]:
        return busy_and_spans(self.compiled, self.start, self.end, self.work)

    @property
    def busy(self) -> list[float]:
        return self._busy_spans[0]

    @property
    def spans(self) -> list[tuple[float, float]]:
        """Each device's own span: first start to last end (0, 0 for an idle device)."""
        return self._busy_spans[1]

    @property
    def bubble_ratio(self) -> float:
        """Idle time over (devices x makespan)."""
        return float(self._metrics["bubble_ratio"])

    @property
    def span_bubble_ratio(self) -> float:
        """Idle time inside each device's own span over the sum of spans (Zero Bubble's measure)."""
        return float(self._metrics["span_bubble_ratio"])

    @property
    def peak_inflight(self) -> list[int]:
        """Per device, the most microbatches whose forward ran and whose backward has not finished."""
        return list(self.compiled.activation.peaks_n)

    @property
    def peak_activation_bytes(self) -> list[float]:
        """Per device, peak stashed activations (bytes, or stage-microbatch units without sizes)."""
        return list(self.compiled.activation.peaks_b)

    @property
    def weight_copies(self) -> list[float]:
        return self.compiled.weight_copies()

    def metrics(self) -> dict[str, Any]:
        return dict(self._metrics)

    def trace(self, time_unit: str | None = None) -> Trace:
        """The table level's trace: device spans, messages (with the constant delay), memory.

        ``time_unit="slot"`` marks abstract costs (``--costs F=1,B=2``) so figures do not
        label them as seconds.
        """
        return table_trace(self.compiled, self.start, self.end, self.message_delay, time_unit)


def run_table(compiled: Compiled, message_delay: float = 0.0, grad_sync: GradSync = "overlap") -> TableResult:
    """Time every action of ``compiled``: the table level's whole evaluation loop.

    A program whose deadlock dry run was left for later (``compile_schedule(dry_run=False)``)
    gets a guessed order checked with numpy (``pipesim.schedule.presort``) or, when the guess
    fails, is timed by the dry run itself (``pipesim.schedule.walk``), which also finds its
    order; one with an order is timed by the loop below, in that order. ``grad_sync`` is the
    simulation's: ``overlap`` (REDUCE_GRADs take no device time, the iteration ends when the
    last all-reduce lands; ``pipesim.timeline.gradsync``) or ``blocking`` (a rendezvous)."""
    if not message_delay >= 0:
        raise ValueError(f"message_delay: {message_delay}; must be >= 0")
    if grad_sync not in GRAD_SYNC:
        raise ValueError(f"grad_sync: {grad_sync!r} is not one of: {', '.join(GRAD_SYNC)}")
    program = compiled.program
    view = overlap_view(compiled) if grad_sync == "overlap" else None
    if program.order_pending:
        # The dry run keeps the rendezvous: an order valid with it stays valid without. A
        # guessed order passes it at once (``pipesim.schedule.presort``); else the walk does,
        # timing the actions as it goes.
        program.order_array = guessed_order(program)
        if program.order_array is None:
            walked = walk(program, compiled.durations, message_delay)
            if walked is None:
                raise deadlock_error(program)
            start, end, program.order_runs = walked
            program.order_pending = False
            if view is None:  # the walk's times are the table's
                return TableResult(compiled, start, end, message_delay)
        program.order_pending = False
    dur = compiled.durations
    n = program.num_actions
    start = [0.0] * n
    end = [0.0] * (n + 2)  # then the slot values "none" and "more than the slots hold"
    end[n], end[n + 1] = -INF, INF
    free = [0.0] * program.num_devices
    device, remote = program.device, loop_view(program.remote_array)
    if view is not None:
        dur, remote = view.durations, loop_view(view.remote_array)
    # A same-device input has ended by the time its device is free (``pipesim.schedule.walk``
    # says why): only the remote slot can delay an action. The ids come through memoryviews
    # (``pipesim.schedule.deps.loop_view`` says why).
    for g in program.loop_order() or ():
        d = device[g]
        t = free[d]
        e = end[remote[g]] + message_delay
        if e > t:
            # More prerequisites than the two slots hold (or an infinite time): all of them.
            t = e if e != INF else start_after(program, g, free[d], end, message_delay)
        start[g] = t
        t += dur[g]
        end[g] = t
        free[d] = t
    del end[n:]
    if view is None:
        return TableResult(compiled, start, end, message_delay)
    return TableResult(compiled, start, end, message_delay, view.land(start), view.work)


def evaluate(
    schedule: Schedule,
    costs: Costs | None = None,
    *,
    message_delay: float = 0.0,
    reduce_time: ReduceTime = 0.0,
    program: Program | None = None,
    grad_sync: GradSync = "overlap",
) -> TableResult:
    """Validate ``schedule`` (unless a validated ``program`` is given) and time every action
    (``grad_sync``: see ``run_table``)."""
    if not message_delay >= 0:
        raise ValueError(f"message_delay: {message_delay}; must be >= 0")
    compiled = compile_schedule(schedule, costs, reduce_time=reduce_time, program=program, dry_run=False)
    return run_table(compiled, message_delay, grad_sync)


def unit_trace(schedule: Schedule) -> Trace:
    """Table-level trace of ``schedule`` with every action one slot long (F&B: two), the
    papers' schedule-table convention."""
    costs = Costs.make(schedule.num_stages, F=1.0, B=1.0, I=1.0, W=1.0)
    return evaluate(schedule, costs, reduce_time=1.0, grad_sync="blocking").trace(time_unit="slot")
