"""The plan as the tracer writes it: its namespace, its variables and its statements.

``PlanBuilder`` holds what a trace has learned so far: which variable of the plan holds each
tensor and array it has seen, how the plan reaches parameters and buffers (by the path from an
object in ``fn``'s closure), the 0-d and shape-only constants, and the statements emitted.
``Tracer`` (tracer.py) adds the observer's methods; ``build`` turns the statements into a plan.
"""

# ruff: noqa: UP031  (the templates hold {0}-style slots, so % fills in the rest)
from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import ops
from minigrad.compile.codegen import (
    RESERVED,
    Statement,
    Var,
    identifier,
    live_statements,
    name_variables,
    write_source,
)
from minigrad.compile.guards import LayerFacts, Plan
from minigrad.compile.runtime import run_forward
from minigrad.compile.user_code import closure_names, root_of, user_line
from minigrad.tensor import Op, Tensor


class PlanBuilder:
    """The names, values and statements of the plan being traced for ``fn``."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.stmts: list[Statement] = []
        self.ns: dict[str, Any] = {"np": np, "Tensor": Tensor, "forward": run_forward}
        self.ns_ids: dict[int, str] = {}
        self.by_tensor: dict[int, Var] = {}
        self.by_array: dict[int, Var] = {}
        self.keep: list[Any] = []  # why: what the maps key by id stays alive, so ids are unique
        self.ops: dict[int, tuple[Op, list[Var], Var]] = {}
        self.sites: dict[int, str] = {}  # id(op) -> the layer it ran in, for comments
        self.stack: list[tuple[Any, str]] = []  # the layers being called: (layer, path)
        self.facts: dict[int, LayerFacts] = {}
        self.holders: dict[int, str] = {}  # id(Parameter or buffer array) -> expression
        self.grad_state: dict[int, Any] = {}  # id(leaf) -> "none", a Var, or absent: unknown
        self.stored_as_grad: set[int] = set()  # ids of Vars some .grad already holds
        self.param_lists: dict[int, tuple[list, tuple[int, ...]]] = {}  # watched, by id
        self.consts: dict[tuple, Var] = {}
        self.header = ""
        self.fn_objects: dict[int, Any] = {}
        self.sources: dict[str, tuple[Any, str | None]] = {}
        self.names = closure_names(fn, self.fn_objects, self.sources)
        self.pending_roots: dict[int, tuple[Any, str]] = {}  # id(param) -> (root, its name)
        self.saved: dict[int, Var] = {}  # id(op) -> what its forward kept for backward
        self.inputs: dict[int, tuple[Tensor, ...]] = {}  # id(op) -> its input tensors
        self.result: str | None = None
        # the arrays made with NumPy during the trace: (variable, value, where it was made)
        self.candidates: list[tuple[Var, np.ndarray, str]] = []
        self.value_read: str | None = None  # where fn's own code first read a tensor's .data
        self.effect_draws: list[tuple[Any, tuple]] = []  # recorded effects given a generator
        self.views_given = False  # whether fn's code was handed a read-only .data or .grad

    # --- values -------------------------------------------------------------------------------
    def value(self, t: Tensor) -> Var:
        """The variable holding ``t``'s array in the plan (found, read, or refused)."""
        v = self.by_tensor.get(id(t))
        if v is not None:
            return v
        a = t.data
        v = self.by_array.get(id(a))
        if v is None:
            # why: a frozen parameter or a layer's constant tensor may change between calls
            known = id(t) in self.holders or (id(t) in self.names and id(a) not in self.names)
            if t.requires_grad or known:
                holder = self.holder(t)
                tv = self.global_var(t, holder)
                hint = "_".join(holder.split(".")[1:]) if "." in holder else f"{holder}_data"
                v = Var(hint, "state")
                self.emit_now("{0} = {1}.data", [v], [tv], header=self.header)
                self.by_array[id(a)] = v
            else:
                v = self.array_value(a, "an op")
        self.by_tensor[id(t)] = v
        self.keep.append(t)
        return v

    def array_value(self, a: Any, what: str) -> Var:
        v = self.by_array.get(id(a))
        if v is not None:
            return v
        holder = self.holders.get(id(a))
        if holder is not None:
            v = Var(holder.rsplit(".", 1)[-1], "state")
            self.emit_now(f"{{0}} = {holder}", [v], [], header=self.header)
        elif id(a) in self.names:  # an array fn reaches by name: read when the plan runs
            name = self.names[id(a)]
            root = root_of(name)
            self.ns_name(self.root_object(root), root)
            v = Var(root, "state")
            self.emit_now(f"{{0}} = {name}", [v], [], header=self.header)
        elif self.is_reshape_of_known(a):  # `t.reshape(-1)` of an argument: a view of it
            v = Var("reshaped", "state")
            self.emit_now("{0} = {1}.reshape(%r)" % (a.shape,), [v], [self.by_array[id(a.base)]])
        elif np.ndim(a) == 0:
            return self.constant(np.asarray(a))
        else:
            # made with NumPy during the trace (zeros for a state, position ids): a constant of
            # the plan, kept read-only, if a trace on other arguments makes the same array
            kept = np.array(a, copy=True)
            kept.flags.writeable = False
            v = self.array_constant(kept, "constant")
            where = f"an array of shape {kept.shape} fed to {what} at {user_line()}"
            self.candidates.append((v, kept, where))
        self.by_array[id(a)] = v
        self.keep.append(a)
        return v

    def is_reshape_of_known(self, a: Any) -> bool:
        base = getattr(a, "base", None)
        return (
            isinstance(base, np.ndarray)
            and id(base) in self.by_array
            and a.size == base.size
            and a.dtype == base.dtype
            and a.flags.c_contiguous
            and base.flags.c_contiguous
            and a.ctypes.data == base.ctypes.data
        )

    def constant(self, a: np.ndarray, hint: str | None = None) -> Var:
        key = (a.dtype.str, a.tobytes())
        v = self.consts.get(key)
        if v is None:
            value = a.item()
            words = {0: "zero", 1: "one", 0.5: "half", 2: "two"}
            word = words.get(value, "c") if isinstance(value, int | float) else "c"
            hint = hint or (f"{word}_{a.dtype.name}" if word != "c" else "c")
            name = self.unique(hint)
            self.ns[name] = a.copy()
            v = Var(name, "global")
            v.name = name
            self.consts[key] = v
        return v

    def register_buffer(self, layer: Any, expr: str, name: str) -> None:
        value = getattr(layer, name)
        self.holders[id(value)] = f"{expr}.{name}"
        self.keep.append(value)

    def root_object(self, root: str) -> Any:
        return next(self.fn_objects[k] for k, n in self.names.items() if n == root)

    def holder(self, t: Tensor) -> str:
        h = self.holders.get(id(t))
        root = self.pending_roots.pop(id(t), None)
        if root is not None:
            self.ns_name(root[0], root[1])
        if h is None:
            name = self.names.get(id(t))
            if name is None:
                raise RuntimeError(
                    "mg.compile: a tensor that requires grad was made inside the compiled "
                    "function (or cannot be found from it); make it outside, in the "
                    "function's closure or as an argument"
                )
            root = root_of(name)
            h = self.ns_name(self.root_object(root), root) + name[len(root) :]
            self.holders[id(t)] = h
        return h

    def global_var(self, obj: Any, expr: str) -> Var:
        v = Var(expr, "global")
        v.name = expr
        root = expr.split(".")[0].split("[")[0]
        if root not in self.ns:
            self.ns[root] = obj
        return v

    def expression(self, layer: Any, path: str) -> str:
        """How the plan names a layer: from the outermost one in the closure."""
        if self.stack and self.stack[0][0] is not layer:
            root, root_path = self.stack[0]
            self.ns_name(root, root_path.split(".")[0])
            return path
        return self.ns_name(layer, path.split(".")[0]) if "." not in path else path

    def ns_name(self, obj: Any, hint: str) -> str:
        name = self.ns_ids.get(id(obj))
        if name is None:
            name = self.unique(hint if hint.isidentifier() else "obj")
            self.ns[name] = obj
            self.ns_ids[id(obj)] = name
            self.keep.append(obj)
        return name

    def unique(self, hint: str) -> str:
        name, k = hint, 1
        while name in self.ns or name in RESERVED or hasattr(builtins, name):
            k += 1
            name = f"{hint}_{k}"
        self.ns[name] = None
        return name

    def new(self, hint: str, out: Tensor) -> Var:
        v = self.new_array(hint, out.data)
        self.by_tensor[id(out)] = v
        return v

    def new_array(self, hint: str, a: Any) -> Var:
        # why: NumPy gives a 0-d result back as a scalar in the plan, which no out= can take
        owned = isinstance(a, np.ndarray) and a.ndim > 0 and a.flags.owndata and a.flags.writeable
        v = Var(hint, "temp", owned, getattr(a, "nbytes", 0))
        self.by_array[id(a)] = v
        self.keep.append(a)
        return v

    def temp(self, hint: str, nbytes: int = 0) -> Var:
        return Var(hint, "temp", True, nbytes)

    def array_constant(self, a: np.ndarray, hint: str) -> Var:
        """A constant array that depends on shapes alone (ones, row offsets)."""
        key = (hint, a.dtype.str, a.shape, a.tobytes())
        v = self.consts.get(key)
        if v is None:
            v = Var(self.unique(hint), "global")
            v.name = v.hint
            self.ns[v.name] = a
            self.consts[key] = v
        return v

    def label(self) -> str:
        if not self.stack:
            return ""
        layer, path = self.stack[-1]
        return f"{path} ({type(layer).__name__})"

    def hint_for(self, op: Op) -> str:
        if type(op) is ops.SoftmaxCrossEntropy:
            return "loss"
        if self.stack:
            return self.stack[-1][1].rsplit(".", 1)[-1]
        return type(op).__name__.lower()

    def emit(self, code: str, outs: list[Var], ins: list[Var], effect: bool = False) -> None:
        self.stmts.append(Statement(code, outs, ins, effect, self.header))
        self.stmts[-1].from_op = True

    def emit_now(
        self, code: str, outs: list, ins: list, effect: bool = False, header: str | None = None
    ) -> None:
        self.stmts.append(
            Statement(code, outs, ins, effect, self.header if header is None else header)
        )

    def refuse_now(self, why: str) -> None:
        raise RuntimeError(f"mg.compile: {why}")

    def build(self, params: list[str], args: tuple) -> Plan:
        stmts = live_statements(self.stmts)
        for s in stmts:
            if s.refused:
                raise RuntimeError(f"mg.compile: {s.refused}")
        name_variables(stmts, self.ns, params)
        name = identifier(self.fn)
        source = write_source(stmts, name, params, self.result == "None")
        namespace = {k: v for k, v in self.ns.items() if v is not None}
        code = builtins.compile(source, f"<mg.compile {name}>", "exec")
        exec(code, namespace)
        guards: list[Any] = list(self.facts.values())
        read = {id(v) for s in stmts for v in s.uses}
        made = [(kept, where) for v, kept, where in self.candidates if id(v) in read]
        if made and self.value_read is not None:  # why: it may be made from what was read
            raise RuntimeError(
                f"mg.compile: {made[0][1]} was computed outside minigrad's ops, and the "
                f"function reads tensor data (with NumPy on .data) or draws at random at "
                f"{self.value_read}, so the plan could not compute it again; make it with "
                f"Tensor ops from the arguments, or pass it as an argument"
            )
        plan = Plan(namespace[name], source, guards, made, args)
        # the names of fn the plan holds the objects of: bound to another, the plan is stale
        held = {id(v) for v in namespace.values()}
        for where, item in self.sources.values():
            obj = where.cell_contents if item is None else where[item]
            if id(obj) in held:
                plan.bindings.append((where, item, obj))
            elif type(obj) in (bool, int, float, str):  # why: a number fn reads is baked in
                plan.numbers.append((where, item, obj))
        args_ids = {id(a) for a in args}
        plan.watch(
            [
                t
                for t in self.keep
                if isinstance(t, Tensor) and id(t) in self.holders and id(t) not in args_ids
            ]
        )
        return plan
