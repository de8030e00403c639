"""``EarlyExitModel``: a backbone runner plus one exit method.

Three ways to run it:
- ``forward_all``: every layer, every signal (training, and the per-layer trace the app replays);
- ``early_exit``: true early exit with one exit rule; rows leave the batch as they exit, so later layers run
  only on live rows and skipped layers cost nothing;
- ``trace``: one sentence through every layer, as a plain-data ``Trace``.
"""

from __future__ import annotations

import threading
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .backbone import BackboneRunner
from .config import ModelConfig, dataclass_from_dict
from .inputs import InputError, check_inputs, clean_text, visible, without_surrogates
from .methods import ExitRule, get_method
from .example_keys import example_keys
from .methods.base import Signals, check_rule_params, class_probs, slice_state, start_rule
from .trace import Trace


@dataclass
class ExitResult:
    """True early exit over a batch: per row, where it stopped and what it predicted."""

    exit_layer: torch.Tensor  # (B,) long, 1..L
    probs: torch.Tensor  # (B, C) at exit (regression: (B, 1) values)
    layers_run: int  # sum over rows of the layers each row went through

    @property
    def preds(self) -> torch.Tensor:
        if self.probs.shape[-1] == 1:
            return self.probs[:, 0]
        return self.probs.argmax(-1)


def add_probs(sig: Signals, regression: bool) -> Signals:
    sig["probs"] = class_probs(sig["logits"], regression)
    return sig


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SUMMARIES = "summaries"  # batch key of cached per-layer sentence vectors (L, B, H), see ``forward_all``


TOKENIZER_LOCK = threading.Lock()  # held only while a tokenizer call runs (tens of microseconds per sentence)


def encode_texts(tokenizer, texts, texts_b=None, max_length: int = 128) -> dict[str, torch.Tensor]:
    """Tokenize a batch with dynamic padding: the network's inputs as CPU tensors.

    ``texts_b`` (second sentences of pairs) may be None, or a list of None for single-sentence input.
    """
    if texts_b is not None and all(t is None for t in texts_b):
        texts_b = None
    if texts_b is not None and any(t is None for t in texts_b):  # the tokenizer said "TextInputSequence must be str"
        missing = [i + 1 for i, t in enumerate(texts_b) if t is None]
        raise ValueError(
            f"a batch of sentence pairs lacks the second text of {len(missing)} of {len(texts_b)} rows (row "
            f"{', '.join(map(str, missing[:5]))}{', ...' if len(missing) > 5 else ''}): give every row one, or none"
        )
    from .truncation import check_max_length

    check_max_length(tokenizer, max_length, pair=texts_b is not None)  # below it the tokenizer cuts nothing
    # the Rust tokenizer refuses a str holding a surrogate (TypeError): a JSON "\ud800" or a non-UTF-8 argv byte
    texts = [without_surrogates(t) for t in texts]
    texts_b = None if texts_b is None else [None if t is None else without_surrogates(t) for t in texts_b]
    # A fast tokenizer keeps its truncation and padding settings as state that each call sets, then reads: two
    # threads sharing one tokenizer with different settings could each get the other's (silently wrong lengths).
    with TOKENIZER_LOCK:
        enc = tokenizer(
            list(texts),
            text_pair=None if texts_b is None else list(texts_b),
            padding=True,
            # whatever the tokenizer's own side: the heads read [CLS] at column 0 and BERT/ALBERT count positions
            # from column 0, so a left-padded row was read from a [PAD] at shifted positions (its prediction
            # depended on the sentences beside it); right padding is also what early exit trims
            padding_side="right",
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
    return {k: v for k, v in enc.items() if k in MODEL_INPUTS}


def row_lengths(attention_mask: torch.Tensor) -> list[int] | None:
    """Tokens per row when every row is right-padded (ones, then zeros), else None; one host copy."""
    lengths = attention_mask.sum(1)
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    right_padded = (attention_mask.bool() == (positions[None] < lengths[:, None])).all()
    *lengths, ok = torch.cat([lengths, right_padded[None].to(lengths.dtype)]).tolist()
    return lengths if ok else None


def gather_exits(exits: list[tuple[list[int], torch.Tensor, int]], device: torch.device) -> ExitResult:
    """Put the rows that exited group by group back in batch order (no copy when they already are)."""
    rows = [r for group, _, _ in exits for r in group]
    probs = exits[0][1] if len(exits) == 1 else torch.cat([p for _, p, _ in exits])
    layers = [layer for group, _, layer in exits for _ in group]
    if rows != sorted(rows):
        order = sorted(range(len(rows)), key=rows.__getitem__)  # position of batch row 0, 1, ...
        probs = probs[torch.tensor(order).to(device, non_blocking=True)]
        layers = [layers[p] for p in order]
    exit_layer = torch.tensor(layers).to(device, non_blocking=True)
    return ExitResult(exit_layer=exit_layer, probs=probs, layers_run=sum(layers))


class EarlyExitModel(nn.Module):
    def __init__(self, cfg: ModelConfig, backbone: nn.Module, tokenizer):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.runner = BackboneRunner(backbone)
        # RoBERTa-style checkpoints may come without a (trained) pooler: bring our own dense+tanh.
        self.extra_pooler = None
        if not self.runner.has_pooler:
            self.extra_pooler = nn.Sequential(nn.Linear(self.runner.hidden_size, self.runner.hidden_size), nn.Tanh())
        positions = self.runner.max_positions
        if positions is not None and cfg.max_length > positions:
            # inputs are cut at the backbone's positions (a longer one failed inside its embeddings); the config
            # says so, so that what reads max_length (the app's "the input was cut" notice) reads the true one
            self.cfg = cfg = dataclasses.replace(cfg, max_length=positions)
        if cfg.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', not {cfg.pooling!r}")
        method_cls = get_method(cfg.method)
        if cfg.is_regression and not method_cls.supports_regression:
            raise ValueError(f"method '{cfg.method}' does not support regression tasks")
        args = dataclass_from_dict(method_cls.Args, cfg.method_args, f"{cfg.method} args")
        self.method = method_cls(
            args, self.runner.hidden_size, self.runner.num_layers, cfg.num_labels, cfg.classifier_dropout
        )
        unknown = set(cfg.rule_defaults) - set(method_cls.rules)
        if unknown:
            raise ValueError(f"rule_defaults name rules that {cfg.method} lacks: {sorted(unknown)}")
        try:  # the values the rules get when the app, evaluation or a trace use a default: as typed ones are
            check_rule_params(cfg.method, method_cls.rules, {
                rule: {method_cls.rules[rule].spec.param: value} for rule, value in cfg.rule_defaults.items()
            }, cfg.num_labels)
        except ValueError as err:
            raise ValueError(f"rule_defaults: {err}") from None
        self.method.rule_defaults = {k: float(v) for k, v in cfg.rule_defaults.items()}
        if cfg.default_rule is not None:
            if cfg.default_rule not in method_cls.rules:
                raise ValueError(f"default_rule {cfg.default_rule!r} is not a rule of {cfg.method} "
                                 f"({', '.join(method_cls.rules)})")
            self.method.default_rule = cfg.default_rule  # this checkpoint's, over the class's
        # under LoRA the pretrained weights are frozen for good; phases then pick among the rest
        keep = trainable_names(self)
        for name, param in self.named_parameters():
            param.requires_grad_(name in keep)

    @property
    def num_layers(self) -> int:
        return self.runner.num_layers

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ inputs
    def tokenize(self, texts: list[str], texts_b: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The batch ``early_exit`` and ``forward_all`` take. An empty text is refused (InputError) as ``trace``
        refuses it: it reaches the model as [CLS] [SEP] alone, and its prediction would mean nothing."""
        for which, column in (("text", texts), ("second text", texts_b or [])):
            empty = [i for i, t in enumerate(column, 1) if t is not None and not visible(clean_text(t))]
            if empty:
                raise InputError(f"{which} {empty[0]} of the batch's {len(column)} is empty"
                                 + (f" (and {len(empty) - 1} more)" if len(empty) > 1 else "")
                                 + ": every row needs a sentence")
        enc = encode_texts(self.tokenizer, texts, texts_b, self.cfg.max_length)
        return {k: v.to(self.device) for k, v in enc.items()}

    def summarize(self, hidden: torch.Tensor, mask) -> torch.Tensor:
        """The sentence vector (B, H) of a layer's hidden states: [CLS], or the mean over real tokens.

        ``mask`` is the additive (B, 1, 1, T) mask of ``embed`` (None: no padding), or a (B, 1, T, T) one;
        its first query row says which key columns are real tokens.
        """
        if self.cfg.pooling != "mean":
            return hidden[:, 0]
        if mask is None:
            return hidden.mean(1)
        real = mask[:, 0, 0, :] if mask.dtype == torch.bool else mask[:, 0, 0, :] == 0
        real = real.to(hidden.dtype).unsqueeze(-1)
        return (hidden * real).sum(1) / real.sum(1)

    def pool(self, summary: torch.Tensor) -> torch.Tensor:
        """The pooled state (dense + tanh of the sentence vector) that the heads read."""
        if self.extra_pooler is not None:
            return self.extra_pooler(summary)
        return self.runner.pool(summary)

    def layer_signals(self, i: int, hidden, mask, state) -> Signals:
        """Layer ``i``'s signals (with probabilities) from its hidden states."""
        return self.summary_signals(i, self.summarize(hidden, mask), state)

    def summary_signals(self, i: int, summary: torch.Tensor, state) -> Signals:
        """Layer ``i``'s signals from its sentence vector (B, H): the pooler, the method's heads, probabilities."""
        sig = self.method.layer_signals(i, summary, self.pool(summary), state)
        return add_probs(sig, self.cfg.is_regression)

    def _embed(self, batch):
        return self.runner.embed(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    # ------------------------------------------------------------------ every layer
    def forward_all(self, batch, output_attentions: bool = False):
        """Run all L layers. Returns (signals stacked to (L, B, ...), attentions list or None).

        A batch with ``summaries`` (L, B, H), the sentence vectors of a frozen backbone cached by
        ``eeviz.features``, skips the encoder: only the pooler and the method's heads run (exit-machinery
        training on cached features).
        """
        if SUMMARIES in batch:
            return self.signals_from_summaries(batch[SUMMARIES]), None
        hidden, mask = self._embed(batch)
        state = self.method.init_state(hidden.shape[0], hidden.device)
        per_layer: list[Signals] = []
        attentions = [] if output_attentions else None
        for i in range(1, self.num_layers + 1):
            hidden, att = self.runner.layer(i - 1, hidden, mask, output_attentions)
            if attentions is not None:
                attentions.append(att)
            per_layer.append(self.layer_signals(i, hidden, mask, state))
        stacked = {k: torch.stack([s[k] for s in per_layer]) for k in per_layer[0]}
        return stacked, attentions

    def signals_from_summaries(self, summaries: torch.Tensor) -> Signals:
        """Every layer's signals from cached sentence vectors (L, B, H), stacked to (L, B, ...)."""
        state = self.method.init_state(summaries.shape[1], summaries.device)
        per_layer = [self.summary_signals(i, summaries[i - 1], state) for i in range(1, self.num_layers + 1)]
        return {k: torch.stack([s[k] for s in per_layer]) for k in per_layer[0]}

    @torch.inference_mode()
    def summaries(self, batch) -> torch.Tensor:
        """The sentence vector of every layer (L, B, H) in float32: what ``signals_from_summaries`` reads."""
        hidden, mask = self._embed(batch)
        out = []
        for i in range(1, self.num_layers + 1):
            hidden, _ = self.runner.layer(i - 1, hidden, mask)
            out.append(self.summarize(hidden, mask).float())
        return torch.stack(out)

    def loss(self, batch, labels, phase: str = "main"):
        sig, _ = self.forward_all(batch)
        return self.method.loss(sig, labels, phase=phase, batch=batch)

    # ------------------------------------------------------------------ true early exit
    def make_rule(self, rule: str | None = None, **params) -> ExitRule:
        return self.method.make_rule(rule, **params)

    @torch.inference_mode()
    def early_exit(self, batch, rule: ExitRule, trim_padding: bool = True) -> ExitResult:
        """Run layer by layer and stop each row where ``rule`` says so; finished rows leave the batch.

        Beyond the layers themselves, each layer costs the method's heads, one ``rule.step`` and one
        device-to-host copy of the (B,) stop mask: the only sync. Results do not depend on the batch.

        Args:
            batch: Tokenized inputs (``tokenize``), right- or left-padded.
            rule: A fresh rule from ``make_rule`` (its state starts here).
            trim_padding: When rows leave, also drop the trailing token columns that are padding for every
                row still running (exact: see ``BackboneRunner.narrow``). Only right-padded batches trim.
        """
        hidden, mask = self._embed(batch)
        n, device = hidden.shape[0], hidden.device
        # host-side bookkeeping, so that dropping rows and columns needs no further syncs
        lengths = row_lengths(batch["attention_mask"]) if trim_padding and n > 1 else None
        alive = list(range(n))  # the batch row of each row still running
        mstate = self.method.init_state(n, device)
        rstate = start_rule(rule, n, device, lambda: example_keys(batch))
        exits: list[tuple[list[int], torch.Tensor, int]] = []  # (batch rows, their probs, layer) per exit
        for i in range(1, self.num_layers + 1):
            hidden, _ = self.runner.layer(i - 1, hidden, mask)
            sig = self.layer_signals(i, hidden, mask, mstate)
            stop, _ = rule.step(rstate, i, sig)
            if i == self.num_layers:  # every row still running exits here
                done, keep = list(range(len(alive))), []
            else:
                stop_host = stop.tolist()  # the one host-device sync of this layer
                if not any(stop_host):
                    continue
                done = [r for r, s in enumerate(stop_host) if s]
                keep = [r for r, s in enumerate(stop_host) if not s]
            probs = rule.probs(rstate, sig).float()
            if keep:
                probs = probs[torch.tensor(done).to(device, non_blocking=True)]
            exits.append(([alive[r] for r in done], probs, i))
            if not keep:
                break
            keep_idx = torch.tensor(keep).to(device, non_blocking=True)
            alive = [alive[r] for r in keep]
            length = None
            if lengths is not None:
                live_lengths = [lengths[r] for r in alive]
                length = max(live_lengths)
            hidden, mask = self.runner.narrow(hidden, mask, keep_idx, length)
            if length is not None and min(live_lengths) == length:
                mask = None  # no live row has padding left: adding an all-zero mask is a no-op
            mstate = slice_state(mstate, keep_idx)
            rstate = slice_state(rstate, keep_idx)
        return gather_exits(exits, device)

    # ------------------------------------------------------------------ one sentence, all layers
    @torch.inference_mode()
    def trace(self, text: str, text_b: str | None = None, gold=None, attentions: bool = True) -> Trace:
        """One sentence through every layer, as plain data. The text is checked and cleaned as the app and the
        CLI do (``check_inputs``): an empty one, a pair given to a single-sentence model or a missing second
        sentence raise ``InputError`` (an empty text used to give a prediction from [CLS] [SEP] alone)."""
        text, text_b = check_inputs(text, text_b, self.cfg.is_pair)
        gold = self.checked_gold(gold)
        batch = self.tokenize([text], None if text_b is None else [text_b])
        return self.trace_batch(batch, text, text_b, gold, attentions)

    def checked_gold(self, gold):
        """``gold`` as a trace keeps it: a class index (a class name is turned into its index) or, for regression,
        a finite number; anything else is refused in one line (a wrong gold would mark every answer wrong)."""
        import math
        import numbers

        labels = list(self.cfg.labels)
        if gold is None:
            return None
        if not labels:
            if isinstance(gold, bool) or not isinstance(gold, numbers.Real) or not math.isfinite(gold):
                raise InputError(f"gold {gold!r} is not a finite number (this model predicts a number)")
            return float(gold)
        if isinstance(gold, str) and gold in labels:
            return labels.index(gold)
        if isinstance(gold, numbers.Integral) and not isinstance(gold, bool) and 0 <= gold < len(labels):
            return int(gold)
        raise InputError(f"gold {gold!r} is not one of this model's classes: give a class name ({', '.join(labels)}) "
                         f"or its index (0 to {len(labels) - 1})")

    @torch.inference_mode()
    def trace_batch(self, batch, text: str, text_b: str | None = None, gold=None, attentions: bool = True) -> Trace:
        """``trace`` for an already tokenized batch of one (shared tokenization across methods)."""
        sig, att = self.forward_all(batch, output_attentions=attentions)
        tokens = self.tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
        signals = {
            k: v[:, 0].float().cpu().numpy() for k, v in sig.items() if k not in ("logits", "probs")
        }
        att_np = None
        if attentions and att and att[0] is not None:
            att_np = torch.stack([a[0] for a in att]).float().cpu().numpy()
        return Trace(
            method=self.cfg.method,
            text=text,
            text_b=text_b,
            tokens=list(tokens),
            labels=list(self.cfg.labels),
            logits=sig["logits"][:, 0].float().cpu().numpy(),
            signals=signals,
            gold=gold,
            attentions=att_np,
            checkpoint=getattr(self, "checkpoint_path", ""),
            rule_defaults=dict(self.method.rule_defaults),
            input_key=example_keys(batch)[0],
        )


def build_model(cfg: ModelConfig, hf_config=None) -> EarlyExitModel:
    """A fresh model: pretrained backbone (or random from ``hf_config``), new heads, LoRA if asked."""
    from .backbone import load_backbone
    from .lora import apply_lora

    backbone, tokenizer = load_backbone(cfg.backbone, hf_config=hf_config)
    if cfg.finetune == "lora":
        apply_lora(backbone, rank=cfg.lora_rank, alpha=cfg.lora_alpha)
    return EarlyExitModel(cfg, backbone, tokenizer)


# Under LoRA, besides the adapters: the LayerNorms and the [CLS] pooler (small, and every method reads the
# pooled state, so a frozen pretrained pooler would bottleneck the heads).
LORA_TRAINABLE = ("lora_", "LayerNorm", "layer_norm", "pooler")


def trainable_names(model: EarlyExitModel) -> set[str]:
    """Parameters that training may change under ``cfg.finetune`` (and that checkpoints save)."""
    names = set()
    for name, _ in model.named_parameters():
        if model.cfg.finetune == "full" or not name.startswith("runner."):
            names.add(name)
        elif model.cfg.finetune == "lora" and any(key in name for key in LORA_TRAINABLE):
            names.add(name)
    return names
