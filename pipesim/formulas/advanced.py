"""Closed forms for the bidirectional, wave and asynchronous schedules.

Every value marked exact here is checked against the table level in the tests (uniform costs,
free communication). Where the literature gives only an estimate, the value is ``None`` and the
estimate sits in ``extra`` with a note. Times use per-stage costs, as ``Costs`` holds them.
"""

from __future__ import annotations

from collections.abc import Callable

from pipesim.formulas import ClosedForm


def _j(d: int, p: int) -> int:
    """A device's position in the pipeline where it is an early stage (Chimera, DualPipe)."""
    return min(d, p - 1 - d)


def chimera(p: int, m: int, *, F: float, B: float, I: float, W: float, scale: str = "auto",  # noqa: E741
            down_fraction: float = 0.5, up_placement: str = "mirror", **_: object) -> ClosedForm:
    """Chimera, symmetric case (equal split, mirrored up pipeline), D = p, N = m.

    Each device computes N forwards and N backwards (busy N(F+B)). Derived from the
    construction and exact at the table level:
    * concat (m % p == 0): makespan = N(F+B) + (D-2)(min(F,B) + (N/D)|B-F|); with F = B (the
      paper's one-slot convention) the bubble ratio is (D-2)/(2N+D-2), Li & Hoefler's Table 2.
      With B > F the concatenated units leave (D-2)(B-F) of intermediate bubble each.
    * double (m % 2p == 0), F <= B <= 2F: makespan = N(F+B) + (D-2)(F+B)/2 (forward doubling
      removes the intermediate bubbles); other cost ratios: no closed form.
    * auto (the generator's default): double when m % 2p == 0, concat otherwise.
    Activation peak on device d: D/2 + 1 + j (concat), 3D/2 + 1 + j (double), j = min(d, D-1-d).
    """
    D, N = p, m
    symmetric = abs(down_fraction - 0.5) < 1e-12 and up_placement.strip().lower() in ("", "mirror")
    if scale == "auto":
        scale = "double" if symmetric and N % (2 * D) == 0 else "concat"
    busy = N * (F + B)
    makespan: float | None = None
    peaks: tuple[float, ...] | None = None
    notes = ("Chimera slot convention: F and B one slot each (B = F); busy per device N(F+B); "
             "one gradient all-reduce per model part per iteration")
    if symmetric and scale == "concat":
        makespan = busy + (D - 2) * (min(F, B) + (N / D) * abs(B - F))
        peaks = tuple(float(D // 2 + 1 + _j(d, D)) for d in range(D))
    elif symmetric and scale == "double":
        if F <= B <= 2 * F:
            makespan = busy + (D - 2) * (F + B) / 2
        peaks = tuple(float(3 * D // 2 + 1 + _j(d, D)) for d in range(D))
    else:
        notes += "; asymmetric variant: greedy list schedule, no closed form"
    ratio = None if makespan is None or makespan == 0 else 1.0 - busy / makespan
    return ClosedForm(
        schedule="chimera", makespan=makespan, bubble_ratio=ratio, span_bubble_ratio=None,
        peak_activations=peaks, weight_copies=2.0, p2p_per_microbatch=D - 1,
        collectives_per_iteration=D, notes=notes,
        extra={"paper_bubble_ratio_F_eq_B": (D - 2) / (2 * N + D - 2), "all_reduces_per_part": 1.0},
    )


def hanayo(p: int, m: int, *, F: float, B: float, I: float, W: float, waves: int = 1,  # noqa: E741
           **_: object) -> ClosedForm:
    """Hanayo: only the message count is exact (2W(p-1) per microbatch and direction); the
    published bubble (p-1)/(2W·m+p-1) is unverified and reported as an estimate."""
    est = (p - 1) / (2 * waves * m + p - 1)
    return ClosedForm(
        schedule="hanayo", makespan=None, bubble_ratio=None, span_bubble_ratio=None,
        peak_activations=None, weight_copies=1.0, p2p_per_microbatch=2 * waves * (p - 1),
        collectives_per_iteration=0,
        notes="bubble (p-1)/(2W*m+p-1) is the paper's estimate (unverified); the greedy wave-front "
              "construction does not reach it, compare with the table level",
        extra={"bubble_ratio_estimate": est, "chunks_per_device": 2.0 * waves},
    )


def _dualpipe_like(name: str, p: int, m: int, F: float, B: float, I: float, W: float,  # noqa: E741
                   overlap: float) -> ClosedForm:
    """DualPipe (PP = p ranks, K = m chunks per rank) and DualPipeV (PP = 2p stages, K = 2m).

    README bubble (PP/2-1)(F&B + B - 3W), F&B = overlap*(F+B), measured as the worst device's
    idle time within the global makespan (makespan - busy of the least busy device). Exact for
    this 8-step order when I = F, W <= F and F&B >= B; then
    makespan = K(F+B) - (K-PP-1)(1-overlap)(F+B) + bubble.
    """
    v = name == "dualpipev"
    PP, K = (2 * p, 2 * m) if v else (p, m)
    n = p if v else p // 2
    fb = overlap * (F + B)
    readme = (PP / 2 - 1) * (fb + B - 3 * W)
    exact = abs(I - F) < 1e-12 and W <= F + 1e-12 and fb >= B - 1e-12
    makespan = K * (F + B) - (K - PP - 1) * (1 - overlap) * (F + B) + readme if exact else None
    busy = []
    for d in range(p):
        h = d if v else _j(d, p)
        split = (d == p - 1) if v else (h == n - 1)
        c = m if v else m // 2
        overlaps = 2 * (c - 2 * n + h + 1) - (1 if split else 0) + (n - h - 1)
        busy.append(K * (F + B) - overlaps * (1 - overlap) * (F + B))
    ratio = None if makespan is None else 1.0 - sum(busy) / (p * makespan)
    return ClosedForm(
        schedule=name, makespan=makespan, bubble_ratio=ratio, span_bubble_ratio=None,
        peak_activations=tuple(float(PP + 1) for _ in range(p)),
        weight_copies=1.0 if v else 2.0,
        p2p_per_microbatch=2 * (p - 1) if v else p - 1,
        collectives_per_iteration=0 if v else p,
        notes=("README bubble = worst device's idle time in the makespan; exact here when I = F, "
               "W <= F and F&B >= B" + ("" if exact else "; not exact for these costs")),
        extra={"bubble_time_readme": readme, "overlapped_chunk": fb, "min_busy": min(busy)},
    )


def dualpipe(p: int, m: int, *, F: float, B: float, I: float, W: float, overlap: float = 1.0,  # noqa: E741
             **_: object) -> ClosedForm:
    return _dualpipe_like("dualpipe", p, m, F, B, I, W, overlap)


def dualpipev(p: int, m: int, *, F: float, B: float, I: float, W: float, overlap: float = 1.0,  # noqa: E741
              **_: object) -> ClosedForm:
    return _dualpipe_like("dualpipev", p, m, F, B, I, W, overlap)


def _stream(name: str, p: int, m: int, F: float, B: float, iterations: int) -> ClosedForm:
    """One 1F1B stream of T = iterations*m microbatches: makespan (T+p-1)(F+B), stage s holds
    min(p-s, T) microbatches; the bubble ratio of the window tends to 0 as T grows."""
    T = iterations * m
    makespan = (T + p - 1) * (F + B)
    # weight stashing: stage s keeps p-s versions once the stream is long enough (T >= 2(p-s)-1)
    versions = [1 + max(0, min(T - p + s, p - s - 1)) for s in range(p)] if name == "pipedream" \
        else [2 if iterations > 1 else 1] * p
    return ClosedForm(
        schedule=name, makespan=makespan, bubble_ratio=(p - 1) / (T + p - 1),
        span_bubble_ratio=None, peak_activations=tuple(float(min(p - s, T)) for s in range(p)),
        weight_copies=float(max(versions)), p2p_per_microbatch=p - 1, collectives_per_iteration=0,
        notes="asynchronous: no flush between iterations, so the bubble is the one drain of the "
              "simulated window; weight_copies = most weight versions a stage keeps",
        extra={f"versions_stage{s}": float(x) for s, x in enumerate(versions)}
        | {"steady_delay_stage0": float(p - 1 if name == "pipedream" else 1)},
    )


def pipedream(p: int, m: int, *, F: float, B: float, I: float, W: float, iterations: int = 3,  # noqa: E741
              **_: object) -> ClosedForm:
    return _stream("pipedream", p, m, F, B, iterations)


def pipedream_2bw(p: int, m: int, *, F: float, B: float, I: float, W: float, iterations: int = 3,  # noqa: E741
                  **_: object) -> ClosedForm:
    return _stream("pipedream-2bw", p, m, F, B, iterations)


FORMULAS: dict[str, Callable[..., ClosedForm]] = {
    "chimera": chimera,
    "hanayo": hanayo,
    "dualpipe": dualpipe,
    "dualpipev": dualpipev,
    "pipedream": pipedream,
    "pipedream-2bw": pipedream_2bw,
}
