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


def readme_prose(root) -> str:
    """The README's text before its table, on one line (the report wraps its paragraphs)."""
    return " ".join((root / "README.md").read_text().split("<!-- table:start -->")[0].split())


def test_rows_timed_at_different_batch_sizes_say_each_ones(checkpoint, task_file, tmp_path, capsys):
    # a wall speed-up depends on the batch size: the text may not claim the first row's for every row
    make(tmp_path, checkpoint, "a-batch-1", whole_test_eval(task_file, batch_size=1))
    make(tmp_path, checkpoint, "b-batch-4", whole_test_eval(task_file, batch_size=4))
    main(["--root", str(tmp_path)])
    rows = {r["checkpoint"]: r for r in parse_table((tmp_path / "README.md").read_text())}
    assert rows["a-batch-1"]["wall batch size"] == "1" and rows["b-batch-4"]["wall batch size"] == "4"
    prose = readme_prose(tmp_path)
    assert "timed at different batch sizes" in prose and "do not compare" in prose
    assert "batch size 1" not in prose

    same = tmp_path / "same"
    same.mkdir()
    make(same, checkpoint, "a", whole_test_eval(task_file, batch_size=4, timing_repeats=3))
    make(same, checkpoint, "b", whole_test_eval(task_file, batch_size=4, timing_repeats=3))
    main(["--root", str(same)])
    assert "wall batch size" not in parse_table((same / "README.md").read_text())[0]
    prose = readme_prose(same)
    assert "every row was timed at batch size 4" in prose and "Each batch was timed 3 times, the fastest kept." in prose


def test_the_text_says_how_defaults_were_chosen_and_what_the_best_point_is(checkpoint, task_file, tmp_path,
                                                                            capsys):
    from eeviz.default_thresholds import MAX_SCORE_DROP, MAX_TOP_SHARE

    make(tmp_path, checkpoint, "a", whole_test_eval(task_file))
    main(["--root", str(tmp_path)])
    prose = readme_prose(tmp_path)
    assert f"at most {MAX_TOP_SHARE:.0%} of the examples at one exit layer" in prose
    assert f"at most {100 * MAX_SCORE_DROP:g} points below the full model" in prose
    assert "the largest adaptive gain" in prose and "Adaptive gain is therefore the selection objective" in prose
    # the best test point is named as one, in the column and in the text
    column = next(c for c in parse_table((tmp_path / "README.md").read_text())[0] if c.startswith("layers saved"))
    assert "best test sweep point, any rule" in column and "not an operating point chosen beforehand" in prose


def test_a_default_rule_that_never_exits_early_has_no_adaptive_gain(checkpoint, task_file, tmp_path, capsys):
    def with_gain(early_exit: bool) -> dict:
        evaluation = whole_test_eval(task_file)
        evaluation["rules"]["entropy"]["early_exit"] = early_exit
        for point in evaluation["rules"]["entropy"]["points"]:
            point.update(static_score=0.25, adaptive_gain=0.25, top_exit_share=0.5)
        return evaluation

    make(tmp_path, checkpoint, "a-exits", with_gain(True))
    never = with_gain(False)
    make(tmp_path, checkpoint, "b-never", never)
    main(["--root", str(tmp_path)])
    rows = {r["checkpoint"]: r for r in parse_table((tmp_path / "README.md").read_text())}
    assert rows["a-exits"]["adaptive gain (pts)"].startswith(("+", "-"))
    assert rows["b-never"]["adaptive gain (pts)"] == "–"


def test_the_data_paragraph_counts_the_splits_and_says_what_the_task_is_not(task_file):
    from eeviz.tools.report import SplitSizes
    from eeviz.tools.report_text import data_text

    sizes = SplitSizes()
    sizes(str(task_file))
    data = load_task(str(task_file), seed=DATA_SPLIT_SEED)
    text = data_text([str(task_file)], sizes.splits, sizes.why_not, DATA_SPLIT_SEED)
    assert f"{len(data.train)} / {len(data.dev)} / {len(data.test)}" in text and "Pang & Lee" not in text
    assert "its splits do not load here" in data_text(["gone.csv"], {}, {"gone.csv": "moved"}, 0)


@pytest.mark.slow
def test_the_offline_task_is_counted_and_not_the_published_benchmark():
    from eeviz.tools.report import SplitSizes
    from eeviz.tools.report_text import data_text

    sizes = SplitSizes()
    test_size = sizes("rotten_tomatoes")
    train, dev, test, _ = sizes.splits["rotten_tomatoes"]
    text = " ".join(data_text(["rotten_tomatoes"], sizes.splits, sizes.why_not, DATA_SPLIT_SEED).split())
    assert test == test_size and f"{train:,} / {dev:,} / {test:,}" in text and f"{train + dev + test:,} sentences" in text
    assert "10,662 sentences" in text and "1,066 in the usual test split" in text
    assert "do not compare with published Rotten Tomatoes results" in text


def test_runs_per_timed_batch_are_said_per_row_when_some_files_do_not_record_them():
    from eeviz.tools.report_text import wall_text

    text = wall_text({"a": 128, "b": 128, "c": 128}, {"a": 3, "b": None, "c": 3}, ["cpu (1 thread)"], "batch")
    assert "Runs per timed batch, the fastest kept: 3 for a and c; not recorded for b." in text
    assert "Runs per timed batch" not in wall_text({"a": 1}, {"a": None}, ["cpu"], "batch")


def test_a_default_threshold_no_dev_sweep_chose_is_marked_built_in(checkpoint, task_file, tmp_path, capsys):
    """The text says defaults are chosen on dev; a checkpoint whose config holds none (no dev point met the
    criterion, or no dev sweep was run) must not read as one whose threshold was chosen there."""
    from eeviz.checkpoint import set_rule_defaults

    good = whole_test_eval(task_file)
    make(tmp_path, checkpoint, "built", good)
    chosen = make(tmp_path, checkpoint, "chosen", good)
    rule = next(iter(good["rules"]))
    set_rule_defaults(chosen, {rule: good["rules"][rule]["default"]})
    report(tmp_path, capsys)
    rows = {r["checkpoint"]: r["default rule"] for r in parse_table((tmp_path / "README.md").read_text())}
    assert rows["built"].endswith(", built-in)") and not rows["chosen"].endswith("built-in)"), rows
    assert "keeps its built-in default" in (tmp_path / "README.md").read_text()


def test_an_existing_readme_keeps_its_own_words_and_one_without_markers_is_left_alone(checkpoint, task_file,
                                                                                       tmp_path, capsys):
    from eeviz.tools.report import TABLE_END, TABLE_START

    make(tmp_path, checkpoint, "a", whole_test_eval(task_file))
    readme = tmp_path / "README.md"
    mine = f"# My runs\n\nNotes: lr 3e-5 was too high.\n\n{TABLE_START}\n| old | table |\n{TABLE_END}\n\nMore notes.\n"
    readme.write_text(mine)
    listed, _ = report(tmp_path, capsys)
    text = readme.read_text()
    assert listed == ["a"] and "| old | table |" not in text
    assert text.startswith("# My runs\n\nNotes: lr 3e-5 was too high.\n\n" + TABLE_START)
    assert text.endswith(f"{TABLE_END}\n\nMore notes.\n")

    no_markers = "# My runs\n\nNotes I keep here.\n"
    readme.write_text(no_markers)
    with pytest.raises(SystemExit) as refused:
        main(["--root", str(tmp_path)])
    assert "no table markers" in str(refused.value) and TABLE_START in str(refused.value)
    assert readme.read_text() == no_markers


def test_a_readme_the_report_wrote_is_written_whole_again(checkpoint, task_file, tmp_path, capsys):
    # its words follow the checkpoints (here: an old data paragraph is replaced), unlike a README of the user's
    make(tmp_path, checkpoint, "a", whole_test_eval(task_file))
    report(tmp_path, capsys)
    readme = tmp_path / "README.md"
    fresh = readme.read_text()
    readme.write_text(fresh.replace("# Checkpoints\n", "# Checkpoints\n\nAn old paragraph.\n", 1))
    report(tmp_path, capsys)
    assert readme.read_text() == fresh
    # without its first line the file is the user's: the words around the table are kept
    readme.write_text(fresh.split("\n", 1)[1].replace("# Checkpoints\n", "# Checkpoints\n\nMy note.\n", 1))
    report(tmp_path, capsys)
    assert "My note." in readme.read_text()


def test_the_opening_words_say_what_the_checkpoints_are(checkpoint, task_file, tmp_path, capsys):
    from eeviz.methods import available_methods
    from eeviz.tools.report_text import heading_text

    make(tmp_path, checkpoint, "a", whole_test_eval(task_file))
    report(tmp_path, capsys)
    written_by, text = (tmp_path / "README.md").read_text().split("\n", 1)
    heading = text.split("\n\n", 2)
    assert written_by.startswith("<!-- written by eeviz report") and written_by.endswith("-->")
    assert heading[0] == "# Checkpoints" and f"`{task_file}`" in heading[1]
    assert "Shipped" not in heading[1] and "minilm" not in heading[1] and "--preset demo" not in heading[2]

    every = [(m, "minilm", "rotten_tomatoes") for m in available_methods()]
    assert heading_text(every, "checkpoints").startswith("# Shipped checkpoints\n")
    for others in (every[1:], every[:-1] + [(every[-1][0], "bert", "rotten_tomatoes")],
                   every[:-1] + [(every[-1][0], "minilm", "sst2")]):
        assert heading_text(others, "runs").startswith("# Checkpoints\n")


def test_an_eval_made_at_other_defaults_than_the_config_now_is_left_out(checkpoint, task_file, tmp_path, capsys):
    from eeviz.checkpoint import set_rule_defaults

    good = whole_test_eval(task_file)
    make(tmp_path, checkpoint, "a-current", good)
    changed = make(tmp_path, checkpoint, "b-changed", good)
    set_rule_defaults(changed, {"entropy": 0.0})  # evaluate --choose-defaults after eval.json was made
    listed, skipped = report(tmp_path, capsys)
    assert listed == ["a-current"] and list(skipped) == ["b-changed"]
    assert "made at other defaults" in skipped["b-changed"] and "entropy=0.3 -> 0" in skipped["b-changed"]
    assert f"eeviz evaluate --checkpoint {changed}" in skipped["b-changed"]


def test_one_timing_run_per_batch_is_said_once():
    from eeviz.tools.report_text import wall_text

    text = wall_text({"a": 8}, {"a": 1}, ["cpu"], "batch")
    assert "Each batch was timed once." in text and "1 times" not in text
