"""A small real data set of hand-written digits that ships with minigrad.

The images are the test part of the UCI "Optical Recognition of Handwritten
Digits" data set by E. Alpaydin and C. Kaynak (1998), 1,797 images of 8x8
pixels whose values count the ink in 4x4 blocks of a 32x32 bitmap (0..16).
It is published under CC BY 4.0; see ``DIGITS_LICENSE.txt`` beside this file.

``digits.npz`` holds three arrays, saved with ``np.savez_compressed`` and read
with ``allow_pickle=False``:

- ``images``: uint8, shape (1797, 8, 8), values 0..16, in the original order;
- ``labels``: uint8, shape (1797,), the digits 0..9;
- ``is_test``: bool, shape (1797,), the fixed train/test split.

The split is stratified: the test set holds 36 images of every digit (360 in
all), the training set the other 1,437. It was drawn once, when the file was
made, by ``_build_digits_npz`` (seed 0), and is stored in the file, so it never
depends on the NumPy version.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from minigrad.data.preprocess import NUM_CLASSES, check_dtype, training_arrays

_DIGITS_FILE = Path(__file__).with_name("digits.npz")
_TEST_PER_CLASS = 36


def load_digits(
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    dtype: DTypeLike = np.float64,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The 8x8 hand-written digits as ``(x_train, t_train), (x_test, t_test)``.

    Needs no network: the data ship inside minigrad (about 45 KB). There are
    1,437 training and 360 test images, with the same fixed split every time
    (36 test images per digit; see the module docstring).

    - ``normalize``: divide the pixels (0..16) by 16, giving values in [0, 1];
      otherwise they keep their raw values 0..16, converted to ``dtype``.
    - ``flatten``: images of shape ``(N, 64)``; otherwise ``(N, 1, 8, 8)``
      (NCHW, ready for ``Conv2d``).
    - ``one_hot``: labels as one-hot rows ``(N, 10)`` of ``dtype``; otherwise
      integer labels ``(N,)`` of ``np.int64``.
    - ``dtype``: the dtype of the images (and of one-hot labels).

    This mirrors the book's ``load_mnist(normalize, flatten, one_hot_label)``.

    >>> (x_train, t_train), (x_test, t_test) = load_digits()
    >>> x_train.shape, t_train.shape, x_test.shape, t_test.shape
    ((1437, 64), (1437,), (360, 64), (360,))
    >>> float(x_train.min()), float(x_train.max()), x_train.dtype
    (0.0, 1.0, dtype('float64'))
    >>> (x, t), _ = load_digits(flatten=False, one_hot=True, dtype=np.float32)
    >>> x.shape, t.shape, t.dtype
    ((1437, 1, 8, 8), (1437, 10), dtype('float32'))
    """
    dtype = check_dtype("load_digits", normalize, dtype)
    with np.load(_DIGITS_FILE, allow_pickle=False) as archive:
        images = archive["images"]
        labels = archive["labels"]
        is_test = archive["is_test"]
    x, t = training_arrays(images, labels, 16.0, normalize, flatten, one_hot, dtype)
    return (x[~is_test], t[~is_test]), (x[is_test], t[is_test])


def _build_digits_npz(csv_path: str | Path, out_path: str | Path = _DIGITS_FILE) -> None:
    """Make ``digits.npz`` from scikit-learn's ``digits.csv.gz`` (kept for the record).

    Each CSV row holds the 64 pixels of one image, row by row, then its label.
    """
    table = np.loadtxt(csv_path, delimiter=",", dtype=np.int64)
    images = table[:, :64].reshape(-1, 8, 8).astype(np.uint8)
    labels = table[:, 64].astype(np.uint8)
    rng = np.random.default_rng(0)
    is_test = np.zeros(len(labels), dtype=bool)
    for digit in range(NUM_CLASSES):
        members = np.flatnonzero(labels == digit)
        is_test[rng.permutation(members)[:_TEST_PER_CLASS]] = True
    np.savez_compressed(out_path, images=images, labels=labels, is_test=is_test)
