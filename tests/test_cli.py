"""One command: ``eeviz`` and its subcommands; ``python -m eeviz.X`` keeps working; no import circle."""

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from eeviz.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_pyproject_declares_the_command_and_every_subpackage():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["eeviz"] == "eeviz.cli:main"
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["eeviz*"]


def test_eeviz_help_lists_every_subcommand():
    if shutil.which("eeviz") is None:
        pytest.skip("the eeviz command is not installed (scripts/install.sh or pip install --no-deps -e .)")
    done = run("eeviz", "--help")
    assert done.returncode == 0, done.stderr
    for name in ("train", "evaluate", "trace", "bench", "report", "app"):
        assert name in done.stdout


def test_python_m_eeviz_cli_and_trace_help():
    done = run(sys.executable, "-m", "eeviz.cli", "--help")
    assert done.returncode == 0 and "COMMAND" in done.stdout, done.stderr
    done = run(sys.executable, "-m", "eeviz.trace", "--help")
    assert done.returncode == 0 and "--checkpoint" in done.stdout and "--set" in done.stdout, done.stderr


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "app"])
def test_the_readme_names_every_option_of_every_command(command, capsys):
    """An option a user can only find in ``--help`` is one the README forgot (--max-grad-norm, --choose-defaults,
    --text-b and --exit-at were)."""
    import re

    with pytest.raises(SystemExit):
        main([command, "--help"])
    options = set(re.findall(r"^  (--[a-z][a-z-]*)", capsys.readouterr().out, flags=re.M)) - {"--help"}
    assert options
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(o for o in options if not re.search(re.escape(o) + r"(?![a-z-])", readme))
    assert not missing, f"eeviz {command}: {missing}"


def test_unknown_subcommand_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fly"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_trace_module_imports_nothing_that_imports_it():
    """checkpoint -> model -> trace: trace itself must not import checkpoint, model or the tools (its CLI)."""
    tree = ast.parse((ROOT / "eeviz" / "trace.py").read_text())
    main_guard = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
    guarded = {id(n) for block in main_guard for n in ast.walk(block)}
    imported = [node.module or "" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and id(node) not in guarded]
    assert not [m for m in imported if m.split(".")[0] in ("checkpoint", "model", "catalog", "tools")], imported


# ------------------------------------------------------------------------------------------ wrong-way messages
def test_evaluate_data_that_is_a_folder_says_so_before_loading_anything(tmp_path, capsys):
    """It said "Data file not found" of a folder that is there."""
    from eeviz.data import load_examples_file

    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--checkpoint", str(tmp_path / "no-such-checkpoint"), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"Data file '{tmp_path}' is a folder, not a file" in err
    assert "not found" not in err and "checkpoint" not in err.splitlines()[-1]
    with pytest.raises(ValueError, match="is a folder, not a file"):
        load_examples_file(str(tmp_path))


NO_CUDA = "CUDA is not available on this machine (torch.cuda.is_available() is False): use --device cpu"


@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_evaluate_on_cuda_without_cuda_says_so_and_loads_nothing(no_cuda, tmp_path, capsys, device):
    """It said "cannot load checkpoint ...: AssertionError: Torch not compiled with CUDA enabled", blaming the
    checkpoint in an exception's words. The check comes before the checkpoint loads (this one is not there)."""
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--checkpoint", str(tmp_path / "ck"), "--device", device])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"--device {device}: {NO_CUDA}" in err
    assert "cannot load" not in err and "AssertionError" not in err


def test_train_and_bench_say_the_same_of_cuda(no_cuda, tmp_path, capsys):
    from types import SimpleNamespace

    from eeviz.tools.bench_args import argument_problem

    code = main(["train", "--method", "deebert", "--out", str(tmp_path / "run"), "--device", "cuda"])
    assert code == 2 and f"--device cuda: {NO_CUDA}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    args = SimpleNamespace(repeats=5, sentences=8, batch_size=8, max_length=32, exit_at=None, threads=None,
                           sections="1,2", device="cuda")
    assert argument_problem(args) == f"--device cuda: {NO_CUDA}"
    assert argument_problem(SimpleNamespace(**{**vars(args), "device": "cpu"})) is None


def test_a_cuda_device_number_the_machine_lacks_is_named(monkeypatch):
    import torch

    from eeviz.devices import device_problem

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device_problem("cuda:2") == "--device cuda:2: this machine has 2 CUDA devices (cuda:0 to cuda:1)"
    assert device_problem("cuda:1") is None and device_problem("cuda") is None
    assert device_problem("cpu") is None and device_problem("auto") is None


def _parsers():
    from eeviz.evaluate_cli import build_parser as evaluate_parser
    from eeviz.tools import app_bench
    from eeviz.tools.bench_args import build_parser as bench_parser
    from eeviz.tools.trace_cli import build_parser as trace_parser

    return {"bench": bench_parser("eeviz bench", ""), "bench --app": app_bench.build_parser("eeviz bench --app"),
            "evaluate": evaluate_parser(), "trace": trace_parser()}


@pytest.mark.parametrize("name", ["bench", "bench --app", "evaluate", "trace"])
def test_every_option_with_a_default_says_it_in_its_help(name):
    """`bench --help` showed no default for --repeats, --sentences or --batch-size (the README had them)."""
    import argparse

    for action in _parsers()[name]._actions:
        if action.default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            continue
        text = action.help or ""
        assert "default" in text or "[" in text, f"{name} {action.option_strings[0]}: {text!r}"
        assert "issue" not in text and "``" not in text
