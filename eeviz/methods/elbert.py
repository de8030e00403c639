"""ELBERT: fast ALBERT with confidence-window based early exit (Xie et al., 2021).

Heads: one classifier shared by all layers; no other head.
Loss: Σ_i w_i·CE_i with trainable t_i (init 4) for i < L, w_i = σ(t_i) and w_L = L - Σ_{i<L} σ(t_i), so the
weights always sum to L. t is an ordinary saved ``nn.Parameter`` (the official code kept it outside the
model: never saved, clipped or scheduled); it may get its own learning rate (``weight_lr``).

Exit, two stages checked at every layer:
1. puzzlement_i = H(p_i)/log C (normalised entropy, in [0, 1]) below δ;
2. a confidence window over the last N layers (N = max(2, round(L/3)) by default: the paper's 8 of 24).
   With c the predicted class of the window's newest layer, the window passes when it is filled (i >= N),
   c is the argmax at all N layers, and, by ``criterion``:
   - "monotonic" (the paper's preferred one): p_c is non-decreasing from each layer to the next (ties pass,
     as in the official code);
   - "unchanged": nothing more (the label stayed c for N layers);
   - "range": max_k p_c - min_k p_c over the window <= ``range_bound``.
   The official code compares the class-0 probability against 0.5 (binary only); for two classes (with its
   margin at 0) these are the same tests, and they extend to any number of classes.
Rules: ``puzzlement`` (stage 1 alone) and ``two_stage`` (stage 1 OR stage 2, the default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .base import (
    ExitMethod, ExitRule, MethodArgs, RuleSpec, Signals, State, TrainDefaults, entropy_from_logits,
)
from .base import FigureInputs, Knob, LayerBand, Lesson, PanelSpec, Paper, Toy, compare, format_number, verdict

WINDOW_CRITERIA = ("monotonic", "unchanged", "range")


@dataclass
class ElbertArgs(MethodArgs):
    """ELBERT hyperparameters.

    Attributes:
        weight_init: initial value of every t_i (the paper: 4, i.e. w_i = σ(4) ≈ 0.98).
        weight_lr: learning rate of t; None = the run's rate.
    """

    weight_init: float = 4.0
    weight_lr: float | None = None


def elbert_layer_weights(t: torch.Tensor) -> torch.Tensor:
    """Loss weights (L,) from t (L-1,): w_i = σ(t_i) for i < L, w_L = L - Σ σ(t_i). They sum to L."""
    head = torch.sigmoid(t)
    num_layers = t.shape[0] + 1
    return torch.cat([head, (num_layers - head.sum()).reshape(1)])


def puzzlement_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Normalised entropy H(p)/log C in [0, 1] per row."""
    return entropy_from_logits(logits) / math.log(max(2, logits.shape[-1]))


def default_window(num_layers: int) -> int:
    """The paper's window of 8 layers for 24, scaled to the depth: max(2, round(L/3))."""
    return max(2, round(num_layers / 3))


# --------------------------------------------------------------------------------------------- rules
class PuzzlementRule(ExitRule):
    """Stage 1 alone: stop at the first layer whose puzzlement is below δ."""

    spec = RuleSpec(
        name="puzzlement",
        param="delta",
        default=0.3,
        sweep=(1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0),
        label="puzzlement threshold δ",
        description="exit at the first layer whose normalised entropy $H(p_i) / \\log C$ is below $\\delta$",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        title="puzzlement only",
        series="puzzlement",
        side="below",
        series_range=(0.0, 1.05),
        symbol="δ",
    )

    def step(self, state: State, i: int, sig: Signals):
        puzzlement = sig["puzzlement"].float()
        return puzzlement < float(self.threshold), {"puzzlement": puzzlement}


class TwoStageRule(PuzzlementRule):
    """Stage 1 (puzzlement < δ) OR stage 2 (the confidence window of ``window`` layers passes ``criterion``).

    State: the predicted class and its probability at the last N layers, oldest first (class -1 = not seen).
    """

    spec = RuleSpec(
        name="two_stage",
        param="delta",
        default=0.3,
        sweep=PuzzlementRule.spec.sweep,
        label="puzzlement threshold δ",
        description="exit when the puzzlement is below $\\delta$, or when the last $N$ layers pass the "
        "confidence-window criterion",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        title="two stages (puzzlement, then window)",
        series="puzzlement",
        side="below",
        series_range=(0.0, 1.05),
        symbol="δ",
    )

    @classmethod
    def allowed_params(cls) -> set[str]:
        return {"delta", "window", "criterion", "range_bound"}

    def __init__(self, num_layers: int, **params):
        super().__init__(num_layers, **params)
        if self.params.get("window") is None:
            self.params["window"] = default_window(num_layers)
        self.params.setdefault("criterion", "monotonic")
        self.params.setdefault("range_bound", 0.1)
        if self.params["criterion"] not in WINDOW_CRITERIA:
            raise ValueError(f"criterion must be one of {WINDOW_CRITERIA}, got {self.params['criterion']!r}")
        if int(self.params["window"]) < 1:
            raise ValueError(f"window must be at least 1 layer, got {self.params['window']}")
        self.window = int(self.params["window"])

    def start(self, batch_size: int, device: torch.device) -> State:
        if self.params["criterion"] != "range":
            # "monotonic" and "unchanged" only need a streak: how many layers in a row (up to now) kept the
            # class, and for "monotonic" also did not lower its probability; the window passes at streak >= N.
            # Equivalent to checking the last N layers, in O(1) per layer.
            return {
                "streak": torch.zeros(batch_size, device=device),
                "prev_class": torch.full((batch_size,), -1, dtype=torch.long, device=device),
                "prev_confidence": torch.zeros(batch_size, device=device),
            }
        return {
            "classes": torch.full((batch_size, self.window), -1, dtype=torch.long, device=device),
            "confidences": torch.zeros(batch_size, self.window, device=device),
        }

    def window_passes(self, classes: torch.Tensor, confidences: torch.Tensor) -> torch.Tensor:
        """(B,) whether windows (B, N) of predicted classes and their probabilities pass the criterion."""
        same_class = (classes == classes[:, -1:]).all(dim=1)  # the -1 of unseen layers never matches
        criterion = self.params["criterion"]
        if criterion == "monotonic":
            return same_class & (confidences[:, 1:] >= confidences[:, :-1]).all(dim=1)
        if criterion == "range":
            spread = confidences.max(dim=1).values - confidences.min(dim=1).values
            return same_class & (spread <= float(self.params["range_bound"]))
        return same_class

    def step(self, state: State, i: int, sig: Signals):
        stage1, info = super().step(state, i, sig)
        confidence, predicted = sig["probs"].float().max(dim=-1)
        filled = torch.full_like(stage1, i >= self.window)
        if "streak" in state:
            kept = predicted == state["prev_class"]  # the -1 before layer 1 never matches
            if self.params["criterion"] == "monotonic":
                kept = kept & (confidence >= state["prev_confidence"])
            state["streak"] = (state["streak"] + 1) * kept + ~kept  # a broken streak restarts at this layer
            state["prev_class"], state["prev_confidence"] = predicted, confidence
            window_ok = state["streak"] >= self.window
        else:
            state["classes"] = torch.cat([state["classes"][:, 1:], predicted[:, None]], dim=1)
            state["confidences"] = torch.cat([state["confidences"][:, 1:], confidence[:, None]], dim=1)
            window_ok = filled & self.window_passes(state["classes"], state["confidences"])
        info.update({"window_filled": filled, "window_ok": window_ok})
        return stage1 | window_ok, info

    def window_words(self) -> str:
        """What the window asks of its N layers, in plain words."""
        criterion = self.params["criterion"]
        if criterion == "monotonic":
            return "keep their class with a probability that never falls"
        if criterion == "range":
            return f"keep their class with probabilities within {float(self.params['range_bound']):g} of each other"
        return "keep their class"

    def describe(self, i, info, sig, stop=None, name_of=None) -> str:
        """Stage 1 (puzzlement against δ), then stage 2 (the window of the last N layers), in that order."""
        delta, last = float(self.threshold), i >= self.num_layers
        puzzlement = float(info["puzzlement"])
        stage1, sign = compare(puzzlement, delta, "below")
        text = f"puzzlement {format_number(puzzlement, delta)} {sign} δ = {delta:g}"
        if stage1:
            return verdict(f"{text} (stage 1)", stop, True, last)
        n = self.window
        if not float(info.get("window_ok", 0.0)) and not float(info.get("window_filled", 0.0)):
            return verdict(f"{text}, and the window of N = {n} layers is not filled yet", stop, False, last)
        if float(info.get("window_ok", 0.0)):
            return verdict(f"{text}, but the last N = {n} layers {self.window_words()} (stage 2)", stop, True, last)
        return verdict(f"{text}, and the last N = {n} layers do not all {self.window_words()}", stop, False, last)


# --------------------------------------------------------------------------------------------- method
class ElbertMethod(ExitMethod):
    name = "elbert"
    listing_order = 4
    title = "ELBERT (confidence window)"
    Args = ElbertArgs
    rules = {"two_stage": TwoStageRule, "puzzlement": PuzzlementRule}
    default_rule = "two_stage"
    train_defaults = TrainDefaults(
        lr=3e-5, batch_size=32, epochs=3, warmup_ratio=0.1, weight_decay=0.01,
        source="ELBERT: lr 3e-5, batch 32 (ALBERT's GLUE setup otherwise)",
    )
    signal_docs = {"puzzlement": "normalised entropy $H(p_i) / \\log C$, in $[0, 1]$: stage 1 exits below $\\delta$"}
    # "puzzlement" keeps its name: it is the paper's word, and a generic trace quantity
    signal_names = {
        "confidence": "p(predicted class)",
        "window_ok": "window passes",
        "window_filled": "window filled",
    }
    paper = Paper(
        "ELBERT: Fast ALBERT with Confidence-Window Based Early Exit",
        "Xie et al.",
        "ICASSP 2021",
        "https://arxiv.org/abs/2107.00175",
    )
    panels = (
        PanelSpec(
            "Confidence window",
            lines=("confidence",),
            caption="stage 2 exits when the last $N$ layers predict the same class and pass the window criterion "
            "(monotonic: a probability that never falls from one layer to the next)",
            y_range=(0.0, 1.05),
            y_title="probability",
        ),
    )
    lesson = Lesson(
        summary="One classifier shared by all layers, a learned weight per layer, and a two-stage exit.",
        blocks=(
            "Training: trainable $t_i$ set each layer's weight; the last layer takes what is left so the weights "
            "sum to $L$:",
            r"$$w_i = \sigma(t_i)\ (i < L), \qquad w_L = L - \sum_{i<L} \sigma(t_i), \qquad "
            r"\mathcal{L} = \sum_i w_i\,\mathrm{CE}_i$$",
            "Stage 1: exit when the *puzzlement* (normalised entropy) is below δ. Stage 2: exit when, over a window "
            "of the last $N$ layers, the same class is predicted with a probability that never falls.",
            r"$$\mathrm{Puzzlement}(i) = \frac{H(p_i)}{\log C} < \delta$$",
        ),
    )

    @classmethod
    def figure_inputs(cls, args, trace, decision, gold=None) -> FigureInputs:
        """The predicted class's probability per layer, and the window of N layers ending at the exit."""
        window = decision.params.get("window")
        window_ok = decision.info.get("window_ok")
        if window is None or window_ok is None:  # stage 1 alone: no window
            return FigureInputs()
        window, exit_layer = int(window), decision.exit_layer
        passed = bool(np.asarray(window_ok, dtype=float)[exit_layer - 1])
        criterion = decision.params.get("criterion", "monotonic")
        band = LayerBand(
            "Confidence window",
            max(1, exit_layer - window + 1),
            exit_layer,
            f"window N={window}, {criterion}: {'passes' if passed else 'does not pass'}",
            ok=passed,
            name="window",
        )
        return FigureInputs(series={"confidence": np.asarray(trace.confidence, dtype=float)}, bands=[band])

    @classmethod
    def toy_knobs(cls, num_layers: int) -> tuple[Knob, ...]:
        return (
            Knob("delta", "puzzlement threshold δ", 0.3, 0.0, 1.0, 0.01),
            Knob("window", "window N", default_window(num_layers), 2, num_layers, 1),
            Knob("criterion", "window criterion", WINDOW_CRITERIA[0], choices=WINDOW_CRITERIA),
            Knob("tinit", "$t_i$ (all layers)", 4.0, -4.0, 6.0, 0.5),
        )

    @classmethod
    def toy(cls, p_positive, knobs) -> Toy:
        """The two-stage rule over the toy's puzzlement, and the loss weights every t_i = ``tinit`` gives."""
        p = np.clip(np.asarray(p_positive, dtype=np.float64), 1e-4, 1 - 1e-4)
        logits = torch.tensor(np.log(np.stack([1 - p, p], axis=1)))
        weights = elbert_layer_weights(torch.full((len(p) - 1,), float(knobs["tinit"]))).numpy()
        return Toy(
            rule="two_stage",
            params={"delta": knobs["delta"], "window": int(knobs["window"]), "criterion": knobs["criterion"]},
            signals={"puzzlement": puzzlement_from_logits(logits).numpy()},
            loss_weights=weights,
            loss_weights_title="Loss weights w_i (sum L)",
        )

    def __init__(self, args: ElbertArgs, hidden_size, num_layers, num_labels, dropout=0.1):
        super().__init__(args, hidden_size, num_layers, num_labels, dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        self.weight_logits = nn.Parameter(torch.full((num_layers - 1,), float(args.weight_init)))

    def layer_weights(self) -> torch.Tensor:
        """The current loss weights w_1..w_L (sum L)."""
        return elbert_layer_weights(self.weight_logits)

    def layer_signals(self, i: int, summary, pooled, state: State) -> Signals:
        logits = self.classifier(self.dropout(pooled))
        return {"logits": logits, "puzzlement": puzzlement_from_logits(logits.detach())}

    def loss(self, sig: Signals, labels, phase="main", batch=None):
        per_layer = torch.stack([self.classification_loss(lg, labels).mean() for lg in sig["logits"]])
        weights = self.layer_weights()
        loss = (weights * per_layer).sum()
        # parts stay detached tensors on the device: reading them here would sync the host every step
        parts = {"loss": loss.detach()}
        parts.update({f"ce_{i + 1}": v for i, v in enumerate(per_layer.detach())})
        parts.update({f"w_{i + 1}": v for i, v in enumerate(weights.detach())})
        return loss, parts

    def lr_overrides(self) -> dict[str, float]:
        if self.args.weight_lr is None:
            return {}
        return {"method.weight_logits": float(self.args.weight_lr)}


METHOD = ElbertMethod
