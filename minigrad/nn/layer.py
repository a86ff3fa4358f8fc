"""Layer and Parameter: reusable blocks that own named parameters.

A subclass writes ``forward``; assigning a ``Parameter`` or a ``Layer`` to an
attribute registers it, in assignment order, so ``named_parameters()`` finds every
parameter by its dotted name (``"affine1.W"``) without hand-written bookkeeping. A list,
tuple or dict of layers is refused rather than silently left out (use ``nn.Sequential``, or
one attribute each), and ``del layer.name`` takes a member or buffer out again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

import minigrad.tensor as _engine
from minigrad.ops import effect, forget_grads
from minigrad.state_dict import like_array, validate_state_dict
from minigrad.tensor import Tensor, mark_written

# why: bumped by every change a compiled plan depends on (members, modes, dtypes, state), so a
# plan checks one number per call; mg.compile's guards then look at what changed
structure_version = [0]


class Parameter(Tensor):
    """A float Tensor with ``requires_grad=True``: what layers learn.

    >>> Parameter(np.zeros(3)).requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: ArrayLike) -> None:
        super().__init__(data, requires_grad=True)


def _assign_values(layer: Layer, name: str, p: Parameter, value: Any) -> None:
    """``layer.W = array_or_tensor``: copy the values into the Parameter ``W`` in place."""
    if isinstance(value, Tensor):
        value = value.data  # why: the values only; a parameter is a leaf of every graph
    where = f"{type(layer).__name__}.{name}"
    try:
        values = np.asarray(value)
    except Exception as err:  # why: ragged lists and the like
        raise TypeError(f"cannot assign {type(value).__name__} to parameter {where}") from err
    if values.dtype.kind not in "biuf":
        raise TypeError(
            f"cannot assign {type(value).__name__} of dtype {values.dtype} to parameter {where} "
            f"({p.dtype}); assign real numbers, or an nn.Parameter to replace it"
        )
    if values.shape != p.shape:
        raise ValueError(
            f"cannot assign values of shape {values.shape} to parameter {where} of shape "
            f"{p.shape}; assign nn.Parameter(values) to replace it with another shape"
        )
    p.data[...] = values  # why: cast to the parameter's dtype, as load_state_dict does
    mark_written(p)


def _buffer_value(layer: Layer, name: str, value: Any) -> np.ndarray:
    """A new value for buffer ``name``: an array of the buffer's shape, cast to its dtype (as
    parameters and ``load_state_dict`` are), from an array, a list or a Tensor's values."""
    values = np.asarray(value.data if isinstance(value, Tensor) else value)
    current = getattr(layer, name)
    if values.shape != current.shape or values.dtype.kind not in "biuf":
        raise ValueError(
            f"cannot assign {values.dtype} values of shape {values.shape} to buffer "
            f"{type(layer).__name__}.{name} ({current.dtype}, shape {current.shape}); "
            f"assign an array of shape {current.shape}, or call "
            f"register_buffer({name!r}, value) to give it another shape"
        )
    # why: a float32 layer keeps float32 statistics, and integer lists do not make them int64
    return values.astype(current.dtype, copy=False)


def _unregistered(layer: Layer, value: Any) -> tuple[str, Any] | None:
    """The first Layer or Parameter inside a list, tuple, set or dict ``value`` that ``layer``
    does not already own, with where it sits (``[2]``, ``['head']``); None if there is none."""
    owned = None
    pending = [("", value)]
    seen: set[int] = set()
    while pending:
        where, item = pending.pop()
        if isinstance(item, Parameter | Layer):
            if owned is None:
                owned = {id(member) for _, member in layer._walk()}
            if id(item) not in owned:
                return where, item
        elif isinstance(item, list | tuple | set | frozenset | dict) and id(item) not in seen:
            seen.add(id(item))
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            pending.extend((f"{where}[{key!r}]", part) for key, part in reversed(list(pairs)))
    return None


def _symbolic_in(items: tuple | list) -> Symbolic | None:
    """The first symbolic node inside a nested tuple or list, or None."""
    for item in items:
        found = item if isinstance(item, Symbolic) else None
        if isinstance(item, tuple | list):
            found = _symbolic_in(item)
        if found is not None:
            return found
    return None


class Symbolic:
    """Base of ``nn.Input``'s nodes: calling a layer on one builds a graph instead of running."""

    __slots__ = ()

    def _call_layer(self, layer: Layer, args: tuple, kwargs: dict) -> Any:
        raise NotImplementedError


class Layer:
    """Base class of every layer and network.

    >>> class Scale(Layer):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.k = Parameter(np.array([2.0]))
    ...     def forward(self, x):
    ...         return x * self.k
    >>> Scale()(Tensor([1.0, 3.0])).numpy()
    array([2., 6.])
    >>> [name for name, _ in Scale().named_parameters()]
    ['k']
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_members", {})  # name -> Parameter | Layer, in order
        object.__setattr__(self, "_buffers", {})  # name -> ndarray (state, not learned)
        self.training = True

    def __setattr__(self, name: str, value: Any) -> None:
        members = self.__dict__.get("_members")
        if members is None:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"assigning attributes (assigning {name!r})"
            )
        if name not in self._buffers:
            structure_version[0] += 1
        if isinstance(value, Parameter | Layer):
            self._buffers.pop(name, None)
            members[name] = value  # a reassigned name keeps its place in the order
        elif isinstance(members.get(name), Parameter) and value is not None:
            _assign_values(self, name, members[name], value)
            return  # why: the same Parameter object, so optimizers and checkpoints keep it
        elif name in self._buffers:
            value = _buffer_value(self, name, value)
        else:
            if isinstance(value, list | tuple | set | frozenset | dict):
                self._refuse_hidden_members(name, value)
            members.pop(name, None)
        object.__setattr__(self, name, value)

    def _refuse_hidden_members(self, name: str, value: Any) -> None:
        found = _unregistered(self, value)
        if found is None:
            return
        where, item = found
        kind = "layer" if isinstance(item, Layer) else "parameter"
        raise TypeError(
            f"{type(self).__name__}.{name}: a {type(value).__name__} holding a {kind} "
            f"({type(item).__name__} at {name}{where}) is not registered, so parameters(), "
            f"state_dict(), train()/eval() and optimizers would not see it; use "
            f"nn.Sequential(*layers) for a chain, or register each as its own attribute "
            f"(setattr(self, f'block{{i}}', layer))"
        )

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        structure_version[0] += 1
        # why: a deleted member or buffer leaves parameters(), state_dict() and the order
        self.__dict__["_members"].pop(name, None)
        self.__dict__["_buffers"].pop(name, None)

    def register_buffer(self, name: str, value: ArrayLike) -> None:
        """Keep ``value`` as state: saved in ``state_dict()``, converted by ``astype``.

        Later assignments to ``self.<name>`` keep it a buffer of its shape and dtype;
        registering the name again replaces it with any shape and dtype.

        >>> layer = Layer()
        >>> layer.register_buffer("counts", np.zeros(3))
        >>> layer.register_buffer("counts", np.zeros(5, dtype=np.int64))
        >>> layer.state_dict()["counts"]
        array([0, 0, 0, 0, 0])
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"register_buffer needs an attribute name (a str), got {name!r}")
        values = np.asarray(value.data if isinstance(value, Tensor) else value)
        if values.dtype.kind not in "biuf":
            raise TypeError(
                f"buffer {type(self).__name__}.{name} must hold real numbers, got "
                f"{type(value).__name__} of dtype {values.dtype}; pass a numeric array"
            )
        # why: a new registration takes any shape and dtype, and replaces a member of that name
        self._buffers.pop(name, None)
        self._members.pop(name, None)
        self.__setattr__(name, values)
        self._buffers[name] = None  # why: the value lives in __dict__; this marks the name

    # --- running ---------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward(...)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for a in args:
            if isinstance(a, Symbolic):
                return a._call_layer(self, args, kwargs)
            if isinstance(a, tuple | list) and (node := _symbolic_in(a)) is not None:
                return node._call_layer(self, args, kwargs)  # why: e.g. an LSTM's (h, c) nodes
        if _engine.observer is not None and hasattr(_engine.observer, "call_layer"):
            return _engine.observer.call_layer(self, args, kwargs)  # mg.compile's tracer
        return self.forward(*args, **kwargs)

    # --- what it owns ----------------------------------------------------------------------
    def named_layers(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        """This layer and every sub-layer (each once), with dotted names; this one is ``""``."""
        yield prefix, self
        for name, member in self._walk(prefix):
            if isinstance(member, Layer):
                yield name, member

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, in assignment order; shared ones once."""
        seen: set[int] = set()
        for name, p in self._walk():
            if isinstance(p, Parameter) and id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self) -> list[Parameter]:
        """Every parameter, in the order of ``named_parameters()``."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer (running statistics and the like) with its dotted name."""
        for prefix, layer in self.named_layers():
            for name in layer._buffers:
                yield (f"{prefix}.{name}" if prefix else name), getattr(layer, name)

    def _walk(self, prefix: str = "") -> Iterator[tuple[str, Parameter | Layer]]:
        """Every member below this layer with its dotted name: depth first, in assignment
        order, each sub-layer once (a shared layer stays where it was first assigned)."""
        seen = {id(self)}
        stack = [(prefix, iter(self._members.items()))]
        while stack:
            base, pending = stack[-1]
            for name, member in pending:
                full = f"{base}.{name}" if base else name
                if not isinstance(member, Layer):
                    yield full, member
                elif id(member) not in seen:
                    seen.add(id(member))
                    yield full, member
                    stack.append((full, iter(member._members.items())))
                    break
            else:
                stack.pop()

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``.grad = None``)."""
        effect(forget_grads, self.parameters())

    # --- modes and dtype -------------------------------------------------------------------
    def train(self, mode: bool = True) -> Layer:
        """Training mode for this layer and every sub-layer; returns self."""
        structure_version[0] += 1
        for _, layer in self.named_layers():
            object.__setattr__(layer, "training", mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode (dropout off, running statistics used); returns self."""
        return self.train(False)

    def astype(self, dtype: DTypeLike) -> Layer:
        """Convert every parameter and float buffer to ``dtype`` in place; returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"astype needs a float dtype such as np.float32, got {dtype}")
        structure_version[0] += 1
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            mark_written(p)
            p.grad = None if p.grad is None else p.grad.astype(dtype)
        for _, layer in self.named_layers():
            for name in layer._buffers:
                value = getattr(layer, name)
                if value.dtype.kind == "f":
                    object.__setattr__(layer, name, value.astype(dtype))
        return self

    # --- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Name -> copy of every parameter and buffer."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update((name, np.array(b, copy=True)) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, ArrayLike]) -> None:
        """Copy values into the parameters and buffers, cast to each one's dtype.

        All or nothing: every missing, unexpected or mis-shaped entry is reported in one
        ``ValueError`` and nothing is changed.
        """
        targets: dict[str, tuple[Layer | None, Any]] = {}
        for name, p in self.named_parameters():
            targets[name] = (None, p)
        for prefix, layer in self.named_layers():
            for b in layer._buffers:
                targets[f"{prefix}.{b}" if prefix else b] = (layer, b)
        rules = {
            name: like_array(target.data if layer is None else getattr(layer, target))
            for name, (layer, target) in targets.items()
        }
        values = validate_state_dict(type(self).__name__, state, rules)
        structure_version[0] += 1
        for name, (layer, target) in targets.items():
            if layer is None:
                target.data[...] = values[name]  # why: in place, optimizers keep their refs
                mark_written(target)
            else:
                object.__setattr__(layer, target, values[name])

    # --- display ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Settings shown between the parentheses of ``repr``."""
        return ""

    def __repr__(self) -> str:
        subs = [(k, v) for k, v in self._members.items() if isinstance(v, Layer)]
        if not subs:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, layer in subs:
            body = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)
