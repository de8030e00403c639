"""CSV files read as written, or refused in one line naming the line: a row with more fields than the header (an
unquoted comma in a text made pandas drop the text's first part without a word), a column named twice, a quote
never closed, a file separated by semicolons or tabs; rows named by the line they start on, also after a quoted
text that holds a line break. Through every reader: ``eeviz.data`` (evaluate --data, train --task FILE), the
app's uploads, and ``eeviz evaluate --data``."""

from __future__ import annotations

import pytest

from eeviz.data import load_examples_file
from eeviz.data_files import rows_and_places
from eeviz.evaluate_cli import main as evaluate_main
from eeviz.uploads import UploadError, read_upload

from test_eval_cli_guards import deebert, run  # noqa: F401  (a fixture: a saved tiny deebert checkpoint)
from test_report import task_file  # noqa: F401  (a fixture: the checkpoint's task file)

COMMA_ALL = ("text,label\nthe plot is good, but the acting is bad,rotten\nslow start, wonderful ending,fresh\n"
             "not funny, not moving,rotten\n")
COMMA_NO_LABEL = "text\nthe plot is good, but the acting is bad\nfine film\n"
COMMA_FIRST = "text,label\nthe plot is good, but the acting is bad,rotten\nfine film,fresh\n"
COMMA_LATER = "text,label\nfine film,fresh\nthe plot is good, but the acting is bad,rotten\n"

# (file text, the message's words): each once misread or named wrongly
TOO_MANY_FIELDS = [
    pytest.param(COMMA_ALL, 'line 2 has 3 fields where the header "text,label" has 2: put a text that holds a comma '
                            "in double quotes", id="every-row"),
    pytest.param(COMMA_NO_LABEL, 'line 2 has 2 fields where the header "text" has 1', id="no-label-column"),
    pytest.param(COMMA_FIRST, 'line 2 has 3 fields where the header "text,label" has 2', id="first-row-only"),
    pytest.param(COMMA_LATER, 'line 3 has 3 fields where the header "text,label" has 2', id="later-row"),
    pytest.param('text,label\n"line one\nline two",fresh\nfine, film,rotten\n',
                 'line 4 has 3 fields', id="after-a-quoted-line-break"),
    pytest.param("text,label\ngood,fresh,extra,more\n", 'line 2 has 4 fields', id="two-extra"),
    pytest.param("text,label\ngood film,fresh,\n", "has 2: remove the comma at its end, or put a text that holds a "
                                                 "comma in double quotes", id="a-comma-at-the-end"),
]


def read(text: str, name: str = "d.csv", label_required: bool = True):
    return rows_and_places(name, text.encode("utf-8"), label_required)


@pytest.mark.parametrize("text, words", TOO_MANY_FIELDS)
@pytest.mark.parametrize("label_required", [True, False])
def test_a_row_with_more_fields_than_the_header_is_refused_naming_its_line(text, words, label_required):
    with pytest.raises(ValueError) as err:
        read(text, label_required=label_required)
    message = str(err.value)
    assert words in message and "d.csv" in message and "\n" not in message, message


@pytest.mark.parametrize("text, words", TOO_MANY_FIELDS)
def test_an_upload_with_such_a_row_is_refused_in_one_line(text, words):
    with pytest.raises(UploadError) as err:
        read_upload("mine.csv", text.encode("utf-8"))
    assert words in str(err.value) and "mine.csv" in str(err.value) and "\n" not in str(err.value)


def test_a_data_file_with_such_a_row_is_refused(tmp_path):
    path = tmp_path / "comma.csv"
    path.write_text(COMMA_ALL)
    with pytest.raises(ValueError, match=r"line 2 has 3 fields"):
        load_examples_file(str(path))


def test_eeviz_evaluate_data_refuses_such_a_file_and_scores_nothing(deebert, tmp_path, capsys):
    """It scored " but the acting is bad" and the like (accuracy 1.0000, exit 0)."""
    path = tmp_path / "comma_all.csv"
    path.write_text(COMMA_ALL.replace("rotten", "neg").replace("fresh", "pos"))
    code, out, err = run(evaluate_main, ["--checkpoint", deebert, "--data", path, "--device", "cpu"], capsys)
    assert code == 2 and "accuracy" not in out
    assert 'line 2 has 3 fields where the header "text,label" has 2' in err and len(err.strip().splitlines()) == 1


def test_quoted_commas_quotes_and_line_breaks_are_read_as_written():
    rows, places = read('text,label\n"the plot is good, but bad",rotten\n"a ""quoted"" word",fresh\n'
                        '"line one\nline two",fresh\n"Inception" is great,fresh\n5" screen,rotten\n')
    assert [r["text"] for r in rows] == ["the plot is good, but bad", 'a "quoted" word', "line one\nline two",
                                        "Inception is great", '5" screen']
    assert [r["label"] for r in rows] == ["rotten", "fresh", "fresh", "fresh", "rotten"]
    assert places == ["row 1 (line 2)", "row 2 (line 3)", "row 3 (line 4)", "row 4 (line 6)", "row 5 (line 7)"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_rows_are_named_by_the_line_they_start_on(newline):
    """A quoted line break and blank lines move later rows down: row 2 of the reviewer's quoted_nl.csv was
    called "line 3" but is on line 4, and blank lines were not counted at all."""
    text = newline.join(["", "text,label", '"line one', 'line two",fresh', "", '"a ""quoted"" word",rotten',
                         "   ", "last,"]) + newline
    with pytest.raises(ValueError, match=r"row 3 \(line 8\) has no label"):
        read(text)
    rows, places = read(text.replace("last,", "last,fresh"))
    assert [r["text"] for r in rows] == [f"line one{newline}line two", 'a "quoted" word', "last"]
    assert places == ["row 1 (line 3)", "row 2 (line 6)", "row 3 (line 8)"]


def test_an_upload_names_a_row_after_a_quoted_line_break_by_its_line():
    raw = b'text,label\n"line one\nline two",fresh\nbad,1e309\n'
    with pytest.raises(UploadError, match=r"row 2 \(line 4\): the label 1e309 is not a finite number"):
        read_upload("nl.csv", raw)


def test_values_stay_strings_as_written_and_short_rows_have_no_label():
    rows, _ = read("text,label\nNA,007\nnull,1\n", label_required=False)
    assert rows == [{"text": "NA", "label": "007"}, {"text": "null", "label": "1"}]
    with pytest.raises(ValueError, match=r"row 1 \(line 2\) has no label"):
        read("text,label\njust a text\n")


def test_a_quoted_empty_text_is_a_row_and_a_blank_line_is_not():
    with pytest.warns(UserWarning, match=r"1 row\(s\) with an empty text left out \(row 2 \(line 4\)\); 1 read"):
        rows, places = read('text\nfine\n\n""\n', label_required=False)
    assert rows == [{"text": "fine"}] and places == ["row 1 (line 2)"]


@pytest.mark.parametrize("text, words", [
    ('text,label\n"never closed,1\nx,0\n', "line 2 opens a quote (\") that is never closed"),
    ('text,label\n"fine",1\n"never closed,0\n', "line 3 opens a quote"),
])
def test_a_quote_never_closed_is_refused_naming_its_line(text, words):
    with pytest.raises(ValueError) as err:
        read(text)
    assert words in str(err.value)


@pytest.mark.parametrize("header, twice", [("text,text,label", "text"), ("text,label,label", "label"),
                                           ("label,text,text_b,text_b", "text_b")])
def test_a_column_named_twice_is_refused(header, twice):
    """``text,text,label`` used the first text column and dropped the other (renamed 'text.1') without a word."""
    text = f"{header}\n" + ",".join(["a"] * len(header.split(","))) + "\n"
    with pytest.raises(ValueError) as err:
        read(text, label_required=False)
    assert f"line 1: the header names the column '{twice}' more than once" in str(err.value)
    with pytest.raises(UploadError, match="more than once"):
        read_upload("dup.csv", text.encode())


def test_unnamed_columns_from_a_trailing_comma_in_the_header_are_not_duplicates():
    rows, _ = read("text,label,,\ngood,fresh,,\n")
    assert rows[0]["text"] == "good" and rows[0]["label"] == "fresh"


@pytest.mark.parametrize("separator, name", [(";", "semicolons (;)"), ("\t", "tabs")])
def test_a_file_separated_by_semicolons_or_tabs_says_so(separator, name):
    raw = f"text{separator}label\ngood film{separator}fresh\n".encode()
    with pytest.raises(UploadError) as err:
        read_upload("semi.csv", raw)
    message = str(err.value)
    assert "no 'text' column" in message and f"looks separated by {name}: save it with commas" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="looks separated by"):
        read(raw.decode())


def test_a_header_of_one_unknown_column_gets_no_separator_hint():
    with pytest.raises(ValueError) as err:
        read("sentence\nhello\n", label_required=False)
    assert "no 'text' column" in str(err.value) and "separated" not in str(err.value)


def test_a_text_longer_than_the_csv_modules_default_field_limit_is_read():
    text = "x" * 300_000
    rows, _ = read(f"text\n{text}\n", label_required=False)
    assert rows[0]["text"] == text
