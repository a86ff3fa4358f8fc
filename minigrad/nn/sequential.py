"""Sequential: a chain of layers, each one's output the next one's input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from minigrad.nn.graph import Graph, Input
from minigrad.nn.layer import Layer


class Sequential(Layer):
    """A chain: each layer's output is the next one's input.

    Layers are named by kind and number, as in the book: ``affine1``, ``relu1``, ``affine2``.
    Assigning another layer to a name (``net.relu1 = nn.Tanh()``) puts it in that place.

    >>> import numpy as np
    >>> from minigrad import nn
    >>> net = nn.Sequential(nn.Affine(4, 3), nn.ReLU(), nn.Affine(3, 2))
    >>> [name for name, _ in net.named_parameters()]
    ['affine1.W', 'affine1.b', 'affine2.W', 'affine2.b']
    >>> net(np.ones((5, 4))).shape
    (5, 2)
    """

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        counts: dict[str, int] = {}
        names = []
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Sequential takes Layers, got {type(layer).__name__}; wrap a function "
                    f"in a Layer subclass"
                )
            kind = type(layer).__name__.lower()
            counts[kind] = counts.get(kind, 0) + 1
            names.append(f"{kind}{counts[kind]}")
            setattr(self, names[-1], layer)
        object.__setattr__(self, "layers", tuple(layers))

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        self._relink()

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        self._relink()

    def _relink(self) -> None:
        if "layers" in self.__dict__:  # why: a replaced (or removed) layer changes the chain
            chain = tuple(v for v in self._members.values() if isinstance(v, Layer))
            object.__setattr__(self, "layers", chain)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def summary(self, input_shape: int | tuple[int, ...] | None = None) -> str:
        """A table of the layers: output shape (for one sample of ``input_shape``) and
        parameter count, as ``Graph.summary``. ``input_shape`` leaves out the batch axis;
        it may be left out when the first layer is an ``Affine``.

        >>> from minigrad import nn
        >>> print(nn.Sequential(nn.Affine(3, 2), nn.ReLU()).summary())
        Sequential
        node     layer   inputs   output shape  params
        ----------------------------------------------
        x        Input            (None, 3)          0
        affine1  Affine  x        (None, 2)          8
        relu1    ReLU    affine1  (None, 2)          0
        ----------------------------------------------
        total parameters: 8
        """
        if input_shape is None:
            first = self.layers[0] if self.layers else None
            if not hasattr(first, "in_features"):
                raise ValueError(
                    "Sequential.summary needs input_shape (one sample, without the batch "
                    "axis) when the first layer is not an Affine, e.g. summary((1, 28, 28))"
                )
            input_shape = (first.in_features,)
        x = h = Input(input_shape, name="x")
        for layer in self.layers:
            h = layer(h)
        return Graph(x, h, name="Sequential").summary().replace("Graph 'Sequential'", "Sequential")
