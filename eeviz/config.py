"""Configuration dataclasses with ``to_dict``/``from_dict`` that warn on unknown keys."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
    method: str = "pabee"
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
