"""Accuracy against speed-up for every exit rule of a checkpoint: ``python -m eeviz.evaluate``.

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
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .checkpoint import EVAL_FILE, CheckpointLayout
from .data import Example, load_examples_file, load_task
from .eval_result import (
    EvalFileError,
    EvalResult,
    ExampleRecord,
    FullModel,
    LayerScore,
    RuleSweep,
    SweepPoint,
    static_score,
)
from .files import temp_of, write_atomically
from .methods.base import ExitRule
from .model import MODEL_INPUTS, SUMMARIES, encode_texts
from .metrics import compute_metrics
from .precision import DEFAULT_INFERENCE_PRECISION, INFERENCE_PRECISIONS
from .precision import inference_autocast as _precision_autocast
from .precision import inference_precision as _resolve_precision
from .trace import replay_signals

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


# ---------------------------------------------------------------------------------------------- batches
def make_batch(tokenizer, examples: list[Example], indices: list[int], max_length: int, regression: bool) -> dict:
    """Tokenise ``examples[indices]`` with dynamic padding (``encode_texts``, as ``EarlyExitModel.tokenize``).

    Returns CPU tensors: input_ids, attention_mask (token_type_ids when the tokenizer makes them), ``labels``
    (long; float for regression) and ``index`` (each example's position in its split).
    """
    rows = [examples[i] for i in indices]
    batch = encode_texts(tokenizer, [r.text for r in rows], [r.text_b for r in rows], max_length)
    batch["labels"] = torch.tensor([r.label for r in rows], dtype=torch.float32 if regression else torch.long)
    batch["index"] = torch.tensor(indices, dtype=torch.long)
    return batch


def index_batches(n: int, batch_size: int) -> list[list[int]]:
    """Consecutive index chunks of ``range(n)``."""
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def inference_precision(device: torch.device, requested: str = DEFAULT_INFERENCE_PRECISION) -> str:
    """The precision inference runs in on ``device`` (recorded in eval.json): fp32 unless ``requested``
    says otherwise, as in every tool (``eeviz.precision``); "auto" = bf16 only on a GPU with native bf16."""
    return _resolve_precision(device, requested)


def inference_autocast(device: torch.device, requested: str = DEFAULT_INFERENCE_PRECISION):
    """Autocast for ``inference_precision(device, requested)``; none (float32) by default."""
    return _precision_autocast(device, requested)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_inputs(batch: dict) -> dict:
    """The tensors the network reads (labels and indices stay out of ``early_exit``'s way)."""
    return {k: v for k, v in batch.items() if k in MODEL_INPUTS or k == SUMMARIES}


@torch.inference_mode()
def collect_signals(model, batches: Iterable[dict], precision: str = DEFAULT_INFERENCE_PRECISION,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, torch.Tensor]:
    """Every layer's signals over all ``batches``, concatenated along the batch: each (L, N, ...) float32 on CPU.

    ``progress(batches done, batches in all)`` is called after each batch (the app's progress bar)."""
    device = model.device
    parts: dict[str, list[torch.Tensor]] = {}
    batches = list(batches) if progress is not None else batches
    with inference_autocast(device, precision):
        for done, batch in enumerate(batches, 1):
            sig, _ = model.forward_all(model_inputs(to_device(batch, device)))
            for key, value in sig.items():
                parts.setdefault(key, []).append(value.float().cpu())
            if progress is not None:
                progress(done, len(batches))
    return {k: torch.cat(v, dim=1) for k, v in parts.items()}


def predictions(probs: torch.Tensor) -> np.ndarray:
    """Class index per row, or the value itself for regression (one output)."""
    if probs.shape[-1] == 1:
        return probs[..., 0].double().numpy()
    return probs.argmax(-1).numpy()


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


# ---------------------------------------------------------------------------------------------- timing
def batch_shape(batch: dict) -> tuple[int, ...]:
    """(rows, tokens) of a batch of inputs, (layers, rows, width) of one of cached features."""
    return tuple((batch[SUMMARIES] if SUMMARIES in batch else batch["input_ids"]).shape)


@torch.inference_mode()
def time_points(model, batches: list[dict], rules: dict[Any, ExitRule], repeats: int = 1,
                precision: str = DEFAULT_INFERENCE_PRECISION) -> tuple[float, dict[Any, float]]:
    """Seconds of a full pass through all layers, and of true early exit with each rule, on the same batches.

    Interleaved batch by batch so drifting machine load hits all runs alike; with ``repeats`` > 1 each batch
    counts its fastest of that many runs (robust to other processes' load). Untimed warm-up runs (the full
    pass and every rule) come before the first batch and before every batch larger than all before it in
    some dimension: on a GPU the caching allocator grows (and kernels get chosen) for each larger shape, and
    that one-off cost would otherwise land in whichever run meets the shape first. Smaller shapes reuse what
    the larger ones set up, so a sweep warms up about log(batches) times, not once per batch.
    """
    device = model.device
    on_device = [model_inputs(to_device(b, device)) for b in batches]
    full_s, rule_s = 0.0, {k: 0.0 for k in rules}
    largest: tuple[int, ...] = ()  # the largest size seen so far in each dimension

    def timed(fn) -> float:
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        return time.perf_counter() - start

    with inference_autocast(device, precision):
        for batch in on_device:
            shape = batch_shape(batch)
            if len(shape) != len(largest) or any(a > b for a, b in zip(shape, largest)):
                largest = tuple(map(max, shape, largest)) if len(shape) == len(largest) else shape
                model.forward_all(batch)
                for rule in rules.values():
                    model.early_exit(batch, rule)
            best = {key: math.inf for key in (None, *rules)}
            for _ in range(repeats):
                best[None] = min(best[None], timed(lambda: model.forward_all(batch)))
                for key, rule in rules.items():
                    best[key] = min(best[key], timed(lambda: model.early_exit(batch, rule)))
            full_s += best.pop(None)
            for key, seconds in best.items():
                rule_s[key] += seconds
    return full_s, rule_s


# ---------------------------------------------------------------------------------------------- evaluation
def scores(metric: str, preds: np.ndarray, golds: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in compute_metrics(metric, preds, golds).items()}


def device_description(device: torch.device, precision: str = DEFAULT_INFERENCE_PRECISION) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)}, {inference_precision(device, precision)})"
    threads = torch.get_num_threads()
    return f"{device} ({threads} thread{'s' if threads != 1 else ''})"


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
    seed: int = 0,
    timing_repeats: int = 1,
    timing: str = "default",
    precision: str = DEFAULT_INFERENCE_PRECISION,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Sweep every exit rule of ``model``'s method over ``examples`` (in ``precision``: see ``eeviz.precision``).

    ``progress(batches done, batches in all)`` follows the network pass (see ``collect_signals``)."""
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
    signals = collect_signals(model, batches, precision, progress)

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
            if spec.stochastic:
                torch.manual_seed(seed)
            exit_layer, probs, _ = replay_signals(signals, model.make_rule(name, **{spec.param: value}))
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
        torch.manual_seed(seed)
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


# Choosing a checkpoint's default thresholds on the dev split: the point whose exits depend most on the input
# (largest adaptive gain), among those where no exit layer holds more than MAX_TOP_SHARE of the examples and
# the score is at most MAX_SCORE_DROP below the full model's. Both bounds keep margin for the test split.
MAX_TOP_SHARE = 0.55
MAX_SCORE_DROP = 0.03


def choose_default(sweep: RuleSweep, full_score: float) -> float | None:
    """The threshold to make a rule's default (from a dev-split sweep), or None to keep the paper's."""
    if not sweep.early_exit or sweep.stochastic:
        return None
    fits = [p for p in sweep.points if p.top_exit_share <= MAX_TOP_SHARE and p.score >= full_score - MAX_SCORE_DROP
            and p.mean_exit_layer < len(p.histogram)]
    if not fits:
        return None
    return max(fits, key=lambda p: (round(p.adaptive_gain, 6), p.score)).threshold


def choose_defaults(result: EvalResult) -> dict[str, float]:
    """Every rule's chosen default from ``result`` (which must not be a test-split sweep)."""
    if result.split == "test":
        raise ValueError("defaults are chosen on the dev split, never on test (use --split dev)")
    chosen = {name: choose_default(sweep, result.full_model.score) for name, sweep in result.rules.items()}
    return {k: v for k, v in chosen.items() if v is not None}


def choose_default_rule(result: EvalResult, method_default: str, chosen: dict[str, float]) -> str | None:
    """A checkpoint's default rule when the method's own draws random numbers (its seed is no threshold to
    choose): the rule with a chosen default whose dev point is the most adaptive. None keeps the method's."""
    if not result.rules[method_default].stochastic or not chosen:
        return None

    def gain(name: str) -> float:
        return next(p.adaptive_gain for p in result.rules[name].points if p.threshold == chosen[name])

    return max(chosen, key=gain)


def load_eval(path: str | Path) -> EvalResult:
    """Read and validate an eval.json written by ``eeviz evaluate`` (see ``EvalResult.load``)."""
    return EvalResult.load(path)


def format_table(result: EvalResult) -> str:
    """A plain-text summary: full model, per-layer scores, and every rule's sweep with its adaptive gain."""
    num_layers = result.num_layers
    full_time = "" if result.full_model.time_s is None else f"   full pass {result.full_model.time_s:.3f} s"
    lines = [
        f"{result.method} on {result.task} / {result.split}: {result.num_examples} examples, "
        f"{num_layers} layers, batch size {result.batch_size}, {result.device}",
        f"full model (layer {num_layers}): {result.metric} {result.full_model.score:.4f}{full_time}",
        "per layer: " + "  ".join(f"{p.layer}:{p.score:.3f}" for p in result.per_layer),
        "layer speed-up = L / mean exit layer; wall speed-up = full-pass time / true early-exit time (same batches)",
        "static = the per-layer score at the same mean depth; gain = (score - static) in points; "
        "top share = examples at the most common exit layer",
    ]
    for name, entry in result.rules.items():
        note = "" if entry.early_exit else "  (reference rule: runs every layer)"
        lines.append(f"\nrule {name}: {entry.label} (default {entry.default:g}){note}")
        lines.append(f"  {'threshold':>10} {result.metric[:10]:>10} {'mean exit':>10} {'layer x':>8} {'wall x':>8} "
                     f"{'static':>8} {'gain':>7} {'top share':>9}")
        for p in entry.points:
            wall = "" if p.wall_speedup is None else f"{p.wall_speedup:.2f}"
            mark = " *" if p.threshold == entry.default else ""
            lines.append(f"  {p.threshold:>10g} {p.score:>10.4f} {p.mean_exit_layer:>10.2f} "
                         f"{p.layer_speedup:>8.2f} {wall:>8} {p.static_score:>8.4f} {p.adaptive_gain:>+7.2f} "
                         f"{p.top_exit_share:>9.0%}{mark}")
    return "\n".join(lines)


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
    seed: int = 0,
    timing_repeats: int = 1,
    timing: str = "default",
    precision: str = DEFAULT_INFERENCE_PRECISION,
) -> EvalResult:
    """Load a checkpoint, evaluate it (see ``evaluate_model``) and write the JSON; returns the result."""
    from .checkpoint import load_checkpoint

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_checkpoint(checkpoint, device=device)
    out = Path(json_path) if json_path is not None else Path(checkpoint) / EVAL_FILE
    check_writable(out)  # before the sweep, which can take minutes
    examples, task_name, split_name = load_eval_examples(model, data, task, split, limit)
    result = evaluate_model(model, examples, task=task_name, split=split_name, batch_size=batch_size, seed=seed,
                            timing_repeats=timing_repeats, timing=timing, precision=precision)
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


def main(argv: list[str] | None = None, prog: str = "eeviz evaluate") -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Sweep every exit rule of a checkpoint: metric, mean exit layer, layer and wall-clock speed-up.",
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder (config.json + model.safetensors)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="a .csv/.jsonl file with text, label (and text_b) columns")
    source.add_argument("--task", help="task name or file split like training (default: the checkpoint's task)")
    parser.add_argument("--split", default="test", help="split of --task: train, dev or test (default test)")
    parser.add_argument("--json", help=f"the file to write the results to, its folder made if missing "
                                       f"(default CHECKPOINT/{EVAL_FILE})")
    parser.add_argument("--limit", type=int, help="evaluate only the first N examples")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of every pass, timed ones included")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="seed of the exit rules that draw random numbers")
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
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.timing_repeats < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--batch-size, --timing-repeats and --limit must be positive")
    if args.choose_defaults and (args.data is not None or args.split == "test"):
        parser.error("--choose-defaults needs a dev sweep: --split dev (never the test split)")
    if args.choose_defaults and args.json is None:
        args.json = str(CheckpointLayout(args.checkpoint).dev_eval)  # keep the test sweep in eval.json

    from .checkpoint import CheckpointError

    try:
        result = evaluate_checkpoint(
            args.checkpoint, data=args.data, task=args.task, split=args.split, json_path=args.json,
            limit=args.limit, batch_size=args.batch_size, device=args.device, seed=args.seed,
            timing_repeats=args.timing_repeats, timing=args.timing, precision=args.inference_precision,
        )
    except (CheckpointError, ValueError, FileNotFoundError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    print(f"\nwrote {args.json or Path(args.checkpoint) / EVAL_FILE}")
    if args.choose_defaults:
        from .checkpoint import set_rule_defaults

        from .checkpoint import read_config
        from .methods import get_method

        cfg, _ = read_config(args.checkpoint)
        chosen = choose_defaults(result)
        rule = choose_default_rule(result, get_method(cfg.method).default_rule, chosen)
        set_rule_defaults(args.checkpoint, chosen, rule)
        print("defaults chosen on dev: " + (", ".join(f"{k}={v:g}" for k, v in chosen.items()) or "none (kept)")
              + (f"; default rule {rule}" if rule else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
