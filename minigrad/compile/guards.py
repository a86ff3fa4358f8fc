"""What a plan depends on: the key it is stored under and the facts about each layer it called.

A plan is keyed by the arguments' shapes and dtypes and the grad mode (``plan_key``). Each
call checks one number, ``nn.layer.structure_version``; when it moved, the plan compares
every layer it called with what it saw (``LayerFacts``) and is traced again if any differ.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad.tensor as engine
from minigrad.nn import layer as nn_layer
from minigrad.tensor import Tensor


def plan_key(args: tuple) -> tuple:
    key: list[Any] = [engine.is_grad_enabled()]
    for i, a in enumerate(args):
        if type(a) is np.ndarray:
            key.append((a.shape, a.dtype))
        elif isinstance(a, Tensor):
            key.append((a.data.shape, a.data.dtype, a.requires_grad, type(a)))
        elif type(a) in (float, np.float64, np.float32, np.float16):  # -0.0 == 0.0, NaN != NaN
            key.append((type(a), float(a).hex()))  # why: exact for these; not for longdouble
        elif a is None or isinstance(a, bool | int | float | str | np.number):
            key.append((type(a), a))  # why: a Python value is baked into the plan
        else:
            raise TypeError(
                f"compiled function: argument {i} is a {type(a).__name__}; pass NumPy arrays, "
                f"Tensors or numbers (put layers and optimizers in the function's closure)"
            )
    return tuple(key)


class Plan:
    """A compiled plan and the facts it depends on."""

    def __init__(
        self,
        function: Callable,
        source: str,
        guards: list[LayerFacts],
        made: list[tuple[np.ndarray, str]],
        args: tuple,
    ) -> None:
        self.function = function
        self.source = source
        self.guards = guards
        self.version = nn_layer.structure_version[0]
        # the arrays made with NumPy during the trace that the plan keeps as constants: not
        # confirmed until a trace on other arguments made the same ones
        self.unconfirmed = made
        self.arguments = [_array_of(a) for a in args] if made else []
        # the optimizers' parameter lists the plan bakes in, and the tensors they held
        self.param_lists: list[tuple[list, tuple]] = []
        # (closure cell, None) or (globals, name), and the object the name had at the trace
        self.bindings: list[tuple[Any, str | None, Any]] = []
        self.numbers: list[tuple[Any, str | None, Any]] = []  # as bindings: numbers baked in
        self.watched: tuple[Tensor, ...] = ()  # the tensors it reads by name: which need grad
        self.flags: tuple[bool, ...] = ()

    def watch(self, tensors: list[Tensor]) -> None:
        tensors = list({id(t): t for t in tensors}.values())
        self.watched = tuple(tensors)
        self.flags = tuple(t.requires_grad for t in tensors)

    def still_bound(self) -> bool:
        """The checks of every call: the same parameter lists, the same tensors requiring
        grad (frozen ones stay frozen), and every name of fn bound to the same object."""
        for ps, held in self.param_lists:
            if len(ps) != len(held) or not all(map(operator.is_, ps, held)):
                return False
        if tuple(map(_REQUIRES_GRAD, self.watched)) != self.flags:
            return False
        try:
            # why: a closure cell (item None) or the globals, read inline: this runs every call
            return all(
                [(w.cell_contents if k is None else w[k]) is o for w, k, o in self.bindings]
            ) and all(
                [_same(w.cell_contents if k is None else w[k], v) for w, k, v in self.numbers]
            )
        except (KeyError, ValueError):  # a global deleted, a closure cell emptied
            return False

    def same_arguments(self, args: tuple) -> bool:
        return len(args) == len(self.arguments) and all(
            _same_array(_array_of(a, copy=False), b)
            for a, b in zip(args, self.arguments, strict=True)
        )

    def confirm(self, earlier: Plan) -> None:
        """Take the constants as the plan's own if ``earlier`` (traced on other arguments)
        made the same arrays; an array that changed with the arguments is an error."""
        if not self.unconfirmed:
            return
        if len(self.arguments) == len(earlier.arguments) and all(
            map(_same_array, self.arguments, earlier.arguments)
        ):
            return  # why: the same arguments again tell nothing; wait for new ones
        if len(self.unconfirmed) == len(earlier.unconfirmed):
            changed = [
                where
                for (now, where), (before, _) in zip(
                    self.unconfirmed, earlier.unconfirmed, strict=True
                )
                if not _same_array(now, before)
            ]
        else:
            changed = [where for _, where in self.unconfirmed]
        if changed:
            raise RuntimeError(
                f"mg.compile: {changed[0]} was made with NumPy from the values of the "
                f"arguments (it changed when they did), so a plan cannot make it again; make "
                f"it with Tensor ops, or pass it as an argument"
            )
        self.unconfirmed, self.arguments = [], []

    def still_valid(self) -> bool:
        if all(g.holds() for g in self.guards):
            self.version = nn_layer.structure_version[0]
            return True
        return False


_REQUIRES_GRAD = operator.attrgetter("requires_grad")


def _array_of(a: Any, copy: bool = True) -> Any:
    if isinstance(a, Tensor):
        a = a.data
    return np.array(a, copy=copy) if isinstance(a, np.ndarray) else a


def _same_array(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return type(a) is type(b) and a == b


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return type(a) is type(b) and isinstance(a, bool | int | float | str | tuple) and a == b


class LayerFacts:
    """What a plan assumed of one layer it called: mode, members, settings, shapes."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.training = layer.training
        self.members = list(layer._members.items())
        skip = {"_members", "_buffers", "training", *layer._members, *layer._buffers}
        self.settings = {k: v for k, v in vars(layer).items() if k not in skip}
        self.shapes = [(p, p.data.shape, p.data.dtype) for p in self.params()]

    def params(self) -> list[Any]:
        return [m for _, m in self.members if isinstance(m, Tensor)]

    def holds(self) -> bool:
        layer = self.layer
        if layer.training != self.training:
            return False
        now = list(layer._members.items())
        if len(now) != len(self.members) or any(
            n1 != n2 or m1 is not m2 for (n1, m1), (n2, m2) in zip(now, self.members, strict=True)
        ):
            return False
        values = vars(layer)
        if any(not _same(values.get(k, MISSING), v) for k, v in self.settings.items()):
            return False
        return all(p.data.shape == s and p.data.dtype == d for p, s, d in self.shapes)


MISSING = object()
