"""The exit-method interface: heads, training loss and incremental exit rules.

A method turns layer i's hidden state into *signals* (always ``logits``; plus e.g. λ_i or π_i) and
defines a loss over the signals of all layers. An exit rule reads one layer's signals at a time and says,
per row, stop or go on. The very same rule object serves true early exit (``EarlyExitModel.early_exit``)
and the replay of a cached full trace (``eeviz.trace.replay``), so what the app shows is what the model does.

Conventions: layers are numbered 1..L in rules and traces (layer 0 = embeddings is never an exit);
signal tensors have the batch as their first dimension; rule state is a dict of such tensors, so rows can be
dropped from a batch by indexing every entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn
import torch.nn.functional as F

Signals = dict[str, torch.Tensor]
State = dict[str, torch.Tensor]


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats, from log_softmax so it never overflows or gives NaN."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def slice_state(state: State, keep: torch.Tensor) -> State:
    """Keep only the rows ``keep`` (bool mask or indices) of every tensor in a state dict."""
    return {k: (v[keep] if isinstance(v, torch.Tensor) and v.dim() > 0 else v) for k, v in state.items()}


# --------------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class RuleSpec:
    """How a rule is named, what its threshold means, and which values an evaluation sweeps."""

    name: str  # e.g. "patience"
    param: str  # constructor argument swept by evaluate and moved by the app's slider
    default: float
    sweep: tuple[float, ...]  # ordered from the earliest-exiting value to the latest
    label: str  # human text for the threshold, e.g. "patience t"
    description: str = ""
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 0.01
    integer: bool = False
    early_exit: bool = True  # False for reference rules that always run every layer
    needs_labels: bool = False


class ExitRule:
    """Incremental exit rule. Subclasses set ``spec`` and implement ``start`` and ``step``.

    ``step`` returns (stop, info): ``stop`` a bool tensor (B,), ``info`` a dict of (B,) tensors worth
    showing per layer (a counter, a window flag, ...). The engine forces a stop at the last layer.
    ``probs`` gives the class probabilities the decision reports at exit; by default the exit layer's own.
    """

    spec: ClassVar[RuleSpec]

    def __init__(self, num_layers: int, **params: Any):
        self.num_layers = num_layers
        self.params = {self.spec.param: self.spec.default}
        unknown = set(params) - self.allowed_params()
        if unknown:
            raise ValueError(f"rule '{self.spec.name}' has no parameter(s) {sorted(unknown)}")
        self.params.update(params)

    @classmethod
    def allowed_params(cls) -> set[str]:
        return {cls.spec.param}

    @classmethod
    def sweep_for(cls, num_layers: int) -> tuple[float, ...]:
        """The thresholds an evaluation sweeps on a model of ``num_layers`` layers (earliest exit first)."""
        return cls.spec.sweep

    @property
    def threshold(self) -> float:
        return self.params[self.spec.param]

    def start(self, batch_size: int, device: torch.device) -> State:
        return {}

    def step(self, state: State, i: int, sig: Signals) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def probs(self, state: State, sig: Signals) -> torch.Tensor:
        return sig["probs"]


# --------------------------------------------------------------------------------------------- methods
@dataclass
class Phase:
    """One stage of a method's training schedule.

    ``trainable(name)`` says which parameters (names as in ``EarlyExitModel.named_parameters``) train in this
    phase (on top of what ``cfg.finetune`` allows); ``name`` is passed to ``ExitMethod.loss`` as ``phase``;
    ``prepare(model, loader)`` runs before the phase with a non-shuffled loader over the training split whose
    batches carry ``labels`` and ``index`` (the example's position in the split): ConsistentEE computes
    memorized layers there. ``epochs`` overrides the run's epoch count for this phase, ``lr`` its rate.
    """

    name: str
    trainable: Callable[[str], bool] = lambda name: True
    prepare: Callable[..., None] | None = None
    epochs: int | None = None
    lr: float | None = None


@dataclass
class MethodArgs:
    """Base for each method's hyperparameter dataclass (saved in the checkpoint's method_args)."""


class ExitMethod(nn.Module):
    """Heads + loss + exit rules of one early-exit method."""

    name: ClassVar[str]
    title: ClassVar[str]  # human name, e.g. "PABEE (patience)"
    Args: ClassVar[type] = MethodArgs
    rules: ClassVar[dict[str, type[ExitRule]]] = {}
    default_rule: ClassVar[str]
    supports_regression: ClassVar[bool] = False
    # signal name -> short description, shown in traces and the app
    signal_docs: ClassVar[dict[str, str]] = {}

    def __init__(self, args, hidden_size: int, num_layers: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.args = args
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_labels = num_labels
        self.dropout = nn.Dropout(dropout)

    # per-row state carried from layer to layer (e.g. the previous pooled vector for PALBERT)
    def init_state(self, batch_size: int, device: torch.device) -> State:
        return {}

    def layer_signals(self, i: int, summary: torch.Tensor, pooled: torch.Tensor, state: State) -> Signals:
        """Signals of layer ``i`` (1-based).

        Args:
            summary: the layer's sentence vector (B, H) before any pooler: its [CLS] state, or the masked
                mean over tokens (``ModelConfig.pooling``).
            pooled: the backbone pooler's dense + tanh of ``summary`` (B, H): what most heads read.
            state: the per-row state from ``init_state``, updated in place.
        """
        raise NotImplementedError

    def loss(self, sig: Signals, labels: torch.Tensor, phase: str = "main", batch: dict | None = None):
        """Training loss from stacked signals (each (L, B, ...)). Returns (loss, {part: float})."""
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        """The training schedule; most methods train in one phase."""
        return [Phase("main")]

    def lr_overrides(self) -> dict[str, float]:
        """Learning rates for parameter groups, keyed by parameter-name prefix (e.g. PALBERT's λ head)."""
        return {}

    def make_rule(self, rule: str | None = None, **params) -> ExitRule:
        name = rule or self.default_rule
        if name not in self.rules:
            raise ValueError(f"method '{self.name}' has no exit rule '{name}' (has: {', '.join(self.rules)})")
        return self.rules[name](self.num_layers, **params)

    # helpers shared by methods -----------------------------------------------------------------
    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-row loss of one layer: CE for classes, MSE for regression (one output)."""
        if self.num_labels == 1:
            return (logits.squeeze(-1).float() - labels.float()) ** 2
        return F.cross_entropy(logits.float(), labels.long(), reduction="none")
