"""Initial weights of std 0.01, Xavier's and He's in a deep ReLU net (the book's 6.2).

The book shows two things. First, how the scale of the initial weights decides what
reaches the deep layers: with std 0.01 every layer shrinks its input about 14-fold
(0.01 * sqrt(100 / 2)), so the activations all but vanish; Xavier's sqrt(1 / n) is
right for sigmoid and tanh but loses a factor sqrt(2) per ReLU layer; He's sqrt(2 / n)
keeps the spread the same from layer to layer. Second, what that does to learning:
trained with plain SGD (lr 0.01, batches of 128), the std-0.01 net does not learn at
all (its loss stays at log 10 = 2.30), while the Xavier and He nets do, He's fastest.

The net here has five hidden ReLU layers of 100 units (the book's histograms use five
layers; its loss experiment has four hidden layers: ``--hidden-layers 4``).

What to look for in ``weight_init.png``: the left panel holds the loss curves (std 0.01
flat at 2.30, He below Xavier). The other panels are histograms, one per initialisation
and one line per hidden layer, of the log10 of the positive activations at the start,
on a batch of training images: for He the layers' histograms lie on top of each other,
for Xavier they creep to the left, for std 0.01 each layer sits about one decade to the
left of the one before.

    python examples/weight_init_compare.py            # 2,000 steps per initialisation
    python examples/weight_init_compare.py --quick    # 150 steps, for tests
"""

from __future__ import annotations

from pathlib import Path

from _common import flat_data, hidden_activations, mlp, parser, plot, smooth, table, train_steps

# isort: split
# why: NumPy after _common, which makes its BLAS single-threaded first
import numpy as np
from train import accuracy

import minigrad as mg

INITS = {"std 0.01": 0.01, "Xavier": "xavier", "He": "he"}
HIST_RANGE = (-9.0, 1.5)


def main(argv: list[str] | None = None) -> None:
    p = parser("weight_init_compare", __doc__)
    p.add_argument("--steps", type=int, default=None, help="default 2000 (150 with --quick)")
    p.add_argument("--hidden-layers", type=int, default=5, help="hidden layers of 100 units")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (the book's)")
    args = p.parse_args(argv)
    steps = args.steps or (150 if args.quick else 2000)
    data = flat_data(args)
    (x_train, _), (x_test, t_test) = data
    probe = x_train[:200]

    lines, rows, panels = [], [], []
    window = max(steps // 50, 1)
    for name, init in INITS.items():
        net = mlp(x_train.shape[1], [100] * args.hidden_layers, weight_init=init, rng=args.seed)
        with mg.no_grad():
            acts = [a.data for a in hidden_activations(net)(probe)]
        hists = [(np.log10(a[a > 0]), f"layer {i}") for i, a in enumerate(acts, start=1)]
        panels.append(
            {
                "title": f"{name}: activations at the start",
                "xlabel": "log10 of positive activations",
                "ylabel": "count",
                "hist": hists,
                "range": HIST_RANGE,
            }
        )
        optimizer = mg.optim.SGD(net.parameters(), lr=args.lr)
        curves = train_steps(net, optimizer, data, steps, batch_size=128, seed=args.seed)
        loss = curves["loss"]
        lines.append((range(1, steps + 1), smooth(loss, window), name, {}))
        final = float(smooth(loss, window)[-1])
        spread = f"{acts[-1].std():.2e}"
        rows.append([name, spread, loss[0], final, accuracy(net, x_test, t_test)])

    print(
        f"\n{steps} SGD steps (lr {args.lr}, batch 128) on {args.dataset}, "
        f"{args.hidden_layers} hidden ReLU layers of 100"
    )
    table(["init", "last layer std", "first loss", "final loss", "test acc"], rows)
    loss_panel = {
        "title": "training loss",
        "xlabel": "step",
        "ylabel": f"loss (mean of {window} steps)",
        "lines": lines,
    }
    title = f"initial weights, {args.hidden_layers} hidden ReLU layers, on {args.dataset}"
    plot(Path(args.out) / "weight_init.png", [loss_panel, *panels], title, columns=2)


if __name__ == "__main__":
    main()
