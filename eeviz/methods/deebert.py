"""DeeBERT: dynamic early exiting with entropy (Xin et al., 2020). The baseline.

Heads: per-layer "highways" (own pooler dense+tanh on [CLS], then a classifier) at layers 1..L-1, and the
final classifier on the backbone's pooler at layer L.
Training in two stages: (1) backbone + final classifier with the final CE; (2) those frozen, the highways
with sum_{i<L} CE_i.
Exit: the first layer whose entropy H(p_i) (nats, from log_softmax: never NaN) is below S.
The official eval re-initialised the trained highway poolers; here they are ordinary saved parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .base import (
    ExitMethod, ExitRule, MethodArgs, Phase, PresetSettings, RuleSpec, Signals, State, TrainDefaults,
    entropy_from_logits,
)

from .base import Knob, Lesson, Paper, Toy


@dataclass
class DeebertArgs(MethodArgs):
    pass


class EntropyRule(ExitRule):
    spec = RuleSpec(
        name="entropy",
        param="entropy",
        default=0.3,
        sweep=(1.0, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05, 0.02, 0.0),
        label="entropy threshold S (nats)",
        description="exit at the first layer whose prediction entropy $H(p_i)$ is below $S$",
        minimum=0.0,
        maximum=round(math.log(3), 2),  # without a model; the app's slider runs to log C for C classes
        maximum_per_class=True,
        step=0.01,
        title="entropy",
        series="entropy",
        side="below",
        symbol="S",
    )

    def step(self, state: State, i: int, sig: Signals):
        ent = entropy_from_logits(sig["logits"])
        return ent < float(self.threshold), {"entropy": ent}


def _is_highway(name: str) -> bool:
    return name.startswith("method.highway")


class DeebertMethod(ExitMethod):
    name = "deebert"
    listing_order = 1
    title = "DeeBERT (entropy)"
    Args = DeebertArgs
    rules = {"entropy": EntropyRule}
    default_rule = "entropy"
    signal_names = {"entropy": "entropy H(p_i)"}
    paper = Paper(
        "DeeBERT: Dynamic Early Exiting for Accelerating BERT Inference",
        "Xin et al.",
        "ACL 2020",
        "https://arxiv.org/abs/2004.12993",
    )
    lesson = Lesson(
        summary='"Highway" classifiers after every layer; stop when one is sure.',
        blocks=(
            "Training in two stages: (1) the backbone and the final classifier on the final loss; (2) with those "
            "frozen, the highways on the sum of their losses:",
            r"$$\mathcal{L}_1 = \mathrm{CE}_L \qquad \mathcal{L}_2 = \sum_{i=1}^{L-1} \mathrm{CE}_i$$",
            "Exit at the first layer whose prediction entropy (in nats) is below $S$:",
            r"$$H(p_i) = -\sum_{c} p_i(c) \log p_i(c) < S$$",
        ),
    )

    @classmethod
    def toy_knobs(cls, num_layers: int) -> tuple[Knob, ...]:
        # the toy has two classes: entropies stay below log 2. S = 0.35 exits on the default toy (at layer 5,
        # entropy 0.325); 0.30 was below every layer's entropy there, and the rule never exited
        return (Knob("s", EntropyRule.spec.label, 0.35, 0.0, round(math.log(2), 2), 0.01),)

    @classmethod
    def toy(cls, p_positive, knobs) -> Toy:
        return Toy(rule="entropy", params={"entropy": float(knobs["s"])})
    train_defaults = TrainDefaults(
        lr=2e-5, batch_size=32, epochs=3,
        source="DeeBERT official scripts: HF run_glue, lr 2e-5, 3 epochs per stage, linear decay, no warmup",
    )
    # demo: the preset's shared values (both stages on cached features of the warm-start backbone)
    preset_settings = {"demo": PresetSettings()}

    def __init__(self, args, hidden_size, num_layers, num_labels, dropout=0.1):
        super().__init__(args, hidden_size, num_layers, num_labels, dropout)
        self.highway_poolers = nn.ModuleList(nn.Linear(hidden_size, hidden_size) for _ in range(num_layers - 1))
        self.highway_classifiers = nn.ModuleList(nn.Linear(hidden_size, num_labels) for _ in range(num_layers - 1))
        self.final_classifier = nn.Linear(hidden_size, num_labels)

    def layer_signals(self, i: int, summary, pooled, state: State) -> Signals:
        if i < self.num_layers:
            own = torch.tanh(self.highway_poolers[i - 1](summary))
            return {"logits": self.highway_classifiers[i - 1](self.dropout(own))}
        return {"logits": self.final_classifier(self.dropout(pooled))}

    def phases(self) -> list[Phase]:
        return [
            Phase("final", trainable=lambda n: not _is_highway(n)),
            Phase("highways", trainable=_is_highway, selects_by="rule"),  # the full model is frozen here
        ]

    def loss(self, sig: Signals, labels, phase="main", batch=None):
        per_layer = torch.stack([self.classification_loss(lg, labels).mean() for lg in sig["logits"]])
        if phase == "highways":
            loss = per_layer[:-1].sum()
        else:  # "final" (and "main": a single-stage run trains the final classifier)
            loss = per_layer[-1]
        # parts stay detached tensors on the device: reading them here would sync the host every step
        return loss, {"loss": loss.detach(), **{f"ce_{i + 1}": v for i, v in enumerate(per_layer.detach())}}


METHOD = DeebertMethod
