"""Configuration dataclasses with ``to_dict``/``from_dict`` that warn on unknown keys."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .messages import short_repr
from .value_checks import is_number
from .methods import DEFAULT_METHOD

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, warning (not failing) on unknown keys.

    Old checkpoints must keep loading when a field is renamed or dropped, so unknown
    keys are reported and ignored rather than raising.
    """
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        warnings.warn(f"ignoring unknown {where or cls.__name__} keys: {', '.join(unknown)}", stacklevel=2)
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class ModelConfig:
    """Everything needed to rebuild an early-exit model (saved as a checkpoint's config.json)."""

    backbone: str = "minilm"  # alias, HF hub name or local path
    method: str = DEFAULT_METHOD
    task: str = "rotten_tomatoes"
    labels: list[str] = field(default_factory=lambda: ["rotten", "fresh"])  # [] = regression
    metric: str = "accuracy"
    is_pair: bool = False
    max_length: int = 128
    # The sentence vector every head reads, before the backbone's pooler (dense + tanh): "cls" = the [CLS]
    # state (the papers' setup), "mean" = the masked mean over tokens (how sentence-transformer backbones
    # such as all-MiniLM-L6-v2 were trained: their early-layer [CLS] states carry almost no signal).
    pooling: str = "cls"
    # "full": every backbone weight trains and is saved; "lora": low-rank adapters + LayerNorms
    # train and only they are saved (the frozen base comes from the backbone package/hub).
    finetune: str = "full"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    classifier_dropout: float = 0.1
    method_args: dict[str, Any] = field(default_factory=dict)  # the method's own hyperparameters
    # this checkpoint's default threshold per exit rule (rule -> value), chosen on the dev split by
    # ``eeviz evaluate --split dev --choose-defaults``; rules not listed use their RuleSpec default
    rule_defaults: dict[str, float] = field(default_factory=dict)
    # this checkpoint's default exit rule when it is not the method's (chosen on dev when the method's own is
    # random, e.g. PonderNet's sampling); None = the method's ``default_rule``
    default_rule: str | None = None
    # what the model was trained on (``eeviz.data_checks.task_fingerprint``): sha256 of the task's rows and the
    # train/dev/test sizes, so that evaluation can tell when the data changed since ({} = not recorded: older
    # checkpoints, or models not trained by eeviz)
    data_fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return max(1, len(self.labels))

    @property
    def is_regression(self) -> bool:
        return len(self.labels) == 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return dataclass_from_dict(cls, data, "model config")

    @classmethod
    def checked(cls, data: Any) -> "ModelConfig":
        """``from_dict`` for data read from a file: every field checked against ``MODEL_SCHEMA``.

        Raises ConfigError listing every bad field (its value and what it should be).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"the model config must be a JSON object, not {type(data).__name__} ({short_repr(data)})")
        problems = [p for name, value in data.items() if name in MODEL_SCHEMA for p in _field_problems(name, value)]
        if problems:
            raise ConfigError("; ".join(problems))
        whole = {k: int(v) for k, v in data.items() if k in MODEL_SCHEMA and MODEL_SCHEMA[k][0] == "int"}
        return cls.from_dict({**data, **whole})  # 128.0 -> 128


class ConfigError(ValueError):
    """A config read from a file that does not fit its schema, with every bad field named."""


# The schema of a checkpoint's model config: field -> (kind, allowed values or (low, high) bounds, or None).
# "int"/"float" refuse booleans and non-finite numbers; bounds are inclusive.
MODEL_SCHEMA: dict[str, tuple[str, Any]] = {
    "backbone": ("str", None),
    "method": ("str", None),
    "task": ("str", None),
    "labels": ("list[str]", None),
    "metric": ("str", None),
    "is_pair": ("bool", None),
    "max_length": ("int", (1, 100_000)),
    "pooling": ("str", ("cls", "mean")),
    "finetune": ("str", ("full", "lora")),
    "lora_rank": ("int", (1, 4096)),
    "lora_alpha": ("float", (1e-6, 1e6)),
    "classifier_dropout": ("float", (0.0, 0.99)),
    "method_args": ("dict", None),
    "rule_defaults": ("dict", None),
    "data_fingerprint": ("dict", None),
}


def _field_problems(name: str, value: Any) -> list[str]:
    """What is wrong with one field's value (empty list: nothing)."""
    import math

    kind, allowed = MODEL_SCHEMA[name]
    number = is_number(value)
    ok_type = {
        "str": isinstance(value, str) and value.strip() != "",
        "bool": isinstance(value, bool),
        "int": number and float(value).is_integer(),
        "float": number and math.isfinite(value),
        "list[str]": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "dict": isinstance(value, dict) and all(isinstance(k, str) for k in value),
    }[kind]
    words = {"str": "a non-empty string", "bool": "true or false", "int": "a whole number", "float": "a finite number",
             "list[str]": "a list of strings", "dict": "a JSON object"}[kind]
    if not ok_type:
        return [f"'{name}' is {short_repr(value)}, expected {words}"]
    if isinstance(allowed, tuple) and kind == "str" and value not in allowed:
        return [f"'{name}' is {short_repr(value)}, expected one of {', '.join(map(repr, allowed))}"]
    if isinstance(allowed, tuple) and kind in ("int", "float") and not allowed[0] <= value <= allowed[1]:
        return [f"'{name}' is {short_repr(value)}, expected {words} from {allowed[0]} to {allowed[1]}"]
    if kind == "list[str]" and len(set(value)) < len(value):  # class names map to class indices: one each
        repeated = list(dict.fromkeys(v for v in value if value.count(v) > 1))
        return [f"'{name}' repeats {', '.join(short_repr(v) for v in repeated[:3])}: each name must be different"]
    return []
