"""Paths as browser users may see them: relative to the checkpoints folder, never the server's absolute paths.

Error messages from the core name folders absolutely (useful in a terminal); a page shows the same message
with every absolute path rewritten: a path inside the checkpoints folder relative to it ("palbert/config.json"),
one elsewhere in the repository relative to the checkpoints folder ("../backbones/minilm"), and any other one by
its last two parts ("…/hub/models--x").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..catalog import checkpoints_root

REPO_ROOT = Path(__file__).resolve().parents[2]
# an absolute POSIX path: starts at a "/" that does not follow a word character, ".", "~", "/" or ":" (URLs); ends at
# whitespace, a quote, a bracket or punctuation that ends a clause
_ABSOLUTE = re.compile(r"(?<![\w.~/:])/(?:[^\s'\"`()<>\[\]{},;]+)")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def public_path(path: str | os.PathLike, full: bool = False) -> str:
    """``path`` for a browser user (see the module docstring). ``full``: the checkpoints folder itself is
    shown as its path relative to the repository (e.g. "checkpoints") instead of "."."""
    raw = Path(path)
    if not raw.is_absolute():
        return str(raw)
    clean = Path(os.path.normpath(raw))
    root = Path(os.path.normpath(checkpoints_root().resolve()))
    repo = Path(os.path.normpath(REPO_ROOT))
    if clean == root and full:
        return str(root.relative_to(repo)) if _inside(root, repo) else root.name
    if _inside(clean, root):
        return str(clean.relative_to(root)) or "."
    if _inside(clean, repo):
        return os.path.relpath(clean, root)
    tail = clean.parts[-2:] if len(clean.parts) > 2 else clean.parts[1:]
    return "…/" + "/".join(tail)


def public_text(message: object) -> str:
    """``message`` (an error, a problem line) with every absolute path made public (``public_path``)."""
    text = str(message)
    root = str(Path(os.path.normpath(checkpoints_root().resolve())))
    # the checkpoints folder first, as a prefix: also catches paths that contain characters the pattern stops at
    text = text.replace(root + os.sep, "")
    return _ABSOLUTE.sub(lambda m: public_path(m.group(0)), text)
