"""Training with and without BatchNorm, from initial weights of many scales (the book's 6.3.2).

The book trains a net with five hidden ReLU layers of 100 units on 1,000 MNIST images
(SGD, lr 0.01, batches of 100, 20 epochs) twice for each initial weight scale (the
standard deviation of every W, from 1 down to 0.0001): once plain, once with a
BatchNorm layer after every Affine, before the ReLU. With BatchNorm the training
accuracy rises sooner at almost every scale; without it, learning depends on the
scale: too small and the signals vanish, too large and they explode, and in both cases
the net barely learns.

What to look for in ``batch_norm.png``: one panel per weight scale, training accuracy
per epoch, with BatchNorm and without ("plain"). On the digits the plain net learns
only at 0.27 of the eight scales, just above He's (about 0.14 for these layers): at 1 its
signals explode (the optimizer skips the steps whose gradients overflow, see the
table), below 0.1 they vanish and it stays at chance (0.1). With BatchNorm the net
learns from 1 down to about 0.001, fastest at 0.02 to 0.005. At the two smallest
scales it learns little or nothing here: the first layers' batch variance is then far
below BatchNorm's eps (1e-5, PyTorch's default; the book uses 1e-6), so normalising no
longer brings the signals back to unit size. The table adds test accuracy (BatchNorm
in eval mode, with its running statistics).

    python examples/batch_norm_compare.py            # 8 scales from 1 to 0.0001
    python examples/batch_norm_compare.py --quick    # 2 scales, 10 epochs, for tests
"""

from __future__ import annotations

from pathlib import Path

from _common import BATCH, accuracy_panel, flat_data, mlp, parser, plot, table, train_steps

# isort: split
# why: NumPy after _common, which makes its BLAS single-threaded first
import numpy as np

import minigrad as mg


def main(argv: list[str] | None = None) -> None:
    p = parser("batch_norm_compare", __doc__)
    p.add_argument("--epochs", type=int, default=None, help="default 20 (10 with --quick)")
    p.add_argument("--train-size", type=int, default=1000, help="training samples (the book's)")
    p.add_argument(
        "--scales",
        type=int,
        default=None,
        help="how many weight scales from 1 to 1e-4, default 8 (2 with --quick: 1 and 0.01)",
    )
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (the book's)")
    args = p.parse_args(argv)
    epochs = args.epochs or (10 if args.quick else 20)
    scales = [1.0, 0.01] if args.quick and not args.scales else np.logspace(0, -4, args.scales or 8)
    data = flat_data(args, args.train_size)
    steps_per_epoch = max(args.train_size // BATCH, 1)

    rows, panels = [], []
    for scale in scales:
        runs = {}
        for name, batch_norm in (("BatchNorm", True), ("plain", False)):
            net = mlp(
                data[0][0].shape[1],
                [100] * 5,
                weight_init=float(scale),
                batch_norm=batch_norm,
                rng=args.seed,
            )
            optimizer = mg.optim.SGD(net.parameters(), lr=args.lr)
            curves = train_steps(
                net,
                optimizer,
                data,
                epochs * steps_per_epoch,
                seed=args.seed,
                eval_every=steps_per_epoch,
            )
            runs[name] = curves
            rows.append(
                [
                    f"{scale:.2g}",
                    name,
                    curves["train_acc"][-1],
                    curves["test_acc"][-1],
                    curves["skipped"][0],
                ]
            )
        panels.append(accuracy_panel(f"weight std {scale:.2g}", runs, ["train_acc"]))

    print(
        f"\n{epochs} epochs of SGD (lr {args.lr}, batch {BATCH}) on {args.train_size} "
        f"{args.dataset} samples, 5 hidden ReLU layers of 100"
    )
    table(["scale", "net", "train acc", "test acc", "skipped steps"], rows)
    title = f"training accuracy with BatchNorm and without (plain), on {args.dataset}"
    plot(Path(args.out) / "batch_norm.png", panels, title, columns=min(len(panels), 4))


if __name__ == "__main__":
    main()
