"""Files written whole or not at all: a reader (the app, a resumed run) never sees half of one."""

from __future__ import annotations

from pathlib import Path

TMP_SUFFIX = ".tmp"  # the temporary file beside the target: .NAME.tmp


def temp_of(path: Path) -> Path:
    """Where ``write_atomically`` writes ``path`` first."""
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file beside it, renamed over it; the temporary file is
    removed whatever fails."""
    tmp = temp_of(path)
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
