"""The book's layers as reusable blocks: Affine, activations, reshapes, losses and merges.

Every layer builds on Tensor ops, so its backward comes from the engine. Two call a
primitive of their own: ``Affine`` (``ops.Affine``, x @ W + b as one op) and
``SoftmaxWithLoss`` (``ops.SoftmaxCrossEntropy``: exact for any logits, one pass).
Inputs may be NumPy arrays or Tensors. Layers that take several inputs get them as
separate positional arguments: ``loss(scores, t)``, ``Add()(a, b, c)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad import functional as F
from minigrad import ops
from minigrad.checks import positive_int, preview
from minigrad.nn.init import weights
from minigrad.nn.layer import Layer
from minigrad.tensor import Tensor, as_tensor


class Affine(Layer):
    """y = x @ W + b, with the book's names: ``W (in_features, out_features)``, ``b (out,)``.

    The product runs over the last axis of ``x``, so ``x`` is ``(N, in_features)`` or has
    more leading axes, ``(N, ..., in_features)``, as a sequence ``(N, T, in_features)``
    (every step gets the same weights; use ``Flatten`` first for images).

    - ``weight_init``: ``"he"`` draws W from N(0, 2/in_features), for ReLU nets;
      ``"xavier"`` from N(0, 1/in_features), for sigmoid and tanh nets. This is the
      book's convention (Xavier Glorot's fan-in form, not the (in + out) average).
      A float is the standard deviation itself, as the book's ``weight_init_std``.
      ``b`` starts at zero.
    - ``rng`` makes the initialisation reproducible: an int seeds a fresh
      ``np.random.default_rng(seed)``; a ``np.random.Generator`` is used as is
      (share one across layers to seed a whole network once); ``None`` draws from
      NumPy's global generator, so ``np.random.seed(...)`` works as in the book.
    - ``dtype``: of W and b (float64 by default, as NumPy and the book).

    >>> layer = Affine(3, 2, weight_init=0.01, rng=0)
    >>> layer.W.shape, layer.b.shape
    ((3, 2), (2,))
    >>> layer(np.ones((4, 3))).shape
    (4, 2)
    >>> layer(np.ones((4, 5, 3))).shape
    (4, 5, 2)
    >>> np.array_equal(Affine(3, 2, rng=0).W.data, Affine(3, 2, rng=0).W.data)
    True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        weight_init: str | float = "he",
        dtype: DTypeLike = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.weight_init = weight_init
        shape, out = (in_features, out_features), out_features
        self.W, self.b = weights("Affine", weight_init, in_features, shape, out, dtype, rng)

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        shape = x.shape if isinstance(x, Tensor | np.ndarray) else np.shape(x)
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ValueError(
                f"Affine({self.in_features}, {self.out_features}) needs inputs whose last axis "
                f"has {self.in_features} features, got shape {shape}; pass (N, "
                f"{self.in_features}) (put Flatten() before it for images)"
            )
        if len(shape) == 2:  # why: one fused op for the common case
            return F.affine(x, self.W, self.b)
        # why: (N, ..., in) as rows of one matrix, so the fused op serves every time step
        rows = as_tensor(x).reshape(-1, self.in_features)
        return F.affine(rows, self.W, self.b).reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        sizes = f"in_features={self.in_features}, out_features={self.out_features}"
        return f"{sizes}, weight_init={self.weight_init!r}, dtype={self.W.dtype}"


class ReLU(Layer):
    """y = max(x, 0).

    >>> ReLU()(np.array([-1.0, 2.0])).numpy()
    array([0., 2.])
    """

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return as_tensor(x).relu()


class Sigmoid(Layer):
    """y = 1 / (1 + e^-x).

    >>> Sigmoid()(np.array([0.0])).numpy()
    array([0.5])
    """

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return as_tensor(x).sigmoid()


class Tanh(Layer):
    """y = tanh(x).

    >>> Tanh()(np.array([0.0])).numpy()
    array([0.])
    """

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return as_tensor(x).tanh()


class Softmax(Layer):
    """y = e^x / sum(e^x) along ``axis`` (the class axis, last by default).

    >>> Softmax()(np.array([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]])
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return F.softmax(as_tensor(x), axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Flatten(Layer):
    """Reshape ``(N, ...)`` to ``(N, features)``, keeping the batch axis.

    >>> Flatten()(np.zeros((2, 1, 8, 8))).shape
    (2, 64)
    """

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0:
            raise ValueError("Flatten needs a batch axis, got a 0-d value; pass shape (N, ...)")
        return x.reshape(x.shape[0], -1)


class SoftmaxWithLoss(Layer):
    """Mean cross-entropy of softmax(scores) against ``t``: a scalar.

    ``scores`` are logits ``(N, C)``; ``t`` holds integer labels ``(N,)`` in [0, C)
    or non-negative target rows ``(N, C)`` (one-hot or probabilities). The loss is
    computed from the log-sum-exp, so it is exact for any logits: scores
    ``[1000, 0]`` with label 1 give 1000 (the book's ``log(y + 1e-7)`` gives 16.1).

    >>> loss = SoftmaxWithLoss()
    >>> float(loss(np.array([[1000.0, 0.0]]), np.array([1])).data)
    1000.0
    >>> float(loss(np.array([[0.0, 0.0]]), np.array([[0.0, 1.0]])).data)  # log 2
    0.6931471805599453
    """

    def forward(self, scores: ArrayLike | Tensor, t: ArrayLike | Tensor) -> Tensor:
        rows = t.data if isinstance(t, Tensor) else np.asarray(t)
        if rows.ndim == 2 and rows.dtype.kind in "if":
            # why: through ops.effect, so a compiled step checks every new batch of rows too
            ops.effect(_non_negative_rows, rows)
        # why: a fused primitive, stable for any logits; it checks scores and labels itself
        return F.softmax_cross_entropy(scores, t)


def _non_negative_rows(rows: np.ndarray) -> None:
    """The layer's rule, not the op's, which takes any rows (learnt targets may go negative)."""
    if rows.size and rows.min() < 0:
        raise ValueError(
            f"SoftmaxWithLoss: target rows must be non-negative, got "
            f"{preview(rows[rows < 0])}; pass one-hot or probability rows, or integer labels"
        )


class MSELoss(Layer):
    """Mean over all elements of (y - t)^2; ``y`` and ``t`` must have one shape.

    >>> float(MSELoss()(np.array([1.0, 3.0]), np.array([0.0, 0.0])).data)
    5.0
    """

    def forward(self, y: ArrayLike | Tensor, t: ArrayLike | Tensor) -> Tensor:
        if np.shape(y) != np.shape(t):
            raise ValueError(
                f"MSELoss: prediction of shape {np.shape(y)} and target of shape {np.shape(t)} "
                f"differ; pass targets of the prediction's shape (no broadcasting here, it "
                f"would hide a mistake)"
            )
        return F.mse(as_tensor(y), t)


class Add(Layer):
    """The elementwise sum of any number of equally shaped inputs (skip connections).

    >>> Add()(np.ones(2), np.ones(2), Tensor([1.0, 2.0])).numpy()
    array([3., 4.])
    """

    def forward(self, *xs: ArrayLike | Tensor) -> Tensor:
        if not xs:
            raise ValueError("Add needs at least one input, e.g. Add()(a, b)")
        shapes = [np.shape(x) for x in xs]
        if len(set(shapes)) > 1:
            raise ValueError(f"Add needs inputs of one shape, got {shapes}")
        total = as_tensor(xs[0])
        for x in xs[1:]:
            total = total + x
        return total


class Concat(Layer):
    """Join inputs along ``axis`` (1, the feature axis, by default).

    >>> Concat()(np.zeros((2, 3)), np.ones((2, 1))).shape
    (2, 4)
    """

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: ArrayLike | Tensor) -> Tensor:
        if not xs:
            raise ValueError("Concat needs at least one input, e.g. Concat(axis=1)(a, b)")
        return F.concatenate(xs, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
