"""A CSV file's text read into rows, each with its place in the file ("row 2 (line 4)").

Python's csv module rather than pandas, for two reasons. A row with one field more than the header made pandas
take the row's first field as an index and drop it without a word (``the plot is good, but the acting is
bad,rotten`` under ``text,label`` was read as " but the acting is bad"); here a row with more fields than the
header is refused, naming its line. And the csv module says where each row ends, so a row after a quoted text
that holds a line break is named by the line it starts on, not by its row number plus one.

Every value is a str, as written ("NA" and "007" stay as they are); a row with fewer fields than the header gets
"" for the rest (a missing label is then said as such). Blank lines are skipped, as pandas skipped them.
"""

from __future__ import annotations

import csv
import io
import itertools

from .messages import shorten

# a header cell that holds one of these, and no comma, is a file written with another separator
OTHER_SEPARATORS = {";": "semicolons (;)", "\t": "tabs"}


def csv_rows(path: str, content: str) -> tuple[list[dict], list[str], list[str]]:
    """The rows of a CSV file's text as dicts keyed by the header, each row's place ("row 2 (line 4)"), and
    the header's column names. Raises ValueError naming ``path`` and the line: a row with more fields than the
    header, a column named twice, a quote never closed, or text the csv module cannot read."""
    # the csv module refuses a field over 128 KB by default; an upload's size limit and a task file's own size
    # bound it here (the limit is per process and only ever raised)
    csv.field_size_limit(max(csv.field_size_limit(), len(content) + 1))
    last_line = [""]  # the line the csv module read last: tells a blank line from a quoted empty text ("")

    def lines():
        for line in io.StringIO(content, newline=""):
            last_line[0] = line
            yield line

    reader = csv.reader(lines(), strict=False)
    header: list[str] | None = None
    rows, places = [], []
    start = ended = 0  # the line the current record starts on, and the line the one before ended on
    try:
        for record in reader:
            start, ended = ended + 1, reader.line_num
            if not record or (len(record) == 1 and not last_line[0].strip()):
                continue  # a blank line (pandas skipped those, whitespace-only ones too)
            if header is None:
                header = record
                _check_header(path, header, start)
                continue
            if len(record) > len(header):
                # only empty fields past the header's: most likely a comma at the end of the line
                trailing = not any(field.strip() for field in record[len(header):])
                raise ValueError(
                    f"Data file {path!r}: line {start} has {len(record)} fields where the header "
                    f"\"{shorten(','.join(header), 60)}\" has {len(header)}: "
                    + ("remove the comma at its end, or " if trailing else "")
                    + 'put a text that holds a comma in double quotes ("like this, with a comma").'
                )
            rows.append(dict(zip(header, record + [""] * (len(header) - len(record)))))
            places.append(f"row {len(rows)} (line {start})")
    except csv.Error as exc:
        raise ValueError(f"Data file {path!r} is not valid CSV (line {reader.line_num}: {exc}).") from None
    if header is None:
        raise ValueError(f"Data file {path!r} is empty.")
    _check_last_quote_closed(path, content, start)
    return rows, places, header


def _check_header(path: str, header: list[str], line: int) -> None:
    """Refuses a column named twice: only one of them would be read (pandas read the first ``text`` and
    renamed the second ``text.1``, so a file with two text columns ran on one without a word)."""
    named = [name for name in header if name.strip()]  # unnamed columns (a trailing comma) are never read
    twice = next((name for name in named if named.count(name) > 1), None)
    if twice is not None:
        raise ValueError(
            f"Data file {path!r}, line {line}: the header names the column {shorten(twice)!r} more than once "
            f"(\"{shorten(','.join(header), 60)}\"); give each column its own name."
        )


def _check_last_quote_closed(path: str, content: str, start: int) -> None:
    """Refuses a quote opened and never closed: the csv module (not strict, so that ``"Inception" is great``
    reads as pandas read it) takes everything after it, to the end of the file, as one text. Only the last row
    can hold such a quote, so only it is read again, strictly."""
    tail = "".join(itertools.islice(io.StringIO(content, newline=""), max(start - 1, 0), None))
    if '"' not in tail:
        return
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise ValueError(
                f"Data file {path!r}: line {start} opens a quote (\") that is never closed, so the rest of the "
                "file would be one text; close it, or double a quote that is part of the text (\"\")."
            ) from None


def separator_hint(columns: list[str]) -> str:
    """Words for a header read as one column because the file is separated by something else than commas
    (a spreadsheet set to another language often saves with semicolons); empty otherwise."""
    if len(columns) != 1:
        return ""
    for separator, name in OTHER_SEPARATORS.items():
        if separator in columns[0]:
            return f" The file looks separated by {name}: save it with commas between the columns."
    return ""
