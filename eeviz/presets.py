"""Training defaults per method, and named presets that train every method in one command.

Each method declares its paper's optimisation setup in its own file (``ExitMethod.train_defaults``, see
/work/shared/METHODS.md and the papers): every method uses AdamW (plain Adam when ``weight_decay`` is 0),
classifier dropout 0.1 and gradient clipping at 1.0. Command-line flags override those defaults; a preset
overrides them and is itself overridden by flags. A preset's shared values live here; what a method changes
in a preset is the method's own ``preset_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .methods import available_methods, get_method
from .methods.base import TrainDefaults


def method_defaults(method: str) -> TrainDefaults:
    """The training defaults ``method`` declares (``ExitMethod.train_defaults``)."""
    return get_method(method).train_defaults


def defaults_table() -> dict[str, TrainDefaults]:
    """Every available method's training defaults (what the README's table lists)."""
    return {name: method_defaults(name) for name in available_methods()}


# ------------------------------------------------------------------------------------------ presets
# How a preset evaluates every method it trains. One setting for all of them, whatever batch size each
# trains with (PABEE's demo run trains at 32, the others at 128): a wall-clock speed-up depends on the batch
# size (rows leave a batch as they exit, but the batch runs until its last row is done) and on the CPU
# threads, so the table's wall speed-ups compare only when every row is measured the same way. Each timed
# batch keeps its fastest of EVAL_TIMING_REPEATS runs (robust to other work on the machine); on a CPU the
# evaluation runs with EVAL_CPU_THREADS torch threads (the heads-only training already sets 1, the joint
# training does not).
EVAL_BATCH_SIZE = 128
EVAL_TIMING_REPEATS = 3
EVAL_CPU_THREADS = 1


@dataclass(frozen=True)
class Preset:
    """Settings that train every available method the same way.

    ``train``: training-flag values (names as in ``eeviz.training.TrainArgs``) shared by all methods. On top,
    each method's ``preset_settings[name]`` gives its own flag values, ``Args`` fields, and whether it is the
    warm start (it trains first; the others start from its backbone weights).
    """

    name: str
    description: str
    train: dict[str, Any] = field(default_factory=dict)
    eval_split: str = "test"
    eval_batch_size: int = EVAL_BATCH_SIZE  # every method's evaluation, not its training batch size
    eval_timing_repeats: int = EVAL_TIMING_REPEATS
    eval_cpu_threads: int = EVAL_CPU_THREADS
    # after training, choose each rule's default threshold on the dev split (``eeviz.default_thresholds.choose_defaults``)
    choose_defaults: bool = False

    def settings(self, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(training-flag values, method-argument values) of this preset for ``method``."""
        own = get_method(method).preset_settings.get(self.name)
        if own is None:
            return dict(self.train), {}
        return {**self.train, **own.train}, dict(own.method_args)

    def warm_start(self, methods: list[str]) -> str | None:
        """The method among ``methods`` whose backbone weights the others start from (None: each from scratch)."""
        starts = [m for m in methods
                  if (own := get_method(m).preset_settings.get(self.name)) is not None and own.warm_start]
        if len(starts) > 1:
            raise ValueError(f"preset '{self.name}': several methods claim the warm start ({', '.join(starts)})")
        return starts[0] if starts else None

    def training_order(self, methods: list[str]) -> list[str]:
        """``methods`` with the warm-start method first (the others need its checkpoint)."""
        start = self.warm_start(methods)
        return ([start] if start else []) + [m for m in methods if m != start]


PRESETS: dict[str, Preset] = {
    # The shipped demo checkpoints: the offline 6-layer MiniLM on Rotten Tomatoes with LoRA, so each
    # checkpoint stores adapters + LayerNorms + pooler + heads (1-9 MB) and all of them stay far below 60 MB.
    # To fit a 2-core CPU, training is in two steps (not the papers' joint training, which `eeviz train`
    # keeps for any single run):
    # 1. one method (the warm start, named in its own file: its loss trains every layer) adapts the backbone
    #    jointly with its heads on the whole training split (its preset_settings restore joint training);
    # 2. every other method starts from that backbone, freezes the encoder and trains its own heads, pooler
    #    and exit machinery (λ head, policies, layer weights, LTE head) with its own, unchanged loss on the
    #    encoder's per-layer sentence vectors, computed once (--cached-features): 20 epochs of the whole
    #    training split in a minute or two, where joint training afforded one epoch. Each phase keeps its
    #    last epoch (--keep-epoch last). Exit machinery needs those epochs to become input-dependent.
    # Afterwards each rule's default threshold is chosen on the dev split (choose_defaults).
    # Reviews are short, so 64 tokens cover nearly all of them. The heads read the mean over tokens, as
    # all-MiniLM-L6-v2 was trained to be used: its [CLS] state carries almost no signal before layer 4.
    "demo": Preset(
        name="demo",
        description="every method on minilm (6 layers) + rotten_tomatoes with LoRA rank 8, then evaluate on test",
        train=dict(
            backbone="minilm", task="rotten_tomatoes", finetune="lora", lora_rank=8, max_length=64, pooling="mean",
            lr=2e-3, batch_size=128, epochs=20, warmup_ratio=0.06, weight_decay=0.01, schedule="linear",
            patience_epochs=None, seed=42, train_limit=None, cached_features=True, keep_epoch="last",
        ),
        choose_defaults=True,
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    return PRESETS[name]
