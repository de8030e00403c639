"""Links at their edges (fuzz review, session 11, items 2, 4, 5 and 9), through ``AppTest``.

- A link whose rule or threshold the page drops (``?ckpt=x&t_x_entropy=nan``) left the sentence box empty in the
  browser while the result was the default sentence's; the next click sent the empty box ("the text is empty").
- A sentence the box takes could make a link the server refuses (19,500 CJK characters: a 175 KB URL, "HTTP
  ERROR 400" on reload); such a sentence is now left out of the link, and the page says so.
- A folder that is there but cannot be loaded was called "no such folder" in a link's warnings.
- Compare with two checkpoints that agree said "All 2 checkpoints predict".
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from apptest import run_app, write_tiny_checkpoints  # noqa: E402

from eeviz.fingerprint import text_id  # noqa: E402

COMPARE, ATTENTION = "pages/1_Compare.py", "pages/2_Attention.py"


@pytest.fixture(scope="module")
def edge_checkpoints(tiny_bert, tmp_path_factory):
    """deebert-tiny, pondernet-tiny (three rules), deebert-twin (a copy: it always agrees with deebert-tiny), and
    pabee-noweights (a copy of pabee-tiny without its weights file: there, but not loadable)."""
    root = write_tiny_checkpoints(tiny_bert, tmp_path_factory.mktemp("edge_checkpoints"),
                                  ["deebert", "pondernet", "pabee"])
    shutil.copytree(root / "deebert-tiny", root / "deebert-twin")
    shutil.copytree(root / "pabee-tiny", root / "pabee-noweights")
    (root / "pabee-noweights" / "model.safetensors").unlink()
    return root


@pytest.fixture
def edge_env(edge_checkpoints, monkeypatch):
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(edge_checkpoints))
    return edge_checkpoints


def run(page: str | None, **query) -> AppTest:
    return run_app(page, **query)


def results(at: AppTest) -> dict[str, dict]:
    """The "Reproduce this result" lines, by checkpoint."""
    import json

    lines = [line for c in at.code if c.language == "json" for line in c.value.splitlines()]
    return {r["checkpoint"]: r for r in map(json.loads, lines)}


def box_in_browser(at: AppTest, key: str = "text") -> str:
    """What the browser draws in a text box after the last run: the value the run sent with it, else the box's
    default. (AppTest reads the server's value, which a rerun keeps whatever the browser was told.)"""
    proto = at.text_area(key=key).proto
    return proto.value if proto.set_value else proto.default


def warnings(at: AppTest) -> list[str]:
    return [w.value.replace("\\", "") for w in at.warning]


# ======================================================================== a dropped link value, item 2
DROPPED = [
    (None, {"ckpt": "deebert-tiny", "t_deebert_entropy": "nan"}),
    (None, {"ckpt": "pondernet-tiny", "rule_pondernet": "nosuch"}),
    (COMPARE, {"ckpts": "deebert-tiny,pabee-tiny", "t_deebert_entropy": "nan"}),
    (ATTENTION, {"ckpt": "deebert-tiny", "t_deebert_entropy": "nan"}),
]


@pytest.mark.parametrize("page, query", DROPPED)
def test_a_link_whose_rule_or_threshold_is_dropped_keeps_the_sentence_in_its_box(edge_env, page, query):
    from eeviz.app.inputs import DEFAULT_TEXT

    at = run(page, **query)
    assert any("Ignored a" in w for w in warnings(at)), warnings(at)  # the value was dropped (a rerun)
    shown = box_in_browser(at)
    assert shown == DEFAULT_TEXT  # the box the browser draws holds the sentence the page ran
    if page != ATTENTION:  # (Attention has no "Reproduce this result")
        assert {r["text_id"] for r in results(at).values()} == {text_id(DEFAULT_TEXT)}

    # the next click sends what the browser shows: the page still runs that sentence (it said "the text is empty")
    at.text_area(key="text").set_value(shown)
    if page == COMPARE:
        at.multiselect(key="compare").set_value(["deebert-tiny", "pondernet-tiny"]).run()
    else:
        at.selectbox(key="ckpt").set_value("pabee-tiny").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [w for w in warnings(at) if "empty" in w], warnings(at)
    assert at.text_area(key="text").value == DEFAULT_TEXT
    if page != ATTENTION:
        assert results(at) and {r["text_id"] for r in results(at).values()} == {text_id(DEFAULT_TEXT)}


def test_a_compare_link_that_drops_a_threshold_keeps_its_checkpoints_in_the_picker(edge_env):
    at = run(COMPARE, t_deebert_entropy="nan")  # no ckpts: the picker starts at every single-sentence checkpoint
    picker = at.multiselect(key="compare")
    assert picker.value  # the server's choice...
    proto = picker.proto  # ...is what the browser is told (it was drawn with no default after the rerun)
    shown = list(proto.raw_values) if proto.set_value else [proto.options[i] for i in proto.default]
    assert len(shown) == len(picker.value), (shown, picker.value)


# ======================================================================== a sentence too long for a link, item 4
@pytest.mark.parametrize("page", [None, COMPARE, ATTENTION])
def test_a_sentence_too_long_for_a_link_is_left_out_of_it_with_a_line_that_says_so(edge_env, page):
    from eeviz.app.inputs import LINK_TEXT_BYTES, link_size

    where = {"ckpts": "deebert-tiny"} if page == COMPARE else {"ckpt": "deebert-tiny"}
    at = run(page, **where, text="a short sentence")
    assert at.query_params["text"] == "a short sentence"
    huge = "語" * 19_500  # the box takes it (20,000 characters at most); 175 KB in a link, which the server refused
    assert link_size({"text": huge}) > LINK_TEXT_BYTES
    at.text_area(key="text").set_value(huge).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "text" not in at.query_params  # nor the stale short one: the link opens the default sentence
    notes = [c.value for c in at.caption if "too long to share in a link" in c.value]
    assert len(notes) == 1 and "default sentence" in notes[0], notes
    assert at.text_area(key="text").value == huge  # the page keeps it and runs it
    if page != ATTENTION:
        assert {r["text_id"] for r in results(at).values()} == {text_id(huge)}

    # back under the budget: into the link again, and the line goes
    long_ascii = ("a fine film, " * 1600)[:20_000]  # the longest English the box takes fits a link
    assert link_size({"text": long_ascii}) <= LINK_TEXT_BYTES
    at.text_area(key="text").set_value(long_ascii).run()
    assert at.query_params["text"] == long_ascii
    assert not [c for c in at.caption if "too long to share" in c.value]


def test_the_link_budget_leaves_room_under_what_the_server_takes():
    """The server refused a request past about 128 KB (measured on Streamlit 1.67's uvicorn, 127,900 bytes);
    tornado took 64 KB of headers. A budget this far under both keeps reloads working."""
    from eeviz.app.inputs import LINK_TEXT_BYTES, MAX_CHARS, link_size

    assert LINK_TEXT_BYTES <= 64 * 1024 // 2
    assert link_size({"text": "e" * MAX_CHARS}) <= LINK_TEXT_BYTES  # plain text of any length the box takes fits


# ======================================================================== a folder that cannot be loaded, item 5
def test_a_link_to_a_folder_that_cannot_be_loaded_says_why_on_explore(edge_env):
    at = run(None, ckpt="pabee-noweights")
    notes = [n for n in (w.value.replace("\\", "") for w in at.sidebar.warning) if "pabee-noweights" in n]
    assert len(notes) == 1, notes
    assert "could not be loaded" in notes[0] and "model.safetensors is missing" in notes[0], notes
    assert "skipped" in notes[0] and "no such folder" not in notes[0], notes
    assert str(edge_env) not in notes[0]  # named relative to the checkpoints folder
    # the sidebar's list of skipped folders gives the same reason
    assert any("pabee-noweights" in t.value and "model.safetensors is missing" in t.value
               for t in at.sidebar.get("text"))
    at = run(None, ckpt="no-such-folder")  # a folder that is not there is still said so
    assert any("no such folder" in w.value for w in at.sidebar.warning)


def test_a_compare_link_tells_folders_that_cannot_be_loaded_from_missing_ones(edge_env):
    at = run(COMPARE, ckpts="pabee-noweights,deebert-tiny,nope")
    assert at.multiselect(key="compare").value == ["deebert-tiny"]
    notes = [w for w in warnings(at) if "Left out of the link" in w]
    assert len(notes) == 2, notes
    (missing,) = [n for n in notes if "no such folder" in n]
    (broken,) = [n for n in notes if "could not be loaded" in n]
    assert "nope" in missing and "pabee-noweights" not in missing
    assert "pabee-noweights" in broken and "model.safetensors is missing" in broken and "nope" not in broken


@pytest.mark.parametrize("name", ["../edge", ".hidden", "a/b", ""])
def test_only_a_folder_of_the_checkpoints_folder_gets_a_reason(edge_env, name):
    from eeviz.app.loading import skipped_reason

    (edge_env / ".hidden").mkdir(exist_ok=True)
    assert skipped_reason(name) is None
    assert "model.safetensors is missing" in skipped_reason("pabee-noweights")
    assert skipped_reason("deebert-tiny") is None  # a good checkpoint is no skipped folder


# ======================================================================== Compare's words, item 9
def test_compare_says_both_for_two_checkpoints_that_agree(edge_env):
    at = run(COMPARE, ckpts="deebert-tiny,deebert-twin", text="a fine film")
    said = [s.value for s in at.success]
    assert len(said) == 1 and said[0].startswith("Both checkpoints predict"), said
    at.multiselect(key="compare").set_value(["deebert-tiny"]).run()
    assert [s.value for s in at.success][0].startswith("The checkpoint predicts")
