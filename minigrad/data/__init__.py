"""Data for training: mini-batches, a built-in digits set, and MNIST.

- ``DataLoader``: shuffled, reproducible mini-batches over NumPy arrays.
- ``load_digits``: 1,797 hand-written 8x8 digits that ship with minigrad.
- ``load_mnist``: MNIST from a folder, downloaded there (and verified) if missing.
- ``read_idx``: read one idx file, gzip-compressed or raw.
- ``load_text``: a small Shakespeare text that ships with minigrad, for language models.

>>> from minigrad.data import DataLoader, load_digits
>>> (x_train, t_train), _ = load_digits()
>>> loader = DataLoader((x_train, t_train), batch_size=100, shuffle=True, seed=0)
>>> len(loader)
15
>>> x, t = next(iter(loader))
>>> x.shape, t.shape
((100, 64), (100,))
"""

from __future__ import annotations

from minigrad.data.digits import load_digits
from minigrad.data.loader import DataLoader
from minigrad.data.mnist import load_mnist, read_idx
from minigrad.data.text import load_text

__all__ = ["DataLoader", "load_digits", "load_mnist", "read_idx", "load_text"]
