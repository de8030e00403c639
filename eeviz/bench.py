"""``python -m eeviz.bench`` (same as ``eeviz bench``); the benchmark lives in ``eeviz.tools.bench``."""

from .tools.bench import *  # noqa: F401,F403  (the old import path)
from .tools.bench import main as _main


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="python -m eeviz.bench")


if __name__ == "__main__":
    raise SystemExit(main())
