"""mg.compile: trace a step once, then run it as straight-line NumPy.

``compile(fn)`` runs ``fn`` itself on its first call for each combination of argument
shapes and dtypes (and grad mode), with a tracer watching: every op the engine runs
(``Op.apply`` tells ``tensor._observer``, backward included, since backward is written in
Tensor ops), every leaf gradient it stores, every layer call, and the work done outside
ops, which goes through ``ops.effect`` (dropout masks, running statistics, ``zero_grad``,
an optimizer's step). From what it saw the tracer writes one Python function of plain
NumPy statements, the *plan*, and compiles it; later calls run the plan.

How a plan stays right:

- every array an op reads must come from somewhere the plan can find again on the next
  call: an argument, a parameter or buffer (read when the plan runs), a value the plan
  computed, a recorded effect (a dropout mask drawn from the same generator), or a 0-d
  constant. Anything else (an array computed with NumPy from ``.data``) makes the trace
  fail with an error naming the line, if the plan would need it;
- backward of the ops whose eager backward builds arrays from data (ReLU's mask, the
  cross-entropy's probabilities, Max, Abs, Clip) and of the hot ops (Affine, MatMul) is
  written here from the op's inputs and output; every other backward is replayed from the
  ops it ran;
- guards: a plan is keyed by the arguments' shapes, dtypes and grad mode, and checks one
  number per call, ``nn.layer.structure_version``, bumped by anything that changes layers
  (an assignment, ``train()``/``eval()``, ``astype``, ``load_state_dict``); when it moved,
  the plan compares every layer it called with what it saw (modes, members, settings,
  parameter shapes and dtypes) and traces again if anything differs;
- reading a value inside ``fn`` (``item()``, ``float(t)``, ``bool(t)``, ``f"{t:.3f}"``) is an
  error at the first call naming the line: the plan could not take that Python branch.

>>> import minigrad as mg
>>> w = mg.Tensor(np.array([1.0, -2.0]), requires_grad=True)
>>> @mg.compile
... def f(x):
...     w.grad = None
...     y = (x * w).sum()
...     y.backward()
...     return y
>>> [float(f(np.array([1.0, k])).data) for k in (1.0, 2.0, 3.0)]
[-1.0, -3.0, -5.0]
>>> w.grad
array([1., 3.])
"""

# ruff: noqa: UP031  (the templates hold {0}-style slots, so % fills in the rest)
from __future__ import annotations

import builtins
import functools
import inspect
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad.tensor as _engine
from minigrad import ops
from minigrad.nn import layer as _layer
from minigrad.nn import norm as _norm
from minigrad.tensor import Op, Tensor

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "__format__")
_DEL_BYTES = 256  # why: `del` frees arrays early (memory); the smallest cost more than they hold


def compile(fn: Callable[..., Any]) -> Compiled:
    """Compile ``fn`` (a forward pass or a whole training step) into straight-line NumPy.

    Also a decorator. See the module docstring and docs/compile.md.
    """
    if not callable(fn):
        raise TypeError(f"mg.compile takes a function, got {type(fn).__name__}")
    return Compiled(fn)


class Compiled:
    """A function compiled by ``mg.compile``: call it like ``fn``; ``source`` is the plan."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fn, updated=())
        self.fn = fn
        self._plans: dict[tuple, _Plan] = {}
        self._last: _Plan | None = None

    @property
    def source(self) -> str:
        """The generated Python source of the most recent plan."""
        if self._last is None:
            raise RuntimeError(
                f"{self.fn.__name__} has no plan yet: call it once, then read .source"
            )
        return self._last.source

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                f"a compiled function takes its arguments positionally, got keywords "
                f"{sorted(kwargs)}; pass them by position"
            )
        if _engine._observer is not None:  # why: inside another trace or detect_anomaly
            return self.fn(*args)
        key = _key(args)
        plan = self._plans.get(key)
        if plan is not None and plan.version != _layer.structure_version[0]:
            plan = plan if plan.still_valid() else None
        if plan is None:
            plan, result = _Tracer(self.fn).trace(args)
            self._plans[key] = plan
            self._last = plan
            return result
        self._last = plan
        return plan.function(*args)


def _key(args: tuple) -> tuple:
    key: list[Any] = [_engine._grad_enabled]
    for i, a in enumerate(args):
        if type(a) is np.ndarray:
            key.append((a.shape, a.dtype))
        elif isinstance(a, Tensor):
            key.append((a.data.shape, a.data.dtype, a.requires_grad, type(a)))
        elif a is None or isinstance(a, bool | int | float | str | np.number):
            key.append((type(a), a))  # why: a Python value is baked into the plan
        else:
            raise TypeError(
                f"compiled function: argument {i} is a {type(a).__name__}; pass NumPy arrays, "
                f"Tensors or numbers (put layers and optimizers in the function's closure)"
            )
    return tuple(key)


class _Plan:
    """A compiled plan and the facts it depends on."""

    def __init__(self, function: Callable, source: str, guards: list[_LayerFacts]) -> None:
        self.function = function
        self.source = source
        self.guards = guards
        self.version = _layer.structure_version[0]

    def still_valid(self) -> bool:
        if all(g.holds() for g in self.guards):
            self.version = _layer.structure_version[0]
            return True
        return False


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return type(a) is type(b) and isinstance(a, bool | int | float | str | tuple) and a == b


class _LayerFacts:
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
        if any(not _same(values.get(k, _MISSING), v) for k, v in self.settings.items()):
            return False
        return all(p.data.shape == s and p.data.dtype == d for p, s, d in self.shapes)


_MISSING = object()


# --- the plan's variables and statements -------------------------------------------------------
class _Var:
    """A name of the generated function: an argument, a state read, a constant or a value."""

    __slots__ = ("hint", "name", "kind", "owned", "nbytes", "primary")

    def __init__(self, hint: str, kind: str, owned: bool = False, nbytes: int = 0) -> None:
        self.hint = hint
        self.name = ""
        self.kind = kind  # "arg", "state", "global", "temp"
        self.owned = owned  # a fresh array of the plan's own, not seen by anyone else
        self.nbytes = nbytes
        self.primary = False


class _Stmt:
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
        self, code: str, outs: list[_Var], ins: list[_Var], effect: bool, header: str
    ) -> None:
        self.code = code
        self.vars = outs + ins
        self.defs = outs
        self.uses = ins
        self.effect = effect
        self.header = header
        self.refused: str | None = None
        self.backward = not _engine._grad_enabled
        self.from_op = False
        # why: (input, code) to use instead when that input is read by nothing later, so the
        # result can be written into its array (no new array, less memory traffic)
        self.alt: tuple[_Var, str] | None = None


# --- the tracer -------------------------------------------------------------------------------
class _Tracer:
    """Watches one run of ``fn`` (as ``tensor._observer``) and writes its plan."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.stmts: list[_Stmt] = []
        self.ns: dict[str, Any] = {"np": np, "Tensor": Tensor, "forward": _run_forward}
        self.ns_ids: dict[int, str] = {}
        self.by_tensor: dict[int, _Var] = {}
        self.by_array: dict[int, _Var] = {}
        self.keep: list[Any] = []  # why: what the maps key by id stays alive, so ids are unique
        self.ops: dict[int, tuple[Op, list[_Var], _Var]] = {}
        self.sites: dict[int, str] = {}  # id(op) -> the layer it ran in, for comments
        self.stack: list[tuple[Any, str]] = []  # the layers being called: (layer, path)
        self.facts: dict[int, _LayerFacts] = {}
        self.holders: dict[int, str] = {}  # id(Parameter or buffer array) -> expression
        self.grad_state: dict[int, Any] = {}  # id(leaf) -> "none", a _Var, or absent: unknown
        self.handed: set[int] = set()
        self.consts: dict[tuple, _Var] = {}
        self.header = ""
        self.fn_objects: dict[int, Any] = {}
        self.names = _closure_names(fn, self.fn_objects)
        self.pending_roots: dict[int, tuple[Any, str]] = {}  # id(param) -> (root, its name)
        self.saved: dict[int, _Var] = {}  # id(op) -> what its forward kept for backward
        self.inputs: dict[int, tuple[Tensor, ...]] = {}  # id(op) -> its input tensors
        self.result: str | None = None

    # --- running fn -----------------------------------------------------------------------
    def trace(self, args: tuple) -> tuple[_Plan, Any]:
        params = self.bind(args)
        self.find_parameters()
        previous, _engine._observer = _engine._observer, self
        saved = {name: Tensor.__dict__.get(name, _MISSING) for name in (*_READS, "data", "grad")}
        for name in _READS:
            setattr(Tensor, name, _refuse_read(name))
        # why: writes of .data and .grad from the user's code are work outside ops
        Tensor.data = property(saved["data"].__get__, self.write_data)
        Tensor.grad = property(saved["grad"].__get__, self.write_grad)
        self.slots = saved["data"], saved["grad"]
        try:
            result = self.fn(*args)
        finally:
            _engine._observer = previous
            for name, method in saved.items():
                if method is _MISSING:
                    delattr(Tensor, name)
                else:
                    setattr(Tensor, name, method)
        self.finish(result)
        return self.build(params), result

    def bind(self, args: tuple) -> list[str]:
        target = self.fn.forward if isinstance(self.fn, _layer.Layer) else self.fn
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):
            signature = None
        names = [
            name
            for name, p in (signature.parameters.items() if signature else ())
            if p.kind.name in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
        ]
        params = []
        for i, a in enumerate(args):
            name = names[i] if i < len(names) and names[i] not in _RESERVED else f"arg{i}"
            self.ns.setdefault(name, None)  # why: taken, so no constant of the plan gets it
            params.append(name)
            if type(a) is np.ndarray:
                v = _Var(name, "arg")
                v.name = name
                self.by_array[id(a)] = v
            elif isinstance(a, Tensor):
                v = _Var(name, "arg")
                v.name = name
                self.by_tensor[id(a)] = self.data_of(v, a)
                self.holders[id(a)] = name
                self.by_array[id(a.data)] = self.by_tensor[id(a)]
        return params

    def find_parameters(self) -> None:
        """Name the parameters fn can reach: by layer path, else as an optimizer's."""
        from minigrad.optim import Optimizer

        objects = [(self.fn_objects[key], name) for key, name in self.names.items()]
        for obj, name in objects:
            if isinstance(obj, _layer.Layer) and name.isidentifier():
                for dotted, param in obj.named_parameters():
                    if id(param) not in self.holders:
                        self.holders[id(param)] = f"{name}.{dotted}"
                        self.pending_roots[id(param)] = (obj, name)
        for obj, name in objects:
            if isinstance(obj, Optimizer) and name.isidentifier():
                for i, param in enumerate(obj.params):
                    if id(param) not in self.holders:
                        self.holders[id(param)] = f"{name}.params[{i}]"
                        self.pending_roots[id(param)] = (obj, name)

    def data_of(self, tensor_var: _Var, a: Tensor) -> _Var:
        v = _Var(f"{tensor_var.name}_data", "state", nbytes=0)
        self.emit_now("{0} = {1}.data", [v], [tensor_var], header="the arguments' arrays")
        return v

    def write_data(self, t: Tensor, value: Any) -> None:
        if not sys._getframe(1).f_code.co_filename.startswith(_PACKAGE):
            raise RuntimeError(
                f"mg.compile: the compiled function assigns a tensor's .data at {_user_line()} "
                f"(an update outside minigrad's ops, such as w.data -= lr * w.grad), which a "
                f"plan cannot repeat; use an optimizer from mg.optim, or Tensor ops"
            )
        self.slots[0].__set__(t, value)

    def write_grad(self, t: Tensor, value: Any) -> None:
        if not sys._getframe(1).f_code.co_filename.startswith(_PACKAGE):
            holder = self.holder(t)
            self.header = f"{holder}.grad set by the function"
            h = self.global_var(t, holder)
            if value is None:
                self.emit_now("{0}.grad = None", [], [h], effect=True)
                self.grad_state[id(t)] = "none"
            else:
                v = self.by_array.get(id(value))
                if v is None:
                    raise RuntimeError(
                        f"mg.compile: the compiled function sets .grad at {_user_line()} to an "
                        f"array computed outside minigrad's ops, which a plan cannot repeat; "
                        f"set it to None (or use zero_grad()) and let backward() fill it"
                    )
                self.emit_now("{0}.grad = {1}", [], [h, v], effect=True)
                self.grad_state[id(t)] = v
                self.handed.add(id(v))
        self.slots[1].__set__(t, value)

    # --- the observer's methods ---------------------------------------------------------------
    def forward(self, op: Op, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        self.keep.append((op, inputs, out))
        self.header = self.label()
        ins = [self.value(x) for x in inputs]
        y = self.new(self.hint_for(op), out)
        if any(out.data is x.data for x in inputs):  # why: an op that hands back its input
            y.owned = False
        self.ops[id(op)] = (op, ins, y)
        self.inputs[id(op)] = inputs
        self.sites[id(op)] = self.label()
        self.header = self.label()
        _FORWARD.get(type(op), _generic_forward)(self, op, ins, y)

    def backward(self, op: Op, gy: Tensor, gxs: tuple) -> None:
        if _engine._grad_enabled:
            raise RuntimeError(
                "mg.compile: backward with create_graph=True (or mg.grad(..., "
                "create_graph=True)) inside a compiled function is not supported; compute "
                "higher derivatives outside it"
            )
        entry = self.ops.get(id(op))
        if entry is None:
            raise RuntimeError(
                f"mg.compile: backward through {op!r}, which was recorded before the compiled "
                f"function started; call backward on values computed inside it"
            )
        _, ins, y = entry
        label = self.sites[id(op)]
        self.header = f"backward of {label}" if label else f"backward of {op!r}"
        for s in reversed(self.stmts):  # why: the ops backward ran belong to this header
            if not s.backward or not s.from_op or s.header.startswith("backward of"):
                break
            s.header = self.header
        g = self.value(gy)
        custom = _BACKWARD.get(type(op))
        if custom is not None:
            need = [
                gx is not None and x.requires_grad for x, gx in zip(op.inputs, gxs, strict=True)
            ]
            made = custom(self, op, g, ins, y, need)
            for gx, v in zip(gxs, made or [None] * len(gxs), strict=True):
                if gx is not None and v is not None:
                    v.nbytes = gx.data.nbytes
                    self.by_tensor[id(gx)] = v
                    self.by_array[id(gx.data)] = v
                    self.keep.append(gx)

    def accumulate(self, leaf: Tensor, g: np.ndarray) -> None:
        v = self.by_array.get(id(g))
        holder = self.holder(leaf)
        h = self.global_var(leaf, holder)
        if v is None:
            self.refuse_now(f"the gradient of {holder} was computed outside the traced ops")
        state = self.grad_state.get(id(leaf))
        self.header = f"gradient of {holder}"
        if state == "none":
            if v.owned and id(v) not in self.handed:
                self.emit_now("{0}.grad = {1}", [], [h, v], effect=True)
            else:
                self.emit_now("{0}.grad = {1}.copy()", [], [h, v], effect=True)
        elif isinstance(state, _Var):
            self.emit_now("{0}.grad = {0}.grad + {1}", [], [h, v], effect=True)
        else:
            self.emit_now("accumulate({0}, {1})", [], [h, v], effect=True)
            self.ns["accumulate"] = _accumulate_grad
        self.handed.add(id(v))
        self.grad_state[id(leaf)] = v
        self.keep.append(g)

    def call_layer(self, layer: Any, args: tuple, kwargs: dict) -> Any:
        parent = self.stack[-1] if self.stack else None
        name = None
        if parent is not None:
            name = next((n for n, m in parent[0]._members.items() if m is layer), None)
        if name is None:
            name = self.names.get(id(layer)) or type(layer).__name__.lower()
        path = f"{parent[1]}.{name}" if parent else name
        if id(layer) not in self.facts:
            self.facts[id(layer)] = _LayerFacts(layer)
            self.keep.append(layer)
            expr = self.expression(layer, path)
            for member, value in layer._members.items():
                if isinstance(value, Tensor):
                    self.holders.setdefault(id(value), f"{expr}.{member}")
        expr = self.expression(layer, path)
        for buffer in layer._buffers:
            self.register_buffer(layer, expr, buffer)
        before = dict(vars(layer))
        self.stack.append((layer, path))
        try:
            y = layer.forward(*args, **kwargs)
        finally:
            self.stack.pop()
        self.check_attributes(layer, path, before, y)
        self.header = self.label()
        return y

    def effect(self, fn: Any, args: tuple, result: Any) -> None:
        from minigrad.optim import Optimizer

        if fn is ops.forget_grads:
            params = list(args[0])
            self.header = "zero_grad()"
            for p in params:
                holder = self.holder(p)
                self.emit_now("{0}.grad = None", [], [self.global_var(p, holder)], effect=True)
                self.grad_state[id(p)] = "none"
                self.keep.append(p)
            return
        if fn is Optimizer.step:
            self.optimizer_step(args[0])
            return
        if fn is _norm._fresh_statistics:
            bn = args[0]
            expr = self.expression(bn, self.stack[-1][1])
            self.header = f"{self.label()}: new arrays for the running statistics"
            self.ns["fresh_statistics"] = _norm._fresh_statistics
            self.emit_now(f"fresh_statistics({expr})", [], [], effect=True)
            for name in bn._buffers:  # why: the buffers now hold new arrays, found by name
                self.register_buffer(bn, expr, name)
            return
        name = getattr(fn, "__name__", "effect").lstrip("_")
        ns_name = self.ns_name(fn, name)
        first = 1 if isinstance(result, np.ndarray) else 0
        parts, ins = [], []
        for a in args:
            if isinstance(a, np.ndarray):
                parts.append("{%d}" % (first + len(ins)))
                ins.append(self.array_value(a, f"{name}()"))
            elif isinstance(a, bool | int | float | str | tuple | np.dtype) or a is None:
                parts.append(_literal(a, self))
            else:
                parts.append(self.ns_name(a, type(a).__name__.lower()))
        call = f"{ns_name}({', '.join(parts)})"
        self.header = f"{self.label()}: {name}" if self.stack else name
        if first:
            self.emit_now("{0} = " + call, [self.new_array(name, result)], ins, effect=True)
        else:
            self.emit_now(call, [], ins, effect=True)

    # --- values -------------------------------------------------------------------------------
    def value(self, t: Tensor) -> _Var:
        """The variable holding ``t``'s array in the plan (found, read, or refused)."""
        v = self.by_tensor.get(id(t))
        if v is not None:
            return v
        a = t.data
        v = self.by_array.get(id(a))
        if v is None:
            if t.requires_grad or (id(t) in self.names and id(a) not in self.names):
                holder = self.holder(t)
                tv = self.global_var(t, holder)
                hint = "_".join(holder.split(".")[1:]) if "." in holder else f"{holder}_data"
                v = _Var(hint, "state")
                self.emit_now("{0} = {1}.data", [v], [tv], header=self.header)
                self.by_array[id(a)] = v
            else:
                v = self.array_value(a, "an op")
        self.by_tensor[id(t)] = v
        self.keep.append(t)
        return v

    def array_value(self, a: Any, what: str) -> _Var:
        v = self.by_array.get(id(a))
        if v is not None:
            return v
        holder = self.holders.get(id(a))
        if holder is not None:
            v = _Var(holder.rsplit(".", 1)[-1], "state")
            self.emit_now(f"{{0}} = {holder}", [v], [], header=self.header)
        elif id(a) in self.names:  # an array fn reaches by name: read when the plan runs
            name = self.names[id(a)]
            root = name.split("[")[0]
            self.ns_name(self.root_object(root), root)
            v = _Var(root, "state")
            self.emit_now(f"{{0}} = {name}", [v], [], header=self.header)
        elif np.ndim(a) == 0:
            return self.constant(np.asarray(a))
        else:
            v = _Var("unknown", "temp")
            shape = np.shape(a)
            self.emit_now("{0} = None", [v], [])
            self.stmts[-1].refused = (
                f"an array of shape {shape} fed to {what} at {_user_line()} was computed "
                f"outside minigrad's ops "
                f"(with NumPy on .data, or before the call), so the plan could not compute it "
                f"again; make it with Tensor ops from the arguments, or pass it as an argument"
            )
        self.by_array[id(a)] = v
        self.keep.append(a)
        return v

    def constant(self, a: np.ndarray, hint: str | None = None) -> _Var:
        key = (a.dtype.str, a.tobytes())
        v = self.consts.get(key)
        if v is None:
            value = a.item()
            words = {0: "zero", 1: "one", 0.5: "half", 2: "two"}
            word = words.get(value, "c") if isinstance(value, int | float) else "c"
            hint = hint or (f"{word}_{a.dtype.name}" if word != "c" else "c")
            name = self.unique(hint)
            self.ns[name] = a.copy()
            v = _Var(name, "global")
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
            root = name.split("[")[0]
            h = self.ns_name(self.root_object(root), root) + name[len(root) :]
            self.holders[id(t)] = h
        return h

    def global_var(self, obj: Any, expr: str) -> _Var:
        v = _Var(expr, "global")
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
        while name in self.ns or name in _RESERVED:
            k += 1
            name = f"{hint}_{k}"
        self.ns[name] = None
        return name

    def new(self, hint: str, out: Tensor) -> _Var:
        v = self.new_array(hint, out.data)
        self.by_tensor[id(out)] = v
        return v

    def new_array(self, hint: str, a: Any) -> _Var:
        # why: NumPy gives a 0-d result back as a scalar in the plan, which no out= can take
        owned = isinstance(a, np.ndarray) and a.ndim > 0 and a.flags.owndata and a.flags.writeable
        v = _Var(hint, "temp", owned, getattr(a, "nbytes", 0))
        self.by_array[id(a)] = v
        self.keep.append(a)
        return v

    def temp(self, hint: str, nbytes: int = 0) -> _Var:
        return _Var(hint, "temp", True, nbytes)

    def array_constant(self, a: np.ndarray, hint: str) -> _Var:
        """A constant array that depends on shapes alone (ones, row offsets)."""
        key = (hint, a.dtype.str, a.shape, a.tobytes())
        v = self.consts.get(key)
        if v is None:
            v = _Var(self.unique(hint), "global")
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

    def emit(self, code: str, outs: list[_Var], ins: list[_Var], effect: bool = False) -> None:
        self.stmts.append(_Stmt(code, outs, ins, effect, self.header))
        self.stmts[-1].from_op = True

    def emit_now(
        self, code: str, outs: list, ins: list, effect: bool = False, header: str | None = None
    ) -> None:
        self.stmts.append(_Stmt(code, outs, ins, effect, self.header if header is None else header))

    def refuse_now(self, why: str) -> None:
        raise RuntimeError(f"mg.compile: {why}")

    # --- what changed outside ops -----------------------------------------------------------
    def check_attributes(self, layer: Any, path: str, before: dict, y: Any) -> None:
        after = vars(layer)
        for name, value in after.items():
            if before.get(name, _MISSING) is value:
                continue
            if name in layer._buffers and isinstance(value, np.ndarray):
                v = self.by_array.get(id(value))
                if v is not None and v.kind == "temp":
                    expr = self.expression(layer, path)
                    self.emit_now(f"{expr}.{name} = {{0}}", [], [v], effect=True)
                    continue
                if self.holders.get(id(value)) == f"{self.expression(layer, path)}.{name}":
                    continue  # why: made by a recorded effect
            raise RuntimeError(
                f"mg.compile: {path} ({type(layer).__name__}) set self.{name} inside forward "
                f"outside minigrad's ops, which a compiled plan cannot repeat; keep state in "
                f"buffers computed with Tensor ops, or run this layer without mg.compile"
            )
        # why: a layer whose output ends here gets the layer's name in the source
        if isinstance(y, Tensor):
            v = self.by_tensor.get(id(y))
            if v is not None and v.kind == "temp" and v.hint == path.rsplit(".", 1)[-1]:
                v.primary = True

    def optimizer_step(self, opt: Any) -> None:
        name = self.ns_name(opt, self.names.get(id(opt), "optimizer"))
        self.header = f"{name}.step() ({type(opt).__name__})"
        grads = []
        for p in opt.params:
            state = self.grad_state.get(id(p))
            grads.append(state)
        from minigrad.optim import SGD

        fast = (
            type(opt) is SGD
            and not opt.momentum
            and not opt.weight_decay
            and "prepare_grads" not in vars(opt)
            and all(isinstance(g, _Var) or g == "none" for g in grads)
        )
        if not fast:
            self.emit_now(f"{name}.step()", [], [], effect=True)
            return
        pairs = [(self.value(p), g) for p, g in zip(opt.params, grads, strict=True) if g != "none"]
        grads_in = [g for _, g in pairs]
        n = len(pairs)
        updates = "".join("\n    {%d} -= lr * {%d}" % (i, n + i) for i in range(n))
        listed = ", ".join("{%d}" % (n + i) for i in range(n))
        code = (
            f"squares = sum_of_squares({listed})  # NaN and inf survive it\n"
            f"if not plain_sgd({name}) or {name}.check_finite and not isfinite(squares):\n"
            f"    {name}.step()  # as it would without mg.compile (it may skip and warn)\n"
            f"else:  # p -= lr * grad\n"
            f"    {name}.t += 1\n"
            f"    lr = {name}.lr{updates}"
        )
        self.ns["sum_of_squares"] = _sum_of_squares
        self.ns["plain_sgd"] = _PlainSGD(opt)
        self.ns["isfinite"] = math.isfinite
        self.emit_now(code, [], [p for p, _ in pairs] + grads_in, effect=True)

    # --- after fn returned ------------------------------------------------------------------
    def finish(self, result: Any) -> None:
        for facts in self.facts.values():
            if facts.layer.training != facts.training:
                raise RuntimeError(
                    f"mg.compile: the function switches {type(facts.layer).__name__} between "
                    f"train() and eval(), which a plan does not repeat; switch modes outside "
                    f"the compiled function (each mode gets a plan of its own)"
                )
        self.header = "the result"
        if result is None:
            self.result = "None"
            return
        items = result if isinstance(result, tuple | list) else (result,)
        parts, ins = [], []
        for r in items:
            if not isinstance(r, Tensor):
                raise TypeError(
                    f"mg.compile: the function returned a {type(r).__name__}; return Tensors "
                    f"(or a tuple of them, or None)"
                )
            if r.requires_grad and r.creator is not None and r.creator.inputs is not None:
                raise RuntimeError(
                    "mg.compile: the function returned a tensor whose graph backward() has not "
                    "gone through, and a compiled plan keeps no graph; call backward() inside "
                    "the function, return r.detach(), or run it under mg.no_grad()"
                )
            holder = self.holders.get(id(r))
            if holder is not None:
                parts.append(holder.replace("{", "{{"))
                self.global_var(r, holder)
                continue
            ins.append(self.value(r))
            flag = ", True" if r.requires_grad else ""
            copy = ".copy()" if ins[-1].kind == "global" else ""  # why: the plan's own constant
            parts.append("result({%d}%s%s)" % (len(ins) - 1, copy, flag))
        self.ns["result"] = _result
        if isinstance(result, tuple | list):
            text = "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
            text = text if isinstance(result, tuple) else "[" + text[1:-1] + "]"
        else:
            text = parts[0]
        self.emit_now("return " + text, [], ins, effect=True)
        self.result = None

    def build(self, params: list[str]) -> _Plan:
        stmts = _live(self.stmts)
        for s in stmts:
            if s.refused:
                raise RuntimeError(f"mg.compile: {s.refused}")
        _name_vars(stmts, self.ns, params)
        lines = [f"def {_identifier(self.fn)}({', '.join(params)}):"]
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
                if last_use.get(id(v), i) == i and v.kind == "temp" and v.nbytes >= _DEL_BYTES
            ]
            if dead and not text.startswith("return"):
                lines.append(f"    del {', '.join(dict.fromkeys(dead))}")
        if self.result == "None":
            lines.append("    return None")
        source = "\n".join(lines) + "\n"
        namespace = {k: v for k, v in self.ns.items() if v is not None}
        code = builtins.compile(source, f"<mg.compile {_identifier(self.fn)}>", "exec")
        exec(code, namespace)
        guards: list[Any] = list(self.facts.values())
        return _Plan(namespace[_identifier(self.fn)], source, guards)


_RESERVED = {
    "lr",
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


class _PlainSGD:
    """True while an SGD optimizer still does ``p -= lr * grad`` on the traced parameters.

    A non-finite sum of squares (NaN, inf, or an overflow) sends the step to the optimizer,
    which then checks each gradient exactly, skips and warns as it always does."""

    def __init__(self, opt: Any) -> None:
        self.params = opt.params
        self.count = len(opt.params)

    def __call__(self, opt: Any) -> bool:
        return (
            opt.params is self.params
            and len(self.params) == self.count
            and not opt.momentum
            and not opt.weight_decay
            and "prepare_grads" not in opt.__dict__
        )


def _live(stmts: list[_Stmt]) -> list[_Stmt]:
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


def _name_vars(stmts: list[_Stmt], ns: dict, params: list[str]) -> None:
    taken = set(ns) | set(params) | _RESERVED | set(dir(builtins))  # no `sum = ...`
    seen: dict[int, _Var] = {}
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


def _identifier(fn: Callable) -> str:
    name = getattr(fn, "__name__", "step")
    return name if name.isidentifier() and name != "<lambda>" else "step"


def _closure_names(fn: Callable, objects: dict[int, Any]) -> dict[int, str]:
    """id -> name of the objects ``fn`` can see: its closure, the globals it names, self.

    ``objects`` gets id -> object for each of them."""
    found: list[tuple[str, Any]] = []
    target = getattr(fn, "__func__", fn)
    self_obj = getattr(fn, "__self__", None)
    if self_obj is not None:
        found.append(("self", self_obj))
    code = getattr(target, "__code__", None)
    if code is None:  # a callable object, such as a layer: compile(model)
        found.append(("model" if hasattr(fn, "_members") else type(fn).__name__.lower(), fn))
        target = getattr(type(fn), "forward", None) or type(fn).__call__
        code = getattr(target, "__code__", None)
    if code is not None:
        cells = getattr(target, "__closure__", None) or ()
        for name, cell in zip(code.co_freevars, cells, strict=False):
            try:
                found.append((name, cell.cell_contents))
            except ValueError:  # an empty cell
                pass
        globals_ = getattr(target, "__globals__", {})
        found.extend((name, globals_[name]) for name in code.co_names if name in globals_)
    for name, obj in list(found):  # why: one level into containers: settings["cond"]
        items: Any = ()
        if isinstance(obj, dict):
            items = obj.items()
        elif isinstance(obj, list | tuple):
            items = enumerate(obj)
        found.extend((f"{name}[{key!r}]", value) for key, value in items)
    names: dict[int, str] = {}
    for name, obj in found:
        if id(obj) not in names:
            names[id(obj)] = name
            objects[id(obj)] = obj
    return names


def _literal(value: Any, tracer: _Tracer) -> str:
    if isinstance(value, np.dtype):
        return tracer.ns_name(value, value.name)
    if isinstance(value, float) and not np.isfinite(value):
        return f"float('{value}')"
    return repr(value)


# --- helpers the generated code calls ---------------------------------------------------------
def _run_forward(cls: type, *xs: np.ndarray, **settings: Any) -> Any:
    """Run the forward of op class ``cls`` on arrays, as the engine would."""
    op = cls.__new__(cls)
    op.__dict__.update(settings)
    return op.forward(*xs)


def _softmax_cross_entropy(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss and softmax(x): ops.SoftmaxCrossEntropy's forward (checks included)."""
    op = ops.SoftmaxCrossEntropy.__new__(ops.SoftmaxCrossEntropy)
    loss = op.forward(x, t)
    return loss, op.p


def _accumulate_grad(t: Tensor, g: np.ndarray) -> None:
    """``t.grad += g``, or ``t.grad = g`` (a copy) when it has none: the engine's rule."""
    t.grad = g.copy() if t.grad is None else t.grad + g


def _sum_of_squares(*grads: np.ndarray) -> Any:
    """g.g summed over the gradients: finite exactly when every value is (or an overflow)."""
    return sum(map(np.vdot, grads, grads))


class _Freed(Op):
    """The creator of a returned tensor that required grad: its graph is gone, as eagerly."""


_FREED = _Freed.__new__(_Freed)
_FREED.inputs = None


def _result(data: Any, requires_grad: bool = False) -> Tensor:
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = t.name = None
    t.clock = 0
    t.requires_grad = requires_grad
    t.creator = _FREED if requires_grad else None
    return t


def _refuse_read(name: str) -> Callable:
    def read(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"mg.compile: the compiled function reads a tensor's value ({_how(name)}) at "
            f"{_user_line()}; a plan runs without Python seeing values, so it cannot branch "
            f"on them: return the value instead (return the tensor, then read it outside)"
        )

    read.__name__ = name
    return read


def _how(name: str) -> str:
    return {
        "__bool__": "bool(t), e.g. in an if",
        "__float__": "float(t)",
        "__int__": "int(t)",
        "__index__": "an index",
        "__format__": 'f"{t:...}"',
        "item": "t.item()",
        "tolist": "t.tolist()",
    }[name]


def _user_line(frame: Any = None) -> str:
    """``file:line: code`` of the innermost frame outside minigrad."""
    frame = frame or sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    if frame is None:
        return "an unknown line"
    import linecache

    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno} ({code})"


# --- forward and backward of each op, as NumPy source -------------------------------------------
def _generic_forward(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
    name = tr.ns_name(type(op), type(op).__name__)
    settings, extra = _settings(tr, op)
    args = ", ".join("{%d}" % (i + 1) for i in range(len(ins)))
    tr.emit("{0} = forward(%s, %s%s)" % (name, args, settings), [y], ins + extra)


def _settings(tr: _Tracer, op: Op) -> tuple[str, list[_Var]]:
    extra: list[_Var] = []
    n_inputs = len(tr.ops[id(op)][1])
    parts = []
    for key, value in op.__dict__.items():
        parts.append(f", {key}={_render(tr, value, extra, n_inputs, f'{op!r}')}")
    return "".join(parts), extra


def _render(tr: _Tracer, value: Any, extra: list[_Var], base: int, what: str) -> str:
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
        return _literal(value, tr)
    return tr.ns_name(value, type(value).__name__.lower())


def _binary(symbol: str) -> Callable:
    def emit(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
        tr.emit("{0} = {1} %s {2}" % symbol, [y], ins)

    return emit


def _call(template: str) -> Callable:
    def emit(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
        tr.emit("{0} = " + template, [y], ins)

    return emit


def _with_settings(template: str, *names: str) -> Callable:
    def emit(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
        extra: list[_Var] = []
        values = {n: _render(tr, getattr(op, n), extra, len(ins), repr(op)) for n in names}
        tr.emit("{0} = " + template.format(**values), [y], ins + extra)

    return emit


def _affine_forward(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
    tr.emit("{0} = {1} @ {2}\n{0} += {3}", [y], ins)


def _relu_forward(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
    zero = tr.constant(np.zeros((), dtype=tr.inputs[id(op)][0].dtype))
    tr.emit("{0} = np.maximum({1}, {2})", [y], [ins[0], zero])
    tr.stmts[-1].alt = (ins[0], "{0} = np.maximum({1}, {2}, out={1})")


def _sigmoid_forward(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
    half = tr.constant(np.asarray(0.5, dtype=tr.inputs[id(op)][0].dtype))
    tr.emit("{0} = np.tanh({1} * {2}) * {2} + {2}", [y], [ins[0], half])


def _sce_forward(tr: _Tracer, op: Op, ins: list[_Var], y: _Var) -> None:
    x, t = tr.inputs[id(op)]
    if t.ndim != 1 or x.ndim != 2:  # target rows: the op's own forward
        p = tr.temp("probabilities", op.p.nbytes)
        tr.ns["softmax_cross_entropy"] = _softmax_cross_entropy
        tr.emit("{0}, {1} = softmax_cross_entropy({2}, {3})", [y, p], ins)
        tr.saved[id(op)] = p
        return
    n, c = x.shape
    # the op's forward written out, for integer labels: the same formulas, so the same numbers
    # (np.add.reduce is what .sum() calls, without its Python wrapper)
    z, e, s = (tr.temp(h, x.data.nbytes) for h in ("shifted", "probabilities", "row_sums"))
    s.nbytes = n * x.dtype.itemsize
    rows = tr.array_constant(np.arange(0, n * c, c), "row_starts")
    labelled = tr.temp("labelled", n * np.dtype(np.intp).itemsize)
    tr.ns["check_labels"] = _check_labels
    if t.dtype == np.intp:  # why: one reduction checks both ends (a negative label is huge)
        tr.ns["uintp"] = np.uintp
        check = "if np.maximum.reduce({4}.view(uintp)) >= %d:\n    check_labels({4}, %d)" % (c, c)
    else:
        check = "check_labels({4}, %d)" % c
    dtype = tr.ns_name(x.dtype, x.dtype.name)
    tr.emit(
        check + "\n"
        "{7} = {6} + {4}  # the flat positions of the labelled scores\n"
        "{0} = {3} - np.maximum.reduce({3}, axis=1, keepdims=True)\n"
        "{1} = np.exp({0})\n"
        "{2} = np.add.reduce({1}, axis=1, keepdims=True)\n"
        "{5} = (np.add.reduce(np.log({2}), axis=None) - np.add.reduce({0}.take({7}))) / %d\n"
        "{5} = np.asarray({5}, dtype=%s)\n"
        "{1} /= {2}" % (n, dtype),
        [z, e, s, y],
        [ins[0], ins[1], rows],
    )
    stmt = tr.stmts[-1]  # why: y and labelled are outputs too, numbered after the inputs
    stmt.vars = [z, e, s, ins[0], ins[1], y, rows, labelled]
    stmt.defs = [z, e, s, y, labelled]
    tr.saved[id(op)] = e  # softmax(x), once divided
    tr.saved[("labelled", id(op))] = labelled


def _check_labels(t: np.ndarray, c: int) -> None:
    """The cross-entropy's label check (dtype and range), as the op does it."""
    if t.dtype.kind not in "iu" or t.astype(np.intp, copy=False).view(np.uintp).max() >= c:
        op = ops.SoftmaxCrossEntropy.__new__(ops.SoftmaxCrossEntropy)
        op.forward(np.zeros((len(t), c)), t)  # raises the op's own error


_FORWARD: dict[type, Callable] = {
    ops.Add: _binary("+"),
    ops.Sub: _binary("-"),
    ops.Mul: _binary("*"),
    ops.Div: _binary("/"),
    ops.Pow: _binary("**"),
    ops.MatMul: _binary("@"),
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


# backward: one function per op whose eager backward builds arrays from data, or is hot.
# Each gets the gradient variable, the forward's variables and which inputs need a gradient,
# and returns one variable (or None) per input. Every other op's backward is replayed from
# the ops it ran.
def _affine_backward(tr: _Tracer, op: Op, g: _Var, ins: list[_Var], y: _Var, need: list[bool]):
    x, w, b = ins
    gx = gw = gb = None
    if need[0]:
        gx = tr.temp(f"g_{x.hint}")
        tr.emit("{0} = {1} @ {2}.T", [gx], [g, w])
    if need[1]:
        gw = tr.temp(f"g_{w.hint}")
        tr.emit("{0} = {1}.T @ {2}", [gw], [x, g])
    if need[2]:
        gb = tr.temp(f"g_{b.hint}")
        n = op.inputs[0].shape[0]
        ones = tr.array_constant(np.ones(n, dtype=op.inputs[2].dtype), "ones")
        # why: the column sums as one matrix-vector product, 2-3x faster than g.sum(axis=0)
        tr.emit("{0} = {1} @ {2}", [gb], [ones, g])
    return [gx, gw, gb]


def _matmul_backward(tr: _Tracer, op: Op, g: _Var, ins: list[_Var], y: _Var, need: list[bool]):
    x, w = op.inputs
    if x.ndim != 2 or w.ndim != 2:
        return None  # why: the batched and 1-D cases are replayed from the ops backward ran
    gx = gw = None
    if need[0]:
        gx = tr.temp(f"g_{ins[0].hint}")
        tr.emit("{0} = {1} @ {2}.T", [gx], [g, ins[1]])
    if need[1]:
        gw = tr.temp(f"g_{ins[1].hint}")
        tr.emit("{0} = {1}.T @ {2}", [gw], [ins[0], g])
    return [gx, gw]


def _relu_backward(tr: _Tracer, op: Op, g: _Var, ins: list[_Var], y: _Var, need: list[bool]):
    gx = tr.temp(f"g_{ins[0].hint}")
    zero = tr.constant(np.zeros((), dtype=op.inputs[0].dtype))
    tr.emit("{0} = {1} * ({2} > {3})", [gx], [g, y, zero])  # y > 0 exactly where x > 0
    tr.stmts[-1].alt = (g, "{0} = np.multiply({1}, {2} > {3}, out={1})")
    return [gx]


def _sce_backward(tr: _Tracer, op: Op, g: _Var, ins: list[_Var], y: _Var, need: list[bool]):
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


def _max_backward(tr: _Tracer, op: Op, g: _Var, ins: list[_Var], y: _Var, need: list[bool]):
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


def _abs_backward(tr: _Tracer, op: Op, g: _Var, ins: list[_Var], y: _Var, need: list[bool]):
    gx = tr.temp(f"g_{ins[0].hint}")
    tr.emit("{0} = {1} * np.sign({2})", [gx], [g, ins[0]])
    return [gx]


def _clip_backward(tr: _Tracer, op: Op, g: _Var, ins: list[_Var], y: _Var, need: list[bool]):
    gx = tr.temp(f"g_{ins[0].hint}")
    tests = []
    if op.lo is not None:
        tests.append(f"({{2}} >= {_literal(op.lo, tr)})")
    if op.hi is not None:
        tests.append(f"({{2}} <= {_literal(op.hi, tr)})")
    inside = " & ".join(tests) if tests else "True"
    tr.emit("{0} = {1} * (%s)" % inside, [gx], [g, ins[0]])
    return [gx]


_BACKWARD: dict[type, Callable] = {
    ops.Affine: _affine_backward,
    ops.MatMul: _matmul_backward,
    ops.ReLU: _relu_backward,
    ops.SoftmaxCrossEntropy: _sce_backward,
    ops.Max: _max_backward,
    ops.Abs: _abs_backward,
    ops.Clip: _clip_backward,
}
