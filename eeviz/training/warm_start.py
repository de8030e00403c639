"""Start a run's backbone from another checkpoint (``--init-from``; the demo preset's warm start)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import CheckpointLayout, read_config


def copy_backbone_weights(model, trainable: set[str], folder: Path, backbone: str, finetune: str) -> int:
    """Copy the backbone weights (adapters, LayerNorms, pooler: whatever trains here) saved in ``folder``.

    Only backbone weights (``runner.*``) whose names and shapes match are copied; the method's own heads
    start fresh. Returns how many tensors were copied; ValueError when the checkpoint does not fit.
    """
    from safetensors.torch import load_file

    source_cfg, _ = read_config(folder)
    if Path(source_cfg.backbone).name != Path(backbone).name or source_cfg.finetune != finetune:
        raise ValueError(f"--init-from {folder}: it was trained from {source_cfg.backbone} ({source_cfg.finetune}), "
                         f"this run uses {backbone} ({finetune})")
    tensors = load_file(str(CheckpointLayout(folder).weights))
    params = dict(model.named_parameters())
    copied = 0
    with torch.no_grad():
        for name, value in tensors.items():
            if name.startswith("runner.") and name in trainable and params[name].shape == value.shape:
                params[name].copy_(value)
                copied += 1
    if copied == 0:
        raise ValueError(f"--init-from {folder}: no backbone weight matches this model")
    return copied
