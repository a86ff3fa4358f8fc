"""Anomaly detection: find the op, and the line of your code, where a NaN or an inf was born.

``detect_anomaly()`` puts a watcher in the engine's observer slot (``tensor.observer``).
Inside it, the watcher checks the result of every op's forward and every gradient that
backward computes, and records where each op was written (one short walk up the call
stack per recorded op). Of a backward pass it knows what the engine tells every observer
(the calls listed in ``minigrad.tensor``): which op's backward runs, and when the engine
is summing and converting that op's gradients. The first NaN or inf raises
``FloatingPointError`` naming the op, forward or backward, the ``file:line`` and the text of
the line that recorded the op (and, for an op run by a layer or a function of minigrad, that
line inside minigrad too), and a summary of the op's inputs. Outside the context nothing is
checked and nothing recorded: the engine pays one ``is None`` test per op.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
import textwrap
import weakref
from types import CodeType
from typing import Any

import numpy as np

from minigrad import ops, tensor
from minigrad.nn.layer import Layer
from minigrad.tensor import Op, Tensor

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ENGINE = os.path.abspath(tensor.__file__)
_APPLY = Op.apply.__func__.__code__
_CALL = Layer.__call__.__code__  # why: in every layer's chain; it says nothing

# a place in the source: the code object running there and its line (names are looked up
# only for a message)
_Place = tuple[CodeType, int]
# where a recorded op was written: the first frame outside minigrad; the innermost one inside
# minigrad but outside the engine, if any; and the minigrad functions between them, innermost
# first (a layer's forward, the function it calls)
_Site = tuple[_Place | None, _Place | None, tuple[CodeType, ...]]

# id(op) -> (a weak reference to the op's output, the op's site). Ops have no weak
# references, their outputs do: an entry goes when the output (and so the op) goes.
_sites: dict[int, tuple[weakref.ref, _Site]] = {}

# where a backward pass is: the op whose backward it is in (None while it adds up its seeds),
# the gradient flowing into that op, and whether the op's own backward is running (else the
# engine is summing and converting the gradients that backward returned)
_Running = tuple[Op | None, Tensor | None, bool]


class _AnomalyMode(contextlib.ContextDecorator):
    """The context manager and decorator that ``detect_anomaly()`` returns."""

    def __init__(self) -> None:
        self._saved: list[Any] = []  # why: a stack, so a decorated function may recurse

    def __enter__(self) -> None:
        previous = tensor.observer
        self._saved.append(previous)
        if not isinstance(previous, _Watcher):  # nested in itself: the outer watcher serves
            tensor.observer = _Watcher(previous)

    def __exit__(self, *exc: object) -> None:
        tensor.observer = self._saved.pop()


def detect_anomaly() -> _AnomalyMode:
    """Check every op's result and every gradient for NaN and inf: a context manager and
    a decorator.

    The first NaN or inf raises ``FloatingPointError`` naming the op, whether its forward
    or its backward made it, and the line of your code that recorded the op. It costs a
    check per op and a look at the call stack per recorded op, so use it to find a bug,
    not to train. Another observer of the engine (``mg.compile``'s tracer) keeps working
    inside: it is called first, then the check runs.

    >>> import minigrad as mg
    >>> x = mg.Tensor([1.0, 0.0], requires_grad=True)
    >>> try:
    ...     with mg.detect_anomaly():
    ...         y = x.log()
    ... except FloatingPointError as err:
    ...     print(str(err).splitlines()[0])
    forward of Log produced -inf in 1 of 2 values
    """
    return _AnomalyMode()


class _Watcher:
    """The engine's observer inside ``detect_anomaly``; chains to the one it replaced."""

    __slots__ = ("previous", "padded", "passes")

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.padded: Any = _nothing  # a weak reference to max pooling's padded columns
        self.passes: list[_Running] = []  # the backward passes under way, innermost last

    def __getattr__(self, name: str) -> Any:
        # why: what the watcher does not watch (gradients stored, effects, layer calls) still
        # reaches the observer below it, so mg.compile records a step that checks inside
        if name in _Watcher.__slots__:
            raise AttributeError(name)
        return getattr(self.previous, name)

    def forward(self, op: Op, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        if self.previous is not None:
            self.previous.forward(op, inputs, out)
        if out.creator is op:
            _record(op, out)
        if not _finite(out.data) and not self._padding(op, inputs, out):
            _forward_failed(op, inputs, out, self.passes[-1] if self.passes else None)

    def _padding(self, op: Op, inputs: tuple[Tensor, ...], out: Tensor) -> bool:
        """True for max pooling's own -inf padding, made by Im2Col and carried by a reshape."""
        kind = type(op)
        if kind is ops.Im2Col and op.fill == -np.inf:
            if not _finite(inputs[0].data):
                return False  # why: the image itself is bad; blame it
        elif kind is not ops.Reshape or inputs[0] is not self.padded():
            return False
        self.padded = weakref.ref(out)
        return True

    def backward_pass(self, running: bool) -> None:
        if hasattr(self.previous, "backward_pass"):
            self.previous.backward_pass(running)
        if running:
            self.passes.append((None, None, False))
        elif self.passes:  # why: a pass that started before the watcher did has no entry
            self.passes.pop()

    def before_backward(self, op: Op, gy: Tensor) -> None:
        if hasattr(self.previous, "before_backward"):
            self.previous.before_backward(op, gy)
        if self.passes:
            self.passes[-1] = (op, gy, True)

    def backward(self, op: Op, gy: Tensor, gxs: tuple[Tensor | None, ...]) -> None:
        if self.previous is not None:
            self.previous.backward(op, gy, gxs)
        if self.passes:  # why: what runs next is the engine's work on these gradients
            self.passes[-1] = (op, gy, False)
        bad = [i for i, gx in enumerate(gxs) if gx is not None and not _finite(gx.data)]
        if bad or not _finite(gy.data):
            i = bad[0] if bad else 0
            what = f"in the gradient of its input {i}" if len(op.inputs) > 1 else "in its gradient"
            _backward_failed(op, gy, gxs[i].data if bad else gy.data, what)


def _nothing() -> None:
    return None


def _finite(data: Any) -> bool:
    kind = data.dtype.kind if hasattr(data, "dtype") else np.asarray(data).dtype.kind
    return kind not in "fc" or bool(np.isfinite(data).all())


# --- where an op was recorded ----------------------------------------------------------------
def _site() -> _Site:
    """Where the op being applied now was written, from the call stack."""
    frame = sys._getframe(2)
    # why: start above Op.apply, also when another observer calls this one
    while frame is not None and frame.f_code is not _APPLY:
        frame = frame.f_back
    frame = frame.f_back if frame is not None else None
    inner = None
    calls: list[CodeType] = []
    while frame is not None:
        code = frame.f_code
        if not code.co_filename.startswith(_PACKAGE):
            return (code, frame.f_lineno), inner, tuple(calls)
        if code.co_filename != _ENGINE and code is not _CALL:
            if inner is None:
                inner = (code, frame.f_lineno)
            calls.append(code)
        frame = frame.f_back
    return None, inner, tuple(calls)


def _record(op: Op, out: Tensor) -> None:
    key = id(op)
    _sites[key] = (weakref.ref(out, lambda ref, key=key: _forget(ref, key)), _site())


def _forget(ref: weakref.ref, key: int) -> None:
    entry = _sites.get(key)
    if entry is not None and entry[0] is ref:  # why: the id may belong to a newer op by now
        del _sites[key]


def _show(place: _Place) -> str:
    """``file:line (function)`` and the line's text below it, as a traceback shows them."""
    code, line = place
    filename, function = code.co_filename, _name(code)
    if filename.startswith(_PACKAGE):
        shown = "minigrad/" + filename[len(_PACKAGE) :].replace(os.sep, "/")
    elif filename.startswith("<"):
        shown = filename  # an interactive session, or a doctest
    else:
        try:
            shown = os.path.relpath(filename)
        except ValueError:  # why: on Windows, a file on another drive has no relative path
            shown = filename
        if shown.startswith(".."):
            shown = filename
    text = linecache.getline(filename, line).strip()
    if filename.startswith("<") and function != "<module>":
        text = ""  # why: doctest serves only the running example's lines, not a function's
    return f"{shown}:{line} ({function})" + (f"\n      {text}" if text else "")


def _name(code: CodeType) -> str:
    return getattr(code, "co_qualname", code.co_name)  # why: co_qualname is new in 3.11


def _site_lines(site: _Site | None, recorded: str) -> list[str]:
    if site is None:
        return [
            _wrap(
                "the forward op ran outside detect_anomaly(), so its line is unknown: run "
                "the forward pass inside detect_anomaly() too",
                "  ",
            )
        ]
    user, inner, calls = site
    lines = []
    if user is not None:
        lines.append(f"  {recorded} at {_show(user)}")
    if inner is not None:
        lines.append(f"  inside minigrad: {' > '.join(_name(c) for c in reversed(calls))}")
        lines.append(f"    at {_show(inner)}")
    return lines


# --- what the values look like ---------------------------------------------------------------
def _kinds(data: np.ndarray) -> list[tuple[int, str]]:
    """How many NaN, +inf and -inf ``data`` holds (only the kinds present)."""
    if data.dtype.kind not in "fc":
        return []
    inf = np.isinf(data)
    plus = int(np.count_nonzero(inf & (data.real > 0)))
    counts = ((np.count_nonzero(np.isnan(data)), "NaN"), (plus, "+inf"))
    counts += ((int(np.count_nonzero(inf)) - plus, "-inf"),)
    return [(int(n), name) for n, name in counts if n]


def _nan_inf(data: np.ndarray) -> str:
    return ", ".join(f"{n} {name}" for n, name in _kinds(data))


def _describe(value: Any) -> str:
    """shape, dtype, min/max of the finite values and the NaN/inf counts of an array."""
    data = np.asarray(value)
    text = f"shape {data.shape} {data.dtype}"
    if data.size == 0:
        return text + ", empty"
    finite = data[np.isfinite(data)] if data.dtype.kind in "fc" else data
    if finite.size and data.dtype.kind in "biuf":
        text += f", min {float(finite.min()):.4g}, max {float(finite.max()):.4g}"
    return text + ", " + (_nan_inf(data) or "no NaN or inf")


def _which(data: Any) -> str:
    """E.g. "NaN and -inf in 3 of 8 values"."""
    data = np.asarray(data)
    names = " and ".join(name.lstrip("+") for _, name in _kinds(data))
    bad = data.size - int(np.count_nonzero(np.isfinite(data)))
    return f"{names} in {bad} of {data.size} values"


def _input_lines(inputs: Any) -> list[str]:
    return [f"  input {i}: {_describe(x.data)}" for i, x in enumerate(inputs)]


def _wrap(text: str, indent: str = "") -> str:
    """``text`` in lines of at most 88 characters, continued 4 spaces in (sites stay whole)."""
    return textwrap.fill(
        text,
        88,
        initial_indent=indent,
        subsequent_indent=indent + "    ",
        break_long_words=False,
        break_on_hyphens=False,
    )


# --- why it may have happened ----------------------------------------------------------------
_FORWARD_HINTS = {
    "Log": "log(0) is -inf and the log of a negative number is NaN; for log-probabilities "
    "use minigrad.functional.log_softmax (or nn.SoftmaxWithLoss) instead of "
    "log(softmax(x)), or clip the input first, e.g. p.clip(1e-12, None).log()",
    "Sqrt": "the square root of a negative number is NaN; clip the input first, "
    "e.g. x.clip(0, None)",
    "Div": "a division by zero (x / 0 is inf, 0 / 0 is NaN); keep the divisor away from 0",
    "Exp": "exp overflows above about 709 in float64 (88 in float32); subtract the maximum "
    "first, as softmax does",
    "Pow": "a negative number to a fractional power is NaN, and a large one overflows",
}
_BACKWARD_HINTS = {
    "Sqrt": "the gradient of sqrt, 1 / (2 sqrt(x)), is infinite at x = 0, and 0 * inf is "
    "NaN; if this sqrt is a branch of mg.where that is not taken there, give it a safe "
    "input instead (the double where: where(x > 0, where(x > 0, x, 1).sqrt(), 0))",
    "Log": "the gradient of log, 1 / x, is infinite at x = 0; keep the input away from 0",
    "Div": "the gradient of x / w is infinite where w is 0; keep the divisor away from 0",
    "Pow": "the gradient of x ** p, p x^(p-1), is infinite at x = 0 when p < 1",
}
_OVERFLOW = (
    "finite inputs gave inf: the values overflowed. Values this large have usually grown "
    "over many training steps, e.g. from a learning rate that is too large; lower it, or "
    "clip the gradients"
)


def _hint(table: dict[str, str], op: Op, produced: Any) -> list[str]:
    hint = table.get(type(op).__name__)
    if hint is None and not np.isnan(np.asarray(produced)).any():
        hint = _OVERFLOW
    return [_wrap(f"why: {hint}", "  ")] if hint else []


# --- the errors ------------------------------------------------------------------------------
def _origin(x: Tensor) -> str:
    if x.creator is None:
        return "a leaf tensor: data you passed, or a parameter that an earlier update made NaN"
    return f"made by {type(x.creator).__name__} outside detect_anomaly()"


def _forward_failed(
    op: Op, inputs: tuple[Tensor, ...], out: Tensor, running: _Running | None
) -> None:
    """Raise for a bad result of ``op``; ``running`` is where the backward pass running it is."""
    name = type(op).__name__
    if running is not None:  # an op that backward runs: a failure of that backward
        owner, gy, inside = running
        if inside:
            what = f"in the {name} it computes"
        elif owner is None:
            what = "when adding up the seeds of an output listed twice"
        elif name == "Add":
            what = "when adding its gradient to the one from the input's other consumers"
        elif name == "Cast":
            what = f"when converting its gradient to the input's dtype, {out.dtype}"
        else:
            what = f"when summing its gradient back to the input's shape ({name})"
        _backward_failed(owner, gy if owner is not None else None, out.data, what, inputs)
    bad = [i for i, x in enumerate(inputs) if not _finite(x.data)]
    if bad:
        i = bad[0]
        head = (
            f"forward of {name} got input {i} already holding {_nan_inf(inputs[i].data)}; the "
            f"op did not make it, the value came from outside detect_anomaly(): input {i} is "
            f"{_origin(inputs[i])}"
        )
    else:
        head = f"forward of {name} produced {_which(out.data)}"
    lines = [_wrap(head), *_site_lines(_site(), "recorded"), *_input_lines(inputs)]
    if not bad:
        lines += _hint(_FORWARD_HINTS, op, out.data)
    raise FloatingPointError("\n".join(lines))


def _backward_failed(
    op: Op | None,
    gy: Tensor | None,
    produced: Any,
    what: str,
    parts: tuple[Tensor, ...] = (),
) -> None:
    """Raise for the backward of ``op``; ``parts`` are the inputs of the op that failed in it."""
    if op is None:  # two seeds of one output, summed before any backward ran
        bad = [x for x in parts if not _finite(x.data)]
        why = "a seed holds " + _nan_inf(bad[0].data) if bad else "the sum overflowed"
        head = f"backward: the seeds of an output listed twice add up to {_which(produced)}"
        raise FloatingPointError(_wrap(f"{head}; {why}"))
    name = type(op).__name__
    entry = _sites.get(id(op))
    inputs = op.inputs or ()
    bad = [i for i, x in enumerate(inputs) if not _finite(x.data)]
    blamed = False
    if gy is not None and not _finite(gy.data):
        head = (
            f"backward of {name} got a gradient already holding {_nan_inf(gy.data)}: no op "
            f"inside detect_anomaly() made it, so it is the seed (the grad=... of backward() "
            f"or the grad_outputs=... of mg.grad())"
        )
    elif bad:
        i = bad[0]
        head = (
            f"backward of {name}: its input {i} already held {_nan_inf(inputs[i].data)} in a "
            f"forward pass outside detect_anomaly(); input {i} is {_origin(inputs[i])}"
        )
    else:
        head, blamed = f"backward of {name} produced {_which(produced)} {what}", True
    lines = [_wrap(head)]
    lines += _site_lines(entry[1] if entry is not None else None, "the forward op was recorded")
    if gy is not None:
        lines.append(f"  gradient flowing in: {_describe(gy.data)}")
    lines += _input_lines(inputs)
    if blamed:
        lines += _hint(_BACKWARD_HINTS, op, produced)
    raise FloatingPointError("\n".join(lines))


__all__ = ["detect_anomaly"]
