"""Training defaults per method (one table) and named presets that train every method in one command.

``METHOD_DEFAULTS`` holds each paper's optimisation setup (see /work/shared/METHODS.md and the papers): every
method uses AdamW (plain Adam when ``weight_decay`` is 0), classifier dropout 0.1 and gradient clipping at 1.0.
Command-line flags override the table; a preset overrides the table and is itself overridden by flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainDefaults:
    """One method's optimisation defaults.

    ``schedule``: "linear" (linear warmup over ``warmup_ratio`` of the steps, then linear decay to 0) or
    "constant" (warmup, then a fixed rate: the PABEE/PALBERT setup). ``patience_epochs``: stop a phase after
    this many epochs without a better dev score (None: run every epoch). ``source`` says where the numbers
    come from.
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
    source: str = ""


METHOD_DEFAULTS: dict[str, TrainDefaults] = {
    "pabee": TrainDefaults(
        lr=2e-5, batch_size=32, epochs=10, schedule="constant", patience_epochs=5,
        source="PABEE: Adam, lr from {1e-5, 2e-5, 3e-5, 5e-5}, batch 32, until dev stops improving for 5 epochs",
    ),
    "deebert": TrainDefaults(
        lr=2e-5, batch_size=32, epochs=3,
        source="DeeBERT official scripts: HF run_glue, lr 2e-5, 3 epochs per stage, linear decay, no warmup",
    ),
    "pondernet": TrainDefaults(
        lr=2e-5, batch_size=32, epochs=25, schedule="constant", patience_epochs=5,
        source="PALBERT paper's PonderNet baseline: Adam, fixed lr, up to 25 epochs, early stop after 5",
    ),
    "palbert": TrainDefaults(
        lr=2e-5, batch_size=32, epochs=25, schedule="constant", patience_epochs=5,
        source="PALBERT: Adam, fixed lr from {1e-5, 2e-5, 3e-5, 5e-5}, batch {16, 32, 128}, up to 25 epochs, "
        "early stop after 5 epochs without dev improvement; the Lambda head's own lr is a method argument",
    ),
    "elbert": TrainDefaults(
        lr=3e-5, batch_size=32, epochs=3, warmup_ratio=0.1, weight_decay=0.01,
        source="ELBERT: lr 3e-5, batch 32 (ALBERT's GLUE setup otherwise)",
    ),
    "consistentee": TrainDefaults(
        lr=2e-5, batch_size=32, epochs=3, warmup_ratio=0.1, weight_decay=0.01,
        source="ConsistentEE: BERT-base fine-tuning defaults (the paper gives none); epochs per training phase",
    ),
}


def method_defaults(method: str) -> TrainDefaults:
    """The defaults of ``method``, or the generic ones for a method missing from the table."""
    return METHOD_DEFAULTS.get(method, TrainDefaults())


# ------------------------------------------------------------------------------------------ presets
@dataclass(frozen=True)
class Preset:
    """Settings that train every available method the same way.

    ``train``: training-flag values (names as in ``eeviz.train.TrainArgs``) shared by all methods;
    ``per_method``: further flag values for one method; ``method_args``: fields of a method's ``Args``.
    """

    name: str
    description: str
    train: dict[str, Any] = field(default_factory=dict)
    per_method: dict[str, dict[str, Any]] = field(default_factory=dict)
    method_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_split: str = "test"
    warm_start: str | None = None  # train this method first; the others start from its backbone weights

    def settings(self, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(training-flag values, method-argument values) of this preset for ``method``."""
        return {**self.train, **self.per_method.get(method, {})}, dict(self.method_args.get(method, {}))


PRESETS: dict[str, Preset] = {
    # The shipped demo checkpoints: the offline 6-layer MiniLM on Rotten Tomatoes with LoRA, so each
    # checkpoint stores adapters + LayerNorms + pooler + heads (1-9 MB) and all of them stay far below 60 MB.
    # To fit a 2-core CPU, PABEE (whose loss trains every layer) adapts the backbone on the whole training
    # split first; every other method then starts from PABEE's backbone adapters (its own heads start fresh)
    # and trains with its own loss on the first 4,800 training examples. LoRA adapters and fresh heads need a
    # larger rate than full fine-tuning; reviews are short, so 64 tokens cover nearly all of them. The heads
    # read the mean over tokens, as all-MiniLM-L6-v2 was trained to be used: its [CLS] state carries almost
    # no signal before layer 4, which would leave the first layers at the majority class.
    "demo": Preset(
        name="demo",
        description="every method on minilm (6 layers) + rotten_tomatoes with LoRA rank 8, then evaluate on test",
        train=dict(
            backbone="minilm", task="rotten_tomatoes", finetune="lora", lora_rank=8, max_length=64, pooling="mean",
            lr=1e-3, batch_size=32, epochs=1, warmup_ratio=0.06, weight_decay=0.01, schedule="linear",
            patience_epochs=None, seed=42, train_limit=4800,
        ),
        per_method={
            "pabee": dict(epochs=2, train_limit=None),
            # two stages (final classifier, then highways) / three phases per round: fewer examples each
            "deebert": dict(train_limit=3200),
            "consistentee": dict(train_limit=3200),
        },
        # the geometric prior's λ_p = 0.1 was set for 12-24 layers (expected depth 10); 0.25 keeps the prior's
        # shape on 6 layers (expected depth 4) instead of piling 59% of its mass on the last layer
        method_args={"consistentee": dict(rounds=1), "pondernet": dict(prior_lambda=0.25),
                     "palbert": dict(prior_lambda=0.25)},
        warm_start="pabee",
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return PRESETS[name]
