"""The compiled program: a schedule and its costs, validated and prepared once.

Both evaluation levels walk the same ``Compiled`` object: the table level
(``pipesim.ideal``) times it with a constant message delay, the simulation level
(``pipesim.sim``) runs it on a SimPy network. Everything that follows from the schedule and
the costs alone lives here and is computed exactly once: the validated dependencies, every
action's duration, the messages (one per cross-device activation or gradient dependency, with
the actions that produce and consume it), the activation-memory steps, the static memory, and
the facts a trace span carries (kind, stage, chunk, route, sub-actions). Neither level imports
the other; both import this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from pipesim.costs import Costs
from pipesim.schedule.action import Action, Kind
from pipesim.schedule.columns import CODE_W
from pipesim.schedule.deps import DEP_ACT, DEP_GRAD, Program, compile_program
from pipesim.schedule.table import Schedule
from pipesim.schedule.validate import (
    ScheduleError,
    check_program,
    check_structure,
    finish_validation,
    validate,
)
from pipesim.timeline.memory import ActivationSteps, activation_steps, static_memory

#: How long a REDUCE_GRAD holds its device beyond its all-reduce: one number for every stage,
#: one per stage, or a function of the stage.
ReduceTime = float | Sequence[float] | Callable[[int], float]

#: Trace span kind of each compute action kind.
SPAN_KIND = {Kind.F: "F", Kind.B: "B", Kind.I: "I", Kind.W: "W", Kind.OVERLAP_F_B: "F&B",
             Kind.REDUCE_GRAD: "REDUCE_GRAD"}


class MessageSpec(NamedTuple):
    """One point-to-point message the schedule implies: the output of ``producer`` (an action
    id) that ``consumer`` needs on another device. ``stage`` is the stage whose boundary tensor
    travels, so ``nbytes`` is ``costs.message_bytes[stage]``."""

    producer: int
    consumer: int
    kind: str  # "act" (forward activation) or "grad" (backward gradient)
    stage: int
    microbatch: int
    nbytes: float


class Messages:
    """Every message of a program, as columns (message k is ``producer[k]``, ``consumer[k]``, ...):
    a program has one per cross-device dependency, tens of thousands, and columns cost a list
    append each where a record object per message costs a constructor call."""

    __slots__ = ("consumer", "kind", "microbatch", "nbytes", "producer", "stage")

    def __init__(self) -> None:
        self.producer: list[int] = []
        self.consumer: list[int] = []
        self.kind: list[str] = []
        self.stage: list[int] = []
        self.microbatch: list[int] = []
        self.nbytes: list[float] = []

    @classmethod
    def of(cls, program: Program, costs: Costs) -> Messages:
        """One message per activation or gradient dependency, in action then dependency order."""
        out = cls()
        a = program.dep_arrays
        sent = (a.kind == DEP_ACT) | (a.kind == DEP_GRAD)
        owner = np.repeat(np.arange(len(a.ptr) - 1, dtype=np.int64), np.diff(a.ptr))
        stage = a.stage[sent]
        out.producer = a.pred[sent].tolist()
        out.consumer = owner[sent].tolist()
        out.kind = _MESSAGE_KIND[a.kind[sent]].tolist()
        out.stage = stage.tolist()
        out.microbatch = a.mb[sent].tolist()
        out.nbytes = np.asarray(costs.message_bytes, dtype=np.float64)[stage].tolist()
        return out

    def __len__(self) -> int:
        return len(self.producer)

    def __getitem__(self, k: int) -> MessageSpec:
        return MessageSpec(self.producer[k], self.consumer[k], self.kind[k], self.stage[k], self.microbatch[k],
                           self.nbytes[k])


_MESSAGE_KIND = np.array(["", "act", "grad", ""], dtype=object)  # by DEP_* kind


def action_duration(action: Action, costs: Costs, reduce: float = 0.0) -> float:
    """The one definition of an action's duration. An overlapped F&B chunk costs
    ``overlap * (F + B)``; a REDUCE_GRAD costs ``reduce`` (its transfer is the network's);
    communication markers cost nothing."""
    kind = action.kind
    if kind is Kind.F:
        return costs.forward[action.stage]
    if kind is Kind.B:
        return costs.backward[action.stage]
    if kind is Kind.I:
        return costs.backward_input[action.stage]
    if kind is Kind.W:
        return costs.backward_weight[action.stage]
    if kind is Kind.OVERLAP_F_B:
        f, b = action.sub  # type: ignore[misc]
        return costs.overlap * (costs.forward[f.stage] + action_duration(b, costs))
    if kind is Kind.REDUCE_GRAD:
        return reduce
    return 0.0


def _reduce_function(reduce_time: ReduceTime) -> Callable[[int], float]:
    if callable(reduce_time):
        return reduce_time
    if isinstance(reduce_time, int | float):
        value = float(reduce_time)
        return lambda _s: value
    values = tuple(float(v) for v in reduce_time)
    return lambda s: values[s]


def check_costs(schedule: Schedule, costs: Costs) -> None:
    if costs.num_stages != schedule.num_stages:
        raise ValueError(
            f"costs are for {costs.num_stages} stages but schedule '{schedule.name}' has "
            f"{schedule.num_stages} stages ({schedule.num_devices} devices); give one cost per stage"
        )


@dataclass(eq=False)
class Compiled:
    """A validated program with its costs; see the module docstring. Build with ``compile_schedule``."""

    program: Program
    costs: Costs
    durations: list[float]
    activation: ActivationSteps
    static_memory: list[float]
    duration_array: np.ndarray  # ``durations`` as numpy

    @cached_property
    def work(self) -> list[float]:
        """Per device, the sum of its actions' durations: its busy time at the table level,
        where every action holds its device for exactly its duration."""
        return device_sums(self.program, self.duration_array)

    @cached_property
    def messages(self) -> Messages:
        """Every message, built on first use: the table level's metrics never need them."""
        return Messages.of(self.program, self.costs)

    @property
    def schedule(self) -> Schedule:
        return self.program.schedule

    @property
    def num_devices(self) -> int:
        return self.program.num_devices

    @property
    def memory_unit(self) -> str:
        """"bytes" when the costs carry real sizes, else "stage-microbatch" (one stage's
        activations of one microbatch count 1)."""
        return "bytes" if self.costs.sized else "stage-microbatch"

    def weight_copies(self) -> list[float]:
        lay = self.schedule.layout
        return [lay.weight_copies(d) for d in range(lay.num_devices)]

    def span_facts(self) -> list[tuple[str, int, int, int, int, str, tuple[str, ...]]]:
        """Per action: (span kind, stage, microbatch, chunk, route, label, sub-action labels).

        ``chunk`` is the stage's index among its device's stages (interleaved chunk, V-shape arm,
        Chimera replica); ``route`` the microbatch's route (-1 when the action has none)."""
        lay = self.schedule.layout
        chunk_of = [0] * lay.num_stages
        for stages in lay.device_stages:
            for i, s in enumerate(sorted(stages)):
                chunk_of[s] = i
        out = []
        for a in self.program.actions:
            mb = a.microbatch if a.microbatch is not None else (a.sub[0].microbatch if a.sub else None)
            mb = -1 if mb is None else mb
            route = lay.mb_route[mb] if mb >= 0 else -1
            subs = tuple(str(x) for x in a.sub) if a.sub else ()
            out.append((SPAN_KIND[a.kind], a.stage, mb, chunk_of[a.stage], route, str(a), subs))
        return out


def compile_schedule(
    schedule: Schedule,
    costs: Costs | None = None,
    *,
    reduce_time: ReduceTime = 0.0,
    program: Program | None = None,
    check: bool = True,
    dry_run: bool = True,
) -> Compiled:
    """Validate ``schedule`` (unless a validated ``program`` is given) and prepare everything
    the levels need. ``check=False`` skips the deadlock dry run (engine tests of deadlocks).
    ``dry_run=False`` checks everything else now and leaves the dry run to the table level
    (``pipesim.ideal.run_table``): a guessed order checked with numpy
    (``pipesim.schedule.presort``), else the walk that times the actions in the same pass and
    raises the same ``DeadlockError``; only for a program that goes to the table level next."""
    if costs is None:
        costs = Costs.make(schedule.num_stages)
    check_costs(schedule, costs)
    if program is None or not (program.has_order or program.order_pending):
        if not check:
            program = _compile_unvalidated(schedule)
        elif dry_run:
            program = validate(schedule)
        else:
            program = check_program(schedule)
            program.order_pending = True
    elif program.order_pending and check and dry_run:  # a program whose dry run was left for later
        finish_validation(program)
    duration_array, durations = _durations(program, costs, _reduce_function(reduce_time))
    return Compiled(program, costs, durations, activation_steps(program, costs), static_memory(schedule, costs),
                    duration_array)


def _durations(program: Program, costs: Costs, reduce: Callable[[int], float]) -> tuple[np.ndarray, list[float]]:
    """Every action's duration, as numpy and as a list: the four plain kinds by table lookup
    (tens of thousands of actions, one numpy gather), the rest by ``action_duration``.

    When every action is plain, the list refers to the table's few float objects (one per
    kind and stage) instead of making one per action: no allocation per action, and a list
    that stays in cache while the levels' loops read it.

    None may be negative or NaN: both levels rely on a device's end times never decreasing
    along its list (``pipesim.schedule.walk``), and no real action takes negative time."""
    c = program.columns
    table = np.array([costs.forward, costs.backward, costs.backward_input, costs.backward_weight], dtype=np.float64)
    if not (table >= 0.0).all():
        raise ValueError("costs: every F, B, I and W duration must be >= 0")
    plain = c.kind <= CODE_W
    flat = table.ravel()  # [kind * S + stage]
    if plain.all():
        index = c.kind * costs.num_stages + c.stage
        return flat.take(index), np.array(flat.tolist(), dtype=object).take(index).tolist()
    out = np.zeros(len(c), dtype=np.float64)
    out[plain] = flat.take(c.kind[plain] * costs.num_stages + c.stage[plain])
    for g in np.flatnonzero(~plain).tolist():
        a = program.actions[g]
        out[g] = x = action_duration(a, costs, reduce(a.stage) if a.kind is Kind.REDUCE_GRAD else 0.0)
        if not x >= 0.0:
            what = "reduce_time" if a.kind is Kind.REDUCE_GRAD else "duration"
            raise ValueError(f"{what} of action {a}: {x}; durations must be >= 0")
    return out, out.tolist()


def device_sums(program: Program, values: np.ndarray) -> list[float]:
    """Per device, the sum of ``values`` (one per action) over its actions, added left to right
    in list order as the table level's ``t += duration`` does (``np.bincount`` with weights adds
    in input order; ``np.add.reduceat`` adds pairwise and can put a device with no gap a few
    ulp above its own span); 0.0 for a device with none."""
    return np.bincount(program.columns.device, weights=values, minlength=program.num_devices).tolist()


def _compile_unvalidated(schedule: Schedule) -> Program:
    check_structure(schedule)
    program = compile_program(schedule)
    if program.missing:
        raise ScheduleError("schedule has actions whose inputs no device computes; run `pipesim validate`", schedule)
    return program
