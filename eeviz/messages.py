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


def plain_warnings() -> None:
    """Warnings as one "warning: ..." line each, for the command line (Python's own format adds the file, the line
    number and the source line of the code that warned, which means nothing to a user). Set by the commands'
    entry points only: importing eeviz leaves a program's warnings as they are."""
    import warnings

    warnings.formatwarning = lambda message, *args, **kwargs: f"warning: {message}\n"


def plural(count: int, word: str, many: str | None = None) -> str:
    """"1 thread", "2 threads" (``many`` for an irregular plural: "2 classes")."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"
