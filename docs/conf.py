"""Sphinx configuration: MyST Markdown pages, autodoc reference, furo theme, fully offline."""

import importlib
import inspect
import sys
from pathlib import Path

from sphinx.util import logging
from sphinx.util.inspect import TypeAliasForwardRef

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _generate  # noqa: E402  (keeps the pre-drawn graph picture current)

project = "minigrad"
author = "the minigrad authors"
copyright = "2026, the minigrad authors"  # noqa: A001

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "conftest.py", "README.md"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
# why: the modules use `from __future__ import annotations`; without these aliases autodoc
# evaluates the annotation strings and prints NumPy's long expanded unions
autodoc_type_aliases = {"ArrayLike": "ArrayLike", "DTypeLike": "DTypeLike"}
# why: Sphinx prints an alias inside a union (`ArrayLike | None`) by its repr, not its name
TypeAliasForwardRef.__repr__ = lambda self: self.name

html_theme = "furo"
html_title = "minigrad"
html_static_path = ["_static"]
# why: offline build; no intersphinx inventories, fonts or scripts fetched from anywhere


# --- the reference must document every public name -------------------------------------------
# why: a name added to an `__all__` (or a Tensor method) and left out of reference.md fails the
# -W build here, naming it, instead of going missing from the docs unnoticed
PUBLIC_MODULES = ["minigrad", "minigrad.functional", "minigrad.testing"]


def public_names() -> dict[str, object]:
    """Full name -> object for every public name: each public module's ``__all__`` (or its
    functions and classes, without one), the modules they list in turn, and Tensor's members."""
    names: dict[str, object] = {}
    queue, seen = list(PUBLIC_MODULES), set()
    while queue:
        modname = queue.pop(0)
        if modname in seen:
            continue
        seen.add(modname)
        module = importlib.import_module(modname)
        listed = getattr(module, "__all__", None)
        if listed is None:
            listed = [
                name
                for name, value in vars(module).items()
                if not name.startswith("_")
                and (inspect.isfunction(value) or inspect.isclass(value))
                and value.__module__ == modname
            ]
        for name in listed:
            value = getattr(module, name)
            if inspect.ismodule(value):
                queue.append(value.__name__)
            else:
                names[f"{modname}.{name}"] = value
    tensor = importlib.import_module("minigrad").Tensor
    for name in dir(tensor):
        if not name.startswith("_") and not hasattr(object, name):
            names[f"minigrad.Tensor.{name}"] = None  # documented under exactly this name
    return names


def _resolve(fullname: str) -> object:
    """The object a documented full name stands for (None if it cannot be imported)."""
    parts = fullname.split(".")
    for i in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            value = getattr(value, attr, None)
        return value
    return None


def check_reference(app, env) -> None:  # noqa: ANN001  (Sphinx's event signature)
    documented = set(env.get_domain("py").objects)
    objects = {id(_resolve(name)) for name in documented if name.startswith("minigrad")}
    missing = [
        name
        for name, value in public_names().items()
        if name not in documented and (value is None or id(value) not in objects)
    ]
    if missing:
        logging.getLogger("minigrad-docs").warning(
            "no docs page documents %s: add an autoclass/autofunction line (or an "
            "attribute entry) for each to docs/reference.md",
            ", ".join(missing),
        )


def check_picture(app) -> None:  # noqa: ANN001
    problem = _generate.check_picture()
    if problem:
        logging.getLogger("minigrad-docs").warning(problem)


def setup(app) -> None:  # noqa: ANN001
    app.connect("builder-inited", check_picture)
    app.connect("env-check-consistency", check_reference)
