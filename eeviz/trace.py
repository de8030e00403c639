"""The per-layer trace of one example, and the replay of exit rules over it.

A ``Trace`` is plain data (numpy arrays in a dataclass) recorded from one full forward pass through every
layer. ``replay`` runs an exit rule over it with the same code true early exit uses, so threshold sliders
only re-run rules, never the network.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import torch

from .attention import attention_rollout, cumulative_cls_attention
from .methods.base import ExitRule, State, class_probs, start_rule


@dataclass
class Trace:
    """Everything one example's full pass produced, layer by layer (index 0 = layer 1)."""

    method: str
    text: str
    tokens: list[str]
    labels: list[str]  # class names; [] = regression
    logits: np.ndarray  # (L, C); regression: (L, 1)
    signals: dict[str, np.ndarray] = field(default_factory=dict)  # method signals, each (L, ...)
    text_b: str | None = None
    gold: int | float | None = None
    attentions: np.ndarray | None = None  # (L, heads, T, T)
    checkpoint: str = ""
    # the checkpoint's own thresholds (rule -> value, chosen on its dev split; ``ModelConfig.rule_defaults``):
    # ``replay_all`` starts from them, as the app and evaluation do, not from the papers'
    rule_defaults: dict[str, float] = field(default_factory=dict)
    # a number fixed by the example's tokens (``eeviz.example_keys``): a random rule's draws follow it, so this
    # sentence gets the draws it gets in any batch (None: a trace without tokens to key, e.g. the Learn toy)
    input_key: int | None = None

    # ------------------------------------------------------------------ derived per-layer quantities
    @property
    def num_layers(self) -> int:
        return int(self.logits.shape[0])

    @property
    def is_regression(self) -> bool:
        return len(self.labels) == 0

    @cached_property
    def probs(self) -> np.ndarray:
        """(L, C) class probabilities; for regression, the predicted value (L, 1).

        Computed exactly as the engine computes them (float32 softmax), so replay equals true early exit.
        """
        logits = torch.from_numpy(np.ascontiguousarray(self.logits, dtype=np.float32))
        return class_probs(logits, self.is_regression).numpy()

    @property
    def preds(self) -> np.ndarray:
        """(L,) each layer's own prediction (class index, or value for regression)."""
        if self.is_regression:
            return self.logits[:, 0].astype(np.float64)
        return self.probs.argmax(-1)

    @property
    def confidence(self) -> np.ndarray:
        """(L,) probability of each layer's predicted class."""
        return self.probs.max(-1)

    @property
    def entropy(self) -> np.ndarray:
        """(L,) entropy in nats of each layer's class distribution."""
        p = np.clip(self.probs, 1e-12, 1.0)
        return -(self.probs * np.log(p)).sum(-1)

    @property
    def puzzlement(self) -> np.ndarray:
        """(L,) normalised entropy H(p)/log C in [0, 1] (ELBERT's puzzlement)."""
        return self.entropy / math.log(max(2, len(self.labels)))

    @cached_property
    def cls_cumulative(self) -> np.ndarray | None:
        """(L, heads, T): cumulative [CLS] attention (ELBERT), or None without attentions."""
        return None if self.attentions is None else cumulative_cls_attention(self.attentions)

    @cached_property
    def rollout(self) -> np.ndarray | None:
        """(L, T): head-averaged attention rollout with the residual path."""
        return None if self.attentions is None else attention_rollout(self.attentions)

    def label_name(self, pred) -> str:
        if self.is_regression:
            return f"{float(pred):.3f}"
        return self.labels[int(pred)]

    def stacked_signals(self) -> dict[str, torch.Tensor]:
        """Every layer's signals as the (L, 1, ...) batch of one that ``replay_signals`` reads."""
        sig = {
            "logits": torch.from_numpy(np.asarray(self.logits, dtype=np.float32))[:, None],
            "probs": torch.from_numpy(np.asarray(self.probs, dtype=np.float32))[:, None],
        }
        for name, values in self.signals.items():
            sig[name] = torch.as_tensor(np.asarray(values))[:, None]
        return sig

    def layer_signals(self, layer: int) -> dict[str, torch.Tensor]:
        """Layer ``layer``'s (1-based) signals as the batch-of-one tensors an exit rule reads."""
        return {k: v[layer - 1] for k, v in self.stacked_signals().items()}

    # ------------------------------------------------------------------ serialisation
    def to_dict(self, attentions: bool = True) -> dict[str, Any]:
        out = {
            "method": self.method,
            "text": self.text,
            "text_b": self.text_b,
            "tokens": list(self.tokens),
            "labels": list(self.labels),
            "gold": self.gold,
            "checkpoint": self.checkpoint,
            "rule_defaults": dict(self.rule_defaults),
            "input_key": None if self.input_key is None else str(self.input_key),  # 64 bits: a string survives JSON readers
            "logits": self.logits.tolist(),
            "probs": self.probs.tolist(),
            "preds": self.preds.tolist(),
            "entropy": self.entropy.tolist(),
            "signals": {k: np.asarray(v).tolist() for k, v in self.signals.items()},
        }
        if attentions and self.attentions is not None:
            out["attentions"] = np.asarray(self.attentions).tolist()
        return out

    def to_json(self, attentions: bool = True, **kwargs) -> str:
        return json.dumps(self.to_dict(attentions=attentions), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trace":
        att = data.get("attentions")
        return cls(
            method=data["method"],
            text=data["text"],
            text_b=data.get("text_b"),
            tokens=list(data["tokens"]),
            labels=list(data["labels"]),
            gold=data.get("gold"),
            checkpoint=data.get("checkpoint", ""),
            rule_defaults=dict(data.get("rule_defaults") or {}),  # traces written before they kept them: none
            input_key=None if data.get("input_key") is None else int(data["input_key"]),
            logits=np.asarray(data["logits"], dtype=np.float32),
            signals={k: np.asarray(v) for k, v in data.get("signals", {}).items()},
            attentions=None if att is None else np.asarray(att, dtype=np.float32),
        )

    @classmethod
    def from_json(cls, text: str) -> "Trace":
        return cls.from_dict(json.loads(text))

    def to_frame(self):
        """One row per layer: prediction, confidence, entropy, class probabilities and method signals."""
        import pandas as pd

        rows: dict[str, Any] = {"layer": np.arange(1, self.num_layers + 1)}
        rows["prediction"] = [self.label_name(p) for p in self.preds]
        if not self.is_regression:
            rows["confidence"] = self.confidence
            rows["entropy"] = self.entropy
            for c, name in enumerate(self.labels):
                rows[f"p({name})"] = self.probs[:, c]
        for name, values in self.signals.items():
            values = np.asarray(values)
            if values.ndim == 1:
                rows[name] = values
        return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- replay
@dataclass
class Decision:
    """What an exit rule decided for one example."""

    rule: str
    params: dict[str, float]
    exit_layer: int  # 1..L
    pred: int | float
    probs: np.ndarray  # (C,) at exit (regression: (1,))
    info: dict[str, np.ndarray]  # rule state per layer (L,), also past the exit: what it would have seen
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "params": self.params,
            "exit_layer": self.exit_layer,
            "pred": self.pred,
            "label": self.label,
            "probs": np.asarray(self.probs).tolist(),
            "info": {k: np.asarray(v).tolist() for k, v in self.info.items()},
        }


def replay_signals(
    signals: dict[str, torch.Tensor], rule: ExitRule, keys: Sequence[int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Replay ``rule`` over cached per-layer signals of a batch: the one replay loop (a trace is a batch of one).

    Every row goes through every layer, so the rule's state evolves as in a full trace; a row's exit is its
    first stop, or layer L. True early exit (``EarlyExitModel.early_exit``) runs the same ``rule.step``.

    Args:
        signals: Stacked per-layer signals, each (L, B, ...), with ``logits`` and ``probs``.
        rule: A fresh exit rule (its state starts here).
        keys: The rows' example keys (``eeviz.example_keys``), for a rule that draws random numbers.

    Returns:
        (exit_layer, probs, info): the 1-based exit layer (B,) long; the probabilities the rule reports at
        exit (B, C) (regression: (B, 1) values); the rule's per-layer state, each (L, B), also past the exit
        (what the rule would have seen).
    """
    num_layers, size = signals["logits"].shape[:2]
    device = signals["logits"].device
    state: State = start_rule(rule, size, device, keys)
    exit_layer = torch.zeros(size, dtype=torch.long, device=device)
    exit_probs: torch.Tensor | None = None
    info: dict[str, list[torch.Tensor]] = {}
    for layer in range(1, num_layers + 1):
        sig = {k: v[layer - 1] for k, v in signals.items()}
        stop, step_info = rule.step(state, layer, sig)
        for key, value in step_info.items():
            info.setdefault(key, []).append(value.detach().reshape(size).float())
        if layer == num_layers:
            stop = torch.ones_like(stop)
        newly = stop & (exit_layer == 0)
        probs = rule.probs(state, sig).float()
        exit_probs = probs.clone() if exit_probs is None else exit_probs
        exit_probs[newly] = probs[newly]
        exit_layer[newly] = layer
    assert exit_probs is not None
    return exit_layer, exit_probs, {k: torch.stack(v) for k, v in info.items()}


def replay(trace: Trace, rule: ExitRule) -> Decision:
    """Run ``rule`` over a full trace, layer by layer, exactly as true early exit does."""
    keys = None if trace.input_key is None else [trace.input_key]
    exit_layer, probs, info = replay_signals(trace.stacked_signals(), rule, keys)
    exit_probs = probs[0].double().numpy()
    pred: int | float = float(exit_probs[0]) if trace.is_regression else int(np.argmax(exit_probs))
    return Decision(
        rule=rule.spec.name,
        params=dict(rule.params),
        exit_layer=int(exit_layer[0]),
        pred=pred,
        probs=exit_probs,
        info={k: v[:, 0].double().numpy() for k, v in info.items()},
        label=trace.label_name(pred),
    )


def replay_all(trace: Trace, params: dict[str, dict[str, float]] | None = None) -> dict[str, Decision]:
    """Every rule of the trace's method at the checkpoint's thresholds (``Trace.rule_defaults``; the paper's
    where it chose none), each overridden by ``params[rule]``. Values are checked against each rule's range
    (``check_rule_params``): a ValueError names every unknown rule or parameter and every bad value."""
    from .methods import get_method
    from .methods.base import check_rule_params, with_default_threshold

    method = get_method(trace.method)
    num_labels = len(trace.labels) or 1
    # a typo'd rule or parameter would otherwise give that rule's defaults without a word, and patience=2.5 a
    # silent truncation
    checked = check_rule_params(method.name, method.rules, params or {}, num_labels)
    decisions = {}
    for name, rule_cls in method.rules.items():
        values = with_default_threshold(rule_cls, name, checked.get(name, {}), trace.rule_defaults)
        decisions[name] = replay(trace, rule_cls(trace.num_layers, **values))
    return decisions


if __name__ == "__main__":  # ``python -m eeviz.trace``, as ``eeviz trace`` (its Ctrl-C line too)
    import sys

    from .cli import run_command
    from .messages import plain_warnings

    plain_warnings()
    raise SystemExit(run_command("trace", sys.argv[1:], prog="python -m eeviz.trace"))
