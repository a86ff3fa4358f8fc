"""The tracer: watches one run of the compiled function and records what the plan must do.

It is ``tensor.observer`` while ``fn`` runs: every op the engine runs (``forward``), each
backward step (``backward``), each leaf gradient stored (``accumulate``), each layer call
(``call_layer``) and each piece of work done outside ops through ``ops.effect`` (dropout
masks, running statistics, ``zero_grad``, an optimizer's step). Writes of ``.data`` and
``.grad`` and reads of a value (``item()``, ``float(t)``...) are intercepted for the run.
"""

# ruff: noqa: UP031  (the templates hold {0}-style slots, so % fills in the rest)
from __future__ import annotations

import inspect
import sys
from typing import Any

import numpy as np

import minigrad.tensor as engine
from minigrad import ops
from minigrad.compile.backward_rules import BACKWARD_RULES
from minigrad.compile.builder import PlanBuilder
from minigrad.compile.codegen import RESERVED, Var, literal
from minigrad.compile.forward_rules import emit_forward
from minigrad.compile.guards import MISSING, LayerFacts, Plan
from minigrad.compile.runtime import accumulate_grad, make_result
from minigrad.compile.sgd import PlainSGD, emit_plain_sgd
from minigrad.compile.user_code import (
    PACKAGE,
    from_user,
    in_traced_thread,
    read_only,
    run_watched,
    user_line,
)
from minigrad.nn import layer as nn_layer
from minigrad.nn import norm
from minigrad.tensor import Op, Tensor


class Tracer(PlanBuilder):
    """Watches one run of ``fn`` (as ``tensor.observer``) and writes its plan."""

    # --- running fn -----------------------------------------------------------------------
    def trace(self, args: tuple) -> tuple[Plan, Any]:
        params = self.bind(args)
        self.find_parameters()
        result = run_watched(self, args)
        self.finish(result)
        plan = self.build(params, args)
        plan.param_lists = list(self.param_lists.values())
        return plan, result

    def bind(self, args: tuple) -> list[str]:
        target = self.fn.forward if isinstance(self.fn, nn_layer.Layer) else self.fn
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
            name = names[i] if i < len(names) and names[i] not in RESERVED else f"arg{i}"
            self.ns.setdefault(name, None)  # why: taken, so no constant of the plan gets it
            params.append(name)
            if type(a) is np.ndarray:
                v = Var(name, "arg")
                v.name = name
                self.by_array[id(a)] = v
            elif isinstance(a, Tensor):
                v = Var(name, "arg")
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
            if isinstance(obj, nn_layer.Layer) and name.isidentifier():
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

    def data_of(self, tensor_var: Var, a: Tensor) -> Var:
        v = Var(f"{tensor_var.name}_data", "state", nbytes=0)
        self.emit_now("{0} = {1}.data", [v], [tensor_var], header="the arguments' arrays")
        return v

    def read_data(self, t: Tensor) -> Any:
        frame = sys._getframe(1)
        if frame.f_code.co_name in ("numpy", "__array__"):  # why: t.numpy(), np.asarray(t)
            frame = frame.f_back
        value = self.slots[0].__get__(t)
        if frame.f_code.co_filename.startswith(PACKAGE) or not in_traced_thread(self):
            return value
        if self.value_read is None:
            self.value_read = user_line(frame)
        return read_only(self, value)

    def read_grad(self, t: Tensor) -> Any:
        value = self.slots[1].__get__(t)
        return read_only(self, value) if from_user(self) else value

    def write_data(self, t: Tensor, value: Any) -> None:
        if from_user(self):
            raise RuntimeError(
                f"mg.compile: the compiled function assigns a tensor's .data at {user_line()} "
                f"(an update outside minigrad's ops, such as w.data -= lr * w.grad), which a "
                f"plan cannot repeat; use an optimizer from mg.optim, or Tensor ops"
            )
        self.slots[0].__set__(t, value)

    def write_grad(self, t: Tensor, value: Any) -> None:
        if from_user(self):
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
                        f"mg.compile: the compiled function sets .grad at {user_line()} to an "
                        f"array computed outside minigrad's ops, which a plan cannot repeat; "
                        f"set it to None (or use zero_grad()) and let backward() fill it"
                    )
                self.emit_now("{0}.grad = {1}", [], [h, v], effect=True)
                self.grad_state[id(t)] = v
                self.stored_as_grad.add(id(v))
                v.owned = False
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
        emit_forward(self, op, ins, y)

    def backward(self, op: Op, gy: Tensor, gxs: tuple) -> None:
        if engine.is_grad_enabled():
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
        custom = BACKWARD_RULES.get(type(op))
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
        # why: NumPy gives a scalar for a 0-d result; .grad holds an array, as eagerly
        wrap = "np.asarray(%s)" if leaf.data.ndim == 0 else "%s"
        if state == "none":
            if v.owned and id(v) not in self.stored_as_grad:
                self.emit_now("{0}.grad = " + wrap % "{1}", [], [h, v], effect=True)
            else:
                copy = "np.array({1})" if leaf.data.ndim == 0 else "{1}.copy()"
                self.emit_now("{0}.grad = " + copy, [], [h, v], effect=True)
        elif state is not None:  # a Var or "summed": .grad holds an array
            self.emit_now("{0}.grad = " + wrap % "{0}.grad + {1}", [], [h, v], effect=True)
        else:
            self.emit_now("accumulate({0}, {1})", [], [h, v], effect=True)
            self.ns["accumulate"] = accumulate_grad
        self.stored_as_grad.add(id(v))
        v.owned = False  # why: the user holds it now: no later statement may write into it
        # why: a sum is not v, so an optimizer step must read .grad itself
        self.grad_state[id(leaf)] = v if state == "none" else "summed"
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
            self.facts[id(layer)] = LayerFacts(layer)
            self.keep.append(layer)
            expr = self.expression(layer, path)
            for member, value in layer._members.items():
                if isinstance(value, Tensor):
                    self.holders.setdefault(id(value), f"{expr}.{member}")
        expr = self.expression(layer, path)
        for buffer in layer._buffers:
            self.register_buffer(layer, expr, buffer)
        for attr, value in vars(layer).items():  # why: a fixed mask or scale, read every call
            if isinstance(value, Tensor) and attr not in layer._members:
                self.holders.setdefault(id(value), f"{expr}.{attr}")
            elif type(value) is np.ndarray and attr not in layer._buffers:
                self.register_buffer(layer, expr, attr)
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
            self.watch_list(args[0])
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
        if fn is norm._fresh_statistics:
            bn = args[0]
            expr = self.expression(bn, self.stack[-1][1])
            self.header = f"{self.label()}: new arrays for the running statistics"
            self.ns["fresh_statistics"] = norm._fresh_statistics
            self.emit_now(f"fresh_statistics({expr})", [], [], effect=True)
            for name in bn._buffers:  # why: the buffers now hold new arrays, found by name
                self.register_buffer(bn, expr, name)
            return
        for a in args:  # why: an effect given tensors may change their gradients in place
            for t in a if isinstance(a, list | tuple) else (a,):
                if isinstance(t, Tensor):
                    self.grad_state.pop(id(t), None)
                elif isinstance(t, np.random.Generator):  # a draw the plan makes again
                    self.effect_draws.append((fn, args))
        name = getattr(fn, "__name__", "effect").lstrip("_")
        ns_name = self.ns_name(fn, name)
        first = 1 if isinstance(result, np.ndarray) else 0
        parts, ins = [], []
        for a in args:
            if isinstance(a, np.ndarray):
                parts.append("{%d}" % (first + len(ins)))
                ins.append(self.array_value(a, f"{name}()"))
            elif isinstance(a, bool | int | float | str | tuple | np.dtype) or a is None:
                parts.append(literal(a, self))
            else:
                hint = "params" if isinstance(a, list | tuple) else type(a).__name__.lower()
                parts.append(self.ns_name(a, hint))
        call = f"{ns_name}({', '.join(parts)})"
        self.header = f"{self.label()}: {name}" if self.stack else name
        if first:
            self.emit_now("{0} = " + call, [self.new_array(name, result)], ins, effect=True)
        else:
            self.emit_now(call, [], ins, effect=True)

    # --- what changed outside ops -----------------------------------------------------------
    def check_attributes(self, layer: Any, path: str, before: dict, y: Any) -> None:
        after = vars(layer)
        for name, value in after.items():
            if before.get(name, MISSING) is value:
                continue
            if name in layer._buffers and isinstance(value, np.ndarray):
                v = self.by_array.get(id(value))
                if v is not None and v.kind == "temp":
                    expr = self.expression(layer, path)
                    self.emit_now(f"{expr}.{name} = {{0}}", [], [v], effect=True)
                    v.owned = False  # why: a buffer holds it now
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

    def watch_list(self, params: Any, optimizer: Any = None) -> None:
        """A plan bakes in an optimizer's parameters: it traces again if its list changes."""
        if (
            optimizer is not None
            or isinstance(params, list)
            and any(getattr(o, "params", None) is params for o in self.fn_objects.values())
        ):
            self.param_lists[id(params)] = (params, tuple(params))

    def optimizer_step(self, opt: Any) -> None:
        self.watch_list(opt.params, opt)
        name = self.ns_name(opt, self.names.get(id(opt), "optimizer"))
        self.header = f"{name}.step() ({type(opt).__name__})"
        grads = []
        for p in opt.params:
            state = self.grad_state.get(id(p))
            grads.append(state)
        from minigrad.optim import SGD

        dtypes = list(dict.fromkeys(p.data.dtype for p in opt.params))
        fast = (
            type(opt) is SGD
            and PlainSGD(dtypes)(opt)  # the same test the plan repeats on every call
            and all(isinstance(g, Var) or g == "none" for g in grads)
        )
        if not fast:
            self.emit_now(f"{name}.step()", [], [], effect=True)
            return
        kept = [(p, g) for p, g in zip(opt.params, grads, strict=True) if g != "none"]
        emit_plain_sgd(self, opt, name, kept)

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
            if r is None and items is result:  # why: a tuple may leave a place empty
                parts.append("None")
                continue
            if not isinstance(r, Tensor):
                raise TypeError(
                    f"mg.compile: the function returned a {type(r).__name__}; return Tensors "
                    f"(or a tuple of Tensors and Nones, or None)"
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
        self.ns["result"] = make_result
        if isinstance(result, tuple | list):
            text = "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
            text = text if isinstance(result, tuple) else "[" + text[1:-1] + "]"
        else:
            text = parts[0]
        self.emit_now("return " + text, [], ins, effect=True)
        self.result = None
