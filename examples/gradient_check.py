"""The book's gradient check (chapter 5): backprop against numerical differentiation.

For each parameter of the two-layer net, the mean absolute difference between the
gradient from ``backward()`` and the book's central differences, on a small batch
of real digits, in float64. Backprop is right when the differences are tiny
(about 1e-10 here; the script fails above 1e-9).

    python examples/gradient_check.py
    python examples/gradient_check.py --quick   # a smaller hidden layer
"""

from __future__ import annotations

import argparse

import numpy as np
from two_layer_net import TwoLayerNet

import minigrad as mg

BOUND = 1e-9


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 10-unit hidden layer")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    (x_train, t_train), _ = mg.data.load_digits()
    x_batch, t_batch = x_train[:3], t_train[:3]
    hidden = 10 if args.quick else 50
    network = TwoLayerNet(input_size=64, hidden_size=hidden, output_size=10, seed=args.seed)

    grad_numerical = network.numerical_gradient(x_batch, t_batch)
    grad_backprop = network.gradient(x_batch, t_batch)

    print(f"{'param':<6} {'shape':<10} {'mean |backprop - numerical|':>28}")
    worst = 0.0
    for key in ("W1", "b1", "W2", "b2"):
        diff = float(np.mean(np.abs(grad_backprop[key] - grad_numerical[key])))
        worst = max(worst, diff)
        print(f"{key:<6} {str(grad_backprop[key].shape):<10} {diff:>28.3e}")
    print(f"largest difference {worst:.3e} (bound {BOUND:.0e})")
    assert worst <= BOUND, f"backprop and numerical gradients differ by {worst:.3e} > {BOUND:.0e}"


if __name__ == "__main__":
    main()
