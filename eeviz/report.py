"""``python -m eeviz.report`` (same as ``eeviz report``); the report lives in ``eeviz.tools.report``."""

from .tools.report import *  # noqa: F401,F403  (the old import path)
from .tools.report import main as _main


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="python -m eeviz.report")


if __name__ == "__main__":  # ``python -m eeviz.report``, as ``eeviz report`` (its Ctrl-C line too)
    import sys

    from .cli import run_command
    from .messages import plain_warnings

    plain_warnings()
    raise SystemExit(run_command("report", sys.argv[1:], prog="python -m eeviz.report"))
