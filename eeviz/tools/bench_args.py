"""The benchmark's command line (``eeviz bench``): its options, and every check of them made before any model
loads, so that a bad value costs one line (exit 2, argparse style) rather than a traceback after the timing work:
numbers at least 1, sections that exist, a --texts file with sentences in it, a --json path that can be written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..devices import device_problem
from ..precision import DEFAULT_INFERENCE_PRECISION, INFERENCE_PRECISIONS

DEFAULT_SENTENCES = 64
DEFAULT_BATCH = 32

APP_EPILOG = (
    "--app benchmarks the app in a real browser instead (eeviz/tools/app_bench.py: page loads, typed sentences "
    "and slider moves timed in headless Chromium, one session and many at once); `%(prog)s --app --help` "
    "lists its options."
)
SECTIONS = ("1", "2", "3", "4", "5")  # 5, memory, always runs: naming it alone runs only that


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The benchmark's options (``--app`` is listed for --help; ``bench.main`` hands it to app_bench)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=APP_EPILOG)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoints", default=None, help="folder of trained checkpoints (default: checkpoints/)")
    source.add_argument("--backbone", default=None, help="untrained models of every method on it (e.g. minilm)")
    parser.add_argument("--app", action="store_true",
                        help="time the app in a browser instead (its own options: --app --help)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed passes; medians are reported (default: %(default)s)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where to time (default: cuda when this machine has it, else cpu)")
    parser.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES,
                        help="how many sentences to time: the first N of --texts or of rotten_tomatoes' test split "
                        "(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH,
                        help="sentences per batch in the batched section (default: %(default)s)")
    parser.add_argument("--max-length", type=int, default=128,
                        help="truncation of --backbone models' inputs (default: %(default)s)")
    parser.add_argument("--exit-at", type=int, default=None, help="fixed-exit rows' layer (default: L // 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--sections", default="1,2,3,4",
                        help="which of sections 1-4 to run (5, memory, always; default: %(default)s)")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write every figure to this JSON file")
    parser.add_argument("--inference-precision", choices=INFERENCE_PRECISIONS, default=DEFAULT_INFERENCE_PRECISION,
                        help="precision of every timed pass: fp32 (what the app runs), bf16, fp16 (GPU) or auto [fp32]")
    parser.add_argument("--texts", default=None, metavar="FILE",
                        help="sentences to time, one per line (default: rotten_tomatoes test sentences)")
    return parser


def argument_problem(args) -> str | None:
    """What is wrong with the numbers and sections asked for (None when nothing is)."""
    for flag, value in (("--repeats", args.repeats), ("--sentences", args.sentences),
                        ("--batch-size", args.batch_size), ("--max-length", args.max_length),
                        ("--exit-at", args.exit_at), ("--threads", args.threads)):
        if value is not None and value < 1:
            return f"{flag} must be at least 1, got {value}"
    parts = [part.strip() for part in args.sections.split(",")]
    unknown = [part for part in parts if part not in SECTIONS]
    if unknown:
        return (f"--sections: {', '.join(repr(p) for p in unknown)} is not a section; give some of 1,2,3,4 "
                "separated by commas (5, peak memory, always runs)")
    return device_problem(args.device)


def read_texts(path: str | None) -> list[str]:
    """The sentences to time: the non-blank lines of ``path``, or the rotten_tomatoes test split.

    Raises:
        ValueError: Naming the file and why no sentence comes from it.
    """
    if path is None:
        from ..data import load_task

        try:
            return [e.text for e in load_task("rotten_tomatoes").test]
        except (FileNotFoundError, ValueError) as err:
            raise ValueError(f"no default sentences ({err}); pass --texts FILE, one sentence per line") from err
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ValueError(f"--texts: no file at '{path}'") from None
    except IsADirectoryError:
        raise ValueError(f"--texts: '{path}' is a folder; give a text file, one sentence per line") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"--texts: '{path}' is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ValueError(f"--texts: cannot read '{path}' ({err.strerror or err})") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise ValueError(f"--texts: '{path}' holds no sentence (every line is blank)")
    return texts


def check_json_path(path: str) -> Path:
    """``--json OUT`` made ready before minutes of timing: its folder created and a trial write made, so a
    path that cannot be written is refused now rather than after the work, whose figures would be lost.

    Raises:
        ValueError: Saying which path and why.
    """
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"--json: '{out}' is a folder; give a file name such as {out / 'bench.json'}")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"--json: cannot write '{out}': '{blocking}' is a file, not a folder")
    trial = out.with_name(f".{out.name}.write-test")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        trial.write_text("")
        trial.unlink()
    except OSError as err:
        raise ValueError(f"--json: cannot write '{out}' ({err.strerror or err})") from None
    return out


def trace_sentences(pool: list[str], timed: int, repeats: int) -> tuple[list[str], str | None]:
    """Section 4's sentences: a warm-up and one per repeat, from those after the ``timed`` sentences of
    sections 1-3 (new to the models, as a sentence typed in the app is). When ``pool`` has too few of those,
    the rest come round again from its start (``trace_all`` keeps no cache, so a sentence traced again costs
    the same), and the note says so. Needs a non-empty ``pool``."""
    wanted = repeats + 1
    unseen = pool[timed : timed + wanted]
    if len(unseen) == wanted:
        return unseen, None
    chosen = unseen + [pool[i % len(pool)] for i in range(wanted - len(unseen))]
    note = (f"section 4 wanted {wanted} new sentences (a warm-up and one per repeat) after the {timed} that "
            f"sections 1-3 time, but {len(unseen)} were left of {len(pool)}: it traced {wanted - len(unseen)} of "
            "those again")
    return chosen, note
