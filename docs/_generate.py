"""Build-time pictures for the docs: the two-layer net's graph as SVG (or DOT text).

Sphinx's conf.py calls ``main``. With Graphviz's ``dot`` installed the graph is
rendered to SVG; without it the page shows the DOT text, so the build never needs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import nn


def two_layer_net() -> nn.Graph:
    """The book's net as one Graph: Affine -> ReLU -> Affine -> SoftmaxWithLoss."""
    x = nn.Input((784,), name="x")
    t = nn.Input((), dtype=np.int64, name="t")
    h = nn.ReLU()(nn.Affine(784, 50, rng=0)(x))
    loss = nn.SoftmaxWithLoss()(nn.Affine(50, 10, rng=1)(h), t)
    return nn.Graph([x, t], loss)


def main(docs: Path) -> None:
    out = docs / "_generated"
    out.mkdir(exist_ok=True)
    dot = mg.viz.to_dot(two_layer_net())
    if shutil.which("dot"):
        mg.viz.render(dot, out / "two_layer_net.svg")
        # why: an included file's image path is read relative to the including page
        body = "![The two-layer net as one graph](_generated/two_layer_net.svg)\n"
    else:
        body = f"```text\n{dot}\n```\n"
    (out / "two_layer_net.md").write_text(body)
