"""The op table: one Case per public op, method and function of the Tensor API.

Each Case draws its inputs (arrays in the op's smooth domain, plus settings such as
an axis) and knows the NumPy reference. test_ops.py checks every property on every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.functional as F
from minigrad.nn import attention, sequence
from minigrad.testing import arrays, axes, broadcastable_shapes, shapes

Inputs = Any  # a strategy of (tuple of arrays, dict of settings)


@dataclass
class Case:
    name: str
    fn: Callable[..., Any]  # on Tensors
    ref: Callable[..., Any]  # on arrays
    inputs: Inputs = None
    arity: int = 1
    low: float = -3.0
    high: float = 3.0
    avoid: tuple[float, ...] = ()
    spaced: float | None = None
    second_order: bool = True
    extra: dict = field(default_factory=dict)

    def draw(self) -> Inputs:
        """A strategy of (arrays, settings) for this case."""
        if self.inputs is not None:
            return self.inputs
        return _elementwise(self.arity, self.low, self.high, self.avoid, self.spaced)


def _elementwise(
    arity: int, low: float = -3.0, high: float = 3.0, avoid: tuple = (), spaced: float | None = None
) -> Inputs:
    """``arity`` arrays of mutually broadcastable shapes."""
    element = dict(min_value=low, max_value=high, avoid=avoid, spaced=spaced)
    return (
        broadcastable_shapes(arity)
        .flatmap(lambda ss: st.tuples(*[arrays(s, **element) for s in ss]))
        .map(lambda xs: (xs, {}))
    )


def _never_tied() -> Inputs:
    """Two broadcastable arrays, on interleaved grids, so no pair of values is tied."""
    return (
        broadcastable_shapes(2)
        .flatmap(lambda ss: st.tuples(arrays(ss[0], spaced=1 / 8), arrays(ss[1], spaced=1 / 8)))
        .map(lambda ab: ((ab[0], ab[1] + 1 / 16), {}))
    )


def _reflected(inputs: Inputs) -> Inputs:
    """Move the first array into the settings: it becomes a NumPy constant on the left."""
    return inputs.map(lambda d: (d[0][1:], {**d[1], "left": d[0][0]}))


def _with_axes(low: float = -3.0, high: float = 3.0, spaced: float | None = None) -> Inputs:
    """One array and a valid (axis, keepdims)."""

    def build(shape):
        return st.tuples(
            arrays(shape, min_value=low, max_value=high, spaced=spaced).map(lambda x: (x,)),
            st.fixed_dictionaries({"axis": axes(len(shape)), "keepdims": st.booleans()}),
        )

    return shapes().flatmap(build)


def _matmul_inputs() -> Inputs:
    @st.composite
    def build(draw):
        n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
        kind = draw(st.sampled_from(["2d", "vec-mat", "mat-vec", "vec-vec", "batched"]))
        if kind == "2d":
            a, b = (n, k), (k, m)
        elif kind == "vec-mat":
            a, b = (k,), draw(st.sampled_from([(k, m), (2, k, m)]))
        elif kind == "mat-vec":
            a, b = draw(st.sampled_from([(n, k), (2, n, k)])), (k,)
        elif kind == "vec-vec":
            a, b = (k,), (k,)
        else:
            batch_a, batch_b = draw(broadcastable_shapes(2, min_dims=1, max_dims=2, max_side=3))
            a, b = batch_a + (n, k), batch_b + (k, m)
        return (
            draw(arrays(a, min_value=-3, max_value=3)),
            draw(arrays(b, min_value=-3, max_value=3)),
        ), {}

    return build()


def _affine_inputs() -> Inputs:
    @st.composite
    def build(draw):
        n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
        x, w, b = (draw(arrays(s, min_value=-3, max_value=3)) for s in ((n, k), (k, m), (m,)))
        return (x, w, b), {}

    return build()


def _affine_relu_inputs() -> Inputs:
    """Affine inputs whose pre-activations stay at least 0.1 away from ReLU's kink."""
    return _affine_inputs().filter(
        lambda args: np.abs(args[0][0] @ args[0][1] + args[0][2]).min() > 0.1
    )


def _reshape_inputs() -> Inputs:
    @st.composite
    def build(draw):
        x = draw(arrays(min_value=-3, max_value=3))
        flat = x.size
        divisors = [d for d in range(1, flat + 1) if flat % d == 0]
        d = draw(st.sampled_from(divisors))
        shape = draw(st.sampled_from([(d, flat // d), (flat,), (-1, d), (1, flat, 1)]))
        return (x,), {"shape": shape}

    return build()


def _transpose_inputs() -> Inputs:
    @st.composite
    def build(draw):
        x = draw(arrays(min_value=-3, max_value=3))
        perm = draw(st.permutations(range(x.ndim))) if x.ndim else []
        # negative axes too: transpose must invert -1 as it inverts ndim - 1
        perm = [a - x.ndim if draw(st.booleans()) else a for a in perm]
        return (x,), {"axes": tuple(perm) or None}

    return build()


def _getitem_inputs() -> Inputs:
    @st.composite
    def build(draw):
        x = draw(arrays(shapes(min_dims=1), min_value=-3, max_value=3))
        kind = draw(st.sampled_from(["basic", "ints", "mask", "int"]))
        if kind == "basic":
            index = draw(hnp.basic_indices(x.shape, allow_newaxis=True))
        elif kind == "ints":  # repeated integer indices accumulate their gradients
            index = np.array(
                draw(st.lists(st.integers(-x.shape[0], x.shape[0] - 1), min_size=1, max_size=6))
            )
        elif kind == "mask":
            index = draw(hnp.arrays(bool, x.shape))
        else:
            index = draw(st.integers(-x.shape[0], x.shape[0] - 1))
        return (x,), {"index": index}

    return build()


def _concat_inputs(new_axis: bool) -> Inputs:
    @st.composite
    def build(draw):
        base = draw(shapes(min_dims=0 if new_axis else 1))
        count = draw(st.integers(1, 3))
        ndim = len(base) + (1 if new_axis else 0)
        axis = draw(st.integers(-ndim, ndim - 1))
        xs = []
        for _ in range(count):
            shape = list(base)
            if not new_axis:
                shape[axis] = draw(st.integers(1, 3))
            xs.append(draw(arrays(tuple(shape), min_value=-3, max_value=3)))
        return tuple(xs), {"axis": axis}

    return build()


def _where_inputs() -> Inputs:
    @st.composite
    def build(draw):
        sa, sb, sc = draw(broadcastable_shapes(3))
        return (
            (
                draw(arrays(sa, min_value=-3, max_value=3)),
                draw(arrays(sb, min_value=-3, max_value=3)),
            ),
            {"cond": draw(hnp.arrays(bool, sc))},
        )

    return build()


def _clip_inputs() -> Inputs:
    edges = [-1.0, 1.0]
    return arrays(min_value=-3, max_value=3, avoid=edges, margin=1e-2).map(
        lambda x: ((x,), {"lo": -1.0, "hi": 1.0})
    )


def _cross_entropy_inputs() -> Inputs:
    @st.composite
    def build(draw):
        n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
        x = draw(arrays((n, c), min_value=-5, max_value=5))
        if draw(st.booleans()):
            t = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
        else:
            t = draw(arrays((n, c), min_value=0.0, max_value=1.0))
        return (x, t), {}

    return build()


def _np_cross_entropy(x, t):
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    if t.ndim == 1:
        return -logp[np.arange(len(t)), t].mean()
    return -(t * logp).sum() / x.shape[0]


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_broadcast_inputs() -> Inputs:
    @st.composite
    def build(draw):
        x = draw(arrays(min_value=-3, max_value=3))
        lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
        target = tuple(lead) + tuple(n if n != 1 else draw(st.integers(1, 3)) for n in x.shape)
        return (x,), {"shape": target}

    return build()


CASES = [
    # arithmetic (operators), with broadcasting
    Case("add", lambda a, b: a + b, np.add, arity=2),
    Case(
        "radd",
        lambda b, left: left + b,
        lambda b, left: left + b,
        inputs=_reflected(_elementwise(2)),
    ),
    Case("sub", lambda a, b: a - b, np.subtract, arity=2),
    Case(
        "rsub",
        lambda b, left: left - b,
        lambda b, left: left - b,
        inputs=_reflected(_elementwise(2)),
    ),
    Case("mul", lambda a, b: a * b, np.multiply, arity=2),
    Case(
        "rmul",
        lambda b, left: left * b,
        lambda b, left: left * b,
        inputs=_reflected(_elementwise(2)),
    ),
    Case("truediv", lambda a, b: a / b, np.divide, arity=2, low=0.5, high=3.0),
    Case(
        "rtruediv",
        lambda b, left: left / b,
        lambda b, left: left / b,
        inputs=_reflected(_elementwise(2, low=0.5, high=3.0)),
    ),
    Case("rtruediv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, low=0.5, high=3.0),
    Case("neg", lambda a: -a, np.negative),
    Case("pow", lambda a, b: a**b, np.power, arity=2, low=0.5, high=2.0),
    Case("pow_scalar", lambda a: a**3, lambda a: a**3),
    Case("rpow", lambda a: 2.0**a, lambda a: 2.0**a),
    Case("matmul", lambda a, b: a @ b, np.matmul, inputs=_matmul_inputs()),
    Case(
        "rmatmul",
        lambda b, left: left @ b,
        lambda b, left: left @ b,
        inputs=_reflected(_matmul_inputs()),
    ),
    Case("affine", F.affine, lambda x, w, b: x @ w + b, inputs=_affine_inputs()),
    Case(
        "affine_relu",
        lambda x, w, b: F.affine(x, w, b, relu=True),
        lambda x, w, b: np.maximum(x @ w + b, 0),
        inputs=_affine_relu_inputs(),
    ),
    Case("matmul_function", lambda a, b: mg.matmul(a, b), np.matmul, inputs=_matmul_inputs()),
    # reductions
    Case("sum", lambda x, **k: x.sum(**k), lambda x, **k: np.sum(x, **k), inputs=_with_axes()),
    Case("mean", lambda x, **k: x.mean(**k), lambda x, **k: np.mean(x, **k), inputs=_with_axes()),
    Case(
        "max",
        lambda x, **k: x.max(**k),
        lambda x, **k: np.max(x, **k),
        inputs=_with_axes(spaced=1 / 16),
    ),
    Case(
        "min",
        lambda x, **k: x.min(**k),
        lambda x, **k: np.min(x, **k),
        inputs=_with_axes(spaced=1 / 16),
    ),
    # elementwise
    Case("exp", lambda x: x.exp(), np.exp),
    Case("log", lambda x: x.log(), np.log, low=0.1, high=5.0),
    Case("sqrt", lambda x: x.sqrt(), np.sqrt, low=0.1, high=5.0),
    Case("abs", lambda x: x.abs(), np.abs, avoid=(0.0,)),
    Case("tanh", lambda x: x.tanh(), np.tanh),
    Case("sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), low=-8, high=8),
    Case("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), avoid=(0.0,)),
    Case(
        "clip",
        lambda x, **k: x.clip(**k),
        lambda x, **k: np.clip(x, k["lo"], k["hi"]),
        inputs=_clip_inputs(),
    ),
    # float64 -> float64 here: the numerical check needs float64; float32 casts are
    # covered by test_grads_keep_shape_and_dtype, which feeds float32 inputs
    Case("astype", lambda x: x.astype(np.float64) * x, lambda x: x.astype(np.float64) * x),
    # shapes and indexing
    Case(
        "reshape",
        lambda x, **k: x.reshape(k["shape"]),
        lambda x, **k: x.reshape(k["shape"]),
        inputs=_reshape_inputs(),
    ),
    Case(
        "transpose",
        lambda x, **k: x.transpose(*(k["axes"] or ())),
        lambda x, **k: np.transpose(x, k["axes"]),
        inputs=_transpose_inputs(),
    ),
    Case("T", lambda x: x.T, lambda x: x.T),
    Case(
        "broadcast_to",
        lambda x, **k: x.broadcast_to(k["shape"]),
        lambda x, **k: np.broadcast_to(x, k["shape"]),
        inputs=_np_broadcast_inputs(),
    ),
    Case(
        "getitem",
        lambda x, **k: x[k["index"]],
        lambda x, **k: x[k["index"]],
        inputs=_getitem_inputs(),
    ),
    # functions of several tensors
    Case(
        "concatenate",
        lambda *xs, **k: mg.concatenate(xs, **k),
        lambda *xs, **k: np.concatenate(xs, **k),
        inputs=_concat_inputs(False),
    ),
    Case(
        "stack",
        lambda *xs, **k: mg.stack(xs, **k),
        lambda *xs, **k: np.stack(xs, **k),
        inputs=_concat_inputs(True),
    ),
    Case(
        "where",
        lambda a, b, **k: mg.where(k["cond"], a, b),
        lambda a, b, **k: np.where(k["cond"], a, b),
        inputs=_where_inputs(),
    ),
    Case("maximum", mg.maximum, np.maximum, inputs=_never_tied()),
    Case("minimum", mg.minimum, np.minimum, inputs=_never_tied()),
    # compositions and the fused loss
    Case("softmax", lambda x: F.softmax(x.reshape(1, -1)), lambda x: _np_softmax(x.reshape(1, -1))),
    Case(
        "log_softmax",
        lambda x: F.log_softmax(x.reshape(1, -1)),
        lambda x: np.log(_np_softmax(x.reshape(1, -1))),
    ),
    Case(
        "softmax_cross_entropy",
        F.softmax_cross_entropy,
        _np_cross_entropy,
        inputs=_cross_entropy_inputs(),
    ),
    Case("mse", F.mse, lambda x, t: np.mean((x - t) ** 2), arity=2),
]

# Public Tensor members that are not ops: they need no row in the table.
NOT_OPS = {
    "backward",
    "data",
    "detach",
    "dtype",
    "grad",
    "item",
    "ndim",
    "numpy",
    "requires_grad",
    "shape",
    "size",
    "creator",
    "name",
}


# --- convolution and pooling: rows, input strategies and slow reference loops ----------------
# Shapes stay small (N, C, FN <= 2; H, W <= 5; kernels <= 3) so numerical differentiation,
# and of second derivatives above all, stays fast.
def _as_pairs(*values: Any) -> list[tuple[int, int]]:
    return [(v, v) if isinstance(v, int) else tuple(v) for v in values]


def _pad_image(x: np.ndarray, pad: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    (ph, pw) = pad
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)


def _positions(size: int, pad: int, kernel: int, stride: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def conv2d_reference(x, W, b=None, stride=1, pad=0):
    """Slow and obviously right: each output pixel is the sum of its window times each filter."""
    (sh, sw), (ph, pw) = _as_pairs(stride, pad)
    xp = _pad_image(x, (ph, pw))
    fn, _, kh, kw = W.shape
    oh, ow = _positions(x.shape[2], ph, kh, sh), _positions(x.shape[3], pw, kw, sw)
    y = np.zeros((x.shape[0], fn, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # (N, C, kh, kw)
            y[:, :, i, j] = np.einsum("ncij,fcij->nf", window, W)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def max_pool2d_reference(x, kernel_size, stride=None, pad=0):
    """Slow and obviously right: the largest value of each window, padding never counted."""
    (kh, kw), (ph, pw) = _as_pairs(kernel_size, pad)
    (sh, sw) = (kh, kw) if stride is None else _as_pairs(stride)[0]
    xp = _pad_image(x, (ph, pw), fill=-np.inf)
    oh, ow = _positions(x.shape[2], ph, kh, sh), _positions(x.shape[3], pw, kw, sw)
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].max(axis=(2, 3))
    return y


def _column_index(shape, kernel_size, stride, pad):
    """Every (row, column, n, c, y, x): column entry <-> padded-image pixel, one at a time."""
    n, c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = _as_pairs(kernel_size, stride, pad)
    oh, ow = _positions(h, ph, kh, sh), _positions(w, pw, kw, sw)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for ni in range(n):
                    for a in range(oh):
                        for bb in range(ow):
                            row, col = (ci * kh + i) * kw + j, (ni * oh + a) * ow + bb
                            yield row, col, ni, ci, a * sh + i, bb * sw + j


def im2col_reference(x, kernel_size, stride=1, pad=0):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = _as_pairs(kernel_size, stride, pad)
    oh, ow = _positions(h, ph, kh, sh), _positions(w, pw, kw, sw)
    xp = _pad_image(x, (ph, pw))
    cols = np.zeros((c * kh * kw, n * oh * ow))
    for row, col, ni, ci, yy, xx in _column_index(x.shape, kernel_size, stride, pad):
        cols[row, col] = xp[ni, ci, yy, xx]
    return cols


def col2im_reference(cols, shape, kernel_size, stride=1, pad=0):
    ph, pw = _as_pairs(pad)[0]
    n, c, h, w = shape
    img = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for row, col, ni, ci, yy, xx in _column_index(shape, kernel_size, stride, pad):
        img[ni, ci, yy, xx] += cols[row, col]
    return img[:, :, ph : ph + h, pw : pw + w]


def _int_or_pair(draw, pair: tuple[int, int]) -> int | tuple[int, int]:
    """Settings come as ints or as (height, width) pairs."""
    return pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair


def _draw_windows(draw, pooling: bool = False):
    """kernel, stride, pad and an image size (h, w) that fits the kernel once padded."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = tuple(draw(st.integers(0, k // 2 if pooling else 1)) for k in kernel)
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(draw(st.integers(max(1, k - 2 * p), 5)) for k, p in zip(kernel, pad, strict=True))
    return kernel, stride, pad, size


def _conv_inputs(bias: bool) -> Inputs:
    @st.composite
    def build(draw):
        n, c, fn = (draw(st.integers(1, 2)) for _ in range(3))
        kernel, stride, pad, size = _draw_windows(draw)
        x = draw(arrays((n, c) + size, min_value=-3, max_value=3))
        W = draw(arrays((fn, c) + kernel, min_value=-3, max_value=3))
        xs = (x, W, draw(arrays((fn,), min_value=-3, max_value=3))) if bias else (x, W)
        return xs, {"stride": _int_or_pair(draw, stride), "pad": _int_or_pair(draw, pad)}

    return build()


def _pool_inputs() -> Inputs:
    @st.composite
    def build(draw):
        n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        kernel, stride, pad, size = _draw_windows(draw, pooling=True)
        # why: distinct values on a grid, so no window holds a tie (max has a kink there)
        x = draw(arrays((n, c) + size, min_value=-3, max_value=3, spaced=1 / 32))
        settings = {
            "kernel_size": _int_or_pair(draw, kernel),
            "stride": draw(st.sampled_from([None, _int_or_pair(draw, stride)])),
            "pad": _int_or_pair(draw, pad),
        }
        return (x,), settings

    return build()


def _im2col_inputs(adjoint: bool) -> Inputs:
    @st.composite
    def build(draw):
        n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        kernel, stride, pad, size = _draw_windows(draw)
        settings = {
            "kernel_size": _int_or_pair(draw, kernel),
            "stride": _int_or_pair(draw, stride),
            "pad": _int_or_pair(draw, pad),
        }
        if not adjoint:
            return (draw(arrays((n, c) + size, min_value=-3, max_value=3)),), settings
        oh = _positions(size[0], pad[0], kernel[0], stride[0])
        ow = _positions(size[1], pad[1], kernel[1], stride[1])
        cols = draw(arrays((c * kernel[0] * kernel[1], n * oh * ow), min_value=-3, max_value=3))
        return (cols,), {**settings, "shape": (n, c) + size}

    return build()


CASES += [
    Case(
        "conv2d",
        lambda x, W, b, **k: F.conv2d(x, W, b, **k),
        conv2d_reference,
        inputs=_conv_inputs(bias=True),
    ),
    Case(
        "conv2d_without_bias",
        lambda x, W, **k: F.conv2d(x, W, **k),
        conv2d_reference,
        inputs=_conv_inputs(bias=False),
    ),
    Case(
        "max_pool2d",
        lambda x, **k: F.max_pool2d(x, **k),
        max_pool2d_reference,
        inputs=_pool_inputs(),
    ),
    Case(
        "im2col",
        lambda x, **k: F.im2col(x, **k),
        im2col_reference,
        inputs=_im2col_inputs(adjoint=False),
    ),
    Case(
        "col2im",
        lambda cols, **k: F.col2im(cols, **k),
        col2im_reference,
        inputs=_im2col_inputs(adjoint=True),
    ),
]


# --- recurrences: the RNN and LSTM primitives over a whole sequence --------------------------
def rnn_reference(a, wh, h0):
    """Slow and obviously right: h_t = tanh(a_t + h_{t-1} Wh), one step at a time."""
    h, hs = h0, []
    for t in range(a.shape[1]):
        h = np.tanh(a[:, t] + h @ wh)
        hs.append(h)
    return np.stack(hs, axis=1)


def lstm_reference(a, wh, h0, c0):
    """Slow and obviously right: the sequel's LSTM (gate blocks f, g, i, o), one step at a
    time; per step the op's seven blocks f, g, i, o, h, c, tanh(c)."""

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    H = wh.shape[0]
    h, c, rows = h0, c0, []
    for t in range(a.shape[1]):
        A = a[:, t] + h @ wh
        f, g = sigmoid(A[:, :H]), np.tanh(A[:, H : 2 * H])
        i, o = sigmoid(A[:, 2 * H : 3 * H]), sigmoid(A[:, 3 * H :])
        c = f * c + g * i
        h = o * np.tanh(c)
        rows.append(np.concatenate([f, g, i, o, h, c, np.tanh(c)], axis=1))
    return np.stack(rows, axis=1)


def _scan_inputs(blocks: int) -> Inputs:
    @st.composite
    def build(draw):
        n, steps, hidden = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        a = draw(arrays((n, steps, blocks * hidden), min_value=-2, max_value=2))
        wh = draw(arrays((hidden, blocks * hidden), min_value=-1, max_value=1))
        states = [
            draw(arrays((n, hidden), min_value=-1, max_value=1)) for _ in range(blocks // 4 + 1)
        ]
        return (a, wh, *states), {}

    return build()


CASES += [
    Case(
        "rnn_scan",
        lambda a, wh, h0: sequence.RNNScan.apply(a, wh, h0),
        rnn_reference,
        inputs=_scan_inputs(1),
    ),
    Case(
        "lstm_scan",
        lambda a, wh, h0, c0: sequence.LSTMScan.apply(a, wh, h0, c0),
        lstm_reference,
        inputs=_scan_inputs(4),
    ),
]


# --- the transformer's primitives: LayerNorm, GELU, the attention softmax --------------------
def layer_norm_reference(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def gelu_reference(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def attention_softmax_reference(x, causal):
    if causal:
        x = np.where(np.tri(x.shape[-1], dtype=bool), x, -np.inf)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _layer_norm_inputs() -> Inputs:
    @st.composite
    def build(draw):
        lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
        d = draw(st.integers(2, 4))
        # why: features spread apart, so the variance stays away from 0 (1/sqrt is steep)
        x = draw(arrays(lead + (d,), min_value=-1, max_value=1)) + 3 * np.arange(d)
        gamma, beta = (draw(arrays((d,), min_value=-2, max_value=2)) for _ in range(2))
        return (x, gamma, beta), {}

    return build()


def _attention_softmax_inputs() -> Inputs:
    @st.composite
    def build(draw):
        n, h, t = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
        x = draw(arrays((n, h, t, t), min_value=-3, max_value=3))
        return (x,), {"causal": draw(st.booleans())}

    return build()


CASES += [
    Case(
        "layer_norm",
        lambda x, gamma, beta: sequence.layer_norm(x, gamma, beta),
        layer_norm_reference,
        inputs=_layer_norm_inputs(),
    ),
    Case("gelu", lambda x: sequence.gelu(x), gelu_reference, low=-5, high=5),
    Case(
        "attention_softmax",
        lambda x, causal: attention.AttentionSoftmax.apply(x, causal=causal),
        attention_softmax_reference,
        inputs=_attention_softmax_inputs(),
    ),
]
