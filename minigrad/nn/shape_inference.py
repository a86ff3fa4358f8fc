"""The build check of ``nn.Graph``: run a layer once on stand-in data to find its output.

Calling a layer on symbolic nodes runs it on a small batch of stand-ins, in eval mode
and under ``no_grad``, with every sub-layer's mode and buffers restored afterwards. A
float node's stand-ins are random values inside (0, 1); an integer one's are zeros (label
0 fits any number of classes). The outputs' shapes become the new nodes' shapes, and a
layer that does not fit fails on the line that calls it.

>>> from minigrad import nn
>>> x = nn.Input((3,))
>>> y = infer(nn.Affine(3, 2, rng=0), (x,), {}, [], "cannot build")
>>> y.shape
(2, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import Tensor, no_grad

__all__ = ["BATCH", "OTHER_BATCH", "stand_in", "infer", "follows_batch"]

BATCH = 2  # the batch size of the run that infers shapes
OTHER_BATCH = 3  # a second run: an axis that follows the batch size is the batch axis


def stand_in(node: Any, batch: int = BATCH) -> Tensor:
    """A batch of stand-in data for ``node`` (its per-sample ``shape``, ``batched``, and the
    ``stand_in`` dtype of an input or the ``dtype`` of a layer's output)."""
    shape = (batch, *node.shape) if node.batched else node.shape
    dtype = getattr(node, "stand_in", None)
    dtype = node.dtype if dtype is None else dtype
    if dtype.kind == "f":
        # why: positive values inside (0, 1), like pixels and probabilities: valid for
        # logs and square roots, and never on the kink of a ReLU
        values = np.random.default_rng(0).uniform(0.1, 1.0, shape)
        return Tensor(values.astype(dtype))
    return Tensor(np.zeros(shape, dtype=dtype))  # why: label 0 is valid for any classes


def infer(
    layer: Any, nodes: tuple, kwargs: dict, free: list, title: str, batch: int = BATCH
) -> Any:
    """Run ``layer`` on stand-ins for ``nodes``; the undeclared inputs in ``free`` that a layer
    refuses floats for (the labels of a loss) get integer stand-ins instead, and keep them.
    A layer that fits none is a ``ValueError`` starting with ``title``."""
    try:
        return _run(layer, nodes, kwargs, title, batch)
    except ValueError as first:
        if not free or any(a.stand_in.kind != "f" for a in free):
            raise
        for a in free:
            a.stand_in = np.dtype(np.int64)
        try:
            return _run(layer, nodes, kwargs, title, batch)
        except ValueError:
            for a in free:
                a.stand_in = np.dtype(np.float64)
            raise first from None


def _run(layer: Any, nodes: tuple, kwargs: dict, title: str, batch: int) -> Any:
    """Run the layer once on a stand-in batch: in eval mode, under no_grad, state restored."""
    subs = [sub for _, sub in layer.named_layers()]
    modes = [sub.training for sub in subs]
    # why: a sub-layer's own buffers are the ones whose names have no dot
    buffers = [(sub, n, v) for sub in subs for n, v in sub.named_buffers() if "." not in n]
    layer.eval()
    try:
        with no_grad():
            outputs = layer(*[stand_in(a, batch) for a in nodes], **kwargs)
    except Exception as err:
        raise ValueError(
            f"{title} (None is the batch axis; the check ran on a batch of {BATCH}):\n  "
            f"{type(err).__name__}: {err}"
        ) from err
    finally:
        for sub, mode in zip(subs, modes, strict=True):
            object.__setattr__(sub, "training", mode)
        for sub, name, value in buffers:
            object.__setattr__(sub, name, value)
    return outputs


def follows_batch(y: Any) -> bool:
    """True if an output of the second run has the second batch size as axis 0."""
    shape = np.shape(y.data if isinstance(y, Tensor) else y)
    return len(shape) >= 1 and shape[0] == OTHER_BATCH
