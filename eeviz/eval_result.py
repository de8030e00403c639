"""The typed result of an evaluation sweep (what ``eval.json`` holds), like ``Trace`` for one sentence.

``EvalResult.from_dict`` validates a loaded file and says what is wrong: keys, and the types and values of
every field the readers use (finite scores, numeric thresholds, at least one layer and one rule, gold labels
within the classes), so one bad file is refused whole rather than crashing a page or the report later;
``to_dict`` gives the JSON back unchanged. The app, the report and the plots read attributes, never string keys.

Adaptive gain: a rule's accuracy minus the *static* accuracy of the same checkpoint cut at the same mean
depth (the per-layer scores linearly interpolated at the rule's mean exit layer). Positive means the rule's
per-example exits beat simply running every example through the same number of layers.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .messages import short_repr
from .value_checks import is_number


class EvalFileError(ValueError):
    """An evaluation file that is missing, not JSON, or not in eval.json's schema."""


def static_score(per_layer_scores: list[float], mean_exit_layer: float) -> float:
    """The score of cutting every example at depth ``mean_exit_layer`` (1..L, interpolated between layers)."""
    layers = np.arange(1, len(per_layer_scores) + 1, dtype=float)
    return float(np.interp(mean_exit_layer, layers, np.asarray(per_layer_scores, dtype=float)))


@dataclass
class SweepPoint:
    """One threshold of a rule's sweep."""

    threshold: float
    score: float
    metrics: dict[str, float]
    mean_exit_layer: float
    layer_speedup: float  # L / mean exit layer
    wall_speedup: float | None  # full-pass time / true early-exit time; None where not timed
    histogram: list[int]  # exits at layers 1..L
    static_score: float | None = None  # the per-layer score interpolated at mean_exit_layer
    adaptive_gain: float | None = None  # (score - static_score) in points (x100)
    top_exit_share: float | None = None  # share of examples at the most common exit layer
    # each stored example's exit layer (1..L) at this point, in the order of ``EvalResult.examples``; None in
    # files written before it was recorded (the examples then only know their exit at the default threshold)
    exit_layers: list[int] | None = None

    @property
    def num_examples(self) -> int:
        return int(sum(self.histogram))


@dataclass
class RuleSweep:
    """A rule's sweep: its threshold parameter, label, default and one point per threshold."""

    param: str
    label: str
    default: float
    early_exit: bool
    points: list[SweepPoint]
    stochastic: bool = False

    @property
    def default_point(self) -> SweepPoint | None:
        return next((p for p in self.points if p.threshold == self.default), None)


@dataclass
class LayerScore:
    layer: int
    score: float
    metrics: dict[str, float]


@dataclass
class FullModel:
    score: float
    metrics: dict[str, float]
    time_s: float | None


@dataclass
class ExampleRecord:
    """One stored example: texts, gold, every layer's prediction and each rule's exit at its default."""

    text: str
    text_b: str | None
    gold: Any
    layer_preds: list[Any]
    exit: dict[str, dict[str, Any]]  # rule -> {"layer", "pred", "correct"}

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalResult:
    checkpoint: str
    method: str
    task: str
    split: str
    metric: str
    num_layers: int
    num_examples: int
    labels: list[str]
    batch_size: int
    device: str
    full_model: FullModel
    per_layer: list[LayerScore]
    rules: dict[str, RuleSweep]
    examples: list[ExampleRecord] = field(default_factory=list)
    precision: str = "fp32"
    timing: str = "default"
    default_rule: str | None = None  # the checkpoint's default exit rule; None in older files
    # runs per timed batch, the fastest kept (``--timing-repeats``); None in files written before it was kept
    timing_repeats: int | None = None

    # ------------------------------------------------------------------ derived
    @property
    def layer_scores(self) -> list[float]:
        return [p.score for p in sorted(self.per_layer, key=lambda p: p.layer)]

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, where: str = "the evaluation") -> "EvalResult":
        """Validate and build; raises ``EvalFileError`` naming the first problem."""

        def fail(what: str):
            raise EvalFileError(f"{where} is not an eeviz evaluation file: {what}")

        if not isinstance(data, dict):
            fail("the top level is not an object")
        kinds = {"checkpoint": str, "method": str, "task": str, "split": str, "metric": str, "num_layers": int,
                 "num_examples": int, "labels": list, "batch_size": int, "device": str, "full_model": dict,
                 "per_layer": list, "rules": dict, "examples": list}
        for key, kind in kinds.items():
            if key not in data:
                fail(f"key '{key}' is missing")
            if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
                fail(f"'{key}' should be {kind.__name__}, got {type(data[key]).__name__}")
        num_layers = data["num_layers"]
        check = _Checker(fail, num_layers, data["labels"])
        check.top_level(data)
        full = check.full_model(_build(FullModel, data["full_model"], "full_model", fail))
        per_layer = [check.layer_score(_build(LayerScore, p, f"per_layer[{i}]", fail), f"per_layer[{i}]")
                     for i, p in enumerate(data["per_layer"])]
        if len(per_layer) != num_layers:
            fail(f"per_layer has {len(per_layer)} entries for {num_layers} layers")
        if sorted(p.layer for p in per_layer) != list(range(1, num_layers + 1)):
            fail(f"per_layer should hold layers 1..{num_layers} once each")
        rules = {}
        for name, entry in data["rules"].items():
            if not isinstance(entry, dict):
                fail(f"rule '{name}' is not an object")
            if not isinstance(entry.get("points", []), list):
                fail(f"rule '{name}' points should be a list, got {type(entry['points']).__name__}")
            points = []
            for i, point in enumerate(entry.get("points", [])):
                part = f"rule '{name}' point {i}"  # not ``where``: ``fail`` names the file with it
                built = _build(SweepPoint, point, part, fail)
                if isinstance(built.histogram, list) and len(built.histogram) != num_layers:
                    fail(f"{part} has a histogram of {len(built.histogram)} bins for {num_layers} layers")
                points.append(check.sweep_point(built, part))
            rules[name] = check.rule(_build(RuleSweep, {**entry, "points": points}, f"rule '{name}'", fail),
                                     f"rule '{name}'")
        examples = [check.example(_build(ExampleRecord, e, f"example {i}", fail), f"example {i}")
                    for i, e in enumerate(data["examples"])]
        for name, sweep in rules.items():
            for i, point in enumerate(sweep.points):
                problem = _exit_layers_problem(point.exit_layers, len(examples), num_layers)
                if problem:
                    fail(f"rule '{name}' point {i}: exit_layers {problem}")
        simple = {k: data[k] for k in kinds if k not in ("full_model", "per_layer", "rules", "examples")}
        extra = {k: data[k] for k in ("precision", "timing", "default_rule") if k in data}
        for key in ("precision", "timing"):
            if key in extra and not isinstance(extra[key], str):
                fail(f"'{key}' should be str, got {type(extra[key]).__name__}")
        if "timing_repeats" in data and data["timing_repeats"] is not None:
            repeats = data["timing_repeats"]
            if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
                fail(f"'timing_repeats' should be a whole number from 1, got {repeats!r}")
            extra["timing_repeats"] = repeats
        if extra.get("default_rule") is not None and not isinstance(extra["default_rule"], str):
            fail(f"'default_rule' should be str or null, got {type(extra['default_rule']).__name__}")
        if extra.get("default_rule") is not None and extra["default_rule"] not in rules:
            fail(f"default_rule '{extra['default_rule']}' is not one of its rules")
        return cls(**simple, **extra, full_model=full, per_layer=per_layer, rules=rules, examples=examples)

    @classmethod
    def load(cls, path: str | Path) -> "EvalResult":
        """Read and validate an eval.json (a folder means its eval.json)."""
        from .checkpoint import EVAL_FILE

        path = Path(path)
        if path.is_dir():
            path = path / EVAL_FILE
        if not path.is_file():
            raise EvalFileError(f"no evaluation file at '{path}' (run: eeviz evaluate --checkpoint DIR)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise EvalFileError(f"'{path}' is not valid JSON ({err})") from err
        return cls.from_dict(data, where=f"'{path}'")


def _exit_layers_problem(exit_layers: Any, num_examples: int, num_layers: int) -> str | None:
    """What is wrong with a point's ``exit_layers`` (None when absent or fine)."""
    if exit_layers is None:
        return None
    if not isinstance(exit_layers, list):
        return f"should be a list, got {type(exit_layers).__name__}"
    if len(exit_layers) != num_examples:
        return f"has {len(exit_layers)} entries for {num_examples} stored examples"
    bad = [v for v in exit_layers if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= num_layers]
    if bad:
        return f"holds {bad[0]!r}, not a layer 1..{num_layers}"
    return None


def _build(kind, data: Any, where: str, fail):
    """``kind(**data)`` with the keys it requires checked first (extra keys of newer files are ignored)."""
    if not isinstance(data, dict):
        fail(f"{where} is not an object")
    names = {f.name for f in fields(kind)}
    required = [f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING]
    missing = [k for k in required if k not in data]
    if missing:
        fail(f"{where} lacks {missing}")
    return kind(**{k: v for k, v in data.items() if k in names})


class _Checker:
    """The types and values of eval.json's fields, each check failing through ``fail`` with the field's name.

    Numbers the readers compute with must be finite; optional ones (None in older or untimed files) may be null.
    A classification file (``labels`` non-empty) stores class indices as gold labels and predictions; a
    regression file (``labels == []``) stores finite numbers.
    """

    def __init__(self, fail, num_layers: int, labels: list):
        self.fail, self.num_layers, self.labels = fail, num_layers, labels

    def number(self, value: Any, where: str, optional: bool = False, low: float | None = None,
               high: float | None = None) -> None:
        if value is None and optional:
            return
        if not is_number(value) or not math.isfinite(value):
            self.fail(f"{where} should be a finite number{' or null' if optional else ''}, got {short_repr(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{'' if low is None else low}..{'' if high is None else high}"
            self.fail(f"{where} is {short_repr(value)}, outside {bounds}")

    def kind(self, value: Any, kind: type, where: str) -> None:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.fail(f"{where} should be {kind.__name__}, got {short_repr(value)}")

    def layer(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.num_layers:
            self.fail(f"{where} is {short_repr(value)}, not a layer 1..{self.num_layers}")

    def metrics(self, value: Any, where: str) -> None:
        self.kind(value, dict, f"{where} metrics")
        for key, number in value.items():
            self.number(number, f"{where} metric '{key}'")

    def label(self, value: Any, where: str) -> None:
        """A gold label or a prediction: a class index, or a finite number in a regression file."""
        if not self.labels:
            self.number(value, where)
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(self.labels):
            self.fail(f"{where} is {short_repr(value)}, not a class index 0..{len(self.labels) - 1}")

    # ------------------------------------------------------------------ one per part of the file
    def top_level(self, data: dict) -> None:
        if self.num_layers < 1:
            self.fail(f"num_layers is {self.num_layers}, should be at least 1")
        self.number(data["num_examples"], "num_examples", low=0)
        self.number(data["batch_size"], "batch_size", low=1)
        if not all(isinstance(name, str) for name in self.labels):
            self.fail(f"labels should be class names (strings), got {short_repr(self.labels)}")
        if not data["rules"]:
            self.fail("rules is empty (an evaluation sweeps at least one exit rule)")

    def full_model(self, full: FullModel) -> FullModel:
        self.number(full.score, "full_model score")
        self.metrics(full.metrics, "full_model")
        self.number(full.time_s, "full_model time_s", optional=True, low=0)
        return full

    def layer_score(self, entry: LayerScore, where: str) -> LayerScore:
        self.layer(entry.layer, f"{where} layer")
        self.number(entry.score, f"{where} score")
        self.metrics(entry.metrics, where)
        return entry

    def sweep_point(self, point: SweepPoint, where: str) -> SweepPoint:
        self.number(point.threshold, f"{where}: threshold")
        self.number(point.score, f"{where}: score")
        self.metrics(point.metrics, f"{where}:")
        self.number(point.mean_exit_layer, f"{where}: mean_exit_layer", low=1, high=self.num_layers)
        self.number(point.layer_speedup, f"{where}: layer_speedup", low=0)
        self.number(point.wall_speedup, f"{where}: wall_speedup", optional=True, low=0)
        self.kind(point.histogram, list, f"{where}: histogram")
        for count in point.histogram:
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self.fail(f"{where}: histogram holds {short_repr(count)}, not a count of examples")
        self.number(point.static_score, f"{where}: static_score", optional=True)
        self.number(point.adaptive_gain, f"{where}: adaptive_gain", optional=True)
        self.number(point.top_exit_share, f"{where}: top_exit_share", optional=True, low=0, high=1)
        return point

    def rule(self, sweep: RuleSweep, where: str) -> RuleSweep:
        self.kind(sweep.param, str, f"{where} param")
        self.kind(sweep.label, str, f"{where} label")
        self.number(sweep.default, f"{where} default")  # a threshold, or a random rule's seed
        self.kind(sweep.early_exit, bool, f"{where} early_exit")
        self.kind(sweep.stochastic, bool, f"{where} stochastic")
        if not sweep.points:
            self.fail(f"{where} has no sweep points")
        return sweep

    def example(self, example: ExampleRecord, where: str) -> ExampleRecord:
        self.kind(example.text, str, f"{where} text")
        if example.text_b is not None:
            self.kind(example.text_b, str, f"{where} text_b")
        self.label(example.gold, f"{where} gold")
        self.kind(example.layer_preds, list, f"{where} layer_preds")
        if len(example.layer_preds) != self.num_layers:
            self.fail(f"{where} layer_preds has {len(example.layer_preds)} entries for {self.num_layers} layers")
        for i, pred in enumerate(example.layer_preds):
            self.label(pred, f"{where} layer_preds[{i}]")
        self.kind(example.exit, dict, f"{where} exit")
        for rule, info in example.exit.items():
            self.kind(info, dict, f"{where} exit '{rule}'")
            if "layer" in info:
                self.layer(info["layer"], f"{where} exit '{rule}' layer")
            if "pred" in info:
                self.label(info["pred"], f"{where} exit '{rule}' pred")
            if "correct" in info and info["correct"] is not None:
                self.kind(info["correct"], bool, f"{where} exit '{rule}' correct")
        return example
