"""What the tracer knows of the user's code: the objects ``fn`` can see by name, the line it
is on (for error messages), and the reads of a value it refuses."""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

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
