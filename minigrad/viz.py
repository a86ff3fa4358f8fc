"""Pictures of graphs: Graphviz DOT text of a Tensor's recorded graph or of an ``nn.Graph``.

The DOT text needs nothing but Python; paste it into any Graphviz viewer, or call
``render`` when Graphviz's ``dot`` program is installed. Both walks use the engine's
``toposort``, so the text is deterministic: the same graph gives the same bytes.

>>> import minigrad as mg
>>> x = mg.Tensor([1.0, 2.0], requires_grad=True)
>>> x.name = "x"
>>> print(to_dot((x * x).sum()))
digraph minigrad {
  node [fontname="Helvetica", fontsize=10];
  v0 [label="x\\n(2,) float64", shape=ellipse, style=filled, fillcolor=lightblue];
  f1 [label="Mul", shape=box];
  v0 -> f1;
  v0 -> f1;
  v2 [label="(2,) float64", shape=ellipse];
  f1 -> v2;
  f3 [label="Sum", shape=box];
  v2 -> f3;
  v4 [label="() float64", shape=ellipse, peripheries=2];
  f3 -> v4;
}
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from minigrad.tensor import Op, Tensor, toposort


def to_dot(
    tensor_or_graph: Any,
    params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None,
) -> str:
    """Graphviz DOT text of the graph that produced a Tensor, or of an ``nn.Graph``.

    For a Tensor: value nodes (ellipses: name, shape, dtype; leaves that require grad
    are filled, the result has a double border) and op nodes (boxes), with edges in
    the direction data flows. Values are named by ``Tensor.name`` or by ``params``
    (e.g. ``net.named_parameters()``). An op whose graph was freed by ``backward()``
    is marked "freed" and shows no inputs.

    For an ``nn.Graph``: one box per node (name, layer, output shape; inputs are ellipses).
    """
    if isinstance(tensor_or_graph, Tensor):
        names = {}
        if params is not None:
            pairs = params.items() if isinstance(params, Mapping) else params
            names = {id(p): name for name, p in pairs}
        return _tensor_dot(tensor_or_graph, names)
    # why: nn.graph uses this module, so a Graph is recognised by what it has, not its class
    if all(hasattr(tensor_or_graph, name) for name in ("nodes", "inputs", "outputs")):
        return _graph_dot(tensor_or_graph)
    raise TypeError(f"to_dot takes a Tensor or an nn.Graph, got {type(tensor_or_graph).__name__}")


def _quote(text: str) -> str:
    """A DOT string literal: quotes and backslashes escaped, newlines as \\n."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _tensor_dot(root: Tensor, names: dict[int, str]) -> str:
    def parents(item: Tensor | Op) -> tuple[Any, ...]:
        if isinstance(item, Tensor):
            return () if item.creator is None else (item.creator,)
        return item.inputs or ()

    order = toposort([root], parents)
    ids = {
        id(item): f"{'v' if isinstance(item, Tensor) else 'f'}{i}" for i, item in enumerate(order)
    }
    lines = ["digraph minigrad {", '  node [fontname="Helvetica", fontsize=10];']
    for item in order:
        me = ids[id(item)]
        if isinstance(item, Tensor):
            name = names.get(id(item), item.name)
            label = f"{name}\n" if name else ""
            label += f"{item.shape} {item.dtype}"
            style = ""
            if item.requires_grad and item.creator is None:
                style = ", style=filled, fillcolor=lightblue"
            if item is root:
                style += ", peripheries=2"
            lines.append(f"  {me} [label={_quote(label)}, shape=ellipse{style}];")
            if item.creator is not None:
                lines.append(f"  {ids[id(item.creator)]} -> {me};")
        else:
            label = type(item).__name__ + (" (freed)" if item.inputs is None else "")
            lines.append(f"  {me} [label={_quote(label)}, shape=box];")
            lines.extend(f"  {ids[id(x)]} -> {me};" for x in item.inputs or ())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _graph_dot(graph: Any) -> str:
    ids = {id(node): f"n{i}" for i, node in enumerate(graph.nodes)}
    input_ids = {id(x) for x in graph.inputs}
    output_ids = {id(y) for y in graph.outputs}
    title = _quote(graph.name if graph.name is not None else "graph")
    lines = [f"digraph {title} {{", '  node [fontname="Helvetica", fontsize=10];']
    for node in graph.nodes:
        me = ids[id(node)]
        if id(node) in input_ids:
            label, shape = f"{node.name}\nInput\n{node.shape_text}", "ellipse"
        else:
            label, shape = f"{node.name}\n{type(node.layer).__name__}\n{node.shape_text}", "box"
        border = ", peripheries=2" if id(node) in output_ids else ""
        lines.append(f"  {me} [label={_quote(label)}, shape={shape}{border}];")
        if id(node) not in input_ids:
            lines.extend(f"  {ids[id(a)]} -> {me};" for a in node.inputs)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: Any, path: str | Path, format: str | None = None) -> Path:
    """Draw DOT text (or what ``to_dot`` takes) to ``path`` with Graphviz's ``dot``.

    The format comes from ``path``'s suffix (``.svg``, ``.png``, ``.pdf``) unless
    ``format`` is given. Needs the ``dot`` program (a clear ``RuntimeError`` if it is
    not installed); ``to_dot`` itself never does. Returns the path.
    """
    text = dot if isinstance(dot, str) else to_dot(dot)
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            "render needs Graphviz's `dot` program, which is not installed (not on PATH); "
            "install Graphviz (e.g. `apt install graphviz` or `brew install graphviz`), or "
            "paste the text of to_dot(...) into any Graphviz viewer"
        )
    path = Path(path)
    fmt = format or path.suffix.lstrip(".") or "svg"
    done = subprocess.run(
        [exe, f"-T{fmt}", "-o", str(path)], input=text, text=True, capture_output=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed (exit {done.returncode}): {done.stderr.strip()}")
    return path
