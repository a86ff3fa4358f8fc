"""The book's two-layer net (chapter 5), built as one ``nn.Graph``, trained on real digits.

The interface is the book's: ``predict``, ``loss``, ``accuracy``, ``gradient``,
``numerical_gradient`` and a ``params`` dict with keys W1 b1 W2 b2. What changes is
inside: no ``OrderedDict`` of layers and no hand-written backward loop. The network
is one Graph (Affine -> ReLU -> Affine -> SoftmaxWithLoss); ``gradient`` calls
``backward()`` and reads each parameter's ``.grad`` by its name in the graph.

    python examples/two_layer_net.py           # 1,000 steps
    python examples/two_layer_net.py --quick   # 300 steps, well under a second
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minigrad as mg
import minigrad.nn as nn

# the book's keys -> the parameters' names in the graph
BOOK_NAMES = {"W1": "affine1.W", "b1": "affine1.b", "W2": "affine2.W", "b2": "affine2.b"}


class TwoLayerNet:
    """input -> Affine -> ReLU -> Affine -> SoftmaxWithLoss, as one Graph.

    ``params[key]`` is the very array inside the parameter (not a copy), so the
    book's update ``params[key] -= lr * grads[key]`` trains the graph, and the
    book's numerical gradient, which nudges ``params[key]`` in place, sees it.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        seed: int | None = None,
    ) -> None:
        rng = np.random.default_rng(seed)
        x = nn.Input((input_size,), name="x")
        t = nn.Input((), dtype=np.int64, name="t")
        hidden = nn.ReLU()(nn.Affine(input_size, hidden_size, weight_init_std, rng=rng)(x))
        scores = nn.Affine(hidden_size, output_size, weight_init_std, rng=rng)(hidden)
        loss = nn.SoftmaxWithLoss()(scores, t)
        self.net = nn.Graph([x, t], loss, name="two_layer_net")
        # why: predict has no labels; this view runs the same nodes (and layers) up to the
        # scores, so there is still one network and one set of parameters
        self.predictor = nn.Graph(x, scores, name="predict")
        named = dict(self.net.named_parameters())
        self.named = {key: named[name] for key, name in BOOK_NAMES.items()}
        self.params = {key: p.data for key, p in self.named.items()}

    def predict(self, x: np.ndarray) -> np.ndarray:
        with mg.no_grad():
            return self.predictor(x).data

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        with mg.no_grad():
            return float(self.net(x, t).data)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.mean(y == t))

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.net.zero_grad()
        self.net(x, t).backward()
        return {key: p.grad for key, p in self.named.items()}

    def numerical_gradient(
        self, x: np.ndarray, t: np.ndarray, h: float = 1e-4
    ) -> dict[str, np.ndarray]:
        """Central differences (L(w + h) - L(w - h)) / 2h, one weight at a time (the book's)."""
        grads = {}
        for key, w in self.params.items():
            g = np.zeros_like(w)
            for i in np.ndindex(w.shape):
                original = w[i]
                w[i] = original + h
                up = self.loss(x, t)
                w[i] = original - h
                down = self.loss(x, t)
                w[i] = original
                g[i] = (up - down) / (2 * h)
            grads[key] = g
        return grads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a second)")
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = args.steps or (300 if args.quick else 1000)

    (x_train, t_train), (x_test, t_test) = mg.data.load_digits()
    network = TwoLayerNet(input_size=64, hidden_size=50, output_size=10, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    batch_size, learning_rate = 100, 0.5
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = rng.choice(len(x_train), batch_size)
        grads = network.gradient(x_train[batch], t_train[batch])
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grads[key]
        if step % max(steps // 5, 1) == 0 or step == steps:
            loss = network.loss(x_train[batch], t_train[batch])
            print(f"step {step:5d}  loss {loss:.4f}")
    seconds = time.perf_counter() - start
    print(f"train accuracy {network.accuracy(x_train, t_train):.4f}")
    print(f"test accuracy {network.accuracy(x_test, t_test):.4f}")
    print(f"{steps} steps in {seconds:.2f} s")


if __name__ == "__main__":
    main()
