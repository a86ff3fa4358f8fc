"""Numerical differentiation and the check that backprop agrees with it.

`numerical_grad`, `gradcheck` and `GradcheckError` are the public names; `check_backprop`,
`compare_gradients` and `as_float64` are shared with ``minigrad.testing``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from minigrad.tensor import Tensor

__all__ = ["numerical_grad", "gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Backprop and numerical differentiation disagree; the message says where and by how much."""


def _scalar(y: Any, what: str) -> float:
    value = np.asarray(y.data if isinstance(y, Tensor) else y)
    if value.size != 1:
        raise ValueError(
            f"{what} must return a scalar, got shape {value.shape}; reduce it, e.g. with .sum()"
        )
    return float(value.reshape(()))


def as_float64(x: ArrayLike) -> np.ndarray:
    """A float64 copy of a float input; other inputs copied as they are."""
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    return np.array(x, dtype=np.float64 if x.dtype.kind in "fc" else x.dtype)


def numerical_grad(
    f: Callable[..., Any], *inputs: ArrayLike, eps: float = 1e-6
) -> list[np.ndarray]:
    """Central differences (f(x + eps) - f(x - eps)) / 2 eps w.r.t. every input array.

    ``f`` is called with Tensors wrapping the perturbed inputs (float inputs in float64)
    and returns a scalar Tensor or number. Returns one gradient array per input;
    integer and bool inputs (labels, masks) are passed unchanged and get zeros.

    >>> numerical_grad(lambda x: (x * x).sum(), np.array([1.0, 2.0]))[0].round(6)
    array([2., 4.])
    """
    xs = [as_float64(x) for x in inputs]

    def call() -> float:
        # why: float inputs require grad, so an f that calls mg.grad itself works here too
        return _scalar(f(*[Tensor(v, requires_grad=v.dtype.kind == "f") for v in xs]), "f")

    grads = []
    for x in xs:
        g = np.zeros(x.shape)
        if x.dtype.kind != "f":
            grads.append(g)
            continue
        flat, gflat = x.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            up = call()
            flat[i] = orig - eps
            down = call()
            flat[i] = orig
            gflat[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(
    f: Callable[..., Any],
    *inputs: ArrayLike,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Check backprop of ``f`` against central differences, in float64.

    ``f`` gets each float input as a Tensor that requires grad (other inputs, such as
    integer labels, as constants). A non-scalar result is reduced with fixed random
    weights, which checks the vector-Jacobian product. Returns True or raises
    :class:`GradcheckError` naming the input, the worst index, both values and the error.

    >>> gradcheck(lambda x: (x.tanh() * x).sum(), np.array([0.5, -1.0]))
    True
    """

    def weights(y: np.ndarray, xs: list[np.ndarray]) -> np.ndarray:
        if y.size == 1:
            return np.ones(y.shape)
        return np.random.default_rng(0).standard_normal(y.shape)

    check_backprop(f, inputs, weights, eps, atol, rtol, constant_ok=False)
    return True


def check_backprop(
    f: Callable[..., Any],
    inputs: tuple[ArrayLike, ...],
    upstream: Callable[[np.ndarray, list[np.ndarray]], np.ndarray],
    eps: float,
    atol: float,
    rtol: float,
    constant_ok: bool,
) -> None:
    """Backprop of ``f`` under the upstream gradient ``upstream(y, inputs)`` against
    central differences of ``sum(f * upstream)``, for every float input (in float64).

    The core of :func:`gradcheck` and ``minigrad.testing.assert_grads_match``.
    """
    xs = [as_float64(x) for x in inputs]
    tensors = [Tensor(x.copy(), requires_grad=x.dtype.kind == "f") for x in xs]
    y = f(*tensors)
    if not isinstance(y, Tensor):
        raise TypeError(f"f must return a Tensor, got {type(y).__name__}")
    if not y.requires_grad and not constant_ok:
        raise ValueError("f's result does not depend on any float input; nothing to check")
    gy = upstream(y.data, xs)
    if y.requires_grad:
        y.backward(gy)
    numeric = numerical_grad(lambda *ts: (f(*ts) * gy).sum(), *xs, eps=eps)
    for i, (t, num) in enumerate(zip(tensors, numeric, strict=True)):
        if not t.requires_grad:
            continue
        if t.grad is not None and t.grad.dtype != t.dtype:
            raise GradcheckError(f"input {i}: gradient has dtype {t.grad.dtype}, input {t.dtype}")
        compare_gradients(f"input {i}", t.grad, num, atol, rtol)


def compare_gradients(
    what: str, back: np.ndarray | None, num: np.ndarray, atol: float, rtol: float
) -> None:
    """Raise `GradcheckError` naming ``what`` (``"input 0"``, ``"parameter 'W'"``) unless
    the backprop gradient ``back`` (None: no gradient arrived) matches ``num``.

    >>> compare_gradients("input 0", np.array([1.0, 2.0]), np.array([1.0, 5.0]), 1e-5, 1e-3)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    minigrad.gradcheck.GradcheckError: input 0 at index (1,): backprop 2, numerical 5, ...
    """
    connected = back is not None
    back = back if connected else np.zeros_like(num)
    if back.shape != num.shape:
        raise GradcheckError(
            f"{what}: backprop gradient has shape {back.shape}, expected {num.shape}"
        )
    diff = np.abs(back - num)
    allowed = atol + rtol * np.abs(num)
    excess = np.where(np.isnan(diff), np.inf, diff - allowed)
    if excess.size and excess.max() > 0:
        at = np.unravel_index(int(np.argmax(excess)), excess.shape)
        index = tuple(int(a) for a in at)
        if not connected:
            raise GradcheckError(
                f"{what}: `.grad` is None: not connected to the output? The numerical "
                f"gradient at index {index} is {num[at]:.6g}"
            )
        raise GradcheckError(
            f"{what} at index {index}: backprop {back[at]:.6g}, numerical {num[at]:.6g}, "
            f"|diff| {diff[at]:.4g} > atol + rtol*|numerical| = {allowed[at]:.4g}"
        )
