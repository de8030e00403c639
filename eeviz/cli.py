"""``eeviz``: one command for everything (installed by ``pip install -e .`` / scripts/install.sh).

``eeviz train|evaluate|trace|bench|report ARGS`` run the same code as ``python -m eeviz.X ARGS``; ``eeviz app
[STREAMLIT ARGS]`` starts the Streamlit app from the repository root on the shipped checkpoints (or on
``$EEVIZ_CHECKPOINTS`` / ``--checkpoints DIR``). Subcommands import their module only when run.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import signal
import subprocess
import sys
from pathlib import Path

from .interrupted import interrupted_line, output_places, snapshot

REPO_ROOT = Path(__file__).resolve().parent.parent
INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it

# subcommand -> (module with ``main(argv)``, one line of help)
COMMANDS = {
    "train": ("eeviz.training.cli", "train an early-exit model, or every method with a preset"),
    "evaluate": ("eeviz.evaluate_cli", "sweep every exit rule of a checkpoint over a split (writes eval.json)"),
    "trace": ("eeviz.tools.trace_cli", "per-layer trace of one sentence and every exit rule's decision"),
    "bench": ("eeviz.tools.bench", "wall-clock benchmark of early exit against full passes"),
    "report": ("eeviz.tools.report", "write the table of shipped checkpoints (ROOT/README.md)"),
    "app": (__name__, "start the Streamlit app on the shipped checkpoints (extra arguments go to streamlit)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eeviz",
        description="Early exit in transformer encoders, layer by layer. `eeviz COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()),
    )
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help=", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    return parser


def app_main(argv: list[str] | None = None, prog: str = "eeviz app") -> int:
    """``streamlit run app.py`` from the repository root; ``--checkpoints DIR`` sets ``$EEVIZ_CHECKPOINTS``."""
    parser = argparse.ArgumentParser(prog=prog, description=COMMANDS["app"][1] + ".")
    parser.add_argument("--checkpoints", help="checkpoint folder [the repository's checkpoints/]")
    ns, streamlit_args = parser.parse_known_args(argv)
    app = REPO_ROOT / "app.py"
    if not app.is_file():
        print(f"error: no app.py in {REPO_ROOT}: the app runs from a source checkout (pip install -e .)",
              file=sys.stderr)
        return 2
    env = dict(os.environ)
    if ns.checkpoints:
        env["EEVIZ_CHECKPOINTS"] = str(Path(ns.checkpoints).resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(app), *streamlit_args]
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env)
    # a script or service manager stops the app with SIGTERM to this process: passed on to Streamlit, which was
    # left serving on its port, its parent gone (Ctrl-C and a terminal's hangup reach both: the terminal signals
    # the whole group; SIGHUP is left alone, so that `nohup eeviz app` keeps running)
    before = signal.signal(signal.SIGTERM, lambda signum, _: server.send_signal(signum))
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.wait()  # Streamlit got the same Ctrl-C: let it finish its own shutdown
        return INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, before)


def main(argv: list[str] | None = None) -> int:
    from .messages import plain_warnings

    plain_warnings()
    ns = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_command(ns.command, ns.args)


def run_command(command: str, argv: list[str], prog: str | None = None) -> int:
    """One subcommand with ``argv``, named ``prog`` in its usage lines (default ``eeviz COMMAND``); also what
    ``python -m eeviz.evaluate`` and the other module entry points run, so a Ctrl-C reads the same there."""
    before = None  # a Ctrl-C before the look at the command's outputs: nothing written yet
    try:
        before = snapshot(output_places(command, argv))  # to tell, after a Ctrl-C, what the command wrote
        run = app_main if command == "app" else importlib.import_module(COMMANDS[command][0]).main
        # modules whose main takes ``prog`` name themselves after the short command in their usage lines
        if "prog" in inspect.signature(run).parameters:
            return run(argv, prog=prog or f"eeviz {command}")
        return run(argv)
    except KeyboardInterrupt:  # Ctrl-C: one line, not Python's traceback, and the shell's status for SIGINT
        # on a terminal, after the "^C" it echoed (or a progress bar's line), on a line of its own
        print(("\n" if sys.stderr.isatty() else "") + interrupted_line(command, argv, before), file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
