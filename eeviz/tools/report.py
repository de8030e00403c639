"""The table of shipped checkpoints: ``eeviz report [--root checkpoints]`` writes ROOT/README.md.

Each row comes from a checkpoint's ``config.json``, ``metrics.json`` (training) and ``eval.json``
(``eeviz evaluate`` on the test split). ``checkpoint_scores`` recomputes the test accuracies the table
records; the shipped-checkpoint test calls it to check the table against the models. A checkpoint whose
eval.json is broken (not JSON, not in its schema, no point at its default rule's default) is skipped with one
line on stderr naming the file and why; the others' rows are still written.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import torch

from ..catalog import checkpoints_root, find_checkpoints
from ..checkpoint import CheckpointLayout
from ..eval_result import EvalFileError, EvalResult
from ..evaluate import DATA_SPLIT_SEED, load_eval, scores
from ..passes import collect_signals, index_batches, make_batch, predictions
from ..methods import get_method
from ..trace import replay_signals

COLUMNS = (
    "checkpoint", "method", "settings", "dev acc (full)", "test acc (full)", "default rule",
    "test acc (rule)", "mean exit layer", "static acc (same depth)", "adaptive gain (pts)", "top exit share",
    "layers saved within 0.5 pt", "layer speed-up", "wall speed-up",
)
NEAR_FULL = 0.005  # "within 0.5 point of the full model"
TABLE_START, TABLE_END = "<!-- table:start -->", "<!-- table:end -->"


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


def row_for(info) -> dict[str, Any]:
    """One table row (as values) for a checkpoint folder with an eval.json on the test split; ``EvalFileError``
    when that file is broken or lacks the default rule at its default threshold."""
    path = CheckpointLayout(info.path).eval
    result = load_eval(path)
    rule_name = info.cfg.default_rule or get_method(info.cfg.method).default_rule
    rule = result.rules.get(rule_name)
    if rule is None:
        raise EvalFileError(f"'{path}' has no sweep of the checkpoint's default rule '{rule_name}' "
                            "(evaluate it again: eeviz evaluate --checkpoint DIR)")
    point = rule.default_point
    if point is None:
        raise EvalFileError(f"'{path}': rule '{rule_name}' has no sweep point at its default {rule.default:g} "
                            "(evaluate it again: eeviz evaluate --checkpoint DIR)")
    return {
        "checkpoint": info.name,
        "method": info.cfg.method,
        "settings": settings_text(info.cfg, info.metrics),
        "dev acc (full)": best_dev(info.metrics),
        "test acc (full)": result.full_model.score,
        "default rule": f"{rule_name} ({rule.param}={rule.default:g})",
        "test acc (rule)": point.score,
        "mean exit layer": point.mean_exit_layer,
        "static acc (same depth)": point.static_score,
        "adaptive gain (pts)": point.adaptive_gain,
        "top exit share": None if point.top_exit_share is None else f"{point.top_exit_share:.0%}",
        "layers saved within 0.5 pt": (None if (saved := layers_saved_near_full(result)) is None else f"{saved:.0%}"),
        "layer speed-up": point.layer_speedup,
        "wall speed-up": point.wall_speedup,
        "split": result.split,
        "batch_size": result.batch_size,
        "device": result.device,
    }


def fmt(value, pct: bool = False, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{100 * value:.2f}" if pct else f"{value:+.2f}" if signed else f"{value:.2f}"
    return str(value)


def render_table(rows: list[dict[str, Any]]) -> str:
    pct = {"dev acc (full)", "test acc (full)", "test acc (rule)", "static acc (same depth)"}
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row[c], c in pct, c == "adaptive gain (pts)") for c in COLUMNS) + " |")
    return "\n".join(lines)


def parse_table(markdown: str) -> list[dict[str, str]]:
    """The rows of the table between the table markers of a README written by ``write_readme``."""
    match = re.search(re.escape(TABLE_START) + r"(.*?)" + re.escape(TABLE_END), markdown, re.S)
    if match is None:
        raise ValueError("no checkpoint table found (markers missing)")
    lines = [l.strip() for l in match.group(1).strip().splitlines() if l.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def write_readme(root: Path, intro: str = "") -> Path:
    infos, problems = find_checkpoints(root)
    rows = []
    for info in infos:
        if not CheckpointLayout(info.path).eval.is_file():
            continue
        try:
            rows.append(row_for(info))
        except EvalFileError as err:  # one broken file costs its own row, never the others'
            problems.append(f"skipping {info.name}: {err}")
            print(problems[-1], file=sys.stderr)
    if not rows:
        raise SystemExit(f"no evaluated checkpoints under {root}: " + "; ".join(problems))
    devices = sorted({r["device"] for r in rows})
    text = f"""# Shipped checkpoints

Every method trained on the offline default: the `minilm` backbone (all-MiniLM-L6-v2, 6 layers) and the
`rotten_tomatoes` task (seeded split {DATA_SPLIT_SEED}: test = {rows[0]['split']} split). Reproduce them all with

```bash
eeviz train --preset demo --out-dir checkpoints --overwrite
eeviz report --root checkpoints
```
{intro}
Accuracies are in percent. "full" is the last layer (no early exit); "rule" is the method's default exit rule
at its default threshold (chosen on the dev split where the checkpoint's config has `rule_defaults`). "static
acc (same depth)" is the accuracy of cutting every example at the rule's mean exit layer (per-layer accuracies
interpolated); "adaptive gain" is the rule's accuracy minus it, in points: what exiting per example buys over
a fixed depth. "top exit share" is the share of test examples at the most common exit layer (near 100%: the
exit hardly depends on the input). "layers saved within 0.5 pt" is the largest saving of any sweep point that
stays within 0.5 point of the full model. Layer speed-up = 6 / mean exit layer. Wall speed-up = time of a full pass through
all layers / time of true early exit with that rule, on the same test batches (batch size
{rows[0]['batch_size']}: rows leave the batch as they exit, so a batch runs until its last row exits), measured
on {', '.join(devices)}. Per-threshold sweeps are in each folder's `eval.json` (the app's Dataset page).

{TABLE_START}
{render_table(rows)}
{TABLE_END}
"""
    out = root / "README.md"
    out.write_text(text)
    return out


def main(argv: list[str] | None = None, prog: str = "eeviz report") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="checkpoint folder [checkpoints/ or $EEVIZ_CHECKPOINTS]")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else checkpoints_root()
    path = write_readme(root)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
