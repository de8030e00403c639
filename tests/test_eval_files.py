"""An eval.json (or eval-dev.json) that is valid JSON but of the wrong shape: ``EvalResult.from_dict`` refuses it
with one ``EvalFileError`` naming the field, and every reader (the Dataset page, the example picker that borrows a
sibling checkpoint's examples, ``eeviz report``) turns that into one line and keeps the other checkpoints."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest

from eeviz.eval_result import EvalFileError, EvalResult
from test_app import tiny_eval
from test_dataset_view import eval_dict


def changed(change) -> dict:
    data = copy.deepcopy(eval_dict())
    change(data)
    return data


def point0(data: dict) -> dict:
    return data["rules"]["ordered"]["points"][0]


# (what is broken, how, what the message says); each crashed a page or the report before it was checked
BAD_FILES = [
    ("no rules", lambda d: (d.update(rules={}), d.pop("default_rule")), "rules is empty"),
    ("no layers", lambda d: (d.update(num_layers=0, per_layer=[], rules={}), d.pop("default_rule")),
     "num_layers is 0"),
    ("threshold text", lambda d: point0(d).update(threshold="x"), "rule 'ordered' point 0: threshold should be"),
    ("threshold null", lambda d: point0(d).update(threshold=None), "rule 'ordered' point 0: threshold should be"),
    ("score text", lambda d: point0(d).update(score="x"), "rule 'ordered' point 0: score should be a finite"),
    ("score nan", lambda d: point0(d).update(score=float("nan")), "point 0: score should be a finite number, got nan"),
    ("metric text", lambda d: point0(d).update(metrics={"accuracy": "x"}), "point 0: metric 'accuracy'"),
    ("layer score text", lambda d: d["per_layer"][0].update(score="x"), "per_layer\\[0\\] score"),
    ("same layer twice", lambda d: d["per_layer"][1].update(layer=1), "layers 1..3 once each"),
    ("full score null", lambda d: d["full_model"].update(score=None), "full_model score"),
    ("default null", lambda d: d["rules"]["ordered"].update(default=None), "rule 'ordered' default"),
    ("no points", lambda d: d["rules"]["ordered"].update(points=[]), "rule 'ordered' has no sweep points"),
    ("stochastic text", lambda d: d["rules"]["random"].update(stochastic="yes"), "rule 'random' stochastic"),
    ("mean exit 0", lambda d: point0(d).update(mean_exit_layer=0), "mean_exit_layer is 0, outside 1..3"),
    ("wall text", lambda d: point0(d).update(wall_speedup="fast"), "wall_speedup should be a finite number or null"),
    ("histogram negative", lambda d: point0(d).update(histogram=[-5, 0, 0]), "histogram holds -5"),
    ("gold text", lambda d: d["examples"][0].update(gold="abc"), "example 0 gold is 'abc', not a class index 0..1"),
    ("gold out of range", lambda d: d["examples"][1].update(gold=7), "example 1 gold is 7"),
    ("gold null", lambda d: d["examples"][0].update(gold=None), "example 0 gold is None"),
    ("prediction out of range", lambda d: d["examples"][0].update(layer_preds=[1, 1, 2]), "layer_preds\\[2\\] is 2"),
    ("too few predictions", lambda d: d["examples"][0].update(layer_preds=[1]), "layer_preds has 1 entries"),
    ("exit layer 9", lambda d: d["examples"][0]["exit"]["ordered"].update(layer=9), "exit 'ordered' layer is 9"),
    ("text number", lambda d: d["examples"][0].update(text=123), "example 0 text should be str"),
    ("labels numbers", lambda d: d.update(labels=[0, 1]), "labels should be class names"),
    ("timing repeats 0", lambda d: d.update(timing_repeats=0), "'timing_repeats' should be a whole number from 1"),
]


@pytest.mark.parametrize("change, message", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_a_file_of_the_wrong_shape_is_refused_naming_the_field(tmp_path, change, message):
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(changed(change)))
    with pytest.raises(EvalFileError, match=f"'{path}' is not an eeviz evaluation file: .*{message}"):
        EvalResult.load(path)


def test_regression_files_store_numbers_and_classification_files_class_indices():
    def regression(d):
        d["labels"] = []
        for example in d["examples"]:
            example["gold"] = 2.5
            example["layer_preds"] = [0.5, 1.25, 3.0]
            example["exit"]["ordered"]["pred"] = 1.25

    result = EvalResult.from_dict(changed(regression))  # numbers, not classes: they load
    assert [e.gold for e in result.examples] == [2.5] * 3
    with pytest.raises(EvalFileError, match="example 0 gold should be a finite number, got 'abc'"):
        EvalResult.from_dict(changed(lambda d: (regression(d), d["examples"][0].update(gold="abc"))))
    # optional fields may be null or absent (untimed points, files written before they were recorded)
    untimed = changed(lambda d: [p.update(wall_speedup=None, static_score=None) for p in d["rules"]["ordered"]["points"]])
    assert EvalResult.from_dict(untimed).rules["random"].stochastic  # seeds are thresholds like any other
    with pytest.raises(EvalFileError, match="top_exit_share is 1.5, outside 0..1"):
        EvalResult.from_dict(changed(lambda d: point0(d).update(top_exit_share=1.5)))


def test_the_example_picker_skips_a_gold_label_the_task_lacks(monkeypatch):
    """A file built in memory past the checks (as an older loader did): the picker keeps its good examples."""
    from eeviz.app import inputs

    data = eval_dict()
    good = EvalResult.from_dict(data)
    good.examples[0].gold = 7  # names no class of ["neg", "pos"]
    good.examples[1].gold = "abc"
    evaluated = SimpleNamespace(cfg=SimpleNamespace(task="toy", is_pair=False), has_eval=True)
    clean = SimpleNamespace(cfg=SimpleNamespace(task="toy", is_pair=False), has_eval=False)
    monkeypatch.setattr(inputs, "load_eval", lambda info: good if info is evaluated else None)
    choices = inputs.example_choices(clean, [clean, evaluated])
    assert [c["text"] for c in choices] == ["c"] and choices[0]["tag"].endswith("gold: pos")
    for example in good.examples:
        example.gold = 7
    assert inputs.example_choices(clean, [clean, evaluated]) == [dict(e) for e in inputs.BUILTIN_EXAMPLES]


# ------------------------------------------------------------------------------------------ the readers
@pytest.fixture(scope="module")
def deebert_folder(tiny_bert, tmp_path_factory):
    """One saved tiny deebert checkpoint, copied into each test's checkpoint folder."""
    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    path = tmp_path_factory.mktemp("deebert") / "ck"
    cfg = ModelConfig(backbone=tiny_bert, method="deebert", task="toy", labels=["neg", "pos"], max_length=32)
    save_checkpoint(build_model(cfg), path)
    return path


def checkpoints(root, source, evals: dict) -> None:
    """``root/NAME`` per entry of ``evals`` (NAME -> eval.json contents, None for no evaluation)."""
    import shutil

    for name, data in evals.items():
        shutil.copytree(source, root / name)
        if data is not None:
            (root / name / "eval.json").write_text(json.dumps(data))


def bad_tiny_eval(change) -> dict:
    data = tiny_eval()
    change(data)
    return data


BAD_FOR_PAGES = {
    "no rules": lambda d: d.update(rules={}),
    "threshold text": lambda d: d["rules"]["entropy"]["points"][0].update(threshold="x"),
    "gold text": lambda d: d["examples"][0].update(gold="abc"),
}


@pytest.mark.parametrize("broken", list(BAD_FOR_PAGES))
def test_the_dataset_page_warns_about_a_bad_file_and_shows_the_others(deebert_folder, tmp_path, monkeypatch, broken):
    from apptest import charts, run_app

    checkpoints(tmp_path, deebert_folder, {"a-good": tiny_eval(), "b-bad": bad_tiny_eval(BAD_FOR_PAGES[broken])})
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path))
    at = run_app("pages/3_Dataset.py")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("Ignoring b\\-bad/eval\\.json: "), warnings
    assert len(charts(at, "tradeoff")) == 1  # the good checkpoint's panel
    assert at.dataframe[1].value["text"].tolist() == ["the movie is good", "bad plot"]  # its examples


def test_explore_borrows_no_examples_from_a_sibling_with_bad_gold_labels(deebert_folder, tmp_path, monkeypatch):
    from apptest import run_app
    from eeviz.app import ui

    bad = bad_tiny_eval(lambda d: d["examples"][0].update(gold=7))
    checkpoints(tmp_path, deebert_folder, {"a-clean": None, "b-bad": bad})
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path))
    at = run_app(ckpt="a-clean")  # its examples would come from b-bad: same task
    assert any(w.value.startswith("Ignoring b\\-bad/eval\\.json: ") and "gold is 7" in w.value for w in at.warning)
    assert at.text_area(key="text").value == ui.DEFAULT_TEXT


def test_report_skips_a_checkpoint_with_a_bad_eval_file_and_writes_the_rest(deebert_folder, tmp_path, capsys):
    from eeviz.tools.report import main, parse_table

    no_default_point = bad_tiny_eval(lambda d: d["rules"]["entropy"].update(default=0.4))
    checkpoints(tmp_path, deebert_folder, {
        "a-good": tiny_eval(),
        "b-bad": bad_tiny_eval(lambda d: d["rules"]["entropy"].update(default=None)),
        "c-no-default-point": no_default_point,
    })
    assert main(["--root", str(tmp_path)]) == 0
    rows = parse_table((tmp_path / "README.md").read_text())
    assert [r["checkpoint"] for r in rows] == ["a-good"] and rows[0]["test acc (rule)"] == "50.00"
    # (a-good's task, "toy", does not load: the report also notes that it cannot count its test split)
    skipped = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("note: a-good")]
    assert len(skipped) == 2, skipped
    assert skipped[0].startswith("skipping b-bad: ") and str(tmp_path / "b-bad" / "eval.json") in skipped[0]
    assert "rule 'entropy' default should be a finite number, got None" in skipped[0]
    assert skipped[1].startswith("skipping c-no-default-point: ") and "no sweep point at its default 0.4" in skipped[1]
