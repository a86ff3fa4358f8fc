"""Plain SGD written out: ``p -= lr * grad`` for every parameter, in the plan itself.

When a traced ``opt.step()`` is a plain SGD step (no momentum, weight decay or gradient hook)
on gradients the plan computed, the plan updates the parameters itself instead of calling
``opt.step()``. It checks first, as the optimizer does, that every gradient is finite (one sum
of squares: NaN and inf survive it), and otherwise hands the step to the optimizer, which
then skips and warns exactly as it would eagerly.

Where every gradient is one matrix product of the plan (an Affine's or a MatMul's), the
products are written into one flat array of the plan's (``FlatGradients``), so the finiteness
check is one ``np.vdot`` and, for small networks, ``lr * grad`` is one multiply. The plan
reuses that array from call to call only while nothing outside it still holds a gradient
of the last call (a ``.grad`` kept in a list, a view of one): otherwise it starts a new one,
so a gradient handed out is never overwritten.
"""

# ruff: noqa: UP031  (the templates hold {0}-style slots, so % fills in the rest)
from __future__ import annotations

import math
import re
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad.compile.codegen import Statement, Var
from minigrad.tensor import mark_written

if TYPE_CHECKING:
    from minigrad.compile.tracer import Tracer

FUSED_BYTES = 128 * 1024  # why: above this, a second flat array costs memory and saves nothing
# why: reference counts tell who holds an array only where one lock guards them all
REUSE = getattr(sys, "_is_gil_enabled", lambda: True)()
_PRODUCT = re.compile(r"\{0\} = np\.dot\((.*)\)")


class PlainSGD:
    """True while an SGD optimizer still does ``p -= lr * grad`` as the plan writes it."""

    def __init__(self, dtypes: list[np.dtype]) -> None:
        self.dtypes = dtypes  # the parameters' dtypes

    def __call__(self, opt: Any) -> bool:
        lr = opt.lr
        # why: eagerly a Python number is rounded to the parameter's dtype, but a NumPy
        # number of another dtype (np.float64 with float32 weights) computes lr * grad in its own
        weak = type(lr) in (float, int) or all(getattr(lr, "dtype", None) == d for d in self.dtypes)
        return (
            weak and not opt.momentum and not opt.weight_decay and "prepare_grads" not in vars(opt)
        )


class FlatGradients:
    """One flat array whose views are the gradients; ``take()`` gives this call's views."""

    def __init__(self, shapes: list[tuple[int, ...]], dtype: np.dtype, fused: bool) -> None:
        self.shapes, self.dtype, self.fused = shapes, dtype, fused
        self._new()

    def _new(self) -> None:
        sizes = [math.prod(s) for s in self.shapes]
        ends = np.cumsum(sizes).tolist()
        self.flat = np.empty(ends[-1] if ends else 0, dtype=self.dtype)
        self.views = tuple(
            self.flat[end - size : end].reshape(shape)
            for end, size, shape in zip(ends, sizes, self.shapes, strict=True)
        )
        self.scaled = np.empty_like(self.flat) if self.fused else None
        self.steps = (
            tuple(
                self.scaled[end - size : end].reshape(shape)
                for end, size, shape in zip(ends, sizes, self.shapes, strict=True)
            )
            if self.fused
            else ()
        )
        self.counts = self._counts()  # why: measured, not assumed: CPython versions differ

    def _counts(self) -> list[int]:
        return [sys.getrefcount(self.flat), *map(sys.getrefcount, self.views)]

    def take(self) -> tuple[np.ndarray, ...]:
        """The views to write this call's gradients into: new ones if any is still held."""
        if not REUSE or self._counts() != self.counts:
            self._new()
        return self.views


def emit_plain_sgd(tr: Tracer, opt: Any, name: str, kept: list[tuple[Any, Var]]) -> None:
    """Emit the plain SGD step of ``opt`` for ``kept``: (parameter, gradient variable) pairs."""
    pairs = [(tr.value(p), g) for p, g in kept]
    store = _flat_store(tr, kept)
    n = len(pairs)
    dtypes = list(dict.fromkeys(p.data.dtype for p, _ in kept))
    lrs = {d: "lr" if len(dtypes) == 1 else f"lr_{d.name}" for d in dtypes}
    # why: lr as a 0-d array of the parameter's dtype, as `lr * grad` rounds it eagerly, spares
    # converting a Python float in every product
    rates = "".join(
        f"\n    {lrs[d]} = np.asarray({name}.lr, dtype={tr.ns_name(d, d.name)})" for d in dtypes
    )
    if store is None:
        squares = "sum_of_squares(%s)" % ", ".join("{%d}" % (n + i) for i in range(n))
    else:
        squares = f"np.vdot({store}.flat, {store}.flat)"
    if store is not None and tr.ns[store].fused:
        updates = (
            f"\n    np.multiply({store}.flat, lr, out={store}.scaled)  # every lr * grad at once"
            f"\n    steps = {store}.steps"
        ) + "".join("\n    {%d} -= steps[%d]" % (i, i) for i in range(n))
    else:
        updates = "".join(
            "\n    {%d} -= %s * {%d}" % (i, lrs[p.data.dtype], n + i)
            for i, (p, _) in enumerate(kept)
        )
    tensors = [tr.global_var(p, tr.holder(p)) for p, _ in kept]
    written = ", ".join("{%d}" % (2 * n + i) for i in range(n))
    code = (
        f"squares = {squares}  # NaN and inf survive it\n"
        f"if not plain_sgd({name}) or {name}.check_finite and not isfinite(squares):\n"
        f"    {name}.step()  # as it would without mg.compile (it may skip and warn)\n"
        f"else:  # p -= lr * grad\n"
        f"    {name}.t += 1{rates}{updates}\n"
        f"    mark_written({written})  # a graph recorded before the update is stale"
    )
    tr.ns["sum_of_squares"] = sum_of_squares
    tr.ns["plain_sgd"] = PlainSGD(dtypes)
    tr.ns["isfinite"] = math.isfinite
    tr.ns["mark_written"] = mark_written
    uses = [p for p, _ in pairs] + [g for _, g in pairs] + tensors
    tr.emit_now(code, [], uses, effect=True)


def _flat_store(tr: Tracer, kept: list[tuple[Any, Var]]) -> str | None:
    """Write the gradients' products into one FlatGradients; its name, or None if they can't."""
    where = {id(v): i for i, s in enumerate(tr.stmts) for v in s.defs}
    places = [where.get(id(g)) for _, g in kept]
    dtypes = {p.data.dtype for p, _ in kept}
    if not kept or None in places or len(dtypes) != 1 or len(set(places)) != len(places):
        return None
    stmts = [tr.stmts[i] for i in places]
    if not all(
        _PRODUCT.fullmatch(s.code) and "out=" not in s.code and len(s.defs) == 1 and s.alt is None
        for s in stmts
    ):  # why: a product written into an array already (a second step of the same parameter)
        return None
    shapes = [p.data.shape for p, _ in kept]
    dtype = dtypes.pop()
    fused = sum(math.prod(s) for s in shapes) * dtype.itemsize <= FUSED_BYTES
    store = tr.ns_name(FlatGradients(shapes, dtype, fused), "flat_gradients")
    views = Var("gradient_views", "temp")
    for k, s in enumerate(stmts):
        s.code = s.code[:-1] + ", out={%d}[%d])" % (len(s.vars), k)
        s.vars.append(views)
        s.uses.append(views)
    first = min(places)
    header = tr.stmts[first].header
    tr.stmts.insert(first, Statement(f"{{0}} = {store}.take()", [views], [], False, header))
    return store


def sum_of_squares(*grads: np.ndarray) -> Any:
    """g.g summed over the gradients: finite exactly when every value is (or an overflow)."""
    return sum(map(np.vdot, grads, grads))
