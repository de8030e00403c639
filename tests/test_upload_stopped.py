"""Your sentences: a Run that Streamlit stops before it finishes (another page opened, a widget changed while it
ran) keeps the checkpoints it did, and the page says so on return (fuzz review, session 11, item 6): it said
only "Press Run to run 8 checkpoint(s)"."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
import streamlit as st  # noqa: E402

from apptest import run_app, write_tiny_checkpoints  # noqa: E402

PAGE = "pages/5_Your_sentences.py"


@pytest.fixture(scope="module")
def three_checkpoints(tiny_bert, tmp_path_factory):
    return write_tiny_checkpoints(tiny_bert, tmp_path_factory.mktemp("stopped_checkpoints"),
                                  ["deebert", "pabee", "pondernet"])


@pytest.fixture
def stopping_run(three_checkpoints, monkeypatch):
    """The page's runs stop (as Streamlit stops a script at its next step when another page opens) after the
    first ``stop_after[0]`` checkpoints; set it to None to let them finish."""
    import eeviz.app.upload as app_upload

    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(three_checkpoints))
    stop_after = [1]
    calls = []
    real = app_upload.run_checkpoint

    def run_checkpoint(*args, **kwargs):
        if stop_after[0] is not None and len(calls) >= stop_after[0]:
            st.stop()  # the request Streamlit sends when the user leaves the page
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(app_upload, "run_checkpoint", run_checkpoint)
    return stop_after


def paste_and_run(lines: list[str]):
    at = run_app(PAGE)
    at.segmented_control(key="up_source").set_value("paste").run()
    at.text_area(key="up_paste").set_value("\n".join(lines)).run()
    at.button(key="up_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def notes(at) -> list[str]:
    return [w.value.replace("\\", "") for w in at.warning if "last run was stopped" in w.value]


def table_checkpoints(at) -> int:
    return sum(c.endswith(": exit layer") for c in at.dataframe[0].value.columns) if at.dataframe else 0


def test_a_run_stopped_by_leaving_the_page_is_said_on_return_with_what_was_done(stopping_run):
    at = paste_and_run(["a run that is left", "half way through it"])
    at.switch_page("app.py").run()  # another page: Streamlit stops the run there (here: after one checkpoint)
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    said = notes(at)
    assert len(said) == 1, [w.value for w in at.warning]
    assert "when the page was left" in said[0] and "1 of 3 checkpoint(s) done, 2 remain" in said[0], said
    assert table_checkpoints(at) == 1  # what was done is kept and shown
    assert not [i for i in at.info if "Press **Run**" in i.value]  # one line, not two
    assert not [c for c in at.caption if "Press **Run** to add" in c.value]

    stopping_run[0] = None  # Run again: the rest runs, and the line goes
    at.button(key="up_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert notes(at) == [] and table_checkpoints(at) == 3
    at.switch_page("app.py").run()
    at.switch_page(PAGE).run()
    assert notes(at) == []  # a finished run leaves nothing to say


def test_a_run_stopped_on_its_own_page_is_not_said_to_be_left(stopping_run):
    stopping_run[0] = 0  # stopped before any checkpoint was done (a widget changed as it began)
    at = paste_and_run(["a run that a click stopped"])
    at.run()
    said = notes(at)
    assert len(said) == 1 and "before it finished" in said[0] and "0 of 3 checkpoint(s) done, 3 remain" in said[0]
    assert not [i for i in at.info if "Press **Run**" in i.value]
    # other sentences are another matter: the line is about the run of these
    at.text_area(key="up_paste").set_value("some other sentences").run()
    assert notes(at) == []
    assert [i for i in at.info if "Press **Run** to run 3 checkpoint(s)" in i.value]
