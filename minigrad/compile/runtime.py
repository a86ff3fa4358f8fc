"""The helpers a generated plan calls: each does what the engine or an op would do eagerly."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import ops
from minigrad.checks import cross_entropy_targets
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
    g = np.asarray(g)  # why: NumPy gives a scalar for a 0-d result; .grad holds an array
    t.grad = g.copy() if t.grad is None else np.asarray(t.grad + g)


class _Freed(Op):
    """The creator of a returned tensor that required grad: its graph is gone, as eagerly."""


_FREED = _Freed.__new__(_Freed)
_FREED.inputs = None


def make_result(data: Any, requires_grad: bool = False) -> Tensor:
    t = Tensor.__new__(Tensor)
    t.data = data if type(data) is np.ndarray else np.asarray(data)  # why: not a NumPy scalar
    t.grad = t.name = None
    t._version = 0
    t.requires_grad = requires_grad
    t.creator = _FREED if requires_grad else None
    return t


def label_positions(t: np.ndarray, rows: np.ndarray, c: int) -> np.ndarray:
    """``rows * c + t``, the flat positions of the labelled scores of an (N, c) array, once
    every label is known to be in 0..c-1; a bad label raises the cross-entropy's own error."""
    try:
        return np.ravel_multi_index((rows, t), (len(rows), c))  # why: it checks the range too
    except (TypeError, ValueError):
        cross_entropy_targets(np.zeros((len(t), c)), t)  # the op's own check: raises if bad
        return rows * c + t.astype(np.intp)  # labels NumPy would not cast safely, all in range
