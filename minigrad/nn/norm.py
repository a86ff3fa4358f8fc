"""The book's chapter-6 regularisers: Dropout and BatchNorm.

Both behave differently in training and in ``eval()``: Dropout drops only while
training; BatchNorm normalises with the batch's statistics while training and with its
running statistics (buffers, saved in ``state_dict()``) in eval. Both are compositions
of Tensor ops (``functional.dropout``, ``functional.batch_norm``): no primitive of
their own, because neither gains stability or much speed from one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad import functional as F
from minigrad import ops
from minigrad.checks import dropout_probability, positive_int
from minigrad.nn.layer import Layer, Parameter
from minigrad.tensor import Tensor


class Dropout(Layer):
    """Inverted dropout: while training, each value is kept with probability 1 - p and
    scaled by 1 / (1 - p), else zeroed; in ``eval()`` the identity.

    The scaling keeps every value's expectation, so nothing changes at test time (the
    book instead scales by 1 - p in eval; the results are the same up to that factor).
    The masks come from the layer's own ``np.random.Generator``, ``self.rng``: ``rng`` is a
    seed or a Generator; ``None`` seeds it from NumPy's global generator, so
    ``np.random.seed(...)`` before building a network makes its masks reproducible too.

    >>> drop = Dropout(0.5, rng=0)
    >>> np.unique(drop(np.ones((4, 4))).numpy())
    array([0., 2.])
    >>> drop.eval()(np.ones((1, 3))).numpy()
    array([[1., 1., 1.]])
    """

    def __init__(self, p: float = 0.5, rng: int | np.random.Generator | None = None) -> None:
        super().__init__()
        self.p = dropout_probability(p, "Dropout")
        if rng is None:
            rng = int(np.random.randint(0, 2**31 - 1))
        self.rng = np.random.default_rng(rng)

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return F.dropout(x, self.p, self.rng, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class BatchNorm(Layer):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta, per feature of (N, D) inputs and
    per channel of (N, C, H, W) inputs (statistics over N, H and W).

    - training: mean and var are the batch's; var is the biased batch variance (the mean
      of squared deviations, as the book, for normalising and for the running
      statistics). Each call updates the buffers, the book's convention:
      ``running = momentum * running + (1 - momentum) * batch``.
    - ``eval()``: mean and var are ``running_mean`` and ``running_var``. They start at 0
      and 1 (so an untrained layer in eval passes values through, scaled by
      1/sqrt(1 + eps)); they are buffers: in ``state_dict()``, not in ``parameters()``.
    - ``gamma`` (ones) and ``beta`` (zeros), shape (num_features,), are parameters.

    >>> bn = BatchNorm(2)
    >>> bn(np.array([[1.0, 10.0], [3.0, 30.0]])).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> bn.running_mean, bn.running_var
    (array([0.2, 2. ]), array([ 1. , 10.9]))
    >>> sorted(bn.state_dict())
    ['beta', 'gamma', 'running_mean', 'running_var']
    """

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.9,
        eps: float = 1e-5,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.num_features = positive_int(num_features, "BatchNorm: num_features")
        if not 0 <= momentum <= 1:
            raise ValueError(
                f"BatchNorm: momentum = {momentum} is outside [0, 1]; it is the weight of the "
                f"old running statistics, e.g. 0.9"
            )
        if not eps > 0:
            raise ValueError(f"BatchNorm: eps must be > 0 (it keeps 1/sqrt finite), got {eps}")
        self.momentum, self.eps = float(momentum), float(eps)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"BatchNorm needs a float dtype such as np.float32, got {dtype}")
        self.gamma = Parameter(np.ones(num_features, dtype=dtype))
        self.beta = Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        shape = np.shape(x)
        if len(shape) not in (2, 4) or shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm({self.num_features}) needs (N, {self.num_features}) or "
                f"(N, {self.num_features}, H, W) inputs, got shape {shape}; check "
                f"num_features (the features or channels on axis 1)"
            )
        if self.training:
            ops.effect(_fresh_statistics, self)  # why: through ops.effect, so mg.compile sees it
        return F.batch_norm(
            x,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, momentum={self.momentum}, eps={self.eps}, "
            f"dtype={self.gamma.dtype}"
        )


def _fresh_statistics(layer: BatchNorm) -> None:
    """Copy the running statistics into new arrays, so whoever holds the old ones sees no
    change when they are updated."""
    layer.running_mean = layer.running_mean.copy()
    layer.running_var = layer.running_var.copy()
