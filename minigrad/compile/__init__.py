"""mg.compile: trace a step once, then run it as straight-line NumPy.

``compile(fn)`` runs ``fn`` itself on its first call for each combination of argument
shapes and dtypes (and grad mode), with a tracer watching: every op the engine runs
(``Op.apply`` tells ``tensor.observer``, backward included, since backward is written in
Tensor ops), every leaf gradient it stores, every layer call, and the work done outside
ops, which goes through ``ops.effect`` (dropout masks, running statistics, ``zero_grad``,
an optimizer's step). From what it saw the tracer writes one Python function of plain
NumPy statements, the *plan*, and compiles it; later calls run the plan.

The package, in the order a call meets it: ``guards`` (the key of a plan and the facts it
depends on), ``tracer`` (the observer that watches ``fn`` run), ``user_code`` (what it
sees of the user's code, and refuses while ``fn`` runs), ``builder`` (the plan's
names, values and statements as the tracer writes them), ``forward_rules`` and
``backward_rules`` (each op as NumPy source), ``sgd`` (a plain SGD step written out),
``codegen`` (statements to Python source) and ``runtime`` (the few helpers the generated code
calls).

How a plan stays right:

- every array an op reads must come from somewhere the plan can find again on the next
  call: an argument, a parameter or buffer (read when the plan runs), a value the plan
  computed, a recorded effect (a dropout mask drawn from the same generator), or a 0-d
  constant. Any other array was made with NumPy: it is a constant of the plan (kept
  read-only) once a second trace, on other arguments, made the same one; until then the
  plan runs only on the arguments it was traced with. An array that changed with the
  arguments, or any such array when ``fn`` reads ``.data``, is an error naming the line
  (``guards.Plan.confirm``, ``builder.PlanBuilder.build``); a random draw of ``fn``'s own
  from NumPy is an error too (``user_code.check_draws``): the plan would repeat it;
- backward of the ops whose eager backward builds arrays from data (ReLU's mask, the
  cross-entropy's probabilities, Max, Abs, Clip) and of the hot ops (Affine, MatMul) is
  written in ``backward_rules`` from the op's inputs and output; every other backward is
  replayed from the
  ops it ran;
- guards: a plan is keyed by the arguments' shapes, dtypes and grad mode, and checks one
  number per call, ``nn.layer.structure_version``, bumped by anything that changes layers
  (an assignment, ``train()``/``eval()``, ``astype``, ``load_state_dict``); when it moved,
  the plan compares every layer it called with what it saw (modes, members, settings,
  parameter shapes and dtypes) and traces again if anything differs;
- reading a value inside ``fn`` (``item()``, ``float(t)``, ``bool(t)``, ``f"{t:.3f}"``) is an
  error at the first call naming the line: the plan could not take that Python branch.

>>> import numpy as np
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

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import minigrad.tensor as engine
from minigrad.compile.guards import Plan, plan_key
from minigrad.compile.tracer import Tracer
from minigrad.nn import layer as nn_layer

__all__ = ["Compiled", "compile"]


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
        self._plans: dict[tuple, Plan] = {}
        self._last: Plan | None = None

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
        if engine.observer is not None:  # why: inside another trace or detect_anomaly
            return self.fn(*args)
        key = plan_key(args)
        plan = self._plans.get(key)
        if plan is not None and plan.version != nn_layer.structure_version[0]:
            plan = plan if plan.still_valid() else None
        if plan is not None and not plan.still_bound():  # a list edited, a name rebound
            plan = None
        # why: a plan with unconfirmed constants runs only on the arguments it was traced
        # with; new ones trace again, which confirms the constants (or refuses them)
        if plan is None or plan.unconfirmed and not plan.same_arguments(args):
            traced, result = Tracer(self.fn).trace(args)
            if plan is not None:
                traced.confirm(plan)
            plan = self._plans[key] = traced
            self._last = plan
            return result
        self._last = plan
        return plan.function(*args)
