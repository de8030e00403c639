"""What training says about the data it reads, and what the checkpoint keeps of it: classes with per-split counts,
typo'd labels refused with their line, why a task is read as regression, task and backbone paths that work from
any folder, a digest of the data that tells when it changed since training; the words of the last line; the
"Loading weights" bar; the API's checks on ``gold`` and on empty texts in a batch."""

import csv
import json
import os
import shutil
from dataclasses import asdict

import pytest

from eeviz.checkpoint import CheckpointError, CheckpointLayout, load_checkpoint, read_config
from eeviz.config import ModelConfig
from eeviz.data import data_changed_note, load_task
from eeviz.data_checks import check_labels
from eeviz.inputs import InputError
from eeviz.model import build_model
from eeviz.train import main, resolve_args, train
from eeviz.training.args import changed_settings

from test_train import write_reviews


def three_class_rows(n: int = 60) -> list[list[str]]:
    words = {"neg": "bad", "neu": "plot", "pos": "good"}
    names = list(words)
    rows = []
    for i in range(n):
        label = names[i % 3]
        split = "train" if i < n * 2 // 3 else ("dev" if i < n * 5 // 6 else "test")
        rows.append([f"the movie was {words[label]} and {words[label]}", label, split])
    return rows


def write_csv(path, rows, header=("text", "label", "split")) -> str:
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([list(header), *rows])
    return str(path)


def cli(tiny_bert, task, out, *extra) -> list[str]:
    return ["--method", "pabee", "--backbone", tiny_bert, "--task", task, "--out", str(out), "--batch-size", "4",
            "--epochs", "1", "--lr", "1e-3", "--device", "cpu", *extra]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    return write_reviews(tmp_path_factory.mktemp("data") / "reviews.csv")


# ------------------------------------------------------------------------------------------ labels
def test_a_class_only_in_dev_is_refused_with_its_line(tiny_bert, tmp_path, capsys):
    rows = three_class_rows()
    rows[45][1] = "nue"  # a dev row (lines 2..41 train, 42..51 dev): line 47 of the file
    task = write_csv(tmp_path / "typo.csv", rows)
    with pytest.raises(ValueError, match=r"label 'nue' \(line 47\) is in dev only: a typo\?"):
        check_labels(load_task(task))
    assert main(cli(tiny_bert, task, tmp_path / "ck")) == 2
    err = capsys.readouterr().err.strip()
    assert "label 'nue' (line 47) is in dev only" in err and "nue 0/1/0" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ck").exists()


def test_labels_that_differ_only_in_case_or_spacing_are_refused(tmp_path):
    rows = three_class_rows()
    rows[10][1] = "NEG"
    with pytest.raises(ValueError, match=r"labels 'NEG' \(line 12\) and 'neg' \(line 2\) differ only in case"):
        check_labels(load_task(write_csv(tmp_path / "case.csv", rows)))
    rows = three_class_rows()
    rows[10][1] = "very  good"
    rows[13][1] = "Very good"
    with pytest.raises(ValueError, match="differ only in case or spacing"):
        check_labels(load_task(write_csv(tmp_path / "space.csv", rows)))
    rows = three_class_rows()
    rows[10][1] = " neg "  # surrounding spaces: the same class, as evaluation reads it
    assert load_task(write_csv(tmp_path / "trim.csv", rows)).labels == ["neg", "neu", "pos"]


def test_a_class_of_one_row_among_many_is_warned_about(tmp_path):
    rows = three_class_rows()
    rows[3][1] = "posi"  # a train row
    warnings = check_labels(load_task(write_csv(tmp_path / "rare.csv", rows)))
    assert len(warnings) == 1 and "label 'posi' is in only 1 of 60 rows (line 5): a typo?" in warnings[0]
    assert check_labels(load_task(write_csv(tmp_path / "ok.csv", three_class_rows()))) == []


def test_limit_does_not_refuse_a_class_its_first_rows_lack(tmp_path):
    rows = sorted(three_class_rows(), key=lambda r: r[1] == "pos")  # every pos row after the others
    task = load_task(write_csv(tmp_path / "sorted.csv", rows), limit=5)
    assert check_labels(task) == []  # counts of the whole task: pos has training rows


def test_first_lines_list_the_classes_with_per_split_counts(tiny_bert, reviews, tmp_path, capsys):
    assert main(cli(tiny_bert, reviews, tmp_path / "ck", "--max-steps", "1")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"training pabee on {reviews} into 2 classes (12 train / 6 dev / 6 test)")
    assert lines[1] == "classes (train/dev/test rows): neg 6/3/3, pos 6/3/3"


# ------------------------------------------------------------------------------------------ regression
def test_why_a_task_is_read_as_regression(tiny_bert, tmp_path, capsys):
    rows = [[text, str(i % 3), split] for i, (text, _, split) in enumerate(three_class_rows())]
    rows[20][1] = "1.5"  # line 22
    task = write_csv(tmp_path / "numbers.csv", rows)
    data = load_task(task)
    assert data.is_regression
    assert data.regression_reason == "label '1.5' at line 22 is not a whole number; the other labels are 0, 1, 2"
    assert main(["--method", "deebert", *cli(tiny_bert, task, tmp_path / "d")[2:]]) == 2
    err = capsys.readouterr().err
    assert "is read as a regression task (label '1.5' at line 22 is not a whole number" in err
    assert "cannot do regression" in err
    assert main(cli(tiny_bert, task, tmp_path / "p", "--max-steps", "1")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "as a regression task" in lines[0]
    assert lines[1] == "regression (numeric targets): label '1.5' at line 22 is not a whole number; the other labels are 0, 1, 2"


# ------------------------------------------------------------------------------------------ paths
def test_local_task_and_backbone_are_stored_in_full_and_work_from_another_folder(tiny_bert, reviews, tmp_path,
                                                                                  monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    shutil.copy(reviews, work / "reviews.csv")
    monkeypatch.chdir(work)
    backbone = os.path.relpath(tiny_bert, work)
    args = resolve_args("pabee", "ck", dict(backbone=backbone, task="reviews.csv", batch_size=4, epochs=1,
                                            max_steps=1, device="cpu"))
    assert args.task == str(work / "reviews.csv") and args.backbone == os.path.abspath(tiny_bert)
    train(args)
    cfg, _ = read_config(work / "ck")
    assert cfg.task == str(work / "reviews.csv") and cfg.backbone == os.path.abspath(tiny_bert)
    monkeypatch.chdir(elsewhere)
    assert load_task(cfg.task).labels == cfg.labels
    assert load_checkpoint(work / "ck").cfg.task == cfg.task
    # names stay names
    named = resolve_args("pabee", "x", dict(backbone="minilm", task="rotten_tomatoes"))
    assert (named.backbone, named.task) == ("minilm", "rotten_tomatoes")
    # a run started before paths were stored in full resumes from the folder it ran in
    saved = {**asdict(args), "task": "reviews.csv", "backbone": backbone}
    monkeypatch.chdir(work)
    assert changed_settings(json.loads(json.dumps(saved)), args) == []


def test_a_relative_task_path_that_does_not_resolve_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="relative to the folder training ran in: run from that folder, or pass "
                                         r"--task/--data") as err:
        load_task("three.csv")
    assert "hub" not in str(err.value)


def test_a_relative_backbone_path_of_a_lora_checkpoint_says_what_to_do(tiny_bert, reviews, tmp_path):
    out = tmp_path / "lora"
    train(resolve_args("pabee", str(out), dict(backbone=tiny_bert, task=reviews, batch_size=4, epochs=1, max_steps=1,
                                               finetune="lora", device="cpu")))
    config = json.loads(CheckpointLayout(out).config.read_text())
    config["model"]["backbone"] = "rb/backbone"  # as a checkpoint trained by an older eeviz in another folder
    CheckpointLayout(out).config.write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(out)
    message = str(err.value)
    assert "its path was relative to the folder training ran in: set EEVIZ_BACKBONE_ROOT to that folder" in message
    assert "hub access is off" not in message and "\n" not in message


# ------------------------------------------------------------------------------------------ data digest
def test_training_records_the_data_and_evaluation_can_tell_when_it_changed(tiny_bert, reviews, tmp_path):
    task = tmp_path / "reviews.csv"
    shutil.copy(reviews, task)
    out = tmp_path / "ck"
    train(resolve_args("pabee", str(out), dict(backbone=tiny_bert, task=str(task), batch_size=4, epochs=1,
                                               max_steps=1, limit=4, device="cpu")))
    cfg, raw = read_config(out)
    recorded = raw["model"]["data_fingerprint"]
    assert (recorded["train"], recorded["dev"], recorded["test"]) == (12, 6, 6)  # every row, not --limit's 4
    assert len(recorded["sha256"]) == 64
    assert data_changed_note(cfg, load_task(str(task))) is None
    assert data_changed_note(cfg, load_task(str(task), limit=3)) is None  # a limit reads the same data
    lines = task.read_text().splitlines()
    task.write_text("\n".join(lines + [lines[1], lines[2]]) + "\n")  # two more train rows
    note = data_changed_note(cfg, load_task(str(task)))
    assert note == (f"the data of task '{task}' changed since training (24 rows then, 26 now; train/dev/test "
                    "12/6/6 then, 14/6/6 now): its test split may hold rows the model trained on")
    task.write_text("\n".join([lines[0], lines[1].replace("movie", "film"), *lines[2:]]) + "\n")  # one row edited
    assert "24 rows then and now, train/dev/test 12/6/6, but not the same rows" in data_changed_note(cfg, load_task(str(task)))
    # an older checkpoint recorded nothing: it loads, and there is nothing to compare
    layout = CheckpointLayout(out)
    config = json.loads(layout.config.read_text())
    del config["model"]["data_fingerprint"]
    layout.config.write_text(json.dumps(config))
    old_cfg, _ = read_config(out)
    assert old_cfg.data_fingerprint == {} and data_changed_note(old_cfg, load_task(str(task))) is None
    load_checkpoint(out)
    assert data_changed_note({"sha256": 7}, load_task(str(task))) is None  # an unreadable record: no claim


# ------------------------------------------------------------------------------------------ the last line
def test_the_last_line_counts_epochs_in_words(tiny_bert, reviews, tmp_path, capsys):
    assert main(cli(tiny_bert, reviews, tmp_path / "one")) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert ": finished: 1 finished epoch, best epoch 1 (dev accuracy" in last
    assert "1 epochs" not in last and "stopped by" not in last
    assert main(cli(tiny_bert, reviews, tmp_path / "cut", "--max-steps", "2")) == 0  # 3 steps make an epoch
    out = capsys.readouterr().out
    assert "cut short by --max-steps 2: 0 finished epochs and 2 steps of epoch 1, kept the weights after step 2" in out
    assert "best epoch 1" not in out and "(no epoch finished)" in out


# ------------------------------------------------------------------------------------------ loading
def test_loading_a_backbone_shows_no_loading_weights_bar(tiny_bert, capfd):
    from eeviz.backbone import load_backbone

    load_backbone(tiny_bert)
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out


# ------------------------------------------------------------------------------------------ the API
@pytest.fixture(scope="module")
def model(tiny_bert):
    return build_model(ModelConfig(backbone=tiny_bert, method="pabee", labels=["neg", "pos"])).eval()


@pytest.mark.parametrize("gold", ["nosuch", 7, -1, True, 0.5])
def test_trace_refuses_a_gold_label_that_is_no_class(model, gold):
    with pytest.raises(InputError, match="is not one of this model's classes: give a class name \\(neg, pos\\)"):
        model.trace("a good movie", gold=gold)


def test_trace_takes_a_class_name_or_index_as_gold(model):
    import numpy as np

    assert model.trace("a good movie", gold="pos").gold == 1
    assert model.trace("a good movie", gold=np.int64(0)).gold == 0
    assert model.trace("a good movie").gold is None


@pytest.mark.parametrize("texts", [["a good movie", ""], ["a good movie", " \u200b "]])
def test_early_exit_refuses_a_batch_with_an_empty_text(model, texts):
    with pytest.raises(InputError, match="text 2 of the batch's 2 is empty"):
        model.early_exit(model.tokenize(texts), model.make_rule())
    with pytest.raises(InputError, match="the text is empty"):
        model.trace(texts[1])


def test_evaluate_and_the_report_say_when_the_checkpoints_data_changed(tiny_bert, reviews, tmp_path):
    from eeviz.evaluate import evaluate_checkpoint
    from eeviz.tools.report import listed_rows

    task = tmp_path / "reviews.csv"
    shutil.copy(reviews, task)
    root = tmp_path / "ckpts"
    out = root / "pabee"
    train(resolve_args("pabee", str(out), dict(backbone=tiny_bert, task=str(task), batch_size=4, epochs=1,
                                               max_steps=1, device="cpu")))
    import warnings as w
    with w.catch_warnings(record=True) as caught:  # the same data: nothing said
        w.simplefilter("always")
        evaluate_checkpoint(out, timing="none")
    assert not [c for c in caught if "changed since training" in str(c.message)]
    _, _, notes = listed_rows(root)
    assert not [n for n in notes if "changed since training" in n]

    lines = task.read_text().splitlines()
    task.write_text("\n".join(lines + [lines[1], lines[2]]) + "\n")  # two rows more: the splits are drawn anew
    with pytest.warns(UserWarning, match=r"changed since training \(24 rows then, 26 now"):
        evaluate_checkpoint(out, timing="none")
    rows, skipped, notes = listed_rows(root)
    assert [r["checkpoint"] for r in rows] == ["pabee"] and not skipped  # the row stands for the data as it is now
    assert [n for n in notes if n.startswith("pabee: the data of task") and "26 now" in n]


def test_resume_refuses_data_that_changed_since_the_run_began(tiny_bert, reviews, tmp_path):
    task = tmp_path / "reviews.csv"
    shutil.copy(reviews, task)
    out = tmp_path / "ck"
    settings = dict(backbone=tiny_bert, task=str(task), batch_size=4, epochs=2, device="cpu")
    cut = train(resolve_args("pabee", str(out), dict(settings, max_steps=4)))  # epoch 1 of 3 steps done, then cut
    assert not cut["finished"]
    lines = task.read_text().splitlines()
    task.write_text("\n".join(lines + [lines[1], lines[2]]) + "\n")
    with pytest.raises(ValueError, match=r"^--resume: the data of task .* changed since training .*--overwrite$"):
        train(resolve_args("pabee", str(out), dict(settings, resume=True)))
    task.write_text("\n".join(lines) + "\n")  # the data it began on: the run goes on to its end
    assert train(resolve_args("pabee", str(out), dict(settings, resume=True)))["finished"]
