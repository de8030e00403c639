"""The typed result of an evaluation sweep (what ``eval.json`` holds), like ``Trace`` for one sentence.

``EvalResult.from_dict`` validates a loaded file and says what is wrong; ``to_dict`` gives the JSON back
unchanged. The app, the report and the plots read attributes, never string keys.

Adaptive gain: a rule's accuracy minus the *static* accuracy of the same checkpoint cut at the same mean
depth (the per-layer scores linearly interpolated at the rule's mean exit layer). Positive means the rule's
per-example exits beat simply running every example through the same number of layers.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np


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
        full = _build(FullModel, data["full_model"], "full_model", fail)
        per_layer = [_build(LayerScore, p, f"per_layer[{i}]", fail) for i, p in enumerate(data["per_layer"])]
        if len(per_layer) != num_layers:
            fail(f"per_layer has {len(per_layer)} entries for {num_layers} layers")
        rules = {}
        for name, entry in data["rules"].items():
            if not isinstance(entry, dict):
                fail(f"rule '{name}' is not an object")
            points = []
            for i, point in enumerate(entry.get("points", [])):
                built = _build(SweepPoint, point, f"rule '{name}' point {i}", fail)
                if len(built.histogram) != num_layers:
                    fail(f"rule '{name}' point {i} has a histogram of {len(built.histogram)} bins for "
                         f"{num_layers} layers")
                points.append(built)
            rules[name] = _build(RuleSweep, {**entry, "points": points}, f"rule '{name}'", fail)
        examples = [_build(ExampleRecord, e, f"example {i}", fail) for i, e in enumerate(data["examples"])]
        for name, sweep in rules.items():
            for i, point in enumerate(sweep.points):
                problem = _exit_layers_problem(point.exit_layers, len(examples), num_layers)
                if problem:
                    fail(f"rule '{name}' point {i}: exit_layers {problem}")
        simple = {k: data[k] for k in kinds if k not in ("full_model", "per_layer", "rules", "examples")}
        extra = {k: data[k] for k in ("precision", "timing", "default_rule") if k in data}
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

