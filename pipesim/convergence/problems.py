"""Optimisation problems with known behaviour, in numpy, seeded and deterministic.

A problem is a list of parameter *units* (numpy arrays) that pipeline stages split in order,
a stream of sample indices per seed, a loss-and-gradient function that takes the weights the
forward saw and the weights the backward saw (they differ only for a stage without weight
stashing), and an evaluation loss (what a target is compared with).

* ``quadratic`` -- f(x) = 1/2 (x - x*)^T A (x - x*), eigenvalues of A geometric in
  [1/cond, 1]; optimum 0, exact gradients: the case delayed-GD theory speaks about.
* ``logistic`` -- L2-regularised logistic regression on generated data; the optimum is found by
  Newton's method at construction, so targets can be put just above it.
* ``mlp`` -- a residual tanh classifier (``layers`` units) learning a random teacher network.
* ``charlm`` -- a character-level language model on a generated corpus: embeddings of the last
  ``context`` characters, a residual tanh stack, a softmax over the characters; the evaluation
  loss is held-out cross-entropy in nats per character.

Each problem names the defaults that make it train in a few hundred iterations
(``defaults``: optimizer, lr, microbatch_size, iterations, target).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from pipesim.convergence.corpus import tiny_corpus
from pipesim.convergence.layers import (
    Dense,
    Embedding,
    Layer,
    Residual,
    forward_backward,
    forward_loss,
)

Arrays = list[np.ndarray]


class Problem:
    """Base class: subclasses set ``units`` and implement the four methods below."""

    name = "problem"
    optimum: float | None = None
    defaults: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        self.units = 0

    def init(self, seed: int) -> Arrays:
        raise NotImplementedError

    def batches(self, seed: int, count: int, size: int) -> np.ndarray:
        """Sample indices [count, size] for ``count`` microbatches of ``size`` samples."""
        return np.random.default_rng([seed, 7919]).integers(0, self._samples(), (count, size))

    def _samples(self) -> int:
        return 1

    def loss_grad(self, fwd: Sequence[np.ndarray], bwd: Sequence[np.ndarray], idx: np.ndarray
                  ) -> tuple[float, Arrays]:
        raise NotImplementedError

    def loss(self, params: Sequence[np.ndarray]) -> float:
        raise NotImplementedError

    def describe(self) -> str:
        opt = "unknown" if self.optimum is None else f"{self.optimum:.6g}"
        shown = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.name} ({shown}; {self.units} units; optimum loss {opt})"


class _Vector(Problem):
    """A problem on one parameter vector cut into ``blocks`` contiguous units."""

    dim = 0

    def _split(self, x: np.ndarray) -> Arrays:
        return [a.copy() for a in np.array_split(x, int(self.options["blocks"]))]

    def _check_blocks(self) -> None:
        blocks = int(self.options["blocks"])
        if not 1 <= blocks <= self.dim:
            raise ValueError(f"--problem-option blocks={blocks}: must be between 1 and the dimension {self.dim}")
        self.units = blocks


class Quadratic(_Vector):
    name = "quadratic"
    optimum = 0.0
    defaults = MappingProxyType({"optimizer": "sgd", "lr": 0.5, "microbatch_size": 1, "iterations": 200,
                                 "target": 1e-3})

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        self.dim = int(self.options["dim"])
        cond = float(self.options["cond"])
        if cond < 1:
            raise ValueError(f"--problem-option cond={cond}: the condition number must be >= 1")
        self._check_blocks()
        rng = np.random.default_rng([int(self.options["seed"]), 1])
        self.eigenvalues = np.geomspace(1.0 / cond, 1.0, self.dim)
        q, _ = np.linalg.qr(rng.normal(size=(self.dim, self.dim)))
        self.A = (q * self.eigenvalues) @ q.T
        self.xstar = rng.normal(size=self.dim)

    def init(self, seed: int) -> Arrays:
        return self._split(self.xstar + np.random.default_rng([seed, 2]).normal(size=self.dim))

    def loss_grad(self, fwd: Sequence[np.ndarray], bwd: Sequence[np.ndarray], idx: np.ndarray
                  ) -> tuple[float, Arrays]:
        e = np.concatenate(fwd) - self.xstar  # exact gradient: the samples do not matter
        g = self.A @ e
        return 0.5 * float(e @ g), self._split(g)

    def loss(self, params: Sequence[np.ndarray]) -> float:
        e = np.concatenate(params) - self.xstar
        return 0.5 * float(e @ (self.A @ e))


class Logistic(_Vector):
    name = "logistic"
    defaults = MappingProxyType({"optimizer": "sgd", "lr": 0.5, "microbatch_size": 16, "iterations": 100,
                                 "target": None})

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        d, n = int(self.options["dim"]), int(self.options["n"])
        self.dim = d + 1  # weights and an intercept (the last coordinate)
        self._check_blocks()
        rng = np.random.default_rng([int(self.options["seed"]), 3])
        scales = np.geomspace(0.3, 2.0, d)  # unequal feature scales: a condition number to feel
        x = rng.normal(size=(n, d)) * scales
        self.X = np.hstack([x, np.ones((n, 1))])
        w_true = rng.normal(size=self.dim) * 1.5 / np.sqrt(d)
        self.y = (rng.random(n) < 1.0 / (1.0 + np.exp(-self.X @ w_true))).astype(float)
        self.reg = float(self.options["reg"])
        w = np.zeros(self.dim)
        for _ in range(30):  # Newton's method: the optimum the targets are measured against
            p = 1.0 / (1.0 + np.exp(-self.X @ w))
            # the Hessian summed over row blocks: one 2048-row product runs multi-threaded BLAS,
            # which is ~100x slower than these pieces on a small machine
            h = sum((xb.T * (pb * (1 - pb))) @ xb for xb, pb in zip(np.array_split(self.X, 16),
                                                                   np.array_split(p, 16), strict=True))
            step = np.linalg.solve(h / n + self.reg * np.eye(self.dim), self.X.T @ (p - self.y) / n + self.reg * w)
            w = w - step
            if float(np.abs(step).max()) < 1e-12:
                break
        self.optimum = self._objective(w, np.arange(n))
        self.wstar = w
        self.defaults = MappingProxyType({**self.defaults, "target": round(self.optimum + 0.02, 4)})

    def _samples(self) -> int:
        return len(self.y)

    def _objective(self, w: np.ndarray, rows: np.ndarray) -> float:
        z = self.X[rows] @ w
        return float(np.mean(np.logaddexp(0.0, z) - self.y[rows] * z) + 0.5 * self.reg * (w @ w))

    def init(self, seed: int) -> Arrays:
        return self._split(np.random.default_rng([seed, 2]).normal(size=self.dim) * 0.1)

    def loss_grad(self, fwd: Sequence[np.ndarray], bwd: Sequence[np.ndarray], idx: np.ndarray
                  ) -> tuple[float, Arrays]:
        w = np.concatenate(fwd)
        x, y = self.X[idx], self.y[idx]
        z = x @ w
        g = x.T @ (1.0 / (1.0 + np.exp(-z)) - y) / len(idx) + self.reg * w
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * self.reg * (w @ w)), self._split(g)

    def loss(self, params: Sequence[np.ndarray]) -> float:
        return self._objective(np.concatenate(params), np.arange(len(self.y)))


class _Network(Problem):
    """A layered network trained on (inputs, targets); evaluated on a held-out set."""

    layers: tuple[Layer, ...] = ()
    inputs = np.empty(0)
    targets = np.empty(0)
    eval_inputs = np.empty(0)
    eval_targets = np.empty(0)

    def _check_layers(self, least: int) -> int:
        n = int(self.options["layers"])
        if n < least:
            raise ValueError(f"--problem-option layers={n}: {self.name} needs at least {least} layers")
        return n

    def _samples(self) -> int:
        return len(self.targets)

    def init(self, seed: int) -> Arrays:
        rng = np.random.default_rng([seed, 2])
        return [layer.init(rng) for layer in self.layers]

    def loss_grad(self, fwd: Sequence[np.ndarray], bwd: Sequence[np.ndarray], idx: np.ndarray
                  ) -> tuple[float, Arrays]:
        return forward_backward(self.layers, fwd, bwd, self.inputs[idx], self.targets[idx])

    def loss(self, params: Sequence[np.ndarray]) -> float:
        return forward_loss(self.layers, params, self.eval_inputs, self.eval_targets)


class MLP(_Network):
    name = "mlp"
    defaults = MappingProxyType({"optimizer": "momentum", "lr": 0.02, "microbatch_size": 8, "iterations": 200,
                                 "target": 0.5})

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        n_layers = self._check_layers(2)
        d, k, width = int(self.options["dim"]), int(self.options["classes"]), int(self.options["width"])
        rng = np.random.default_rng([int(self.options["seed"]), 4])
        t1, t2 = rng.normal(size=(d, 16)), rng.normal(size=(16, k))  # the teacher network

        def labelled(n: int) -> tuple[np.ndarray, np.ndarray]:
            x = rng.normal(size=(n, d))
            return x, np.argmax(np.tanh(x @ t1) @ t2, axis=1)

        self.inputs, self.targets = labelled(int(self.options["n"]))
        self.eval_inputs, self.eval_targets = labelled(1024)
        self.layers = (Dense(d, width), *(Residual(width) for _ in range(n_layers - 2)),
                       Dense(width, k, tanh=False, scale=0.5))
        self.units = len(self.layers)


class CharLM(_Network):
    name = "charlm"
    defaults = MappingProxyType({"optimizer": "adam", "lr": 0.005, "microbatch_size": 8, "iterations": 150,
                                 "target": 2.2})

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        n_layers = self._check_layers(3)
        c, e, width = int(self.options["context"]), int(self.options["embed"]), int(self.options["width"])
        text = tiny_corpus(int(self.options["chars"]), int(self.options["seed"]))
        self.alphabet = "".join(sorted(set(text)))
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        ids = np.searchsorted(np.frombuffer(self.alphabet.encode("ascii"), dtype=np.uint8), raw)
        cut = int(len(ids) * 0.9)  # the last 10% is held out: the loss a target refers to

        def windows(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pos = np.arange(c, len(part))
            return part[pos[:, None] - np.arange(c, 0, -1)], part[pos]

        self.inputs, self.targets = windows(ids[:cut])
        self.eval_inputs, self.eval_targets = windows(ids[cut:])
        v = len(self.alphabet)
        self.layers = (Embedding(v, e), Dense(c * e, width), *(Residual(width) for _ in range(n_layers - 3)),
                       Dense(width, v, tanh=False, scale=0.5))
        self.units = len(self.layers)


# name -> (class, default options). Options are ints or floats; the CLI coerces strings.
PROBLEMS: Mapping[str, tuple[Callable[[Mapping[str, Any]], Problem], Mapping[str, Any]]] = MappingProxyType({
    "quadratic": (Quadratic, MappingProxyType({"dim": 64, "cond": 20.0, "blocks": 16, "seed": 0})),
    "logistic": (Logistic, MappingProxyType({"n": 2048, "dim": 31, "blocks": 16, "reg": 1e-3, "seed": 0})),
    "mlp": (MLP, MappingProxyType({"n": 4096, "dim": 8, "classes": 4, "width": 32, "layers": 8, "seed": 0})),
    "charlm": (CharLM, MappingProxyType({"context": 8, "embed": 12, "width": 48, "layers": 8, "chars": 24000,
                                         "seed": 0})),
})


def make_problem(name: str, **options: Any) -> Problem:
    """The problem ``name`` with ``options`` over its defaults (strings are coerced)."""
    if name not in PROBLEMS:
        raise ValueError(f"--problem: {name!r} is not known; valid: {', '.join(PROBLEMS)}")
    cls, defaults = PROBLEMS[name]
    merged: dict[str, Any] = dict(defaults)
    for key, value in options.items():
        if key not in defaults:
            raise ValueError(f"--problem-option {key}={value}: problem {name!r} has no option {key!r}; "
                             f"valid: {', '.join(defaults)}")
        kind = type(defaults[key])
        try:
            number = float(value)
            if kind is int and not number.is_integer():
                raise ValueError(value)
        except (TypeError, ValueError):
            raise ValueError(f"--problem-option {key}={value}: not a valid {kind.__name__}") from None
        merged[key] = int(number) if kind is int else number
    return cls(merged)
