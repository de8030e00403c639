"""Exit rules: what a rule is (``RuleSpec``, ``ExitRule``), how one starts on a batch, how user-given values are
checked against it, and how its decision at a layer reads in words.

Part of the method contract: import it from ``eeviz.methods.base``, which re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch

from ..value_checks import is_number

Signals = dict[str, torch.Tensor]
State = dict[str, torch.Tensor]


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
    # how the answer is formed when it is not the exit layer's own prediction (an average over layers): the app
    # says it under the result, where the confidence shown is not that of the outlined layer (markdown, LaTeX)
    answer: str = ""

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
