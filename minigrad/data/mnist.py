"""MNIST: read idx files, and download them (checksums verified) when missing.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA 3.0).
It is not shipped with minigrad; ``load_mnist`` reads the four idx files from a
folder and fetches the missing ones from the mirrors in ``MIRRORS``.

What a download must match, before it is moved into place:

- the SHA-256 of its *decompressed* bytes, from ``SHA256`` (the canonical idx
  content, whichever way a mirror compressed it), or
- the MD5 of the ``.gz`` file as served, from ``GZ_MD5`` (the checksums that
  torchvision and most loaders publish for the original ``.gz`` files).

Either one is enough. Files already in the folder are not hashed again on every
load; ``read_idx`` checks their structure (header, dtype, size, gzip stream).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from minigrad.data.download import default_root, download
from minigrad.data.preprocess import NUM_CLASSES, check_dtype, training_arrays

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
"""Base URLs tried in order; each serves ``<name>.gz`` for the four file names."""

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""SHA-256 of each file's decompressed idx bytes."""

GZ_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
"""MD5 of the original ``<name>.gz`` files."""

# the idx type byte -> element type; idx numbers are big-endian
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_REFETCH_HINT = "delete the file and download it again"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (gzip-compressed or raw) into a native-endian array.

    The idx format (LeCun's, used by MNIST) is two zero bytes, a type byte
    (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64),
    the number of dimensions, each dimension as a big-endian uint32, then the
    values in C order. Compression is detected from the content, not the name.
    A truncated or corrupt file raises ``ValueError`` naming it.

    >>> import tempfile
    >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "tiny-idx2-ubyte.gz"
    ...     _ = path.write_bytes(gzip.compress(header + bytes(range(6))))
    ...     read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, str(path))
    return _parse_idx(data, str(path))


def load_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    dtype: DTypeLike = np.float64,
    *,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    progress: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST as ``(x_train, t_train), (x_test, t_test)``: 60,000 and 10,000 images.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` from ``root``,
    each either raw or gzip-compressed (the same name plus ``.gz``).

    ``root`` defaults to ``$MINIGRAD_DATA/mnist``, else
    ``$XDG_CACHE_HOME/minigrad/mnist``, else ``~/.cache/minigrad/mnist``.

    With ``download=True`` a missing file is fetched as ``<name>.gz`` from each
    of ``mirrors`` in turn (default ``MIRRORS``) until one delivers a file whose
    checksum matches (see the module docstring; ``checksums`` maps file names to
    the SHA-256 of their decompressed bytes and, when given, replaces the
    built-in tables). The download goes to a temporary file in ``root`` that is
    renamed into place only once verified, so a failed or interrupted download
    leaves nothing behind. ``progress`` shows a tqdm bar when tqdm is installed,
    else one line per file on stderr.

    The other arguments are those of ``load_digits``: ``normalize`` divides the
    pixels (0..255) by 255; ``flatten`` gives ``(N, 784)`` instead of
    ``(N, 1, 28, 28)``; ``one_hot`` gives labels ``(N, 10)`` of ``dtype``
    instead of ``np.int64`` labels ``(N,)``; ``dtype`` is the images' dtype.

    Raises ``FileNotFoundError`` if files are missing and ``download=False``,
    ``RuntimeError`` if no mirror delivered a verified file, and ``ValueError``
    if a file in ``root`` is corrupt (delete it to fetch it again).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     load_mnist(folder, download=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: MNIST files missing in ...: train-images-idx3-ubyte(.gz), ...
    >>> (x_train, t_train), (x_test, t_test) = load_mnist()  # doctest: +SKIP
    >>> x_train.shape, t_train.shape, x_test.shape  # doctest: +SKIP
    ((60000, 784), (60000,), (10000, 784))
    """
    dtype = check_dtype("load_mnist", normalize, dtype)
    folder = Path(root).expanduser() if root is not None else default_root("mnist")
    missing = [name for name in FILES if _find(folder, name) is None]
    if missing and not download:
        names = ", ".join(f"{name}(.gz)" for name in missing)
        raise FileNotFoundError(
            f"MNIST files missing in {folder}: {names}; call load_mnist(download=True) "
            "to fetch them, or put the idx files (raw or .gz) into that folder"
        )
    for name in missing:
        _download(name, folder, MIRRORS if mirrors is None else mirrors, checksums, progress)

    splits = []
    for prefix in ("train", "t10k"):
        image_path = _find(folder, f"{prefix}-images-idx3-ubyte")
        label_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(image_path), read_idx(label_path)
        _check_split(images, labels, image_path, label_path)
        splits.append(training_arrays(images, labels, 255.0, normalize, flatten, one_hot, dtype))
    return splits[0], splits[1]


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _gunzip(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(
            f"{source} is not a readable gzip file ({error}); it is truncated or corrupt: "
            f"{_REFETCH_HINT}"
        ) from None


def _parse_idx(data: bytes, source: str) -> np.ndarray:
    def corrupt(problem: str) -> ValueError:
        return ValueError(f"{source} is not a valid idx file: {problem}; {_REFETCH_HINT}")

    if len(data) < 4:
        raise corrupt(f"it is only {len(data)} bytes long, shorter than any idx header")
    if data[:2] != b"\x00\x00":
        raise corrupt(f"it starts with bytes {data[:4].hex(' ')}, expected 00 00 <type> <ndim>")
    dtype = _IDX_DTYPES.get(data[2])
    if dtype is None:
        known = ", ".join(f"0x{code:02X}" for code in _IDX_DTYPES)
        raise corrupt(f"unknown type byte 0x{data[2]:02X} (known: {known})")
    header_bytes = 4 + 4 * data[3]
    if len(data) < header_bytes:
        raise corrupt(f"{len(data)} bytes cannot hold the header of {data[3]} dimensions")
    shape = struct.unpack(f">{data[3]}I", data[4:header_bytes])
    expected = header_bytes + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise corrupt(
            f"the header announces {dtype.name} values of shape {shape}, that is "
            f"{expected} bytes, but the data has {len(data)} bytes"
        )
    values = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header_bytes)
    # why: a writable, native-endian copy, not a read-only view of the bytes
    return values.reshape(shape).astype(dtype.newbyteorder("="))


def _check_split(
    images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path
) -> None:
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(
            f"{image_path} holds {images.dtype} values of shape {images.shape}, not uint8 "
            f"images (N, rows, columns); {_REFETCH_HINT}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1 or labels.max(initial=0) >= NUM_CLASSES:
        raise ValueError(
            f"{label_path} holds {labels.dtype} values of shape {labels.shape} up to "
            f"{labels.max(initial=0)}, not uint8 labels 0..9 (N,); {_REFETCH_HINT}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path} has {len(images)} images but {label_path} has {len(labels)} "
            f"labels; one of them is from another data set: {_REFETCH_HINT}"
        )


def _download(
    name: str,
    folder: Path,
    mirrors: Sequence[str],
    checksums: Mapping[str, str] | None,
    progress: bool,
) -> None:
    """Fetch ``<name>.gz`` into ``folder`` from the first mirror that delivers it intact."""
    if checksums is not None and name not in checksums:
        raise ValueError(f"checksums has no entry for {name!r}; it has {sorted(checksums)}")

    def verify(path: Path, gz_md5: str) -> None:
        _verify(path, name, gz_md5, checksums)

    download(f"{name}.gz", folder, mirrors, verify, progress=progress)


def _verify(path: Path, name: str, gz_md5: str, checksums: Mapping[str, str] | None) -> None:
    data = path.read_bytes()
    content = _gunzip(data, "the download") if data[:2] == _GZIP_MAGIC else data
    sha256 = hashlib.sha256(content).hexdigest()
    if checksums is not None:
        if sha256 == checksums[name]:
            return
        raise ValueError(
            f"checksum mismatch: the decompressed bytes have SHA-256 {sha256}, "
            f"expected {checksums[name]}"
        )
    if sha256 == SHA256[name] or gz_md5 == GZ_MD5[name]:
        return
    raise ValueError(
        f"checksum mismatch: the decompressed bytes have SHA-256 {sha256} (expected "
        f"{SHA256[name]}) and the .gz has MD5 {gz_md5} (expected {GZ_MD5[name]})"
    )
