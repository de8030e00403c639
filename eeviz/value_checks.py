"""Type checks on values read from files (a data file's rows, an eval.json's fields, a checkpoint's config and
its rules' settings).

One place decides what counts as a number, so every file agrees on it.
"""

from __future__ import annotations

from typing import Any


def is_number(value: Any) -> bool:
    """An int or a float (numpy's float64 too, a float subclass), never a bool: JSON's ``true`` is no number,
    though Python counts bools as ints."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
