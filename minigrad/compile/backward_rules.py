"""Backward rewrites: the backward of each op whose eager backward builds arrays from data
(ReLU's mask, the cross-entropy's probabilities, Max, Abs, Clip) or is hot (Affine, MatMul),
written as NumPy source from the op's inputs and output. Every other op's backward is replayed
from the ops it ran.
"""

# ruff: noqa: UP031  (the templates hold {0}-style slots, so % fills in the rest)
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from minigrad import ops
from minigrad.compile.codegen import Var, literal
from minigrad.tensor import Op

if TYPE_CHECKING:
    from minigrad.compile.tracer import Tracer


# backward: one function per op whose eager backward builds arrays from data, or is hot.
# Each gets the gradient variable, the forward's variables and which inputs need a gradient,
# and returns one variable (or None) per input. Every other op's backward is replayed from
# the ops it ran.
def _affine_backward(tr: Tracer, op: Op, g: Var, ins: list[Var], y: Var, need: list[bool]):
    x, w, b = ins
    gx = gw = gb = None
    if need[0]:
        gx = tr.temp(f"g_{x.hint}")
        tr.emit("{0} = np.dot({1}, {2}.T)", [gx], [g, w])
    if need[1]:
        gw = tr.temp(f"g_{w.hint}")
        tr.emit("{0} = np.dot({1}.T, {2})", [gw], [x, g])
    if need[2]:
        gb = tr.temp(f"g_{b.hint}")
        n = op.inputs[0].shape[0]
        ones = tr.array_constant(np.ones(n, dtype=op.inputs[2].dtype), "ones")
        # why: the column sums as one matrix-vector product, 2-3x faster than g.sum(axis=0)
        tr.emit("{0} = np.dot({1}, {2})", [gb], [ones, g])
    return [gx, gw, gb]


def _matmul_backward(tr: Tracer, op: Op, g: Var, ins: list[Var], y: Var, need: list[bool]):
    x, w = op.inputs
    if x.ndim != 2 or w.ndim != 2:
        return None  # why: the batched and 1-D cases are replayed from the ops backward ran
    gx = gw = None
    if need[0]:
        gx = tr.temp(f"g_{ins[0].hint}")
        tr.emit("{0} = np.dot({1}, {2}.T)", [gx], [g, ins[1]])
    if need[1]:
        gw = tr.temp(f"g_{ins[1].hint}")
        tr.emit("{0} = np.dot({1}.T, {2})", [gw], [ins[0], g])
    return [gx, gw]


def _relu_backward(tr: Tracer, op: Op, g: Var, ins: list[Var], y: Var, need: list[bool]):
    gx = tr.temp(f"g_{ins[0].hint}")
    zero = tr.constant(np.zeros((), dtype=op.inputs[0].dtype))
    tr.emit("{0} = {1} * ({2} > {3})", [gx], [g, y, zero])  # y > 0 exactly where x > 0
    tr.stmts[-1].alt = (g, "{0} = np.multiply({1}, {2} > {3}, out={1})")
    return [gx]


def _sce_backward(tr: Tracer, op: Op, g: Var, ins: list[Var], y: Var, need: list[bool]):
    x, t = op.inputs
    n, c = x.shape
    p = tr.saved[id(op)]
    gx = tr.temp(f"g_{ins[0].hint}")
    if g.kind == "global" and isinstance(tr.ns.get(g.name), np.ndarray):
        # backward() of the loss: its gradient 1 / N, computed once
        scale = tr.constant(np.asarray(tr.ns[g.name] / n), "one_over_n")
    else:
        scale = tr.temp("scale")
        tr.emit("{0} = {1} / %d" % n, [scale], [g])
    labelled = tr.saved.get(("labelled", id(op)))
    if t.ndim == 1 and labelled is not None:
        tr.emit(
            '{0} = np.multiply({1}, {2}, order="C")\n{0}.ravel()[{3}] -= {2}',
            [gx],
            [p, scale, labelled],
        )
        # why: the probabilities are C-ordered arrays of our own, so ravel() is a view
        tr.stmts[-1].alt = (p, "{0} = np.multiply({1}, {2}, out={1})\n{0}.ravel()[{3}] -= {2}")
    elif t.ndim == 1:
        rows = tr.array_constant(np.arange(0, n * c, c), "row_starts")
        tr.emit(
            '{0} = np.multiply({1}, {2}, order="C")\n{0}.ravel()[{3} + {4}] -= {2}',
            [gx],
            [p, scale, rows, ins[1]],
        )
    else:
        tr.emit(
            "{0} = {1} * ({3}.sum(axis=1, keepdims=True) * {2})\n{0} -= {3} * {2}",
            [gx],
            [p, scale, ins[1]],
        )
    gt = None
    if need[1]:  # soft targets that learn: -log softmax(x), recomputed exactly
        gt = tr.temp(f"g_{ins[1].hint}")
        tr.emit(
            "{0} = {2} - {2}.max(axis=1, keepdims=True)\n"
            "{0} = (np.log(np.exp({0}).sum(axis=1, keepdims=True)) - {0}) * {1}",
            [gt],
            [scale, ins[0]],
        )
    return [gx, gt]


def _max_backward(tr: Tracer, op: Op, g: Var, ins: list[Var], y: Var, need: list[bool]):
    (x,) = op.inputs
    keep = ops._keepdims_shape(x.shape, op.axis)
    mask, gx = tr.temp("mask"), tr.temp(f"g_{ins[0].hint}")
    dtype = tr.ns_name(x.dtype, x.dtype.name)
    tr.emit(
        "{0} = {2} == {3}.reshape(%r)\n"
        "{1} = {4}.reshape(%r) * (({0} / {0}.sum(axis=%r, keepdims=True)).astype(%s))"
        % (keep, keep, op.axis, dtype),
        [mask, gx],
        [ins[0], y, g],
    )
    return [gx]


def _abs_backward(tr: Tracer, op: Op, g: Var, ins: list[Var], y: Var, need: list[bool]):
    gx = tr.temp(f"g_{ins[0].hint}")
    tr.emit("{0} = {1} * np.sign({2})", [gx], [g, ins[0]])
    return [gx]


def _clip_backward(tr: Tracer, op: Op, g: Var, ins: list[Var], y: Var, need: list[bool]):
    gx = tr.temp(f"g_{ins[0].hint}")
    tests = []
    if op.lo is not None:
        tests.append(f"({{2}} >= {literal(op.lo, tr)})")
    if op.hi is not None:
        tests.append(f"({{2}} <= {literal(op.hi, tr)})")
    inside = " & ".join(tests) if tests else "True"
    tr.emit("{0} = {1} * (%s)" % inside, [gx], [g, ins[0]])
    return [gx]


BACKWARD_RULES: dict[type, Callable] = {
    ops.Affine: _affine_backward,
    ops.MatMul: _matmul_backward,
    ops.ReLU: _relu_backward,
    ops.SoftmaxCrossEntropy: _sce_backward,
    ops.Max: _max_backward,
    ops.Abs: _abs_backward,
    ops.Clip: _clip_backward,
}
