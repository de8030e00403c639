"""Low-rank adapters for the backbone's linear layers (no extra dependency).

With ``finetune="lora"`` the pretrained weights stay frozen and only A, B (rank r) and the LayerNorms train,
so a checkpoint stores a few hundred kB instead of the whole backbone. ``LoRALinear`` keeps the wrapped
layer's parameter names (``weight``, ``bias``), so pretrained weights load into it unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class LoRALinear(nn.Module):
    """y = x Wᵀ + b + (α/r) · x Aᵀ Bᵀ, with B initialised to zero (starts as the base layer)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.rank = rank
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling

    def merged(self) -> nn.Linear:
        """A plain Linear with W + (α/r)·B A: same outputs up to rounding, no adapter cost at inference."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        out = out.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.weight + self.scaling * (self.lora_B @ self.lora_A))
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out


def _encoder_layers(backbone: nn.Module) -> nn.Module:
    encoder = backbone.encoder
    return encoder.albert_layer_groups if hasattr(encoder, "albert_layer_groups") else encoder.layer


def apply_lora(backbone: nn.Module, rank: int = 8, alpha: float = 16.0) -> int:
    """Wrap every nn.Linear inside the encoder layers; returns how many were wrapped."""
    count = 0
    for module in list(_encoder_layers(backbone).modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear) and not isinstance(child, LoRALinear):
                setattr(module, child_name, LoRALinear(child, rank, alpha))
                count += 1
    return count


def merge_lora(model: nn.Module) -> int:
    """Replace every LoRALinear with its merged Linear (inference only); returns how many."""
    count = 0
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, child_name, child.merged())
                count += 1
    return count
