"""The table of shipped checkpoints: ``eeviz report [--root checkpoints]`` writes ROOT/README.md.

Each row comes from a checkpoint's ``config.json``, ``metrics.json`` (training) and ``eval.json``
(``eeviz evaluate`` on the test split). ``checkpoint_scores`` recomputes the test accuracies the table
records; the shipped-checkpoint test calls it to check the table against the models.

Every folder under ROOT that gets no row is named on stderr, ``skipping NAME: why``, and the others' rows are
still written: a folder that is not a checkpoint (config missing or broken, weights missing or not a readable
safetensors file), one with no eval.json, one whose eval.json is broken (not JSON, not in its schema, no point at
its default rule's default), and one whose eval.json is not the checkpoint's whole test split (another split,
a data file, another task, or fewer examples: ``evaluate --limit``), whose scores are no test accuracy, and one
whose eval.json was swept at other defaults than config.json holds now (``evaluate --choose-defaults`` changed
them since), whose row would pair one default's name with another's figures.

A README.md already in ROOT keeps everything outside its table markers; one without them is left as it is and
the report stops (``eeviz.tools.report_file``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from ..catalog import checkpoints_root, find_checkpoints
from ..checkpoint import CheckpointLayout
from ..data import data_changed_note, load_task, normalize_task_name
from ..eval_result import EvalFileError, EvalResult
from ..evaluate import DATA_SPLIT_SEED, defaults_changed, load_eval, scores
from ..passes import collect_signals, index_batches, make_batch, predictions
from ..methods import get_method
from ..trace import replay_signals
from .report_file import (TABLE_END, TABLE_START, WRITTEN_BY, existing_readme, outside_table, parse_table,
                          with_table_of)
from .report_text import HEADINGS, data_text, explanations, heading_text, wall_text

# the best point of the test curve, found after the fact: its name says so, lest it be read as a setting
# chosen beforehand (the default rule's own point is in the "rule" columns)
NEAR_FULL_COLUMN = "layers saved within 0.5 pt (best test sweep point, any rule)"
COLUMNS = (
    "checkpoint", "method", "settings", "dev acc (full)", "test acc (full)", "default rule",
    "test acc (rule)", "mean exit layer", "static acc (same depth)", "adaptive gain (pts)", "top exit share",
    NEAR_FULL_COLUMN, "layer speed-up", "wall speed-up",
)
BATCH_COLUMN = "wall batch size"  # added after "wall speed-up" when the rows were timed at different batch sizes
NEAR_FULL = 0.005  # "within 0.5 point of the full model"
WIDTH = 110  # characters per line of the prose around the table


@torch.inference_mode()
def checkpoint_scores(model, examples, batch_size: int = 64) -> dict[str, float]:
    """Full-model score and the default rule's score / mean exit layer at its default threshold.

    One pass caches every layer's signals; the default rule is replayed over them (the code true early exit
    runs). Stochastic rules draw from their own seeded generator, so the result is repeatable.
    """
    cfg = model.cfg
    model.eval()
    batches = [make_batch(model.tokenizer, examples, idx, cfg.max_length, cfg.is_regression)
               for idx in index_batches(len(examples), batch_size)]
    golds = torch.tensor([e.label for e in examples]).numpy()
    signals = collect_signals(model, batches)
    full = scores(cfg.metric, predictions(signals["probs"][-1]), golds)["score"]
    exit_layer, probs, _ = replay_signals(signals, model.make_rule())
    return {
        "full": full,
        "rule": scores(cfg.metric, predictions(probs), golds)["score"],
        "mean_exit_layer": float(exit_layer.double().mean()),
    }


def settings_text(cfg, metrics: dict) -> str:
    """A short human description of how the checkpoint was trained."""
    args = metrics.get("train_args", {})
    parts = [f"{cfg.finetune}" + (f" r{cfg.lora_rank}" if cfg.finetune == "lora" else "")]
    if args:
        parts.append(f"lr {args.get('lr'):g}")
        parts.append(f"{metrics.get('epochs_run')} ep × {metrics.get('train_examples')} ex")
        if args.get("init_from"):
            parts.append(f"backbone from {Path(args['init_from']).name}")
    if cfg.method_args:
        shown = {k: v for k, v in cfg.method_args.items() if v is not None and not isinstance(v, (dict, list))}
        parts.append(", ".join(f"{k}={v}" for k, v in list(shown.items())[:4]))
    return "; ".join(p for p in parts if p)


def best_dev(metrics: dict) -> float | None:
    best = metrics.get("best_epoch")
    for entry in metrics.get("history", []):
        if entry.get("epoch") == best:
            return entry["dev"]["score"]
    return None


def layers_saved_near_full(result: EvalResult) -> float | None:
    """The largest share of layers any rule's sweep point saves while within ``NEAR_FULL`` of the full model."""
    full = result.full_model.score
    saved = [1 - p.mean_exit_layer / result.num_layers for sweep in result.rules.values() if sweep.early_exit
             for p in sweep.points if p.score >= full - NEAR_FULL]
    return max(saved, default=None)


def weights_problem(path: Path) -> str | None:
    """Why ``path`` (a checkpoint's weights) cannot be listed, or None: its safetensors header must read and
    cover the whole file (an empty or truncated file fails here; the tensors themselves are not loaded)."""
    if path.is_file() and path.stat().st_size == 0:
        return f"'{path}' is empty (0 bytes): its weights were never written, or were cut off"
    try:
        with safe_open(str(path), "pt") as weights:
            weights.keys()
    except (SafetensorError, OSError, ValueError) as err:
        return f"'{path}' is not a readable safetensors file ({err})"
    return None


class SplitSizes:
    """The number of test examples of each task, loaded once per task (None where the task cannot be loaded
    here: an unknown name, a data file that moved, GLUE without its cache), with the reason kept; ``splits``
    keeps each loaded task's (train, dev, test) sizes and the share of its most common test label."""

    def __init__(self):
        self.sizes: dict[str, int | None] = {}
        self.splits: dict[str, tuple[int, int, int, float]] = {}
        self.why_not: dict[str, str] = {}
        self.data: dict[str, Any] = {}  # the loaded tasks: their fingerprints tell whether a checkpoint's data changed

    def __call__(self, task: str) -> int | None:
        if task not in self.sizes:
            try:
                data = load_task(task, seed=DATA_SPLIT_SEED)
            except Exception as err:  # noqa: BLE001 - any failure means "cannot check", never a crash
                first_sentence = str(err).split(". ")[0]  # the rest lists every known task
                self.sizes[task], self.why_not[task] = None, f"{type(err).__name__}: {first_sentence}"
            else:
                self.sizes[task], self.data[task] = len(data.test), data
                labels = Counter(e.label for e in data.test) if not data.is_regression else Counter()
                majority = max(labels.values(), default=0) / max(1, len(data.test))
                self.splits[task] = (len(data.train), len(data.dev), len(data.test), majority)
        return self.sizes[task]


def same_task(a: str, b: str) -> bool:
    key_a, key_b = normalize_task_name(a), normalize_task_name(b)
    return a == b or (key_a is not None and key_a == key_b)


def coverage_problem(info, result: EvalResult, path: Path, test_size: SplitSizes) -> tuple[str | None, str | None]:
    """(why ``result`` is not the checkpoint's whole test split, or None; a note when that cannot be checked).

    eval.json records its task (a task name, or the data file of ``evaluate --data``), its split ("file" for a
    data file) and how many examples it scored; the table's test accuracies need the checkpoint's own task,
    the test split, and every one of its examples.
    """
    again = "evaluate it again on the test split: eeviz evaluate --checkpoint DIR"
    what = f"'{path}' scores {result.num_examples} examples"
    if result.split == "file":
        return f"{what} of the data file '{result.task}', not the test split ({again})", None
    if result.split != "test":
        return f"{what} of the {result.split} split, not the test split ({again})", None
    if not same_task(result.task, info.cfg.task):
        return f"{what} of task '{result.task}', not of the checkpoint's task '{info.cfg.task}' ({again})", None
    size = test_size(info.cfg.task)
    if size is None:
        return None, (f"{info.name}: cannot check that eval.json's {result.num_examples} examples are the whole "
                      f"test split: task '{info.cfg.task}' does not load here ({test_size.why_not[info.cfg.task]})")
    if result.num_examples != size:
        return (f"{what} of the test split's {size} (a partial evaluation, e.g. evaluate --limit; "
                f"{again})"), None
    # the task's file changed since training: the row stands for the data as it is now, which may mix trained rows
    # into the test split; said beside the table rather than hidden
    changed = data_changed_note(info.cfg, test_size.data[info.cfg.task])
    return None, None if changed is None else f"{info.name}: {changed}"


def row_for(info, test_size: SplitSizes | None = None, notes: list[str] | None = None) -> dict[str, Any]:
    """One table row (as values) for a checkpoint folder with an eval.json on the test split; ``EvalFileError``
    when that file is broken, lacks the default rule at its default threshold, is not the checkpoint's whole
    test split (notes that this could not be checked go to ``notes``) or was swept at other defaults than the
    checkpoint's config.json holds now."""
    path = CheckpointLayout(info.path).eval
    result = load_eval(path)
    problem, note = coverage_problem(info, result, path, test_size or SplitSizes())
    if problem:
        raise EvalFileError(problem)
    rule_name = info.cfg.default_rule or get_method(info.cfg.method).default_rule
    rule = result.rules.get(rule_name)
    if rule is None:
        raise EvalFileError(f"'{path}' has no sweep of the checkpoint's default rule '{rule_name}' "
                            "(evaluate it again: eeviz evaluate --checkpoint DIR)")
    point = rule.default_point
    if point is None:
        raise EvalFileError(f"'{path}': rule '{rule_name}' has no sweep point at its default {rule.default:g} "
                            "(evaluate it again: eeviz evaluate --checkpoint DIR)")
    # swept at defaults config.json no longer has: the row would pair one default's name with another's figures
    if changed := defaults_changed(result, info.cfg):
        raise EvalFileError(f"'{path}' was made at other defaults than config.json's now ({changed}; e.g. after "
                            f"evaluate --choose-defaults): evaluate it again: eeviz evaluate --checkpoint {info.path}")
    if note and notes is not None:
        notes.append(note)
    return {
        "checkpoint": info.name,
        "method": info.cfg.method,
        "backbone": info.cfg.backbone,
        "settings": settings_text(info.cfg, info.metrics),
        "dev acc (full)": best_dev(info.metrics),
        "test acc (full)": result.full_model.score,
        # a threshold the dev sweep did not choose (no dev point met the criterion) is the rule's built-in one
        "default rule": f"{rule_name} ({rule.param}={rule.default:g}"
                        + (")" if rule_name in info.cfg.rule_defaults else ", built-in)"),
        "test acc (rule)": point.score,
        "mean exit layer": point.mean_exit_layer,
        "static acc (same depth)": point.static_score,
        # a rule that never exits early has no adaptive behaviour to measure: its "gain" is no gain
        "adaptive gain (pts)": point.adaptive_gain if rule.early_exit else None,
        "top exit share": None if point.top_exit_share is None else f"{point.top_exit_share:.0%}",
        NEAR_FULL_COLUMN: (None if (saved := layers_saved_near_full(result)) is None else f"{saved:.0%}"),
        "layer speed-up": point.layer_speedup,
        "wall speed-up": point.wall_speedup,
        BATCH_COLUMN: result.batch_size,
        "task": result.task,
        "split": result.split,
        "device": result.device,
        "timing_repeats": result.timing_repeats,
    }


def fmt(value, pct: bool = False, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{100 * value:.2f}" if pct else f"{value:+.2f}" if signed else f"{value:.2f}"
    return str(value)


def table_columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """``COLUMNS``, with each row's batch size after its wall speed-up when the rows were timed at different
    batch sizes (one batch size for all is said once, in the text)."""
    if len({row[BATCH_COLUMN] for row in rows}) <= 1:
        return COLUMNS
    at = COLUMNS.index("wall speed-up") + 1
    return COLUMNS[:at] + (BATCH_COLUMN,) + COLUMNS[at:]


def render_table(rows: list[dict[str, Any]]) -> str:
    pct = {"dev acc (full)", "test acc (full)", "test acc (rule)", "static acc (same depth)"}
    columns = table_columns(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row[c], c in pct, c == "adaptive gain (pts)") for c in columns) + " |")
    return "\n".join(lines)


def folder_problems(root: Path, problems: list[str], listed: set[str]) -> dict[str, str]:
    """Folder name -> why ``find_checkpoints`` left it out (its problem line names the folder's path)."""
    left_out = {}
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if path.name not in listed:
            quoted = (f"'{path}'", f"'{path}{os.sep}")
            left_out[path.name] = next((p for p in problems if any(q in p for q in quoted)), "not a checkpoint")
    return left_out


def listed_rows(root: Path, test_size: SplitSizes | None = None
                ) -> tuple[list[dict[str, Any]], dict[str, str], list[str]]:
    """(table rows, folder name -> why it has no row, notes) for the checkpoint folders under ``root``."""
    infos, problems = find_checkpoints(root)
    skipped = folder_problems(root, problems, {info.name for info in infos})
    notes = [p for p in problems if p not in skipped.values()]  # e.g. a broken metrics.json: the row stays
    rows, test_size = [], test_size or SplitSizes()
    for info in infos:
        layout = CheckpointLayout(info.path)
        if (problem := weights_problem(layout.weights)) is not None:
            skipped[info.name] = problem
        elif not layout.eval.is_file():
            skipped[info.name] = f"no {layout.eval.name} (evaluate it: eeviz evaluate --checkpoint {info.path})"
        else:
            try:
                rows.append(row_for(info, test_size, notes))
            except EvalFileError as err:  # one broken file costs its own row, never the others'
                skipped[info.name] = str(err)
    return rows, dict(sorted(skipped.items())), notes


def write_readme(root: Path, intro: str = "") -> Path:
    """Write ROOT/README.md with a row per listable checkpoint; each folder left out is named on stderr.

    A README.md the report wrote (first line ``WRITTEN_BY``) is written whole again. Any other README.md keeps
    everything outside its table markers (``TABLE_START`` / ``TABLE_END``): only the table between them is
    replaced. One without the markers is left as it is.

    Raises:
        SystemExit: ``root`` is no folder, is itself a checkpoint (pass its parent), its README.md has no
            table markers or cannot be read, or no folder under it could be listed.
    """
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"error: no checkpoint folder at '{root}'")
    if CheckpointLayout(root).config.is_file():
        raise SystemExit(f"error: '{root}' is a checkpoint itself; the report tables the checkpoints of a "
                         f"folder: pass its parent folder (--root {root.resolve().parent})")
    out = root / "README.md"
    existing = existing_readme(out)  # refused before any work
    sizes = SplitSizes()
    rows, skipped, notes = listed_rows(root, sizes)
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not rows:
        why = f"all {len(skipped)} folders were skipped (reasons above)" if skipped else "it holds no folders"
        raise SystemExit(f"error: no evaluated checkpoints under '{root}': {why}")
    tasks = [r["task"] for r in rows]
    for task in tasks:
        sizes(task)
    wall = wall_text({r["checkpoint"]: r[BATCH_COLUMN] for r in rows},
                     {r["checkpoint"]: r["timing_repeats"] for r in rows}, sorted({r["device"] for r in rows}),
                     BATCH_COLUMN)
    prose = explanations(NEAR_FULL_COLUMN, wall)
    paragraphs = "\n\n".join(textwrap.fill(p, WIDTH, break_long_words=False, break_on_hyphens=False)
                             for p in [data_text(tasks, sizes.splits, sizes.why_not, DATA_SPLIT_SEED), *prose])
    heading = heading_text([(r["method"], r["backbone"], r["task"]) for r in rows], str(root))
    text = f"""{WRITTEN_BY}{heading}
{intro}
{paragraphs}

{TABLE_START}
{render_table(rows)}
{TABLE_END}
"""
    if existing is not None:
        kept = with_table_of(existing, text)
        if outside_table(kept) != outside_table(text) and existing.startswith(HEADINGS):  # an older report's file
            print(f"note: only the table of '{out}' was replaced; the text around it was kept as it is and differs "
                  "from what eeviz report writes now: delete the file and run the report again to have it "
                  "written whole", file=sys.stderr)
        text = kept
    out.write_text(text, encoding="utf-8")
    return out


def main(argv: list[str] | None = None, prog: str = "eeviz report") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.splitlines()[0].replace("``", ""),
        epilog=f"ROOT/README.md is written whole when it is not there, or when this report wrote it (its first "
               f"line says so). Any other one keeps everything outside its {TABLE_START} / {TABLE_END} lines, and "
               "only the table between them is replaced; one without those two lines is left as it is and the "
               "report stops (add them, or move the file away).")
    parser.add_argument("--root", default=None, help="checkpoint folder [checkpoints/ or $EEVIZ_CHECKPOINTS]")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else checkpoints_root()
    path = write_readme(root)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
