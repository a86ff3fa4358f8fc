"""DataLoader: mini-batches over arrays that share their first axis."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike


class DataLoader:
    """Iterate over mini-batches of equally long arrays, one epoch per ``for`` loop.

    ``arrays`` is a tuple or list of arrays whose first axes have the same
    length ``N`` (images and labels, say); every batch is then a tuple holding
    the same rows of each array. Anything else is taken as one array, and every
    batch is then a single array, as when PyTorch iterates over one tensor.

    Each pass (epoch) visits every sample exactly once, in batches of
    ``batch_size``; the last batch is smaller when ``batch_size`` does not divide
    ``N``, or left out with ``drop_last=True``. ``len(loader)`` is the number of
    batches per epoch.

    With ``shuffle=True`` each epoch draws a fresh permutation from one
    generator, ``np.random.default_rng(seed)``: consecutive epochs differ, and
    a loader made with the same ``seed`` repeats the whole sequence. ``seed``
    may also be a ``np.random.Generator`` to share; ``None`` seeds from the OS.

    Without shuffling, batches are views into the arrays (no copy); with it,
    they are new arrays gathered by a slice of the permutation.

    >>> x = np.arange(10).reshape(5, 2)
    >>> t = np.array([0, 1, 0, 1, 1])
    >>> loader = DataLoader((x, t), batch_size=2)
    >>> len(loader)
    3
    >>> for xb, tb in loader:
    ...     print(xb.tolist(), tb.tolist())
    [[0, 1], [2, 3]] [0, 1]
    [[4, 5], [6, 7]] [0, 1]
    [[8, 9]] [1]
    >>> [batch.tolist() for batch in DataLoader(np.arange(5), 2, shuffle=True, seed=0)]
    [[2, 4], [3, 0], [1]]
    """

    def __init__(
        self,
        arrays: Sequence[ArrayLike] | ArrayLike,
        batch_size: int,
        shuffle: bool = False,
        seed: int | np.random.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        if isinstance(arrays, Mapping):
            raise TypeError(
                f"DataLoader takes a tuple of arrays, got a dict with keys {list(arrays)}; "
                "pass the arrays in order, e.g. DataLoader((x, t), batch_size) or "
                "DataLoader(tuple(d.values()), batch_size)"
            )
        self._single = not isinstance(arrays, (tuple, list))
        members = [arrays] if self._single else list(arrays)
        if not members:
            raise ValueError("DataLoader got an empty list of arrays; pass at least one array")
        self.arrays: tuple[np.ndarray, ...] = tuple(np.asarray(a) for a in members)
        for a, member in zip(self.arrays, members, strict=True):
            if a.dtype.hasobject and a.ndim == 0:
                raise TypeError(
                    f"DataLoader takes arrays (or a tuple of them), got a "
                    f"{type(member).__name__}; convert it with np.asarray first"
                )
        if any(a.ndim == 0 for a in self.arrays):
            shapes = [a.shape for a in self.arrays]
            raise ValueError(
                f"DataLoader needs arrays with a first (sample) axis, got shapes {shapes}; "
                "wrap a scalar in a list or reshape it to (1,)"
            )
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) > 1:
            raise ValueError(
                f"DataLoader needs arrays of the same length, got lengths {lengths}; "
                "every array must hold one row per sample"
            )
        if lengths[0] == 0:
            raise ValueError(
                f"DataLoader got empty arrays (lengths {lengths}); there is nothing to iterate"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(
                f"batch_size must be an int, got {type(batch_size).__name__} {batch_size!r}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.num_samples = lengths[0]
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...] | np.ndarray]:
        # why: draw the permutation here, not lazily in a generator body, so that
        # iter(loader) alone fixes this epoch's order
        order = self._rng.permutation(self.num_samples) if self.shuffle else None
        return self._batches(order)

    def _batches(self, order: np.ndarray | None) -> Iterator[tuple[np.ndarray, ...] | np.ndarray]:
        for number in range(len(self)):
            start = number * self.batch_size
            stop = start + self.batch_size
            index = slice(start, stop) if order is None else order[start:stop]
            batch = tuple(a[index] for a in self.arrays)
            yield batch[0] if self._single else batch

    def __repr__(self) -> str:
        return (
            f"DataLoader(num_samples={self.num_samples}, arrays={len(self.arrays)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, batches={len(self)})"
        )
