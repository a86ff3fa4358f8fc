"""Download a data file from a list of mirrors, and keep it only once it is verified.

Used by ``load_mnist``; a new data set needs its file names, mirrors and a ``verify``
function (`sha256_is` for the common case of one SHA-256 per file)::

    path = download("corpus.txt", default_root("corpus"), MIRRORS, sha256_is("ab12..."))

The file is written to a hidden temporary in the target folder and renamed into
place only after ``verify`` accepted it, so a failed, corrupt or interrupted
download (Ctrl-C included) leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["download", "default_root", "sha256_is", "Verify"]

Verify = Callable[[Path, str], None]
"""``verify(path, md5)``: raise ValueError unless the file at ``path`` (whose bytes as
received have the MD5 ``md5``) is the expected one."""

_TIMEOUT_SECONDS = 30
_CHUNK_BYTES = 1 << 16


def default_root(dataset: str) -> Path:
    """``$MINIGRAD_DATA/<dataset>``, else ``$XDG_CACHE_HOME/minigrad/<dataset>``, else
    ``~/.cache/minigrad/<dataset>``."""
    if os.environ.get("MINIGRAD_DATA"):
        return Path(os.environ["MINIGRAD_DATA"]).expanduser() / dataset
    cache = os.environ.get("XDG_CACHE_HOME", "")
    # why: the XDG spec says to ignore a relative XDG_CACHE_HOME
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "minigrad" / dataset


def sha256_is(expected: str) -> Verify:
    """A ``verify`` that accepts a file whose SHA-256 is ``expected`` (hex)."""

    def verify(path: Path, md5: str) -> None:
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        if sha256 != expected:
            raise ValueError(f"checksum mismatch: SHA-256 {sha256}, expected {expected}")

    return verify


def download(
    file_name: str,
    folder: Path,
    mirrors: Sequence[str],
    verify: Verify,
    *,
    progress: bool = True,
) -> Path:
    """Fetch ``<mirror>/<file_name>`` into ``folder`` from the first mirror that delivers
    a file ``verify`` accepts; return its path.

    ``progress`` shows a tqdm bar when tqdm is installed, else one line per file on
    stderr. Raises ``RuntimeError`` naming every mirror's failure if none delivered.
    """
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{file_name}"
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{file_name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as stream:
                md5 = _fetch(url, stream, progress)
            verify(Path(temporary), md5)
            os.replace(temporary, folder / file_name)
            return folder / file_name
        except (OSError, http.client.HTTPException, ValueError) as error:
            failures.append(f"  {url}: {error}")
        finally:
            # why: after a failure (or Ctrl-C) no partial file may stay behind
            Path(temporary).unlink(missing_ok=True)
    tried = "\n".join(failures) or "  (the list of mirrors is empty)"
    raise RuntimeError(
        f"could not download {file_name} into {folder}:\n{tried}\n"
        "check the network connection, pass other mirrors=[...], or put the file "
        "into that folder by hand"
    )


def _fetch(url: str, stream: BinaryIO, progress: bool) -> str:
    """Copy ``url`` into ``stream``; return the MD5 of the bytes received."""
    request = urllib.request.Request(url, headers={"User-Agent": "minigrad"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with _progress_bar(url, total, progress) as bar:
            while chunk := response.read(_CHUNK_BYTES):
                stream.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # why: http.client returns a short body without complaint when the server hangs up
    if total is not None and received != total:
        raise ConnectionError(f"transfer interrupted after {received} of {total} bytes")
    return digest.hexdigest()


def _progress_bar(url: str, total: int | None, enabled: bool) -> Any:
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            label = url.rsplit("/", 1)[-1]
            return tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024)
    return _PlainProgress(url, total, enabled)


class _PlainProgress:
    """The fallback without tqdm: one line on stderr when a download starts."""

    def __init__(self, url: str, total: int | None, enabled: bool) -> None:
        self.url, self.total, self.enabled = url, total, enabled

    def __enter__(self) -> _PlainProgress:
        if self.enabled:
            size = "" if self.total is None else f" ({_format_bytes(self.total)})"
            print(f"minigrad: downloading {self.url}{size}", file=sys.stderr)
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, count: int) -> None:
        return None


def _format_bytes(count: int) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    if count < 1024:
        return f"{count} bytes"
    if count < 1024**2:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024**2:.1f} MiB"
