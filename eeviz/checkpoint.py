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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ConfigError, ModelConfig

FORMAT = "eeviz-checkpoint"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
METRICS_FILE = "metrics.json"  # written by training
EVAL_FILE = "eval.json"  # the test-split sweep of ``eeviz evaluate``
DEV_EVAL_FILE = "eval-dev.json"  # the dev-split sweep the default thresholds were chosen on
RESUME_DIR = ".resume"  # an unfinished training run's state


@dataclass(frozen=True)
class CheckpointLayout:
    """The one place that spells a checkpoint folder's layout: its files, and the folders beside it.

    Inside ``root``: config, weights, tokenizer (full checkpoints), metrics (training), eval (evaluation) and
    ``.resume/`` (an unfinished run: ``state.json`` + ``state.safetensors``). Beside it, only while an atomic
    save runs or after a crash in one: ``.NAME.tmp-*`` (the new folder being written), ``.NAME.old`` (the
    previous folder, moved aside just before the new one moves in) and ``.NAME.resume-parked`` (``.resume/``
    kept aside while training rebuilds the folder).
    """

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    config = property(lambda self: self.root / CONFIG_FILE)
    weights = property(lambda self: self.root / WEIGHTS_FILE)
    tokenizer = property(lambda self: self.root / TOKENIZER_DIR)
    metrics = property(lambda self: self.root / METRICS_FILE)
    eval = property(lambda self: self.root / EVAL_FILE)
    dev_eval = property(lambda self: self.root / DEV_EVAL_FILE)
    resume = property(lambda self: self.root / RESUME_DIR)
    resume_state = property(lambda self: self.resume / "state.json")
    resume_tensors = property(lambda self: self.resume / "state.safetensors")
    resume_old = property(lambda self: self.root / f"{RESUME_DIR}.old")
    resume_tmp_prefix = f"{RESUME_DIR}.tmp-"  # inside root
    tmp_prefix = property(lambda self: f".{self.root.name}.tmp-")  # beside root
    old = property(lambda self: self.root.with_name(f".{self.root.name}.old"))
    parked_resume = property(lambda self: self.root.with_name(f".{self.root.name}{RESUME_DIR}-parked"))

    def save_temporaries(self) -> list[Path]:
        """``.NAME.tmp-*`` folders beside ``root`` (a save in progress, or one a crash interrupted)."""
        return sorted(self.root.parent.glob(f"{self.tmp_prefix}*")) if self.root.parent.is_dir() else []

    def resume_temporaries(self) -> list[Path]:
        """``.resume.tmp-*`` folders inside ``root`` (a resume-state save a crash interrupted)."""
        return sorted(self.root.glob(f"{self.resume_tmp_prefix}*")) if self.root.is_dir() else []


def recover_interrupted_save(path: str | os.PathLike) -> bool:
    """Undo what a crash inside ``save_checkpoint`` left behind; returns whether the old folder came back.

    The save moves the folder to ``.NAME.old`` just before the new one moves in: a crash between the two
    leaves no folder at all, so the old one is moved back. Temporary folders are deleted either way.
    """
    layout = CheckpointLayout(path)
    restored = False
    if layout.old.is_dir():
        if layout.root.exists():
            shutil.rmtree(layout.old, ignore_errors=True)
        else:
            os.replace(layout.old, layout.root)
            restored = True
    for tmp in layout.save_temporaries():
        shutil.rmtree(tmp, ignore_errors=True)
    return restored


class CheckpointError(RuntimeError):
    """A path that is not a usable eeviz checkpoint, with the reason in plain words."""


def save_checkpoint(model, path: str | os.PathLike, extra_files: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to folder ``path`` atomically. ``extra_files``: name -> JSON-able object."""
    from .model import trainable_names

    path = Path(path)
    layout = CheckpointLayout(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=layout.tmp_prefix, dir=path.parent))
    try:
        keep = trainable_names(model)
        tensors = {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if n in keep}
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        config: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model": model.cfg.to_dict()}
        if model.cfg.finetune == "full":
            config["backbone_config"] = model.runner.config.to_dict()
            model.tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        for name, obj in (extra_files or {}).items():
            (tmp / name).write_text(json.dumps(obj, indent=2))
        _as_umask_allows(tmp)
        # carry over files a previous save put there that this one does not rewrite (e.g. eval.json)
        if path.exists():
            for old in path.iterdir():
                if not (tmp / old.name).exists() and old.is_file():
                    shutil.copy2(old, tmp / old.name)
            backup = layout.old
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


def _as_umask_allows(folder: Path) -> None:
    """The folder and what is in it with the permissions a plain ``mkdir`` and ``open`` give under the process's
    umask: the temporary folder it was written in (``mkdtemp``) and some writers' files are owner-only, which
    kept a checkpoint trained on a shared machine from the app run by another user."""
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for entry in folder.rglob("*"):
        entry.chmod((0o777 if entry.is_dir() else 0o666) & ~mask)


def set_rule_defaults(path: str | os.PathLike, defaults: dict[str, float], default_rule: str | None = None) -> None:
    """Store a checkpoint's default thresholds and rule (``ModelConfig.rule_defaults`` / ``default_rule``) in
    its config.json, atomically."""
    layout = CheckpointLayout(path)
    read_config(layout.root)  # a valid checkpoint, or CheckpointError
    config = json.loads(layout.config.read_text(encoding="utf-8"))
    config["model"]["rule_defaults"] = {k: float(v) for k, v in defaults.items()}
    config["model"]["default_rule"] = default_rule
    tmp = layout.config.with_name(f".{CONFIG_FILE}.tmp")
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, layout.config)


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
    raw = read_json_file(cfg_file, what="checkpoint config")
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"'{cfg_file}' is not an eeviz checkpoint config (no '\"format\": \"{FORMAT}\"')")
    if "model" not in raw:
        raise CheckpointError(f"'{cfg_file}' has no \"model\" object (the model config: backbone, method, labels, ...)")
    version = raw.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"'{cfg_file}': 'version' is {version!r}, expected a whole number (format version)")
    if version > VERSION:
        raise CheckpointError(f"'{path}' was written by a newer eeviz (format version {version})")
    try:
        cfg = ModelConfig.checked(raw["model"])
    except (ConfigError, TypeError) as err:
        raise CheckpointError(f"'{cfg_file}' has an invalid model config: {err}") from err
    from .methods import get_method

    try:
        get_method(cfg.method)
    except ValueError as err:
        raise CheckpointError(f"'{cfg_file}': {err}") from err
    hf = raw.get("backbone_config")
    if hf is not None and (not isinstance(hf, dict) or not isinstance(hf.get("model_type"), str)):
        raise CheckpointError(f"'{cfg_file}': 'backbone_config' must be a JSON object with a 'model_type' string")
    return cfg, raw


def read_json_file(path: str | os.PathLike, what: str = "file") -> Any:
    """Parse a JSON file a checkpoint folder holds; any failure (unreadable, not UTF-8, not JSON, NaN) is a
    CheckpointError naming the file."""
    path = Path(path)

    def refuse_constant(name: str):
        raise ValueError(f"{name} is not valid JSON")  # Python writes bare NaN/Infinity; JSON has no such values

    try:
        return json.loads(path.read_bytes().decode("utf-8"), parse_constant=refuse_constant)
    except UnicodeDecodeError as err:
        raise CheckpointError(f"'{path}' ({what}) is not valid JSON: it is not UTF-8 text (byte {err.start})") from err
    except (json.JSONDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"'{path}' ({what}) is not valid JSON ({err})") from err
    except OSError as err:
        raise CheckpointError(f"'{path}' ({what}) cannot be read ({err.strerror or err})") from err


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", merge: bool = True, allow_hub: bool | None = None
):
    """Rebuild the model saved at ``path`` (eval mode). ``merge``: fold LoRA adapters into the weights.

    ``allow_hub``: whether a LoRA checkpoint's backbone may be downloaded from the Hugging Face hub (default:
    ``$EEVIZ_ALLOW_HUB``, off); see ``eeviz.backbone.checkpoint_backbone`` for the backbones a checkpoint may
    name. Every failure is a CheckpointError naming the folder, so one bad folder never takes a caller down.
    """
    path = Path(path)
    try:
        return _load_checkpoint(path, device, merge, allow_hub)
    except CheckpointError:
        raise
    except Exception as err:  # the last line of defence: whatever else fails is this folder's problem
        raise CheckpointError(f"cannot load checkpoint '{path}': {type(err).__name__}: {err}") from err


# files that hold a tokenizer's vocabulary (a tokenizer folder without one loads with special tokens only)
VOCAB_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        tensors = load_file(str(path / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"'{path / WEIGHTS_FILE}' is not a readable safetensors file ({err})") from err
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(
            f"checkpoint '{path}': {len(bad)} of {len(tensors)} weights hold NaN or infinite values (e.g. {bad[:3]}); "
            "its training diverged: train it again (e.g. with a lower --lr)"
        )
    return tensors


def _checkpoint_tokenizer(path: Path):
    """A full checkpoint's own tokenizer; refused when missing (another vocabulary would map words wrongly)."""
    from transformers import AutoTokenizer

    tok_dir = path / TOKENIZER_DIR
    if not tok_dir.is_dir() or not any((tok_dir / name).is_file() for name in VOCAB_FILES):
        raise CheckpointError(
            f"checkpoint '{path}' has no tokenizer vocabulary (expected '{TOKENIZER_DIR}/' with one of "
            f"{', '.join(VOCAB_FILES)}): without it every word would read as [UNK]. Copy the backbone's tokenizer "
            f"files into '{tok_dir}', or save the checkpoint again"
        )
    try:
        return AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    except Exception as err:
        raise CheckpointError(f"checkpoint '{path}': its tokenizer cannot be loaded ({type(err).__name__}: {err})") from err


def _load_backbone_for(path: Path, cfg: ModelConfig, raw: dict[str, Any], allow_hub: bool | None):
    """(backbone, tokenizer) of a checkpoint: built from its own HF config, or the backbone it may name."""
    from transformers import AutoConfig, AutoModel

    from .backbone import BackboneError, checkpoint_backbone, load_backbone

    if raw.get("backbone_config") is None:
        try:
            source = checkpoint_backbone(cfg.backbone, allow_hub)
        except BackboneError as err:
            raise CheckpointError(f"checkpoint '{path}' needs backbone '{cfg.backbone}': {err}") from err
        try:
            backbone, tokenizer = load_backbone(source.path, local_only=source.local_only)
        except BackboneError as err:
            raise CheckpointError(f"checkpoint '{path}' needs backbone '{cfg.backbone}': "
                                  f"{relative_backbone_hint(source) or err}") from err
    else:
        hf = dict(raw["backbone_config"])
        model_type = hf.pop("model_type")
        try:
            hf_config = AutoConfig.for_model(model_type, **hf)
            backbone = AutoModel.from_config(hf_config, attn_implementation="eager")
        except Exception as err:
            raise CheckpointError(
                f"checkpoint '{path}': its backbone_config (model_type {model_type!r}) does not build a model "
                f"({type(err).__name__}: {err})"
            ) from err
        tokenizer = _checkpoint_tokenizer(path)
    vocab, known = int(backbone.config.vocab_size), len(tokenizer)
    if not vocab // 2 <= known <= vocab:
        raise CheckpointError(
            f"checkpoint '{path}': its tokenizer knows {known} tokens, the model has {vocab} token embeddings: "
            "the vocabulary does not belong to this model (missing or wrong tokenizer files)"
        )
    return backbone, tokenizer


def relative_backbone_hint(source) -> str | None:
    """For a backbone name that may be a folder's path relative to where training ran (older checkpoints stored
    'rb/backbone' as typed) and that is not in the local hub cache: what to do, as a folder or as a hub model."""
    from .backbone import ALLOW_HUB_ENV, BACKBONE_ROOT_ENV, KNOWN_HUB_BACKBONES, backbone_roots

    name = source.name
    if not source.local_only or "/" not in name or os.path.isabs(name) or name in KNOWN_HUB_BACKBONES:
        return None
    roots = " or ".join(f"'{r}'" for r in backbone_roots())
    return (f"it is no folder inside the backbone root {roots} and not in the local Hugging Face cache. If it was a "
            "folder, its path was relative to the folder training ran in: set "
            f"{BACKBONE_ROOT_ENV} to that folder (checkpoints load backbone folders from there only). If it is a "
            f"model on the Hugging Face hub, set {ALLOW_HUB_ENV}=1 to let checkpoints download it")


def _load_checkpoint(path: Path, device, merge: bool, allow_hub: bool | None):
    from .backbone import BackboneError
    from .lora import apply_lora, merge_lora
    from .model import EarlyExitModel, trainable_names
    from .truncation import check_max_length

    cfg, raw = read_config(path)
    tensors = _read_weights(path)
    backbone, tokenizer = _load_backbone_for(path, cfg, raw, allow_hub)
    try:
        check_max_length(tokenizer, cfg.max_length, cfg.is_pair)
    except ValueError as err:
        raise CheckpointError(f"checkpoint '{path}': {err}") from err
    if cfg.finetune == "lora":
        apply_lora(backbone, rank=cfg.lora_rank, alpha=cfg.lora_alpha)
    try:
        model = EarlyExitModel(cfg, backbone, tokenizer)
    except (ValueError, TypeError, BackboneError) as err:  # method args of the wrong type, unsupported encoder
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
