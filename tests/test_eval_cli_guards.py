"""What the evaluation commands refuse or say, as a user of the field would expect: ``--choose-defaults`` only on
the checkpoint's whole dev split (never a ``--limit`` or ``--data`` sweep, which changed config.json while saying
"none (kept)"); ``--json`` never over the ``--data`` file or a file that is not an evaluation; after new defaults,
a line that eval.json was made at the old ones; ``trace --text-b`` on a single-sentence checkpoint in the
command's own words; ``trace --csv`` writing a count threshold as the table does (2, not 2.0); ``bench``
leaving a sentence-pair checkpoint out with a note rather than timing it on single sentences."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

from eeviz.checkpoint import read_config, save_checkpoint, set_rule_defaults
from eeviz.config import ModelConfig
from eeviz.evaluate import load_eval
from eeviz.evaluate_cli import main as evaluate_main
from eeviz.evaluate_cli import stale_test_eval
from eeviz.model import build_model

from test_report import task_file  # noqa: F401  (a fixture: 40 rows, a few dev and test examples each)


def saved(tiny_bert, task_file, folder, method="deebert", is_pair=False):
    cfg = ModelConfig(backbone=tiny_bert, method=method, task=str(task_file), labels=["neg", "pos"], max_length=32,
                      is_pair=is_pair)
    save_checkpoint(build_model(cfg), folder)
    return folder


@pytest.fixture(scope="module")
def deebert(tiny_bert, task_file, tmp_path_factory):
    return saved(tiny_bert, task_file, tmp_path_factory.mktemp("deebert") / "ck")


@pytest.fixture
def checkpoint(deebert, tmp_path):
    """A fresh copy of the saved checkpoint for each test (the commands write into it)."""
    return shutil.copytree(deebert, tmp_path / "ck")


def run(main, argv, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as done:  # argparse's refusals
        code = done.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line]


@pytest.mark.parametrize("extra", [["--split", "dev", "--limit", "3"], ["--data", "TASK"], ["--split", "test"],
                                   ["--split", "dev", "--task", "other.csv"]])
def test_choose_defaults_needs_the_whole_dev_split_and_refuses_before_any_work(checkpoint, task_file, capsys,
                                                                              extra):
    config = (checkpoint / "config.json").read_text()
    extra = [str(task_file) if a == "TASK" else a for a in extra]
    code, out, err = run(evaluate_main, ["--checkpoint", checkpoint, *extra, "--choose-defaults", "--timing", "none"],
                         capsys)
    assert code == 2 and out == "" and len(error_lines(err)) == 1, err
    assert "--choose-defaults" in err and "dev split" in err
    assert (checkpoint / "config.json").read_text() == config  # rule_defaults untouched
    assert not (checkpoint / "eval-dev.json").exists() and not (checkpoint / "eval.json").exists()


def test_threads_sets_the_sweeps_cpu_threads_and_records_them(checkpoint, tmp_path, capsys):
    """The shipped eval.json files were timed with 1 thread; without --threads a user could not time one
    checkpoint the same way (2 threads gave a wall speed-up of 2.09 where the shipped run had 2.90)."""
    import torch

    before = torch.get_num_threads()
    try:
        out = tmp_path / "sweep.json"
        code, _, err = run(evaluate_main, ["--checkpoint", checkpoint, "--device", "cpu", "--threads", "1",
                                           "--limit", "3", "--json", out], capsys)
        assert code == 0, err
        assert json.loads(out.read_text())["device"] == "cpu (1 thread)"
    finally:
        torch.set_num_threads(before)
    code, _, err = run(evaluate_main, ["--checkpoint", checkpoint, "--threads", "0"], capsys)
    assert code == 2 and "--threads" in err


def test_a_partial_dev_sweep_names_the_dev_file_it_does_not_write(checkpoint, capsys):
    code, out, _ = run(evaluate_main, ["--checkpoint", checkpoint, "--split", "dev", "--limit", "3", "--timing",
                                       "none"], capsys)
    assert code == 0 and "not written: eval-dev.json holds the checkpoint's whole dev split only" in out
    assert "eval.json holds" not in out and not (checkpoint / "eval-dev.json").exists()


def test_json_never_replaces_the_data_file_or_a_file_that_is_not_an_evaluation(checkpoint, task_file, tmp_path,
                                                                                capsys):
    data = tmp_path / "mine.csv"
    shutil.copy(task_file, data)
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"my": "notes"}))
    text = tmp_path / "notes.txt"
    text.write_text("my notes\n")
    for out, says in ((data, "the --data file itself"), (tmp_path / "." / "mine.csv", "the --data file itself"),
                      (notes, "not an eeviz evaluation"), (text, "not an eeviz evaluation")):
        before = out.read_bytes()
        code, printed, err = run(evaluate_main, ["--checkpoint", checkpoint, "--data", data, "--json", out,
                                                 "--timing", "none"], capsys)
        assert code == 2 and printed == "" and len(error_lines(err)) == 1 and says in err, err
        assert out.read_bytes() == before
    # an evaluation written before is replaced, as always
    earlier = tmp_path / "sweep.json"
    for _ in range(2):
        code, printed, err = run(evaluate_main, ["--checkpoint", checkpoint, "--data", data, "--json", earlier,
                                                 "--timing", "none"], capsys)
        assert code == 0 and f"wrote {earlier}" in printed, err
    assert load_eval(earlier).num_examples == 40


def test_new_defaults_say_eval_json_was_made_at_the_old_ones(checkpoint, capsys):
    # eval.json swept at an entropy threshold of 0: no example exits early there, so the dev choice can never
    # keep it (it needs an earlier mean exit), whether it chooses a point or falls back to the built-in default
    set_rule_defaults(checkpoint, {"entropy": 0.0})
    assert run(evaluate_main, ["--checkpoint", checkpoint, "--timing", "none"], capsys)[0] == 0
    assert stale_test_eval(str(checkpoint)) is None
    code, out, err = run(evaluate_main, ["--checkpoint", checkpoint, "--split", "dev", "--choose-defaults",
                                         "--timing", "none"], capsys)
    assert code == 0, err
    cfg, _ = read_config(checkpoint)
    assert cfg.rule_defaults.get("entropy", 0.3) != 0.0
    stale = [line for line in out.splitlines() if line.startswith("eval.json was made at the old defaults")]
    assert len(stale) == 1 and "entropy=0 ->" in stale[0]
    assert stale[0].endswith(f"eeviz evaluate --checkpoint {checkpoint}")
    run(evaluate_main, ["--checkpoint", checkpoint, "--timing", "none"], capsys)  # the command it gives
    assert stale_test_eval(str(checkpoint)) is None


def test_trace_text_b_on_a_single_sentence_checkpoint_says_drop_it(checkpoint, capsys):
    from eeviz.tools.trace_cli import main as trace_main

    code, out, err = run(trace_main, ["--checkpoint", checkpoint, "--text", "a fine film", "--text-b", "more"],
                         capsys)
    assert code == 2 and out == "" and "drop --text-b" in err and "second text empty" not in err


def test_trace_csv_writes_a_count_threshold_as_the_table_does(tiny_bert, task_file, tmp_path, capsys):
    from eeviz.methods import get_method
    from eeviz.tools.trace_cli import main as trace_main

    folder = saved(tiny_bert, task_file, tmp_path / "pabee", method="pabee")
    rule = get_method("pabee").default_rule
    param = get_method("pabee").rules[rule].spec.param
    code, out, err = run(trace_main, ["--checkpoint", folder, "--text", "a fine film", "--csv",
                                      "--set", f"{rule}.{param}=3"], capsys)
    assert code == 0, err
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["rule"] == rule]
    assert rows and {r["threshold"] for r in rows} == {"3"}  # the table's "patience=3", not "3.0"
    code, table, _ = run(trace_main, ["--checkpoint", folder, "--text", "a fine film", "--set", f"{rule}.{param}=3"],
                         capsys)
    assert f"({param}=3," in table


def test_bench_leaves_a_sentence_pair_checkpoint_out_saying_why(tiny_bert, task_file, tmp_path, capsys):
    from eeviz.tools import bench

    saved(tiny_bert, task_file, tmp_path / "root" / "pairs", is_pair=True)
    texts = tmp_path / "texts.txt"
    texts.write_text("a fine film\n")
    code, out, err = run(bench.main, ["--checkpoints", tmp_path / "root", "--texts", texts, "--sentences", "1",
                                      "--repeats", "1", "--device", "cpu"], capsys)
    assert code == 2 and "no model to benchmark" in err
    assert "pairs: left out: it reads sentence pairs and the bench times single sentences" in err
