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
