"""Validation: a schedule is checked before anything evaluates it.

Structural checks (every (stage, microbatch) computed exactly once, on the right device) come
first; then a dependency-driven dry run finds local-order mistakes and cross-device deadlocks.
Every error names the device, step and action and shows the grid with the bad cell marked.
"""

from __future__ import annotations

from pipesim.gcpause import gc_paused
from pipesim.schedule.action import COMM, Action, Kind
from pipesim.schedule.columns import action_columns, structure_ok
from pipesim.schedule.deps import (
    CLS_F,
    CLS_G,
    Program,
    compile_program,
    waiting_description,
)
from pipesim.schedule.presort import guessed_order
from pipesim.schedule.table import Schedule, render_grid
from pipesim.schedule.walk import stuck_state, walk

_CLS_NAME = {CLS_F: "F", CLS_G: "B or I", 2: "W (or B)"}


class ScheduleError(ValueError):
    """A schedule that cannot run. ``device``/``step``/``action`` locate the first bad cell."""

    def __init__(self, message: str, schedule: Schedule | None = None, device: int | None = None,
                 step: int | None = None, action: Action | None = None) -> None:
        self.device, self.step, self.action = device, step, action
        self.summary = message
        if schedule is not None:
            mark = (device, step) if device is not None and step is not None else None
            message = message + "\n" + render_grid(schedule.as_strings(), mark=mark)
        super().__init__(message)


class DeadlockError(ScheduleError):
    """No device can make progress although some have actions left."""


def _fail(schedule: Schedule, device: int, step: int, why: str) -> ScheduleError:
    action = schedule.actions[device][step]
    return ScheduleError(f"device {device}, step {step}, action {action}: {why}", schedule, device, step, action)


def check_structure(schedule: Schedule) -> None:
    """Every (stage, microbatch) on a stage's routes has one F and either one B or one I and one W,
    on the device that owns the stage; actions name existing stages and microbatches."""
    lay = schedule.layout
    if len(schedule.actions) != lay.num_devices:
        raise ScheduleError(
            f"schedule has {len(schedule.actions)} device lists but the layout has {lay.num_devices} devices"
        )
    S, M = lay.num_stages, lay.num_microbatches
    stage_device, route_stages, mb_route = lay.stage_device, lay.route_stages, lay.mb_route
    # where[kind][s * M + mb] = (device, step) of the action, or None: flat lists keep this fast.
    where: dict[Kind, list[tuple[int, int] | None]] = {k: [None] * (S * M) for k in (Kind.F, Kind.B, Kind.I, Kind.W)}
    reduces: set[int] = set()
    for d, acts in enumerate(schedule.actions):
        for j, a in enumerate(acts):
            if a.kind in COMM:
                continue
            if not 0 <= a.stage < S:
                raise _fail(schedule, d, j, f"stage {a.stage} does not exist; stages are 0..{S - 1}")
            if a.kind is Kind.REDUCE_GRAD:
                if stage_device[a.stage] != d:
                    raise _fail(schedule, d, j, f"stage {a.stage} lives on device {stage_device[a.stage]}, not {d}")
                if a.stage in reduces:
                    raise _fail(schedule, d, j, f"second REDUCE_GRAD for stage {a.stage}")
                reduces.add(a.stage)
                continue
            for part in (a,) if a.sub is None else a.sub:
                s, mb = part.stage, part.microbatch
                if not 0 <= s < S:
                    raise _fail(schedule, d, j, f"stage {s} does not exist; stages are 0..{S - 1}")
                if stage_device[s] != d:
                    raise _fail(schedule, d, j, f"stage {s} lives on device {stage_device[s]}, not on device {d}")
                if mb is None or not 0 <= mb < M:
                    raise _fail(schedule, d, j, f"microbatch {mb} does not exist; microbatches are 0..{M - 1}")
                if s not in route_stages[mb_route[mb]]:
                    r = mb_route[mb]
                    raise _fail(schedule, d, j, f"microbatch {mb} takes route {r} {list(lay.routes[r])}, which does not visit stage {s}")
                slot = where[part.kind]
                if slot[s * M + mb] is not None:
                    d0, j0 = slot[s * M + mb]  # type: ignore[misc]
                    raise _fail(schedule, d, j, f"{part} appears twice (first at device {d0}, step {j0})")
                slot[s * M + mb] = (d, j)
    wf, wb, wi, ww = where[Kind.F], where[Kind.B], where[Kind.I], where[Kind.W]
    for s in range(S):
        d = stage_device[s]
        for mb in lay.stage_microbatches[s]:
            i = s * M + mb
            if wf[i] is None:
                raise ScheduleError(f"device {d}: missing action {s}F{mb} (stage {s} is on device {d})", schedule)
            b_at, i_at, w_at = wb[i], wi[i], ww[i]
            if b_at is not None:
                if i_at is not None or w_at is not None:
                    raise _fail(schedule, *b_at, f"microbatch {mb} of stage {s} has both a full backward and a split one")
                continue
            if i_at is None and w_at is None:
                raise ScheduleError(f"device {d}: missing backward for stage {s}, microbatch {mb}: "
                                    f"add {s}B{mb}, or {s}I{mb} and {s}W{mb}", schedule)
            if i_at is None and w_at is not None:
                raise _fail(schedule, *w_at, f"{s}W{mb} has no matching {s}I{mb}")
            if w_at is None and i_at is not None:
                raise _fail(schedule, *i_at, f"{s}I{mb} has no matching {s}W{mb}")


def finish_validation(program: Program) -> None:
    """The dry run for a program ``check_program`` made: sets its order or raises. An order
    guessed and checked with numpy (``pipesim.schedule.presort``) proves it as well as a walk."""
    program.order_array = guessed_order(program)
    if program.order_array is None:
        program.order_runs = _dry_run(program)
    program.order_pending = False


def _dry_run(program: Program) -> list[int]:
    walked = walk(program, [0.0] * program.num_actions)
    if walked is None:
        raise deadlock_error(program)
    return walked[2]


def deadlock_error(program: Program) -> DeadlockError:
    """The error for a program whose dry run cannot finish: where each device is stuck."""
    return _deadlock(program, *stuck_state(program))


def _deadlock(program: Program, stuck: list[int], ptr: list[int], done: list[bool]) -> DeadlockError:
    sched = program.schedule
    # A prerequisite later in the device's own list is a local-order mistake: say so plainly.
    for d in stuck:
        g = ptr[d]
        for dep in program.deps[g]:
            if not done[dep.pred] and program.device[dep.pred] == d:
                a, p = program.actions[g], program.actions[dep.pred]
                if dep.pred == g:  # only a collective can: its partner is later on this device
                    return DeadlockError(
                        f"device {d}, step {program.step[g]}, action {a}: waits for itself, because "
                        f"another replica of its model part reduces later on the same device and a "
                        f"device cannot meet itself in an all-reduce; place the replicas of stage "
                        f"{a.stage}'s part on different devices", sched, d, program.step[g], a)
                return DeadlockError(
                    f"device {d}, step {program.step[g]}, action {a}: needs {p}, which comes later "
                    f"on the same device (step {program.step[dep.pred]}); move {p} before {a}",
                    sched, d, program.step[g], a)
    lines = [f"deadlock: {len(stuck)} device(s) blocked, none can proceed"]
    for d in stuck:
        g = ptr[d]
        lines.append(f"  device {d}, step {program.step[g]}, action {program.actions[g]} waits for "
                     f"{waiting_description(program, g, done)}")
    d0 = stuck[0]
    g0 = ptr[d0]
    return DeadlockError("\n".join(lines), sched, d0, program.step[g0], program.actions[g0])


def validate(schedule: Schedule) -> Program:
    """Check ``schedule`` fully; return its compiled program (reusable by the evaluators)."""
    program = check_program(schedule)
    finish_validation(program)
    return program


def check_program(schedule: Schedule) -> Program:
    """Everything ``validate`` checks but the deadlock dry run: structure, inputs that no device
    computes, overlapped chunks. The result has no order yet; ``finish_validation`` (or the
    table level, ``pipesim.ideal.run_table``) runs the dry run before anything evaluates it."""
    with gc_paused():  # reading the schedule allocates one list entry per action, many times
        return _check_program(schedule)


def _check_program(schedule: Schedule) -> Program:
    columns = action_columns(schedule)
    if not structure_ok(schedule, columns):
        check_structure(schedule)  # raises with the first bad cell's exact message
    program = compile_program(schedule, columns)
    if program.missing:
        gid, _action, (cls, s, mb) = program.missing[0]
        d, j = program.device[gid], program.step[gid]
        raise _fail(schedule, d, j, f"needs a {_CLS_NAME[cls]} of stage {s}, microbatch {mb}, which no device computes")
    for gid in columns.with_sub:
        f, b = program.actions[gid].sub  # type: ignore[misc]
        if f.stage == b.stage and f.microbatch == b.microbatch:
            raise _fail(schedule, program.device[gid], program.step[gid],
                        "an overlapped chunk cannot contain the forward and backward of the same microbatch and stage")
    return program
