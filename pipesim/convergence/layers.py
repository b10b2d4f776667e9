"""The layers of the small numpy networks, with a backward that may use other weights.

A pipeline stage without weight stashing runs a microbatch's forward with one weight version
and its backward with a newer one. To model that exactly, ``forward_backward`` takes two
weight lists: the forward (and every cached activation) uses ``fwd``; the input gradient a
layer sends upstream uses ``bwd``. The weight gradient is (cached input)^T x (incoming
gradient), as in a real stage. With ``fwd is bwd`` this is ordinary backpropagation.

Every layer owns exactly one array (the bias is its last row), so "a parameter unit" and "a
layer" are the same thing and stages split the list of arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Layer(Protocol):
    def init(self, rng: np.random.Generator) -> np.ndarray: ...

    def forward(self, w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, Any]: ...

    def backward(self, w: np.ndarray, cache: Any, dy: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]: ...


def _affine(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return x @ w[:-1] + w[-1]


def _affine_grad(x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    return np.vstack([x.T @ dz, dz.sum(axis=0, keepdims=True)])


@dataclass(frozen=True)
class Embedding:
    """Token ids [batch, context] -> concatenated embeddings [batch, context * dim]."""

    vocab: int
    dim: int

    def init(self, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0.0, 1.0, (self.vocab, self.dim))

    def forward(self, w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return w[x].reshape(x.shape[0], -1), x

    def backward(self, w: np.ndarray, cache: Any, dy: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        ids = cache
        dw = np.zeros_like(w)
        np.add.at(dw, ids.reshape(-1), dy.reshape(ids.size, self.dim))
        return None, dw  # token ids have no gradient


@dataclass(frozen=True)
class Dense:
    """y = act(x W + b) with act tanh or identity (the output head)."""

    n_in: int
    n_out: int
    tanh: bool = True
    scale: float = 1.0

    def init(self, rng: np.random.Generator) -> np.ndarray:
        w = np.zeros((self.n_in + 1, self.n_out))
        w[:-1] = rng.normal(0.0, self.scale / np.sqrt(self.n_in), (self.n_in, self.n_out))
        return w

    def forward(self, w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, Any]:
        z = _affine(w, x)
        y = np.tanh(z) if self.tanh else z
        return y, (x, y)

    def backward(self, w: np.ndarray, cache: Any, dy: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        x, y = cache
        dz = dy * (1.0 - y * y) if self.tanh else dy
        return dz @ w[:-1].T, _affine_grad(x, dz)


@dataclass(frozen=True)
class Residual:
    """y = x + tanh(x W + b): deep stacks of these stay trainable at these sizes."""

    width: int
    scale: float = 0.5

    def init(self, rng: np.random.Generator) -> np.ndarray:
        w = np.zeros((self.width + 1, self.width))
        w[:-1] = rng.normal(0.0, self.scale / np.sqrt(self.width), (self.width, self.width))
        return w

    def forward(self, w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, Any]:
        t = np.tanh(_affine(w, x))
        return x + t, (x, t)

    def backward(self, w: np.ndarray, cache: Any, dy: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        x, t = cache
        dz = dy * (1.0 - t * t)
        return dy + dz @ w[:-1].T, _affine_grad(x, dz)


def softmax_xent(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy (nats) of integer ``targets`` and its gradient w.r.t. ``logits``."""
    z = logits - logits.max(axis=1, keepdims=True)
    ez = np.exp(z)
    total = ez.sum(axis=1, keepdims=True)
    rows = np.arange(len(targets))
    loss = float(np.mean(np.log(total[:, 0]) - z[rows, targets]))
    d = ez / total
    d[rows, targets] -= 1.0
    return loss, d / len(targets)


def forward_loss(layers: Sequence[Layer], weights: Sequence[np.ndarray], x: np.ndarray,
                 targets: np.ndarray, block: int = 128) -> float:
    """Mean loss over all rows, computed ``block`` rows at a time: for these narrow layers a
    matrix product of more than ~1e6 multiply-adds switches BLAS to several threads and runs 10-100x slower than
    the same work in small pieces."""
    total = 0.0
    for lo in range(0, len(targets), block):
        h = x[lo:lo + block]
        for layer, w in zip(layers, weights, strict=True):
            h, _ = layer.forward(w, h)
        total += softmax_xent(h, targets[lo:lo + block])[0] * len(targets[lo:lo + block])
    return total / len(targets)


def forward_backward(layers: Sequence[Layer], fwd: Sequence[np.ndarray], bwd: Sequence[np.ndarray],
                     x: np.ndarray, targets: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Loss at ``fwd`` and the gradient of every layer, input gradients flowing through ``bwd``."""
    caches = []
    for layer, w in zip(layers, fwd, strict=True):
        x, cache = layer.forward(w, x)
        caches.append(cache)
    loss, dy = softmax_xent(x, targets)
    grads: list[np.ndarray] = [np.empty(0)] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        dx, grads[i] = layers[i].backward(bwd[i], caches[i], dy)
        if dx is not None:
            dy = dx
    return loss, grads
