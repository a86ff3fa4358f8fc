"""The docs' picture of the two-layer net: a pre-drawn SVG, kept current with the DOT text.

``docs/_static/two_layer_net.svg`` is committed, so every reader sees a picture, with or
without Graphviz. It carries the SHA-256 of the DOT text it was drawn from. Sphinx's
conf.py calls ``check_picture`` at every build: when ``mg.viz.to_dot`` now gives other
text, the picture is stale; with Graphviz's ``dot`` installed it is redrawn, and either
way the build is told (a warning, an error under ``-W``), so a stale picture is never
published and a redrawn one gets committed.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad import nn

PICTURE = Path(__file__).resolve().parent / "_static" / "two_layer_net.svg"
STAMP = "<!-- drawn by Graphviz from minigrad DOT text with sha256 {} -->"


def two_layer_net() -> nn.Graph:
    """The book's net as one Graph: Affine -> ReLU -> Affine -> SoftmaxWithLoss."""
    x = nn.Input((784,), name="x")
    t = nn.Input((), dtype=np.int64, name="t")
    h = nn.ReLU()(nn.Affine(784, 50, rng=0)(x))
    loss = nn.SoftmaxWithLoss()(nn.Affine(50, 10, rng=1)(h), t)
    return nn.Graph([x, t], loss)


def stamp(dot: str) -> str:
    """The comment an SVG drawn from ``dot`` carries."""
    return STAMP.format(hashlib.sha256(dot.encode()).hexdigest())


def draw(dot: str, path: Path) -> None:
    """Draw ``dot`` to the SVG ``path`` with Graphviz and stamp it with the DOT's hash."""
    mg.viz.render(dot, path)
    first, rest = path.read_text().split("\n", 1)  # why: the stamp goes after <?xml ...?>
    path.write_text(f"{first}\n{stamp(dot)}\n{rest}")


def check_picture(path: Path = PICTURE) -> str | None:
    """Redraw the picture if it is stale and Graphviz is installed; say what was wrong
    (None when the picture was current)."""
    dot = mg.viz.to_dot(two_layer_net())
    if path.is_file() and stamp(dot) in path.read_text():
        return None
    if shutil.which("dot") is None:
        return (
            f"{path} was not drawn from the graph the docs now show (mg.viz.to_dot "
            "changed); install Graphviz and build the docs again to redraw it"
        )
    draw(dot, path)
    return f"{path} was stale and has been redrawn from the current DOT text; commit it"
