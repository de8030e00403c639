"""Your sentences as a teacher uses it after Explore (app review, session 10): the rule and threshold set on
Explore apply here too and are named, labels that are not the model's classes get plain words and a way to run
without them, and pasted lines point to a file for accuracy."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from test_uploads import TEXTS, cfg, csv_bytes, pushed_model, upload_checkpoints  # noqa: E402,F401

from apptest import run_app  # noqa: E402
from eeviz.inputs import check_inputs  # noqa: E402
from eeviz.trace import replay  # noqa: E402
from eeviz.uploads import (UnknownLabels, UploadError, examples_for, read_pasted, read_upload,  # noqa: E402
                           run_checkpoint, without_labels)


def test_a_run_at_a_chosen_rule_and_threshold_equals_explores_replay(tiny_bert):
    model = pushed_model(tiny_bert, "pondernet")
    spec = model.method.rules["q_exit"].spec
    lines = read_pasted("\n".join(TEXTS))
    labelled = read_upload("l.csv", csv_bytes([{"text": t, "label": i % 2} for i, t in enumerate(TEXTS)]))
    seen = set()
    for q in (0.05, 0.5, 0.95):
        plain = run_checkpoint(model, examples_for(lines, model.cfg), rule="q_exit", threshold=q)
        scored = run_checkpoint(model, examples_for(labelled, model.cfg), source="l.csv", rule="q_exit", threshold=q)
        assert plain.rule == scored.rule == "q_exit" and plain.threshold == q
        for row, raw in enumerate(TEXTS):
            decision = replay(model.trace(check_inputs(raw)[0], attentions=False), model.make_rule("q_exit", q=q))
            assert plain.exit_layers[row] == scored.exit_layers[row] == decision.exit_layer, (q, row)
            assert scored.correct[row] == (decision.pred == row % 2)
            seen.add(decision.exit_layer)
        assert scored.evaluation is not None and spec.param == "q"
    assert len(seen) > 1  # the thresholds move the exits: not a vacuous comparison


def test_the_page_runs_at_the_threshold_set_on_explore_and_says_so(upload_checkpoints, monkeypatch):
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(upload_checkpoints))
    at = run_app(None, ckpt="deebert-tiny")
    top = at.slider(key="t_deebert_entropy").max  # above every entropy of two classes: exit at layer 1
    at.slider(key="t_deebert_entropy").set_value(top).run()
    at.switch_page("pages/5_Your_sentences.py").run()
    at.segmented_control(key="up_source").set_value("paste").run()
    at.text_area(key="up_paste").set_value("\n".join(TEXTS[:3])).run()
    at.button(key="up_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    (exits,) = [c for c in table.columns if c.endswith(": exit layer")]
    assert table[exits].tolist() == [1, 1, 1]  # at the default (S = 0.5 here) the random tiny model runs to layer 3
    said = " ".join(c.value for c in at.caption).replace("\\", "")
    assert f"S = {top:g} (set on Explore/Compare)" in said


def test_labels_that_are_not_the_classes_get_plain_words_and_the_ways_out():
    s = read_upload("pn.csv", csv_bytes([{"text": "a", "label": "positive"}, {"text": "b", "label": "negative"}]))
    with pytest.raises(UnknownLabels) as err:
        examples_for(s, cfg())
    message = str(err.value)
    assert "[" not in message and "'posi" not in message  # no Python list syntax
    assert "its classes are rotten and fresh" in message and "positive, negative, the first at row 1 (line 2)." in message
    assert "Rename the labels to rotten/fresh" in message and "drop the label column" in message
    # without them the same sentences run, as a content of their own (the caches keep both)
    bare = without_labels(s)
    assert bare.labels is None and bare.texts == s.texts and bare.digest != s.digest
    assert [e.label for e in examples_for(bare, cfg())] == [None, None]
    # a problem that is not unknown labels keeps its own words
    mixed = read_upload("m.csv", csv_bytes([{"text": "a", "label": 1}, {"text": "b", "label": "rotten"}]))
    with pytest.raises(UploadError) as err:
        examples_for(mixed, cfg())
    assert not isinstance(err.value, UnknownLabels) and "mixes class names" in str(err.value)


def test_pasted_lines_point_to_a_file_for_accuracy(upload_checkpoints, monkeypatch):
    from apptest import run_pasted

    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(upload_checkpoints))
    at = run_pasted("a fine film\na dull one")
    said = " ".join(c.value for c in at.caption)
    assert "Pasted lines carry no labels" in said and "**a file**" in said
    assert "Sentences with a **label** column also get" not in said


def _fitting_script():
    import streamlit as st

    from eeviz.app import ui, upload
    from eeviz.uploads import read_upload

    rows = st.session_state["rows"]
    sentences = read_upload("pn.csv", rows)
    infos = [i for i in ui.list_checkpoints() if not i.cfg.is_pair]
    infos = infos + infos[:1] if st.session_state.get("twice") else infos
    st.session_state["fits"] = upload.fitting(sentences, infos, {i.name: i.name for i in infos})


def test_when_no_checkpoint_takes_the_labels_the_page_says_how_to_run_them(upload_checkpoints, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(upload_checkpoints))
    at = AppTest.from_function(_fitting_script)
    at.session_state["rows"] = csv_bytes([{"text": "a", "label": "positive"}, {"text": "b", "label": "negative"}])
    at.run()
    assert not at.exception and at.session_state["fits"] == {}
    # another checkpoint cannot help: the way out is the switch (or other labels), not "choose a checkpoint"
    assert "Run without the labels" in at.info[0].value and "Choose at least one" not in at.info[0].value
    at.session_state["twice"] = True  # two checkpoints refused for one reason: one line, about "their" classes
    at.run()
    assert [w.value.startswith("Skipped every chosen checkpoint: their classes are") for w in at.warning] == [True]


def _choice_script():
    import streamlit as st

    from eeviz.app import ui, upload

    (info,) = [i for i in ui.list_checkpoints() if i.cfg.method == "deebert"]
    choice = upload.rule_choice(info)
    st.session_state["got"] = (choice.rule, choice.threshold, choice.from_session)


@pytest.mark.parametrize("value, expected", [(0.2, (0.2, True)), ("0.4", (0.4, True)), ("abc", (None, False)),
                                             (99.0, (None, False)), (float("nan"), (None, False)),
                                             (True, (None, False))])
def test_a_threshold_the_rule_cannot_take_leaves_the_default(upload_checkpoints, monkeypatch, value, expected):
    from streamlit.testing.v1 import AppTest

    from eeviz.app.rules import threshold_key

    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(upload_checkpoints))
    at = AppTest.from_function(_choice_script)
    at.session_state[threshold_key("deebert", "entropy")] = value
    at.run()
    assert not at.exception
    rule, threshold, from_session = at.session_state["got"]
    assert rule == "entropy" and from_session == expected[1]
    from eeviz.methods import get_method

    default = get_method("deebert").rules["entropy"].spec.default  # the tiny checkpoint chose none on dev
    assert threshold == pytest.approx(default if expected[0] is None else expected[0])
