"""How layers draw their first weights: ``"he"``, ``"xavier"`` or a standard deviation."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from minigrad.checks import float_dtype
from minigrad.nn.layer import Parameter


def generator(rng: int | np.random.Generator | None) -> np.random.Generator | object:
    """NumPy's global generator for None (so ``np.random.seed`` works), else a Generator."""
    return np.random if rng is None else np.random.default_rng(rng)


def weights(
    kind: str,
    weight_init: str | float,
    fan_in: int,
    shape: tuple[int, ...],
    bias_size: int,
    dtype: DTypeLike,
    rng: int | np.random.Generator | None,
) -> tuple[Parameter, Parameter]:
    """A weight of ``shape`` drawn as ``weight_init`` asks and a zero bias, of ``dtype``.

    ``kind`` names the layer in errors; ``rng`` is a seed, a Generator, or None for
    NumPy's global random state.

    >>> w, b = weights("Affine", 0.5, 3, (3, 2), 2, np.float32, rng=0)
    >>> w.shape, w.dtype, b.data
    ((3, 2), dtype('float32'), array([0., 0.], dtype=float32))
    """
    std = init_std(weight_init, fan_in)
    dtype = float_dtype(kind, dtype)
    w = (std * generator(rng).standard_normal(shape)).astype(dtype)
    return Parameter(w), Parameter(np.zeros(bias_size, dtype=dtype))


def init_std(weight_init: str | float, fan_in: int) -> float:
    """The standard deviation that ``weight_init`` asks for: He sqrt(2/fan_in), Xavier
    sqrt(1/fan_in) (the book's fan-in form), or the float itself.

    >>> init_std("he", 50), init_std(0.01, 50)
    (0.2, 0.01)
    """
    if isinstance(weight_init, str):
        kind = weight_init.lower()
        if kind == "he":
            return float(np.sqrt(2.0 / fan_in))
        if kind == "xavier":
            return float(np.sqrt(1.0 / fan_in))
        raise ValueError(
            f"weight_init={weight_init!r} is not known; pass 'he' (for ReLU), 'xavier' "
            f"(for sigmoid or tanh) or a float standard deviation such as 0.01"
        )
    if isinstance(weight_init, bool) or not isinstance(weight_init, int | float | np.floating):
        raise TypeError(
            f"weight_init must be 'he', 'xavier' or a float standard deviation, got "
            f"{type(weight_init).__name__} {weight_init!r}"
        )
    if not np.isfinite(weight_init) or weight_init < 0:
        raise ValueError(f"weight_init as a standard deviation must be >= 0, got {weight_init}")
    return float(weight_init)
