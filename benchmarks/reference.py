"""The reference of the step benchmark: the book's hand-written layered network (ch. 5).

Each layer is a class with ``forward`` and ``backward`` on NumPy arrays, exactly the
book's design: ``Affine`` keeps its input and hands back ``dx`` as well as ``dW`` and
``db``, ``Relu`` keeps a mask, ``SoftmaxWithLoss`` ends the chain and starts backward
with ``dout = 1``; plain SGD then updates every ``W`` and ``b`` in place.

Written for this benchmark (nothing is imported from the book's code), and written
efficiently, so that a ratio against it is honest:

- ReLU multiplies by its mask in both directions instead of writing ``out[mask] = 0``
  into a copy (a masked store is many times slower on large arrays);
- softmax computes ``exp`` once (the book writes it twice);
- everything else is the book's: ``x @ W + b`` forward; ``dout @ W.T``, ``x.T @ dout``
  and ``dout.sum(axis=0)`` backward; the max shift before ``exp``; the loss as
  ``-mean(log(y[label] + 1e-7))``; the gradient ``(y - onehot) / N``.

``Affine.backward`` computes ``dx`` even for the first layer, whose input is the data:
the book does, and nobody needs it. That matmul is part of the honest reference, and
it is why a framework that skips it can run a step in less time than this network.

The labels are integer class indices ``(N,)`` (the book also takes one-hot rows; the
benchmark does not need them).
"""

from __future__ import annotations

import numpy as np


class Affine:
    """y = x @ W + b, with W of shape (in, out) and b of shape (out,)."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = dout @ self.W.T
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dx


class Relu:
    """y = max(x, 0); backward lets the gradient through where x > 0."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return x * self.mask  # why: a multiply streams; `out[x <= 0] = 0` scatters

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


def softmax(x: np.ndarray) -> np.ndarray:
    """e^x / sum(e^x) over the last axis, shifted by the row maximum."""
    # why: subtract the max so exp never overflows
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """The book's mean cross-entropy of probabilities ``y`` for integer labels ``t``."""
    n = y.shape[0]
    return float(-np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n)


class SoftmaxWithLoss:
    """Softmax of the scores, then the mean cross-entropy against integer labels."""

    def __init__(self) -> None:
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None
        self.loss: float | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, t)
        return self.loss

    def backward(self, dout: float = 1) -> np.ndarray:
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class BookNet:
    """Affine, Relu, Affine, Relu, ..., Affine, then SoftmaxWithLoss; trained by plain SGD.

    ``params`` is a list of ``(W, b)`` per Affine, in the book's layout; they are copied.

    >>> rng = np.random.default_rng(0)
    >>> net = BookNet([(rng.standard_normal((3, 4)), np.zeros(4)),
    ...                (rng.standard_normal((4, 2)), np.zeros(2))])
    >>> loss = net.step(rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1]), lr=0.1)
    >>> [a.dW.shape for a in net.affines]
    [(3, 4), (4, 2)]
    """

    def __init__(self, params: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.affines = [Affine(W.copy(), b.copy()) for W, b in params]
        self.layers: list[Affine | Relu] = []
        for i, affine in enumerate(self.affines):
            if i:
                self.layers.append(Relu())
            self.layers.append(affine)
        self.last_layer = SoftmaxWithLoss()

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        for layer in self.layers:
            x = layer.forward(x)
        return self.last_layer.forward(x, t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> float:
        """Forward and backward: fills every Affine's ``dW`` and ``db``; returns the loss."""
        loss = self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return loss

    def step(self, x: np.ndarray, t: np.ndarray, lr: float) -> float:
        """One training step: forward, loss, backward, then ``W -= lr * dW`` (and b)."""
        loss = self.gradient(x, t)
        for affine in self.affines:
            affine.W -= lr * affine.dW
            affine.b -= lr * affine.db
        return loss
