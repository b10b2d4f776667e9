"""The vectorised compile and the single table walk equal plain per-action references, bit for bit.

Compiling reads a schedule into numpy columns and derives everything from them; the table
level times a program in the same walk that checks it for deadlocks. These tests hold each
fast path to a straightforward reference written here, action by action, over every registered
schedule at several p and m, and over broken variants of them, so a speed-up cannot change a
result or an error message:

- dependencies (every prerequisite, its kind, stage and microbatch; missing inputs);
- the two prerequisite slots the loops read, and the shortcut that fills them directly;
- the numpy structure check against ``check_structure``;
- activation memory (a sequential ``np.cumsum``) against a loop accumulating floats;
- durations and messages;
- table times from the walk, from the ordered loop and from a reference loop;
- deadlock errors raised by the table walk against those of ``validate``.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from schedule_grid import schedule_grid

from pipesim.costs import Costs
from pipesim.ideal import run_table
from pipesim.schedule import Action, Kind, Schedule, ScheduleError, validate
from pipesim.schedule.action import COMM
from pipesim.schedule.columns import action_columns, structure_ok
from pipesim.schedule.deps import DEP_ACT, DEP_GRAD, DEP_LOCAL, DEP_SYNC, Program, compile_program
from pipesim.schedule.derive import derive, plain_slots, slots
from pipesim.schedule.validate import check_structure
from pipesim.timeline import action_duration, compile_schedule

GRID = [(name, s) for _, name, s in schedule_grid((1, 2, 3, 4, 5), (1, 2, 4, 7))]
IDS = [name for name, _ in GRID]


def awkward_costs(s: Schedule, seed: int) -> Costs:
    """Per-stage values whose sums round (0.1, 0.3, ...), so any change of addition order shows."""
    rnd = random.Random(seed)
    n = s.num_stages
    return Costs.make(n, F=[rnd.choice([0.1, 0.7, 1.3]) for _ in range(n)], I=[rnd.choice([0.3, 0.9]) for _ in range(n)],
                      W=[rnd.choice([0.2, 1.1]) for _ in range(n)], message_bytes=[rnd.choice([1e6, 3e6]) for _ in range(n)],
                      activation_bytes=[rnd.choice([0.1, 0.3, 2.7]) for _ in range(n)], weight_keep=0.3, overlap=0.7,
                      sized=True)


# -- references: the rules applied one action at a time ------------------------------------------

def reference_deps(s: Schedule) -> tuple[list[list[tuple[int, int, int, int]]], list[tuple[int, tuple[int, int, int]]]]:
    """Every action's prerequisites ``(pred, kind, stage, microbatch)`` and the missing inputs."""
    lay = s.layout
    S, M = max(lay.num_stages, 1), max(lay.num_microbatches, 1)
    actions = [a for row in s.actions for a in row if a.kind not in COMM]
    device = [d for d, row in enumerate(s.actions) for a in row if a.kind not in COMM]
    first = {}
    for g, d in enumerate(device):
        first.setdefault(d, g)
    made: dict[tuple[str, int, int], int] = {}  # (class, stage, mb) -> last producer
    reduce_of: dict[int, int] = {}
    for g, a in enumerate(actions):
        if a.kind is Kind.REDUCE_GRAD:
            reduce_of[a.stage] = g
            continue
        for part in a.sub or (a,):
            if part.microbatch is None or not (0 <= part.stage < S and 0 <= part.microbatch < M):
                continue
            key = (part.stage, part.microbatch)
            classes = {Kind.F: "F", Kind.B: "GW", Kind.I: "G"}.get(part.kind, "W")
            for cls in classes:
                made[(cls, *key)] = g
    deps: list[list[tuple[int, int, int, int]]] = []
    missing: list[tuple[int, tuple[int, int, int]]] = []
    cls_no = {"F": 0, "G": 1, "W": 2}

    def need(g: int, out: list, cls: str, stage: int, mb: int, kind: int, msg_stage: int) -> None:
        p = made.get((cls, stage, mb), -1)
        if p < 0:
            missing.append((g, (cls_no[cls], stage, mb)))
        elif p != g:
            out.append((p, kind if device[p] != device[g] else DEP_LOCAL, msg_stage, mb))

    for g, a in enumerate(actions):
        out: list[tuple[int, int, int, int]] = []
        if a.kind is Kind.REDUCE_GRAD:
            if 0 <= a.stage < S:
                for s2 in lay.part_stages[lay.stage_part[a.stage]]:
                    for mb in lay.stage_microbatches[s2]:
                        need(g, out, "W", s2, mb, DEP_SYNC, s2)
                    g2 = reduce_of.get(s2, -1)
                    if s2 != a.stage and g2 >= 0 and g2 > first[device[g2]]:
                        out.append((g2 - 1, DEP_SYNC if device[g2] != device[g] else DEP_LOCAL, s2, -1))
            deps.append(out)
            continue
        for part in a.sub or (a,):
            st, mb = part.stage, part.microbatch
            if mb is None or not (0 <= st < S and 0 <= mb < M):
                continue
            route = lay.mb_route[mb]
            if part.kind is Kind.F:
                prev = lay.route_prev[route][st]
                if prev >= 0:
                    need(g, out, "F", prev, mb, DEP_ACT, prev)
            elif part.kind is Kind.W:
                need(g, out, "G", st, mb, DEP_LOCAL, st)
            else:
                need(g, out, "F", st, mb, DEP_LOCAL, st)
                nxt = lay.route_next[route][st]
                if nxt >= 0:
                    need(g, out, "G", nxt, mb, DEP_GRAD, st)
        deps.append(out)
    return deps, missing


def reference_activation(prog: Program, costs: Costs) -> tuple[list[int], list[float], list[list[tuple]]]:
    act, keep = costs.activation_bytes, costs.weight_keep
    peaks_n, peaks_b, steps = [], [], []
    for f, c in zip(prog.first, prog.count, strict=True):
        cur_b, cur_n, pk_b, pk_n = 0.0, 0, 0.0, 0
        line = []
        for g in range(f, f + c):
            a = prog.actions[g]
            for part in a.sub if a.sub is not None else (a,):
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
    return peaks_n, peaks_b, steps


def reference_times(prog: Program, deps: list, durations: list[float], delay: float) -> tuple[list[float], list[float]]:
    """Round-robin over devices: run each device's next action once its inputs have ended."""
    n = len(prog.actions)
    start, end = [0.0] * n, [0.0] * n
    done = [False] * n
    pos = list(prog.first)
    stop = [f + c for f, c in zip(prog.first, prog.count, strict=True)]
    moved = True
    while moved:
        moved = False
        for d in range(prog.num_devices):
            while pos[d] < stop[d] and all(done[p] for p, *_ in deps[pos[d]]):
                g = pos[d]
                t = end[g - 1] if g > prog.first[d] else 0.0
                for p, kind, _, _ in deps[g]:
                    e = end[p] + (delay if kind != DEP_LOCAL else 0.0)
                    t = e if e > t else t
                start[g], end[g] = t, t + durations[g]
                done[g] = True
                pos[d] += 1
                moved = True
    assert all(done)
    return start, end


def hexes(values) -> list:
    return [v.hex() if isinstance(v, float) else v for v in values]


# -- the grid ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "s"), GRID, ids=IDS)
def test_dependencies_and_slots_match_the_reference(name, s):
    prog = validate(s)
    deps, missing = reference_deps(s)
    assert [[tuple(d) for d in row] for row in prog.deps] == deps
    assert missing == [] and prog.missing == []
    n = len(prog.actions)
    for g, row in enumerate(deps):
        local = [p for p, kind, _, _ in row if kind == DEP_LOCAL]
        remote = [p for p, kind, _, _ in row if kind != DEP_LOCAL]
        if len(local) > 1 or len(remote) > 1:
            assert (prog.local_pred[g], prog.remote_pred[g]) == (n, n + 1)
        else:
            assert prog.local_pred[g] == (local[0] if local else n)
            assert prog.remote_pred[g] == (remote[0] if remote else n)
    # The shortcut that fills the slots directly agrees with the slots of every prerequisite.
    c = action_columns(s)
    fast = plain_slots(s.layout, c)
    full = slots(n, derive(s, c)[0])
    if fast is not None:
        assert fast[0].tolist() == full[0].tolist() and fast[1].tolist() == full[1].tolist()


@pytest.mark.parametrize(("name", "s"), GRID, ids=IDS)
def test_memory_durations_messages_and_times_are_bit_identical(name, s):
    costs = awkward_costs(s, len(name))
    c = compile_schedule(s, costs, reduce_time=0.25)
    prog = c.program
    peaks_n, peaks_b, steps = reference_activation(prog, costs)
    assert c.activation.peaks_n == peaks_n
    assert hexes(c.activation.peaks_b) == hexes(peaks_b)
    assert [[(g, at, b.hex(), k) for g, at, b, k in line] for line in c.activation.steps] == \
        [[(g, at, b.hex(), k) for g, at, b, k in line] for line in steps]

    assert hexes(c.durations) == hexes(action_duration(a, costs, 0.25 if a.kind is Kind.REDUCE_GRAD else 0.0)
                                       for a in prog.actions)
    deps, _ = reference_deps(s)
    sent = [(p, g, kind, st, mb) for g, row in enumerate(deps) for p, kind, st, mb in row if kind in (DEP_ACT, DEP_GRAD)]
    m = c.messages
    assert list(zip(m.producer, m.consumer, m.kind, m.stage, m.microbatch, strict=True)) == \
        [(p, g, "act" if kind == DEP_ACT else "grad", st, mb) for p, g, kind, st, mb in sent]
    assert hexes(m.nbytes) == hexes(costs.message_bytes[st] for *_, st, _ in sent)

    for delay in (0.0, 0.37):
        ref_start, ref_end = reference_times(prog, deps, c.durations, delay)
        # The reference holds a REDUCE_GRAD as a rendezvous: grad_sync "blocking".
        ordered = run_table(c, delay, "blocking")  # validated: the loop over the dry run's order
        walked = run_table(compile_schedule(s, costs, reduce_time=0.25, dry_run=False), delay, "blocking")  # one walk
        for r in (ordered, walked):
            assert hexes(r.start) == hexes(ref_start) and hexes(r.end) == hexes(ref_end)
        assert ordered.metrics() == walked.metrics()
        assert ordered.makespan == max(ref_end, default=0.0)


@pytest.mark.parametrize(("name", "s"), GRID[::7], ids=IDS[::7])
def test_infinite_times_take_the_general_path(name, s):
    costs = Costs.make(s.num_stages, F=[math.inf] + [1.0] * (s.num_stages - 1))
    c = compile_schedule(s, costs)
    deps, _ = reference_deps(s)
    for delay in (0.0, math.inf):
        ref_start, ref_end = reference_times(c.program, deps, c.durations, delay)
        walked = run_table(compile_schedule(s, costs, dry_run=False), delay)
        assert hexes(walked.start) == hexes(ref_start) and hexes(walked.end) == hexes(ref_end)
        assert hexes(run_table(c, delay).end) == hexes(ref_end)


def broken(s: Schedule, rnd: random.Random) -> list[Schedule]:
    """Variants of ``s`` with one mistake each: missing, doubled, misplaced or reordered actions."""
    rows = [list(r) for r in s.actions]
    busy = [d for d, r in enumerate(rows) if r]
    d = rnd.choice(busy)
    j = rnd.randrange(len(rows[d]))
    out = []

    def variant(edit) -> None:
        rs = [list(r) for r in rows]
        edit(rs)
        out.append(s.with_actions(rs))

    variant(lambda rs: rs[d].pop(j))
    variant(lambda rs: rs[d].insert(rnd.randrange(len(rs[d]) + 1), rows[d][j]))
    variant(lambda rs: rs[d].reverse())
    variant(lambda rs: rs[d].__setitem__(slice(None), rs[d][len(rs[d]) // 2:] + rs[d][: len(rs[d]) // 2]))
    if len(rows) > 1:
        variant(lambda rs: rs[(d + 1) % len(rs)].insert(0, rs[d].pop(j)))
    a = rows[d][j]
    if a.sub is None and a.microbatch is not None:
        variant(lambda rs: rs[d].__setitem__(j, Action(a.stage, a.kind, s.num_microbatches)))
        variant(lambda rs: rs[d].__setitem__(j, Action(a.stage, a.kind, None)))
        variant(lambda rs: rs[d].__setitem__(j, Action(a.stage, Kind.I if a.kind is Kind.B else Kind.B, a.microbatch)))
    variant(lambda rs: rs[d].insert(0, Action(0, Kind.SEND_F, 0)))
    return out


@pytest.mark.parametrize(("name", "s"), GRID[::3], ids=IDS[::3])
def test_broken_schedules_fail_alike_on_every_path(name, s):
    for bad in broken(s, random.Random(name)):
        try:
            check_structure(bad)
            python_ok = True
        except (ScheduleError, KeyError):
            python_ok = False
        assert structure_ok(bad, action_columns(bad)) == python_ok
        if python_ok:  # the vectorised dependencies still equal the reference's, missing ones too
            prog = compile_program(bad)
            deps, missing = reference_deps(bad)
            assert [[tuple(x) for x in row] for row in prog.deps] == deps
            assert [(g, cls) for g, _, cls in prog.missing] == missing
        try:
            validate(bad)
            expected = None
        except ScheduleError as e:
            expected = (type(e), str(e), e.device, e.step, e.action)
        try:  # the table level's path: structure now, then a guessed order or the timing walk
            run_table(compile_schedule(bad, dry_run=False))
            got = None
        except ScheduleError as e:
            got = (type(e), str(e), e.device, e.step, e.action)
        assert got == expected


def test_cumsum_adds_left_to_right():
    """The activation steps rely on it: a running sum in numpy equals Python's, bit for bit."""
    rnd = random.Random(7)
    values = [rnd.choice([0.1, 0.3, -0.7, 1e-9, 2.5e6, -0.1]) for _ in range(5000)]
    total, python = 0.0, []
    for v in values:
        total += v
        python.append(total)
    assert hexes(np.cumsum(np.array(values)).tolist()) == hexes(python)
