"""Optimisers and delay remedies as small functions over lists of numpy arrays.

Every function returns new arrays and never writes into the weights it is given: the stale
executor keeps older weight versions alive (the versions in-flight microbatches stashed), so
an in-place update would silently change the past. Optimiser *state* (momentum buffers, Adam
moments, step count) lives in an ``OptState`` that belongs to one stage's newest version and
is advanced in place by ``Optimizer.step``.

The update rules are elementwise, so applying them stage by stage to the pieces of a
parameter list gives bit for bit what applying them to the whole list gives: that is what
lets a delay-0 pattern reproduce plain mini-batch training exactly.

Remedies for stale gradients (docs/convergence.md#remedies):

* ``predict_weights`` -- weight prediction [SpecTrain]: a stage whose gradient will be applied
  s updates after the version it reads computes with W(t) + s * (W(t) - W(t-1)), the linear
  extrapolation of its own trajectory; with a plain step W(t) - W(t-1) = -lr * dW(t) this is
  the W(t) - lr * s * dW(t) of the paper.
* ``error_feedback`` -- an error-feedback-style correction in the spirit of [OneStep]: the
  change between two consecutive delayed updates estimates what the previous (stale) update
  missed, and is fed back into the current one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Arrays = list[np.ndarray]
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")


def sgd_step(w: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    return w - lr * g


def momentum_step(w: np.ndarray, g: np.ndarray, buf: np.ndarray, lr: float, mu: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Heavy ball in the form deep-learning frameworks use: b <- mu * b + g; w <- w - lr * b."""
    b = mu * buf + g
    return w - lr * b, b


def adam_step(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, lr: float,
              beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adam (weight decay added to the gradient) or AdamW (decay applied to the weights,
    decoupled from the moments); ``t`` is the 1-based step for the bias corrections."""
    if weight_decay and not decoupled:
        g = g + weight_decay * w
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * (g * g)
    mhat = m / (1.0 - beta1**t)
    vhat = v / (1.0 - beta2**t)
    step = lr * mhat / (np.sqrt(vhat) + eps)
    if weight_decay and decoupled:
        return w - lr * weight_decay * w - step, m, v
    return w - step, m, v


def predict_weights(w: np.ndarray, increment: np.ndarray, steps: int) -> np.ndarray:
    """Weights ``steps`` updates ahead, extrapolated along the last ``increment`` (W(t) - W(t-1)).

    ``steps`` = 0 returns ``w`` itself, so a pattern without delay is left exactly alone."""
    return w if steps == 0 else w + steps * increment


def error_feedback(update: np.ndarray, previous: np.ndarray, beta: float) -> np.ndarray:
    """The applied increment ``update + beta * (update - previous)``; ``beta`` = 0 is a no-op."""
    return update if beta == 0 else update + beta * (update - previous)


@dataclass
class OptState:
    """Optimiser state of one parameter list: the step count and one or two buffers per array."""

    t: int = 0
    first: Arrays = field(default_factory=list)
    second: Arrays = field(default_factory=list)


@dataclass(frozen=True)
class Optimizer:
    """One of SGD, momentum (heavy ball), Adam or AdamW with its hyperparameters."""

    kind: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in OPTIMIZERS:
            raise ValueError(f"--optimizer: {self.kind!r} is not known; valid: {', '.join(OPTIMIZERS)}")
        if not self.lr > 0 or not np.isfinite(self.lr):
            raise ValueError(f"--lr: {self.lr} must be a positive number")
        for name in ("momentum", "beta1", "beta2"):
            x = getattr(self, name)
            if not 0 <= x < 1:
                raise ValueError(f"optimizer {name}: {x} must be in [0, 1)")
        if self.weight_decay < 0:
            raise ValueError(f"optimizer weight_decay: {self.weight_decay} must be >= 0")

    def init(self, params: Sequence[np.ndarray]) -> OptState:
        zeros = [np.zeros_like(p) for p in params]
        if self.kind == "momentum":
            return OptState(0, zeros)
        if self.kind in ("adam", "adamw"):
            return OptState(0, zeros, [np.zeros_like(p) for p in params])
        return OptState(0)

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray], state: OptState,
             lr: float | None = None) -> Arrays:
        """New parameters after one update with ``grads``; advances ``state`` in place.

        ``lr`` overrides the configured rate for this step (the executor scales it for updates
        that apply fewer samples than a full iteration)."""
        rate = self.lr if lr is None else lr
        state.t += 1
        if self.weight_decay and self.kind in ("sgd", "momentum"):  # plain L2 regularisation
            grads = [g + self.weight_decay * w for w, g in zip(params, grads, strict=True)]
        if self.kind == "sgd":
            return [sgd_step(w, g, rate) for w, g in zip(params, grads, strict=True)]
        out: Arrays = []
        for i, (w, g) in enumerate(zip(params, grads, strict=True)):
            if self.kind == "momentum":
                w, state.first[i] = momentum_step(w, g, state.first[i], rate, self.momentum)
            else:
                w, state.first[i], state.second[i] = adam_step(
                    w, g, state.first[i], state.second[i], state.t, rate, self.beta1, self.beta2, self.eps,
                    self.weight_decay, self.kind == "adamw")
            out.append(w)
        return out
