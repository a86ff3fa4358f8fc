"""Multi-head self-attention, the transformer's way of letting every step look at the others.

A composition of Tensor ops: three fused Affines (queries, keys, values), reshapes and
transposes that split the features into heads, two batched matmuls, the softmax of the
scores (one primitive, ``AttentionSoftmax``, that also applies the causal mask), and a last
Affine. The op count does not grow with the length.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad import functional as F
from minigrad.checks import float_dtype, positive_int
from minigrad.nn.init import generator
from minigrad.nn.layer import Layer, Parameter
from minigrad.tensor import Op, Tensor, as_tensor


def causal_mask(steps: int) -> np.ndarray:
    """(T, T) booleans: row t is True at the steps s <= t that step t may look at.

    >>> causal_mask(3)
    array([[ True, False, False],
           [ True,  True, False],
           [ True,  True,  True]])
    """
    return np.tri(steps, dtype=bool)


class AttentionSoftmax(Op):
    """y = softmax over the last axis of the scores (the future's set to -inf when ``causal``);
    dx = y (gy - sum(gy y)) along that axis.

    A primitive for speed: one pass forward over the (N, heads, T, T) scores, and four ops
    backward, instead of the composition's six ops forward and their backward.
    """

    keeps_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.causal:
            x = np.where(causal_mask(x.shape[-1]), x, -np.inf)
        # why: subtract the row maximum (finite: every row sees at least its own step)
        z = x - x.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return z

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()  # masked entries are 0 in y, so they get no gradient
        return y * (gy - (gy * y).sum(axis=-1, keepdims=True))


class MultiHeadAttention(Layer):
    """Self-attention over ``(N, T, dim)`` with ``heads`` heads of ``d = dim // heads`` features.

    ``Q = x Wq + bq``, ``K = x Wk + bk``, ``V = x Wv + bv``; head h uses the columns
    ``h*d : (h+1)*d`` of each and weighs the values by ``softmax(Q_h K_h^T / sqrt(d))`` over
    the steps; the heads' results, side by side, go through ``Wo, bo``:
    ``y = concat_h(softmax(Q_h K_h^T / sqrt(d)) V_h) Wo + bo``. With ``causal=True`` step t
    sees only steps 0..t (the future's scores are -inf before the softmax), as a language
    model must. Parameters ``Wq, Wk, Wv, Wo (dim, dim)`` start at standard normal /
    sqrt(dim), the biases at zero.

    ``forward(x, return_weights=False)``: with ``return_weights=True`` also the attention
    weights ``(N, heads, T, T)`` (row t: how much step t takes from each step).

    >>> attention = MultiHeadAttention(8, heads=2, causal=True, rng=0)
    >>> y, weights = attention(np.ones((3, 5, 8)), return_weights=True)
    >>> y.shape, weights.shape
    ((3, 5, 8), (3, 2, 5, 5))
    >>> bool((weights.numpy()[..., 0, 1:] == 0).all())  # step 0 sees only itself
    True
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        causal: bool = False,
        dtype: DTypeLike = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = positive_int(dim, "MultiHeadAttention: dim")
        self.heads = positive_int(heads, "MultiHeadAttention: heads")
        if self.dim % self.heads:
            divisors = [k for k in range(1, self.dim + 1) if self.dim % k == 0]
            raise ValueError(
                f"MultiHeadAttention: heads={self.heads} does not divide dim={self.dim}; every "
                f"head gets dim // heads features, so pick heads among {divisors}"
            )
        self.causal = bool(causal)
        dtype = float_dtype("MultiHeadAttention", dtype)
        source = generator(rng)
        for name in ("q", "k", "v", "o"):
            w = source.standard_normal((self.dim, self.dim)) / np.sqrt(self.dim)
            setattr(self, f"W{name}", Parameter(w.astype(dtype)))
            setattr(self, f"b{name}", Parameter(np.zeros(self.dim, dtype=dtype)))

    def forward(
        self, x: ArrayLike | Tensor, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[2] != self.dim or x.shape[1] == 0:
            raise ValueError(
                f"MultiHeadAttention(dim={self.dim}, heads={self.heads}) needs sequences "
                f"(N, T, {self.dim}) with T >= 1, got shape {x.shape}; the last axis must hold "
                f"the {self.dim} features of each step"
            )
        n, steps, dim = x.shape
        d = dim // self.heads
        rows = x.reshape(n * steps, dim)

        def split(w: Tensor, b: Tensor) -> Tensor:  # (N*T, dim) -> (N, heads, T, d)
            return F.affine(rows, w, b).reshape(n, steps, self.heads, d).transpose(0, 2, 1, 3)

        # why: 1/sqrt(d) applied to Q, (N, h, T, d), is cheaper than to the (N, h, T, T) scores
        q = split(self.Wq, self.bq) * float(1.0 / np.sqrt(d))
        k, v = split(self.Wk, self.bk), split(self.Wv, self.bv)
        scores = q @ k.transpose(0, 1, 3, 2)  # (N, heads, T, T): row t scores every step
        weights = AttentionSoftmax.apply(scores, causal=self.causal)
        mixed = (weights @ v).transpose(0, 2, 1, 3).reshape(n * steps, dim)
        y = F.affine(mixed, self.Wo, self.bo).reshape(n, steps, dim)
        return (y, weights) if return_weights else y

    def extra_repr(self) -> str:
        return f"{self.dim}, heads={self.heads}, causal={self.causal}, dtype={self.Wq.dtype}"
