"""DualPipe and DualPipeV (DeepSeek-V3): bidirectional pipelines with overlapped F&B chunks.

DeepSeek's ``dualpipe.py``/``dualpipev.py`` express each rank's program as eight loops. Here the
same program is *data*: ``STEPS`` lists the eight phases, each with a repeat count (a function
of the rank) and the chunk pattern one repetition performs. Phase 0 on a rank is the direction
in which the rank sits in the first half of the pipeline, phase 1 the other one (DeepSeek's
``phase ^= is_in_second_half``). Pattern tokens:

* ``F0``/``F1``: forward chunk of phase 0/1 (next microbatch of that phase, FIFO);
* ``B0``/``B1``: full backward; ``I0``/``I1``: input-gradient backward whose weight gradient is
  deferred (DeepSeek's ``enable_zb``) to a later ``W`` (a FIFO queue, as ``WeightGradStore``);
* ``F0&B1``: one overlapped chunk ``OVERLAP_F_B`` (forward of phase 0 with backward of phase 1);
* ``W``: pop the oldest deferred weight gradient.

Step 4's first repetition on the middle ranks (DualPipe) or the last rank (DualPipeV) runs F0
and B1 separately, and step 6 switches to deferred weight gradients half-way (``zb_from``),
exactly as the reference code does.

Layouts. DualPipe on p ranks (p even): stage s (s < p) is the forward-direction replica of model
part s on device s; stage p + j is the reverse-direction replica of part j on device p-1-j. So
rank r holds part r (forward) and part p-1-r (reverse): two weight copies; m/2 microbatches
travel each way (0..m/2-1 forward, the rest in reverse). DualPipeV on p ranks: one V-shaped
route through 2p stages, stage s on device s and stage 2p-1-s on device s (one weight copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipesim.schedule.action import Action, Kind, overlap
from pipesim.schedule.layout import Layout
from pipesim.schedule.registry import Generator, Option, RequirementError
from pipesim.schedule.table import Schedule


@dataclass(frozen=True)
class Step:
    """One of the eight phases: ``count(n, h)`` repetitions of ``pattern`` (n = half the ranks
    for DualPipe / all ranks for DualPipeV, h = the rank's position in its first half)."""

    name: str
    count: Callable[[int, int, int], int]  # (n, h, chunks per phase) -> repetitions
    pattern: tuple[str, ...]


STEPS: tuple[Step, ...] = (
    Step("1: nF0", lambda n, h, c: 2 * (n - h - 1), ("F0",)),
    Step("2: nF0F1", lambda n, h, c: h + 1, ("F0", "F1")),
    Step("3: nB1W1F1 (zero bubble)", lambda n, h, c: n - h - 1, ("I1", "W", "F1")),
    Step("4: nF0B1F1B0 (main)", lambda n, h, c: c - 2 * n + h + 1, ("F0&B1", "F1&B0")),
    Step("5: nB1F1B0", lambda n, h, c: n - h - 1, ("B1", "F1&B0")),
    Step("6: nB1B0 (second half zero bubble)", lambda n, h, c: h + 1, ("B1", "B0")),
    Step("7: nWB0 (zero bubble)", lambda n, h, c: n - h - 1, ("W", "I0")),
    Step("8: nW", lambda n, h, c: h + 1, ("W",)),
)


def _rank_program(n: int, h: int, chunks: int, split_first_main: bool,
                  stage: tuple[int, int], mbs: tuple[list[int], list[int]]) -> list[Action]:
    """Expand ``STEPS`` for one rank into actions. ``stage[ph]``/``mbs[ph]``: the rank's stage
    and microbatch sequence in phase ph."""
    nxt_f, nxt_b = [0, 0], [0, 0]
    wqueue: list[Action] = []
    out: list[Action] = []
    zb_from = (h + 1) // 2  # step 6: the repetition in which deferring W starts

    def fwd(ph: int) -> Action:
        i = nxt_f[ph]
        nxt_f[ph] += 1
        return Action(stage[ph], Kind.F, mbs[ph][i])

    def bwd(ph: int, deferred: bool) -> Action:
        i = nxt_b[ph]
        nxt_b[ph] += 1
        if deferred:
            wqueue.append(Action(stage[ph], Kind.W, mbs[ph][i]))
            return Action(stage[ph], Kind.I, mbs[ph][i])
        return Action(stage[ph], Kind.B, mbs[ph][i])

    for step in STEPS:
        for rep in range(step.count(n, h, chunks)):
            for pos, tok in enumerate(step.pattern):
                if tok == "W":
                    out.append(wqueue.pop(0))
                elif "&" in tok:
                    f_ph, b_ph = int(tok[1]), int(tok[4])
                    if step.name.startswith("4") and rep == 0 and pos == 0 and split_first_main:
                        out.append(fwd(f_ph))  # the reference code does not overlap these two
                        out.append(bwd(b_ph, False))
                    else:
                        f = fwd(f_ph)
                        out.append(overlap(f, bwd(b_ph, False)))
                elif tok[0] == "F":
                    out.append(fwd(int(tok[1])))
                else:
                    ph = int(tok[1])
                    if step.name.startswith("6"):
                        # B0 defers from repetition zb_from on; B1 too when h is odd, else one later
                        deferred = rep > zb_from or (rep == zb_from and (ph == 0 or h % 2 == 1))
                    else:
                        deferred = tok[0] == "I"
                    out.append(bwd(ph, deferred))
    if wqueue:  # pragma: no cover - the step counts guarantee an empty queue
        raise AssertionError(f"dualpipe: {len(wqueue)} weight gradients left unscheduled")
    return out


def dualpipe(p: int, m: int, reduce_grad: bool = True, overlap_chunks: bool = True) -> Schedule:
    if p < 2 or p % 2:
        raise RequirementError(f"schedule 'dualpipe': p={p}; DualPipe needs an even number of ranks >= 2")
    if m % 2 or m < 2 * p:
        raise RequirementError(
            f"schedule 'dualpipe': p={p}, m={m}; DualPipe needs an even m >= 2p (half the microbatches "
            f"go each way, and each half must cover the p ranks: the reference asserts "
            f"num_chunks % 2 == 0 and num_chunks >= 2 * num_ranks); valid m: {2 * p}, {2 * p + 2}, ..."
        )
    half, c = p // 2, m // 2
    fwd_mbs, rev_mbs = list(range(c)), list(range(c, m))
    layout = Layout(
        num_devices=p,
        stage_device=tuple(range(p)) + tuple(p - 1 - j for j in range(p)),
        stage_part=tuple(range(p)) + tuple(range(p)),
        routes=(tuple(range(p)), tuple(range(p, 2 * p))),
        mb_route=tuple([0] * c + [1] * c),
        notes={"directions": ("forward", "reverse")},
    )
    rows = []
    for r in range(p):
        h = min(r, p - 1 - r)
        fstage, rstage = r, p + (p - 1 - r)
        if r < half:
            stage, mbs = (fstage, rstage), (fwd_mbs, rev_mbs)
        else:
            stage, mbs = (rstage, fstage), (rev_mbs, fwd_mbs)
        middle = h == half - 1
        # DualPipe's counts use n = p/2 ranks per half and m/2 chunks per direction
        rows.append(_rank_program(half, h, c, middle, stage, mbs))
    if not overlap_chunks:
        rows = [_unpair(row) for row in rows]
    sched = Schedule.build("dualpipe", layout, rows, reduce_grad=reduce_grad, overlap_chunks=overlap_chunks)
    return sched


def dualpipev(p: int, m: int, overlap_chunks: bool = True) -> Schedule:
    if m < 2 * p:
        raise RequirementError(
            f"schedule 'dualpipev': p={p}, m={m}; DualPipeV needs m >= 2p = the number of stages "
            f"({2 * p}; the reference asserts num_chunks >= num_ranks * 2); valid m: {2 * p}, {2 * p + 1}, ..."
        )
    S = 2 * p
    layout = Layout(
        num_devices=p,
        stage_device=tuple(s if s < p else S - 1 - s for s in range(S)),
        stage_part=tuple(range(S)),
        routes=(tuple(range(S)),),
        mb_route=(0,) * m,
        notes={"shape": "V"},
    )
    mbs = list(range(m))
    rows = []
    for r in range(p):
        # DualPipeV's counts are DualPipe's with n = p ranks, h = r and all m chunks
        rows.append(_rank_program(p, r, m, r == p - 1, (r, S - 1 - r), (mbs, mbs)))
    if not overlap_chunks:
        rows = [_unpair(row) for row in rows]
    return Schedule.build("dualpipev", layout, rows, overlap_chunks=overlap_chunks)


def _unpair(row: list[Action]) -> list[Action]:
    """Replace every overlapped chunk by its forward then its backward (for comparisons)."""
    out: list[Action] = []
    for a in row:
        out.extend(a.sub if a.sub is not None else (a,))
    return out


_OVERLAP_HELP = ("emit F&B pairs as OVERLAP_F_B compound actions (costed overlap*(F+B)); "
                 "false runs each pair as its forward then its backward")

GENERATORS = (
    Generator(
        "dualpipe",
        dualpipe,
        "DeepSeek DualPipe: two directions, two weight copies, overlapped F&B chunks, deferred W",
        requirements="p even >= 2; m even and m >= 2p",
        options=(
            Option("reduce_grad", bool, True,
                   "add one REDUCE_GRAD per stage (both replicas of each part) in the first idle slot after "
                   "the part's last backward or W on that device (unit-slot timeline)"),
            Option("overlap_chunks", bool, True, _OVERLAP_HELP),
        ),
        split_backward=True,
    ),
    Generator(
        "dualpipev",
        dualpipev,
        "DeepSeek DualPipeV (cut-in-half DualPipe): V shape, 2p stages, one weight copy",
        requirements="p >= 1; m >= 2p (the number of stages)",
        options=(Option("overlap_chunks", bool, True, _OVERLAP_HELP),),
        split_backward=True,
    ),
)
