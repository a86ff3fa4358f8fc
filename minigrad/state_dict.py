"""The strict state-dict check shared by ``Layer.load_state_dict`` and the optimizers.

A loader says which keys it expects and how to check each value (a *rule*: a function
``rule(key, value)`` that returns the value to store or raises ``ValueError`` with one
line describing the problem). `validate_state_dict` runs every rule and reports every
problem in one ``ValueError``, so the caller can apply all the values or none of them.

>>> import numpy as np
>>> rules = {"W": like_array(np.zeros((2, 2))), "t": count}
>>> validate_state_dict("Demo", {"W": np.ones((2, 2)), "t": np.array(3)}, rules)
{'W': array([[1., 1.],
       [1., 1.]]), 't': 3}
>>> validate_state_dict("Demo", {"W": np.ones(3), "x": np.ones(1)}, rules)
Traceback (most recent call last):
...
ValueError: load_state_dict into Demo failed, nothing was changed:
  unexpected key 'x'
  missing key 't'
  'W': expected shape (2, 2), got (3,)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["Rule", "validate_state_dict", "like_array", "count"]

Rule = Callable[[str, Any], Any]


def validate_state_dict(
    owner: str, state: Mapping[str, Any], rules: Mapping[str, Rule], hint: str = ""
) -> dict[str, Any]:
    """Check ``state`` against ``rules`` (key -> rule); return the checked values by key.

    Raises one ``ValueError`` naming every unexpected key, every missing key and every
    bad value, ending with ``hint`` (what to do) when one is given.
    """
    problems = [f"unexpected key {key!r}" for key in state if key not in rules]
    problems += [f"missing key {key!r}" for key in rules if key not in state]
    values = {}
    for key, rule in rules.items():
        if key in state:
            try:
                values[key] = rule(key, state[key])
            except ValueError as err:
                problems.append(str(err))
    if problems:
        lines = "\n  ".join(problems + ([hint] if hint else []))
        raise ValueError(f"load_state_dict into {owner} failed, nothing was changed:\n  {lines}")
    return values


def like_array(current: np.ndarray) -> Rule:
    """A rule for a numeric array of ``current``'s shape; the value is copied to its dtype."""

    def rule(key: str, value: Any) -> np.ndarray:
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{key!r}: dtype {array.dtype} is not numeric")
        if array.shape != current.shape:
            raise ValueError(f"{key!r}: expected shape {current.shape}, got {array.shape}")
        return array.astype(current.dtype, copy=True)

    return rule


def count(key: str, value: Any) -> int:
    """A rule for a step count: a 0-d integer array (or int) >= 0."""
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iu" or array < 0:
        raise ValueError(f"{key!r}: expected a count (a 0-d integer array >= 0), got {array!r}")
    return int(array)
