"""The book's convolution and pooling layers, on NCHW images: Conv2d and MaxPool2d.

Both are compositions: im2col turns every window into a column, then a convolution is
one matmul and pooling one ``max`` (see ``functional.conv2d`` and ``ops.Im2Col``), so
their gradients, and gradients of gradients, come from the engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad import functional as F
from minigrad.checks import pair, pool_window, positive_int
from minigrad.nn.init import weights
from minigrad.nn.layer import Layer
from minigrad.tensor import Tensor


class Conv2d(Layer):
    """y = conv2d(x, W, b): x (N, C, H, W) -> (N, out_channels, OH, OW).

    OH = (H + 2 ph - kh) // sh + 1 (OW alike). ``W`` has the book's layout
    ``(out_channels, in_channels, kh, kw)``, ``b`` is ``(out_channels,)``.
    ``kernel_size``, ``stride`` and ``pad`` (zeros) are ints or (height, width) pairs.

    - ``weight_init``: ``"he"`` (the default) draws W from N(0, 2 / fan_in) with
      fan_in = in_channels * kh * kw; ``"xavier"`` from N(0, 1 / fan_in); a float is the
      standard deviation itself (the book's SimpleConvNet uses 0.01). ``b`` starts at 0.
    - ``rng``: an int seed or a ``np.random.Generator`` for a reproducible W; ``None``
      draws from NumPy's global generator (``np.random.seed`` works), as ``Affine``.
    - ``dtype``: of W and b (float64 by default).

    >>> conv = Conv2d(1, 30, 5, rng=0)
    >>> conv.W.shape, conv.b.shape
    ((30, 1, 5, 5), (30,))
    >>> conv(np.zeros((2, 1, 28, 28))).shape
    (2, 30, 24, 24)
    >>> Conv2d(3, 8, (3, 1), stride=2, pad=(1, 0))(np.zeros((1, 3, 7, 7))).shape
    (1, 8, 4, 4)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        pad: int | Sequence[int] = 0,
        weight_init: str | float = "he",
        dtype: DTypeLike = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = positive_int(in_channels, "Conv2d: in_channels")
        self.out_channels = positive_int(out_channels, "Conv2d: out_channels")
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size", 1)
        self.stride = pair(stride, "Conv2d: stride", 1)
        self.pad = pair(pad, "Conv2d: pad", 0)
        self.weight_init = weight_init
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels, kh, kw)
        fan_in = self.in_channels * kh * kw
        self.W, self.b = weights(
            "Conv2d", weight_init, fan_in, shape, self.out_channels, dtype, rng
        )

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return F.conv2d(x, self.W, self.b, stride=self.stride, pad=self.pad)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, pad={self.pad}, weight_init={self.weight_init!r}, "
            f"dtype={self.W.dtype}"
        )


class MaxPool2d(Layer):
    """y = the largest value of each (kh, kw) window: x (N, C, H, W) -> (N, C, OH, OW).

    ``stride=None`` means the kernel size (windows side by side, as the book's
    ``Pooling``). ``pad`` is at most half the kernel and never wins (it is -inf).
    Tied maxima share the gradient equally.

    >>> pool = MaxPool2d(2)
    >>> pool(np.arange(16.0).reshape(1, 1, 4, 4)).numpy()
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> MaxPool2d(3, stride=2, pad=1)(np.zeros((2, 4, 7, 7))).shape
    (2, 4, 4, 4)
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        pad: int | Sequence[int] = 0,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.pad = pool_window(kernel_size, stride, pad, "MaxPool2d")

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, stride=self.stride, pad=self.pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, pad={self.pad}"
