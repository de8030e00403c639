"""ROOT/README.md as ``eeviz report`` finds it. A file the report wrote (its first line is ``WRITTEN_BY``) is
written whole again, so its words follow the checkpoints; in any other file the user may have written around the
table, so only the table between its markers is replaced, and a file without markers is never touched."""

from __future__ import annotations

import re
from pathlib import Path

TABLE_START, TABLE_END = "<!-- table:start -->", "<!-- table:end -->"
# the first line of a README the report writes (an HTML comment: invisible where the markdown is shown)
WRITTEN_BY = ("<!-- written by eeviz report: running it again rewrites this file whole; delete this line to keep "
              "your own words around the table (then only the table is replaced) -->\n")


def existing_readme(out: Path) -> str | None:
    """The text of a README.md already at ``out`` whose words are the user's (None when there is none, or when
    the report wrote it: it is written whole again); SystemExit, leaving it as it is, when it has no table markers
    to put the table between, or cannot be read."""
    if not out.exists():
        return None
    try:
        text = out.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SystemExit(f"error: cannot read '{out}' ({getattr(err, 'strerror', None) or err}); it is left as "
                         "it is") from None
    if text.startswith(WRITTEN_BY):
        return None  # the report's own file: written whole again
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise SystemExit(f"error: '{out}' exists and has no table markers, so it is left as it is: add a line "
                         f"{TABLE_START} and a line {TABLE_END} where the table should go (the report replaces "
                         "only what is between them), or move the file away to have it written whole")
    return text


def table_block(text: str) -> tuple[int, int]:
    """Where the first marked table of ``text`` starts and ends (markers included)."""
    start = text.index(TABLE_START)
    return start, text.index(TABLE_END, start) + len(TABLE_END)


def with_table_of(existing: str, generated: str) -> str:
    """``existing`` with its marked table replaced by ``generated``'s."""
    start, end = table_block(existing)
    new_start, new_end = table_block(generated)
    return existing[:start] + generated[new_start:new_end] + existing[end:]


def outside_table(text: str) -> str:
    start, end = table_block(text)
    return text[:start] + text[end:]


def parse_table(markdown: str) -> list[dict[str, str]]:
    """The rows of the table between the table markers of a README written by ``write_readme``."""
    match = re.search(re.escape(TABLE_START) + r"(.*?)" + re.escape(TABLE_END), markdown, re.S)
    if match is None:
        raise ValueError("no checkpoint table found (markers missing)")
    lines = [l.strip() for l in match.group(1).strip().splitlines() if l.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]
