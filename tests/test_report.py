"""``eeviz report``: every folder under --root that gets no row is named on stderr with the reason (not a
checkpoint, weights missing or unreadable, no eval.json, an eval.json that is not the checkpoint's whole test
split); a single checkpoint given as --root is refused with a pointer to its parent folder."""

from __future__ import annotations

import json
import shutil

import pytest

from eeviz.data import load_task
from eeviz.evaluate import DATA_SPLIT_SEED
from eeviz.tools.report import main, parse_table
from test_app import tiny_eval

WORDS = ("good", "bad", "great", "awful", "fun", "boring", "dull", "funny")


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    """A data file the checkpoint is trained on (its task): a task the report can load to count its test split."""
    path = tmp_path_factory.mktemp("task") / "reviews.csv"
    rows = [f"the {WORDS[i % 8]} movie {i},{'pos' if i % 2 else 'neg'}" for i in range(40)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def checkpoint(tiny_bert, task_file, tmp_path_factory):
    """One saved tiny deebert checkpoint trained (nominally) on ``task_file``; copied into each test's root."""
    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    path = tmp_path_factory.mktemp("report") / "ck"
    cfg = ModelConfig(backbone=tiny_bert, method="deebert", task=str(task_file), labels=["neg", "pos"], max_length=32)
    save_checkpoint(build_model(cfg), path)
    return path


def whole_test_eval(task_file, **changes) -> dict:
    """The hand-written eval.json of test_app, as ``evaluate`` writes it for the whole test split of ``task_file``."""
    data = tiny_eval()
    data.update(task=str(task_file), split="test", num_examples=len(load_task(str(task_file), seed=DATA_SPLIT_SEED).test))
    data.update(changes)
    return data


def make(root, source, name, evaluation=None, change=None):
    shutil.copytree(source, root / name)
    if evaluation is not None:
        (root / name / "eval.json").write_text(json.dumps(evaluation))
    if change is not None:
        change(root / name)
    return root / name


def report(root, capsys) -> tuple[list[str], dict[str, str]]:
    """(checkpoints in the table, folder -> the stderr line that skipped it)."""
    assert main(["--root", str(root)]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    skipped = {line.split(":")[0].removeprefix("skipping "): line for line in lines if line.startswith("skipping ")}
    return [r["checkpoint"] for r in parse_table((root / "README.md").read_text())], skipped


def test_every_folder_left_out_is_named_with_its_reason(checkpoint, task_file, tmp_path, capsys):
    good = whole_test_eval(task_file)
    make(tmp_path, checkpoint, "a-good", good)
    make(tmp_path, checkpoint, "bad-config", good, lambda p: (p / "config.json").write_text("{not json"))
    make(tmp_path, checkpoint, "no-config", good, lambda p: (p / "config.json").unlink())
    make(tmp_path, checkpoint, "no-weights", good, lambda p: (p / "model.safetensors").unlink())
    make(tmp_path, checkpoint, "empty-weights", good, lambda p: (p / "model.safetensors").write_bytes(b""))
    cut = lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:-100])  # noqa: E731
    make(tmp_path, checkpoint, "truncated-weights", good, cut)
    make(tmp_path, checkpoint, "no-eval")
    (tmp_path / "notes").mkdir()
    listed, skipped = report(tmp_path, capsys)
    assert listed == ["a-good"]
    assert set(skipped) == {"bad-config", "no-config", "no-weights", "empty-weights", "truncated-weights",
                            "no-eval", "notes"}
    assert "config.json' (checkpoint config) is not valid JSON" in skipped["bad-config"]
    assert "config.json is missing" in skipped["no-config"] and "config.json is missing" in skipped["notes"]
    assert "model.safetensors is missing" in skipped["no-weights"]
    assert "is empty (0 bytes)" in skipped["empty-weights"]
    assert "is not a readable safetensors file" in skipped["truncated-weights"]
    assert "no eval.json (evaluate it: eeviz evaluate --checkpoint" in skipped["no-eval"]


@pytest.mark.parametrize("change, message", [
    (dict(num_examples=2), "scores 2 examples of the test split's"),  # evaluate --limit 2
    (dict(split="dev"), "of the dev split, not the test split"),  # evaluate --split dev
    (dict(split="file", task="my.csv"), "of the data file 'my.csv', not the test split"),  # evaluate --data my.csv
    (dict(task="rotten_tomatoes"), "of task 'rotten_tomatoes', not of the checkpoint's task"),  # --task other
], ids=["limit", "dev split", "data file", "other task"])
def test_an_eval_that_is_not_the_whole_test_split_is_left_out(checkpoint, task_file, tmp_path, capsys, change,
                                                               message):
    make(tmp_path, checkpoint, "a-whole", whole_test_eval(task_file))
    make(tmp_path, checkpoint, "b-partial", whole_test_eval(task_file, **change))
    listed, skipped = report(tmp_path, capsys)
    assert listed == ["a-whole"] and list(skipped) == ["b-partial"]
    assert message in skipped["b-partial"] and "eeviz evaluate --checkpoint DIR" in skipped["b-partial"]


def test_a_task_that_cannot_be_loaded_is_listed_with_a_note(checkpoint, task_file, tmp_path, capsys):
    evaluation = whole_test_eval(task_file, task="gone.csv")
    folder = make(tmp_path, checkpoint, "moved-data", evaluation)
    config = json.loads((folder / "config.json").read_text())
    config["model"]["task"] = "gone.csv"  # trained on a file that is no longer there
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["--root", str(tmp_path)]) == 0
    assert [r["checkpoint"] for r in parse_table((tmp_path / "README.md").read_text())] == ["moved-data"]
    err = capsys.readouterr().err
    assert err.startswith(f"note: moved-data: cannot check that eval.json's {evaluation['num_examples']} examples "
                          "are the whole test split: task 'gone.csv' does not load here (ValueError: Unknown task")


def test_a_single_checkpoint_as_root_is_refused_naming_its_parent(checkpoint, task_file, tmp_path):
    folder = make(tmp_path, checkpoint, "only", whole_test_eval(task_file))
    with pytest.raises(SystemExit) as refused:
        main(["--root", str(folder)])
    assert "is a checkpoint itself" in str(refused.value) and f"--root {tmp_path.resolve()}" in str(refused.value)
    assert not (folder / "README.md").exists()


def test_a_root_where_nothing_can_be_listed_says_why(checkpoint, tmp_path, capsys):
    make(tmp_path, checkpoint, "no-eval")
    with pytest.raises(SystemExit) as refused:
        main(["--root", str(tmp_path)])
    assert "no evaluated checkpoints" in str(refused.value) and "all 1 folders were skipped" in str(refused.value)
    assert capsys.readouterr().err.startswith("skipping no-eval: no eval.json")
