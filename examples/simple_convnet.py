"""The book's SimpleConvNet (chapter 7) as one ``nn.Graph``, trained on real digits.

    image -> Conv2d(30 filters 5x5, stride 1) -> ReLU -> MaxPool2d(2x2, stride 2)
          -> Flatten -> Affine(100) -> ReLU -> Affine(10) -> scores

The loss, ``SoftmaxWithLoss``, is applied to the scores by the training loop (as in
``train.py``), so the same graph serves training and prediction. The book reports
about 98.9% test accuracy on full MNIST after 20 epochs with Adam (lr 0.001).

Padding: the book's pad is 0, for 28x28 MNIST (28 -> 24 -> pooled 12). On the
bundled 8x8 digits pad 0 would leave a 4x4 map (2x2 after pooling), and the pixels at
the border would be seen by one filter position only; ``pad=None`` (the default) therefore
picks pad 2 for images smaller than 16 pixels a side ("same" padding: the 8x8 digit
keeps its size, then pooling gives 4x4), and the book's 0 otherwise.

    python examples/simple_convnet.py            # trains on the digits (Adam, lr 0.001)
    python examples/simple_convnet.py --quick    # a few seconds, for tests
    python examples/train.py --model convnet     # the same graph in the main training job
"""

from __future__ import annotations

import argparse

import numpy as np

from minigrad import nn

SMALL_IMAGE = 16  # images below this size a side get "same" padding (pad 2 for 5x5 filters)


def simple_convnet(
    image_shape: tuple[int, int, int],
    dtype: np.dtype | type = np.float64,
    rng: int | np.random.Generator | None = None,
    *,
    filters: int = 30,
    kernel_size: int = 5,
    pad: int | None = None,
    hidden: int = 100,
    classes: int = 10,
    weight_init: str | float = "he",
) -> nn.Graph:
    """The book's SimpleConvNet from images ``(N, C, H, W)`` to class scores ``(N, classes)``.

    ``image_shape`` is ``(C, H, W)`` without the batch axis. ``pad=None`` is 0 (the book's)
    for images of 16 pixels a side or more, else ``kernel_size // 2`` (2 for 5x5 filters).
    ``weight_init`` is He's by default; the book's ``weight_init_std=0.01`` is the float
    0.01. ``rng`` (a seed or a Generator) makes the weights reproducible.

    >>> net = simple_convnet((1, 8, 8), rng=0)
    >>> net(np.zeros((3, 1, 8, 8))).shape
    (3, 10)
    >>> [node.shape for node in net.nodes][1:4]
    [(30, 8, 8), (30, 8, 8), (30, 4, 4)]
    >>> simple_convnet((1, 28, 28), rng=0).nodes[3].shape  # the book's 30 x 12 x 12
    (30, 12, 12)
    """
    channels, height, width = image_shape
    if pad is None:
        pad = 0 if min(height, width) >= SMALL_IMAGE else kernel_size // 2
    rng = np.random.default_rng(rng)
    x = nn.Input(tuple(image_shape), dtype=dtype, name="image")
    conv = nn.Conv2d(
        channels,
        filters,
        kernel_size,
        stride=1,
        pad=pad,
        weight_init=weight_init,
        dtype=dtype,
        rng=rng,
    )
    z = nn.MaxPool2d(2, stride=2)(nn.ReLU()(conv(x)))
    z = nn.Flatten()(z)
    features = int(np.prod(z.shape))
    z = nn.ReLU()(nn.Affine(features, hidden, weight_init, dtype=dtype, rng=rng)(z))
    scores = nn.Affine(hidden, classes, weight_init, dtype=dtype, rng=rng)(z)
    return nn.Graph(x, scores, name="simple_convnet")


def main(argv: list[str] | None = None) -> None:
    """Train on the digits through ``train.py``'s loop (table, checkpoint and plot)."""
    from train import parse_args, train  # noqa: PLC0415  (examples/train.py)

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for tests")
    parser.add_argument("--epochs", type=int, default=None, help="default 30 (3 with --quick)")
    parser.add_argument("--out", default="runs/simple_convnet", help="folder for the outputs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    epochs = args.epochs or (3 if args.quick else 30)
    options = ["--model", "convnet", "--optimizer", "adam", "--lr", "0.001"]
    options += ["--epochs", str(epochs), "--out", args.out, "--seed", str(args.seed)]
    options += ["--quick", "--no-progress"] if args.quick else []
    train(parse_args(options))


if __name__ == "__main__":
    main()
