"""Layers for sequences, from *Deep Learning from Scratch 2*: Embedding, RNN, LSTM, and the
transformer's LayerNorm and GELU.

Sequences are batch-first, ``(N, T, D)``: N sequences of T steps of D features. The
parameters keep the sequel's names (``W`` of an embedding; ``Wx``, ``Wh``, ``b`` of a
recurrent layer, the LSTM's four gate blocks in its order f, g, i, o).

Embedding is indexing, a Tensor op; LayerNorm, GELU and the recurrences are primitives
for speed: NumPy forward passes, backward passes written with Tensor ops.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad import functional as F
from minigrad import ops
from minigrad.checks import (
    float_dtype,
    parameter_list,
    positive_float,
    positive_int,
    whole_numbers_hint,
)
from minigrad.functional import stack
from minigrad.nn.init import generator, init_std
from minigrad.nn.layer import Layer, Parameter
from minigrad.tensor import Op, Tensor, as_tensor

# --- LayerNorm and GELU ------------------------------------------------------------------------
# Written as Tensor ops, LayerNorm is about ten ops over the whole activation and GELU eight,
# each a full pass over memory, with their backward ops after them: in a small transformer
# they cost more than its matmuls. So each is one primitive, for speed: one NumPy pass
# forward, and a backward of the closed-form derivative in Tensor ops (so it is recorded
# under ``create_graph`` and higher derivatives hold).
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_CUBIC = 0.044715  # the tanh form's coefficient of x^3


class LayerNormOp(Op):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis;
    with xn the normalised x, s = sqrt(var + eps) and g = gy gamma:
    dx = (g - mean(g) - xn mean(g xn)) / s, dgamma = sum of gy xn, dbeta = sum of gy.
    """

    def forward(self, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
        # why: NumPy's promotion, as Affine's: float32 x and a float64 layer give float64 (the
        # in-place products below would otherwise cast the result down to x's dtype)
        x = x.astype(np.result_type(x, gamma, beta), copy=False)
        xc = x - x.mean(axis=-1, keepdims=True)
        inv = 1.0 / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + self.eps)
        y = np.multiply(xc, inv, out=xc)
        y *= gamma
        y += beta
        return y

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        x, gamma, beta = self.inputs
        xc = x - x.mean(axis=-1, keepdims=True)  # why: recomputed, so it is a function of x
        inv = ((xc * xc).mean(axis=-1, keepdims=True) + self.eps) ** -0.5
        xn = xc * inv
        gx = None
        if x.requires_grad:
            g = gy * gamma
            gx = g - g.mean(axis=-1, keepdims=True) - xn * (g * xn).mean(axis=-1, keepdims=True)
            gx = gx * inv
        # the engine sums dgamma and dbeta over the leading axes
        return gx, (gy * xn if gamma.requires_grad else None), (gy if beta.requires_grad else None)


class GELUOp(Op):
    """y = 0.5 x (1 + tanh u) with u = sqrt(2/pi) (x + 0.044715 x^3), which is x sigmoid(2u);
    dy/dx = s + x s (1 - s) 2 du/dx with s = sigmoid(2u), du/dx = sqrt(2/pi)(1 + 0.134145 x^2).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        # why: 0.5 (1 + tanh u) = 1 / (1 + e^-2u); exp is much faster than tanh in NumPy
        e = np.multiply(x, x, out=np.empty_like(x))  # why: an array even for 0-d x
        e *= -2.0 * _CUBIC * _SQRT_2_OVER_PI
        e -= 2.0 * _SQRT_2_OVER_PI
        e *= x
        with np.errstate(over="ignore"):  # e^-2u = inf for x << 0: s = 0, y = -0
            np.exp(e, out=e)
        e += 1.0
        s = np.reciprocal(e, out=e)
        return np.multiply(x, s, out=s)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        xx = x * x
        s = (x * (xx * (2.0 * _CUBIC * _SQRT_2_OVER_PI) + 2.0 * _SQRT_2_OVER_PI)).sigmoid()
        du2 = xx * (6.0 * _CUBIC * _SQRT_2_OVER_PI) + 2.0 * _SQRT_2_OVER_PI  # 2 du/dx
        return gy * (s + x * du2 * (s * (1.0 - s)))


def layer_norm(x: ArrayLike | Tensor, gamma: object, beta: object, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis (biased variance).

    ``gamma`` and ``beta`` have the shape ``(D,)`` of that axis.

    >>> layer_norm(Tensor([[1.0, 3.0]]), np.ones(2), np.zeros(2)).numpy().round(4)
    array([[-1.,  1.]])
    """
    return _layer_norm("layer_norm", x, gamma, beta, positive_float(eps, "layer_norm: eps"))


def _layer_norm(who: str, x: ArrayLike | Tensor, gamma: object, beta: object, eps: float) -> Tensor:
    """``layer_norm`` after its eps is checked; ``who`` names the caller in errors."""
    x, gamma, beta = _as_float(x), as_tensor(gamma), as_tensor(beta)
    if gamma.ndim != 1 or beta.shape != gamma.shape:
        raise ValueError(
            f"{who}: gamma and beta must be of one shape (D,), D the size of the normalised "
            f"last axis, got {gamma.shape} and {beta.shape}"
        )
    size = gamma.shape[0]
    if x.ndim == 0 or x.shape[-1] != size:
        raise ValueError(
            f"{who} needs inputs whose last axis has {size} features, got shape {x.shape}; "
            f"pass (..., {size})"
        )
    return LayerNormOp.apply(x, gamma, beta, eps=eps)


def gelu(x: ArrayLike | Tensor) -> Tensor:
    """The tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    >>> gelu(Tensor([-1.0, 0.0, 1.0])).numpy().round(4)
    array([-0.1588,  0.    ,  0.8412])
    """
    return GELUOp.apply(_as_float(x))


def _as_float(x: ArrayLike | Tensor) -> Tensor:
    """``x`` as a Tensor; integer or bool values as float64 (the primitives need floats)."""
    x = as_tensor(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


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
        self.dim = positive_int(dim, "LayerNorm: dim")
        self.eps = positive_float(eps, "LayerNorm: eps")
        dtype = float_dtype("LayerNorm", dtype)
        self.gamma = Parameter(np.ones(self.dim, dtype=dtype))
        self.beta = Parameter(np.zeros(self.dim, dtype=dtype))

    def forward(self, x: ArrayLike | Tensor) -> Tensor:
        return _layer_norm(f"LayerNorm({self.dim})", x, self.gamma, self.beta, self.eps)

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
        self.num_embeddings = positive_int(num_embeddings, "Embedding: num_embeddings")
        self.dim = positive_int(dim, "Embedding: dim")
        if isinstance(weight_init, str):
            raise TypeError(
                f"Embedding: weight_init is the standard deviation of W, a float such as "
                f"0.01, got {weight_init!r}; 'he' and 'xavier' are for layers with a fan-in"
            )
        std = init_std(weight_init, fan_in=1)  # a number is its own std; fan_in goes unread
        dtype = float_dtype("Embedding", dtype)
        values = generator(rng).standard_normal((self.num_embeddings, self.dim))
        self.W = Parameter((std * values).astype(dtype))

    def forward(self, ids: ArrayLike | Tensor) -> Tensor:
        return self.W[ops.effect(self._check_ids, ids)]  # why: a compiled step checks too

    def _check_ids(self, ids: ArrayLike | Tensor) -> np.ndarray:
        values = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        name = f"Embedding({self.num_embeddings}, {self.dim})"
        if values.dtype.kind not in "iu":
            raise TypeError(
                f"{name}: ids must be integers, got dtype {values.dtype} of shape "
                f"{values.shape}{whole_numbers_hint(values, 'ids')}"
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


# --- recurrent layers --------------------------------------------------------------------------
# Written step by step with Tensor ops, a recurrent layer records about fifteen ops per time
# step, and slicing step t out of the (N, T, ...) input makes a gradient of the whole input
# per step (T^2 work). So the recurrence over all steps is one primitive, for speed: its
# forward is a NumPy loop; its backward (backpropagation through time) is written with Tensor
# ops, and recomputes what it needs from the inputs and the recorded output, so it is
# recorded under ``create_graph`` and higher derivatives hold. The input projection
# x Wx + b of every step is one Affine.
def _reciprocal_one_plus_exp(x: np.ndarray) -> None:
    """x <- 1 / (1 + e^x), in place: sigmoid(-x)."""
    np.exp(x, out=x)
    x += 1.0
    np.reciprocal(x, out=x)


class RNNScan(Op):
    """hs = every h_t of h_t = tanh(a_t + h_{t-1} Wh), h_0 = h0;  backward through time.

    Inputs ``a (N, T, H)`` (x_t Wx + b of every step), ``Wh (H, H)``, ``h0 (N, H)``;
    output ``(N, T, H)``. With dA_t = (dh_t + dA_{t+1} Wh^T)(1 - h_t^2): da_t = dA_t,
    dWh = sum_t h_{t-1}^T dA_t, dh0 = dA_1 Wh^T.
    """

    keeps_output = True

    def forward(self, a: np.ndarray, wh: np.ndarray, h0: np.ndarray) -> np.ndarray:
        n, steps, _ = a.shape
        hs = np.empty((steps, n, wh.shape[0]), dtype=np.result_type(a, wh, h0))
        h = h0
        for t in range(steps):
            # why: np.tanh, not 2 sigmoid(2x) - 1, which cancels in float32 for small x
            h = np.tanh(np.add(a[:, t], h @ wh, out=hs[t]), out=hs[t])
        return hs.transpose(1, 0, 2)  # why: time-major inside, so each step is contiguous

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        a, wh, h0 = self.inputs
        hs = self.output()
        n, steps, hidden = hs.shape
        before = F.concatenate([h0.reshape(n, 1, hidden), hs[:, :-1]], axis=1)  # h_{t-1}
        slope = 1.0 - hs * hs  # tanh' at every step
        wh_t = wh.T
        carry, das = None, [None] * steps
        for t in range(steps - 1, -1, -1):
            d = gy[:, t] if carry is None else gy[:, t] + carry
            das[t] = d = d * slope[:, t]
            carry = d @ wh_t
        da = stack(das, axis=1)
        dwh = before.reshape(-1, hidden).T @ da.reshape(-1, hidden)
        return da, dwh, carry


class LSTMScan(Op):
    """The LSTM recurrence over all steps (gate order f, g, i, o);  backward through time.

    Inputs ``a (N, T, 4H)`` (x_t Wx + b of every step), ``Wh (H, 4H)``, ``h0``, ``c0 (N, H)``.
    Output ``(N, T, 7H)``: at every step the gates f, g, i, o, then h_t, c_t and tanh(c_t)
    (the layer returns the h and c blocks; the rest is what backward needs, kept in the
    recorded output so that backward is a function of it). With dh_t and dc_t the gradients
    reaching step t: dc = dc_t + dh_t o (1 - tanh^2 c_t), then df = dc c_{t-1}, dg = dc i,
    di = dc g, do = dh_t tanh c_t through the gates' derivatives to dA_t; the step before gets
    dh = dA_t Wh^T and dc f. dWh = sum_t h_{t-1}^T dA_t, da_t = dA_t.
    """

    keeps_output = True

    def forward(self, a: np.ndarray, wh: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> np.ndarray:
        n, steps, width = a.shape
        H = width // 4
        dtype = np.result_type(a, wh, h0, c0)
        # why: sigmoid(x) = 1 / (1 + e^-x) through one exp; scaling the f, i, o blocks of A by
        # -1 is exact, so it is folded into a and Wh once, before the loop. g and tanh(c_t)
        # use np.tanh: 2 sigmoid(2x) - 1 cancels in float32 for small x
        scale = np.full(width, -1.0, dtype=dtype)
        scale[H : 2 * H] = 1.0
        wh_scaled = wh * scale
        # why: time-major, so every step works on one contiguous (N, 7H) block
        y = np.empty((steps, n, 7 * H), dtype=dtype)
        np.multiply(a.transpose(1, 0, 2), scale, out=y[..., :width])
        h, c = h0, c0
        with np.errstate(over="ignore"):  # e^x = inf gives the limit 0 exactly
            for t in range(steps):
                A = y[t, :, :width]
                A += h @ wh_scaled
                f, g, i, o, h, c_new, tc = (y[t, :, k * H : (k + 1) * H] for k in range(7))
                _reciprocal_one_plus_exp(f)
                _reciprocal_one_plus_exp(A[:, 2 * H :])  # i and o
                np.tanh(g, out=g)
                np.multiply(f, c, out=c_new)
                c_new += g * i
                np.tanh(c_new, out=tc)
                np.multiply(o, tc, out=h)
                c = c_new
        return y.transpose(1, 0, 2)

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        a, wh, h0, c0 = self.inputs
        y = self.output()
        n, steps, width = y.shape
        H = width // 7
        f, g, i, o, hs, cs, tc = (y[..., k * H : (k + 1) * H] for k in range(7))
        h_before = F.concatenate([h0.reshape(n, 1, H), hs[:, :-1]], axis=1)  # h_{t-1}
        c_before = F.concatenate([c0.reshape(n, 1, H), cs[:, :-1]], axis=1)
        # why: every factor that does not depend on the incoming gradient, for all steps at
        # once (a few large ops instead of many small ones inside the loop)
        slope = F.concatenate([f * (1.0 - f), 1.0 - g * g, i * (1.0 - i), o * (1.0 - o)], axis=-1)
        factor = F.concatenate([c_before, i, g, tc], axis=-1) * slope
        direct = gy[..., : 4 * H] * slope  # gradients that reach the gates' own outputs
        tc_slope = 1.0 - tc * tc
        through_h = o * tc_slope  # dc_t gets dh_t times this
        ghs = gy[..., 4 * H : 5 * H]
        gcs = gy[..., 5 * H : 6 * H] + gy[..., 6 * H :] * tc_slope
        wh_t = wh.T
        dh = dc = None
        dAs = [None] * steps
        for t in range(steps - 1, -1, -1):
            dh = ghs[:, t] if dh is None else ghs[:, t] + dh
            dc_t = gcs[:, t] + dh * through_h[:, t]
            dc = dc_t if dc is None else dc_t + dc * f[:, t + 1]
            dA = F.concatenate([dc, dc, dc, dh], axis=1) * factor[:, t] + direct[:, t]
            dAs[t] = dA
            dh = dA @ wh_t
        da = stack(dAs, axis=1)
        dwh = h_before.reshape(-1, H).T @ da.reshape(-1, 4 * H)
        return da, dwh, dh, dc * f[:, 0]


class _Recurrent(Layer):
    """What RNN and LSTM share: ``Wx``, ``Wh``, ``b`` with ``blocks`` gate blocks, checks."""

    blocks = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        dtype: DTypeLike = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        kind = type(self).__name__
        self.input_size = positive_int(input_size, f"{kind}: input_size")
        self.hidden_size = positive_int(hidden_size, f"{kind}: hidden_size")
        dtype = float_dtype(kind, dtype)
        source = generator(rng)
        width = self.blocks * self.hidden_size
        # why: the sequel's Xavier initialisation, 1 / sqrt(fan-in), for tanh and sigmoid
        wx = source.standard_normal((self.input_size, width)) / np.sqrt(self.input_size)
        wh = source.standard_normal((self.hidden_size, width)) / np.sqrt(self.hidden_size)
        self.Wx = Parameter(wx.astype(dtype))
        self.Wh = Parameter(wh.astype(dtype))
        self.b = Parameter(np.zeros(width, dtype=dtype))

    def _name(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"

    def _projection(self, x: ArrayLike | Tensor) -> Tensor:
        """x_t Wx + b for every step at once, (N, T, blocks * H), as one fused Affine."""
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[2] != self.input_size or x.shape[1] == 0:
            raise ValueError(
                f"{self._name()} needs sequences (N, T, {self.input_size}) with T >= 1, got "
                f"shape {x.shape}; batch-first, one row of {self.input_size} features per step"
            )
        n, steps, _ = x.shape
        rows = F.affine(x.reshape(n * steps, self.input_size), self.Wx, self.b)
        return rows.reshape(n, steps, self.blocks * self.hidden_size)

    def _state(
        self, value: ArrayLike | Tensor | None, n: int, dtype: np.dtype, what: str
    ) -> Tensor:
        if value is None:
            return Tensor(np.zeros((n, self.hidden_size), dtype=dtype))
        value = as_tensor(value)
        if value.shape != (n, self.hidden_size):
            raise ValueError(
                f"{self._name()}: the initial state {what} has shape {value.shape}, expected "
                f"({n}, {self.hidden_size}) for a batch of {n}; pass one row of "
                f"{self.hidden_size} per sequence"
            )
        return value if value.dtype == dtype else value.astype(dtype)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, dtype={self.Wx.dtype}"


class RNN(_Recurrent):
    """The simple recurrent layer: h_t = tanh(x_t Wx + h_{t-1} Wh + b), batch-first.

    Parameters ``Wx (input_size, H)``, ``Wh (H, H)``, ``b (H,)`` (the sequel's names; the
    weights start at standard normal / sqrt(fan-in), ``b`` at zero). ``forward(x, state=None,
    return_state=False)`` takes ``x (N, T, input_size)`` and an initial state ``h0 (N, H)``
    (zeros when None; gradients flow into it), and returns every hidden state ``hs (N, T, H)``,
    or with ``return_state=True`` the pair ``(hs, h_T)``.

    >>> rnn = RNN(3, 4, rng=0)
    >>> hs, h = rnn(np.ones((2, 5, 3)), return_state=True)
    >>> hs.shape, h.shape
    ((2, 5, 4), (2, 4))
    >>> np.array_equal(hs.numpy()[:, -1], h.numpy())
    True
    """

    def forward(
        self,
        x: ArrayLike | Tensor,
        state: ArrayLike | Tensor | None = None,
        return_state: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        a = self._projection(x)
        h0 = self._state(state, a.shape[0], a.dtype, "h0")
        hs = RNNScan.apply(a, self.Wh, h0)
        return (hs, hs[:, -1]) if return_state else hs


class LSTM(_Recurrent):
    """Long short-term memory, batch-first, with the sequel's parameters and gate order.

    ``Wx (input_size, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` hold the four gate blocks side by
    side in the order f, g, i, o: with ``A = x_t Wx + h_{t-1} Wh + b``, f, i, o are sigmoids
    and g a tanh of their blocks, ``c_t = f c_{t-1} + g i`` and ``h_t = o tanh(c_t)``.
    ``forward(x, state=None, return_state=False)``: ``x (N, T, input_size)``, ``state`` the
    pair ``(h0, c0)``, each ``(N, H)`` (zeros when None; gradients flow into both). Returns
    every hidden state ``hs (N, T, H)``, or with ``return_state=True`` the pair
    ``(hs, (h_T, c_T))``: the state to start a decoder, or the next chunk of a long text
    (detach it there to cut backpropagation through time).

    (PyTorch's ``nn.LSTM`` orders the blocks i, f, g, o and stores the weights transposed.)

    >>> lstm = LSTM(3, 4, rng=0)
    >>> hs, (h, c) = lstm(np.ones((2, 5, 3)), return_state=True)
    >>> hs.shape, h.shape, c.shape
    ((2, 5, 4), (2, 4), (2, 4))
    >>> lstm.Wx.shape, lstm.Wh.shape, lstm.b.shape
    ((3, 16), (4, 16), (16,))
    """

    blocks = 4

    def forward(
        self,
        x: ArrayLike | Tensor,
        state: tuple[ArrayLike | Tensor, ArrayLike | Tensor] | None = None,
        return_state: bool = False,
    ) -> Tensor | tuple[Tensor, tuple[Tensor, Tensor]]:
        a = self._projection(x)
        if state is not None and not (isinstance(state, tuple | list) and len(state) == 2):
            raise TypeError(
                f"{self._name()}: state must be the pair (h0, c0), each (N, "
                f"{self.hidden_size}), got {type(state).__name__}"
            )
        h0, c0 = (None, None) if state is None else state
        n = a.shape[0]
        h0 = self._state(h0, n, a.dtype, "h0")
        c0 = self._state(c0, n, a.dtype, "c0")
        y = LSTMScan.apply(a, self.Wh, h0, c0)  # per step: f, g, i, o, h, c, tanh(c)
        H = self.hidden_size
        hs = y[..., 4 * H : 5 * H]
        return (hs, (hs[:, -1], y[:, -1, 5 * H : 6 * H])) if return_state else hs


# --- training long sequences -------------------------------------------------------------------
def clip_grad_norm(
    parameters: Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Layer, max_norm: float
) -> float:
    """Scale every gradient by one factor so that their joint L2 norm is at most ``max_norm``.

    ``parameters`` is what the optimizers take: a Layer, its ``parameters()`` or its
    ``named_parameters()``. The norm is ``sqrt(sum of every squared gradient value)`` over the
    parameters that have a gradient (the others are skipped); when it exceeds ``max_norm``
    each ``.grad`` is multiplied, in place, by ``max_norm / (norm + 1e-6)`` (PyTorch's
    factor), so the direction of the step is kept. A recurrent network's gradients can
    explode over many steps; clipping keeps one bad batch from throwing the weights away.
    Returns the norm before clipping; a NaN or infinite norm is returned and nothing is
    scaled (the optimizers skip such a step).

    >>> p = Parameter(np.zeros(2))
    >>> p.grad = np.array([3.0, 4.0])
    >>> clip_grad_norm([p], 1.0)
    5.0
    >>> p.grad.round(6)
    array([0.6, 0.8])
    """
    params, _ = parameter_list(parameters, "clip_grad_norm")
    number = int | float | np.integer | np.floating
    if isinstance(max_norm, bool) or not isinstance(max_norm, number) or not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be a number > 0, got {max_norm!r}")
    return ops.effect(_clip_grads, params, float(max_norm))  # why: so mg.compile repeats it


def _clip_grads(params: list[Tensor], max_norm: float) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    norm = float(np.sqrt(sum(np.vdot(g, g).real for g in grads))) if grads else 0.0
    if np.isfinite(norm) and norm > max_norm:
        factor = max_norm / (norm + 1e-6)
        for g in grads:
            g *= factor  # why: in place, so whatever holds the gradient sees the clipped one
    return norm
