"""Layers for sequences, from *Deep Learning from Scratch 2*: Embedding, RNN, LSTM, and the
transformer's LayerNorm and GELU.

Sequences are batch-first, ``(N, T, D)``: N sequences of T steps of D features. The
parameters keep the sequel's names (``W`` of an embedding; ``Wx``, ``Wh``, ``b`` of a
recurrent layer, the LSTM's four gate blocks in its order f, g, i, o).

Embedding, LayerNorm and GELU are compositions of Tensor ops (indexing, mean, sqrt,
tanh): they need no backward of their own.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad.nn.layer import Layer, Parameter
from minigrad.nn.layers import _positive_int
from minigrad.tensor import Tensor, _tensor


def _float_dtype(kind: str, dtype: DTypeLike) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{kind} needs a float dtype such as np.float32, got {dtype}")
    return dtype


def _generator(rng: int | np.random.Generator | None) -> np.random.Generator | object:
    """NumPy's global generator for None (so ``np.random.seed`` works), else a Generator."""
    return np.random if rng is None else np.random.default_rng(rng)


def _check_features(kind: str, shape: tuple[int, ...], size: int, what: str) -> None:
    if len(shape) == 0 or shape[-1] != size:
        raise ValueError(
            f"{kind} needs inputs whose last axis has {size} {what}, got shape {shape}; "
            f"pass (..., {size})"
        )


# --- LayerNorm and GELU ------------------------------------------------------------------------
def layer_norm(x: ArrayLike | Tensor, gamma: object, beta: object, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis (biased variance).

    >>> layer_norm(Tensor([[1.0, 3.0]]), np.ones(2), np.zeros(2)).numpy().round(4)
    array([[-1.,  1.]])
    """
    x = _tensor(x)
    xc = x - x.mean(axis=-1, keepdims=True)
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / (var + eps).sqrt() * gamma + beta


def gelu(x: ArrayLike | Tensor) -> Tensor:
    """The tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    >>> gelu(Tensor([-1.0, 0.0, 1.0])).numpy().round(4)
    array([-0.1588,  0.    ,  0.8412])
    """
    x = _tensor(x)
    # why: x + 0.044715 x^3 = x (1 + 0.044715 x^2), one multiply fewer
    inner = x * (x * x * (0.044715 * _SQRT_2_OVER_PI) + _SQRT_2_OVER_PI)
    return x * (inner.tanh() + 1.0) * 0.5


_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))


class LayerNorm(Layer):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta, over the last axis of each sample.

    Unlike ``BatchNorm``, the statistics are each position's own (the mean and biased
    variance of its ``dim`` features), so training and eval compute the same thing and a
    batch of one works. ``gamma`` starts at ones and ``beta`` at zeros, shape ``(dim,)``.

    >>> norm = LayerNorm(2)
    >>> norm(np.array([[[1.0, 3.0], [5.0, 4.0]]])).numpy().round(4)
    array([[[-1.,  1.],
            [ 1., -1.]]])
    >>> [name for name, _ in norm.named_parameters()]
    ['gamma', 'beta']
    """

    def __init__(self, dim: int, eps: float = 1e-5, dtype: DTypeLike = np.float64) -> None:
        super().__init__()
        self.dim = _positive_int(dim, "LayerNorm: dim")
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be > 0 (it keeps 1/sqrt finite), got {eps}")
        self.eps = float(eps)
        dtype = _float_dtype("LayerNorm", dtype)
        self.gamma = Parameter(np.ones(self.dim, dtype=dtype))
        self.beta = Parameter(np.zeros(self.dim, dtype=dtype))

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        _check_features(f"LayerNorm({self.dim})", np.shape(x), self.dim, "features")
        return layer_norm(x, self.gamma, self.beta, self.eps)

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}, dtype={self.gamma.dtype}"


class GELU(Layer):
    """y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the transformer's activation.

    The tanh approximation of x times the standard normal CDF (GPT-2's and BERT's; PyTorch's
    ``GELU(approximate="tanh")``): smooth, close to ReLU far from 0, slightly negative below.

    >>> GELU()(np.array([-3.0, 0.0, 3.0])).numpy().round(4)
    array([-0.0036,  0.    ,  2.9964])
    """

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return gelu(x)


# --- Embedding ---------------------------------------------------------------------------------
class Embedding(Layer):
    """Row lookup: integer ids of any shape -> ``W[ids]``, of shape ``ids.shape + (dim,)``.

    ``W (num_embeddings, dim)`` is the sequel's name; it starts at ``weight_init`` times
    standard normal values (0.01, the sequel's; a float standard deviation). The lookup is
    indexing, so an id that occurs several times in a batch gets the sum of its gradients.
    Ids are integers in ``[0, num_embeddings)``: anything else is an error, not a wrap-around.

    >>> emb = Embedding(5, 3, rng=0)
    >>> emb(np.array([[0, 4, 4]])).shape
    (1, 3, 3)
    >>> np.array_equal(emb(np.array([4])).numpy(), emb.W.numpy()[[4]])
    True
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        weight_init: float = 0.01,
        dtype: DTypeLike = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _positive_int(num_embeddings, "Embedding: num_embeddings")
        self.dim = _positive_int(dim, "Embedding: dim")
        if isinstance(weight_init, bool) or not isinstance(weight_init, int | float):
            raise TypeError(
                f"Embedding: weight_init is the standard deviation of W, a float such as "
                f"0.01, got {weight_init!r}"
            )
        dtype = _float_dtype("Embedding", dtype)
        values = _generator(rng).standard_normal((self.num_embeddings, self.dim))
        self.W = Parameter((float(weight_init) * values).astype(dtype))

    def forward(self, ids: ArrayLike | Tensor) -> Tensor:
        return self.W[self._check_ids(ids)]

    def _check_ids(self, ids: ArrayLike | Tensor) -> np.ndarray:
        values = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        name = f"Embedding({self.num_embeddings}, {self.dim})"
        if values.dtype.kind not in "iu":
            hint = ""
            if values.dtype.kind == "f" and np.all(values == np.round(values)):
                hint = "; they look whole: pass ids.astype(np.int64)"
            raise TypeError(
                f"{name}: ids must be integers, got dtype {values.dtype} of shape "
                f"{values.shape}{hint}"
            )
        if values.size and (values.min() < 0 or values.max() >= self.num_embeddings):
            bad = np.flatnonzero((values < 0) | (values >= self.num_embeddings))
            raise ValueError(
                f"{name}: ids must lie in [0, {self.num_embeddings}), got "
                f"{values.reshape(-1)[bad[:5]].tolist()} at flat positions {bad[:5].tolist()}"
                f"{' (and more)' if bad.size > 5 else ''}; make num_embeddings the vocabulary "
                f"size"
            )
        return values

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.dim}, dtype={self.W.dtype}"
