"""The helpers a generated plan calls: each does what the engine or an op would do eagerly."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import ops
from minigrad.tensor import Op, Tensor


def run_forward(cls: type, *xs: np.ndarray, **settings: Any) -> Any:
    """Run the forward of op class ``cls`` on arrays, as the engine would."""
    op = cls.__new__(cls)
    op.__dict__.update(settings)
    return op.forward(*xs)


def softmax_cross_entropy(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss and softmax(x): ops.SoftmaxCrossEntropy's forward (checks included)."""
    op = ops.SoftmaxCrossEntropy.__new__(ops.SoftmaxCrossEntropy)
    loss = op.forward(x, t)
    return loss, op.p


def accumulate_grad(t: Tensor, g: np.ndarray) -> None:
    """``t.grad += g``, or ``t.grad = g`` (a copy) when it has none: the engine's rule."""
    t.grad = g.copy() if t.grad is None else t.grad + g


class _Freed(Op):
    """The creator of a returned tensor that required grad: its graph is gone, as eagerly."""


_FREED = _Freed.__new__(_Freed)
_FREED.inputs = None


def make_result(data: Any, requires_grad: bool = False) -> Tensor:
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = t.name = None
    t._version = 0
    t.requires_grad = requires_grad
    t.creator = _FREED if requires_grad else None
    return t


def check_labels(t: np.ndarray, c: int) -> None:
    """The cross-entropy's label check (dtype and range), as the op does it."""
    if t.dtype.kind not in "iu" or t.astype(np.intp, copy=False).view(np.uintp).max() >= c:
        op = ops.SoftmaxCrossEntropy.__new__(ops.SoftmaxCrossEntropy)
        op.forward(np.zeros((len(t), c)), t)  # raises the op's own error
