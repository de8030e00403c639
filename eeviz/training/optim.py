"""Optimisation pieces: the module DDP wraps, AdamW parameter groups, and the learning-rate schedule."""

from __future__ import annotations

import torch
from torch import nn


class LossModule(nn.Module):
    """What DDP wraps: its forward runs every layer and the method's loss, so gradients sync across processes."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.parts: dict = {}  # the last loss's parts, detached and on the device: read once per epoch

    def forward(self, batch: dict, phase: str) -> torch.Tensor:
        signals, _ = self.model.forward_all(batch)
        loss, self.parts = self.model.method.loss(signals, batch["labels"], phase=phase, batch=batch)
        return loss


def no_weight_decay(name: str) -> bool:
    return name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name or name.endswith("norm.weight")


def parameter_groups(model, base_lr: float, weight_decay: float) -> list[dict]:
    """AdamW groups of the trainable parameters, by (learning rate, weight decay).

    ``method.lr_overrides()`` keys are name prefixes, relative to the model ("method.lambda...") or to the
    method ("lambda..."); the longest matching prefix wins.
    """
    overrides = model.method.lr_overrides()
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        matches = [k for k in overrides if name.startswith(k) or name.startswith(f"method.{k}")]
        lr = overrides[max(matches, key=len)] if matches else base_lr
        decay = 0.0 if no_weight_decay(name) else weight_decay
        groups.setdefault((lr, decay), []).append(param)
    return [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()]


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the base rate at ``step``: linear warmup, then linear decay to 0 or constant."""
    if step < warmup:
        return step / max(1, warmup)
    if schedule == "constant":
        return 1.0
    return max(0.0, (total - step) / max(1, total - warmup))


def make_optimizer(model, lr: float, weight_decay: float, warmup_ratio: float, schedule: str, total_steps: int):
    """AdamW over the trainable parameters and its LR schedule, planned over ``total_steps``."""
    optimizer = torch.optim.AdamW(parameter_groups(model, lr, weight_decay))
    warmup = int(round(warmup_ratio * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, schedule))
    return optimizer, scheduler
