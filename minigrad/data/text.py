"""A small real text that ships with minigrad, for character-level language models.

``shakespeare.txt`` holds the opening of Shakespeare's *Coriolanus* as it appears in
the "tinyshakespeare" training text (about 30 KB of speeches, with the speakers'
names); it is in the public domain (see ``SHAKESPEARE_LICENSE.txt`` beside this file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_TEXT_FILE = Path(__file__).with_name("shakespeare.txt")


def load_text(as_ids: bool = False) -> str | tuple[np.ndarray, str]:
    """The bundled Shakespeare text, as a string, or as character ids and a vocabulary.

    Needs no network: the text ships inside minigrad (about 30 KB, 1,146 lines).

    - ``as_ids=False``: the text itself, a ``str``.
    - ``as_ids=True``: the pair ``(ids, vocab)``. ``vocab`` is a string of the distinct
      characters in sorted order, and ``ids`` an ``np.int64`` array with one entry per
      character of the text: ``vocab[ids[k]]`` is its k-th character. Decode with
      ``"".join(vocab[i] for i in ids)``; encode with ``vocab.index(c)`` (or a dict).

    >>> text = load_text()
    >>> text[:23]
    'First Citizen:\\nBefore w'
    >>> ids, vocab = load_text(as_ids=True)
    >>> len(ids) == len(text), ids.dtype, len(vocab)
    (True, dtype('int64'), 58)
    >>> "".join(vocab[i] for i in ids[:14])
    'First Citizen:'
    """
    text = _TEXT_FILE.read_text(encoding="utf-8")
    if not as_ids:
        return text
    vocab = "".join(sorted(set(text)))
    lookup = np.zeros(max(map(ord, vocab)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in vocab]] = np.arange(len(vocab))
    codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return lookup[codes], vocab
