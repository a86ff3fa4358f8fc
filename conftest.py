"""Runs every Python code block of the README and the docs pages (Sybil)."""

from sybil import Sybil
from sybil.parsers.myst import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md"],
).pytest()

# why: Sphinx's configuration runs the docs generator; it is not a module to doctest
collect_ignore = ["docs/conf.py", "docs/_generate.py"]
