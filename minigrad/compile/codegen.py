"""The plan's variables and statements, and the Python source written from them.

The tracer records ``Statement``s: a code template with ``{0}``-style slots, the ``Var``s it
defines and reads, and the header (the layer or op it comes from). ``write_source`` keeps the
statements that matter, names the variables, picks the in-place form of a statement whose
input dies there, frees large arrays after their last reader and returns the source.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

import minigrad.tensor as engine

if TYPE_CHECKING:
    from minigrad.compile.builder import PlanBuilder

RESERVED = {
    "lr",
    "steps",
    "squares",
    "np",
    "Tensor",
    "forward",
    "result",
    "accumulate",
    "finite",
    "del",
    "None",
}

DEL_BYTES = 256  # why: `del` frees arrays early (memory); the smallest cost more than they hold


class Var:
    """A name of the generated function: an argument, a state read, a constant or a value."""

    __slots__ = ("hint", "name", "kind", "owned", "nbytes", "primary")

    def __init__(self, hint: str, kind: str, owned: bool = False, nbytes: int = 0) -> None:
        self.hint = hint
        self.name = ""
        self.kind = kind  # "arg", "state", "global", "temp"
        self.owned = owned  # a fresh array of the plan's own, not seen by anyone else
        self.nbytes = nbytes
        self.primary = False


class Statement:
    __slots__ = (
        "code",
        "vars",
        "defs",
        "uses",
        "effect",
        "header",
        "refused",
        "backward",
        "from_op",
        "alt",
    )

    def __init__(
        self, code: str, outs: list[Var], ins: list[Var], effect: bool, header: str
    ) -> None:
        self.code = code
        self.vars = outs + ins
        self.defs = outs
        self.uses = ins
        self.effect = effect
        self.header = header
        self.refused: str | None = None
        self.backward = not engine.is_grad_enabled()
        self.from_op = False
        # why: (input, code) to use instead when that input is read by nothing later, so the
        # result can be written into its array (no new array, less memory traffic)
        self.alt: tuple[Var, str] | None = None


def live_statements(stmts: list[Statement]) -> list[Statement]:
    """The statements that matter: effects, and whatever they (transitively) read."""
    needed: set[int] = set()
    kept = []
    for s in reversed(stmts):
        if s.effect or any(id(v) in needed for v in s.defs):
            kept.append(s)
            for v in s.defs:
                needed.discard(id(v))
            needed.update(id(v) for v in s.uses)
    return kept[::-1]


def name_variables(stmts: list[Statement], ns: dict, params: list[str]) -> None:
    taken = set(ns) | set(params) | RESERVED | set(dir(builtins))  # no `sum = ...`
    seen: dict[int, Var] = {}
    for s in stmts:
        for v in s.vars:
            if not v.name:
                seen.setdefault(id(v), v)
    order = [v for v in seen.values() if v.primary] + [v for v in seen.values() if not v.primary]
    for v in order:
        if v.name:
            continue
        hint = v.hint if v.hint.isidentifier() else "v"
        name, k = hint, 1
        while name in taken:
            k += 1
            name = f"{hint}_{k}"
        v.name = name
        taken.add(name)


def identifier(fn: Callable) -> str:
    name = getattr(fn, "__name__", "step")
    return name if name.isidentifier() and name != "<lambda>" else "step"


def literal(value: Any, tracer: PlanBuilder) -> str:
    if isinstance(value, np.dtype):
        return tracer.ns_name(value, value.name)
    if isinstance(value, float) and not np.isfinite(value):
        return f"float('{value}')"
    return repr(value)


def write_source(stmts: list[Statement], name: str, params: list[str], returns_none: bool) -> str:
    """The plan's source: ``def name(params):`` and one line per statement, with headers."""
    lines = [f"def {name}({', '.join(params)}):"]
    last_use = {}
    for i, s in enumerate(stmts):
        for v in s.uses:
            last_use[id(v)] = i
    for i, s in enumerate(stmts):
        if s.alt is not None:
            v, code = s.alt
            if last_use.get(id(v)) == i and v.kind == "temp" and v.owned:
                s.code = code
    header = None
    for i, s in enumerate(stmts):
        if s.header != header:
            header = s.header
            if header:
                lines.append(f"    # {header}")
        text = s.code.format(*[v.name for v in s.vars])
        lines.extend("    " + line for line in text.split("\n"))
        # why: a value dies after its last reader, or at once if nothing reads it
        dead = [
            v.name
            for v in s.uses + s.defs
            if last_use.get(id(v), i) == i and v.kind == "temp" and v.nbytes >= DEL_BYTES
        ]
        if dead and not text.startswith("return"):
            lines.append(f"    del {', '.join(dict.fromkeys(dead))}")
    if returns_none:
        lines.append("    return None")
    return "\n".join(lines) + "\n"
