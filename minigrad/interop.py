"""NumPy's functions on Tensors, the safety rule behind them, and DLPack.

``np.exp(t)``, ``array * t``, ``np.sum(t, axis=0)`` and ``np.concatenate([a, b])`` reach
minigrad through NumPy's two override protocols, ``__array_ufunc__`` (NEP 13) and
``__array_function__`` (NEP 18), whose hooks on Tensor (`minigrad.values.NumPyMethods`) call
`array_ufunc` and `array_function` here. The ufuncs and functions in the tables below run the
very op the Tensor method runs, so they are recorded and differentiated exactly like it.

The safety rule: a NumPy call minigrad cannot record, given a tensor that requires grad,
does not hand back a float array computed from it, because the user would get a constant where
they expect a gradient. It raises ``TypeError`` naming the call and the way out. Calls whose
result has no gradient anyway (integer or boolean results such as ``np.argmax`` or
``np.isfinite``), and calls on tensors that do not require grad (or under ``no_grad``), run
NumPy on the data and return plain NumPy values.

What the rule can see: a tensor passed as an argument, or inside the sequence of arrays that
``np.concatenate``, ``np.stack`` or ``np.vstack`` take. What it cannot: a Python list of
tensors where NumPy expects one array (``np.mean([a, b])``, ``np.array([a, b])``), or a
function that converts its argument first (``np.full(shape, t)``). NumPy turns those into
arrays through ``__array__`` before it looks for an override, the very conversion that makes
``np.asarray(t)`` give the values, so minigrad is never asked and the result is a constant.
Join the tensors first: ``mg.stack([a, b]).mean()``.

The Tensor operators (``t + u``, ``t @ w``) never come here: they call their ops directly.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad import ops, values
from minigrad.tensor import Tensor, as_tensor, is_grad_enabled


def from_dlpack(x: Any) -> Tensor:
    """A Tensor sharing the memory of ``x``: anything with ``__dlpack__`` on the CPU.

    A torch tensor, a JAX array, a NumPy array. Writing through either side is seen by
    the other; gradients do not cross (torch refuses to export a tensor that requires
    grad: pass ``x.detach()``).

    >>> a = np.zeros(3)
    >>> t = from_dlpack(a)
    >>> a[0] = 5.0
    >>> t.numpy()
    array([5., 0., 0.])
    """
    if not hasattr(x, "__dlpack__"):
        raise TypeError(
            f"from_dlpack needs an object with __dlpack__ (a torch tensor, a JAX array, a NumPy "
            f"array), got {type(x).__name__}; for other data use mg.Tensor(x), which copies "
            f"only when it must"
        )
    return Tensor(np.from_dlpack(x))


# --- the safety rule --------------------------------------------------------------------------
class _CannotRecord(Exception):
    """A handler met an argument minigrad cannot record: ``(what, what to do instead)``."""


class _NoGradientDtype(_CannotRecord):
    """A ``dtype=`` without gradients (integers): NumPy may run, its result has none."""


def _is_tensor(x: Any) -> bool:
    return isinstance(x, Tensor)


def _requires_grad(obj: Any) -> bool:
    """True if a Tensor that requires grad is in ``obj`` (lists, tuples, dict values)."""
    if isinstance(obj, Tensor):
        return obj.requires_grad
    if isinstance(obj, list | tuple):
        return any(_requires_grad(x) for x in obj)
    if isinstance(obj, dict):
        return any(_requires_grad(x) for x in obj.values())
    return False


def _plain(obj: Any) -> Any:
    """``obj`` with every Tensor replaced by its data (through lists, tuples, dict values)."""
    if isinstance(obj, Tensor):
        return obj.data
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _gradient_free(result: Any) -> bool:
    """True for results that carry no gradient: integers, booleans, strings, shapes, dtypes."""
    if isinstance(result, list | tuple):
        return all(_gradient_free(x) for x in result)
    if isinstance(result, np.ndarray | np.generic):
        return result.dtype.kind in "biuSU"
    return result is None or isinstance(result, bool | int | str | np.dtype)


# why: these write into one of their arguments; with a tensor that requires grad they are
# refused before they run, as their result (None) says nothing about what they wrote
_WRITERS = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis}
# why: the result depends only on the first argument's shape and dtype, never on its values
_SHAPE_ONLY = {np.zeros_like, np.ones_like, np.empty_like, np.full_like}
# compositions to suggest for common functions that have no op of their own
_INSTEAD = {
    np.var: "((x - x.mean()) ** 2).mean() is the variance with a gradient",
    np.std: "((x - x.mean()) ** 2).mean().sqrt() is the standard deviation with a gradient",
    np.log2: "x.log() / np.log(2) has a gradient",
    np.log10: "x.log() / np.log(10) has a gradient",
    np.linalg.norm: "(x * x).sum().sqrt() is the L2 norm with a gradient",
    np.tensordot: "reshape and @ (np.matmul) have gradients",
    np.einsum: "reshape, broadcasting, * and @ (np.matmul) have gradients",
}


def _name(func: Any) -> str:
    """``np.linalg.norm`` for numpy.linalg.norm."""
    module = getattr(func, "__module__", None) or "numpy"
    return f"{module.replace('numpy', 'np', 1)}.{func.__name__}"


def _on_data(
    name: str,
    func: Callable[..., Any],
    args: tuple,
    kwargs: dict,
    reason: _CannotRecord | None = None,
    writes: bool = False,
) -> Any:
    """Run ``func`` on the tensors' data, unless that would silently drop a gradient.

    ``reason`` is why a listed function could not record this call; ``writes`` says the
    call writes into one of its arguments.
    """
    checked = (args[1:], kwargs) if func in _SHAPE_ONLY else (args, kwargs)
    tracked = is_grad_enabled() and _requires_grad(checked)
    out = kwargs.get("out")
    if isinstance(out, tuple) and all(o is None for o in out):
        out = None
    writes = writes or out is not None or func in _WRITERS
    if tracked and (writes or (reason is not None and not isinstance(reason, _NoGradientDtype))):
        raise TypeError(_refusal(_called_as(name), func, reason, writes))
    result = func(*_plain(args), **_plain(kwargs))
    if tracked and not _gradient_free(result):
        raise TypeError(_refusal(_called_as(name), func, reason, writes))
    if out is not None:  # why: as NumPy, the call returns the out= object itself
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out
    return result


def _called_as(name: str) -> str:
    """``name``, or the NumPy function the user called that called it from inside NumPy:
    ``np.full_like(arr, t)`` reaches minigrad as ``np.copyto(result, t)``."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("minigrad."):
        frame = frame.f_back  # why: the first frame outside minigrad made the NumPy call
    if frame is None or not frame.f_globals.get("__name__", "").startswith("numpy"):
        return name
    outer = frame.f_code.co_name
    public = not outer.startswith("_") and callable(getattr(np, outer, None))
    return f"np.{outer} (through {name})" if public else name


def _refusal(name: str, func: Any, reason: _CannotRecord | None, writes: bool) -> str:
    if reason is not None:
        what, todo = reason.args
        return (
            f"{name} with {what} cannot be recorded, and a tensor it was given requires grad; "
            f"{todo}, or pass t.data (or t.detach()) to compute a constant on purpose"
        )
    what = "writes into an array" if writes else "has no gradient in minigrad"
    func = getattr(func, "__self__", func)  # why: a ufunc may arrive as its bound __call__
    hint = f" {_INSTEAD[func]}." if func in _INSTEAD else ""
    return (
        f"{name} {what}, and a tensor it was given requires grad: the result would silently "
        f"be a constant, cut from the graph.{hint} Use a Tensor method or a minigrad function "
        f"(the guide 'minigrad with NumPy, PyTorch and JAX' lists the NumPy calls that have "
        f"gradients), or pass t.data (or t.detach()) to compute a constant on purpose"
    )


# --- ufuncs -----------------------------------------------------------------------------------
# ufunc -> the function the Tensor operator or method runs
_UFUNC_OPS: dict[np.ufunc, Callable[..., Tensor]] = {
    np.add: ops.Add.apply,
    np.subtract: ops.Sub.apply,
    np.multiply: ops.Mul.apply,
    np.divide: ops.Div.apply,
    np.power: ops.Pow.apply,
    np.matmul: ops.MatMul.apply,
    np.negative: ops.Neg.apply,
    np.exp: ops.Exp.apply,
    np.log: ops.Log.apply,
    np.sqrt: ops.Sqrt.apply,
    np.absolute: ops.Abs.apply,
    np.tanh: ops.Tanh.apply,
    np.sin: ops.Sin.apply,
    np.cos: ops.Cos.apply,
    np.log1p: ops.Log1p.apply,
    np.expm1: ops.Expm1.apply,
    np.square: lambda x: as_tensor(x).square(),
    np.maximum: F.maximum,
    np.minimum: F.minimum,
}


# keyword arguments of a ufunc call that change nothing at these values
_UFUNC_DEFAULTS = {"where": True, "casting": "same_kind", "order": "K", "subok": True}


def _is_default(value: Any, default: Any) -> bool:
    return value is default or (type(value) in (bool, np.bool_, str) and value == default)


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_ufunc__``: a listed ufunc runs its op; anything else, the safety rule."""
    for x in inputs + kwargs.get("out", ()):
        if not isinstance(x, _KNOWN) and getattr(type(x), "__array_ufunc__", None) is not None:
            return NotImplemented  # why: NEP 13; another array type may know what to do
    op = _UFUNC_OPS.get(ufunc)
    if op is not None and method == "__call__" and not kwargs:
        return op(*inputs)  # why: the common case (array * t, np.exp(t)) without more checks
    try:
        if method == "__call__" and op is not None:
            return _call(op, ufunc, inputs, kwargs)
        if method == "outer" and op is not None and ufunc.nin == 2:
            a, b = as_tensor(inputs[0]), as_tensor(inputs[1])
            return _call(op, ufunc, (a.reshape(a.shape + (1,) * b.ndim), b), kwargs)
        if method == "reduce" and ufunc in _REDUCTIONS:
            return _REDUCTIONS[ufunc](*inputs, **{"axis": 0, **kwargs})
        reason = None
    except _CannotRecord as e:
        reason = e
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    return _on_data(name, getattr(ufunc, method), inputs, kwargs, reason, writes=method == "at")


# operand types NumPy and minigrad handle themselves
_KNOWN = (Tensor, np.ndarray, np.generic, int, float, complex)
_ARRAYS = (Tensor, np.ndarray)


def _call(op: Callable[..., Tensor], ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Tensor:
    """``op`` on ``inputs`` for a ufunc call with keywords: honoured, or _CannotRecord."""
    call = f"np.{ufunc.__name__}({'x' if ufunc.nin == 1 else 'a, b'})"
    for key, value in kwargs.items():
        if key == "out":
            also = "; for arr += t write arr = arr + t" if ufunc.nin == 2 else ""
            raise _CannotRecord("out=", f"use the result instead, y = {call}{also}")
        if key == "where" and not _is_default(value, True):
            raise _CannotRecord(
                "a where= mask (it leaves the masked-out entries unset)",
                f"use mg.where(mask, {call}, other)",
            )
        if key not in ("dtype", "out", "where") and not (
            key in _UFUNC_DEFAULTS and _is_default(value, _UFUNC_DEFAULTS[key])
        ):
            raise _CannotRecord(f"{key}={value!r}", "leave that argument out")
    dtype = kwargs.get("dtype")
    if dtype is not None:
        inputs = tuple(_cast(x, dtype) if _is_tensor(x) else np.asarray(x, dtype) for x in inputs)
    return op(*inputs)


def _cast(x: Any, dtype: Any) -> Tensor:
    """``x`` as a Tensor of the float ``dtype`` (a recorded cast), for a ``dtype=`` argument."""
    x, dtype = as_tensor(x), np.dtype(dtype)
    if dtype.kind not in "fc":
        raise _NoGradientDtype(f"dtype={dtype}", f"{dtype} values have no gradient")
    return x if x.dtype == dtype else x.astype(dtype)


# --- functions --------------------------------------------------------------------------------
def array_function(func: Callable[..., Any], types: Any, args: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_function__``: a listed function runs Tensor ops; else the safety rule."""
    for t in types:
        if not issubclass(t, _ARRAYS):
            return NotImplemented  # why: NEP 18; another array type may know what to do
    handler = _FUNCTIONS.get(func)
    reason = None
    if handler is not None:
        try:
            return handler(*args, **kwargs)
        except _CannotRecord as e:
            reason = e
    return _on_data(_name(func), func, args, kwargs, reason)


_MISSING = object()  # an argument not given (None means something for some of them)


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise _CannotRecord("out=", f"use the result instead, y = np.{name}(...)")


def _reduced(x: Tensor, dtype: Any, where: Any) -> Tensor:
    """``x`` cast to ``dtype`` and with the entries ``where`` leaves out set to zero."""
    x = x if dtype is None else _cast(x, dtype)
    if not _is_default(where, True):
        x = F.where(where, x, 0)  # why: left-out entries add nothing
    return x


def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    _no_out("sum", out)
    y = _reduced(as_tensor(a), dtype, where).sum(axis, keepdims)
    return y if initial is None else y + initial


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    _no_out("mean", out)
    x = as_tensor(a)
    if _is_default(where, True):
        return (x if dtype is None else _cast(x, dtype)).mean(axis, keepdims)
    count = np.sum(np.broadcast_to(_plain(where), x.shape), axis=axis, keepdims=keepdims)
    total = _reduced(x, dtype, where).sum(axis, keepdims)
    # why: an integer count array would promote a float32 sum to float64; NumPy keeps float32
    return total / (count.astype(total.dtype) if total.dtype.kind in "fc" else count)


def _max(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    return _extreme(True, a, axis, out, keepdims, initial, where)


def _min(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    return _extreme(False, a, axis, out, keepdims, initial, where)


def _extreme(largest: bool, a, axis, out, keepdims, initial, where) -> Tensor:
    name = "max" if largest else "min"
    _no_out(name, out)
    if not _is_default(where, True):
        fill = "-np.inf" if largest else "np.inf"
        raise _CannotRecord("a where= mask", f"use np.{name}(mg.where(mask, x, {fill}), ...)")
    x = as_tensor(a)
    y = x.max(axis, keepdims) if largest else x.min(axis, keepdims)
    if initial is None:
        return y
    return F.maximum(y, initial) if largest else F.minimum(y, initial)


_REDUCTIONS = {np.add: _sum, np.maximum: _max, np.minimum: _min}


def _reshape(a, /, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C" or copy is False:
        what = f"order={order!r}" if order != "C" else "copy=False"
        raise _CannotRecord(what, "minigrad reshapes in C order, a view when it can")
    return as_tensor(a).reshape(newshape if shape is None else shape)


def _transpose(a, axes=None):
    return as_tensor(a).transpose(*(() if axes is None else (axes,)))


def _joined(name: str, arrays: Any, out: Any, dtype: Any, casting: str) -> list[Tensor]:
    _no_out(name, out)
    if casting != "same_kind":
        raise _CannotRecord(f"casting={casting!r}", "leave that argument out")
    return [x if dtype is None else _cast(x, dtype) for x in arrays]


def _concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    arrays = _joined("concatenate", arrays, out, dtype, casting)
    if axis is None:  # as NumPy: join the flattened arrays
        arrays, axis = [as_tensor(x).reshape(-1) for x in arrays], 0
    return F.concatenate(arrays, axis=axis)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return F.stack(_joined("stack", arrays, out, dtype, casting), axis=axis)


def _where(condition, x=_MISSING, y=_MISSING, /):
    if x is _MISSING and y is _MISSING:  # the positions where condition holds: integers
        return np.where(_plain(condition))
    if x is _MISSING or y is _MISSING:
        raise ValueError("np.where needs both x and y, or neither")
    return F.where(condition, x, y)


def _clip(a, a_min=_MISSING, a_max=_MISSING, out=None, *, min=_MISSING, max=_MISSING, **kwargs):
    _no_out("clip", out)
    for key, value in kwargs.items():
        if key not in _UFUNC_DEFAULTS or not _is_default(value, _UFUNC_DEFAULTS[key]):
            raise _CannotRecord(f"{key}={value!r}", "leave that argument out")
    lo = a_min if a_min is not _MISSING else (None if min is _MISSING else min)
    hi = a_max if a_max is not _MISSING else (None if max is _MISSING else max)
    x = as_tensor(a)
    if _is_tensor(lo) or _is_tensor(hi):  # why: bounds that are Tensors get gradients too
        x = x if lo is None else F.maximum(x, lo)
        return x if hi is None else F.minimum(x, hi)
    return x.clip(lo, hi)


def _dot(a, b, out=None):
    _no_out("dot", out)
    ndims = np.ndim(_plain(a)), np.ndim(_plain(b))
    if 0 in ndims:
        return ops.Mul.apply(a, b)
    if max(ndims) > 2:
        raise _CannotRecord(
            "operands of more than 2 axes",
            "np.dot then sums over other axes than np.matmul; use np.matmul or @ (batched)",
        )
    return ops.MatMul.apply(a, b)


def _ravel(a, order="C"):
    if order != "C":
        raise _CannotRecord(f"order={order!r}", "minigrad flattens in C order")
    return as_tensor(a).flatten()


def _squeeze(a, axis=None):
    x = as_tensor(a)
    return x.reshape(np.squeeze(x.data, axis).shape)  # why: NumPy checks the axes


def _expand_dims(a, axis):
    x = as_tensor(a)
    return x.reshape(np.expand_dims(x.data, axis).shape)


def _broadcast_to(array, shape, subok=False):
    return as_tensor(array).broadcast_to(np.broadcast_shapes(shape))


def _astype(x, dtype, /, *, copy=True, device=None):
    return _cast(x, dtype)


_FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: _sum,
    np.mean: _mean,
    np.max: _max,
    np.amax: _max,
    np.min: _min,
    np.amin: _min,
    np.reshape: _reshape,
    np.transpose: _transpose,
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.where: _where,
    np.clip: _clip,
    np.dot: _dot,
    np.ravel: _ravel,
    np.squeeze: _squeeze,
    np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to,
}
if hasattr(np, "astype"):  # NumPy 2
    _FUNCTIONS[np.astype] = _astype


# why: Tensor's protocol hooks (values.NumPyMethods) call array_ufunc and array_function here;
# this module imports the engine, so the engine cannot import it and is told where it is
values.numpy_calls = sys.modules[__name__]
