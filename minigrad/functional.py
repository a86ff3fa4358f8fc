"""Functions of several tensors, and compositions of ops (no backward of their own).

Operands may be Tensors, NumPy arrays or Python scalars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from minigrad import ops
from minigrad.tensor import Tensor, _data, _operands


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product, as ``np.matmul`` (1-D operands, broadcast batch axes).

    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]]).numpy()
    array([[11.]])
    """
    return ops.MatMul.apply(a, b)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis``.

    >>> concatenate([Tensor([1.0]), [2.0, 3.0]]).numpy()
    array([1., 2., 3.])
    """
    if len(tensors) == 0:
        raise ValueError("concatenate needs at least one tensor")
    return ops.Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join equally shaped tensors along a new ``axis``.

    >>> stack([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])], axis=1).numpy()
    array([[1., 3.],
           [2., 4.]])
    """
    if len(tensors) == 0:
        raise ValueError("stack needs at least one tensor")
    ts = _operands(tuple(tensors))
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(f"stack needs tensors of one shape, got {[t.shape for t in ts]}")
    ndim = ts[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of range for {ndim}-d results")
    axis %= ndim
    expanded = [t.reshape(t.shape[:axis] + (1,) + t.shape[axis:]) for t in ts]
    return concatenate(expanded, axis=axis)


def where(cond: ArrayLike, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``cond`` holds, else ``b``; ``cond`` has no gradient.

    >>> where(np.array([True, False]), Tensor([1.0, 2.0]), 0.0).numpy()
    array([1., 0.])
    """
    return ops.Where.apply(a, b, cond=np.asarray(_data(cond), dtype=bool))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise larger value; at a tie the gradient goes to ``a``.

    >>> maximum(Tensor([1.0, 5.0]), 3.0).numpy()
    array([3., 5.])
    """
    a, b = _operands((a, b))
    return where(a.data >= b.data, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise smaller value; at a tie the gradient goes to ``a``.

    >>> minimum(Tensor([1.0, 5.0]), 3.0).numpy()
    array([1., 3.])
    """
    a, b = _operands((a, b))
    return where(a.data <= b.data, a, b)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^x / sum(e^x) along ``axis``, shifted by the maximum so exp never overflows.

    >>> softmax(Tensor([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]])
    """
    # why: the shift does not change the result, so it needs no gradient
    e = (x - x.max(axis=axis, keepdims=True).detach()).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) through the log-sum-exp: finite for any finite logits.

    >>> log_softmax(Tensor([[1000.0, 0.0]])).numpy()
    array([[    0., -1000.]])
    """
    z = x - x.max(axis=axis, keepdims=True).detach()
    return z - z.exp().sum(axis=axis, keepdims=True).log()


def softmax_cross_entropy(x: Any, t: Any) -> Tensor:
    """Mean cross-entropy of logits ``x (N, C)`` against labels ``(N,)`` or rows ``(N, C)``.

    >>> float(softmax_cross_entropy(Tensor([[1000.0, 0.0]]), np.array([1])).data)
    1000.0
    """
    return ops.SoftmaxCrossEntropy.apply(x, t)


def mse(x: Any, t: Any) -> Tensor:
    """Mean over all elements of the squared difference.

    >>> float(mse(Tensor([1.0, 3.0]), np.array([0.0, 0.0])).data)
    5.0
    """
    d = x - t if isinstance(x, Tensor) else Tensor(x) - t
    return (d * d).mean()
