"""Argument checks shared by ops, functions and layers: each check lives once, here.

A layer and the function it calls (``nn.MaxPool2d`` and ``functional.max_pool2d``) use the
same check, so a bad setting gets the same message whichever door it came through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def check_broadcast(name: str, x: np.ndarray, w: np.ndarray) -> None:
    """Raise a ``ValueError`` naming op ``name`` and both shapes if they do not broadcast."""
    try:
        np.broadcast_shapes(x.shape, w.shape)
    except ValueError:
        raise ValueError(
            f"{name}: operands of shapes {x.shape} and {w.shape} cannot be broadcast together; "
            f"reshape one of them (e.g. add a size-1 axis) so that trailing axes match or are 1"
        ) from None


def positive_int(value: Any, what: str) -> int:
    """``value`` as an int >= 1 (a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def positive_float(value: Any, what: str) -> float:
    """``value`` as a finite float > 0, such as an ``eps`` (a bool or a string is refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{what} must be a number > 0 such as 1e-5, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a finite number > 0 such as 1e-5, got {value!r}")
    return float(value)


def whole_numbers_hint(values: np.ndarray, name: str) -> str:
    """The end of an error about float values where integers belong: when every value is
    whole, a hint to convert ``name``; else nothing.

    >>> whole_numbers_hint(np.array([1.0, 2.0]), "ids")
    '; they look whole: pass ids.astype(np.int64)'
    >>> whole_numbers_hint(np.array([0.5]), "ids")
    ''
    """
    if values.dtype.kind == "f" and np.all(np.isfinite(values) & (values == np.round(values))):
        return f"; they look whole: pass {name}.astype(np.int64)"
    return ""


def preview(values: np.ndarray, count: int = 5) -> str:
    """The first ``count`` values as a short list for an error message.

    >>> preview(np.array([0.5, 3.0, -1.0, 2.0, 7.0, 8.0]))
    '[0.5, 3, -1, 2, 7, ...]'
    """
    items = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values.flat[:count])
    return f"[{items}{', ...' if values.size > count else ''}]"


def cross_entropy_targets(x: np.ndarray, t: np.ndarray) -> None:
    """Raise unless ``x`` are float scores ``(N, C)``, N >= 1, and ``t`` fits them: integer
    labels ``(N,)`` in [0, C) or numeric target rows ``(N, C)``.

    The one check of the cross-entropy's arguments, made by ``ops.SoftmaxCrossEntropy``'s
    forward whichever door (``SoftmaxWithLoss``, ``functional``, a compiled step) led there.
    """
    if x.ndim != 2 or x.dtype.kind != "f":
        raise ValueError(
            f"cross-entropy needs float scores of shape (N, C), got shape {x.shape} and dtype "
            f"{x.dtype}; pass float logits (e.g. x.astype(np.float64)), one sample as (1, C)"
        )
    n, c = x.shape
    if n == 0:
        raise ValueError("cross-entropy of an empty batch (0 rows) has no mean; pass rows")
    if t.ndim == 1:
        if t.dtype.kind not in "iu":
            raise TypeError(
                f"cross-entropy: labels of shape {t.shape} must be integers, got dtype "
                f"{t.dtype} ({preview(t)}){whole_numbers_hint(t, 't')}; or pass target rows "
                f"of shape ({n}, {c})"
            )
        if len(t) != n:
            raise ValueError(
                f"cross-entropy: {len(t)} labels for {n} rows of scores (shape {x.shape}); "
                f"pass one label per row, shape ({n},)"
            )
        if t.min() < 0 or t.max() >= c:
            where = np.flatnonzero((t < 0) | (t >= c))
            raise ValueError(
                f"cross-entropy: labels must lie in [0, {c}) for {c} classes; got "
                f"{preview(t[where])} at positions {preview(where)}; pass class indices "
                f"0..{c - 1}, one per row"
            )
    elif t.ndim == 2:
        if t.shape != x.shape:
            raise ValueError(
                f"cross-entropy: target rows of shape {t.shape} do not match scores of shape "
                f"{x.shape}; pass one row of {c} per sample, or labels of shape ({n},)"
            )
        if t.dtype.kind not in "biuf":
            raise TypeError(
                f"cross-entropy: target rows must be numbers, got dtype {t.dtype}; pass "
                f"one-hot or probability rows such as t.astype(np.float64)"
            )
        if t.dtype.kind == "f" and not np.isfinite(t).all():  # why: else a silent NaN loss
            raise ValueError(
                f"cross-entropy: target rows hold NaN or inf ({preview(t[~np.isfinite(t)])}); "
                "pass finite one-hot or probability rows"
            )
    else:
        raise ValueError(
            f"cross-entropy: t of shape {t.shape} is neither labels ({n},) nor target rows "
            f"({n}, {c}); pass one of those for scores of shape {x.shape}"
        )


def float_dtype(kind: str, dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy float dtype; ``kind`` names the layer in the error."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{kind} needs a float dtype such as np.float32, got {dtype}")
    return dtype


def pair(value: int | Sequence[int], what: str, minimum: int) -> tuple[int, int]:
    """``value`` as a (height, width) pair of ints >= ``minimum``; an int is used for both."""
    both = (value, value) if isinstance(value, int | np.integer) else value
    if (
        not isinstance(both, tuple | list)
        or len(both) != 2
        or not all(isinstance(v, int | np.integer) and v >= minimum for v in both)
    ):
        raise ValueError(
            f"{what} must be an int >= {minimum} or a (height, width) pair of them, got {value!r}"
        )
    return int(both[0]), int(both[1])


def pool_window(
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None,
    pad: int | Sequence[int],
    who: str = "max_pool2d",
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(kernel, stride, pad) pairs of a pooling window; ``stride`` None is the kernel size.

    ``pad`` may be at most half the kernel, so that every window holds a real value.
    """
    kernel = pair(kernel_size, f"{who}: kernel_size", 1)
    step = kernel if stride is None else pair(stride, f"{who}: stride", 1)
    padding = pair(pad, f"{who}: pad", 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"{who}: pad {padding} is more than half the kernel {kernel}, so some windows "
            f"would hold only padding; use pad <= kernel_size // 2"
        )
    return kernel, step, padding


def dropout_probability(p: Any, who: str = "dropout") -> float:
    """``p`` as a float in [0, 1): the probability of dropping each value."""
    if isinstance(p, bool) or not isinstance(p, int | float | np.floating) or not 0 <= p < 1:
        raise ValueError(
            f"{who}: p = {p!r} is outside [0, 1); it is the probability of dropping each "
            f"value, e.g. 0.5"
        )
    return float(p)


def number_in(value: Any, what: str, upper: float, example: str) -> float:
    """``value`` as a float in [0, ``upper``), such as a learning rate; ``example`` is valid."""
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "biuf":
        raise ValueError(f"{what} must be a number, got {value!r}")
    if not 0.0 <= float(value) < upper:
        wanted = f"lie in [0, {upper:g})" if upper < np.inf else "be a finite number >= 0"
        raise ValueError(f"{what} must {wanted}, got {float(value)}; pass e.g. {example}")
    return float(value)


def parameter_list(params: Any, who: str) -> tuple[list[Any], list[str] | None]:
    """What an optimizer takes (a Layer, tensors or ``(name, tensor)`` pairs) as a list of
    float tensors, each once, and their names if given."""
    if callable(getattr(params, "named_parameters", None)):
        params = params.named_parameters()
    if hasattr(params, "data") or isinstance(params, np.ndarray):
        raise TypeError(
            f"{who}() takes an iterable of parameters, got a single {type(params).__name__}; "
            f"wrap it in a list: {who}([p])"
        )
    if not isinstance(params, Iterable):
        raise TypeError(
            f"{who}() takes an iterable of parameters, got {type(params).__name__}; "
            "pass e.g. model.parameters()"
        )
    if not (params := list(params)):
        raise ValueError(f"{who}() got an empty parameter list; pass e.g. model.parameters()")
    names = None
    if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
        names, params = [name for name, _ in params], [p for _, p in params]
    first_seen: dict[int, int] = {}
    for i, p in enumerate(params):
        data, label = getattr(p, "data", None), str(i) if names is None else repr(names[i])
        if not isinstance(data, np.ndarray):
            raise TypeError(f"{who}(): parameter {label} is a {type(p).__name__}; pass tensors")
        if data.dtype.kind != "f":
            raise TypeError(
                f"{who}(): parameter {label} has dtype {data.dtype}, but only float tensors "
                "train; convert it, e.g. with astype(np.float32)"
            )
        if (j := first_seen.setdefault(id(p), i)) != i:
            raise ValueError(f"{who}(): parameters {j} and {i} are the same tensor; pass it once")
    return params, names
