"""Save and load state dicts as ``.npz`` files: plain arrays, never pickles.

``save(obj, path)`` takes a layer, an optimizer or a dict of arrays and writes
their ``state_dict()`` to ``path``; ``load(path)`` gives that dict back, ready for
``load_state_dict``. Two extra entries mark a minigrad file: ``"__minigrad_format__"``
(the format version, a 0-d integer array, now 1) and ``"__minigrad_kind__"`` (what
was saved: ``"layer"``, ``"optimizer"`` or ``"dict"``); `load` checks them and leaves
them out of its result.

The file is written to a temporary file beside ``path`` and then renamed over it,
so a crash or an error leaves either the old file or the complete new one (and the
next save to ``path`` removes a temporary that a killed save left behind). Loading
never unpickles: a file holding objects or pickles is refused before anything in
it runs.

>>> import os, tempfile
>>> import numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "weights.npz")
>>> save({"W": np.eye(2), "b": np.zeros(2)}, path)
>>> load(path)
{'W': array([[1., 0.],
       [0., 1.]]), 'b': array([0., 0.])}
"""

from __future__ import annotations

import os
import re
import secrets
import time
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_FORMAT_KEY = "__minigrad_format__"
_KIND_KEY = "__minigrad_kind__"
_KINDS = ("layer", "optimizer", "dict")
_RESERVED_PREFIX = "__minigrad_"


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write the state of ``obj`` to ``path`` as an ``.npz`` file, atomically.

    Args:
        obj: a layer (has ``state_dict()`` and ``named_parameters()``), an optimizer
            (has ``state_dict()``) or a dict ``{name: array}``.
        path: the file to write, exactly as given (no suffix is added). An existing
            file is replaced only once the new one is complete.

    Raises:
        TypeError: ``obj`` is none of the above.
        ValueError: a name is not a string or is reserved, or a value is an object
            array (these would need pickle). Nothing is written then.
        FileNotFoundError: the folder of ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.

    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
    >>> save({"x": np.arange(3.0)}, path)
    >>> with np.load(path) as npz:
    ...     print(sorted(npz))
    ['__minigrad_format__', '__minigrad_kind__', 'x']
    """
    path = os.fspath(path)
    arrays = _arrays_to_save(obj, path)
    _write_atomically(path, arrays)


def _arrays_to_save(obj: Any, path: str) -> dict[str, np.ndarray]:
    """Every array to write for ``obj``, format entries included; raises before any write."""
    kind, state = _state_of(obj)
    arrays: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"save({path!r}): every name must be a non-empty string, got {name!r}; "
                "rename the entry"
            )
        if name.startswith(_RESERVED_PREFIX):
            raise ValueError(
                f"save({path!r}): the name {name!r} is reserved for minigrad's own "
                f"entries (names starting with {_RESERVED_PREFIX!r}); rename the entry"
            )
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"save({path!r}): entry {name!r} cannot be made into an array ({err}); "
                "store a NumPy array there"
            ) from err
        if array.dtype.hasobject:
            raise ValueError(
                f"save({path!r}): entry {name!r} is an array of Python objects "
                f"(dtype {array.dtype}), which only pickle could store; convert it to a "
                "numeric array first"
            )
        arrays[name] = array
    arrays[_FORMAT_KEY] = np.array(FORMAT_VERSION, dtype=np.int64)
    arrays[_KIND_KEY] = np.array(kind)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"save({path!r}): the folder {folder!r} does not exist; create it first, "
            "e.g. with os.makedirs"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"save({path!r}): this is a folder; pass the path of a file in it, e.g. "
            f"{os.path.join(path, 'model.npz')!r}"
        )
    return arrays


def _write_atomically(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary is ``.NAME.<pid>.<random>.tmp``; those a killed save left behind (their
    process has ended) are removed first.
    """
    folder, name = os.path.split(os.path.abspath(path))
    _remove_stale_temporaries(folder, name)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    # why: os.open with mode 0o666 lets the umask set the permissions, as open() would
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            _write_npz(file, arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        # why: the old file at `path` is untouched until os.replace; only the temporary goes
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Delete the temporaries of earlier saves to ``name`` that will never finish."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:(\d+)\.)?[0-9a-f]{{12}}\.tmp")
    for entry in os.scandir(folder):
        match = pattern.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            if _abandoned(match[1], entry.stat(follow_symlinks=False).st_mtime):
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:  # why: another save removed it first
                    pass


def _abandoned(pid: str | None, modified: float) -> bool:
    """Whether the save that wrote a temporary has ended (its process is gone)."""
    if pid is None:  # why: older minigrad named temporaries without the pid
        return True
    if int(pid) == os.getpid():
        return False
    if os.name != "posix":  # why: os.kill(pid, 0) would end the process on Windows
        return time.time() - modified > 3600
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:  # why: the process exists, it belongs to someone else
        return False
    return False


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by `save` and return its ``{name: ndarray}`` dict.

    The result is what ``load_state_dict`` takes; the format entries are left out.
    Nothing in the file is executed: pickled data and object arrays are refused.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: the file is not an ``.npz`` written by `save` (a pickle, another
            format, object arrays, a missing or newer format version) or it is
            truncated or corrupt. The message names the path.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
    >>> save({"t": np.array(3)}, path)
    >>> load(path)
    {'t': array(3)}
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"load({path!r}): no such file; check the path, or save() the state first"
        )
    if os.path.isdir(path):
        raise FileNotFoundError(
            f"load({path!r}): this is a folder, not a file; pass the path of a file written "
            "by mg.save(), e.g. " + repr(os.path.join(path, "model.npz"))
        )
    with open(path, "rb") as file:
        magic = file.read(4)
        # why: refuse anything but a zip (a pickle above all) before NumPy could try another loader
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ValueError(
                f"load({path!r}): this is not an .npz file (it starts with {magic!r}); "
                "minigrad loads only files written by mg.save(). Never load pickles "
                "from untrusted sources"
            )
        file.seek(0)
        try:
            with np.load(file, allow_pickle=False) as npz:
                # why: by member name: npz["a.npy"] would read entry "a", not "a.npy"
                members = npz.zip.namelist()
                entries = {(m[:-4] if m.endswith(".npy") else m): npz[m] for m in members}
        except Exception as err:
            raise ValueError(
                f"load({path!r}): the file is truncated, corrupt or holds objects that "
                f"only pickle could read ({type(err).__name__}: {err}); save it again "
                "with mg.save() or restore a good copy"
            ) from err

    for name, value in entries.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(
                f"load({path!r}): entry {name!r} is not a NumPy array; the file was not "
                "written by mg.save(), save it again with mg.save()"
            )
    _check_format(path, entries)
    return {name: value for name, value in entries.items() if not name.startswith(_RESERVED_PREFIX)}


def _state_of(obj: Any) -> tuple[str, Mapping[str, Any]]:
    """The kind marker and the ``{name: array}`` dict to save for ``obj``."""
    if isinstance(obj, Mapping):
        return "dict", obj
    state_dict = getattr(obj, "state_dict", None)
    if callable(state_dict):
        kind = "layer" if callable(getattr(obj, "named_parameters", None)) else "optimizer"
        state = state_dict()
        if not isinstance(state, Mapping):
            raise TypeError(
                f"save(): {type(obj).__name__}.state_dict() returned a "
                f"{type(state).__name__}, not a dict of arrays; fix state_dict()"
            )
        return kind, state
    raise TypeError(
        f"save() takes a Layer, an optimizer or a dict of arrays, got a "
        f"{type(obj).__name__}; pass e.g. model, optimizer or model.state_dict()"
    )


def _write_npz(file: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` archive (what ``np.savez`` writes).

    Written entry by entry rather than with ``np.savez(file, **arrays)``, whose own
    keyword arguments (``file``, ``allow_pickle``) would clash with such names.
    """
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _check_format(path: str, entries: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError unless ``entries`` carry a known format version and kind."""
    version = entries.get(_FORMAT_KEY)
    if version is None:
        raise ValueError(
            f"load({path!r}): no {_FORMAT_KEY!r} entry, so this .npz was not written by "
            "mg.save(); load it with np.load() and save the arrays again with mg.save()"
        )
    if version.shape != () or version.dtype.kind not in "iu":
        raise ValueError(
            f"load({path!r}): the format version must be a 0-d integer array, got "
            f"{version!r}; the file is damaged, save it again with mg.save()"
        )
    if int(version) != FORMAT_VERSION:
        newer = int(version) > FORMAT_VERSION
        hint = "upgrade minigrad to read it" if newer else "save it again with mg.save()"
        raise ValueError(
            f"load({path!r}): format version {int(version)}, but this minigrad reads "
            f"version {FORMAT_VERSION}; {hint}"
        )
    kind = entries.get(_KIND_KEY)
    if kind is None or kind.shape != () or kind.dtype.kind != "U" or str(kind) not in _KINDS:
        raise ValueError(
            f"load({path!r}): the {_KIND_KEY!r} entry must be one of {list(_KINDS)}, got "
            f"{kind!r}; the file is damaged, save it again with mg.save()"
        )
