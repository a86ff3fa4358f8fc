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

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from minigrad.tensor import Tensor, no_grad

__all__ = ["BATCH", "OTHER_BATCH", "stand_in", "infer", "follows_batch"]

BATCH = 2  # the batch size of the run that infers shapes
OTHER_BATCH = 3  # a second run: an axis that follows the batch size is the batch axis
_MOST_TRIES = 63  # sets of inputs given integer stand-ins: every set of up to six inputs


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


def infer(layer: Any, args: tuple, kwargs: dict, free: list, title: str, batch: int = BATCH) -> Any:
    """Run ``layer`` on stand-ins for ``args`` (nodes, or tuples of nodes). If it refuses
    them, the undeclared inputs in ``free`` that still have float stand-ins switch to
    integer ones (the labels of a loss), as few as possible: one at a time, ``Input(())``
    first, then larger sets; the first set the layer accepts keeps them. A layer that fits
    none is a ``ValueError`` starting with ``title``, showing the error on float stand-ins."""
    try:
        return _run(layer, args, kwargs, title, batch)
    except ValueError as first:
        floats = [a for a in free if a.stand_in.kind == "f"]
        if not floats:
            raise
        for chosen in _smallest_sets_first(floats):
            for a in chosen:
                a.stand_in = np.dtype(np.int64)
            try:
                return _run(layer, args, kwargs, title, batch)
            except ValueError:
                for a in chosen:
                    a.stand_in = np.dtype(np.float64)
        names = ", ".join(f"{a.name or 'input'!r} {a.shape_text}" for a in floats)
        note = (
            f"\n  Values quoted above are the build check's stand-ins, not your data: floats in "
            f"(0.1, 1), and integer labels 0 tried for {names}. If your data fits, declare the "
            f"input's dtype: nn.Input(shape, dtype=np.int64) for labels"
        )
        stand_ins = f"the check ran on a batch of {BATCH} of stand-in data"
        raise _failure(title, stand_ins, first.__cause__, note) from first.__cause__


def _smallest_sets_first(nodes: list) -> Iterator[tuple]:
    """The non-empty sets of ``nodes``, smallest first, ``Input(())``-shaped ones first (all
    of them for up to six nodes)."""
    ordered = sorted(nodes, key=lambda a: a.shape != ())
    sets = itertools.chain.from_iterable(
        itertools.combinations(ordered, size) for size in range(1, len(ordered) + 1)
    )
    # why: a real shape error on a layer of many inputs must not cost 2**n runs
    return itertools.islice(sets, _MOST_TRIES)


def _stand_ins(arg: Any, batch: int) -> Any:
    """Stand-ins for a node, or a tuple (or list) of them for a tuple of nodes."""
    if isinstance(arg, tuple | list):
        return type(arg)(_stand_ins(a, batch) for a in arg)
    return stand_in(arg, batch)


def _run(layer: Any, args: tuple, kwargs: dict, title: str, batch: int) -> Any:
    """Run the layer once on a stand-in batch: in eval mode, under no_grad, state restored."""
    subs = [sub for _, sub in layer.named_layers()]
    modes = [sub.training for sub in subs]
    # why: a sub-layer's own buffers are the ones whose names have no dot
    buffers = [(sub, n, v) for sub in subs for n, v in sub.named_buffers() if "." not in n]
    layer.eval()
    try:
        with no_grad():
            outputs = layer(*[_stand_ins(a, batch) for a in args], **kwargs)
    except Exception as err:
        raise _failure(title, f"the check ran on a batch of {BATCH}", err) from err
    finally:
        for sub, mode in zip(subs, modes, strict=True):
            object.__setattr__(sub, "training", mode)
        for sub, name, value in buffers:
            object.__setattr__(sub, name, value)
    return outputs


def _failure(title: str, how: str, err: BaseException, note: str = "") -> ValueError:
    text = f"{title} (None is the batch axis; {how}):\n  {type(err).__name__}: {err}{note}"
    return ValueError(text)


def follows_batch(y: Any) -> bool:
    """True if an output of the second run has the second batch size as axis 0."""
    shape = np.shape(y.data if isinstance(y, Tensor) else y)
    return len(shape) >= 1 and shape[0] == OTHER_BATCH
