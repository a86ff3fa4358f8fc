"""The engine must stay small enough to read in one sitting (STYLE.md: under 400 code lines)."""

import ast
import io
import tokenize
from pathlib import Path

import minigrad.tensor

BUDGET = 400


def code_lines(path: Path) -> int:
    """Lines holding code: comments, blank lines and docstrings are free."""
    source = path.read_text()
    docstring_lines = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstring_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docstring_lines)


def test_tensor_py_stays_within_its_line_budget():
    n = code_lines(Path(minigrad.tensor.__file__))
    assert n <= BUDGET, f"minigrad/tensor.py has {n} code lines; the budget is {BUDGET}"


def test_the_counter_ignores_docstrings_and_comments(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""doc\\nmore"""\n# comment\n\ndef f():\n    """doc"""\n    return 1\n')
    assert code_lines(f) == 2


def test_every_module_stays_within_the_budget():
    package = Path(minigrad.tensor.__file__).parent
    over = {
        str(path.relative_to(package.parent)): n
        for path in sorted(package.rglob("*.py"))
        if (n := code_lines(path)) > BUDGET
    }
    assert not over, f"modules over {BUDGET} code lines (split them into a package): {over}"


def test_the_compiler_is_reachable_as_a_package():
    import importlib

    import minigrad as mg

    module = importlib.import_module("minigrad.compile")
    from minigrad.compile import compile

    assert mg.compile is compile is module.compile
    assert Path(module.__file__).name == "__init__.py"
