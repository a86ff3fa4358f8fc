"""Sphinx configuration: MyST Markdown pages, autodoc reference, furo theme, fully offline."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _generate  # noqa: E402  (writes the pictures and fragments the pages include)

project = "minigrad"
author = "the minigrad authors"
copyright = "2026, the minigrad authors"  # noqa: A001

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_generated", "conftest.py", "README.md"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}

html_theme = "furo"
html_title = "minigrad"
html_static_path = ["_static"]
# why: offline build; no intersphinx inventories, fonts or scripts fetched from anywhere

_generate.main(Path(__file__).resolve().parent)
