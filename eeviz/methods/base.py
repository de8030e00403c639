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

from ..value_checks import is_number

Signals = dict[str, torch.Tensor]
State = dict[str, torch.Tensor]


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


# --------------------------------------------------------------------------------------------- rules
def step_format(step: float, integer: bool = False) -> str:
    """The printf format of a slider moving by ``step``: as many decimals as the step has (0.005 -> "%0.3f")."""
    if integer:
        return "%d"
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-12:
        decimals += 1
    return f"%0.{max(decimals, 2)}f"


@dataclass(frozen=True)
class RuleSpec:
    """How a rule is named, what its threshold means, and which values an evaluation sweeps."""

    name: str  # e.g. "patience"
    param: str  # constructor argument swept by evaluate and moved by the app's slider
    default: float
    sweep: tuple[float, ...]  # ordered from the earliest-exiting value to the latest
    label: str  # human text for the threshold, e.g. "patience t"
    description: str = ""  # markdown, formulas in LaTeX ($u_i$): the app shows it as is
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 0.01
    integer: bool = False
    early_exit: bool = True  # False for reference rules that always run every layer
    needs_labels: bool = False
    # --- what the app, evaluation and benchmark show of this rule (nothing outside the method's file knows)
    title: str = ""  # the rule's name in plain words, e.g. "Q-exit" (falls back to ``name``)
    series: str | None = None  # the per-layer signal or rule-state series compared with the threshold
    side: str | None = None  # where the rule stops: "below" / "above" the threshold, or "at_least" it
    series_range: tuple[float, float] | None = None  # fixed y range of that series (e.g. (0, 1.05) for a probability)
    series_bars: bool = False  # draw the series as bars (counts) rather than a line
    stochastic: bool = False  # the rule draws random numbers; ``param`` is then the seed
    follows: str | None = None  # stochastic rules: the signal whose distribution their exit layer follows
    symbol: str = ""  # the threshold's short name in sentences, e.g. "S" (falls back to ``label``)
    # the threshold's top is log C for a model of C classes (an entropy in nats); ``maximum`` is then the
    # fallback when C is unknown or the model is a regression
    maximum_per_class: bool = False
    # the chart of the rule's other state (e.g. a random rule's draw u_i next to λ_i): its y title and range
    state_title: str = ""
    state_range: tuple[float, float] | None = None

    @property
    def display(self) -> str:
        """The rule's plain-word name."""
        return self.title or self.name.replace("_", " ")

    @property
    def number_format(self) -> str:
        """A printf format that shows every value on the ``step`` grid exactly (Streamlit's sliders default to
        "%0.2f", which shows 0.075 as "0.07")."""
        return step_format(self.step, self.integer)

    def maximum_for(self, num_labels: int | None) -> float:
        """The threshold's top for a model of ``num_labels`` classes: log C (rounded up to ``step``) when
        ``maximum_per_class``, else ``maximum``."""
        import math

        if not self.maximum_per_class or num_labels is None or num_labels < 2:
            return self.maximum
        steps = math.ceil(math.log(num_labels) / self.step - 1e-9)
        return round(steps * self.step, 10)


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
        """The rule's state for a batch, before layer 1. A stochastic rule (``RuleSpec.stochastic``) also takes
        ``keys``: one number per row fixed by the example's tokens (``eeviz.example_keys``), so that an example
        gets the same draws in any batch; callers pass it through ``start_rule``."""
        return {}

    def step(self, state: State, i: int, sig: Signals) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def probs(self, state: State, sig: Signals) -> torch.Tensor:
        return sig["probs"]

    def describe(
        self,
        i: int,
        info: dict[str, Any],
        sig: dict[str, Any],
        stop: bool | None = None,
        name_of: Callable[[str], str] | None = None,
    ) -> str:
        """What the rule decides at layer ``i`` (1-based), in plain words: "entropy 0.41 < S = 0.5 → exit".

        ``info``: the rule's state at layer i (``Decision.info`` at i), ``sig``: the layer's signals (numbers, or
        arrays such as ``logits``); ``stop``: whether the rule stopped there (the replay knows; None: judge from
        the comparison); ``name_of``: plain words for series names (the method's ``series_name``). The sentence
        ends with ``EXIT_WORDS`` or ``CONTINUE_WORDS``; the playback puts "layer i: " in front. This generic one
        compares ``spec.series`` with the threshold on ``spec.side``; rules whose decision is more than one
        comparison override it.
        """
        spec, name_of = self.spec, name_of or _plain
        key = spec.series if spec.series in info or spec.series in sig else None
        if key is None or spec.side not in COMPARISONS:
            return verdict(f"{spec.display}: nothing to compare at this layer", stop, False, i >= self.num_layers)
        value, threshold = _number(info.get(key, sig.get(key))), float(self.threshold)
        fired, sign = compare(value, threshold, spec.side)
        text = f"{name_of(key)} {format_number(value, threshold)} {sign} {spec.symbol or spec.label} = {threshold:g}"
        return verdict(text, stop, fired, i >= self.num_layers)


def start_rule(rule: ExitRule, batch_size: int, device: torch.device, keys=None) -> State:
    """``rule.start``, with the rows' example keys for a rule that draws random numbers; deterministic rules keep
    the two-argument ``start``. ``keys``: the keys, or a function that gives them, called only for a random rule
    (true early exit is timed: its deterministic rules do not pay for hashing tokens)."""
    if getattr(getattr(rule, "spec", None), "stochastic", False):  # duck-typed rules without a spec: deterministic
        return rule.start(batch_size, device, keys=keys() if callable(keys) else keys)
    return rule.start(batch_size, device)


# --------------------------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class Paper:
    """The paper a method follows, as the app cites it."""

    title: str
    authors: str  # e.g. "Zhou et al."
    venue: str  # e.g. "NeurIPS 2020"
    url: str


@dataclass(frozen=True)
class PanelSpec:
    """A figure that draws several per-layer series of a method together (e.g. p(i|x), its CDF and λ_i).

    Series names are the trace's signals, the rule's state, or the ``series`` of ``ExitMethod.figure_inputs``.
    The rule's threshold is drawn on the panel that holds the rule's ``series``.
    """

    title: str
    bars: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    caption: str = ""  # markdown, formulas in LaTeX: the app shows it as is
    y_range: tuple[float, float] | None = None
    y_title: str = ""
    hides: tuple[str, ...] = ()  # series this panel stands for without drawing them (log p(i|x) next to p(i|x))


@dataclass(frozen=True)
class LayerMarker:
    """A labelled vertical line at one layer of one panel (e.g. ConsistentEE's memorized layer)."""

    panel: str  # the PanelSpec title it belongs to
    layer: int
    label: str
    name: str = "marker"  # the layout shape's name (tests and the app find markers by it)


@dataclass(frozen=True)
class LayerBand:
    """A labelled span of layers on one panel (e.g. ELBERT's confidence window); ``ok`` colours it."""

    panel: str
    first: int
    last: int
    label: str
    ok: bool = True
    name: str = "band"  # the layout shape's name


@dataclass
class FigureInputs:
    """Plain data a method adds to its figures: extra per-layer series, markers, bands, captions."""

    series: dict[str, Any] = field(default_factory=dict)  # name -> (L,) array
    markers: list[LayerMarker] = field(default_factory=list)
    bands: list[LayerBand] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # captions under the figures: markdown, LaTeX formulas
    titles: dict[str, str] = field(default_factory=dict)  # PanelSpec title -> the figure's title (with a number)
    highlight: dict[str, list[int]] = field(default_factory=dict)  # series -> layers drawn green (the best one)


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


# --------------------------------------------------------------------------------------------- Learn page
@dataclass(frozen=True)
class Lesson:
    """A method's tab of the Learn page.

    ``blocks`` are markdown paragraphs; a block written as ``$$...$$`` is a display formula (LaTeX).
    ``key`` prefixes the tab's chart keys (default: the method's name).
    """

    summary: str
    blocks: tuple[str, ...] = ()
    key: str = ""


@dataclass(frozen=True)
class Knob:
    """One control of a method's toy: a slider (numbers; integers when all four numbers are), a toggle (a bool
    ``default``) or a select box (``choices``). ``key`` names its value in ``ExitMethod.toy``'s ``knobs``."""

    key: str
    label: str
    default: Any
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 0.01
    help: str = ""
    choices: tuple = ()


@dataclass
class Toy:
    """What a method's toy shows, as plain data.

    ``signals`` are added to the toy trace (per-layer arrays, as a model's signals); the rule ``rule`` with
    ``params`` is replayed over it, and ``args`` (the method's ``Args``; None = the defaults) feed
    ``figure_inputs``. ``metrics`` (label -> formatted value) and ``notes`` are shown with the figures;
    ``loss_weights`` is each layer's weight in the training loss, if the method has such weights.
    """

    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, Any] = field(default_factory=dict)
    args: Any = None
    metrics: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    loss_weights: Any = None
    loss_weights_title: str = "Loss weight of each layer"


# --------------------------------------------------------------------------------------------- checking user values
def with_default_threshold(rule_cls: type[ExitRule], name: str, params: dict[str, Any],
                           defaults: dict[str, float]) -> dict[str, Any]:
    """``params`` with the rule's threshold taken from ``defaults`` (a checkpoint's, chosen on its dev split) where
    ``params`` set none: what ``make_rule`` and ``replay_all`` start from."""
    spec = rule_cls.spec
    if spec.param in params or name not in defaults:
        return dict(params)
    value = defaults[name]
    return {**params, spec.param: int(value) if spec.integer else float(value)}


def check_rule_params(method_name: str, rules: dict[str, type[ExitRule]], params: dict[str, dict[str, Any]],
                      num_labels: int | None = None):
    """Check rule parameters a user typed (the trace CLI's ``--set``) against each rule's ``RuleSpec``.

    ``params``: rule name -> {parameter: value}. The threshold (``spec.param``) must be a finite number within
    [``spec.minimum``, ``spec.maximum``], whole when ``spec.integer``; a rule's other parameters must be finite
    when numeric. Returns the values typed (int for integer thresholds); raises ValueError naming every unknown
    rule or parameter and every bad value with its valid range. With ``num_labels`` (a model's class count), a
    threshold whose top follows the classes (``RuleSpec.maximum_for``, DeeBERT's log C) may reach that top too.
    """
    import math

    problems, out = [], {}
    for rule, values in params.items():
        if rule not in rules:
            problems.append(f"method '{method_name}' has no exit rule '{rule}' (rules: {', '.join(rules)})")
            continue
        spec, allowed = rules[rule].spec, rules[rule].allowed_params()
        out[rule] = {}
        for name, value in values.items():
            where = f"{rule}.{name}={value}"
            if name not in allowed:
                problems.append(f"rule '{rule}' has no parameter '{name}' (parameters: {', '.join(sorted(allowed))})")
                continue
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    value = value.strip()  # e.g. a criterion's name: the rule itself checks it
            number = is_number(value)
            if name != spec.param:
                if number and not math.isfinite(value):
                    problems.append(f"{where}: not a finite number")
                out[rule][name] = value
                continue
            top = max(spec.maximum, spec.maximum_for(num_labels))
            kind = "a whole number" if spec.integer else "a number"
            valid = f"{spec.label or name} takes {kind} from {spec.minimum:g} to {top:g}"
            if not number or not math.isfinite(value):
                problems.append(f"{where}: not a finite number; {valid}")
            elif spec.integer and not float(value).is_integer():
                problems.append(f"{where}: not a whole number; {valid}")
            elif not spec.minimum <= value <= top:
                problems.append(f"{where} is out of range; {valid}")
            else:
                out[rule][name] = int(value) if spec.integer else float(value)
    if problems:
        raise ValueError("; ".join(problems))
    return out


# --------------------------------------------------------------------------------------------- decisions in words
EXIT_WORDS = "→ exit"
CONTINUE_WORDS = "→ continue"
# side -> (the stopping comparison, its sign when it holds, its sign when it does not)
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str, str]] = {
    "below": (lambda v, t: v < t, "<", "≥"),
    "above": (lambda v, t: v > t, ">", "≤"),
    "at_least": (lambda v, t: v >= t, "≥", "<"),
}


def _plain(key: str) -> str:
    return key.replace("_", " ")


def _number(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def compare(value: float, threshold: float, side: str) -> tuple[bool, str]:
    """(whether a ``side`` rule stops at ``value``, the sign that says why: "<", "≥", ...)."""
    test, yes, no = COMPARISONS[side]
    fired = bool(test(value, threshold))
    return fired, (yes if fired else no)


def format_number(value: float, against: float | None = None) -> str:
    """A number for a sentence: whole numbers as they are, else 2 decimals, more when 2 would make it look
    equal to ``against`` (0.4996 against 0.5 shows as 0.4996, not 0.50)."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    for digits in (2, 3, 4):
        text = f"{value:.{digits}f}"
        if against is None or float(text) != float(against):
            return text
    return f"{value:.7g}"


def verdict(text: str, stop: bool | None, fired: bool, last: bool) -> str:
    """``text`` and the decision: exit where the rule stops (the last layer always answers), else continue."""
    stop = (fired or last) if stop is None else stop
    if not stop:
        return f"{text} {CONTINUE_WORDS}"
    if fired or not last:
        return f"{text} {EXIT_WORDS}"
    return f"{text}, but the last layer always answers {EXIT_WORDS}"
