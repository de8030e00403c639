"""Values quoted in a one-line message, cut short: a bad field, label or link value may be a whole list or a
page of text, and the message must stay one line a user reads."""

from __future__ import annotations

from typing import Any

LIMIT = 40  # characters of a quoted value


def short_repr(value: Any, limit: int = LIMIT) -> str:
    """``repr(value)``, cut to ``limit`` characters ending in "..." (a config field, a data row, an eval field)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shorten(text: str, limit: int = LIMIT) -> str:
    """``text`` cut to ``limit`` characters ending in "…" (a label, a link's value)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
