"""Closed forms for the classic schedules: GPipe, 1F1B, interleaved 1F1B, ZB-H1/H2/V, looped BFS.

Times use per-stage (per-chunk) costs, the numbers a ``Costs`` object holds. For interleaved and
looped schedules a device runs v chunks, so the literature's whole-device F is v·F here: the
interleaved bubble time (p-1)(F+B) per chunk is the literature's (p-1)(F_dev+B_dev)/v.

Each value below is exact at the table level (uniform costs, free communication) in the regime
its docstring names, and the tests check it against the evaluator; outside that regime the value
is ``None`` and the literature's estimate, when there is one, sits in ``extra``.
``peak_activations`` counts stage-microbatches in flight per device (forward done, backward or W
not yet done), the unit ``TableResult.peak_inflight`` uses; one chunk of a v-chunk device is 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pipesim.formulas import ClosedForm


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


def _span_ratio(spans: Sequence[float], busy: float) -> float:
    total = sum(spans)
    return 0.0 if total <= 0 else max(0.0, 1.0 - len(spans) * busy / total)


def _ratio(makespan: float | None, busy: float) -> float | None:
    if makespan is None:
        return None
    return 0.0 if makespan <= 0 else 1.0 - busy / makespan


def _boundaries(p: int, stages: int, same_device_turns: int = 0) -> int:
    """Cross-device hand-overs of one microbatch in one direction."""
    return 0 if p == 1 else stages - 1 - same_device_turns


def _flush_spans(p: int, makespan: float, F: float, B: float) -> list[float]:
    """GPipe/1F1B/looped: device d starts after d forwards and ends d backwards before the end."""
    return [makespan - d * (F + B) for d in range(p)]


def gpipe(p: int, m: int, *, F: float, B: float, I: float, W: float, **_: object) -> ClosedForm:  # noqa: E741
    """GPipe: makespan (m+p-1)(F+B), bubble ratio (p-1)/(m+p-1), m microbatches stashed everywhere."""
    busy = m * (F + B)
    makespan = (m + p - 1) * (F + B)
    return ClosedForm(
        schedule="gpipe", makespan=makespan, bubble_ratio=_ratio(makespan, busy),
        span_bubble_ratio=_span_ratio(_flush_spans(p, makespan, F, B), busy),
        peak_activations=tuple(float(m) for _ in range(p)), weight_copies=1.0,
        p2p_per_microbatch=_boundaries(p, p),
        notes="GPipe / Megatron PTD-P: (m+p-1)(F+B); all forwards before any backward",
        extra={"bubble_time": (p - 1) * (F + B)},
    )


def one_f_one_b(p: int, m: int, *, F: float, B: float, I: float, W: float, **_: object) -> ClosedForm:  # noqa: E741
    """1F1B: GPipe's makespan with stage s holding min(p-s, m) microbatches."""
    busy = m * (F + B)
    makespan = (m + p - 1) * (F + B)
    return ClosedForm(
        schedule="1f1b", makespan=makespan, bubble_ratio=_ratio(makespan, busy),
        span_bubble_ratio=_span_ratio(_flush_spans(p, makespan, F, B), busy),
        peak_activations=tuple(float(min(p - s, m)) for s in range(p)), weight_copies=1.0,
        p2p_per_microbatch=_boundaries(p, p),
        notes="1F1B (PipeDream-Flush, DAPPLE): warm-up p-s-1 forwards on stage s",
        extra={"bubble_time": (p - 1) * (F + B)},
    )


def interleaved(p: int, m: int, *, F: float, B: float, I: float, W: float, v: int = 2,  # noqa: E741
                group: int = 0, **_: object) -> ClosedForm:
    """Interleaved 1F1B, per-chunk F and B: makespan (m·v + p - 1)(F+B) whenever the generator's
    rule holds (v >= 2, G in [p, m], m % G == 0 or m % G >= p; G = p classically). Device r holds
    min(2(p-r-1) + (v-1)G + 1, m·v) chunk-microbatches: its warm-up plus the steady forward, i.e.
    p·v + p - 1 on device 0 with G = p — the literature's p·M_a·(1 + (p-1)/(p·v)).
    """
    g = p if group == 0 else group
    busy = m * v * (F + B)
    rest = m % g if g else 0
    valid = v >= 2 and p <= g <= m and (rest == 0 or rest >= p)
    makespan = (m * v + p - 1) * (F + B) if valid else None
    # Megatron's warm-up on rank r is 2(p - r - 1) + (v - 1)·G forwards; one more forward runs
    # before the first backward frees anything. Written out here, not imported from the
    # generator: an oracle must not reuse the code it checks.
    peaks = tuple(float(min(2 * (p - r - 1) + (v - 1) * g + 1, m * v)) for r in range(p)) if valid else None
    spans = _flush_spans(p, makespan, F, B) if makespan is not None else None
    return ClosedForm(
        schedule="interleaved", makespan=makespan, bubble_ratio=_ratio(makespan, busy),
        span_bubble_ratio=_span_ratio(spans, busy) if spans else None,
        peak_activations=peaks, weight_copies=1.0, p2p_per_microbatch=_boundaries(p, p * v),
        notes=("Megatron interleaved 1F1B; per-chunk costs, so the bubble time (p-1)(F+B) equals the "
               "literature's (p-1)(F_dev+B_dev)/v" + ("" if valid else "; outside the generator's rule: no value")),
        extra={"bubble_time": (p - 1) * (F + B)},
    )


def zb_h1(p: int, m: int, *, F: float, B: float, I: float, W: float, **_: object) -> ClosedForm:  # noqa: E741
    """ZB-H1: m(F+I+W) + (p-1)(F+I-W) for m >= p and W <= min(F, I); with F = I = W and m < p,
    (2m + 2p - 1)F. Every device holds min(p, m) microbatches in flight."""
    busy = m * (F + I + W)
    makespan: float | None = None
    spans: list[float] | None = None
    uniform = _close(F, I) and _close(I, W)
    if m >= p and min(F, I) + 1e-12 >= W:
        makespan = busy + (p - 1) * (F + I - W)
        if uniform:
            spans = [makespan - d * F for d in range(p)]
    elif uniform:
        makespan = (2 * m + 2 * p - 1) * F
        spans = [makespan - d * F - max(0, d - m + 1) * F for d in range(p)]
    return ClosedForm(
        schedule="zb-h1", makespan=makespan, bubble_ratio=_ratio(makespan, busy),
        span_bubble_ratio=_span_ratio(spans, busy) if spans else None,
        peak_activations=tuple(float(min(p, m)) for _ in range(p)), weight_copies=1.0,
        p2p_per_microbatch=_boundaries(p, p),
        notes="Zero Bubble H1 (Qi et al. ICLR'24): bubble (p-1)(F+I-W); exact for m >= p and W <= min(F, I)",
        extra={"paper_bubble_time": (p - 1) * (F + I - W)},
    )


def zb_h2(p: int, m: int, *, F: float, B: float, I: float, W: float, **_: object) -> ClosedForm:  # noqa: E741
    """ZB-H2: device i starts at iF. For I <= F and m >= 2p-1 its span is
    m(F+I+W) + (p-1-i)·max(0, F+I-2W) with no idle inside; with F = I = W and any m the makespan is
    max(3m+p-1, 2m+2p-1)F and device i idles max(0, 2p-1-2i-m)F inside its span."""
    busy = m * (F + I + W)
    makespan: float | None = None
    spans: list[float] | None = None
    if m >= 2 * p - 1 and I <= F + 1e-12:
        extra_time = max(0.0, F + I - 2 * W)
        spans = [busy + (p - 1 - i) * extra_time for i in range(p)]
        makespan = max(i * F + s for i, s in enumerate(spans))
    elif _close(F, I) and _close(I, W):
        makespan = max(3 * m + p - 1, 2 * m + 2 * p - 1) * F
        spans = [busy + max(0, 2 * p - 1 - 2 * i - m) * F for i in range(p)]
    return ClosedForm(
        schedule="zb-h2", makespan=makespan, bubble_ratio=_ratio(makespan, busy),
        span_bubble_ratio=_span_ratio(spans, busy) if spans else None,
        peak_activations=tuple(float(min(2 * p - 1, m)) for _ in range(p)), weight_copies=1.0,
        p2p_per_microbatch=_boundaries(p, p),
        notes="Zero Bubble H2: (p-1)(F+I-2W) idle on device 0's span, none when F=I=W and m >= 2p-1",
        extra={"paper_bubble_time": (p - 1) * (F + I - 2 * W)},
    )


def zb_v(p: int, m: int, *, F: float, B: float, I: float, W: float, **_: object) -> ClosedForm:  # noqa: E741
    """ZB-V with per-chunk F = I = W: makespan max(6m+p-1, 4m+4p-2)·F; for m >= 2p-1 no idle
    inside any device's span and 2p chunk-microbatches (p whole-device microbatches) in flight
    on every device. Of the 2p-1 hand-overs of a microbatch, the V's turn (stage p-1 to p) stays on
    device p-1, so 2(p-1) cross one device boundary: twice 1F1B's pipeline traffic."""
    busy = 2 * m * (F + I + W)
    uniform = _close(F, I) and _close(I, W)
    makespan = max(6 * m + p - 1, 4 * m + 4 * p - 2) * F if uniform else None
    full = m >= 2 * p - 1
    return ClosedForm(
        schedule="zb-v", makespan=makespan, bubble_ratio=_ratio(makespan, busy),
        span_bubble_ratio=0.0 if uniform and full else None,
        peak_activations=tuple(float(2 * p) for _ in range(p)) if full else None,
        weight_copies=1.0, p2p_per_microbatch=0 if p == 1 else 2 * (p - 1),
        notes="Zero Bubble V: 2p chunks in a V; zero bubble in each device span for F=I=W and m >= 2p-1",
        extra={"peak_whole_device_microbatches": float(p)},
    )


def looped_bfs(p: int, m: int, *, F: float, B: float, I: float, W: float, v: int = 2,  # noqa: E741
               **_: object) -> ClosedForm:
    """Looped BFS: (F+B)·max(v·m + p - 1, v·p + m - 1); v·m chunk-microbatches in flight."""
    busy = m * v * (F + B)
    makespan = (F + B) * max(v * m + p - 1, v * p + m - 1)
    return ClosedForm(
        schedule="looped-bfs", makespan=makespan, bubble_ratio=_ratio(makespan, busy),
        span_bubble_ratio=_span_ratio(_flush_spans(p, makespan, F, B), busy),
        peak_activations=tuple(float(v * m) for _ in range(p)), weight_copies=1.0,
        p2p_per_microbatch=_boundaries(p, p * v),
        notes="breadth-first looped pipeline: each chunk runs all microbatches before the next",
    )


FORMULAS: dict[str, Callable[..., ClosedForm]] = {
    "gpipe": gpipe,
    "1f1b": one_f_one_b,
    "interleaved": interleaved,
    "zb-h1": zb_h1,
    "zb-h2": zb_h2,
    "zb-v": zb_v,
    "looped-bfs": looped_bfs,
}
