"""SGD, Momentum, AdaGrad, RMSprop and Adam train the same net (the book's section 6.1.8).

The book trains a five-layer ReLU net (four hidden layers of 100 units, He's initial
weights) on MNIST for 2,000 mini-batches of 128 with each optimizer and its own usual
learning rate, and finds plain SGD the slowest: Momentum, AdaGrad and Adam all bring
the loss down much sooner. Here every optimizer starts from the very same weights and
sees the very same mini-batches (the bundled digits by default), so the curves differ
only by the update rule.

What to look for in ``optimizers.png``: the SGD curve lies above the others for most
of the run; the adaptive methods (AdaGrad, RMSprop, Adam) and Momentum drop quickly
in the first few hundred steps. The loss is smoothed over a short window; the right
panel shows it on a log scale, where the fast optimizers can be told apart late in the run.

The learning rates are the book's (SGD, Momentum and AdaGrad 0.01, Adam 0.001), except
RMSprop's: its accumulator starts at zero, so its first steps are about ten times lr per
weight; with 0.01 this net stayed near chance for its first 150 steps on the digits, so
RMSprop gets 0.001, its usual default.

    python examples/optimizer_compare.py            # 2,000 steps per optimizer
    python examples/optimizer_compare.py --quick    # 150 steps, for tests
"""

from __future__ import annotations

from pathlib import Path

from _common import flat_data, mlp, parser, plot, smooth, table, train_steps
from train import accuracy

import minigrad as mg

# name -> (how to make it, the learning rate the book uses)
OPTIMIZERS = {
    "SGD": (lambda params, lr: mg.optim.SGD(params, lr=lr), 0.01),
    "Momentum": (lambda params, lr: mg.optim.SGD(params, lr=lr, momentum=0.9), 0.01),
    "AdaGrad": (lambda params, lr: mg.optim.AdaGrad(params, lr=lr), 0.01),
    "RMSprop": (lambda params, lr: mg.optim.RMSprop(params, lr=lr), 0.001),
    "Adam": (lambda params, lr: mg.optim.Adam(params, lr=lr), 0.001),
}


def main(argv: list[str] | None = None) -> None:
    p = parser("optimizer_compare", __doc__)
    p.add_argument("--steps", type=int, default=None, help="default 2000 (150 with --quick)")
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args(argv)
    steps = args.steps or (150 if args.quick else 2000)
    data = flat_data(args)
    (x_train, _), (x_test, t_test) = data

    lines, rows = [], []
    window = max(steps // 50, 1)
    for name, (make, lr) in OPTIMIZERS.items():
        net = mlp(x_train.shape[1], [100] * 4, rng=args.seed)  # same seed: same weights
        optimizer = make(net.parameters(), lr)
        curves = train_steps(
            net, optimizer, data, steps, batch_size=args.batch_size, seed=args.seed
        )
        loss = curves["loss"]
        lines.append((range(1, steps + 1), smooth(loss, window), name, {}))
        final = float(smooth(loss, window)[-1])
        rows.append([name, lr, loss[0], final, accuracy(net, x_test, t_test)])

    print(f"\n{steps} steps of {args.batch_size} on {args.dataset}, 4 hidden layers of 100")
    table(["optimizer", "lr", "first loss", "final loss", "test acc"], rows)
    ylabel = f"loss (mean of {window} steps)"
    panels = [
        {"title": "training loss", "xlabel": "step", "ylabel": ylabel, "lines": lines},
        {"title": "the same, log scale", "xlabel": "step", "ylabel": ylabel, "lines": lines},
    ]
    panels[1]["yscale"] = "log"
    plot(Path(args.out) / "optimizers.png", panels, f"optimizers on {args.dataset}")


if __name__ == "__main__":
    main()
