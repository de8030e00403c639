"""``eeviz evaluate`` / ``python -m eeviz.evaluate``: the command line of ``eeviz.evaluate``'s sweeps.

Its options, the plain-text table it prints (``format_table``, which ``eeviz train --preset`` prints too) and
``--choose-defaults``, which stores the thresholds chosen on a dev sweep in the checkpoint's config.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .checkpoint import DEV_EVAL_FILE, EVAL_FILE, CheckpointError, CheckpointLayout, read_config, set_rule_defaults
from .data_files import data_file_problem
from .devices import device_problem
from .default_thresholds import choose_default_rule, choose_defaults
from .eval_result import EvalFileError, EvalResult
from .evaluate import TIMING_MODES, defaults_changed, evaluate_checkpoint
from .methods import get_method
from .precision import DEFAULT_INFERENCE_PRECISION, INFERENCE_PRECISIONS


def format_table(result: EvalResult) -> str:
    """A plain-text summary: full model, per-layer scores, and every rule's sweep with its adaptive gain."""
    num_layers = result.num_layers
    full_time = "" if result.full_model.time_s is None else f"   full pass {result.full_model.time_s:.3f} s"
    lines = [
        f"{result.method} on {result.task} / {result.split}: {result.num_examples} examples, "
        f"{num_layers} layers, batch size {result.batch_size}, {result.device}"
        + (f", fastest of {result.timing_repeats} timings per batch" if (result.timing_repeats or 1) > 1 else ""),
        f"full model (layer {num_layers}): {result.metric} {result.full_model.score:.4f}{full_time}",
        "per layer: " + "  ".join(f"{p.layer}:{p.score:.3f}" for p in result.per_layer),
        "layer speed-up = L / mean exit layer; wall speed-up = full-pass time / true early-exit time (same batches)",
        "static = the per-layer score at the same mean depth; gain = (score - static) in points; "
        "top share = examples at the most common exit layer",
    ]
    doubtful = False
    for name, entry in result.rules.items():
        note = "" if entry.early_exit else "  (reference rule: runs every layer)"
        lines.append(f"\nrule {name}: {entry.label} (default {entry.default:g}){note}")
        lines.append(f"  {'threshold':>10} {result.metric[:10]:>10} {'mean exit':>10} {'layer x':>8} {'wall x':>8} "
                     f"{'static':>8} {'gain':>7} {'top share':>9}")
        for p in entry.points:
            wall = "" if p.wall_speedup is None else f"{p.wall_speedup:.2f}"
            if p.wall_speedup is not None and not plausible_wall_speedup(p.wall_speedup, p.layer_speedup):
                wall, doubtful = wall + "?", True
            mark = " *" if p.threshold == entry.default else ""
            # a reference rule runs every layer: its score against a cut at "its depth" is a mix of layers against
            # the last one, no gain from exiting per example
            gain = f"{p.adaptive_gain:>+7.2f}" if entry.early_exit else f"{'—':>7}"
            lines.append(f"  {p.threshold:>10g} {p.score:>10.4f} {p.mean_exit_layer:>10.2f} "
                         f"{p.layer_speedup:>8.2f} {wall:>8} {p.static_score:>8.4f} {gain} "
                         f"{p.top_exit_share:>9.0%}{mark}")
    if doubtful:
        lines.append(f"\n? a wall speed-up far from its layer speed-up (outside x{1 / WALL_RATIO:g}..x{WALL_RATIO:g}): "
                     "timing noise from other work on the machine; rerun with --timing-repeats 3 on a quiet machine")
    return "\n".join(lines)


# a wall-clock speed-up this far from the layer speed-up is no property of the rule: the layers run are most of
# the time, so the two differ by the heads' cost and batching (the shipped checkpoints: within 13%), while a
# busy machine gave 13.86 against 1.00
WALL_RATIO = 2.0


def plausible_wall_speedup(wall: float, layer: float) -> bool:
    """Whether a measured wall speed-up is within ``WALL_RATIO`` of the layer speed-up."""
    return layer / WALL_RATIO <= wall <= layer * WALL_RATIO


def build_parser(prog: str = "eeviz evaluate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Sweep every exit rule of a checkpoint: metric, mean exit layer, layer and wall-clock speed-up.",
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder (config.json + model.safetensors)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="a .csv/.jsonl file with text, label (and text_b) columns")
    source.add_argument("--task", help="task name or file split like training (default: the checkpoint's task)")
    parser.add_argument("--split", default=None, help="split of --task: train, dev or test (default test; a --data "
                                                      "file is read whole)")
    parser.add_argument("--json", help=f"the file to write the results to, its folder made if missing (default: "
                                       f"CHECKPOINT/{EVAL_FILE} for the checkpoint's own full test split, "
                                       f"CHECKPOINT/{DEV_EVAL_FILE} for its full dev split; any other sweep is "
                                       f"printed only)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N examples")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of every pass, timed ones included [32]")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N [auto]")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for the whole sweep (default: torch's); the shipped eval.json files "
                             "were timed with 1, at --batch-size 128 and --timing-repeats 3")
    parser.add_argument("--timing-repeats", type=int, default=1,
                        help="time each batch N times and keep the fastest (steadier on a busy machine) [1]")
    parser.add_argument("--choose-defaults", action="store_true",
                        help="choose each rule's default threshold from this sweep (dev split only) and store it "
                             "in the checkpoint's config.json")
    parser.add_argument("--timing", choices=TIMING_MODES, default="default",
                        help="which points get a measured wall-clock speed-up: none, default (the default threshold "
                             "and both ends of each sweep, what the Dataset page draws) or sweep (every point)")
    parser.add_argument("--inference-precision", choices=INFERENCE_PRECISIONS, default=DEFAULT_INFERENCE_PRECISION,
                        help="precision of every pass: fp32 (what the app shows), bf16, fp16 (GPU only) or auto "
                             "(bf16 on a GPU with native bf16, else fp32); recorded in the JSON [fp32]")
    return parser


def default_json(args: argparse.Namespace) -> Path | None:
    """Where a sweep goes without ``--json``: ``eval.json`` only for the checkpoint's own task, whole test split
    (what the Dataset page and ``eeviz report`` show as its test scores; a ``--limit 16`` or ``--data`` sweep
    used to replace it without a word), ``eval-dev.json`` for the whole dev split; None for any other sweep."""
    if args.data is not None or args.limit is not None:
        return None
    try:
        cfg, _ = read_config(args.checkpoint)
    except CheckpointError:
        return None  # evaluate_checkpoint says what is wrong with the folder
    if args.task is not None and args.task != cfg.task:
        return None
    layout = CheckpointLayout(args.checkpoint)
    return {"test": layout.eval, "dev": layout.dev_eval}.get(args.split)


def main(argv: list[str] | None = None, prog: str = "eeviz evaluate") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if (args.batch_size < 1 or args.timing_repeats < 1 or (args.limit is not None and args.limit < 1)
            or (args.threads is not None and args.threads < 1)):
        parser.error("--batch-size, --timing-repeats, --threads and --limit must be positive")
    if args.data is not None and args.split is not None:
        parser.error("--split picks a split of --task; a --data file is read whole (give --task FILE to use its "
                     "'split' column)")
    args.split = args.split or "test"
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", args.device):
        parser.error(f"--device takes auto, cpu, cuda or cuda:N, not {args.device!r}")
    if args.data is not None and (problem := data_file_problem(args.data)):  # before the checkpoint loads
        parser.error(problem)
    if problem := device_problem(args.device):  # before loading: else "cannot load checkpoint: AssertionError"
        parser.error(problem)
    if args.choose_defaults and (args.data is not None or args.limit is not None or args.split != "dev"):
        # a choice made on part of the dev split (or on other data) would be stored as if made on all of it
        parser.error("--choose-defaults chooses on the checkpoint's whole dev split: give --split dev, without "
                     "--limit or --data (never the test split); a --limit sweep is printed only")
    if args.choose_defaults and args.task is not None and args.task != own_task(args.checkpoint):
        parser.error(f"--choose-defaults chooses on the checkpoint's own dev split: leave out --task {args.task}")
    if args.json is not None:
        problem = json_path_problem(Path(args.json), args.data)
        if problem:
            parser.error(problem)
    if args.choose_defaults and args.json is None:
        args.json = str(CheckpointLayout(args.checkpoint).dev_eval)  # keep the test sweep in eval.json
    out = Path(args.json) if args.json is not None else default_json(args)

    if args.threads is not None:  # the sweep's wall times, and the "cpu (N threads)" it records, at this count
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = evaluate_checkpoint(
            args.checkpoint, data=args.data, task=args.task, split=args.split, json_path=out, write=out is not None,
            limit=args.limit, batch_size=args.batch_size, device=args.device,
            timing_repeats=args.timing_repeats, timing=args.timing, precision=args.inference_precision,
        )
    except (CheckpointError, ValueError, FileNotFoundError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    if out is not None:
        print(f"\nwrote {out}")
    else:
        print(f"\nnot written: {not_written_reason(args.split)}; pass --json FILE to keep this sweep")
    if args.choose_defaults:
        cfg, _ = read_config(args.checkpoint)
        chosen = choose_defaults(result)
        rule = choose_default_rule(result, get_method(cfg.method).default_rule, chosen)
        set_rule_defaults(args.checkpoint, chosen, rule)
        print("defaults chosen on dev: "
              + (", ".join(f"{k}={v:g}" for k, v in chosen.items()) or "none (every rule keeps its built-in default)")
              + (f"; default rule {rule}" if rule else ""))
        stale = stale_test_eval(args.checkpoint)
        if stale:
            print(stale)
    return 0


def own_task(checkpoint: str) -> str | None:
    """The task the checkpoint was trained on (None when its config does not read: evaluate says why)."""
    try:
        return read_config(checkpoint)[0].task
    except CheckpointError:
        return None


def not_written_reason(split: str) -> str:
    """Why a sweep went to no file: each default file holds one whole split of the checkpoint's own task."""
    if split == "dev":
        return (f"{DEV_EVAL_FILE} holds the checkpoint's whole dev split only (what --choose-defaults chooses "
                f"on)")
    if split == "test":
        return f"{EVAL_FILE} holds the checkpoint's whole test split only (what the app and `eeviz report` show)"
    return (f"{EVAL_FILE} and {DEV_EVAL_FILE} hold the checkpoint's whole test and dev splits only (what the app "
            f"and `eeviz report` show)")


def json_path_problem(out: Path, data: str | None) -> str | None:
    """Why ``--json`` must not be written to ``out`` (None when it may): it is the ``--data`` file itself, or an
    existing file that is not an eeviz evaluation (replacing it would lose the user's file); an empty file or an
    earlier evaluation may be replaced."""
    if data is not None and out.exists() and Path(data).exists() and out.samefile(data):
        return f"--json {out} is the --data file itself: writing the results there would replace your data"
    if not out.is_file() or out.stat().st_size == 0:
        return None  # nothing there (or a folder: evaluate says so), or an empty file
    if not looks_like_eval_json(out):
        return (f"--json {out}: that file exists and is not an eeviz evaluation, so it is left as it is; choose "
                f"another name, or delete it first if it may go")
    return None


def looks_like_eval_json(path: Path) -> bool:
    """Whether ``path`` holds what ``eeviz evaluate`` writes (a JSON object with its sweeps), even one an older
    version wrote that no longer validates: such a file is ours to replace."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and {"rules", "per_layer", "full_model"} <= set(data)


def stale_test_eval(checkpoint: str) -> str | None:
    """A line saying the checkpoint's eval.json was swept at defaults its config.json no longer has (after
    --choose-defaults changed them), with the command that refreshes it; None when it matches or is absent."""
    path = CheckpointLayout(checkpoint).eval
    if not path.is_file():
        return None
    try:
        result = EvalResult.load(path)
        cfg, _ = read_config(checkpoint)
    except (EvalFileError, CheckpointError):
        return None  # the app and the report say what is wrong with it
    changed = defaults_changed(result, cfg)
    if not changed:
        return None
    return (f"{EVAL_FILE} was made at the old defaults ({changed}): refresh it with "
            f"eeviz evaluate --checkpoint {checkpoint}")


if __name__ == "__main__":
    raise SystemExit(main())
