"""What the tracer knows of the user's code: the objects ``fn`` can see by name, the line it
is on (for error messages), and what it refuses while ``fn`` runs (``run_watched``): reading a
value, changing an array in place, setting an optimizer's attribute, drawing at random."""

from __future__ import annotations

import os
import re
import sys
import threading
import traceback
import types
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad.tensor as engine
from minigrad.compile.guards import MISSING
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
                if isinstance(value, np.ndarray | Tensor | np.random.Generator)
                and key.isidentifier()
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


def refuse_read(name: str, tr: Any, original: Any) -> Callable:
    def read(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        if not in_traced_thread(tr):  # why: another thread's code is not being traced
            if original is None:  # why: Tensor has no such method: as Python would say
                raise TypeError(f"{type(self).__name__} does not support {_how(name)}")
            return original(self, *args, **kwargs)
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
    saved = {name: Tensor.__dict__.get(name, MISSING) for name in (*READS, "data", "grad")}
    tr.thread = threading.get_ident()
    for name in READS:
        own = saved[name]
        inherited = next((vars(c)[name] for c in Tensor.__mro__[1:] if name in vars(c)), None)
        setattr(Tensor, name, refuse_read(name, tr, inherited if own is MISSING else own))
    Tensor.data = property(tr.read_data, tr.write_data)
    Tensor.grad = property(tr.read_grad, tr.write_grad)
    tr.slots = saved["data"], saved["grad"]
    own_setattr = Optimizer.__dict__.get("__setattr__", MISSING)
    Optimizer.__setattr__ = refuse_setting(tr)
    generators = [o for o in tr.fn_objects.values() if isinstance(o, np.random.Generator)]
    before = global_random_state()
    starts = [g.bit_generator.state for g in generators]  # why: each read is a new dict
    try:
        result = tr.fn(*args)
        check_draws(tr, before, list(zip(generators, starts, strict=True)))
    except ValueError as e:
        if not (tr.views_given and "read-only" in str(e)):
            raise
        raise RuntimeError(
            f"mg.compile: NumPy refused to write into a read-only array at {user_frame(e)}; "
            f"inside a compiled function a tensor's .data and .grad are read-only, since a "
            f"plan cannot repeat a change in place with NumPy: use Tensor ops or an optimizer "
            f"from mg.optim, or make the change outside, between calls"
        ) from e
    finally:
        engine.observer = previous
        for cls, name, method in [
            (Optimizer, "__setattr__", own_setattr),
            *((Tensor, name, method) for name, method in saved.items()),
        ]:
            if method is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, method)
    return result


def check_draws(tr: Any, before: tuple, starts: list[tuple[np.random.Generator, dict]]) -> None:
    """A draw of fn's own from NumPy is an error: the plan would replay the trace's numbers.

    minigrad draws nothing from NumPy's global generator during a step, so any change there
    is fn's; a generator fn names may also feed a recorded draw (a Dropout's mask), which the
    plan repeats: its draws are replayed from where the generator started, and fn drew too
    if that does not end where the generator did.
    """
    if before != global_random_state() or not all(
        _only_recorded(tr, g, start) for g, start in starts
    ):
        raise RuntimeError(
            "mg.compile: the compiled function draws at random with NumPy (np.random, or a "
            "generator it names), and a plan would repeat the numbers of the first call; "
            "draw them outside and pass them as an argument, or use Dropout"
        )


def _only_recorded(tr: Any, g: np.random.Generator, start: dict) -> bool:
    """Whether the recorded draws from ``g`` (dropout masks), replayed from ``start``, end
    where ``g`` is now: then fn drew nothing of its own from it."""
    now = repr(g.bit_generator.state)
    if now == repr(start):  # nothing drawn from it at all
        return True
    replay = np.random.Generator(type(g.bit_generator)())
    replay.bit_generator.state = start
    for fn, args in tr.effect_draws:
        if any(a is g for a in args):
            fn(*(replay if a is g else a for a in args))
    return repr(replay.bit_generator.state) == now


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


def refuse_setting(tr: Any) -> Callable:
    """An optimizer's ``__setattr__`` during a trace: fn's code may not change a setting the
    plan would not repeat; minigrad's code and the optimizer's own methods may set what they
    keep (the step count: the plan calls them again), as may other threads."""

    def setattr_(opt: Any, name: str, value: Any) -> None:
        if in_traced_thread(tr) and not _set_by_the_optimizer(opt, sys._getframe(1)):
            raise RuntimeError(
                f"mg.compile: the compiled function sets {type(opt).__name__}.{name} at "
                f"{user_line()}, which a plan does not repeat; set it outside the function, "
                f"between calls (the plan reads the optimizer's settings on every call)"
            )
        object.__setattr__(opt, name, value)

    return setattr_


def _set_by_the_optimizer(opt: Any, frame: Any) -> bool:
    """Whether minigrad's code, or a method of ``opt`` (perhaps through a helper it calls),
    is setting the attribute: frames are walked up to the first one of minigrad's."""
    if frame.f_code.co_filename.startswith(PACKAGE):
        return True
    while frame is not None and not frame.f_code.co_filename.startswith(PACKAGE):
        if frame.f_locals.get("self") is opt:
            return True
        frame = frame.f_back
    return False


def in_traced_thread(tr: Any) -> bool:
    return threading.get_ident() == tr.thread


def from_user(tr: Any) -> bool:
    """Whether the caller of the caller is fn's own code, in the thread being traced."""
    return in_traced_thread(tr) and not sys._getframe(2).f_code.co_filename.startswith(PACKAGE)


def global_random_state() -> tuple:
    """The state of NumPy's global generator, to see if fn drew from it."""
    legacy = np.random.get_state(legacy=False)  # why: a dict, made faster than the tuple
    # why: a normal draw may take only the cached second value, which moves no key or position
    key, pos = legacy["state"]["key"].tobytes(), legacy["state"]["pos"]
    return key, pos, legacy["has_gauss"], legacy["gauss"]
