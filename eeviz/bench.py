"""``python -m eeviz.bench`` (same as ``eeviz bench``); the benchmark lives in ``eeviz.tools.bench``."""

from .tools.bench import *  # noqa: F401,F403  (the old import path)
from .tools.bench import main as _main


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="python -m eeviz.bench")


if __name__ == "__main__":  # ``python -m eeviz.bench``, as ``eeviz bench`` (its Ctrl-C line too)
    import sys

    from .cli import run_command
    from .messages import plain_warnings

    plain_warnings()
    raise SystemExit(run_command("bench", sys.argv[1:], prog="python -m eeviz.bench"))
