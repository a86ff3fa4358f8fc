"""Hypothesis strategies and helpers for property-testing gradients (yours and minigrad's).

Requires Hypothesis, which the core does not: ``pip install "minigrad-autograd[testing]"``.

A typical property test of your own op or layer::

    from hypothesis import given
    from minigrad.testing import arrays, assert_grads_match

    @given(arrays(shape=(3, 4)))
    def test_my_op(x):
        assert_grads_match(lambda t: my_op(t), x)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad.gradcheck import as_float64, check_backprop, compare_gradients, numerical_grad
from minigrad.tensor import Tensor

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ModuleNotFoundError as err:
    if not (err.name or "").startswith("hypothesis"):
        raise
    raise ImportError(
        "minigrad.testing needs Hypothesis, which is not installed; install it with "
        'pip install "minigrad-autograd[testing]" (or pip install hypothesis)'
    ) from err

__all__ = [
    "arrays",
    "shapes",
    "broadcastable_shapes",
    "axes",
    "assert_grads_match",
    "assert_layer_grads_match",
]


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> Any:
    """Array shapes, including 0-d and size-1 axes.

    >>> from hypothesis import given
    >>> @given(shapes())
    ... def check(shape):
    ...     assert len(shape) <= 3 and all(1 <= n <= 4 for n in shape)
    >>> check()
    """
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def arrays(
    shape: Sequence[int] | Any | None = None,
    dtype: DTypeLike = np.float64,
    min_value: float = -10.0,
    max_value: float = 10.0,
    *,
    avoid: Sequence[float] = (),
    margin: float = 1e-2,
    spaced: float | None = None,
) -> Any:
    """Float arrays with finite values in [min_value, max_value].

    ``shape`` is a shape, a strategy of shapes, or None for a random shape (0 to 3
    axes, sides 1 to 4). Keep values out of an op's kinks with ``avoid`` (points to
    stay at least ``margin`` away from, e.g. ``avoid=[0]`` for relu). ``spaced=d``
    draws distinct values on a grid of step ``d``, so no two values are within ``d``
    (e.g. for ``max``, whose gradient jumps at ties).

    >>> from hypothesis import given
    >>> @given(arrays(shape=(2, 3), min_value=0.1, max_value=1.0))
    ... def check(x):
    ...     assert x.shape == (2, 3) and x.dtype == np.float64 and (x >= 0.1).all()
    >>> check()
    """
    dtype = np.dtype(dtype)
    shape = shapes() if shape is None else shape
    if spaced is not None:
        lo, hi = int(np.ceil(min_value / spaced)), int(np.floor(max_value / spaced))
        ints = hnp.arrays(np.int64, shape, elements=st.integers(lo, hi), unique=True)
        return ints.map(lambda a: np.asarray(a * spaced, dtype=dtype))
    elements = st.floats(
        min_value, max_value, allow_nan=False, allow_infinity=False, width=8 * dtype.itemsize
    )
    if avoid:
        points = tuple(avoid)
        elements = elements.filter(lambda v: all(abs(v - p) >= margin for p in points))
    return hnp.arrays(dtype, shape, elements=elements)


def broadcastable_shapes(
    n: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 4
) -> Any:
    """Tuples of ``n`` shapes that broadcast together (size-1 and missing axes included).

    >>> from hypothesis import given
    >>> @given(broadcastable_shapes(2))
    ... def check(pair):
    ...     np.broadcast_shapes(*pair)  # raises if they did not broadcast
    >>> check()
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda s: s.input_shapes)


def axes(ndim: int, allow_none: bool = True) -> Any:
    """A valid ``axis`` argument for an array of ``ndim`` axes: None, an int or a tuple.

    >>> from hypothesis import given
    >>> @given(axes(2))
    ... def check(axis):
    ...     np.zeros((2, 3)).sum(axis=axis)  # raises on an invalid axis
    >>> check()
    """
    options = [hnp.valid_tuple_axes(ndim)]
    if ndim > 0:
        options.append(st.integers(-ndim, ndim - 1))
    if allow_none:
        options.append(st.none())
    return st.one_of(*options)


def _upstream(y: np.ndarray, seed_from: Sequence[np.ndarray]) -> np.ndarray:
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(x).tobytes() for x in seed_from))
    rng = np.random.default_rng(int.from_bytes(digest.digest()[:8], "little"))
    return rng.uniform(-1.0, 1.0, size=y.shape)


def assert_grads_match(
    f: Callable[..., Tensor],
    *inputs: ArrayLike,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    eps: float = 1e-6,
) -> None:
    """Backprop of ``f`` equals central differences under a random upstream gradient.

    ``f`` gets the float inputs as float64 Tensors that require grad (other inputs as
    constants) and may return a Tensor of any shape. The upstream gradient is drawn
    from a generator seeded by the inputs, so a failure reproduces. Also checks that
    every gradient has its input's shape and dtype. Raises ``AssertionError`` with
    the gradcheck report.

    >>> assert_grads_match(lambda x: x.exp() * 3, np.array([0.5, -1.0]))
    """
    # GradcheckError is an AssertionError: it carries the report as it is
    check_backprop(f, inputs, _upstream, eps, atol, rtol, constant_ok=True)


def assert_layer_grads_match(
    layer: Any,
    *inputs: ArrayLike,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    eps: float = 1e-6,
) -> None:
    """Backprop through ``layer`` equals central differences, for its inputs and parameters.

    The layer must be in float64 (``layer.astype(np.float64)``) and deterministic (put
    Dropout in ``eval()`` or seed it). Float inputs are checked like
    :func:`assert_grads_match`; every parameter is perturbed in place and restored.
    The parameters' ``.grad`` are reset. Raises ``AssertionError`` naming the parameter.

    >>> from minigrad import nn
    >>> assert_layer_grads_match(nn.Affine(3, 2, rng=0), np.ones((4, 3)))
    """
    xs = [as_float64(x) for x in inputs]
    named = list(layer.named_parameters())
    for name, p in named:
        if p.dtype != np.float64:
            raise TypeError(f"parameter {name!r} is {p.dtype}; call layer.astype(np.float64)")
        p.grad = None
    tensors = [Tensor(x.copy(), requires_grad=x.dtype.kind == "f") for x in xs]
    y = layer(*tensors)
    gy = _upstream(y.data, xs)
    y.backward(gy)

    def contracted(*ts: Tensor) -> Tensor:
        return (layer(*ts) * gy).sum()

    for i, (t, num) in enumerate(
        zip(tensors, numerical_grad(contracted, *xs, eps=eps), strict=True)
    ):
        if t.requires_grad:
            compare_gradients(f"input {i}", t.grad, num, atol, rtol)
    for name, p in named:
        original = p.data

        def with_value(value: Tensor, p: Any = p, original: np.ndarray = original) -> Tensor:
            p.data = value.data  # why: numerical_grad perturbs its own copy; lend it to p
            try:
                return contracted(*[Tensor(x) for x in xs])
            finally:
                p.data = original

        (num,) = numerical_grad(with_value, original, eps=eps)
        compare_gradients(f"parameter {name!r}", p.grad, num, atol, rtol)
        p.grad = None
