"""Functions of several tensors, and compositions of ops (no backward of their own).

Operands may be Tensors, NumPy arrays or Python scalars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from minigrad import ops
from minigrad.checks import check_broadcast, dropout_probability, pair, pool_window
from minigrad.tensor import Tensor, as_operands, as_tensor, values_of


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product, as ``np.matmul`` (1-D operands, broadcast batch axes).

    >>> matmul([[1.0, 2.0]], [[3.0], [4.0]]).numpy()
    array([[11.]])
    """
    return ops.MatMul.apply(a, b)


def affine(x: Any, w: Any, b: Any) -> Tensor:
    """x @ w + b for x (N, in), w (in, out), b (out,): the one op behind ``nn.Affine``.

    >>> affine([[1.0, 2.0]], [[3.0], [4.0]], [0.5]).numpy()
    array([[11.5]])
    """
    return ops.Affine.apply(x, w, b)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis``.

    >>> concatenate([Tensor([1.0]), [2.0, 3.0]]).numpy()
    array([1., 2., 3.])
    """
    if len(tensors) == 0:
        raise ValueError("concatenate needs at least one tensor")
    ts = as_operands(tuple(tensors))
    ndim = ts[0].ndim
    if ndim == 0:
        raise ValueError("concatenate cannot join 0-d tensors; use stack to add an axis")
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis {axis} is out of range for {ndim}-d tensors")
    return ops.Concatenate.apply(*ts, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join equally shaped tensors along a new ``axis``.

    >>> stack([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])], axis=1).numpy()
    array([[1., 3.],
           [2., 4.]])
    """
    if len(tensors) == 0:
        raise ValueError("stack needs at least one tensor")
    ts = as_operands(tuple(tensors))
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(f"stack needs tensors of one shape, got {[t.shape for t in ts]}")
    ndim = ts[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of range for {ndim}-d results")
    axis %= ndim
    expanded = [t.reshape(t.shape[:axis] + (1,) + t.shape[axis:]) for t in ts]
    return concatenate(expanded, axis=axis)


def where(cond: ArrayLike, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``cond`` holds, else ``b``; ``cond`` has no gradient.

    >>> where(np.array([True, False]), Tensor([1.0, 2.0]), 0.0).numpy()
    array([1., 0.])
    """
    return ops.Where.apply(a, b, cond=np.asarray(values_of(cond), dtype=bool))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise larger value; at a tie the gradient goes to ``a``.

    >>> maximum(Tensor([1.0, 5.0]), 3.0).numpy()
    array([3., 5.])
    """
    a, b = as_operands((a, b))
    check_broadcast("maximum", a.data, b.data)
    return where(ops.effect(np.greater_equal, a.data, b.data), a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise smaller value; at a tie the gradient goes to ``a``.

    >>> minimum(Tensor([1.0, 5.0]), 3.0).numpy()
    array([1., 3.])
    """
    a, b = as_operands((a, b))
    check_broadcast("minimum", a.data, b.data)
    return where(ops.effect(np.less_equal, a.data, b.data), a, b)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^x / sum(e^x) along ``axis``, shifted by the maximum so exp never overflows.

    >>> softmax(Tensor([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]])
    """
    # why: the shift does not change the result, so it needs no gradient
    e = (x - x.max(axis=axis, keepdims=True).detach()).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) through the log-sum-exp: finite for any finite logits.

    >>> log_softmax(Tensor([[1000.0, 0.0]])).numpy()
    array([[    0., -1000.]])
    """
    return ops.log_softmax(as_tensor(x), axis)


def softmax_cross_entropy(x: Any, t: Any) -> Tensor:
    """Mean cross-entropy of logits ``x (N, C)`` against labels ``(N,)`` or rows ``(N, C)``.

    >>> float(softmax_cross_entropy(Tensor([[1000.0, 0.0]]), np.array([1])).data)
    1000.0
    """
    return ops.SoftmaxCrossEntropy.apply(x, t)


def mse(x: Any, t: Any) -> Tensor:
    """Mean over all elements of the squared difference.

    >>> float(mse(Tensor([1.0, 3.0]), np.array([0.0, 0.0])).data)
    5.0
    """
    d = as_tensor(x) - t
    return (d * d).mean()


# --- convolution, pooling and the chapter-6 layers' functions ---------------------------------
def _as_image_batch(x: Any, name: str) -> Tensor:
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(
            f"{name} needs a 4-D input (N, C, H, W), got shape {x.shape}; add the missing "
            f"axes, e.g. x.reshape(1, 1, H, W) for a single one-channel image"
        )
    return x


def _output_size(
    name: str,
    shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pad: tuple[int, int],
) -> tuple[int, int]:
    """(OH, OW), the number of window positions; windows that do not fit are left out."""
    h, w = shape[2] + 2 * pad[0], shape[3] + 2 * pad[1]
    if kernel[0] > h or kernel[1] > w:
        raise ValueError(
            f"{name}: the kernel {kernel} is larger than the padded input {(h, w)} (input "
            f"shape {tuple(shape)}, pad {pad}); use a smaller kernel or a larger pad"
        )
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


def im2col(
    x: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    pad: int | Sequence[int] = 0,
) -> Tensor:
    """The (kh, kw) windows of NCHW ``x``, zero-padded, as the columns of a matrix.

    x (N, C, H, W) -> (C*kh*kw, N*OH*OW), OH = (H + 2 ph - kh) // sh + 1 (OW alike): one
    column per window, ordered (n, oh, ow); one row per (channel, kernel row, kernel column).
    The transpose of the book's layout, chosen for speed (see ops.Im2Col).

    >>> im2col(Tensor(np.arange(9.0).reshape(1, 1, 3, 3)), 2).numpy()
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    x = _as_image_batch(x, "im2col")
    kernel = pair(kernel_size, "im2col: kernel_size", 1)
    stride, pad = pair(stride, "im2col: stride", 1), pair(pad, "im2col: pad", 0)
    _output_size("im2col", x.shape, kernel, stride, pad)
    return ops.Im2Col.apply(x, kernel=kernel, stride=stride, pad=pad)


def col2im(
    cols: Any,
    shape: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    pad: int | Sequence[int] = 0,
) -> Tensor:
    """The adjoint of ``im2col``: columns summed back into an NCHW image of ``shape``.

    Where windows overlap their values add up; the padding is cropped off.

    >>> col2im(np.ones((4, 4)), (1, 1, 3, 3), 2).numpy()
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """
    cols = as_tensor(cols)
    shape = tuple(int(n) for n in shape)
    if len(shape) != 4:
        raise ValueError(f"col2im: shape must be (N, C, H, W), got {shape}")
    kernel = pair(kernel_size, "col2im: kernel_size", 1)
    stride, pad = pair(stride, "col2im: stride", 1), pair(pad, "col2im: pad", 0)
    oh, ow = _output_size("col2im", shape, kernel, stride, pad)
    n, c = shape[:2]
    expected = (c * kernel[0] * kernel[1], n * oh * ow)
    if cols.shape != expected:
        raise ValueError(
            f"col2im: columns of shape {cols.shape} do not fit the image {shape} with kernel "
            f"{kernel}, stride {stride}, pad {pad}; those need (C*kh*kw, N*OH*OW) = {expected}"
        )
    return ops.Col2Im.apply(cols, shape=shape, kernel=kernel, stride=stride, pad=pad)


def conv2d(
    x: Any,
    W: Any,
    b: Any | None = None,
    stride: int | Sequence[int] = 1,
    pad: int | Sequence[int] = 0,
) -> Tensor:
    """Convolution of NCHW ``x`` with filters ``W`` (a cross-correlation, as the book's).

    x (N, C, H, W), W (FN, C, kh, kw), b (FN,) or None -> (N, FN, OH, OW), with
    OH = (H + 2 ph - kh) // sh + 1 (OW alike); ``stride`` and ``pad`` (zeros) are ints or
    (height, width) pairs. One matmul of the flattened filters with the im2col columns.

    >>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2).numpy()
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    x = _as_image_batch(x, "conv2d")
    W = as_tensor(W)
    if W.ndim != 4:
        raise ValueError(
            f"conv2d: W must be 4-D (out_channels, in_channels, kh, kw), got shape {W.shape}"
        )
    n, c = x.shape[:2]
    fn, cw, kh, kw = W.shape
    if c != cw:
        raise ValueError(
            f"conv2d: x of shape {x.shape} has {c} channels on axis 1, but W of shape "
            f"{W.shape} needs {cw} (in_channels); pass (N, {cw}, H, W) or change in_channels"
        )
    stride, pad = pair(stride, "conv2d: stride", 1), pair(pad, "conv2d: pad", 0)
    oh, ow = _output_size("conv2d", x.shape, (kh, kw), stride, pad)
    cols = ops.Im2Col.apply(x, kernel=(kh, kw), stride=stride, pad=pad)  # (C*kh*kw, N*OH*OW)
    y = W.reshape(fn, c * kh * kw) @ cols  # (FN, N*OH*OW)
    if b is not None:
        b = as_tensor(b)
        if b.shape != (fn,):
            raise ValueError(
                f"conv2d: b must have shape ({fn},), one value per filter of W {W.shape}, "
                f"got {b.shape}"
            )
        y = y + b.reshape(fn, 1)
    return y.reshape(fn, n, oh, ow).transpose(1, 0, 2, 3)


def max_pool2d(
    x: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    pad: int | Sequence[int] = 0,
) -> Tensor:
    """The largest value of each (kh, kw) window of NCHW ``x``; ``stride`` None is the kernel.

    x (N, C, H, W) -> (N, C, OH, OW). The padding is -inf, so it never wins; ``pad`` may be
    at most half the kernel, so every window holds a real value. Tied maxima share the
    gradient equally, as in ``Tensor.max``.

    >>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> max_pool2d(x, 2).numpy()
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    x = _as_image_batch(x, "max_pool2d")
    kernel, stride, pad = pool_window(kernel_size, stride, pad)
    n, c = x.shape[:2]
    oh, ow = _output_size("max_pool2d", x.shape, kernel, stride, pad)
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    cols = ops.Im2Col.apply(x, kernel=kernel, stride=stride, pad=pad, fill=fill)
    y = cols.reshape(c, kernel[0] * kernel[1], n * oh * ow).max(axis=1)  # (C, N*OH*OW)
    return y.reshape(c, n, oh, ow).transpose(1, 0, 2, 3)


def dropout(
    x: Any,
    p: float = 0.5,
    rng: int | np.random.Generator | None = None,
    training: bool = True,
) -> Tensor:
    """Inverted dropout: each value is zeroed with probability ``p``, survivors scaled by 1/(1-p).

    The expected value is unchanged, so nothing needs rescaling at test time; when not
    ``training`` (or ``p`` is 0) it is the identity. ``rng`` is a seed or a
    ``np.random.Generator``, from which the mask is drawn.

    >>> y = dropout(Tensor(np.ones((2, 4))), 0.5, rng=0)
    >>> np.unique(y.numpy())
    array([0., 2.])
    """
    p = dropout_probability(p)
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    # why: through ops.effect, so a compiled step draws its masks from the same generator
    return x * ops.effect(_dropout_mask, rng, x.shape, p, dtype)


def _dropout_mask(
    rng: int | np.random.Generator | None, shape: tuple[int, ...], p: float, dtype: np.dtype
) -> np.ndarray:
    """1 / (1 - p) where a uniform draw from ``rng`` is at least ``p``, else 0."""
    mask = (np.random.default_rng(rng).random(shape) >= p).astype(dtype)
    mask *= 1.0 / (1.0 - p)  # why: in place keeps the mask in x's dtype (float32 stays)
    return mask


def batch_norm(
    x: Any,
    gamma: Any,
    beta: Any,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
    training: bool = True,
    momentum: float = 0.9,
    eps: float = 1e-5,
) -> Tensor:
    """(x - mean) / sqrt(var + eps) * gamma + beta, per feature of (N, D) ``x`` or per channel
    of (N, C, H, W) ``x`` (statistics over N, H and W).

    ``training``: the batch mean and the biased batch variance (mean of squared deviations,
    as the book), and, when given, ``running_mean`` and ``running_var`` are updated IN PLACE:
    ``running = momentum * running + (1 - momentum) * batch``. Otherwise the running
    statistics are used (they must be given). gamma, beta and the statistics have shape (D,).

    >>> x = Tensor([[1.0, 10.0], [3.0, 30.0]])
    >>> batch_norm(x, np.ones(2), np.zeros(2)).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    x, gamma, beta = as_tensor(x), as_tensor(gamma), as_tensor(beta)
    axes, shape = _feature_axes(x, gamma, beta)
    if training:
        xn = _normalise_by_batch(x, axes, running_mean, running_var, momentum, eps)
    else:
        xn = _normalise_by_running(x, shape, running_mean, running_var, eps)
    return xn * gamma.reshape(shape) + beta.reshape(shape)


def _feature_axes(
    x: Tensor, gamma: Tensor, beta: Tensor
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes batch norm averages over, and the shape that broadcasts (D,) along axis 1."""
    if x.ndim not in (2, 4):
        raise ValueError(
            f"batch_norm needs (N, D) or (N, C, H, W) input, got shape {x.shape}; flatten "
            f"other inputs to (N, D) first"
        )
    features = gamma.shape[0] if gamma.ndim == 1 else -1
    if features != x.shape[1] or beta.shape != gamma.shape:
        raise ValueError(
            f"batch_norm: x of shape {x.shape} has {x.shape[1]} features on axis 1, but gamma "
            f"has shape {gamma.shape} and beta {beta.shape}; both must be ({x.shape[1]},)"
        )
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))


def _normalise_by_batch(
    x: Tensor,
    axes: tuple[int, ...],
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    momentum: float,
    eps: float,
) -> Tensor:
    """(x - batch mean) / sqrt(batch var + eps); the running statistics move towards them."""
    if x.size // max(x.shape[1], 1) < 2:
        raise ValueError(
            f"batch_norm in training needs more than one value per feature to compute a "
            f"variance, got x of shape {x.shape}; use a larger batch, or eval() mode"
        )
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    # why: through ops.effect, so a compiled step updates the statistics too
    if running_mean is not None:
        ops.effect(_moving_average, running_mean, mean.data, momentum)
    if running_var is not None:
        ops.effect(_moving_average, running_var, var.data, momentum)
    return xc / (var + eps).sqrt()


def _normalise_by_running(
    x: Tensor,
    shape: tuple[int, ...],
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    eps: float,
) -> Tensor:
    """(x - running mean) / sqrt(running var + eps)."""
    if running_mean is None or running_var is None:
        raise ValueError(
            "batch_norm with training=False needs running_mean and running_var; pass "
            "them, or training=True to use the batch statistics"
        )
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    # why: Tensor ops on the statistics, so a compiled step reads them when it runs
    mean = Tensor(np.asarray(running_mean, dtype=dtype)).reshape(shape)
    scale = (1.0 / (Tensor(np.asarray(running_var, dtype=dtype)) + eps).sqrt()).reshape(shape)
    return (x - mean) * scale


def _moving_average(running: np.ndarray, batch: np.ndarray, momentum: float) -> None:
    """running = momentum * running + (1 - momentum) * batch, in place."""
    running *= momentum
    running += (1.0 - momentum) * batch.reshape(-1)
