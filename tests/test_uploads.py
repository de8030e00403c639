"""Bring your own sentences: reading uploads and pasted lines (limits, one-line errors), fitting them to a
checkpoint, running them (exits equal to the Explore page's trace replay), and the page through AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from eeviz import uploads
from eeviz.checkpoint import save_checkpoint
from eeviz.config import ModelConfig
from eeviz.data import MAX_TEXT_CHARS
from eeviz.evaluate import sweep_values
from eeviz.inputs import check_inputs
from eeviz.methods import available_methods
from eeviz.model import build_model
from eeviz.trace import replay
from eeviz.uploads import UploadError, examples_for, read_pasted, read_upload, run_checkpoint

APP = Path(__file__).resolve().parent.parent / "app.py"
TEXTS = ["the movie is good", "bad plot and awful acting", "not very funny", "great fun", "the worst dull story",
         "it was a film\tand\x07 a story"]  # a tab and a control character: cleaned as typed text is


def csv_bytes(rows: list[dict]) -> bytes:
    import pandas as pd

    return pd.DataFrame(rows).to_csv(index=False).encode("utf-8")


def cfg(**extra) -> ModelConfig:
    return ModelConfig(**{"backbone": "unused", "method": "deebert", "labels": ["rotten", "fresh"], **extra})


# ============================================================================================ reading
def test_a_csv_with_labels_is_read_with_its_labels_as_written():
    s = read_upload("mine.csv", csv_bytes([{"text": "good", "label": "fresh"}, {"text": "bad", "label": "rotten"}]))
    assert s.texts == ("good", "bad") and s.labels == ("fresh", "rotten") and s.labelled and not s.is_pair
    assert s.source == "mine.csv" and len(s) == 2 and s.notices == ()


def test_json_lines_without_labels_and_a_byte_order_mark():
    raw = "\n".join(json.dumps({"text": t}) for t in ("one", "two", "three")).encode()
    s = read_upload("mine.jsonl", raw)
    assert s.texts == ("one", "two", "three") and s.labels is None and not s.labelled
    assert read_upload("m.csv", "\ufefftext\nhello\n".encode("utf-8")).texts == ("hello",)


def test_pairs_are_read_with_their_second_sentence():
    s = read_upload("p.csv", csv_bytes([{"text": "a", "text_b": "b", "label": 1}, {"text": "c", "text_b": "d", "label": 0}]))
    assert s.is_pair and s.texts_b == ("b", "d") and s.labels == ("1", "0")


def test_pasted_lines_skip_blanks_and_are_cleaned_as_typed_text():
    s = read_pasted("first one\n\n   \nsecond\x07 one\t!\n")
    assert s.texts == ("first one", check_inputs("second\x07 one\t!")[0]) and s.labels is None
    assert s.source == uploads.PASTED


def test_the_digest_follows_the_content():
    a = read_upload("a.csv", b"text\nx\n")
    assert a.digest == read_upload("a.csv", b"text\nx\n").digest
    assert a.digest != read_upload("a.csv", b"text\ny\n").digest != read_pasted("x").digest


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("bad.csv", "text,label\ncafé,1\n".encode("latin-1"), "not UTF-8"),
        ("bad.csv", b"sentence,label\nhello,1\n", "no 'text' column"),
        ("bad.jsonl", b'{"sentence": "hello"}\n', "no 'text' column"),
        ("bad.csv", b"", "is empty"),
        ("bad.csv", b"text,label\n,1\n  ,0\n", "no rows with non-empty text"),
        ("bad.jsonl", b'{"text": "a", "label": 1}\n{"text": "b"\n', "invalid JSON"),
        ("bad.csv", b"text,label\na,1\nb,\n", "has no label"),
        ("bad.csv", b"text,label\na,1.5\nb,nan\n", "row 2 (line 3): the label nan is not a finite number"),
        ("bad.csv", b"text,label\na,1.5\nb,1e309\n", "the label 1e309 is not a finite number"),
        ("bad.txt", b"text\nhello\n", "is not a .csv"),
        pytest.param("bad.jsonl", b'{"text": ' + b"1" * 5000 + b"}\n", "line 1: a number has more than",
                     id="jsonl-5000-digits"),
        pytest.param("bad.json", b'[{"text": ' + b"1" * 5000 + b"}]", "line 1: a number has more than",
                     id="json-5000-digits"),
        ("bad.csv", b"text,text_b\na,b\nc,\n", "row 2 (line 3): no second text"),
    ],
)
def test_bad_files_get_one_line_naming_the_problem(name, raw, expected):
    with pytest.raises(UploadError) as err:
        read_upload(name, raw)
    assert expected in str(err.value) and "\n" not in str(err.value) and name in str(err.value)
    assert "Traceback" not in str(err.value)


def test_file_size_and_row_limits():
    big = b"text\n" + b"x" * (uploads.MAX_UPLOAD_BYTES + 1)
    with pytest.raises(UploadError, match=r"big.csv is 2\.0 MB; the limit is 2\.0 MB"):
        read_upload("big.csv", big)
    rows = "text\n" + "".join(f"sentence {i}\n" for i in range(uploads.MAX_ROWS))
    assert len(read_upload("ok.csv", rows.encode())) == uploads.MAX_ROWS
    with pytest.raises(UploadError, match=f"has {uploads.MAX_ROWS + 1} sentences; the limit is {uploads.MAX_ROWS}"):
        read_upload("many.csv", (rows + "one more\n").encode())
    with pytest.raises(UploadError, match="The pasted text has"):
        read_pasted("\n".join(f"s{i}" for i in range(uploads.MAX_ROWS + 1)))
    with pytest.raises(UploadError, match="at least one sentence"):
        read_pasted(" \n \n")


def test_texts_past_the_character_limit_are_cut_with_a_notice():
    s = read_upload("long.csv", csv_bytes([{"text": "y" * (MAX_TEXT_CHARS + 50)}, {"text": "short"}]))
    assert len(s.texts[0]) == MAX_TEXT_CHARS and s.texts[1] == "short"
    assert len(s.notices) == 1 and "1 example(s) longer than" in s.notices[0] and "long.csv" in s.notices[0]


# ============================================================================================ fitting a checkpoint
def test_labels_as_class_names_or_indices_map_onto_the_checkpoint():
    names = read_upload("n.csv", csv_bytes([{"text": "a", "label": "fresh"}, {"text": "b", "label": "rotten"}]))
    assert [e.label for e in examples_for(names, cfg())] == [1, 0]
    indices = read_upload("i.csv", csv_bytes([{"text": "a", "label": 0}, {"text": "b", "label": 1}]))
    assert [e.label for e in examples_for(indices, cfg())] == [0, 1]
    unlabelled = read_pasted("a\nb")
    assert [e.label for e in examples_for(unlabelled, cfg())] == [None, None]
    regression = read_upload("r.csv", csv_bytes([{"text": "a", "text_b": "b", "label": 2.5}]))
    assert examples_for(regression, cfg(labels=[], is_pair=True, metric="pearson_spearman"))[0].label == 2.5


def test_labels_that_are_not_the_checkpoints_classes_are_refused_in_one_line():
    s = read_upload("pn.csv", csv_bytes([{"text": "a", "label": "pos"}, {"text": "b", "label": "neg"}]))
    with pytest.raises(UploadError) as err:
        examples_for(s, cfg())
    message = str(err.value)
    # plain words (no Python lists), the model's classes and the ways out (test_upload_session.py)
    assert "include pos, neg" in message and "rotten and fresh" in message and "\n" not in message
    with pytest.raises(UploadError, match="must be numbers"):
        examples_for(s, cfg(labels=[], is_pair=False, metric="pearson_spearman"))


def test_a_huge_label_is_quoted_short_with_its_line():
    s = read_upload("big.jsonl", b'{"text": "a", "label": "fresh"}\n{"text": "b", "label": "' + b"x" * 5000 + b'"}\n')
    with pytest.raises(UploadError) as err:
        examples_for(s, cfg())
    message = str(err.value)
    assert "include xxxx" in message and "x…, the first at line 2" in message
    assert len(message) < 250, message


def test_labels_mixing_class_names_and_indices_are_refused_saying_so():
    s = read_upload("mixed.csv", csv_bytes([{"text": "a", "label": 1}, {"text": "b", "label": 0},
                                            {"text": "c", "label": "rotten"}]))
    with pytest.raises(UploadError) as err:
        examples_for(s, cfg())
    message = str(err.value)
    assert "mixes class names ['rotten'] with class indices ['0', '1']" in message, message
    assert "unknown" not in message and "\n" not in message


def test_pairs_and_single_sentences_must_match_the_checkpoint():
    with pytest.raises(UploadError, match="reads sentence pairs"):
        examples_for(read_pasted("a"), cfg(is_pair=True))
    pairs = read_upload("p.csv", csv_bytes([{"text": "a", "text_b": "b"}]))
    with pytest.raises(UploadError, match="reads single sentences"):
        examples_for(pairs, cfg())


# ============================================================================================ running
def pushed_model(backbone, method, max_length=64, push=0.5):
    """A tiny model whose heads are pushed from their init by ``push`` (noise scale), so exits spread."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=backbone, method=method, labels=["neg", "pos"],
                                    max_length=max_length)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("method."):
                param.add_(push * torch.randn_like(param))
    return model


@pytest.mark.parametrize("method", available_methods())  # a random default rule too: draws follow the sentence
def test_exits_equal_the_explore_replay_of_each_sentence(tiny_bert, method):
    # PALBERT's λ head pushed gives every sentence the same exit at every threshold (a vacuous comparison)
    model = pushed_model(tiny_bert, method, push=0.0 if method == "palbert" else 0.5)
    rule = model.method.default_rule
    spec = model.method.rules[rule].spec
    lines = read_pasted("\n".join(TEXTS))
    labelled = read_upload("l.csv", csv_bytes([{"text": t, "label": i % 2} for i, t in enumerate(TEXTS)]))
    values = sweep_values(spec, model.method.rules[rule].sweep_for(model.num_layers))
    seen = set()
    for value in values:
        model.method.rule_defaults[rule] = value  # as a checkpoint's chosen default
        calls = []
        plain = run_checkpoint(model, examples_for(lines, model.cfg), progress=lambda d, n: calls.append((d, n)))
        scored = run_checkpoint(model, examples_for(labelled, model.cfg), source="l.csv")
        assert calls and calls[-1][0] == calls[-1][1] and [d for d, _ in calls] == list(range(1, len(calls) + 1))
        assert plain.evaluation is None and plain.correct is None
        assert scored.evaluation is not None and scored.evaluation.split == uploads.SPLIT_NAME
        for row, raw in enumerate(TEXTS):
            text, _ = check_inputs(raw)  # what the Explore page traces for this sentence
            decision = replay(model.trace(text, attentions=False), model.make_rule(rule, **{spec.param: value}))
            for run in (plain, scored):
                assert run.exit_layers[row] == decision.exit_layer, (value, row)
                assert run.preds[row] == decision.pred and run.pred_names()[row] == decision.label
            assert scored.correct[row] == (decision.pred == row % 2)
            seen.add(decision.exit_layer)
    assert len(seen) > 1  # the thresholds really move the exits: the comparison is not vacuous


def test_sentences_past_the_models_tokens_are_flagged(tiny_bert):
    model = pushed_model(tiny_bert, "deebert", max_length=8)
    lines = read_pasted("good\n" + " ".join(["good"] * 20))
    run = run_checkpoint(model, examples_for(lines, model.cfg))
    assert run.cut_rows == [1] and run.max_length == 8


def test_the_table_has_a_row_per_sentence_and_columns_per_checkpoint(tiny_bert):
    model = pushed_model(tiny_bert, "pabee")
    s = read_upload("t.csv", csv_bytes([{"text": t, "label": "pos"} for t in TEXTS[:3]]))
    run = run_checkpoint(model, examples_for(s, model.cfg))
    table = uploads.sentence_table(s, {"p": run}, {"p": "PABEE"})
    assert list(table.columns) == ["#", "sentence", "label", "PABEE: exit layer", "PABEE: prediction", "PABEE: right"]
    assert table["sentence"].tolist() == list(TEXTS[:3]) and table["#"].tolist() == [1, 2, 3]
    assert table["PABEE: exit layer"].tolist() == run.exit_layers
    assert table["PABEE: right"].tolist() == [p == "pos" for p in table["PABEE: prediction"]]


# ============================================================================================ the page (AppTest)
@pytest.fixture(scope="module")
def upload_checkpoints(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("upload_checkpoints")
    for name, extra in (("deebert-tiny", {}), ("pabee-pair", {"method": "pabee", "is_pair": True})):
        model_cfg = ModelConfig(**{"backbone": tiny_bert, "method": "deebert", "task": "toy", "labels": ["neg", "pos"],
                                   "max_length": 32, **extra})
        save_checkpoint(build_model(model_cfg), root / name)
    return root


def test_the_page_runs_pasted_sentences_once(upload_checkpoints, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import eeviz.app.upload as app_upload

    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(upload_checkpoints))
    runs = []
    real = app_upload.run_checkpoint
    monkeypatch.setattr(app_upload, "run_checkpoint", lambda *a, **k: runs.append(1) or real(*a, **k))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("pages/5_Your_sentences.py")
    at.run()
    assert not at.exception and at.title[0].value == "Your sentences"
    at.segmented_control(key="up_source").set_value("paste").run()
    at.text_area(key="up_paste").set_value("\n".join(TEXTS[:4]) + "\n<b>**bold**</b>").run()
    assert any("reads sentence pairs" in w.value for w in at.warning)  # the pair checkpoint is skipped, in one line
    assert any(c.value == "5 pasted sentences, no labels." for c in at.caption)
    assert not at.dataframe and "Press **Run**" in at.info[0].value
    at.button(key="up_run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["sentence"].tolist() == [*TEXTS[:4], "<b>**bold**</b>"]
    exit_columns = [c for c in table.columns if c.endswith(": exit layer")]
    assert len(exit_columns) == 1 and exit_columns[0].startswith("DeeBERT")
    assert table[exit_columns[0]].between(1, 3).all() and len(runs) == 1
    at.text_area(key="up_paste").set_value("\n".join(TEXTS[:4]) + "\n<b>**bold**</b>").run()  # same content
    at.segmented_control(key="up_source").set_value("paste").run()
    assert len(at.dataframe) == 1 and len(runs) == 1  # shown again from the cache, nothing recomputed
    assert at.button(key="up_run").disabled


def test_a_checkpoint_that_cannot_load_is_reported_and_the_others_run(upload_checkpoints, tmp_path, monkeypatch):
    import shutil

    from apptest import run_pasted

    root = tmp_path / "ckpts"
    shutil.copytree(upload_checkpoints / "deebert-tiny", root / "deebert-tiny")
    shutil.copytree(upload_checkpoints / "deebert-tiny", root / "zz-broken")
    (root / "zz-broken" / "model.safetensors").write_bytes(b"not weights")
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(root))
    at = run_pasted("one more sentence\nand another")
    assert any("Cannot load checkpoint zz" in e.value and "safetensors" in e.value for e in at.error)  # not rerun away
    table = at.dataframe[0].value
    assert table["sentence"].tolist() == ["one more sentence", "and another"]
    assert [c for c in table.columns if c.endswith("exit layer")] and not at.button(key="up_run").disabled
