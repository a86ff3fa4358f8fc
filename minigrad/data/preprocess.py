"""Preprocessing shared by the data sets: stored uint8 images and labels to training arrays."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

NUM_CLASSES = 10


def check_dtype(caller: str, normalize: bool, dtype: DTypeLike) -> np.dtype:
    """Return ``np.dtype(dtype)``, refusing an integer dtype for normalised pixels."""
    dtype = np.dtype(dtype)
    if normalize and not np.issubdtype(dtype, np.floating):
        raise ValueError(
            f"{caller}(normalize=True) needs a float dtype, got {dtype}; "
            "pass a float dtype, or normalize=False to keep the raw pixel values"
        )
    return dtype


def training_arrays(
    images: np.ndarray,
    labels: np.ndarray,
    peak: float,
    normalize: bool,
    flatten: bool,
    one_hot: bool,
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, H, W)`` and labels ``(N,)`` as ``(x, t)``.

    ``x`` has ``dtype``, is divided by ``peak`` (the largest pixel value) when
    ``normalize``, and has shape ``(N, H*W)`` when ``flatten``, else
    ``(N, 1, H, W)``. ``t`` is one-hot ``(N, 10)`` of ``dtype`` when ``one_hot``,
    else ``np.int64`` labels ``(N,)``.

    >>> x, t = training_arrays(np.array([[[0, 255]]], np.uint8), np.array([3], np.uint8),
    ...                        peak=255, normalize=True, flatten=False, one_hot=True,
    ...                        dtype=np.dtype(np.float32))
    >>> x
    array([[[[0., 1.]]]], dtype=float32)
    >>> t
    array([[0., 0., 0., 1., 0., 0., 0., 0., 0., 0.]], dtype=float32)
    """
    x = images.astype(dtype)
    if normalize:
        x /= peak
    x = x.reshape(len(x), -1) if flatten else x[:, np.newaxis]
    t = np.eye(NUM_CLASSES, dtype=dtype)[labels] if one_hot else labels.astype(np.int64)
    return x, t
