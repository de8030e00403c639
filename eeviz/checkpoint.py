"""Checkpoints: a folder with ``config.json`` + ``model.safetensors`` (never pickle).

- ``config.json``: ``{"format": "eeviz-checkpoint", "version": 1, "model": ModelConfig, "backbone_config": ...}``.
- ``model.safetensors``: the parameters training may change (``trainable_names``): every weight for
  ``finetune="full"``; adapters, LayerNorms and heads for ``"lora"`` (the frozen base weights come from the
  backbone named in the config).
- Full checkpoints also carry the backbone's HF config and tokenizer (``tokenizer/``), so they load without
  the original backbone folder or the hub.
Saving is atomic: written to a temporary sibling folder, then renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig

FORMAT = "eeviz-checkpoint"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
EVAL_FILE = "eval.json"  # the test-split sweep of ``eeviz evaluate``


class CheckpointError(RuntimeError):
    """A path that is not a usable eeviz checkpoint, with the reason in plain words."""


def save_checkpoint(model, path: str | os.PathLike, extra_files: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to folder ``path`` atomically. ``extra_files``: name -> JSON-able object."""
    from .model import trainable_names

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        keep = trainable_names(model)
        tensors = {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if n in keep}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        config: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": model.cfg.to_dict()}
        if model.cfg.finetune == "full":
            config["backbone_config"] = model.runner.config.to_dict()
            model.tokenizer.save_pretrained(str(tmp / "tokenizer"))
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        for name, obj in (extra_files or {}).items():
            (tmp / name).write_text(json.dumps(obj, indent=2))
        # carry over files a previous save put there that this one does not rewrite (e.g. eval.json)
        if path.exists():
            for old in path.iterdir():
                if not (tmp / old.name).exists() and old.is_file():
                    shutil.copy2(old, tmp / old.name)
            backup = path.with_name(f".{path.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(path, backup)
            os.replace(tmp, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_config(path: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """Validate the folder and parse its config. Raises CheckpointError with a clear reason."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at '{path}': the folder does not exist")
    if not path.is_dir():
        raise CheckpointError(f"'{path}' is a file, not a checkpoint folder (expected {CONFIG_FILE} + {WEIGHTS_FILE})")
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise CheckpointError(f"'{path}' is not an eeviz checkpoint: {CONFIG_FILE} is missing")
    if not (path / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"'{path}' is not an eeviz checkpoint: {WEIGHTS_FILE} is missing")
    try:
        raw = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"'{cfg_file}' is not valid JSON ({err})") from err
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or "model" not in raw:
        raise CheckpointError(f"'{cfg_file}' is not an eeviz checkpoint config (no '\"format\": \"{FORMAT}\"')")
    if int(raw.get("version", 0)) > VERSION:
        raise CheckpointError(f"'{path}' was written by a newer eeviz (format version {raw['version']})")
    try:
        cfg = ModelConfig.from_dict(raw["model"])
    except TypeError as err:
        raise CheckpointError(f"'{cfg_file}' has an invalid model config: {err}") from err
    return cfg, raw


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", merge: bool = True):
    """Rebuild the model saved at ``path`` (eval mode). ``merge``: fold LoRA adapters into the weights."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from .backbone import BackboneError, load_backbone, resolve_backbone
    from .lora import apply_lora, merge_lora
    from .model import EarlyExitModel, trainable_names

    path = Path(path)
    cfg, raw = read_config(path)
    try:
        tensors = load_file(str(path / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"'{path / WEIGHTS_FILE}' is not a readable safetensors file ({err})") from err
    try:
        if raw.get("backbone_config") is not None:
            hf = dict(raw["backbone_config"])
            hf_config = AutoConfig.for_model(hf.pop("model_type"), **hf)
            backbone = AutoModel.from_config(hf_config, attn_implementation="eager")
            tok_dir = path / "tokenizer"
            # a full checkpoint without its tokenizer/ folder falls back to the named backbone's tokenizer only
            tokenizer = AutoTokenizer.from_pretrained(str(tok_dir) if tok_dir.is_dir() else resolve_backbone(cfg.backbone))
        else:
            backbone, tokenizer = load_backbone(cfg.backbone)
    except (BackboneError, OSError) as err:
        raise CheckpointError(f"checkpoint '{path}' needs backbone '{cfg.backbone}': {err}") from err
    if cfg.finetune == "lora":
        apply_lora(backbone, rank=cfg.lora_rank, alpha=cfg.lora_alpha)
    try:
        model = EarlyExitModel(cfg, backbone, tokenizer)
    except ValueError as err:
        raise CheckpointError(f"checkpoint '{path}': {err}") from err
    expected = trainable_names(model)
    missing = sorted(expected - set(tensors))
    unexpected = sorted(set(tensors) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint '{path}' does not match its model ({cfg.method} on {cfg.backbone}): "
            f"{len(missing)} missing weights (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            if params[name].shape != value.shape:
                raise CheckpointError(
                    f"checkpoint '{path}': weight '{name}' has shape {tuple(value.shape)}, the model expects "
                    f"{tuple(params[name].shape)} (wrong backbone for this checkpoint?)"
                )
            params[name].copy_(value)
    if merge and cfg.finetune == "lora":
        merge_lora(model)
    model.checkpoint_path = str(path)
    return model.to(device).eval()
