"""What the chapter-6 experiments share: options, data, a multi-layer net, a training loop,
a results table and a plot.

Each experiment script builds a few variants of the same network, trains each with
``train_steps`` on the same mini-batches, prints ``table`` and draws ``plot``. The data
and the accuracy come from ``train.py``, the main training job, so every example reads
the digits (or an MNIST folder) the same way.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

# why: as in train.py, and before NumPy loads: on these small matrices BLAS threads cost far
# more than they give (optimizer_compare --quick: 37 s instead of 7 s on a busy 2-core machine)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from train import accuracy, load  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}

BATCH = 100  # the book's mini-batch size in the overfitting and BatchNorm experiments

Data = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    """The options every experiment takes; ``doc`` is the script's docstring."""
    p = argparse.ArgumentParser(
        description=doc.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a run of a few seconds, for tests")
    p.add_argument("--out", default=f"runs/{name}", help="folder for the plot")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and the batches")
    p.add_argument("--dataset", default="digits", choices=["digits", "mnist", "mnist-t10k"])
    p.add_argument("--data-root", default=None, help="folder of the MNIST idx files")
    return p


def flat_data(args: argparse.Namespace, train_size: int | None = None) -> Data:
    """The data set of ``args`` with each image flattened to a row; the first
    ``train_size`` training samples only, if given (the book's small training sets)."""
    (x_train, t_train), (x_test, t_test) = load(args.dataset, args.data_root, np.float64)
    x_train = x_train.reshape(len(x_train), -1)[:train_size]
    x_test = x_test.reshape(len(x_test), -1)
    return (x_train, t_train[:train_size]), (x_test, t_test)


def mlp(
    in_features: int,
    hidden: Sequence[int],
    classes: int = 10,
    *,
    weight_init: str | float = "he",
    activation: str = "relu",
    batch_norm: bool = False,
    dropout: float = 0.0,
    rng: int | np.random.Generator | None = None,
) -> nn.Graph:
    """The book's MultiLayerNet(Extend) as one Graph: for every width in ``hidden``,
    Affine -> [BatchNorm] -> activation -> [Dropout]; then Affine to the class scores.

    The same ``rng`` seed gives the same weights whatever ``batch_norm`` and ``dropout``
    are (neither draws anything when built), so variants start from one point.

    >>> net = mlp(64, [100, 100], batch_norm=True, dropout=0.5, rng=0)
    >>> [node.name for node in net.nodes][1:6]
    ['affine1', 'batchnorm1', 'relu1', 'dropout1', 'affine2']
    >>> net(np.zeros((4, 64))).shape
    (4, 10)
    """
    rng = np.random.default_rng(rng)
    x = nn.Input((in_features,), name="x")
    z, size = x, in_features
    for width in hidden:
        z = nn.Affine(size, width, weight_init, rng=rng)(z)
        if batch_norm:
            z = nn.BatchNorm(width)(z)
        z = ACTIVATIONS[activation]()(z)
        if dropout:
            z = nn.Dropout(dropout, rng=rng)(z)
        size = width
    scores = nn.Affine(size, classes, weight_init, rng=rng)(z)
    return nn.Graph(x, scores, name="mlp")


def hidden_activations(net: nn.Graph) -> nn.Graph:
    """A view of ``net`` whose outputs are its hidden activations (same layers, same
    weights), for histograms."""
    kinds = tuple(ACTIVATIONS.values())
    hidden = [node for node in net.nodes if isinstance(node.layer, kinds)]
    return nn.Graph(net.inputs, hidden, name="activations")


def train_steps(
    net: nn.Layer,
    optimizer: mg.optim.Optimizer,
    data: Data,
    steps: int,
    *,
    batch_size: int = BATCH,
    seed: int = 0,
    eval_every: int = 0,
) -> dict[str, list[float]]:
    """Train ``net`` for ``steps`` mini-batches drawn at random as the book does.

    Returns the curves: ``loss`` (every step), and, when ``eval_every`` > 0, ``epoch``
    (steps / eval_every), ``train_acc`` and ``test_acc``, measured before training and
    after every ``eval_every`` steps. The same ``seed`` gives every variant the same
    batches. ``skipped`` counts the steps the optimizer refused because a gradient
    held NaN or inf (it warns each time; here the count says it once).
    """
    (x, t), (x_test, t_test) = data
    rng = np.random.default_rng(seed)
    loss_layer = nn.SoftmaxWithLoss()
    curves: dict[str, list[float]] = {"loss": [], "epoch": [], "train_acc": [], "test_acc": []}

    def evaluate(step: int) -> None:
        curves["epoch"].append(step / eval_every)
        curves["train_acc"].append(accuracy(net, x, t))
        curves["test_acc"].append(accuracy(net, x_test, t_test))

    if eval_every:
        evaluate(0)
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        # why: a diverging variant (a bad scale or rate) is part of what the plots show
        warnings.simplefilter("ignore", RuntimeWarning)
        for step in range(1, steps + 1):
            batch = rng.choice(len(x), batch_size)
            loss = loss_layer(net(x[batch]), t[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            curves["loss"].append(loss.item())
            if eval_every and step % eval_every == 0:
                evaluate(step)
    curves["skipped"] = [steps - optimizer.t]
    return curves


def overfit_options(
    p: argparse.ArgumentParser, epochs: int, quick_epochs: int, lr: float = 0.01
) -> None:
    """The options of the book's overfitting experiments (300 samples, 6 hidden layers);
    ``lr`` is the default learning rate (the book's is 0.01)."""
    p.add_argument(
        "--epochs", type=int, default=None, help=f"default {epochs} ({quick_epochs} with --quick)"
    )
    p.add_argument("--train-size", type=int, default=300, help="training samples (the book's)")
    p.add_argument("--hidden-layers", type=int, default=6, help="hidden layers of 100 units")
    p.add_argument(
        "--lr", type=float, default=lr, help=f"SGD learning rate, default {lr} (the book's 0.01)"
    )
    p.set_defaults(full_epochs=epochs, quick_epochs=quick_epochs)


def compare_overfitting(args: argparse.Namespace, variants: dict, path: Path, what: str) -> None:
    """Train each variant on ``args.train_size`` samples, print train/test accuracy and
    their gap, and plot the accuracy curves and the gap per epoch.

    ``variants`` maps a name to a function of the input size that returns
    ``(net, optimizer)``; every variant sees the same mini-batches.
    """
    epochs = args.epochs or (args.quick_epochs if args.quick else args.full_epochs)
    data = flat_data(args, args.train_size)
    steps_per_epoch = max(args.train_size // BATCH, 1)
    runs = {}
    for name, make in variants.items():
        net, optimizer = make(data[0][0].shape[1])
        steps = epochs * steps_per_epoch
        runs[name] = train_steps(
            net, optimizer, data, steps, seed=args.seed, eval_every=steps_per_epoch
        )
    print(
        f"\n{epochs} epochs of SGD (lr {args.lr}, batch {BATCH}) on {args.train_size} "
        f"{args.dataset} samples, {args.hidden_layers} hidden ReLU layers of 100"
    )
    table(["variant", "train acc", "test acc", "gap", "late gap"], accuracy_rows(runs))
    print("gap = train acc - test acc at the end; late gap = its mean over the last quarter")
    plot(path, accuracy_panels(runs), f"{what}: {args.train_size} {args.dataset} samples")


def accuracy_rows(runs: dict[str, dict]) -> list[list[object]]:
    """Per run: name, final train and test accuracy, their gap, and the gap's mean over
    the last quarter of the evaluations (less noisy than the last one alone)."""
    rows = []
    for name, curves in runs.items():
        train, test = np.array(curves["train_acc"]), np.array(curves["test_acc"])
        late = max(len(train) // 4, 1)
        gap, late_gap = float(train[-1] - test[-1]), float(np.mean((train - test)[-late:]))
        rows.append([name, float(train[-1]), float(test[-1]), gap, late_gap])
    return rows


def accuracy_panel(title: str, runs: dict[str, dict], keys: Sequence[str]) -> dict:
    """A panel of accuracy per epoch (``keys``: train_acc, test_acc or both): one colour
    per run, train solid, test dashed."""
    lines = []
    for i, (name, curves) in enumerate(runs.items()):
        for key in keys:
            style = {"color": f"C{i}", "linestyle": "-" if key == "train_acc" else "--"}
            label = f"{name}, {key.removesuffix('_acc')}" if len(keys) > 1 else name
            lines.append((curves["epoch"], curves[key], label, style))
    return {
        "title": title,
        "xlabel": "epoch",
        "ylabel": "accuracy",
        "lines": lines,
        "ylim": (0.0, 1.02),
    }


def accuracy_panels(runs: dict[str, dict]) -> list[dict]:
    """Train and test accuracy of every run, and the gap between them."""
    gap_lines = []
    for i, (name, curves) in enumerate(runs.items()):
        gap = np.subtract(curves["train_acc"], curves["test_acc"])
        gap_lines.append((curves["epoch"], gap, name, {"color": f"C{i}"}))
    gap_panel = {
        "title": "train acc - test acc",
        "xlabel": "epoch",
        "ylabel": "gap",
        "lines": gap_lines,
    }
    return [accuracy_panel("accuracy", runs, ("train_acc", "test_acc")), gap_panel]


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average over ``window`` values (shorter at the start), for noisy losses."""
    values = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under a header, columns right-aligned; floats with 4 decimals."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("  ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for row in cells:
        print("  ".join(f"{v:>{w}}" for v, w in zip(row, widths, strict=True)))


def plot(path: Path, panels: Sequence[dict], title: str, columns: int | None = None) -> None:
    """Write a PNG of one or more panels.

    Each panel is a dict with ``title``, ``xlabel``, ``ylabel`` and ``lines``, a list of
    ``(x, y, label, style)`` where style holds matplotlib keywords (``{}`` for none);
    optional keys: ``ylim``, ``yscale``, and ``hist``, a list of ``(values, label)`` drawn
    as histograms instead of lines.
    """
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[examples]'): no plot written")
        return
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for x, y, label, style in panel.get("lines", []):
            ax.plot(x, y, label=label, **style)
        for values, label in panel.get("hist", []):
            ax.hist(values, bins=30, range=panel.get("range"), histtype="step", label=label)
        ax.set(title=panel["title"], xlabel=panel["xlabel"], ylabel=panel["ylabel"])
        if "ylim" in panel:
            ax.set_ylim(*panel["ylim"])
        if "yscale" in panel:
            ax.set_yscale(panel["yscale"])
        if panel.get("legend", True):
            ax.legend(fontsize="small")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot: {path}")
