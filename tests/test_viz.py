"""viz.to_dot: well-formed, complete and deterministic DOT text; render needs Graphviz."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.viz as viz

STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
NODE = re.compile(r"^\s*(\w+) \[label=(\"(?:[^\"\\]|\\.)*\")(?:, [\w]+=[\w]+)*\];$")
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def check_well_formed(dot: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Parse our DOT dialect: every line a header, a node, an edge or the closing brace."""
    bare = STRING.sub('""', dot)
    assert bare.count("{") == bare.count("}") == 1, "braces are unbalanced"
    lines = dot.strip().splitlines()
    assert re.fullmatch(r'digraph (\w+|"(?:[^"\\]|\\.)*") \{', lines[0]), lines[0]
    assert lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line.strip().startswith("node ["):
            continue
        if m := NODE.match(line):
            assert m.group(1) not in nodes, f"{m.group(1)} declared twice"
            nodes[m.group(1)] = m.group(2)
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            raise AssertionError(f"not a node, an edge or a setting: {line!r}")
    for a, b in edges:
        assert a in nodes and b in nodes, f"edge {a} -> {b} has an undeclared end"
    return nodes, edges


def _loss_graph():
    x = mg.Tensor(np.ones((2, 3)))
    w = nn.Parameter(np.full((3, 2), 0.5))
    b = nn.Parameter(np.zeros(2))
    scores = x @ w + b
    return scores.relu().sum(), w, b


def test_tensor_dot_is_well_formed_with_ops_values_shapes_and_dtypes():
    loss, w, b = _loss_graph()
    nodes, edges = check_well_formed(viz.to_dot(loss, params={"affine.W": w, "affine.b": b}))
    labels = list(nodes.values())
    assert sum(label.startswith('"MatMul') for label in labels) == 1
    assert any(label == '"affine.W\\n(3, 2) float64"' for label in labels)
    assert any(label == '"(2, 3) float64"' for label in labels)  # the constant input
    ops = [k for k in nodes if k.startswith("f")]
    values = [k for k in nodes if k.startswith("v")]
    assert len(ops) == 4 and len(values) == 7  # MatMul Add ReLU Sum; x w b and 4 results
    assert all(a.startswith("v") != b.startswith("v") for a, b in edges)  # bipartite


def test_tensor_dot_uses_tensor_names_and_named_parameters():
    loss, w, _ = _loss_graph()
    w.name = "weights"
    assert '"weights\\n(3, 2) float64"' in viz.to_dot(loss)
    net = nn.Affine(3, 2, rng=0)
    dot = viz.to_dot(net(np.ones((1, 3))).sum(), params=net.named_parameters())
    assert '"W\\n(3, 2) float64"' in dot and '"b\\n(2,) float64"' in dot


def test_dot_is_deterministic():
    assert viz.to_dot(_loss_graph()[0]) == viz.to_dot(_loss_graph()[0])

    def graph():
        x = nn.Input((3,))
        h = nn.Tanh()(x)
        return nn.Graph(x, nn.Concat()(h, nn.Add()(h, nn.Sigmoid()(x))))

    assert viz.to_dot(graph()) == viz.to_dot(graph()) == graph().to_dot()


def test_labels_are_escaped():
    x = mg.Tensor([1.0], requires_grad=True)
    x.name = 'a "quoted" \\ name\nnext'
    nodes, _ = check_well_formed(viz.to_dot(x * 2))
    assert '"a \\"quoted\\" \\\\ name\\nnext\\n(1,) float64"' in nodes.values()


def test_graph_dot_is_well_formed_and_follows_the_nodes():
    x = nn.Input((4,), name="x")
    t = nn.Input((), dtype=np.int64, name="t")
    shared = nn.Affine(4, 4, rng=0)
    h = nn.Add()(shared(x), shared(nn.ReLU()(shared(x))))
    net = nn.Graph([x, t], nn.SoftmaxWithLoss()(h, t), name='my "net"')
    nodes, edges = check_well_formed(net.to_dot())
    assert net.to_dot().startswith('digraph "my \\"net\\"" {')
    assert len(nodes) == len(net.nodes)
    names = [label.strip('"').split("\\n")[0] for label in nodes.values()]
    assert names == [n.name for n in net.nodes]
    assert len(edges) == sum(len(n.inputs) for n in net.nodes)


def test_a_freed_graph_is_marked():
    loss, _, _ = _loss_graph()
    loss.backward()
    nodes, _ = check_well_formed(viz.to_dot(loss))
    assert '"Sum (freed)"' in nodes.values()


def test_to_dot_rejects_other_objects():
    with pytest.raises(TypeError, match="Tensor or an nn.Graph"):
        viz.to_dot(np.ones(3))


def test_render_without_graphviz_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz.*not installed"):
        viz.render("digraph g {}", tmp_path / "g.svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_render_writes_a_picture(tmp_path):
    x = nn.Input((2,))
    path = viz.render(nn.Graph(x, nn.ReLU()(x)), tmp_path / "g.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_viz_does_not_import_nn():
    """nn.Graph.to_dot uses viz, so viz must not import nn back (no import cycle)."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(viz.__file__).read_text())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name and name.startswith("minigrad.nn")]


def test_a_graph_and_its_own_to_dot_agree():
    x = nn.Input((3,))
    graph = nn.Graph(x, nn.ReLU()(nn.Affine(3, 2)(x)))
    assert viz.to_dot(graph) == graph.to_dot()
    assert viz.to_dot(graph).count("shape=box") == 2
