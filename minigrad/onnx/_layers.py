"""Small layers for the ONNX ops that no minigrad layer computes on its own.

``load`` uses them where a file does something the named layers do not: a product of
two computed values, a constant added to or multiplied with a value, a reshape, a
flatten from another axis than 1, a gather from a computed value. Each is a composition
of Tensor ops.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from minigrad.nn.layer import Layer, Parameter
from minigrad.tensor import Tensor, as_tensor


class MatMul(Layer):
    """y = a @ b for two computed values (NumPy's matmul rules).

    >>> MatMul()(np.ones((2, 3)), np.ones((3, 4))).shape
    (2, 4)
    """

    def forward(self, a: ArrayLike | Tensor, b: ArrayLike | Tensor) -> Tensor:
        return as_tensor(a) @ b


class WithValue(Layer):
    """Base of the layers that combine their input with one stored ``value``: a
    ``Parameter`` if ``trainable`` (an ONNX initializer), else a buffer (an ONNX
    ``Constant``)."""

    def __init__(self, value: ArrayLike, trainable: bool = True) -> None:
        super().__init__()
        value = np.array(value, copy=True)
        if trainable and value.dtype.kind == "f":
            self.value = Parameter(value)
        else:
            self.register_buffer("value", value)

    def extra_repr(self) -> str:
        return f"shape={np.shape(self.value)}"


class AddConstant(WithValue):
    """y = x + value: ``value`` is a ``Parameter`` if ``trainable`` (an ONNX initializer),
    else a buffer (an ONNX ``Constant``).

    >>> layer = AddConstant(np.array([1.0, 2.0]))
    >>> layer(np.zeros((3, 2))).numpy()[0]
    array([1., 2.])
    >>> [name for name, _ in layer.named_parameters()]
    ['value']
    """

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return as_tensor(x) + self.value


class Multiply(Layer):
    """y = a * b for two computed values of one shape (an ONNX ``Mul``).

    >>> Multiply()(np.full((2, 2), 3.0), np.full((2, 2), 2.0)).numpy()[0]
    array([6., 6.])
    """

    def forward(self, a: ArrayLike | Tensor, b: ArrayLike | Tensor) -> Tensor:
        return as_tensor(a) * b


class MulConstant(WithValue):
    """y = x * value: ``value`` is a ``Parameter`` if ``trainable`` (an ONNX initializer),
    else a buffer (an ONNX ``Constant``), as in ``AddConstant``.

    >>> MulConstant(np.array(0.5), trainable=False)(np.ones(2)).numpy()
    array([0.5, 0.5])
    """

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return as_tensor(x) * self.value


class Reshape(Layer):
    """y = x reshaped to ``shape``; as in ONNX, a 0 keeps that axis's size, -1 is inferred.

    >>> Reshape([0, 2, -1])(np.zeros((5, 6))).shape
    (5, 2, 3)
    """

    def __init__(self, shape: list[int]) -> None:
        super().__init__()
        self.shape = [int(n) for n in shape]

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        x = as_tensor(x)
        return x.reshape(*[x.shape[i] if n == 0 else n for i, n in enumerate(self.shape)])

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class FlattenFrom(Layer):
    """ONNX's Flatten: y has shape (prod(x.shape[:axis]), prod(x.shape[axis:])).

    >>> FlattenFrom(2)(np.zeros((2, 3, 4, 5))).shape
    (6, 20)
    """

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        x = as_tensor(x)
        return x.reshape(int(np.prod(x.shape[: self.axis])), -1)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Gather(Layer):
    """y = x indexed by the constant ``indices`` along ``axis`` (ONNX's Gather).

    >>> Gather(np.array(0), axis=1)(np.arange(6.0).reshape(2, 3)).numpy()
    array([0., 3.])
    """

    def __init__(self, indices: ArrayLike, axis: int) -> None:
        super().__init__()
        self.register_buffer("indices", np.asarray(indices, dtype=np.int64))
        self.axis = int(axis)

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return as_tensor(x)[(slice(None),) * self.axis + (self.indices,)]

    def extra_repr(self) -> str:
        return f"indices shape={self.indices.shape}, axis={self.axis}"
