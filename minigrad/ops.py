"""Every primitive op: forward on NumPy arrays, backward on Tensors, side by side.

Backward gets ``gy`` (dL/dy) as a Tensor and returns one Tensor (or None when that
input needs no gradient) per input. Because backward is written with Tensor ops,
``mg.grad(..., create_graph=True)`` records it and second derivatives come for free.
The engine sums broadcast gradients back to each input's shape and dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad.tensor as _engine
from minigrad.checks import check_broadcast, cross_entropy_targets
from minigrad.tensor import Op, Tensor, is_grad_enabled, sum_to


# --- arithmetic -----------------------------------------------------------------------------
class Binary(Op):
    """Base of the elementwise ops of two broadcast operands: ``forward`` is ``compute``
    (a NumPy ufunc), and operands that do not broadcast get one error naming the op."""

    compute: np.ufunc

    def forward(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        try:
            return self.compute(x, w)
        except ValueError:
            check_broadcast(type(self).__name__.lower(), x, w)
            raise


class Add(Binary):
    """y = x + w;  dy/dx = 1, dy/dw = 1."""

    compute = np.add

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor]:
        return gy, gy


class Sub(Binary):
    """y = x - w;  dy/dx = 1, dy/dw = -1."""

    compute = np.subtract

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor | None]:
        return gy, (-gy if self.inputs[1].requires_grad else None)


class Mul(Binary):
    """y = x * w;  dy/dx = w, dy/dw = x."""

    compute = np.multiply

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, w = self.inputs
        return (gy * w if x.requires_grad else None), (gy * x if w.requires_grad else None)


class Div(Binary):
    """y = x / w;  dy/dx = 1/w, dy/dw = -x/w^2."""

    compute = np.divide

    def backward(self, gy: Tensor) -> tuple[Tensor, Tensor | None]:
        x, w = self.inputs
        gx = gy / w
        return gx, (-(gx * x) / w if w.requires_grad else None)


class Neg(Op):
    """y = -x;  dy/dx = -1."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, gy: Tensor) -> Tensor:
        return -gy


class Pow(Binary):
    """y = x ** p;  dy/dx = p x^(p-1), dy/dp = y log x."""

    compute = np.power
    keeps_output = True

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, p = self.inputs
        gx = gy * p * x ** (p - 1) if x.requires_grad else None
        return gx, (gy * self.output() * x.log() if p.requires_grad else None)


class MatMul(Op):
    """y = x @ w (``np.matmul``);  dx = gy @ w^T, dw = x^T @ gy (batch axes summed back)."""

    def forward(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        try:
            return x @ w
        except ValueError:
            why = _matmul_mismatch(x, w)
            raise ValueError(f"matmul: shapes {x.shape} and {w.shape} do not fit: {why}") from None

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, w = self.inputs
        if x.ndim == 2 and w.ndim == 2:  # why: the common case, without reshapes
            gx = gy @ w.T if x.requires_grad else None
            return gx, (x.T @ gy if w.requires_grad else None)
        # 1-D operands are promoted as np.matmul does: x to a row, w to a column
        xm = x.reshape(1, -1) if x.ndim == 1 else x
        wm = w.reshape(-1, 1) if w.ndim == 1 else w
        gm = gy.reshape(gy.shape[:-1] + (1,) + gy.shape[-1:]) if x.ndim == 1 else gy
        gm = gm.reshape(gm.shape + (1,)) if w.ndim == 1 else gm
        gx = gw = None
        if x.requires_grad:
            gx = gm @ _swap_last(wm)
            gx = gx.reshape(gx.shape[:-2] + gx.shape[-1:]) if x.ndim == 1 else gx
        if w.requires_grad:
            gw = _swap_last(xm) @ gm
            gw = gw.reshape(gw.shape[:-1]) if w.ndim == 1 else gw
        return gx, gw


class Affine(Op):
    """y = x @ w + b for x (N, in), w (in, out), b (out,);  dx = gy @ w^T, dw = x^T @ gy,
    db = gy summed over the rows.

    A primitive for speed: the layer every network is made of runs as one op instead of
    MatMul and Add, and its first-order backward works on arrays (no Transpose or Sum ops
    to record: the eager step of a deep, narrow network is mostly such bookkeeping).
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or w.ndim != 2 or b.shape != w.shape[1:] or x.shape[1] != w.shape[0]:
            raise ValueError(
                f"affine: x {x.shape}, w {w.shape} and b {b.shape} do not fit; they must be "
                f"(N, in), (in, out) and (out,)"
            )
        y = x @ w
        y += b  # why: in place, no second (N, out) array
        return y

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, w, b = self.inputs
        if not is_grad_enabled():  # first order: plain arrays, no Transpose or Sum ops
            g = gy.data
            return (
                Tensor(g @ w.data.T) if x.requires_grad else None,
                Tensor(x.data.T @ g) if w.requires_grad else None,
                # why: the column sums as one BLAS matrix-vector product, not a slow sum
                Tensor(np.ones(len(g), g.dtype) @ g) if b.requires_grad else None,
            )
        return (
            gy @ w.T if x.requires_grad else None,
            x.T @ gy if w.requires_grad else None,
            gy.sum(axis=0) if b.requires_grad else None,
        )


def _matmul_mismatch(x: np.ndarray, w: np.ndarray) -> str:
    """What np.matmul objected to, in words."""
    if x.ndim == 0 or w.ndim == 0:
        return "matmul needs at least one axis on each side; use * for scalars"
    inner_w = w.shape[0] if w.ndim == 1 else w.shape[-2]
    if x.shape[-1] != inner_w:
        where = "first" if w.ndim == 1 else "second-to-last"
        return (
            f"the last axis of the first ({x.shape[-1]}) must equal the {where} axis of the "
            f"second ({inner_w})"
        )
    return f"their batch axes {x.shape[:-2]} and {w.shape[:-2]} cannot be broadcast together"


def _swap_last(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return t.transpose(axes)


# --- reductions and broadcasting ------------------------------------------------------------
def _keepdims_shape(shape: tuple[int, ...], axis: tuple[int, ...] | None) -> tuple[int, ...]:
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in axis}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Op):
    """y = sum of x over ``axis``;  dy/dx = 1 (gy broadcast back)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        if not self.keepdims:
            gy = gy.reshape(_keepdims_shape(x.shape, self.axis))
        return gy.broadcast_to(x.shape)


class BroadcastTo(Op):
    """y = x broadcast to ``shape``;  dx = gy summed back to x's shape."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(x, self.shape)

    def backward(self, gy: Tensor) -> Tensor:
        return sum_to(gy, self.inputs[0].shape)


class Max(Op):
    """y = max of x over ``axis``;  dy/dx = 1 at the maximum (shared equally by ties)."""

    keeps_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.size == 0:
            raise ValueError(f"max of an empty tensor of shape {x.shape} has no value")
        return x.max(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        keep = _keepdims_shape(x.shape, self.axis)
        mask = x.data == self.output().data.reshape(keep)
        share = (mask / mask.sum(axis=self.axis, keepdims=True)).astype(x.dtype)
        return gy.reshape(keep) * share


# --- elementwise functions ------------------------------------------------------------------
class Exp(Op):
    """y = e^x;  dy/dx = y."""

    keeps_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * self.output()


class Log(Op):
    """y = ln x;  dy/dx = 1/x."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.log(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / self.inputs[0]


class Log1p(Op):
    """y = ln(1 + x);  dy/dx = 1 / (1 + x).

    A primitive for accuracy: for |x| << 1, ``1 + x`` rounds x away and log(1 + x) loses it.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.log1p(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.inputs[0] + 1)


class Expm1(Op):
    """y = e^x - 1;  dy/dx = e^x = y + 1.

    A primitive for accuracy: for |x| << 1, exp(x) - 1 cancels to a few correct digits.
    """

    keeps_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.expm1(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * (self.output() + 1)


class Sin(Op):
    """y = sin x;  dy/dx = cos x."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sin(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * Cos.apply(self.inputs[0])


class Cos(Op):
    """y = cos x;  dy/dx = -sin x."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.cos(x)

    def backward(self, gy: Tensor) -> Tensor:
        return -(gy * Sin.apply(self.inputs[0]))


class Sqrt(Op):
    """y = sqrt(x);  dy/dx = 1 / (2y)."""

    keeps_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy / (self.output() * 2)


class Abs(Op):
    """y = |x|;  dy/dx = sign(x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    def backward(self, gy: Tensor) -> Tensor:
        return gy * np.sign(self.inputs[0].data)


class Tanh(Op):
    """y = tanh x;  dy/dx = 1 - y^2."""

    keeps_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return gy * (1 - y * y)


class Sigmoid(Op):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y)."""

    keeps_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        # why: the tanh form never overflows, and one op is faster than the four it stands for
        return np.tanh(x * 0.5) * 0.5 + 0.5

    def backward(self, gy: Tensor) -> Tensor:
        y = self.output()
        return gy * y * (1 - y)


class ReLU(Op):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def backward(self, gy: Tensor) -> Tensor:
        mask = self.inputs[0].data > 0  # a constant: relu's derivative is 0 or 1
        if not is_grad_enabled():  # first order: one NumPy multiply, nothing to record
            return Tensor(gy.data * mask)
        return gy * mask


class Clip(Op):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.lo, self.hi)

    def backward(self, gy: Tensor) -> Tensor:
        x = self.inputs[0].data
        inside = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return gy * inside


class Cast(Op):
    """y = x converted to ``dtype``;  dx = gy converted back."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.astype(self.dtype)

    def backward(self, gy: Tensor) -> Tensor:
        return gy.astype(self.inputs[0].dtype)


# --- shapes and indexing --------------------------------------------------------------------
class Reshape(Op):
    """y = x in a new shape;  dx = gy in x's shape."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} values) "
                f"into shape {tuple(self.shape)}; the sizes must match (use -1 for one axis)"
            ) from None

    def backward(self, gy: Tensor) -> Tensor:
        return gy.reshape(self.inputs[0].shape)


class Transpose(Op):
    """y = x with permuted axes;  dx = gy with the inverse permutation."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(self.axes)

    def backward(self, gy: Tensor) -> Tensor:
        if self.axes is None:
            return gy.transpose()
        return gy.transpose(tuple(np.argsort(self.axes)))


def _is_basic(index: object) -> bool:
    """True for indices of ints, slices, None and Ellipsis: they never repeat an element."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, int | slice | np.integer) or i is None or i is Ellipsis for i in items)


class GetItem(Op):
    """y = x[index];  dx = gy added into zeros at ``index`` (repeated indices accumulate)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x[self.index]

    def backward(self, gy: Tensor) -> Tensor:
        return IndexAdd.apply(gy, index=self.index, shape=self.inputs[0].shape)


class IndexAdd(Op):
    """y = zeros(shape) with gy added at ``index``;  dgy = gy[index]. GetItem's backward."""

    def forward(self, g: np.ndarray) -> np.ndarray:
        y = np.zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.index):
            y[self.index] = g
        else:
            np.add.at(y, self.index, g)
        return y

    def backward(self, gy: Tensor) -> Tensor:
        return gy[self.index]


class Concatenate(Op):
    """y = the inputs joined along ``axis``;  each dx = its slice of gy."""

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        try:
            return np.concatenate(xs, axis=self.axis)
        except ValueError:
            raise ValueError(
                f"concatenate along axis {self.axis}: shapes {[x.shape for x in xs]} must "
                f"agree on every other axis"
            ) from None

    def backward(self, gy: Tensor) -> tuple[Tensor | None, ...]:
        axis = self.axis % gy.ndim
        grads, start = [], 0
        for x in self.inputs:
            stop = start + x.shape[axis]
            index = (slice(None),) * axis + (slice(start, stop),)
            grads.append(gy[index] if x.requires_grad else None)
            start = stop
        return tuple(grads)


class Where(Op):
    """y = where(cond, a, b);  da = gy where cond, db = gy elsewhere."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            return np.where(self.cond, a, b)
        except ValueError:
            raise ValueError(
                f"where: condition {np.shape(self.cond)}, a {a.shape} and b {b.shape} "
                f"cannot be broadcast together"
            ) from None

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        a, b = self.inputs
        ga = Where.apply(gy, 0, cond=self.cond) if a.requires_grad else None
        gb = Where.apply(0, gy, cond=self.cond) if b.requires_grad else None
        return ga, gb


# --- fused loss -----------------------------------------------------------------------------
class SoftmaxCrossEntropy(Op):
    """y = mean over rows of -sum(t * log softmax(x));  dx = (softmax(x) - t) / N.

    ``t`` holds integer labels ``(N,)`` or target rows ``(N, C)`` (checked by
    ``checks.cross_entropy_targets``, so every door gets one message). A primitive for
    stability (log-softmax through the log-sum-exp, exact for any logits, never negative)
    and speed (one pass forward; the saved probabilities make backward one subtraction).
    """

    def forward(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        cross_entropy_targets(x, t)
        n, c = x.shape
        z = x - x.max(axis=1, keepdims=True)  # why: every z <= 0, so exp never overflows
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)  # s >= 1: the row's maximum contributes e^0
        if t.ndim == 1:  # -log p[t] = log s - z[t]: two non-negative terms, never negative
            loss = np.log(s).sum() - z.take(_labelled(t, c)).sum()
        else:
            loss = (np.log(s) * t.sum(axis=1, keepdims=True)).sum() - (t * z).sum()
        e /= s
        self.p = e  # why: softmax(x), reused by a first-order backward, which records nothing
        return np.asarray(loss / n, dtype=x.dtype)

    def backward(self, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, t = self.inputs
        n = x.shape[0]
        if not is_grad_enabled() and not t.requires_grad:  # first order: arrays, no graph
            scale = gy.data / n
            if t.ndim == 1:
                # why: new and C-ordered: a rerun finds p intact, and ravel() is a view of it
                gx = np.multiply(self.p, scale, order="C")
                gx.ravel()[_labelled(t.data, x.shape[1])] -= scale
            else:
                gx = self.p * (t.data.sum(axis=1, keepdims=True) * scale)
                gx -= t.data * scale
            return Tensor(gx), None
        # why: create_graph (and learnt targets) need log softmax(x) as a recorded function
        logp = log_softmax(x, axis=1)
        rows = np.eye(x.shape[1], dtype=x.dtype)[t.data] if t.ndim == 1 else t
        gx = (logp.exp() * rows.sum(axis=1, keepdims=True) - rows) * (gy / n)
        return gx, (-logp * (gy / n) if t.requires_grad else None)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) through the log-sum-exp, in recorded ops (``functional.log_softmax``)."""
    z = x - x.max(axis=axis, keepdims=True).detach()
    return z - z.exp().sum(axis=axis, keepdims=True).log()


def _labelled(t: np.ndarray, c: int) -> np.ndarray:
    """Flat positions, row * C + label, of the labelled entries of a C-ordered (N, C) array."""
    return np.arange(0, t.shape[0] * c, c) + t.astype(np.intp, copy=False)


# --- convolution ----------------------------------------------------------------------------
# The column layout, shared by Im2Col and Col2Im: a (C*kh*kw, N*OH*OW) matrix, i.e. the axes
# (C, kh, kw, N, OH, OW), one window per column (Caffe's layout, batch included).
# why this layout and not the book's (N*OH*OW, C*kh*kw):
#   - a convolution is then ONE 2-D matmul, W.reshape(FN, -1) @ cols -> (FN, N*OH*OW), and so
#     are both of its gradients: a few large BLAS calls instead of N small batched ones;
#   - OW is the innermost axis in the image and in the columns, so building the columns copies
#     contiguous runs of image rows, and Col2Im's slice-adds read contiguous runs too (the
#     book's layout puts kw innermost: runs of kw values, strided gathers in col2im);
#   - the result (FN, N, OH, OW) becomes NCHW by a transpose, which is a free view.
# (docs/performance.md has what it measured against the book's layout.)


class Im2Col(Op):
    """y = the (kh, kw) windows of the padded NCHW image x, one per column;  dx = Col2Im(gy).

    x (N, C, H, W) -> y (C*kh*kw, N*OH*OW), OH = (H + 2 ph - kh) // sh + 1 (OW alike).
    Row (c, i, j) holds channel c at kernel offset (i, j); column (n, oh, ow) is the window
    of image n whose top-left corner is at (oh*sh - ph, ow*sw - pw). Settings: ``kernel``,
    ``stride``, ``pad`` (pairs of ints, already checked) and ``fill``, the value of the
    padding: 0 for convolution, -inf for max pooling. The padding is a constant, so the
    gradient is Col2Im whatever ``fill`` is.
    """

    fill: float = 0.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        if ph or pw:
            n, c, h, w = x.shape
            padded = np.full((n, c, h + 2 * ph, w + 2 * pw), self.fill, dtype=x.dtype)
            padded[:, :, ph : ph + h, pw : pw + w] = x
            x = padded
        # a strided view (N, C, OH, OW, kh, kw) of x: nothing is copied until the reshape
        windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
        windows = windows[:, :, ::sh, ::sw]
        n, c, oh, ow = windows.shape[:4]
        return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * oh * ow)

    def backward(self, gy: Tensor) -> Tensor:
        (x,) = self.inputs
        return Col2Im.apply(gy, shape=x.shape, kernel=self.kernel, stride=self.stride, pad=self.pad)


class Col2Im(Op):
    """y = the columns summed back into an NCHW image of ``shape``;  dx = Im2Col(gy).

    The adjoint of Im2Col (same settings, plus the image ``shape``): where windows overlap,
    their values add up, and the padding is cropped off. Im2Col and Col2Im are linear and
    each other's backward, so derivatives of every order through a convolution work.
    """

    def forward(self, cols: np.ndarray) -> np.ndarray:
        n, c, h, w = self.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.pad
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        windows = cols.reshape(c, kh, kw, n, oh, ow)
        y = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
        # why: one strided slice-add of a whole (N, C, OH, OW) block per kernel offset; no
        # loop over pixels, and no np.add.at (unbuffered, many times slower)
        for i in range(kh):
            for j in range(kw):
                block = windows[:, i, j].transpose(1, 0, 2, 3)
                y[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += block
        return y[:, :, ph : ph + h, pw : pw + w]

    def backward(self, gy: Tensor) -> Tensor:
        return Im2Col.apply(gy, kernel=self.kernel, stride=self.stride, pad=self.pad)


# --- work outside the graph -----------------------------------------------------------------
# Some steps of training change arrays without an op: a dropout mask is drawn, running
# statistics move, gradients are forgotten, an optimizer updates its parameters. They run
# through these two functions, which tell an observer that records such work (mg.compile's
# tracer has an ``effect`` method) what ran, so that it can run the same work again.
def effect(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)``, tell a recording observer about it, and return its result.

    >>> effect(np.add, np.ones(2), 1.0)
    array([2., 2.])
    """
    out = fn(*args)
    announce(fn, *args, result=out)
    return out


def announce(fn: Any, *args: Any, result: Any = None) -> None:
    """Tell a recording observer that ``fn(*args)`` runs here (it runs it itself)."""
    observer = _engine.observer
    if observer is not None and hasattr(observer, "effect"):
        observer.effect(fn, args, result)


def forget_grads(params: Any) -> None:
    """Set every parameter's ``.grad`` to None (what ``zero_grad`` does)."""
    for p in params:
        p.grad = None
