"""How a Tensor meets Python and NumPy: conversions, comparisons, ``+=``, NumPy's protocols.

Two bases of ``Tensor``, kept outside the engine (``tensor.py``). ``TensorValues`` hands the
values to Python and NumPy and is never recorded: ``np.asarray(t)``, ``float(loss)``,
``f"{loss:.3f}"`` and ``t == u`` (a plain boolean array) work as they do on a NumPy array.
``NumPyMethods`` adds the NumPy-named methods (``argmax``, ``flatten``), DLPack, and the hooks
of NumPy's two override protocols, which hand ``np.exp(t)`` or ``np.sum(t)`` to
`minigrad.interop`, where NumPy's calls are mapped to ops.

>>> import minigrad as mg
>>> loss = mg.Tensor([0.5, 0.75]).sum()
>>> float(loss), f"{loss:.2f}", np.asarray(loss).shape
(1.25, '1.25', ())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

# why: NumPy's calls on a Tensor become ops, and ops need Tensor, so the module that maps them,
# minigrad.interop (which imports the engine), puts itself here when the package is imported
numpy_calls: Any = None


def _values(x: Any) -> Any:
    return x.data if isinstance(x, TensorValues) else x


class TensorValues:
    """The value side of ``Tensor``: everything here reads or writes ``self.data`` only."""

    __slots__ = ()
    data: np.ndarray

    # --- NumPy-like attributes -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)  # why: as NumPy, ambiguous (an error) for several values

    def __array__(self, dtype: DTypeLike = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            if copy is False:
                raise ValueError(
                    f"np.asarray(tensor, {np.dtype(dtype)}, copy=False): a {self.data.dtype} "
                    f"tensor needs a copy to become {np.dtype(dtype)}; leave copy at None"
                )
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (no copy)."""
        return self.data

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        return self.data.item()

    # why: as NumPy: float(), int() and a format spec take a 0-d tensor (a loss)
    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.3f}"`` formats the value as NumPy does; ``f"{t}"`` is ``str(t)``."""
        return format(self.data, spec) if spec else str(self)

    # comparisons give plain boolean arrays: they have no gradient
    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data == _values(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self.data != _values(other)

    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _values(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _values(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _values(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _values(other)

    # in-place operators: a leaf that requires grad is updated in place under no_grad (an
    # optimizer or a layer keeps holding it) and refused otherwise; anything else rebinds
    def __iadd__(self, other: Any) -> Any:
        return self._in_place(self + other, "+=")  # type: ignore[operator]

    def __isub__(self, other: Any) -> Any:
        return self._in_place(self - other, "-=")  # type: ignore[operator]

    def __imul__(self, other: Any) -> Any:
        return self._in_place(self * other, "*=")  # type: ignore[operator]

    def __itruediv__(self, other: Any) -> Any:
        return self._in_place(self / other, "/=")  # type: ignore[operator]

    def __ipow__(self, other: Any) -> Any:
        return self._in_place(self**other, "**=")  # type: ignore[operator]

    def __imatmul__(self, other: Any) -> Any:
        return self._in_place(self @ other, "@=")  # type: ignore[operator]

    def _in_place(self, result: Any, symbol: str) -> Any:
        if not self.requires_grad or self.creator is not None:  # type: ignore[attr-defined]
            return result  # why: a value in the graph (or a constant): the name takes the result
        if result.creator is not None:  # why: it was recorded, so grad mode is on
            raise RuntimeError(
                f"in-place {symbol} on a leaf tensor that requires grad (a parameter) would "
                f"bypass the graph; to update its values write `with mg.no_grad(): w {symbol} "
                f"...` (as an optimizer does); `w = w {symbol[0]} ...` makes a new tensor"
            )
        if result.shape != self.data.shape:
            raise ValueError(
                f"in-place {symbol} would change the shape {self.data.shape} of a leaf to "
                f"{result.shape}; a tensor keeps its shape in place, so write w = w "
                f"{symbol[:-1]} ... for a new tensor"
            )
        self.data[...] = result.data
        self._mark_written()  # type: ignore[attr-defined]
        return self


class NumPyMethods:
    """The NumPy side of ``Tensor``: NumPy-named methods, NumPy's protocols and DLPack."""

    __slots__ = ()
    data: np.ndarray

    def square(self) -> Any:
        """x * x;  d/dx = 2x.

        >>> import minigrad as mg
        >>> mg.Tensor([-3.0, 2.0]).square().numpy()
        array([9., 4.])
        """
        return self * self  # type: ignore[operator]

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Any:
        """Index of the largest value along ``axis`` (of the flattened values if None), as NumPy.

        A plain integer array (an ``np.intp`` for ``axis=None``): indices have no gradient.

        >>> import minigrad as mg
        >>> mg.Tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(axis=1)
        array([1, 0])
        """
        return self.data.argmax(axis=axis, keepdims=keepdims)

    def flatten(self) -> Any:
        """The values as one axis, in C order.

        >>> import minigrad as mg
        >>> mg.Tensor([[1.0, 2.0], [3.0, 4.0]]).flatten().numpy()
        array([1., 2., 3., 4.])
        """
        return self.reshape(-1)  # type: ignore[attr-defined]

    # --- the protocols ------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy's ufuncs (``np.exp(t)``, ``array * t``): see `minigrad.interop.array_ufunc`."""
        return numpy_calls.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(
        self, func: Callable[..., Any], types: Any, args: tuple, kwargs: dict
    ) -> Any:
        """NumPy's functions (``np.sum(t)``, ``np.concatenate``): see
        `minigrad.interop.array_function`."""
        return numpy_calls.array_function(func, types, args, kwargs)

    def __dlpack__(self, **kwargs: Any) -> Any:
        """A DLPack capsule of the data (NumPy's own): consumers share its memory."""
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """(device type, device id) of the data: the CPU."""
        return self.data.__dlpack_device__()
