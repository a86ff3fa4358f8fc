"""Each op's forward as NumPy source: one emitter per op the plan writes out by hand.

An emitter gets the tracer, the op, the variables of its inputs and of its output, and emits
one statement. An op without one runs its own ``forward`` through ``run_forward``.
"""

# ruff: noqa: UP031  (the templates hold {0}-style slots, so % fills in the rest)
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad import ops
from minigrad.compile.codegen import Var, literal
from minigrad.compile.runtime import label_positions, softmax_cross_entropy
from minigrad.tensor import Op

if TYPE_CHECKING:
    from minigrad.compile.tracer import Tracer


def generic_forward(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
    name = tr.ns_name(type(op), type(op).__name__)
    settings, extra = _settings(tr, op)
    args = ", ".join("{%d}" % (i + 1) for i in range(len(ins)))
    tr.emit("{0} = forward(%s, %s%s)" % (name, args, settings), [y], ins + extra)


def _settings(tr: Tracer, op: Op) -> tuple[str, list[Var]]:
    extra: list[Var] = []
    n_inputs = len(tr.ops[id(op)][1])
    parts = []
    for key, value in op.__dict__.items():
        parts.append(f", {key}={_render(tr, value, extra, n_inputs, f'{op!r}')}")
    return "".join(parts), extra


def _render(tr: Tracer, value: Any, extra: list[Var], base: int, what: str) -> str:
    """Source text of an op setting; arrays become variables (an argument, a state read...)."""
    if isinstance(value, np.ndarray):
        extra.append(tr.array_value(value, f"the settings of {what}"))
        return "{%d}" % (base + len(extra))
    if isinstance(value, tuple):
        inner = [_render(tr, v, extra, base, what) for v in value]
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"
    if isinstance(value, slice):
        return "slice(%s)" % ", ".join(
            _render(tr, v, extra, base, what) for v in (value.start, value.stop, value.step)
        )
    if value is Ellipsis:
        return "..."
    if isinstance(value, np.generic):
        return tr.ns_name(value, "c")
    if isinstance(value, np.dtype):
        return tr.ns_name(value, value.name)
    if value is None or isinstance(value, bool | int | float | str):
        return literal(value, tr)
    return tr.ns_name(value, type(value).__name__.lower())


def _binary(symbol: str) -> Callable:
    def emit(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
        tr.emit("{0} = {1} %s {2}" % symbol, [y], ins)

    return emit


def _call(template: str) -> Callable:
    def emit(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
        tr.emit("{0} = " + template, [y], ins)

    return emit


def _with_settings(template: str, *names: str) -> Callable:
    def emit(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
        extra: list[Var] = []
        values = {n: _render(tr, getattr(op, n), extra, len(ins), repr(op)) for n in names}
        tr.emit("{0} = " + template.format(**values), [y], ins + extra)

    return emit


def _affine_forward(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
    # why: for 2-D arrays np.dot is matmul (the book's notation) without the ufunc overhead
    tr.emit("{0} = np.dot({1}, {2})\n{0} += {3}", [y], ins)


def _matmul_forward(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
    x, w = tr.inputs[id(op)]
    tr.emit("{0} = np.dot({1}, {2})" if x.ndim == w.ndim == 2 else "{0} = {1} @ {2}", [y], ins)


def _relu_forward(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
    zero = tr.constant(np.zeros((), dtype=tr.inputs[id(op)][0].dtype))
    tr.emit("{0} = np.maximum({1}, {2})", [y], [ins[0], zero])
    tr.stmts[-1].alt = (ins[0], "{0} = np.maximum({1}, {2}, out={1})")


def _sigmoid_forward(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
    half = tr.constant(np.asarray(0.5, dtype=tr.inputs[id(op)][0].dtype))
    tr.emit("{0} = np.tanh({1} * {2}) * {2} + {2}", [y], [ins[0], half])


def _sce_forward(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
    x, t = tr.inputs[id(op)]
    if t.ndim != 1 or x.ndim != 2:  # target rows: the op's own forward
        p = tr.temp("probabilities", op.p.nbytes)
        tr.ns["softmax_cross_entropy"] = softmax_cross_entropy
        tr.emit("{0}, {1} = softmax_cross_entropy({2}, {3})", [y, p], ins)
        tr.saved[id(op)] = p
        return
    n, c = x.shape
    # the op's forward written out, for integer labels
    z, e, s = (tr.temp(h, x.data.nbytes) for h in ("shifted", "probabilities", "row_sums"))
    s.nbytes = n * x.dtype.itemsize
    rows = tr.array_constant(np.arange(n), "rows")
    labelled = tr.temp("labelled", n * np.dtype(np.intp).itemsize)
    tr.ns["label_positions"] = label_positions
    # why: a max is exact in any order, and over few classes a reduction along the batch of a
    # transposed copy is several times faster than one along each short row
    row_max = "np.maximum.reduce({3}, axis=1, keepdims=True)"
    if c <= 16 and n >= 16:
        row_max = "np.maximum.reduce({3}.T.copy(), axis=0)[:, None]"
    means = tr.array_constant(np.full(n, 1 / n, dtype=x.dtype), "mean_weights")
    # why: the mean as a BLAS product with 1/N weights, faster than two sums and a division;
    # the row sums as the op sums them, so the probabilities are the eager ones, bit for bit
    tr.emit(
        "{7} = label_positions({4}, {6}, %d)  # row * %d + label, each checked\n"
        "{0} = {3} - %s\n"
        "{1} = np.exp({0})\n"
        "{2} = np.add.reduce({1}, axis=1, keepdims=True)\n"
        "{5} = np.asarray(np.vdot({8}, np.log({2})) - np.vdot({8}, {0}.take({7})))\n"
        "{1} /= {2}" % (c, c, row_max),
        [z, e, s, y],
        [ins[0], ins[1], rows],
    )
    stmt = tr.stmts[-1]  # why: y and labelled are outputs too, numbered after the inputs
    stmt.vars = [z, e, s, ins[0], ins[1], y, rows, labelled, means]
    stmt.defs = [z, e, s, y, labelled]
    tr.saved[id(op)] = e  # softmax(x), once divided
    tr.saved[("labelled", id(op))] = labelled


FORWARD_RULES: dict[type, Callable] = {
    ops.Add: _binary("+"),
    ops.Sub: _binary("-"),
    ops.Mul: _binary("*"),
    ops.Div: _binary("/"),
    ops.Pow: _binary("**"),
    ops.MatMul: _matmul_forward,
    ops.Neg: _call("-{1}"),
    ops.Exp: _call("np.exp({1})"),
    ops.Log: _call("np.log({1})"),
    ops.Sqrt: _call("np.sqrt({1})"),
    ops.Abs: _call("np.abs({1})"),
    ops.Tanh: _call("np.tanh({1})"),
    ops.Affine: _affine_forward,
    ops.ReLU: _relu_forward,
    ops.Sigmoid: _sigmoid_forward,
    ops.SoftmaxCrossEntropy: _sce_forward,
    ops.Sum: _with_settings("{{1}}.sum(axis={axis}, keepdims={keepdims})", "axis", "keepdims"),
    ops.Max: _with_settings("{{1}}.max(axis={axis}, keepdims={keepdims})", "axis", "keepdims"),
    ops.BroadcastTo: _with_settings("np.broadcast_to({{1}}, {shape})", "shape"),
    ops.Reshape: _with_settings("{{1}}.reshape({shape})", "shape"),
    ops.Transpose: _with_settings("{{1}}.transpose({axes})", "axes"),
    ops.Cast: _with_settings("{{1}}.astype({dtype})", "dtype"),
    ops.Clip: _with_settings("np.clip({{1}}, {lo}, {hi})", "lo", "hi"),
    ops.GetItem: _with_settings("{{1}}[{index}]", "index"),
    ops.Where: _with_settings("np.where({cond}, {{1}}, {{2}})", "cond"),
}


def emit_forward(tr: Tracer, op: Op, ins: list[Var], y: Var) -> None:
    """Emit ``y = op(ins)``: the op's own emitter, or a call of its forward."""
    FORWARD_RULES.get(type(op), generic_forward)(tr, op, ins, y)
