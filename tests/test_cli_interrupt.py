"""Ctrl-C in an ``eeviz`` command: one line saying what was written (nothing, or which files), exit status 130
(128 + SIGINT, as shells report it), no Python traceback, and no half-written file. It printed about 40 lines
ending in ``KeyboardInterrupt`` and exited with -2."""

from __future__ import annotations

import json
import select
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eeviz.checkpoint import CheckpointLayout
from eeviz.cli import INTERRUPTED, main
from eeviz.interrupted import interrupted_line, output_places, snapshot, written

from test_eval_cli_guards import deebert  # noqa: F401  (a fixture: a saved tiny deebert checkpoint)
from test_report import task_file  # noqa: F401  (a fixture: the checkpoint's task file)
from test_train_reliability import write_reviews

ROOT = Path(__file__).resolve().parent.parent

# ``eeviz evaluate`` in a child process whose sweep waits to be interrupted. A child started by a non-interactive
# shell (or a test runner in the background) inherits SIGINT ignored; Python's own handler, as a terminal gives
# it, is put back first so that SIGINT raises KeyboardInterrupt wherever the command is.
CHILD = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import eeviz.evaluate

    def sweep_waiting_for_ctrl_c(*args, **kwargs):
        print("sweeping", flush=True)
        time.sleep(120)

    eeviz.evaluate.evaluate_model = sweep_waiting_for_ctrl_c
    from eeviz.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.fixture
def checkpoint(deebert, tmp_path):
    return shutil.copytree(deebert, tmp_path / "ck")


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_sigint_during_a_sweep_prints_one_line_and_exits_130_leaving_every_file_as_it_was(checkpoint):
    (checkpoint / "eval.json").write_text('{"an": "earlier sweep"}')
    before = files_of(checkpoint)
    child = subprocess.Popen([sys.executable, "-c", CHILD, "evaluate", "--checkpoint", str(checkpoint),
                              "--device", "cpu"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 180)  # loading torch and the model on a busy machine
        assert ready and child.stdout.readline().strip() == "sweeping", child.stderr.read() if not ready else ""
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == INTERRUPTED == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == "interrupted: nothing written", err
    assert files_of(checkpoint) == before  # eval.json untouched, and no temporary file beside it


def run_main(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ctrl_c_after_a_file_was_written_names_it(checkpoint, monkeypatch, capsys):
    """--choose-defaults writes eval-dev.json, then config.json: stopped between the two, the line says which
    file was written, and config.json is as it was."""
    config = (checkpoint / "config.json").read_bytes()

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("eeviz.evaluate_cli.set_rule_defaults", stopped)
    code, _, err = run_main(["evaluate", "--checkpoint", checkpoint, "--split", "dev", "--choose-defaults",
                             "--device", "cpu", "--timing", "none"], capsys)
    assert code == 130 and "Traceback" not in err
    dev_eval = CheckpointLayout(checkpoint).dev_eval
    assert err.strip().splitlines()[-1] == f"interrupted: wrote 1 file before stopping ({dev_eval})"
    assert json.loads(dev_eval.read_text())["split"] == "dev"
    assert (checkpoint / "config.json").read_bytes() == config


def test_ctrl_c_in_trace_says_nothing_written(checkpoint, monkeypatch, capsys):
    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("eeviz.tools.trace_cli.replay_all", stopped)
    code, out, err = run_main(["trace", "--checkpoint", checkpoint, "--text", "a good film"], capsys)
    assert (code, out, err) == (130, "", "interrupted: nothing written\n")


def test_ctrl_c_in_training_after_an_epoch_says_resume_continues_it(tiny_bert, tmp_path, monkeypatch, capsys):
    from eeviz.training.trainer import Trainer

    reviews = write_reviews(tmp_path / "reviews.csv")
    out = tmp_path / "run"
    argv = ["train", "--method", "deebert", "--backbone", tiny_bert, "--task", reviews, "--out", out,
            "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--warmup-ratio", "0", "--device", "cpu"]
    save_resume = Trainer.save_resume

    def save_then_stop(self, *args, **kwargs):  # Ctrl-C just after the first epoch's state was saved
        save_resume(self, *args, **kwargs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "save_resume", save_then_stop)
        code, _, err = run_main(argv, capsys)
    line = err.strip().splitlines()[-1]
    assert code == 130 and "Traceback" not in err
    assert line.startswith("interrupted: ") and "files before stopping" in line and str(out) in line, line
    assert line.endswith(f"; {out} keeps the run to its last finished epoch: give the same command with --resume "
                         "to continue it"), line
    code, _, err = run_main(argv + ["--resume"], capsys)  # what the line says works
    assert code == 0, err
    assert json.loads(CheckpointLayout(out).metrics.read_text())["finished"]


def test_output_places_follow_each_commands_options(tmp_path):
    layout = CheckpointLayout(tmp_path / "ck")
    assert output_places("evaluate", ["--checkpoint", str(layout.root), "--json", "x.json"]) == [
        Path("x.json"), layout.eval, layout.dev_eval, layout.config]
    assert output_places("train", ["--method", "deebert", "--out", "o"]) == [Path("o")]
    assert output_places("train", ["--preset", "demo"]) == [Path("checkpoints")]
    assert output_places("train", ["--preset", "demo", "--out-dir", "d"]) == [Path("d")]
    assert output_places("bench", ["--json", "b.json"]) == [Path("b.json")]
    assert output_places("report", ["--root", "r"]) == [Path("r/README.md")]
    assert output_places("trace", ["--checkpoint", "c", "--text", "t"]) == []
    assert output_places("evaluate", ["--json"]) == []  # a missing value: the command says so, not this


def test_written_files_are_the_new_and_the_changed_ones(tmp_path):
    (tmp_path / "kept.txt").write_text("as it was")
    (tmp_path / "changed.txt").write_text("old")
    before = snapshot([tmp_path])
    (tmp_path / "changed.txt").write_text("new text")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.txt").write_text("new")
    assert written(before, snapshot([tmp_path])) == [tmp_path / "changed.txt", tmp_path / "sub" / "new.txt"]
    assert interrupted_line("bench", ["--json", str(tmp_path / "kept.txt")], snapshot([tmp_path / "kept.txt"])) \
        == "interrupted: nothing written"
    assert interrupted_line("evaluate", [], None) == "interrupted: nothing written"  # stopped before it began


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # runpy on an imported module
@pytest.mark.parametrize("module", ["eeviz.evaluate", "eeviz.train", "eeviz.trace", "eeviz.bench", "eeviz.report"])
def test_python_m_entry_points_read_a_ctrl_c_as_eeviz_does(module, monkeypatch, capsys):
    """``python -m eeviz.evaluate`` (and the others) printed Python's traceback on Ctrl-C where ``eeviz
    evaluate`` printed one line: they now run the same command runner."""
    import runpy

    import eeviz.cli

    command = module.split(".")[1]

    def interrupted(argv, prog=None):
        assert prog == f"python -m {module}"  # its usage lines keep the name the user typed
        raise KeyboardInterrupt

    real = eeviz.cli.importlib.import_module

    def fake_import(name):
        target = real(name)
        if name == eeviz.cli.COMMANDS[command][0]:
            monkeypatch.setattr(target, "main", interrupted)
        return target

    monkeypatch.setattr(eeviz.cli.importlib, "import_module", fake_import)
    monkeypatch.setattr(sys, "argv", [module])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    assert done.value.code == INTERRUPTED
    assert capsys.readouterr().err.strip().startswith("interrupted:")
