"""Stale block-SGD: real optimisation with exactly a schedule's weight versions.

The problem's parameter units are split into the pattern's stages (contiguous, as even as
possible). Microbatches are processed in order; for microbatch k every stage s contributes
the weights of version ``forward[s, k]`` to the forward and, with weight stashing, the same
to the backward (``backward[s, k]``, the newest at that moment, without). Stage s's block of
the resulting gradient waits in update ``update[s, k]``; an update is applied, in order, as
soon as all its microbatches are in, producing the stage's next version. Older versions stay
alive while some later microbatch still reads them -- this is the stash PipeDream keeps.

Consecutive microbatches that read the same versions and feed the same updates are evaluated
as one batch, so a synchronous pattern takes exactly the mini-batch gradient of plain
training: with delay 0 the run is bit for bit ``train_minibatch``.

An update that applies n of the iteration's m microbatches uses the learning rate scaled by
n / m (``Training.scale_lr``): every schedule then moves the weights by the same amount per
sample seen, and PipeDream's per-microbatch updates are m small steps instead of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipesim.convergence.optim import Optimizer, OptState, error_feedback, predict_weights
from pipesim.convergence.pattern import Pattern
from pipesim.convergence.problems import Problem

COMPENSATIONS = ("none", "predict", "feedback")


@dataclass(frozen=True)
class Training:
    """How a run trains: the optimiser, microbatch size and the staleness remedies."""

    optimizer: Optimizer = field(default_factory=Optimizer)
    microbatch_size: int = 8
    stashing: bool = True  # the backward uses the forward's version (PipeDream's weight stashing)
    compensation: str = "none"  # none | predict (weight prediction) | feedback (error feedback)
    feedback_beta: float = 1.0
    scale_lr: bool = True
    eval_every: int = 1
    diverge_factor: float = 1e4  # a loss this many times the initial one counts as diverged
    stop_below: float | None = None  # end the run once the evaluation loss is at or below this

    def __post_init__(self) -> None:
        if self.microbatch_size < 1:
            raise ValueError(f"--microbatch-size: {self.microbatch_size}; must be >= 1")
        if self.compensation not in COMPENSATIONS:
            raise ValueError(f"--compensation: {self.compensation!r}; valid: {', '.join(COMPENSATIONS)}")
        if self.eval_every < 1:
            raise ValueError(f"--eval-every: {self.eval_every}; must be >= 1")


@dataclass(frozen=True, eq=False)
class Curve:
    """Evaluation loss after ``iterations[i]`` iterations; the run's final weights."""

    iterations: np.ndarray
    loss: np.ndarray
    diverged: bool
    params: tuple[np.ndarray, ...] = ()

    def iterations_to(self, target: float) -> int | None:
        """First evaluated iteration count whose loss is at or below ``target`` (None: never)."""
        hit = np.flatnonzero(self.loss <= target)
        return int(self.iterations[hit[0]]) if hit.size else None


def stage_units(units: int, stages: int, problem: str = "problem") -> list[range]:
    """Contiguous, near-equal ranges of parameter units, one per stage."""
    if stages > units:
        raise ValueError(f"--problem {problem}: {units} parameter units cannot be split into {stages} pipeline "
                         f"stages; use at most {units} stages or more units (--problem-option layers=N or blocks=N)")
    return [range(int(c[0]), int(c[-1]) + 1) for c in np.array_split(np.arange(units), stages)]


def _chunks(pattern: Pattern, stashing: bool) -> list[tuple[int, int]]:
    """Runs of microbatches with identical versions and updates, never across an iteration."""
    cols = [pattern.forward, pattern.update] + ([] if stashing else [pattern.backward])
    key = np.vstack(cols)
    change = np.any(key[:, 1:] != key[:, :-1], axis=0)
    change |= (np.arange(1, pattern.total) % pattern.microbatches) == 0
    starts = [0, *(np.flatnonzero(change) + 1).tolist()]
    return list(zip(starts, [*starts[1:], pattern.total], strict=True))


class _Stage:
    """One stage's weight versions, optimiser state and the gradients waiting for an update."""

    def __init__(self, weights: list[np.ndarray], optimizer: Optimizer, keep_increments: bool) -> None:
        self.versions: dict[int, list[np.ndarray]] = {0: weights}
        self.increments: dict[int, list[np.ndarray]] = {0: [np.zeros_like(w) for w in weights]} if keep_increments else {}
        self.state: OptState = optimizer.init(weights)
        self.newest = 0
        self.pending: dict[int, list[tuple[list[np.ndarray], int, int]]] = {}  # update -> (grad, samples, delay)
        self.previous_raw: list[np.ndarray] | None = None

    def weights(self, version: int, stage: int, k: int) -> list[np.ndarray]:
        if version not in self.versions:
            raise ValueError(f"pattern: microbatch {k} reads version {version} of stage {stage}, which does not "
                             f"exist yet (newest {self.newest}); the pattern is not causal in microbatch order")
        return self.versions[version]

    def prune(self, oldest_needed: int) -> None:
        for v in [v for v in self.versions if v < min(oldest_needed, self.newest)]:
            del self.versions[v]
            self.increments.pop(v, None)


def run_stale(problem: Problem, pattern: Pattern, training: Training, seed: int = 0) -> Curve:
    """Train ``problem`` with ``pattern``'s staleness; the evaluation loss per iteration."""
    parts = stage_units(problem.units, pattern.stages, problem.name)
    opt, b, m = training.optimizer, training.microbatch_size, pattern.microbatches
    init = problem.init(seed)
    idx = problem.batches(seed, pattern.total, b)
    stages = [_Stage([init[i] for i in r], opt, training.compensation == "predict") for r in parts]
    sizes = [np.bincount(u[u >= 0]) * b for u in pattern.update]  # samples each update applies
    oldest = np.minimum.accumulate(pattern.forward[:, ::-1], axis=1)[:, ::-1]  # versions still to be read

    def current() -> list[np.ndarray]:
        return [w for st in stages for w in st.versions[st.newest]]

    its, losses = [0], [problem.loss(init)]
    limit = training.diverge_factor * max(abs(losses[0]), 1e-12)
    diverged = False
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k0, k1 in _chunks(pattern, training.stashing):
            fwd: list[np.ndarray] = []
            bwd: list[np.ndarray] = []
            for s, st in enumerate(stages):
                v = int(pattern.forward[s, k0])
                w = st.weights(v, s, k0)
                u = int(pattern.update[s, k0])
                if training.compensation == "predict" and u > v:
                    w = [predict_weights(a, d, u - v) for a, d in zip(w, st.increments[v], strict=True)]
                fwd.extend(w)
                bwd.extend(w if training.stashing else st.weights(int(pattern.backward[s, k0]), s, k0))
            _, grads = problem.loss_grad(fwd, bwd, idx[k0:k1].reshape(-1))
            for s, st in enumerate(stages):
                u = int(pattern.update[s, k0])
                if u < 0:
                    continue
                delay = u - int(pattern.forward[s, k0])
                st.pending.setdefault(u, []).append(([grads[i] for i in parts[s]], (k1 - k0) * b, delay))
                while st.newest in st.pending and sum(x[1] for x in st.pending[st.newest]) == sizes[s][st.newest]:
                    _apply(st, opt, training, m * b)
                if k1 < pattern.total:
                    st.prune(int(oldest[s, k1]))
            if k1 % m == 0 and ((k1 // m) % training.eval_every == 0 or k1 == pattern.total):
                its.append(k1 // m)
                losses.append(problem.loss(current()))
                if not np.isfinite(losses[-1]) or losses[-1] > limit:
                    diverged = True
                    break
                if training.stop_below is not None and losses[-1] <= training.stop_below:
                    break
    return Curve(np.array(its), np.array(losses), diverged, tuple(current()))


def _apply(st: _Stage, opt: Optimizer, training: Training, per_iteration: int) -> None:
    """Apply the stage's next update from its pending gradients (sample-weighted mean)."""
    items = st.pending.pop(st.newest)
    samples = sum(n for _, n, _ in items)
    if len(items) == 1:
        grad = items[0][0]  # exactly the batch gradient: no re-weighting arithmetic
    else:
        grad = [np.sum([n * g[j] for g, n, _ in items], axis=0) / samples for j in range(len(items[0][0]))]
    lr = opt.lr if not training.scale_lr or samples == per_iteration else opt.lr * samples / per_iteration
    old = st.versions[st.newest]
    new = opt.step(old, grad, st.state, lr)
    delay = max(d for _, _, d in items)
    if training.compensation == "feedback":
        raw = [n - o for n, o in zip(new, old, strict=True)]
        if delay > 0 and st.previous_raw is not None:
            beta = training.feedback_beta * delay
            new = [o + error_feedback(r, p, beta) for o, r, p in zip(old, raw, st.previous_raw, strict=True)]
        st.previous_raw = raw
    st.newest += 1
    st.versions[st.newest] = new
    if st.increments:
        st.increments[st.newest] = [n - o for n, o in zip(new, old, strict=True)]


def train_minibatch(problem: Problem, optimizer: Optimizer, microbatches: int, iterations: int,
                    microbatch_size: int, seed: int = 0) -> Curve:
    """Plain mini-batch training, written independently of the executor: one gradient of the
    iteration's m x b samples, one optimiser step on all parameters, per iteration."""
    params: Sequence[np.ndarray] = problem.init(seed)
    idx = problem.batches(seed, microbatches * iterations, microbatch_size)
    state = optimizer.init(params)
    losses = [problem.loss(params)]
    for i in range(iterations):
        _, grads = problem.loss_grad(params, params, idx[i * microbatches:(i + 1) * microbatches].reshape(-1))
        params = optimizer.step(params, grads, state)
        losses.append(problem.loss(params))
    return Curve(np.arange(iterations + 1), np.array(losses), False, tuple(params))
