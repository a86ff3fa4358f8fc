"""Weight decay against overfitting (the book's section 6.4.2).

The book makes a network overfit on purpose: six hidden ReLU layers of 100 units,
trained with SGD (lr 0.01, batches of 100) on only 300 MNIST images for 200 epochs.
The training accuracy reaches 100% while the test accuracy stays far below it: the
gap is overfitting. With weight decay, a penalty 0.5 * lambda * ||W||^2 added to the
loss (lambda = 0.1), the net can no longer fit the 300 images perfectly, and the gap
between training and test accuracy shrinks.

Here the penalty is ``SGD(weight_decay=0.1)``, which adds lambda * W to each gradient:
the same update. It also decays the biases, which the book leaves alone; with 100
biases against about 55,000 weights that changes little.

What to look for in ``weight_decay.png``: on the left, without decay the solid
(training) curve climbs to 1.0 and the dashed (test) curve flattens well below it;
with decay the training curve stays below 1.0. On the right, the gap per epoch. On the
bundled 8x8 digits the effect is small: weight decay mostly slows the fitting of the
training set, and the test accuracy does not improve (the digits leave little to
overfit); with ``--dataset mnist-t10k`` (the book's 28x28 images) the gap shrinks more
clearly.

    python examples/overfit_weight_decay.py            # 200 epochs
    python examples/overfit_weight_decay.py --quick    # 100 epochs, for tests
"""

from __future__ import annotations

from pathlib import Path

from _common import compare_overfitting, mlp, overfit_options, parser

import minigrad as mg


def main(argv: list[str] | None = None) -> None:
    p = parser("overfit_weight_decay", __doc__)
    overfit_options(p, epochs=200, quick_epochs=100)
    p.add_argument("--weight-decay", type=float, default=0.1, help="lambda (the book's 0.1)")
    args = p.parse_args(argv)

    def variant(weight_decay: float):
        def make(in_features: int):
            net = mlp(in_features, [100] * args.hidden_layers, rng=args.seed)
            return net, mg.optim.SGD(net.parameters(), lr=args.lr, weight_decay=weight_decay)

        return make

    variants = {
        "no decay": variant(0.0),
        f"decay {args.weight_decay:g}": variant(args.weight_decay),
    }
    compare_overfitting(args, variants, Path(args.out) / "weight_decay.png", "weight decay")


if __name__ == "__main__":
    main()
