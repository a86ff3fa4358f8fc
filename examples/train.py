"""Train the book's network on real hand-written digits: progress bar, results table, plot.

    python examples/train.py                         # two-layer net on the bundled digits
    python examples/train.py --model convnet         # the book's SimpleConvNet
    python examples/train.py --optimizer adam --lr 0.001
    python examples/train.py --dataset mnist         # downloads MNIST to ~/.cache/minigrad
    python examples/train.py --dataset mnist-t10k --data-root ../shared/data/mnist-t10k
    python examples/train.py --compile               # the step compiled with mg.compile
    python examples/train.py --quick                 # a few seconds, for tests

``mnist-t10k`` trains on the first 8,000 images of an MNIST test-set folder and tests on
the last 2,000 (for machines without a network that hold only the test set).
Writes ``model.npz``, ``optimizer.npz`` and ``curves.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# why: these networks are small; a multi-threaded BLAS on a busy 2-core machine makes each
# step several times slower. Set OPENBLAS_NUM_THREADS yourself to override (before NumPy).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda params, lr: mg.optim.SGD(params, lr=lr),
    "momentum": lambda params, lr: mg.optim.SGD(params, lr=lr, momentum=0.9),
    "nesterov": lambda params, lr: mg.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "adagrad": lambda params, lr: mg.optim.AdaGrad(params, lr=lr),
    "rmsprop": lambda params, lr: mg.optim.RMSprop(params, lr=lr),
    "adam": lambda params, lr: mg.optim.Adam(params, lr=lr),
}
DEFAULT_LR = {
    "sgd": 0.1,
    "momentum": 0.01,
    "nesterov": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.001,
    "adam": 0.001,
}


def load(name: str, root: str | None, dtype: np.dtype):
    """(x_train, t_train), (x_test, t_test) as images (N, 1, H, W) with labels (N,)."""
    if name == "digits":
        return mg.data.load_digits(flatten=False, dtype=dtype)
    if name == "mnist":
        return mg.data.load_mnist(root, flatten=False, dtype=dtype)
    if name == "mnist-t10k":
        folder = Path(root or ".")
        images = mg.data.read_idx(folder / "t10k-images-idx3-ubyte.gz")
        labels = mg.data.read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
        x = (images.astype(dtype) / 255.0)[:, None, :, :]
        return (x[:8000], labels[:8000]), (x[8000:], labels[8000:])
    raise ValueError(f"unknown dataset {name!r}; choose digits, mnist or mnist-t10k")


def build(model: str, image_shape: tuple[int, int, int], hidden: int, dtype, seed: int):
    """The named architecture as one Graph from images to class scores."""
    rng = np.random.default_rng(seed)
    c, h, w = image_shape
    x = nn.Input(image_shape)
    if model == "twolayer":  # the book's TwoLayerNet: Affine -> ReLU -> Affine
        z = nn.Flatten()(x)
        z = nn.ReLU()(nn.Affine(c * h * w, hidden, dtype=dtype, rng=rng)(z))
        scores = nn.Affine(hidden, 10, dtype=dtype, rng=rng)(z)
    elif model == "mlp":  # the book's MultiLayerNet with three hidden layers
        z = nn.Flatten()(x)
        size = c * h * w
        for _ in range(3):
            z = nn.ReLU()(nn.Affine(size, hidden, dtype=dtype, rng=rng)(z))
            size = hidden
        scores = nn.Affine(size, 10, dtype=dtype, rng=rng)(z)
    elif model == "convnet":  # the book's SimpleConvNet
        from simple_convnet import simple_convnet  # noqa: PLC0415  (examples/simple_convnet.py)

        return simple_convnet(image_shape, dtype=dtype, rng=rng)
    else:
        raise ValueError(f"unknown model {model!r}; choose twolayer, mlp or convnet")
    return nn.Graph(x, scores)


def accuracy(model: nn.Layer, x: np.ndarray, t: np.ndarray, batch_size: int = 500) -> float:
    """Share of correctly classified samples, in eval mode, recording nothing."""
    model.eval()
    correct = 0
    with mg.no_grad():
        for start in range(0, len(x), batch_size):
            scores = model(x[start : start + batch_size]).data
            correct += int((scores.argmax(axis=1) == t[start : start + batch_size]).sum())
    model.train()
    return correct / len(x)


def train(args: argparse.Namespace) -> dict:
    dtype = np.dtype(args.dtype)
    (x_train, t_train), (x_test, t_test) = load(args.dataset, args.data_root, dtype)
    if args.quick:
        x_train, t_train, x_test, t_test = x_train[:500], t_train[:500], x_test[:200], t_test[:200]
    model = build(args.model, x_train.shape[1:], args.hidden, dtype, args.seed)
    loss_layer = nn.SoftmaxWithLoss()
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), lr)
    loader = mg.data.DataLoader((x_train, t_train), args.batch_size, shuffle=True, seed=args.seed)
    history = {"epoch": [], "loss": [], "train_acc": [], "test_acc": [], "seconds": []}
    bar = progress_bar(args.epochs * len(loader), args.no_progress)

    def step(xb: np.ndarray, tb: np.ndarray) -> tuple[mg.Tensor, mg.Tensor]:
        scores = model(xb)
        loss = loss_layer(scores, tb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return scores.detach(), loss

    if args.compile:  # traced once per batch shape, then run as straight-line NumPy
        step = mg.compile(step)
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        losses, correct, seen = [], 0, 0
        for xb, tb in loader:
            scores, loss = step(xb, tb)
            losses.append(loss.item())
            correct += int((scores.data.argmax(axis=1) == tb).sum())
            seen += len(tb)
            bar.update(1)
        seconds = time.perf_counter() - start
        bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses):.3f}", acc=f"{correct / seen:.3f}")
        history["epoch"].append(epoch)
        history["loss"].append(float(np.mean(losses)))
        history["train_acc"].append(accuracy(model, x_train, t_train))
        history["test_acc"].append(accuracy(model, x_test, t_test))
        history["seconds"].append(seconds)
    bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mg.save(model, out / "model.npz")
    mg.save(optimizer, out / "optimizer.npz")
    print_table(history, args, len(x_train), len(x_test))
    plot(history, out / "curves.png", f"{args.model} on {args.dataset} ({args.optimizer})")
    print(f"checkpoint: {out / 'model.npz'}, {out / 'optimizer.npz'}; plot: {out / 'curves.png'}")
    return history


def progress_bar(total: int, disabled: bool):
    """One bar over every step of the run (tqdm, an optional extra)."""
    try:
        from tqdm import tqdm  # noqa: PLC0415
    except ImportError:  # why: tqdm is an optional extra; train without a bar
        return _NoBar()
    return tqdm(total=total, disable=disabled, unit="step", desc="training")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **values: object) -> None:
        pass

    def close(self) -> None:
        pass


def print_table(history: dict, args: argparse.Namespace, n_train: int, n_test: int) -> None:
    print(
        f"\n{args.model} on {args.dataset} ({n_train} train / {n_test} test images), "
        f"{args.optimizer}, batch {args.batch_size}, {args.dtype}"
    )
    print(f"{'epoch':>5} {'loss':>8} {'train acc':>10} {'test acc':>9} {'ms/epoch':>9}")
    epochs = len(history["epoch"])
    every = -(-epochs // 15)  # why: at most about 15 rows, always with the last epoch
    for i, epoch in enumerate(history["epoch"]):
        if (i + 1) % every and i != epochs - 1:
            continue
        print(
            f"{epoch:>5} {history['loss'][i]:>8.4f} {history['train_acc'][i]:>10.4f} "
            f"{history['test_acc'][i]:>9.4f} {history['seconds'][i] * 1e3:>9.1f}"
        )
    print(
        f"final test accuracy {history['test_acc'][-1]:.4f}, "
        f"{np.mean(history['seconds']) * 1e3:.1f} ms per epoch, "
        f"{np.sum(history['seconds']):.1f} s of training"
    )


def plot(history: dict, path: Path, title: str) -> None:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[examples]'): no plot written")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    marker = {"marker": "o"} if len(history["epoch"]) <= 30 else {}
    left.plot(history["epoch"], history["loss"], **marker)
    left.set(xlabel="epoch", ylabel="mean training loss", title="loss")
    right.plot(history["epoch"], history["train_acc"], label="train", **marker)
    right.plot(history["epoch"], history["test_acc"], label="test", **marker)
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a minigrad network on hand-written digits.")
    p.add_argument("--dataset", default="digits", choices=["digits", "mnist", "mnist-t10k"])
    p.add_argument("--data-root", default=None, help="folder of the MNIST idx files")
    p.add_argument("--model", default="twolayer", choices=["twolayer", "mlp", "convnet"])
    p.add_argument(
        "--optimizer",
        default=None,
        choices=sorted(OPTIMIZERS),
        help="default: sgd (the book's), adam for the convnet (as the book trains it)",
    )
    p.add_argument("--lr", type=float, default=None, help="learning rate (default per optimizer)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--hidden", type=int, default=50, help="hidden units (the book's 50)")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/train", help="folder for checkpoint and plot")
    p.add_argument("--compile", action="store_true", help="compile the training step (mg.compile)")
    p.add_argument("--quick", action="store_true", help="a small, fast run (for tests)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.optimizer is None:
        args.optimizer = "adam" if args.model == "convnet" else "sgd"
    if args.epochs is None:
        args.epochs = 10 if args.quick else (150 if args.dataset == "digits" else 5)
    return args


if __name__ == "__main__":
    train(parse_args())
