"""Reading a local data file (CSV, JSON lines or one JSON array): its text, its rows, and its labels.

Everything here refuses a bad file with one line naming the file and, where it can, the row or line: a file
that is not UTF-8, a row that is not an object, a missing column, a label that is not a finite number or not a
class of the model. ``eeviz.data`` builds tasks from these rows; ``eeviz.uploads`` reads the app's uploads
with them.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import warnings

from .csv_rows import csv_rows, separator_hint
from .inputs import visible
from .messages import short_repr, shorten
from .value_checks import is_number

FILE_EXTENSIONS = (".csv", ".jsonl", ".json")


def _decode(path: str, raw: bytes) -> str:
    """The file's text; a file that is not UTF-8 is refused with its name and where the bad byte is."""
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark from spreadsheet exports is fine
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"Data file {path!r} is not UTF-8 text (byte {exc.start}, line {line}); save it as UTF-8."
        ) from None


def _json_rows(path: str, content: str) -> tuple[list[dict], list[str]]:
    """Rows of a JSON-lines file (or of one JSON array), each with where it is ("line 3", "item 2")."""
    items = None
    if content.lstrip().startswith("["):  # tolerate a plain JSON array too
        try:
            items = json.loads(content)
        except (ValueError, RecursionError):  # JSONDecodeError, or a number of more than 4300 digits
            items = None  # JSON lines whose first line is an array: reported line by line below
    if items is not None:
        located = [(f"item {i}", item) for i, item in enumerate(items, 1)]
    else:
        located = []
        # JSON Lines are split at "\n" only: str.splitlines() also splits at U+2028, U+0085, ... which JSON
        # allows unescaped inside strings (a review with a Unicode line separator is one row, not two broken ones)
        for lineno, line in enumerate(content.split("\n"), 1):
            if line.strip():
                try:
                    located.append((f"line {lineno}", json.loads(line)))
                except (json.JSONDecodeError, RecursionError) as exc:
                    raise ValueError(f"{path}:{lineno}: invalid JSON ({exc})") from None
                except ValueError as exc:  # Python's int() refuses more digits than sys.get_int_max_str_digits()
                    if "digits" not in str(exc):
                        raise
                    raise ValueError(
                        f"Data file {path!r}, line {lineno}: a number has more than {sys.get_int_max_str_digits()} "
                        "digits; write it as text (in quotes) or shorten it."
                    ) from None
    for where, row in located:
        if not isinstance(row, dict):
            raise ValueError(
                f"Data file {path!r}, {where}: expected an object such as "
                f'{{"text": "...", "label": ...}}, got {_json_kind(row)}{"" if row is None else " " + short_repr(row)}.'
            )
    return [row for _, row in located], [where for where, _ in located]


def _json_kind(value) -> str:
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return kinds.get(type(value), type(value).__name__)


def read_rows(path: str) -> tuple[list[dict], list[str]]:
    """Reads a CSV or JSON-lines file into dicts, validating columns and dropping empty texts; with each row's
    place in the file ("line 3", "row 2 (line 3)": the line a CSV row starts on, "item 2")."""
    if problem := data_file_problem(path):
        raise ValueError(problem)
    with open(path, "rb") as fh:
        return rows_and_places(path, fh.read())


def data_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a data file (missing, a folder, another kind of file); None when it can."""
    if os.path.isdir(path):
        return f"Data file {path!r} is a folder, not a file: give the .csv/.jsonl/.json file in it."
    if not os.path.isfile(path):
        return f"Data file not found: {path!r}"
    if not path.lower().endswith(FILE_EXTENSIONS):
        return f"Unsupported data file {path!r}; use one of {FILE_EXTENSIONS}."
    return None


def rows_from_bytes(path: str, raw: bytes, label_required: bool = True) -> list[dict]:
    """``read_rows`` for a file's bytes (an upload): ``path`` names it in messages and its ending picks the
    format. Without ``label_required`` the 'label' column may be missing (then no row has a "label" key)."""
    return rows_and_places(path, raw, label_required)[0]


def rows_and_places(path: str, raw: bytes, label_required: bool = True) -> tuple[list[dict], list[str]]:
    """``rows_from_bytes`` with each kept row's place in the file, for messages about a row."""
    lower = path.lower()
    if lower.endswith(".csv"):
        # every value a str, as written (keeps texts like "NA" or "007"): labels are typed by _parse_label
        rows, places, columns = csv_rows(path, _decode(path, raw))
    elif lower.endswith((".jsonl", ".json")):
        rows, places = _json_rows(path, _decode(path, raw))
        columns = sorted({k for r in rows for k in r})
    else:
        raise ValueError(f"Unsupported data file {path!r}; use one of {FILE_EXTENSIONS}.")

    if not rows:
        raise ValueError(f"Data file {path!r} is empty.")
    has_label = "label" in columns
    for col in ("text", "label") if label_required else ("text",):
        if col not in columns:
            raise ValueError(
                f"Data file {path!r} has no {col!r} column (columns: {columns}); "
                + ("expected 'text', 'label' and optionally 'text_b', 'split'." if label_required
                   else "expected 'text' and optionally 'label', 'text_b'.")
                + (separator_hint(columns) if lower.endswith(".csv") else "")
            )
    kept, kept_places, empty = [], [], []
    for where, row in zip(places, rows):
        for col in ("text", "text_b"):
            value = row.get(col)
            if not (value is None or isinstance(value, str) or is_number(value)):
                raise ValueError(f"Data file {path!r}, {where}: {col!r} must be a string, got {short_repr(value)}.")
        text = row.get("text")
        # invisible-only text (zero-width spaces, direction marks) reaches a model as [CLS] [SEP] alone: empty too
        if text is None or not visible(str(text)):
            empty.append(where)
            continue
        if not has_label:
            kept.append(row)
            kept_places.append(where)
            continue
        label = row.get("label")
        if label is None or (isinstance(label, float) and math.isnan(label)) or label == "":
            raise ValueError(f"Data file {path!r}: {where} has no label.")
        if not (isinstance(label, str) or is_number(label) or isinstance(label, bool)):
            raise ValueError(f"Data file {path!r}, {where}: the label must be a number or a string, got {short_repr(label)}.")
        if not _finite_label(label):
            # a CSV's "nan", "inf" or "1e309" is a string here: typed as _parse_label types it, it is caught
            # as JSON's Infinity is, instead of turning into a regression target that makes the loss nan
            raise ValueError(
                f"Data file {path!r}, {where}: the label {shorten(str(label).strip())} is not a finite number."
            )
        kept.append(row)
        kept_places.append(where)
    if not kept:
        raise ValueError(f"Data file {path!r} has no rows with non-empty text.")
    if empty:  # left out, and said so: a score over fewer rows than the file has must not pass unnoticed
        named = ", ".join(empty[:3]) + (f" and {len(empty) - 3} more" if len(empty) > 3 else "")
        warnings.warn(f"{os.path.basename(path)}: {len(empty)} row(s) with an empty text left out ({named}); "
                      f"{len(kept)} read.", stacklevel=2)
    paired = [row.get("text_b") not in (None, "") for row in kept]
    if any(paired) and not all(paired):  # a model reads pairs or single sentences, never both in one batch
        where = kept_places[paired.index(False)]
        raise ValueError(
            f"Data file {path!r}, {where}: no second text ('text_b'), though other rows have one; "
            "a file of sentence pairs needs one in every row (a file of single sentences, in none)."
        )
    return kept, kept_places


def _finite_label(label) -> bool:
    """False for a label that reads as a number too large for a float or not finite (nan, inf, 1e309)."""
    parsed = _parse_label(label)
    if isinstance(parsed, str):
        return True  # a class name
    try:
        return math.isfinite(float(parsed))
    except OverflowError:  # a whole number of hundreds of digits
        return False


def _echo(labels) -> str:
    """Labels quoted in a message, each cut to 40 characters (a label 1e300 is a 301-digit class index)."""
    return "[" + ", ".join(repr(shorten(v)) for v in map(str, labels)) + "]"


def _first_at(parsed: list, bad, places: list[str] | None) -> str:
    """Where the first label in ``bad`` is, as ' (first at line 3)'; empty without places."""
    i = next((i for i, v in enumerate(parsed) if str(v) in bad), None)
    return "" if not places or i is None or i >= len(places) else f" (first at {places[i]})"


def _parse_label(value) -> int | float | str:
    """Types a raw label: integral numbers → int, other numbers → float, else str."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        num = float(text)
    except ValueError:
        return text
    # float("1e309") is inf and float("nan") nan: neither is integral, so they stay floats (refused as labels)
    return int(num) if num.is_integer() else num


def infer_labels(raw: list, path: str, places: list[str] | None = None) -> tuple[list[int | float], list[str]]:
    """Infers class names (or regression) from raw labels; returns (values, names)."""
    parsed = [_parse_label(v) for v in raw]
    if any(isinstance(v, float) for v in parsed):
        bad = sorted({v for v in parsed if isinstance(v, str)})
        if bad:
            raise ValueError(
                f"Data file {path!r} mixes numeric (regression) labels with text labels {_echo(bad[:5])}"
                f"{_first_at(parsed, set(bad), places)}."
            )
        return [float(v) for v in parsed], []
    ints = sorted({v for v in parsed if isinstance(v, int)})
    strs = sorted({v for v in parsed if isinstance(v, str)})
    names = [str(i) for i in ints] + strs  # ints sorted numerically, not as strings
    index = {n: i for i, n in enumerate(names)}
    return [index[str(v)] for v in parsed], names


def regression_reason(raw: list, places: list[str] | None = None) -> str | None:
    """Why ``infer_labels`` reads these labels as regression targets, in words, or None when it does not:
    "label '1.5' (line 102) is not a whole number; the other labels are 0, 1, 2"."""
    parsed = [_parse_label(v) for v in raw]
    first = next((i for i, v in enumerate(parsed) if isinstance(v, float)), None)
    if first is None:
        return None
    place = places[first] if places and first < len(places) else ""
    where = f" at {m.group(0)}" if (m := re.search(r"line \d+", place)) else (f" at {place}" if place else "")
    reason = f"label '{shorten(str(raw[first]).strip())}'{where} is not a whole number"
    others = sorted({v for v in parsed if not isinstance(v, float)})
    if others and len(others) <= 10:
        reason += f"; the other labels are {', '.join(map(str, others))}"
    elif not others:
        reason += f"; {len({v for v in parsed})} different numbers in all"
    return reason


def map_onto(raw: list, names: list[str], path: str, places: list[str] | None = None) -> list[int | float]:
    """Maps raw file labels onto a checkpoint's class names ([] = regression); ``places`` name each row's place
    in the file, for the message about a bad label."""
    parsed = [_parse_label(v) for v in raw]
    if not names:
        bad = sorted({v for v in parsed if isinstance(v, str)})
        if bad:
            raise ValueError(
                f"Data file {path!r}: regression labels must be numbers, got {_echo(bad[:5])}"
                f"{_first_at(parsed, set(bad), places)}."
            )
        return [float(v) for v in parsed]
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({str(v) for v in parsed if str(v) not in index})
    if not unknown:
        return [index[str(v)] for v in parsed]
    # Numeric labels that are not class names are accepted as class indices.
    if all(isinstance(v, int) and 0 <= v < len(names) for v in parsed):
        return list(parsed)
    if all(isinstance(v, int) and 0 <= v < len(names) for v in parsed if str(v) not in index):
        # e.g. "rotten" next to 1: either alone is fine, but which class is 1 then? (the message used to refuse the
        # indices while saying indices were allowed)
        used = sorted({str(v) for v in parsed if str(v) in index})
        raise ValueError(
            f"Data file {path!r} mixes class names {_echo(used[:10])} with class indices {_echo(unknown[:10])}"
            f"{_first_at(parsed, set(unknown), places)}; "
            f"write every label as a class name ({names}) or every label as an index (0..{len(names) - 1})."
        )
    raise ValueError(
        f"Data file {path!r} has labels unknown to the model: {_echo(unknown[:10])}"
        f"{_first_at(parsed, set(unknown), places)}; "
        f"expected one of {names} (or class indices 0..{len(names) - 1})."
    )
