"""PABEE: BERT Loses Patience (Zhou et al., 2020).

Heads: one Linear(H, C) classifier per layer on the shared pooled [CLS].
Loss: weighted average sum_i i·CE_i / sum_i i (deeper layers weigh more); MSE for regression.
Exit: a counter of consecutive identical predictions; stop once it reaches the patience t, i.e. after t+1
agreeing layers. Per row (the official code waits for the whole batch to agree). t = 0 is the full model.
Regression: the counter grows while |out_i - out_{i-1}| < τ (the official τ = 0 never exits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .base import ExitMethod, ExitRule, MethodArgs, PresetSettings, RuleSpec, Signals, State, TrainDefaults

from .base import Knob, Lesson, Paper, Toy, verdict


@dataclass
class PabeeArgs(MethodArgs):
    pass


def layer_weighted_loss(per_layer: torch.Tensor) -> torch.Tensor:
    """sum_i i·loss_i / sum_i i over per-layer mean losses (L,)."""
    weights = torch.arange(1, per_layer.shape[0] + 1, device=per_layer.device, dtype=per_layer.dtype)
    return (weights * per_layer).sum() / weights.sum()


class PatienceRule(ExitRule):
    spec = RuleSpec(
        name="patience",
        param="patience",
        default=2,
        sweep=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
        label="patience t",
        symbol="t",
        description="exit once $t$ consecutive layers repeat the previous layer's prediction ($t = 0$: never)",
        minimum=0,
        maximum=24,
        step=1,
        integer=True,
        title="patience",
        series="counter",
        side="at_least",
        series_bars=True,
    )

    @classmethod
    def allowed_params(cls) -> set[str]:
        return {"patience", "tolerance"}

    @classmethod
    def sweep_for(cls, num_layers: int) -> tuple[float, ...]:
        # t >= L - 1 can only stop at the last layer: sweeping further repeats the full model
        return tuple(range(1, max(2, num_layers)))

    def __init__(self, num_layers: int, **params):
        super().__init__(num_layers, **params)
        self.params.setdefault("tolerance", 0.1)

    def start(self, batch_size: int, device: torch.device) -> State:
        # "prev" starts as NaN: it equals no class and is within no tolerance, so layer 1 never agrees
        return {
            "counter": torch.zeros(batch_size, device=device),
            "prev": torch.full((batch_size,), float("nan"), device=device),
        }

    def step(self, state: State, i: int, sig: Signals):
        # few tensor ops on purpose: this runs after every layer of true early exit
        logits = sig["logits"]
        if logits.shape[-1] == 1:  # regression: agreement = output moved less than τ
            out = logits[:, 0].float()
            same = (out - state["prev"]).abs() < float(self.params["tolerance"])
        else:
            out = logits.argmax(-1).float()
            same = out == state["prev"]
        state["counter"] = (state["counter"] + 1) * same  # reset to 0 on disagreement
        state["prev"] = out
        patience = int(self.params["patience"])
        # t = 0 is the full model: never stop early
        stop = state["counter"] >= (patience if patience > 0 else float("inf"))
        return stop, {"counter": state["counter"]}

    def describe(self, i, info, sig, stop=None, name_of=None) -> str:
        """"layers 1–3 predict the same class: counter 2 = t → exit": the counter says how many layers agree."""
        counter, patience = int(round(float(info["counter"]))), int(self.params["patience"])
        regression = np.asarray(sig.get("logits", np.zeros(2))).reshape(-1).shape[0] == 1
        agree = f"stay within τ = {float(self.params['tolerance']):g}" if regression else "predict the same class"
        if i == 1:
            text = "the first prediction, nothing to compare it with yet: counter 0"
        elif counter == 0:
            text = "the prediction changed: the counter goes back to 0"
        else:
            text = f"layers {i - counter}–{i} {agree}: counter {counter}"
        last = i >= self.num_layers
        if patience <= 0:
            return verdict(f"{text}; t = 0 never exits early", stop, False, last)
        fired = counter >= patience
        if counter == patience:
            return verdict(f"{text} = t", stop, fired, last)
        return verdict(f"{text} {'>' if fired else '<'} t = {patience}", stop, fired, last)


class PabeeMethod(ExitMethod):
    name = "pabee"
    listing_order = 0
    title = "PABEE (patience)"
    Args = PabeeArgs
    rules = {"patience": PatienceRule}
    default_rule = "patience"
    train_defaults = TrainDefaults(
        lr=2e-5, batch_size=32, epochs=10, schedule="constant", patience_epochs=5,
        source="PABEE: Adam, lr from {1e-5, 2e-5, 3e-5, 5e-5}, batch 32, until dev stops improving for 5 epochs",
    )
    # demo: PABEE's loss trains every layer, so it adapts the backbone first, jointly with its heads, on the
    # whole training split (LoRA adapters and fresh heads need a larger rate than full fine-tuning)
    preset_settings = {"demo": PresetSettings(
        train=dict(epochs=2, lr=1e-3, batch_size=32, cached_features=False, keep_epoch="best"), warm_start=True)}
    supports_regression = True
    exit_is_learned = False  # a counter of agreeing predictions: nothing about the exit is trained
    signal_docs = {"counter": "$c_i$: how many layers in a row have repeated the previous layer's prediction"}
    signal_names = {"counter": "patience counter c_i"}
    paper = Paper(
        "BERT Loses Patience: Fast and Robust Inference with Early Exit",
        "Zhou et al.",
        "NeurIPS 2020",
        "https://arxiv.org/abs/2006.04152",
    )
    lesson = Lesson(
        summary="One classifier per layer; stop when the prediction has stopped changing.",
        blocks=(
            "Training: every layer's cross-entropy, deeper layers weighted more:",
            r"$$\mathcal{L} = \frac{\sum_{i=1}^{L} i\,\mathrm{CE}_i}{\sum_{i=1}^{L} i}$$",
            "Exit: a patience counter grows while consecutive layers agree; exit at the first layer $i$ with "
            "$c_i = t$ ($t + 1$ identical predictions in a row):",
            r"$$c_i = \begin{cases} c_{i-1} + 1 & \hat y_i = \hat y_{i-1} \\ 0 & \text{otherwise}\end{cases}$$",
        ),
    )

    @classmethod
    def toy_knobs(cls, num_layers: int) -> tuple[Knob, ...]:
        return (Knob("t", "patience t", 2, 0, num_layers - 1, 1, help="t = 0 disables early exit"),)

    @classmethod
    def toy(cls, p_positive, knobs) -> Toy:
        weights = np.arange(1, len(p_positive) + 1, dtype=float)
        return Toy(
            rule="patience",
            params={"patience": int(knobs["t"])},
            loss_weights=weights / weights.sum(),
            loss_weights_title="Loss weight of each layer, i / Σi",
        )

    def __init__(self, args, hidden_size, num_layers, num_labels, dropout=0.1):
        super().__init__(args, hidden_size, num_layers, num_labels, dropout)
        self.classifiers = nn.ModuleList(nn.Linear(hidden_size, num_labels) for _ in range(num_layers))

    def layer_signals(self, i: int, summary, pooled, state: State) -> Signals:
        return {"logits": self.classifiers[i - 1](self.dropout(pooled))}

    def loss(self, sig: Signals, labels, phase="main", batch=None):
        per_layer = torch.stack([self.classification_loss(lg, labels).mean() for lg in sig["logits"]])
        loss = layer_weighted_loss(per_layer)
        # parts stay detached tensors on the device: reading them here would sync the host every step
        return loss, {"loss": loss.detach(), **{f"ce_{i + 1}": v for i, v in enumerate(per_layer.detach())}}


METHOD = PabeeMethod
