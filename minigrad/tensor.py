"""The engine: Tensor, the Op base class, recording, the topological sort and backward.

Every operation on Tensors runs an :class:`Op`. When grad mode is on and an input
requires grad, the Op records itself as the output's ``creator`` and keeps its
inputs; the recorded ops form a DAG. ``backward()`` sorts that DAG once
(iteratively, deterministically) and runs each op's backward in reverse
topological order, so a node's gradient is complete (summed over every consumer)
before it flows further back.

An observer in ``observer`` (mg.compile's tracer, mg.detect_anomaly's watcher) is told what
the engine does: ``forward(op, inputs, out)`` after every op runs, ``backward(op, gy, gxs)``
after each op's backward, and, if it has these methods, ``accumulate(leaf, g)`` before a
leaf's ``.grad`` is updated, ``before_backward(op, gy)`` before each op's backward, and
``backward_pass(True)`` / ``backward_pass(False)`` when a backward pass starts (before its
seeds are added up) and ends (also on an error). The ops an observer sees between
``before_backward`` and ``backward`` are that op's backward; after them, until the next
``before_backward`` or the end of the pass, the engine summing and converting its gradients.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad.values import NumPyMethods, TensorValues

_grad_enabled = True
# why: one watcher of every op (mg.compile's tracer, mg.detect_anomaly); None costs one test
observer: Any = None
_clock = 0  # why: counts in-place writes to leaves, so backward can tell stale saved inputs


def mark_written(*leaves: Tensor) -> None:
    """Say that the values of ``leaves`` were changed in place (an optimizer step, an
    assignment to a parameter): a graph recorded before cannot be backpropagated."""
    global _clock
    _clock += 1
    for t in leaves:
        t._version = _clock


def is_grad_enabled() -> bool:
    """True when operations are being recorded (outside ``no_grad``)."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Sets grad mode inside a ``with`` block or a decorated function."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous, _grad_enabled = _grad_enabled, self.enabled

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


def no_grad() -> _GradMode:
    """Record nothing inside: a context manager and a decorator.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Record again inside a ``no_grad`` region (context manager and decorator)."""
    return _GradMode(True)


class Tensor(TensorValues, NumPyMethods):
    """An n-dimensional array that is a node of the recorded graph.

    Everything defined here is recorded. Two bases add what is not: ``shape`` and the other
    attributes of the values, conversions to Python and NumPy values, comparisons and in-place
    operators (`minigrad.values.TensorValues`); and the hooks through which NumPy's ufuncs and
    functions reach `minigrad.interop` and its gradients, DLPack and the NumPy-named methods
    such as ``argmax`` (`minigrad.values.NumPyMethods`).

    >>> x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([[2., 4.],
           [6., 8.]])
    """

    # why: _version is when an op made this tensor, or when a leaf's values were last written
    __slots__ = ("data", "grad", "requires_grad", "creator", "name", "_version", "__weakref__")

    def __init__(self, data: ArrayLike, requires_grad: bool = False) -> None:
        if type(data) is not np.ndarray:  # why: an array, the common case, needs no conversion
            data = np.asarray(data.data if isinstance(data, Tensor) else data)
        if data.dtype.kind not in "biuf":
            raise TypeError(
                f"a Tensor holds real numbers (bool, integer or float), got dtype {data.dtype}"
                f"; pass numbers, e.g. Tensor(np.asarray(values, dtype=np.float64))"
            )
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {data.dtype}; "
                f"convert first, e.g. Tensor(np.asarray(data, dtype=np.float64), "
                f"requires_grad=True)"
            )
        self.data: np.ndarray = data
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self.creator: Op | None = None
        self.name: str | None = None
        self._version = 0

    def _mark_written(self) -> None:
        """Its values were changed in place (see `mark_written`)."""
        mark_written(self)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def __repr__(self) -> str:
        kind = type(self).__name__  # why: a Parameter says so (and needs no requires_grad)
        body = np.array2string(self.data, prefix=f"{kind}(")
        extra = ", requires_grad=True" if self.requires_grad and kind == "Tensor" else ""
        return f"{kind}({body}{extra})"

    # why: hashed by identity, so Tensors can key dicts (the engine's); `==` is elementwise
    __hash__ = object.__hash__

    # --- backward ---------------------------------------------------------------------------
    def backward(self, grad: ArrayLike | None = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        A non-scalar tensor needs ``grad``, the gradient of some scalar w.r.t. it.
        Without ``retain_graph`` the graph's buffers are freed afterwards.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran under no_grad())"
            )
        seed = _seed_grad(self, values_of(grad))  # why: the values, copied: .grad is ours
        _backprop((self,), (seed,), retain_graph=retain_graph, create_graph=False)

    # --- operators: one-line calls to ops, reflected ones swap the arguments --------------
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(other, self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=index)

    # --- methods ----------------------------------------------------------------------------
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes if None).

        >>> Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(axis=0).numpy()
        array([4., 6.])
        """
        return ops.Sum.apply(self, axis=_axes(axis), keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Average over ``axis`` (all axes if None).

        >>> Tensor([[1.0, 3.0]]).mean(axis=1).numpy()
        array([2.])
        """
        axes = _axes(axis)
        if axes is not None and any(not -self.ndim <= a < self.ndim for a in axes):
            raise ValueError(f"mean: axis {axis} is out of range for shape {self.shape}")
        count = self.size if axes is None else int(np.prod([self.shape[a] for a in axes]))
        return self.sum(axes, keepdims) / count

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Largest value over ``axis``; ties share the gradient equally.

        >>> Tensor([[1.0, 5.0], [7.0, 2.0]]).max(axis=1).numpy()
        array([5., 7.])
        """
        return ops.Max.apply(self, axis=_axes(axis), keepdims=keepdims)

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Smallest value over ``axis``: ``-max(-x)``.

        >>> Tensor([[1.0, 5.0], [7.0, 2.0]]).min(axis=1).numpy()
        array([1., 2.])
        """
        return -(-self).max(axis, keepdims)

    def exp(self) -> Tensor:
        """e ** x."""
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        """Natural logarithm."""
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        """Square root."""
        return ops.Sqrt.apply(self)

    def abs(self) -> Tensor:
        """Absolute value (gradient sign(x), 0 at 0); ``abs(t)`` too."""
        return ops.Abs.apply(self)

    __abs__ = abs

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        return ops.Tanh.apply(self)

    def sin(self) -> Tensor:
        """sin x;  d/dx = cos x.

        >>> Tensor([0.0, np.pi / 2]).sin().numpy()
        array([0., 1.])
        """
        return ops.Sin.apply(self)

    def cos(self) -> Tensor:
        """cos x;  d/dx = -sin x.

        >>> Tensor([0.0, np.pi]).cos().numpy()
        array([ 1., -1.])
        """
        return ops.Cos.apply(self)

    def log1p(self) -> Tensor:
        """ln(1 + x), accurate for tiny x;  d/dx = 1 / (1 + x).

        >>> float(Tensor(1e-20).log1p().data)
        1e-20
        """
        return ops.Log1p.apply(self)

    def expm1(self) -> Tensor:
        """e^x - 1, accurate for tiny x;  d/dx = e^x.

        >>> float(Tensor(1e-20).expm1().data)
        1e-20
        """
        return ops.Expm1.apply(self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + e^-x), computed without overflow."""
        return ops.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        """max(x, 0)."""
        return ops.ReLU.apply(self)

    def clip(self, lo: float | None, hi: float | None) -> Tensor:
        """Values limited to [lo, hi]; the gradient is zero where a limit applies.

        >>> Tensor([-2.0, 0.5, 3.0]).clip(-1, 1).numpy()
        array([-1. ,  0.5,  1. ])
        """
        return ops.Clip.apply(self, lo=lo, hi=hi)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """The same values in a new shape (``-1`` infers one axis).

        >>> Tensor([1.0, 2.0, 3.0, 4.0]).reshape(2, 2).shape
        (2, 2)
        """
        if len(shape) == 1 and not isinstance(shape[0], int | np.integer):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """Permute the axes (reverse them when none are given), as ``np.transpose``."""
        if len(axes) == 1 and not isinstance(axes[0], int | np.integer):
            axes = tuple(axes[0])
        if axes and sorted(a % max(self.ndim, 1) for a in axes) != list(range(self.ndim)):
            raise ValueError(
                f"transpose: axes {tuple(axes)} are not a permutation of the {self.ndim} axes "
                f"of a tensor of shape {self.shape}"
            )
        # why: normalised, so backward's inverse permutation is right for negative axes too
        return ops.Transpose.apply(self, axes=tuple(a % self.ndim for a in axes) or None)

    @property
    def T(self) -> Tensor:
        """The axes reversed."""
        return ops.Transpose.apply(self, axes=None)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        """A broadcast view of ``shape``; its gradient is summed back."""
        return ops.BroadcastTo.apply(self, shape=tuple(shape))

    def astype(self, dtype: DTypeLike) -> Tensor:
        """The values converted to ``dtype``; the gradient is converted back."""
        return ops.Cast.apply(self, dtype=np.dtype(dtype))


class Op:
    """One differentiable primitive: ``forward`` on arrays, ``backward`` on Tensors.

    Subclasses set their settings as keyword arguments of ``apply`` (they become
    attributes), read their inputs as ``self.inputs`` in ``backward`` and return
    one gradient Tensor (or None: no gradient needed) per input. The engine sums a
    broadcast gradient back to the input's shape and dtype.
    """

    # why: slots keep a recorded op small; settings and saved buffers go to __dict__
    __slots__ = ("inputs", "output", "__dict__")
    inputs: tuple[Tensor, ...] | None
    output: Callable[[], Tensor | None]  # set only where the class says keeps_output
    keeps_output = False  # True for ops whose backward reads their result (exp, tanh, ...)

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, gy: Tensor) -> Tensor | None | tuple[Tensor | None, ...]:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **settings: Any) -> Tensor:
        op = cls.__new__(cls)
        if settings:
            op.__dict__.update(settings)
        inputs = args
        for a in args:
            if not isinstance(a, Tensor):
                inputs = as_operands(args)
                break
        out = Tensor.__new__(Tensor)
        y = op.forward(*[x.data for x in inputs])
        out.data = y if type(y) is np.ndarray else np.asarray(y)  # why: 0-d stays an array
        out.grad = out.name = out.creator = None
        out._version = _clock
        out.requires_grad = False
        if _grad_enabled:
            for x in inputs:
                if x.requires_grad:
                    out.requires_grad, out.creator = True, op
                    op.inputs = inputs
                    if cls.keeps_output:
                        op.output = weakref.ref(out)
                    break
        if observer is not None:
            observer.forward(op, inputs, out)
        return out

    def __getattr__(self, name: str) -> Any:  # why: runs only when a lookup failed
        if name == "output":
            raise AttributeError(
                f"{type(self).__name__}.output() exists only when the class sets "
                f"keeps_output = True; add that line to the class (or recompute from inputs)"
            )
        raise AttributeError(f"{type(self).__name__!r} op has no attribute {name!r}")

    def free(self) -> None:
        """Drop the inputs and saved buffers; a later backward through here is an error."""
        self.inputs = None
        saved = self.__dict__
        if saved:
            saved.clear()

    def __repr__(self) -> str:
        return type(self).__name__


def as_operands(args: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Wrap non-Tensor operands as constants; a Python scalar takes its partner's dtype."""
    like = next((a.data.dtype for a in args if isinstance(a, Tensor)), None)
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif type(a) is np.ndarray:  # why: the common case (a batch of data), checked first
            out.append(Tensor(a))
        elif like is not None and isinstance(a, int | float | np.number) and type(a) is not bool:
            # why: NEP 50 — a Python scalar must not upcast float32 (np.asarray(2.0) is float64);
            # a NumPy scalar (np.float64(2.0)) is taken as the Python scalar it holds
            scalar = a.item() if isinstance(a, np.generic) else a
            out.append(Tensor(np.asarray(a, dtype=np.result_type(like, scalar))))
        else:
            out.append(Tensor(a))
    return tuple(out)


def as_tensor(x: Any) -> Tensor:
    """``x`` itself if it is a Tensor (its graph kept), else a constant wrapping it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def values_of(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _axes(axis: int | Sequence[int] | None) -> tuple[int, ...] | None:
    if axis is None:
        return None
    return (axis,) if isinstance(axis, int | np.integer) else tuple(axis)


# --- the topological sort: one, iterative, shared by backward, nn.Graph and viz -------------
def toposort(roots: Iterable[Any], parents: Callable[[Any], Iterable[Any]]) -> list[Any]:
    """Every node reachable from ``roots``, each after all of its parents.

    Iterative depth-first search (no recursion limit), deterministic: parents are
    visited in the order ``parents`` gives them. Nodes are told apart by identity (their
    hash must be ``object.__hash__``, as Tensor's is). Raises ``ValueError`` on a cycle.
    """
    order: list[Any] = []
    state: dict[Any, bool] = {}  # node -> False while on the stack, True when done
    for root in roots:
        if root in state:
            continue
        state[root] = False
        stack = [(root, iter(parents(root)))]
        while stack:
            node, pending = stack[-1]
            for parent in pending:
                seen = state.get(parent)
                if seen is None:
                    state[parent] = False
                    stack.append((parent, iter(parents(parent))))
                    break
                if seen is False:
                    raise ValueError(f"the graph has a cycle through {parent!r}")
            else:
                stack.pop()
                state[node] = True
                order.append(node)
    return order


def _graph_parents(t: Tensor) -> tuple[Tensor, ...]:
    op = t.creator
    if op is None:
        return ()
    if op.inputs is None:
        raise RuntimeError(
            "this graph was freed by an earlier backward(); call that backward("
            "retain_graph=True) (or mg.grad(..., retain_graph=True)) to go through it twice"
        )
    return op.inputs  # why: constants among them are leaves; backward skips them cheaply


# --- backward ---------------------------------------------------------------------------------
def _seed_grad(
    t: Tensor, grad: ArrayLike | Tensor | None, what: str = "grad"
) -> np.ndarray | Tensor:
    """The gradient that starts a backward at ``t``: ones for a scalar, else ``grad`` checked.

    A Tensor ``grad`` (from ``mg.grad``) stays one, so ``create_graph`` sees through it.
    """
    if grad is None:
        if t.size != 1:
            raise ValueError(
                f"backward() on a tensor of shape {t.shape} needs grad=...; pass "
                f"grad=np.ones({t.shape}) or call .sum() first"
            )
        return np.ones_like(t.data)
    if isinstance(grad, Tensor):
        g = grad if grad.dtype == t.dtype else grad.astype(t.dtype)
    else:  # why: a copy, so .grad never aliases user data
        g = np.array(grad, dtype=t.dtype)
    if g.shape != t.shape:
        raise ValueError(
            f"{what} has shape {g.shape} but the tensor has shape {t.shape}; they must match"
        )
    return g


def sum_to(g: Tensor, shape: tuple[int, ...], op: Op | None = None) -> Tensor:
    """Sum a broadcast gradient back to ``shape``: over added leading axes, then size-1 axes."""
    lead = g.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, g.shape[lead:], strict=True)):
        raise RuntimeError(  # why: a wrong backward must fail loudly, never give a wrong grad
            f"{op!r} backward returned a gradient of shape {g.shape} for an input of shape "
            f"{shape}; it cannot be summed back to that shape"
        )
    if lead:
        g = g.sum(tuple(range(lead)))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(ones, keepdims=True) if ones else g


def _backprop(
    roots: Sequence[Tensor],
    seeds: Sequence[np.ndarray | Tensor],
    retain_graph: bool,
    create_graph: bool,
    targets: set[Tensor] | None = None,
) -> dict[Tensor, Tensor]:
    """Run every recorded backward once, in reverse topological order.

    With ``targets`` None the gradients accumulate into the leaves' ``.grad``;
    otherwise each target's gradient is returned by target and ``.grad`` is untouched.
    """
    order = toposort(roots, _graph_parents)
    grads: dict[Tensor, Tensor] = {}  # why: Tensors hash by identity, like id() but cheaper
    found: dict[Tensor, Tensor] = {}
    grads_in_use: set[int] = set()  # why: ids of arrays that a leaf's .grad already is
    global _grad_enabled
    previous = _grad_enabled
    if observer is not None and hasattr(observer, "backward_pass"):
        observer.backward_pass(True)
    try:
        for root, seed in zip(roots, seeds, strict=True):  # under the caller's grad mode
            seed = as_tensor(seed)
            grads[root] = grads[root] + seed if root in grads else seed
        # why: set as _GradMode would, without a context-manager object per backward
        _grad_enabled = create_graph
        while order:  # why: popping lets each tensor go as soon as its gradient has flowed
            node = order.pop()
            g = grads.pop(node, None)
            if g is None:
                continue
            if targets is not None and node in targets:
                found[node] = g
            op = node.creator
            if op is None:
                if targets is None:
                    _accumulate(node, g.data, grads_in_use)
                continue
            if observer is not None and hasattr(observer, "before_backward"):
                observer.before_backward(op, g)
            gxs = op.backward(g)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if observer is not None:
                observer.backward(op, g, gxs)
            for x, gx in zip(op.inputs, gxs, strict=True):
                if gx is None or not x.requires_grad:
                    continue
                if x._version > node._version:
                    _stale(op, x)
                if gx.data.shape != x.data.shape:
                    gx = sum_to(gx, x.data.shape, op)
                if gx.data.dtype != x.data.dtype:
                    gx = gx.astype(x.data.dtype)
                old = grads.get(x)
                # why: an op, so observers see it; it records only under create_graph
                grads[x] = gx if old is None else old + gx
            if not retain_graph:
                op.free()
    finally:
        _grad_enabled = previous
        if observer is not None and hasattr(observer, "backward_pass"):
            observer.backward_pass(False)
    return found


def _stale(op: Op, x: Tensor) -> None:
    raise RuntimeError(
        f"an input of shape {x.shape} of {op!r} was changed in place after {op!r} used it "
        f"(by an optimizer step, an assignment to a parameter or an in-place operator), so "
        f"its gradient would come from the new values; call backward() before changing "
        f"parameters, or run the forward pass again"
    )


def _accumulate(leaf: Tensor, g: np.ndarray, grads_in_use: set[int]) -> None:
    if observer is not None and hasattr(observer, "accumulate"):  # mg.compile records it
        observer.accumulate(leaf, g)
    if leaf.grad is not None:
        leaf.grad = np.asarray(leaf.grad + g)  # why: a 0-d sum is a NumPy scalar otherwise
    elif g.flags.owndata and g.flags.writeable and id(g) not in grads_in_use:
        leaf.grad = g
    else:  # why: a view or an array given to another leaf too must not alias its .grad
        leaf.grad = g.copy()
    grads_in_use.add(id(leaf.grad))


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: ArrayLike | Tensor | Sequence[Any] | None = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> list[Tensor]:
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned, not accumulated into ``.grad``.

    With ``create_graph=True`` the backward pass is itself recorded, so the results
    can be differentiated again (second and higher derivatives).

    >>> x = Tensor(3.0, requires_grad=True)
    >>> (dx,) = grad(x**3, [x], create_graph=True)
    >>> (ddx,) = grad(dx, [x])
    >>> float(dx.data), float(ddx.data)
    (27.0, 18.0)
    """
    single = isinstance(outputs, Tensor)
    outputs = [outputs] if single else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif single and not (isinstance(grad_outputs, list | tuple) and len(grad_outputs) == 1):
        grad_outputs = [grad_outputs]  # why: one output takes its gradient bare or in a list
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs; pass one each"
        )
    for x in inputs:
        if not isinstance(x, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(x).__name__}")
    roots, seeds = [], []
    for y, gy in zip(outputs, grad_outputs, strict=True):
        if not y.requires_grad:
            continue  # why: it does not depend on any input; its gradient is zero
        roots.append(y)
        seeds.append(_seed_grad(y, gy, "grad_outputs"))
    keep = create_graph if retain_graph is None else retain_graph
    found = _backprop(roots, seeds, keep, create_graph, set(inputs)) if roots else {}
    # why: looked up by input, so an input listed twice gets its gradient at both places
    return [found[x] if x in found else Tensor(np.zeros_like(x.data)) for x in inputs]


from minigrad import ops  # noqa: E402  (ops subclass Op, defined above)

__all__ = ["Tensor", "Op", "grad", "no_grad", "enable_grad", "is_grad_enabled", "toposort"]
