"""What the tracer knows of the user's code: the objects ``fn`` can see by name, the line it
is on (for error messages), and what it refuses while ``fn`` runs (``run_watched``): reading a
value, changing an array in place, setting an optimizer's attribute, drawing at random."""

from __future__ import annotations

import os
import re
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad.tensor as engine
from minigrad.tensor import Tensor

# why: frames in minigrad's own files are not the user's line
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "__format__")


def closure_names(
    fn: Callable, objects: dict[int, Any], sources: dict[str, tuple[Any, str | None]]
) -> dict[int, str]:
    """id -> name of the objects ``fn`` can see: its closure, the globals it names, self.

    ``objects`` gets id -> object for each of them, and ``sources`` name -> where the name
    is looked up (a closure cell and None, or the globals and the name), so that a plan can
    tell when a name is bound to another object."""
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
                sources[name] = (cell, None)
            except ValueError:  # an empty cell
                pass
        globals_ = getattr(target, "__globals__", {})
        for name in code.co_names:
            if name in globals_:
                found.append((name, globals_[name]))
                sources[name] = (globals_, name)
    for name, obj in list(found):  # why: one level into containers: settings["cond"]
        items: Any = ()
        if isinstance(obj, dict):
            items = obj.items()
        elif isinstance(obj, list | tuple):
            items = enumerate(obj)
        elif _plain(obj):  # a config object's arrays: cfg.scale
            found.extend(
                (f"{name}.{key}", value)
                for key, value in vars(obj).items()
                if isinstance(value, np.ndarray | Tensor) and key.isidentifier()
            )
        found.extend((f"{name}[{key!r}]", value) for key, value in items)
    names: dict[int, str] = {}
    for name, obj in found:
        if id(obj) not in names:
            names[id(obj)] = name
            objects[id(obj)] = obj
    return names


def root_of(name: str) -> str:
    """The variable a name found by ``closure_names`` starts from: ``cfg`` of ``cfg.scale``."""
    return re.split(r"[.\[]", name, maxsplit=1)[0]


def _plain(obj: Any) -> bool:
    """An instance of a user's class (a config namespace), not a module, class or function,
    nor one of minigrad's objects, whose members the tracer finds in their own ways."""
    from minigrad.nn.layer import Layer
    from minigrad.optim import Optimizer

    return (
        hasattr(obj, "__dict__")
        and not isinstance(obj, types.ModuleType | type | Callable | Layer | Optimizer | Tensor)
        and not isinstance(obj, np.ndarray)
    )


def refuse_read(name: str) -> Callable:
    def read(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"mg.compile: the compiled function reads a tensor's value ({_how(name)}) at "
            f"{user_line()}; a plan runs without Python seeing values, so it cannot branch "
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


def user_line(frame: Any = None) -> str:
    """``file:line: code`` of the innermost frame outside minigrad."""
    frame = frame or sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE):
        frame = frame.f_back
    if frame is None:
        return "an unknown line"
    import linecache

    code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"{frame.f_code.co_filename}:{frame.f_lineno} ({code})"


# --- what fn does while it is traced -------------------------------------------------------
def run_watched(tr: Any, args: tuple) -> Any:
    """Run ``fn`` with ``tr`` as the engine's observer, and with what a plan could not
    repeat made to fail at the line that does it: reading a value, writing ``.data`` or
    ``.grad`` (``tr`` records what it can), setting an optimizer's attribute, drawing at random."""
    from minigrad.optim import Optimizer

    previous, engine.observer = engine.observer, tr
    saved = {name: Tensor.__dict__.get(name, _MISSING) for name in (*READS, "data", "grad")}
    for name in READS:
        setattr(Tensor, name, refuse_read(name))
    Tensor.data = property(tr.read_data, tr.write_data)
    Tensor.grad = property(tr.read_grad, tr.write_grad)
    tr.slots = saved["data"], saved["grad"]
    own_setattr = Optimizer.__dict__.get("__setattr__", _MISSING)
    Optimizer.__setattr__ = refuse_setting
    generators = [o for o in tr.fn_objects.values() if isinstance(o, np.random.Generator)]
    before = random_states(generators)
    try:
        result = tr.fn(*args)
        check_draws(tr, generators, before, random_states(generators))
    except ValueError as e:
        if not (tr.views_given and "read-only" in str(e)):
            raise
        raise RuntimeError(
            f"mg.compile: the compiled function changes a tensor's .data or .grad in place "
            f"with NumPy at {user_frame(e)}, which a plan cannot repeat; use Tensor ops or "
            f"an optimizer from mg.optim, or make the change outside, between calls"
        ) from e
    finally:
        engine.observer = previous
        for cls, name, method in [
            (Optimizer, "__setattr__", own_setattr),
            *((Tensor, name, method) for name, method in saved.items()),
        ]:
            if method is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, method)
    return result


_MISSING = object()


def check_draws(tr: Any, generators: list, before: list, after: list) -> None:
    """A draw of fn's own from NumPy is an error: the plan would replay the trace's numbers.

    minigrad draws nothing from NumPy's global generator during a step, so any change there
    is fn's; a generator fn names may also feed a recorded draw (a Dropout's mask), which
    the plan repeats, so it only makes the arrays NumPy made from it suspect.
    """
    drawn = [g for g, b, a in zip(generators, before[1:], after[1:], strict=True) if b != a]
    own = before[0] != after[0] or any(id(g) not in tr.effect_generators for g in drawn)
    if own:
        raise RuntimeError(
            "mg.compile: the compiled function draws at random with NumPy (np.random, or a "
            "generator it names), and a plan would repeat the numbers of the first call; "
            "draw them outside and pass them as an argument, or use Dropout"
        )
    if drawn and tr.value_read is None:
        tr.value_read = "a NumPy random draw (a generator it names)"


def read_only(tr: Any, a: Any) -> Any:
    """What fn's own code gets of a ``.data`` or ``.grad``: a read-only view, so that a
    change in place with NumPy, which a plan could not repeat, fails instead of passing."""
    if type(a) is not np.ndarray:
        return a
    view = a.view()
    view.flags.writeable = False
    for known in (tr.by_array, tr.holders):
        if id(a) in known:
            known[id(view)] = known[id(a)]
    tr.keep.append(view)
    tr.views_given = True
    return view


def user_frame(e: BaseException) -> str:
    """The last line of the user's code in ``e``'s traceback, as ``file:line (code)``."""
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if not f.filename.startswith(PACKAGE) and f"{os.sep}numpy{os.sep}" not in f.filename
    ]
    if not frames:
        return "a line of the function"
    f = frames[-1]
    return f"{f.filename}:{f.lineno} ({(f.line or '').strip()})"


def refuse_setting(opt: Any, name: str, value: Any) -> None:
    """An optimizer's ``__setattr__`` during a trace: the optimizer's own methods may set what
    they keep (the step count; the plan calls them again), fn's code may not change a setting."""
    frame = sys._getframe(1)
    if not frame.f_code.co_filename.startswith(PACKAGE) and frame.f_locals.get("self") is not opt:
        raise RuntimeError(
            f"mg.compile: the compiled function sets {type(opt).__name__}.{name} at "
            f"{user_line()}, which a plan does not repeat; set it outside the function, "
            f"between calls (the plan reads the optimizer's settings on every call)"
        )
    object.__setattr__(opt, name, value)


def random_states(generators: list[np.random.Generator]) -> list[Any]:
    """The states of NumPy's global generator and of ``generators``, to see if fn drew."""
    legacy = np.random.get_state(legacy=False)  # why: a dict, made faster than the tuple
    # why: a normal draw may take only the cached second value, which moves no key or position
    state = (legacy["state"]["key"].tobytes(), legacy["state"]["pos"])
    return [(*state, legacy["has_gauss"], legacy["gauss"])] + [
        repr(g.bit_generator.state) for g in generators
    ]
