"""Zero Bubble schedules (Qi et al., ICLR'24): the backward split into I (input gradient) and W.

Only I lies on the critical path (the gradient sent upstream); W can wait, so it fills bubbles.
All three schedules emit I and W (``split_backward=True``).

ZB-H1 and ZB-H2 share one construction, a 1F1B-like list per device i (0-indexed):

* warm-up: the first ``w_i`` forwards;
* then for j = 0 .. m-1: I_j, then W_{j-d_i} if j >= d_i, then the next forward if any is left;
* cool-down: the remaining W's in microbatch order.

``w_i`` is how far forwards run ahead of backwards; ``d_i`` is how long each W is deferred, which
leaves W's for the tail, where they fill what would otherwise be the cool-down bubble. A device
then holds at most w_i + d_i microbatches in flight (W frees the activations).

* ZB-H1: w_i = min(p - i, m), d_i = i. Every device holds p microbatches in flight, like
  1F1B's stage 0. With F = I = W = 1 the makespan is 3m + p - 1 for m >= p, i.e. exactly
  (p-1)(F+I-W) beyond m(F+I+W), and every device ends at the makespan; for m < p it is
  2m + 2p - 1 (the flush dominates). More generally, for m >= p and W <= min(F, I) the makespan
  is m(F+I+W) + (p-1)(F+I-W).
* ZB-H2: w_i = min(2p-1-2i, m), d_i = min(2i, m - w_i). Stage 0 (and every stage) holds
  min(2p-1, m) in flight. With F = I = W and m >= 2p-1 every device is busy without a gap from
  its first forward to its last W (zero bubble inside each device's span). For smaller m device
  i idles max(0, 2p-1-2i-m) slots inside its span (device 0 cannot be fed before the first
  gradient returns at 2p-1). For I <= F and m >= 2p-1 device i's span is
  m(F+I+W) + (p-1-i)·max(0, F+I-2W), the paper's (p-1)(F+I-2W) on device 0.

ZB-V: 2p chunks in a V (stage s on device s for s < p, on 2p-1-s otherwise). The per-device
rule (rank r, chunk A = stage r, chunk B = stage 2p-1-r; n = max(m, 2p-1) microbatch slots, the
ones >= m dropped at the end so smaller m stays valid):

* warm-up: 2(p-r)-1 forwards of A; then r times (F of B, F of A); then p-r times
  (F of B, I of B, W of B);
* steady: while A or B has forwards left: (F of A if any left), I of A, W of A, F of B, I of B,
  W of B;
* cool-down: r times (I of A, I of B); p-r times (I of A, then the oldest pending W of A);
  then the remaining W's of B, then those of A.

This is the ordering published with the paper's handcrafted ZB-V. With per-chunk F = I = W and
m >= 2p-1 every device is busy from its first forward to its last W, makespan 6mF + (p-1)F, and
every device holds at most 2p chunk-microbatches in flight (p whole-device microbatches, 1F1B's
peak); for m < 2p-1 the makespan is max(6m+p-1, 4m+4p-2)·F with peaks min(2m, 2p).
"""

from __future__ import annotations

from collections.abc import Callable

from pipesim.schedule.layout import linear_layout
from pipesim.schedule.order import CODE_F, CODE_I, CODE_W, Entry, PlainOrder
from pipesim.schedule.registry import Generator
from pipesim.schedule.table import Schedule


def split_1f1b_row(stage: int, m: int, warmup: int, defer: int) -> list[Entry]:
    """One device's list: ``warmup`` forwards, then (I_j, W_{j-defer}, next F), then the W tail."""
    row = [(stage, CODE_F, j) for j in range(warmup)]
    next_f, next_w = warmup, 0
    for j in range(m):
        row.append((stage, CODE_I, j))
        if j >= defer:
            row.append((stage, CODE_W, j - defer))
            next_w = j - defer + 1
        if next_f < m:
            row.append((stage, CODE_F, next_f))
            next_f += 1
    row.extend((stage, CODE_W, j) for j in range(next_w, m))
    return row


def _zb_h(name: str, p: int, m: int, rule: Callable[[int], tuple[int, int]]) -> Schedule:
    layout = linear_layout(p, m)
    rows = []
    for i in range(p):
        warm, defer = rule(i)
        rows.append(split_1f1b_row(i, m, warm, defer))
    return Schedule.from_order(name, layout, PlainOrder.of_rows(rows))


def zb_h1(p: int, m: int) -> Schedule:
    """ZB-H1: 1F1B's memory (p in flight), W deferred by i on device i."""
    return _zb_h("zb-h1", p, m, lambda i: (min(p - i, m), i))


def zb_h2_parameters(p: int, m: int, i: int) -> tuple[int, int]:
    """(warm-up forwards, W deferral) of device i in ZB-H2."""
    warm = min(2 * p - 1 - 2 * i, m)
    return warm, min(2 * i, m - warm)


def zb_h2(p: int, m: int) -> Schedule:
    """ZB-H2: up to 2p-1 in flight; zero bubble in each span for F = I = W and m >= 2p-1."""
    return _zb_h("zb-h2", p, m, lambda i: zb_h2_parameters(p, m, i))


def zb_v(p: int, m: int) -> Schedule:
    """ZB-V: the V-shaped zero-bubble schedule (2p chunks, one weight copy)."""
    layout = linear_layout(p, m, 2, style="v")
    layout.notes.update({"chunks_per_device": 2, "shape": "v"})
    n = max(m, 2 * p - 1)
    rows = []
    for r in range(p):
        stages = (r, 2 * p - 1 - r)  # chunk A (down), chunk B (up)
        row: list[Entry] = []
        fwd, inp = [0, 0], [0, 0]

        def f(c: int, _row: list[Entry] = row, _st: tuple[int, int] = stages, _n: list[int] = fwd) -> None:
            _row.append((_st[c], CODE_F, _n[c]))
            _n[c] += 1

        def i_w(c: int, with_w: bool, _row: list[Entry] = row, _st: tuple[int, int] = stages,
                _n: list[int] = inp) -> None:
            _row.append((_st[c], CODE_I, _n[c]))
            if with_w:
                _row.append((_st[c], CODE_W, _n[c]))
            _n[c] += 1

        for _ in range(2 * (p - r) - 1):
            f(0)
        for _ in range(r):
            f(1)
            f(0)
        for _ in range(p - r):
            f(1)
            i_w(1, True)
        while fwd[1] < fwd[0] or fwd[0] < n:
            if fwd[0] < n:
                f(0)
            i_w(0, True)
            f(1)
            i_w(1, True)
        done_w = list(inp)  # every I so far had its W right after it
        for _ in range(r):
            i_w(0, False)
            i_w(1, False)
        for _ in range(p - r):
            i_w(0, False)
            row.append((stages[0], CODE_W, done_w[0]))
            done_w[0] += 1
        row.extend((stages[1], CODE_W, j) for j in range(done_w[1], inp[1]))
        row.extend((stages[0], CODE_W, j) for j in range(done_w[0], inp[0]))
        rows.append([e for e in row if e[2] < m])
    return Schedule.from_order("zb-v", layout, PlainOrder.of_rows(rows))


GENERATORS = (
    Generator(
        "zb-h1",
        zb_h1,
        "Zero Bubble H1: 1F1B memory, W deferred to fill the cool-down (bubble (p-1)(F+I-W))",
        split_backward=True,
        aliases=("zb1p",),
    ),
    Generator(
        "zb-h2",
        zb_h2,
        "Zero Bubble H2: extra warm-up forwards (2p-1 in flight), no bubble inside device spans",
        split_backward=True,
        aliases=("zb2p",),
    ),
    Generator(
        "zb-v",
        zb_v,
        "Zero Bubble V: 2p chunks in a V, 1F1B memory, no bubble inside device spans (m >= 2p-1)",
        split_backward=True,
        aliases=("zbv",),
    ),
)
