"""``EarlyExitModel``: a backbone runner plus one exit method.

Three ways to run it:
- ``forward_all``: every layer, every signal (training, and the per-layer trace the app replays);
- ``early_exit``: true early exit with one exit rule; rows leave the batch as they exit, so later layers run
  only on live rows and skipped layers cost nothing;
- ``trace``: one sentence through every layer, as a plain-data ``Trace``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .backbone import BackboneRunner
from .config import ModelConfig
from .methods import ExitRule, get_method
from .methods.base import Signals, slice_state
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
    sig["probs"] = sig["logits"].float() if regression else F.softmax(sig["logits"].float(), dim=-1)
    return sig


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
        method_cls = get_method(cfg.method)
        if cfg.is_regression and not method_cls.supports_regression:
            raise ValueError(f"method '{cfg.method}' does not support regression tasks")
        from .config import dataclass_from_dict

        args = dataclass_from_dict(method_cls.Args, cfg.method_args, f"{cfg.method} args")
        self.method = method_cls(
            args, self.runner.hidden_size, self.runner.num_layers, cfg.num_labels, cfg.classifier_dropout
        )
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
        if texts_b is not None and all(t is None for t in texts_b):
            texts_b = None
        enc = self.tokenizer(
            list(texts),
            text_pair=None if texts_b is None else list(texts_b),
            padding=True,
            truncation=True,
            max_length=self.cfg.max_length,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.extra_pooler is not None:
            return self.extra_pooler(hidden[:, 0])
        return self.runner.pool(hidden)

    def _embed(self, batch):
        return self.runner.embed(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    # ------------------------------------------------------------------ every layer
    def forward_all(self, batch, output_attentions: bool = False):
        """Run all L layers. Returns (signals stacked to (L, B, ...), attentions list or None)."""
        hidden, mask = self._embed(batch)
        state = self.method.init_state(hidden.shape[0], hidden.device)
        per_layer: list[Signals] = []
        attentions = [] if output_attentions else None
        for i in range(1, self.num_layers + 1):
            hidden, att = self.runner.layer(i - 1, hidden, mask, output_attentions)
            if attentions is not None:
                attentions.append(att)
            sig = self.method.layer_signals(i, hidden, self.pool(hidden), state)
            per_layer.append(add_probs(sig, self.cfg.is_regression))
        stacked = {k: torch.stack([s[k] for s in per_layer]) for k in per_layer[0]}
        return stacked, attentions

    def loss(self, batch, labels, phase: str = "main"):
        sig, _ = self.forward_all(batch)
        return self.method.loss(sig, labels, phase=phase, batch=batch)

    # ------------------------------------------------------------------ true early exit
    def make_rule(self, rule: str | None = None, **params) -> ExitRule:
        return self.method.make_rule(rule, **params)

    @torch.inference_mode()
    def early_exit(self, batch, rule: ExitRule) -> ExitResult:
        """Run layer by layer and stop each row where ``rule`` says so; finished rows leave the batch."""
        hidden, mask = self._embed(batch)
        n = hidden.shape[0]
        device = hidden.device
        alive = torch.arange(n, device=device)
        mstate = self.method.init_state(n, device)
        rstate = rule.start(n, device)
        out_probs = torch.zeros(n, self.cfg.num_labels, device=device)
        exit_layer = torch.full((n,), self.num_layers, dtype=torch.long, device=device)
        layers_run = 0
        for i in range(1, self.num_layers + 1):
            hidden, _ = self.runner.layer(i - 1, hidden, mask)
            layers_run += alive.numel()
            sig = add_probs(self.method.layer_signals(i, hidden, self.pool(hidden), mstate), self.cfg.is_regression)
            stop, _ = rule.step(rstate, i, sig)
            if i == self.num_layers:
                stop = torch.ones_like(stop)
            keep = (~stop).nonzero().squeeze(1)  # the one host-device sync of this layer
            if keep.numel() == alive.numel():
                continue
            # write the exiting rows' results without further syncs
            out_probs[alive] = torch.where(stop[:, None], rule.probs(rstate, sig).float(), out_probs[alive])
            exit_layer[alive] = torch.where(stop, torch.full_like(alive, i), exit_layer[alive])
            if keep.numel() == 0:
                break
            alive = alive[keep]
            hidden = hidden[keep]
            if isinstance(mask, torch.Tensor):
                mask = mask[keep]
            mstate = slice_state(mstate, keep)
            rstate = slice_state(rstate, keep)
        return ExitResult(exit_layer=exit_layer, probs=out_probs, layers_run=layers_run)

    # ------------------------------------------------------------------ one sentence, all layers
    @torch.inference_mode()
    def trace(self, text: str, text_b: str | None = None, gold=None, attentions: bool = True) -> Trace:
        """One sentence through every layer, as plain data."""
        batch = self.tokenize([text], None if text_b is None else [text_b])
        return self.trace_batch(batch, text, text_b, gold, attentions)

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
        )


def build_model(cfg: ModelConfig, hf_config=None) -> EarlyExitModel:
    """A fresh model: pretrained backbone (or random from ``hf_config``), new heads, LoRA if asked."""
    from .backbone import load_backbone
    from .lora import apply_lora

    backbone, tokenizer = load_backbone(cfg.backbone, hf_config=hf_config)
    if cfg.finetune == "lora":
        apply_lora(backbone, rank=cfg.lora_rank, alpha=cfg.lora_alpha)
    return EarlyExitModel(cfg, backbone, tokenizer)


def trainable_names(model: EarlyExitModel) -> set[str]:
    """Parameters that training may change under ``cfg.finetune`` (and that checkpoints save)."""
    names = set()
    for name, _ in model.named_parameters():
        if model.cfg.finetune == "full" or not name.startswith("runner."):
            names.add(name)
        elif model.cfg.finetune == "lora" and ("lora_" in name or "LayerNorm" in name or "layer_norm" in name):
            names.add(name)
    return names
