"""Accuracy against speed-up for every exit rule of a checkpoint: ``python -m eeviz.evaluate``.

The command line (options, the printed table) lives in ``eeviz.evaluate_cli``; the batched network passes
and their timing in ``eeviz.passes``.

One full pass (``forward_all``) caches every layer's signals; each rule is then replayed over the cache for
every threshold of its sweep (``replay_batch``: the same incremental rule code true early exit runs), so a
sweep costs one network pass. Two speed-ups are reported per point:

- ``layer_speedup`` = L / mean exit layer: the saving in transformer layers, free of timing noise;
- ``wall_speedup`` = time of a full pass through all L layers / time of true ``early_exit`` with that rule, on
  the same batches with the same batch size, measured (interleaved batch by batch so both see the same machine
  load) only for a few points: the default threshold and the two ends of the sweep. Rows leave the batch as
  they exit, so at batch size > 1 the saving is smaller than the layer ratio: a batch runs until its last row
  exits. Batch size 1 is the latency setting of the papers.

Results go to JSON (read by the app's Dataset page; ``load_eval`` validates it) and a table on stdout::

    {"checkpoint", "method", "task", "split", "metric", "num_layers", "num_examples", "labels", "batch_size",
     "device", "full_model": {"score", "metrics", "time_s"},
     "per_layer": [{"layer", "score", "metrics"}, ...],
     "rules": {RULE: {"param", "label", "default", "early_exit",
                      "points": [{"threshold", "score", "metrics", "mean_exit_layer", "layer_speedup",
                                  "wall_speedup" (null where not timed), "histogram" (exits at layers 1..L),
                                  "static_score", "adaptive_gain", "top_exit_share",
                                  "exit_layers" (each stored example's exit layer at this point)}]}},
     "examples": [{"text", "text_b", "gold", "layer_preds", "exit": {RULE: {"layer", "pred", "correct"}}}],
     "default_rule"}

``examples`` holds at most ``MAX_EXAMPLES`` rows (texts cut to ``STORED_TEXT_CHARS``); each rule's exit there
is at its default threshold, and every sweep point's ``exit_layers`` gives their exits at that point (ints
only: with ``layer_preds`` that is each example's prediction at any threshold). A rule that draws random
numbers (``RuleSpec.stochastic``: its parameter is a seed) is swept over ``STOCHASTIC_SEEDS`` seeds, so its
points show the spread the draws cause. The file is read back as a typed ``eeviz.eval_result.EvalResult``.

Adaptive gain (points) = score − the static score of cutting every example at the rule's mean exit layer
(per-layer scores interpolated); ``top_exit_share`` = the share of examples at the most common exit layer.
Both say whether a rule's exits really depend on the input.
"""

from __future__ import annotations

import bisect
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .checkpoint import EVAL_FILE
from .data import Example, data_changed_note, load_examples_file, load_task
from .eval_result import EvalResult, ExampleRecord, FullModel, LayerScore, RuleSweep, SweepPoint, static_score
from .files import temp_of, write_atomically
from .methods.base import ExitRule
from .metrics import compute_metrics
from .passes import collect_signals, index_batches, make_batch, predictions, time_points
from .precision import DEFAULT_INFERENCE_PRECISION, inference_precision
from .example_keys import batches_keys
from .trace import replay_signals
from .messages import plural

# Splits are a function of this seed only (not of the training seed), so training, early stopping and
# evaluation always see the same examples.
DATA_SPLIT_SEED = 0
MAX_EXAMPLES = 2000  # examples stored with their per-layer predictions (the Dataset page's table)
REGRESSION_TOLERANCE = 0.5  # a regression prediction counts as "correct" within this distance of gold
STORED_TEXT_CHARS = 2000  # examples in eval.json keep at most this many characters of each text
# which sweep points are timed for the wall-clock speed-up: none, the default threshold and both ends of the
# sweep (what the Dataset page draws), or every point
TIMING_MODES = ("none", "default", "sweep")
STOCHASTIC_SEEDS = 5  # seeds a random rule is evaluated with (its default and the next ones)


def sweep_values(spec, sweep=None, default: float | None = None) -> list[float]:
    """The rule's sweep (``sweep``, else ``spec.sweep``), with its default (``default``, else the spec's)
    inserted in order when it lacks it. A random rule (``spec.stochastic``, whose parameter is a seed) gets at
    least ``STOCHASTIC_SEEDS`` seeds: the default and the ones after it."""
    values = [float(v) for v in (spec.sweep if sweep is None else sweep)]
    default = float(spec.default if default is None else default)
    if getattr(spec, "stochastic", False) and len(set(values) | {default}) < STOCHASTIC_SEEDS:
        seeds = [default + k for k in range(STOCHASTIC_SEEDS)]
        return sorted(set(values) | set(seeds))
    if default not in values:
        descending = len(values) > 1 and values[0] > values[-1]
        bisect.insort(values, default, key=(lambda v: -v) if descending else None)
    return values


# ---------------------------------------------------------------------------------------------- evaluation
def scores(metric: str, preds: np.ndarray, golds: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in compute_metrics(metric, preds, golds).items()}


def device_description(device: torch.device, precision: str = DEFAULT_INFERENCE_PRECISION) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)}, {inference_precision(device, precision)})"
    threads = torch.get_num_threads()
    return f"{device} ({plural(threads, 'thread')})"


def sweep_point(value: float, exit_layer: torch.Tensor, preds: np.ndarray, golds: np.ndarray, metric: str,
                layer_scores: list[float], stored: int | None = None) -> SweepPoint:
    """One threshold's figures: score, exits, speed-up, and how it compares with a static cut at the same depth;
    with ``stored``, the exit layers of the first ``stored`` examples (those eval.json keeps)."""
    num_layers = len(layer_scores)
    metrics = scores(metric, preds, golds)
    mean_exit = float(exit_layer.double().mean())
    histogram = torch.bincount(exit_layer, minlength=num_layers + 1)[1:].tolist()
    static = static_score(layer_scores, mean_exit)
    return SweepPoint(
        threshold=value,
        score=metrics["score"],
        metrics=metrics,
        mean_exit_layer=mean_exit,
        layer_speedup=num_layers / mean_exit,
        wall_speedup=None,
        histogram=histogram,
        static_score=static,
        adaptive_gain=100.0 * (metrics["score"] - static),
        top_exit_share=max(histogram) / max(1, len(exit_layer)),
        exit_layers=None if stored is None else [int(v) for v in exit_layer[:stored].tolist()],
    )


def timed_values(values: list[float], default: float, timing: str) -> list[float]:
    """The sweep points whose wall-clock speed-up is measured under ``timing`` (see ``TIMING_MODES``)."""
    if timing == "none":
        return []
    if timing == "sweep":
        return list(values)
    return list(dict.fromkeys([default, values[0], values[-1]]))


def evaluate_model(
    model,
    examples: list[Example],
    *,
    task: str,
    split: str,
    batch_size: int = 32,
    max_examples: int = MAX_EXAMPLES,
    timing_repeats: int = 1,
    timing: str = "default",
    precision: str = DEFAULT_INFERENCE_PRECISION,
    progress: Callable[[int, int], None] | None = None,
    signals: dict[str, torch.Tensor] | None = None,
) -> EvalResult:
    """Sweep every exit rule of ``model``'s method over ``examples`` (in ``precision``: see ``eeviz.precision``).

    ``progress(batches done, batches in all)`` follows the network pass (see ``collect_signals``). ``signals``:
    that pass's result (``collect_signals`` over these examples, in their order) when the caller already has it,
    e.g. to replay a rule at a threshold the sweep does not hold without a second pass."""
    if not examples:
        raise ValueError(f"no examples to evaluate in {task} / {split}")
    if timing not in TIMING_MODES:
        raise ValueError(f"timing must be one of {TIMING_MODES}, got {timing!r}")
    precision = inference_precision(model.device, precision)  # refuses what the device cannot do, up front
    cfg = model.cfg
    model.eval()
    regression = cfg.is_regression
    num_layers = model.num_layers
    batches = [make_batch(model.tokenizer, examples, idx, cfg.max_length, regression)
               for idx in index_batches(len(examples), batch_size)]
    golds = np.array([e.label for e in examples], dtype=np.float64 if regression else np.int64)
    if signals is None:
        signals = collect_signals(model, batches, precision, progress)
    elif signals["logits"].shape[1] != len(examples):
        raise ValueError(f"signals of {signals['logits'].shape[1]} examples for {len(examples)} examples")
    # each example's key: a random rule's draws follow its seed and the example, not the example's row
    keys = batches_keys(batches)

    layer_preds = [predictions(signals["probs"][i]) for i in range(num_layers)]
    per_layer = []
    for i, preds in enumerate(layer_preds):
        metrics = scores(cfg.metric, preds, golds)
        per_layer.append(LayerScore(layer=i + 1, score=metrics["score"], metrics=metrics))
    layer_scores = [p.score for p in per_layer]

    stored = min(len(examples), max_examples)
    rules_out: dict[str, RuleSweep] = {}
    default_exits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    timed_rules: dict[tuple[str, float], ExitRule] = {}
    for name, rule_cls in model.method.rules.items():
        spec = rule_cls.spec
        default = model.method.default_threshold(name)
        values = sweep_values(spec, rule_cls.sweep_for(num_layers), default)
        points = []
        for value in values:
            exit_layer, probs, _ = replay_signals(signals, model.make_rule(name, **{spec.param: value}), keys)
            preds = predictions(probs)
            points.append(sweep_point(value, exit_layer, preds, golds, cfg.metric, layer_scores, stored))
            if value == default:
                default_exits[name] = (exit_layer.numpy(), preds)
        if spec.early_exit:
            for value in timed_values(values, default, timing):
                timed_rules[name, value] = model.make_rule(name, **{spec.param: value})
        rules_out[name] = RuleSweep(param=spec.param, label=spec.label, default=default,
                                    early_exit=bool(spec.early_exit), points=points,
                                    stochastic=bool(spec.stochastic))

    full_s = None
    if timing != "none":
        full_s, rule_s = time_points(model, batches, timed_rules, timing_repeats, precision)
        for (name, value), seconds in rule_s.items():
            for point in rules_out[name].points:
                if point.threshold == value:
                    point.wall_speedup = full_s / seconds if seconds > 0 else None

    full = per_layer[-1]
    return EvalResult(
        checkpoint=str(getattr(model, "checkpoint_path", "")),
        method=cfg.method,
        task=task,
        split=split,
        metric=cfg.metric,
        num_layers=num_layers,
        num_examples=len(examples),
        labels=list(cfg.labels),
        batch_size=batch_size,
        device=device_description(model.device, precision),
        full_model=FullModel(score=full.score, metrics=full.metrics, time_s=full_s),
        per_layer=per_layer,
        rules=rules_out,
        examples=example_records(examples[:max_examples], layer_preds, default_exits, regression),
        precision=precision,
        timing=timing,
        default_rule=model.method.default_rule,
        timing_repeats=timing_repeats if timing != "none" else None,
    )


def example_records(examples, layer_preds, default_exits, regression: bool) -> list[ExampleRecord]:
    """Per example: texts (cut to ``STORED_TEXT_CHARS``), gold, every layer's prediction and each rule's exit
    at its default threshold."""

    def plain(value):
        return float(value) if regression else int(value)

    def correct(pred, gold) -> bool:
        return bool(abs(pred - gold) <= REGRESSION_TOLERANCE) if regression else bool(pred == gold)

    def cut(text):
        return text if text is None or len(text) <= STORED_TEXT_CHARS else text[:STORED_TEXT_CHARS] + "…"

    out = []
    for row, ex in enumerate(examples):
        exits = {}
        for name, (exit_layer, preds) in default_exits.items():
            exits[name] = {"layer": int(exit_layer[row]), "pred": plain(preds[row]),
                           "correct": correct(plain(preds[row]), ex.label)}
        out.append(ExampleRecord(text=cut(ex.text), text_b=cut(ex.text_b), gold=plain(ex.label),
                                 layer_preds=[plain(p[row]) for p in layer_preds], exit=exits))
    return out


def defaults_changed(result: EvalResult, cfg) -> str:
    """What differs between the defaults ``result`` was swept at and the checkpoint's current ones (``cfg``: its
    ModelConfig: ``default_rule`` and ``rule_defaults`` over the method's own), e.g. "default rule a -> b;
    b t=0.5 -> 0.3"; empty when they agree. A file from before the default rule was recorded is checked on its
    thresholds only."""
    from .methods import get_method

    method = get_method(cfg.method)
    rule = cfg.default_rule or method.default_rule
    changed = []
    if result.default_rule is not None and result.default_rule != rule:
        changed.append(f"default rule {result.default_rule} -> {rule}")
    for name, sweep in result.rules.items():
        if name in method.rules:
            now = float(cfg.rule_defaults.get(name, method.rules[name].spec.default))
            if sweep.default != now:
                changed.append(f"{name} {sweep.param}={sweep.default:g} -> {now:g}")
    return "; ".join(changed)


def load_eval(path: str | Path) -> EvalResult:
    """Read and validate an eval.json written by ``eeviz evaluate`` (see ``EvalResult.load``)."""
    return EvalResult.load(path)


def load_eval_examples(model, data: str | None, task: str | None, split: str, limit: int | None):
    """(examples, task label, split label) from a data file, or from a task's split (default: the checkpoint's)."""
    cfg = model.cfg
    if data is not None:
        examples, _ = load_examples_file(data, labels=list(cfg.labels))
        task_name, split_name = data, "file"
    else:
        task_name = task or cfg.task
        task_data = load_task(task_name, seed=DATA_SPLIT_SEED)
        if list(task_data.labels) != list(cfg.labels):
            raise ValueError(f"task '{task_name}' has labels {task_data.labels}, the checkpoint {list(cfg.labels)}")
        if task is None or task == cfg.task:
            # a data file edited since training re-draws the splits: trained rows may now be test rows
            if changed := data_changed_note(cfg, task_data):
                warnings.warn(changed)
        examples, split_name = task_data.split(split), split
    has_pairs = any(e.text_b is not None for e in examples)
    if cfg.is_pair and not all(e.text_b is not None for e in examples):
        raise ValueError("this checkpoint reads sentence pairs: every example needs a text_b")
    if has_pairs and not cfg.is_pair:
        raise ValueError("this checkpoint reads single sentences, but the data has a text_b column")
    if limit is not None:
        examples = examples[:limit]
    return examples, task_name, split_name


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    data: str | None = None,
    task: str | None = None,
    split: str = "test",
    json_path: str | Path | None = None,
    limit: int | None = None,
    batch_size: int = 32,
    device: str = "auto",
    timing_repeats: int = 1,
    timing: str = "default",
    precision: str = DEFAULT_INFERENCE_PRECISION,
    write: bool = True,
) -> EvalResult:
    """Load a checkpoint, evaluate it (see ``evaluate_model``) and, with ``write``, write the JSON (to
    ``json_path``, default ``CHECKPOINT/eval.json``); returns the result."""
    from .checkpoint import load_checkpoint

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_checkpoint(checkpoint, device=device)
    out = Path(json_path) if json_path is not None else Path(checkpoint) / EVAL_FILE
    if write:
        check_writable(out)  # before the sweep, which can take minutes
    examples, task_name, split_name = load_eval_examples(model, data, task, split, limit)
    result = evaluate_model(model, examples, task=task_name, split=split_name, batch_size=batch_size,
                            timing_repeats=timing_repeats, timing=timing, precision=precision)
    if write:
        write_atomically(out, result.to_json())
    return result


def check_writable(out: Path) -> None:
    """Refuse, in one line, a results path that cannot be written: a folder, or a file in a folder that cannot
    be made or written to. Missing parent folders are created (``--json runs/new/eval.json`` makes runs/new).

    Raises:
        ValueError: Saying which path and why.
    """
    if out.is_dir():
        raise ValueError(f"cannot write the results to {out}: it is a folder; give a file name such as "
                         f"{out / EVAL_FILE}")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"cannot write the results to {out}: {blocking} is a file, not a folder")
    tmp = temp_of(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(b"")  # the file the results are written to first: can it be made here?
    except OSError as err:
        raise ValueError(f"cannot write the results to {out}: {err.strerror or err}"
                         + (f" ({err.filename})" if err.filename else "")) from None
    finally:
        tmp.unlink(missing_ok=True)


if __name__ == "__main__":  # ``python -m eeviz.evaluate``, as ``eeviz evaluate`` (its Ctrl-C line too)
    import sys

    from .cli import run_command
    from .messages import plain_warnings

    plain_warnings()
    raise SystemExit(run_command("evaluate", sys.argv[1:], prog="python -m eeviz.evaluate"))
