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

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import nn
import torch.nn.functional as F

# the contract in one import: rules (``_rules``) and what the app shows of a method (``_presentation``) live in
# their own modules; a method file, and the rest of eeviz, imports every name from here
from ._presentation import FigureInputs, Knob, LayerBand, LayerMarker, Lesson, PanelSpec, Paper, Toy
from ._rules import (
    COMPARISONS, CONTINUE_WORDS, EXIT_WORDS, ExitRule, RuleSpec, Signals, State, check_rule_params, compare,
    format_number, start_rule, step_format, verdict, with_default_threshold,
)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats, from log_softmax so it never overflows or gives NaN."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def class_probs(logits: torch.Tensor, regression: bool) -> torch.Tensor:
    """What a layer reports: softmax of the logits in float32, or the value itself for regression.

    The one definition shared by the engine and trace replay, so both see bit-identical probabilities (a
    float64 softmax in the trace flipped ELBERT's window comparisons on near-tie logits).
    """
    return logits.float() if regression else F.softmax(logits.float(), dim=-1)


def slice_state(state: State, keep: torch.Tensor) -> State:
    """Keep only the rows ``keep`` (bool mask or indices) of every tensor in a state dict."""
    return {k: (v[keep] if isinstance(v, torch.Tensor) and v.dim() > 0 else v) for k, v in state.items()}


# --------------------------------------------------------------------------------------------- methods
@dataclass
class Phase:
    """One stage of a method's training schedule.

    ``trainable(name)`` says which parameters (names as in ``EarlyExitModel.named_parameters``) train in this
    phase (on top of what ``cfg.finetune`` allows); ``name`` is passed to ``ExitMethod.loss`` as ``phase``;
    ``prepare(model, loader)`` runs before the phase with a non-shuffled loader over the training split whose
    batches carry ``labels`` and ``index`` (the example's position in the split): ConsistentEE computes
    memorized layers there. ``epochs`` overrides the run's epoch count for this phase, ``lr`` its rate.
    ``selects_by`` is what picks the phase's best epoch on dev: "full" (the full model's score, for phases
    that train the classifiers) or "rule" (the default exit rule's score, for phases that train only the exit
    machinery: the full model does not change there). ``unused_parameters``: some trainable parameters may
    get no gradient from a batch's loss (not merely a zero one); under DDP the phase then pays a search for
    them every step. Frozen parameters do not count: a phase's ``trainable`` switches their gradients off.
    """

    name: str
    trainable: Callable[[str], bool] = lambda name: True
    prepare: Callable[..., None] | None = None
    epochs: int | None = None
    lr: float | None = None
    selects_by: str = "full"
    unused_parameters: bool = False


@dataclass
class MethodArgs:
    """Base for each method's hyperparameter dataclass (saved in the checkpoint's method_args)."""


# --------------------------------------------------------------------------------------------- training
@dataclass(frozen=True, kw_only=True)
class Hyperparameters:
    """The optimisation settings a paper fixes, declared once: ``eeviz.training.TrainArgs`` extends them.

    ``schedule``: "linear" (linear warmup over ``warmup_ratio`` of the steps, then linear decay to 0) or
    "constant" (warmup, then a fixed rate). ``patience_epochs``: stop a phase after this many epochs without a
    better dev score (None: run every epoch). ``dropout``: the classifier heads' dropout.
    """

    lr: float = 2e-5
    batch_size: int = 32
    epochs: int = 3
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "linear"
    patience_epochs: int | None = None
    max_grad_norm: float = 1.0
    dropout: float = 0.1


@dataclass(frozen=True, kw_only=True)
class TrainDefaults(Hyperparameters):
    """A method's training defaults (``ExitMethod.train_defaults``); ``source`` says where the numbers come from."""

    source: str = ""


@dataclass(frozen=True)
class PresetSettings:
    """A method's own part of a named training preset (``eeviz.presets``), on top of the preset's shared values.

    ``train``: training-flag values (names as in ``TrainArgs``); ``method_args``: fields of the method's ``Args``;
    ``warm_start``: this method trains first and the others start from its backbone weights.
    """

    train: dict[str, Any] = field(default_factory=dict)
    method_args: dict[str, Any] = field(default_factory=dict)
    warm_start: bool = False


class ExitMethod(nn.Module):
    """Heads + loss + exit rules of one early-exit method."""

    name: ClassVar[str]
    title: ClassVar[str]  # human name, e.g. "PABEE (patience)"
    # where the method comes in every list a user sees (lowest first; equal ones by name): the registry finds
    # method files by themselves (``eeviz.methods.method_modules``), so the order is the methods' own
    listing_order: ClassVar[int] = 100
    Args: ClassVar[type] = MethodArgs
    rules: ClassVar[dict[str, type[ExitRule]]] = {}
    default_rule: ClassVar[str]
    supports_regression: ClassVar[bool] = False
    # signal name -> short description, shown in traces and the app
    signal_docs: ClassVar[dict[str, str]] = {}  # markdown, formulas in LaTeX (shown as figure captions)
    # --- the plug-in contract: everything the app, evaluation and benchmark show of the method
    paper: ClassVar[Paper | None] = None
    # plain words for signal and rule-state names (e.g. "halt_prob" -> "p(i|x)"); unnamed ones show as they are
    signal_names: ClassVar[dict[str, str]] = {}
    # whether the exit decision is learned (heads, λ, policies, LTE score): False for a rule with nothing
    # trained behind it (PABEE's counter), which the shipped-checkpoint targets on adaptive exits leave out
    exit_is_learned: ClassVar[bool] = True
    # figures that draw several series together; series not in any panel get a figure of their own
    panels: ClassVar[tuple[PanelSpec, ...]] = ()
    # signals kept in traces for the loss but not drawn on their own (e.g. a logit next to its probability)
    internal_signals: ClassVar[tuple[str, ...]] = ()
    # figure_inputs needs the gold label (the app asks for one when a typed sentence has none)
    figures_need_gold: ClassVar[bool] = False
    # --- training: the paper's optimisation setup, and the method's part of named presets (preset name -> it)
    train_defaults: ClassVar[TrainDefaults] = TrainDefaults()
    preset_settings: ClassVar[dict[str, PresetSettings]] = {}

    def __init__(self, args, hidden_size: int, num_layers: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.args = args
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_labels = num_labels
        self.dropout = nn.Dropout(dropout)
        # rule -> default threshold of this checkpoint (``ModelConfig.rule_defaults``), set by the model
        self.rule_defaults: dict[str, float] = {}

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

    @classmethod
    def figure_inputs(cls, args, trace, decision, gold=None) -> FigureInputs:
        """Extra figure inputs of one decision as plain data (a prior, a reward decomposition, a window).

        A classmethod over the method's ``args`` so the Learn page's toy traces get the same figures as models.
        ``trace`` is an ``eeviz.trace.Trace``, ``decision`` its replay with one rule, ``gold`` a class index.
        """
        return FigureInputs()

    @classmethod
    def series_name(cls, key: str) -> str:
        """The plain-word name of a signal or rule-state series."""
        return cls.signal_names.get(key, key.replace("_", " "))

    def default_threshold(self, rule: str | None = None) -> float:
        """The default threshold of ``rule``: this checkpoint's (chosen on dev), else the paper's (RuleSpec)."""
        name = rule or self.default_rule
        spec = self.rules[name].spec
        return float(self.rule_defaults.get(name, spec.default))

    def make_rule(self, rule: str | None = None, **params) -> ExitRule:
        name = rule or self.default_rule
        if name not in self.rules:
            raise ValueError(f"method '{self.name}' has no exit rule '{name}' (has: {', '.join(self.rules)})")
        params = with_default_threshold(self.rules[name], name, params, self.rule_defaults)
        # the checks the trace CLI's --set gets: a typo'd parameter, patience=2.5, q=nan or a seed past the
        # generator's range gave a silent truncation or a raw OverflowError deep in the rule
        params = {**params, **check_rule_params(self.name, self.rules, {name: params}, self.num_labels)[name]}
        return self.rules[name](self.num_layers, **params)

    # helpers shared by methods -----------------------------------------------------------------
    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-row loss of one layer: CE for classes, MSE for regression (one output)."""
        if self.num_labels == 1:
            return (logits.squeeze(-1).float() - labels.float()) ** 2
        return F.cross_entropy(logits.float(), labels.long(), reduction="none")

    # --- the Learn page: the method in words and formulas, and a toy to play with (plain data; the app draws it)
    lesson: ClassVar[Lesson | None] = None

    @classmethod
    def toy_knobs(cls, num_layers: int) -> tuple[Knob, ...]:
        """The toy's sliders on a ``num_layers``-layer toy (thresholds, toy-only head biases, hyperparameters)."""
        return ()

    @classmethod
    def toy(cls, p_positive, knobs: dict[str, Any]) -> Toy | None:
        """The toy for a binary example (gold: positive) with p(positive) per layer ``p_positive`` (L,) and the
        knobs' values (key -> value); None when the method has no toy."""
        return None


__all__ = [  # the method contract: what a method file (or an outside plug-in) imports from here
    "COMPARISONS", "CONTINUE_WORDS", "EXIT_WORDS", "ExitMethod", "ExitRule", "FigureInputs", "Hyperparameters", "Knob",
    "LayerBand", "LayerMarker", "Lesson", "MethodArgs", "PanelSpec", "Paper", "Phase", "PresetSettings", "RuleSpec",
    "Signals", "State", "TrainDefaults", "Toy", "check_rule_params", "class_probs", "compare", "entropy_from_logits",
    "format_number", "slice_state", "start_rule", "step_format", "verdict", "with_default_threshold",
]
