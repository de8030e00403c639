"""What a training run depends on (``TrainArgs``), and how flags, presets and method defaults resolve into it."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

from ..backbone import BACKBONE_ALIASES
from ..config import ModelConfig
from ..data import MAX_TEXT_CHARS
from ..data_checks import task_fingerprint
from ..data_files import FILE_EXTENSIONS
from ..methods import get_method
from ..methods.base import Hyperparameters
from ..presets import method_defaults


@dataclass(frozen=True, kw_only=True)
class TrainArgs(Hyperparameters):
    """Everything a training run depends on (saved in metrics.json and the resume state).

    The optimisation fields (lr, batch size, schedule, ...) are ``Hyperparameters``, whose per-method defaults
    each method declares; the model fields share their names and defaults with ``ModelConfig``.
    """

    method: str
    out: str
    backbone: str = ModelConfig.backbone
    task: str = ModelConfig.task
    finetune: str = ModelConfig.finetune
    lora_rank: int = ModelConfig.lora_rank
    max_length: int = ModelConfig.max_length
    pooling: str = ModelConfig.pooling
    seed: int = 42
    limit: int | None = None
    train_limit: int | None = None
    init_from: str | None = None
    # train the method's heads and exit machinery on cached per-layer features of the frozen encoder
    # (``eeviz.features``) instead of jointly with the backbone
    cached_features: bool = False
    # which epoch of a phase ends up in the checkpoint: "best" on dev (see training/selection.py) or "last"
    # (exit machinery trained for many epochs on cached features: the dev score of the full model barely
    # moves there, and the method's own objective keeps improving)
    keep_epoch: str = "best"
    method_args: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    mixed_precision: str = "auto"
    num_workers: int = 0


# args that say where or how far a run goes, not what it computes: a resumed run may change them
RUN_ONLY_ARGS = {"out", "max_steps", "resume", "overwrite", "device", "mixed_precision", "num_workers"}


def model_config(args: TrainArgs, task) -> ModelConfig:
    """The model a run trains: ``ModelConfig`` fields named like ``TrainArgs`` fields come from the args."""
    shared = {f.name for f in dataclasses.fields(ModelConfig)} & {f.name for f in dataclasses.fields(TrainArgs)}
    values = {name: getattr(args, name) for name in shared}
    values["method_args"] = dict(args.method_args)
    fingerprint = getattr(task, "fingerprint", None) or task_fingerprint(task, MAX_TEXT_CHARS)
    return ModelConfig(**values, labels=list(task.labels), metric=task.metric, is_pair=task.is_pair,
                       lora_alpha=2.0 * args.lora_rank, classifier_dropout=args.dropout,
                       data_fingerprint=dict(fingerprint))


def full_path_if_local(name: str | None, kind: str) -> str | None:
    """``name`` as an absolute path when it names an existing local data file (``kind`` "task") or folder
    ("backbone"), so that the checkpoint works from any folder; task and backbone names ('rotten_tomatoes',
    'minilm', 'bert-base-uncased') stay names. Checked as the loaders check: a file before a task name, an alias
    before a folder."""
    if not isinstance(name, str) or not name.strip():
        return name
    path = os.path.expanduser(name)
    if kind == "task":
        local = os.path.isfile(path) and path.lower().endswith(FILE_EXTENSIONS)
    else:
        local = name.strip().lower() not in BACKBONE_ALIASES and os.path.isdir(path)
    return os.path.abspath(path) if local else name


def parse_field_value(text: str, hint: Any, key: str) -> Any:
    """Convert ``text`` to the type ``hint`` of a dataclass field (bool, int, float, str, X | None, JSON)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if text.strip().lower() in ("none", "null") and len(options) < len(typing.get_args(hint)):
            return None
        errors = []
        for option in options:
            try:
                return parse_field_value(text, option, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError("; ".join(errors))
    try:
        if hint is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if hint is int:
            return int(text)
        if hint is str:
            return text
        value = float(text) if hint is float else json.loads(text)
    except (ValueError, json.JSONDecodeError):
        name = getattr(hint, "__name__", str(hint))
        raise ValueError(f"--method-arg {key}: expected {name}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"--method-arg {key}: expected a finite number, got {text!r}")
    return value


def method_args_dict(method: str, preset_values: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """Every field of the method's ``Args``: defaults, then preset values, then ``KEY=VALUE`` pairs."""
    args_cls = get_method(method).Args
    hints = typing.get_type_hints(args_cls)
    names = [f.name for f in dataclasses.fields(args_cls)]
    values = dict(preset_values)
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--method-arg expects KEY=VALUE, got {pair!r}")
        key, text = (s.strip() for s in pair.split("=", 1))
        if key not in names:
            raise ValueError(f"method '{method}' has no argument '{key}' (its arguments: {', '.join(names) or 'none'})")
        values[key] = parse_field_value(text, hints[key], key)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"method '{method}' has no argument(s) {unknown} (its arguments: {', '.join(names) or 'none'})")
    return asdict(args_cls(**values))


def resolve_args(method: str, out: str, flags: dict[str, Any], preset_values: dict[str, Any] | None = None,
                 method_arg_pairs: list[str] | None = None, preset_method_args: dict[str, Any] | None = None) -> TrainArgs:
    """Method defaults < preset values < explicit flags (``None`` = not given). Raises ValueError when invalid."""
    get_method(method)  # a clear error for an unknown or missing method before anything else
    defaults = {k: v for k, v in asdict(method_defaults(method)).items() if k != "source"}
    values = {**defaults, **(preset_values or {}), **{k: v for k, v in flags.items() if v is not None}}
    if values.get("patience_epochs") == 0:
        values["patience_epochs"] = None  # --patience-epochs 0: no early stopping
    values["method_args"] = method_args_dict(method, preset_method_args or {}, method_arg_pairs or [])
    for kind in ("task", "backbone"):
        values[kind] = full_path_if_local(values.get(kind, getattr(TrainArgs, kind)), kind)
    args = TrainArgs(method=method, out=out, **values)
    check_args(args)
    if flags.get("lora_rank") is not None and args.finetune != "lora":  # a preset's rank under full is harmless
        raise ValueError(f"--lora-rank sets the rank of LoRA adapters, and this run fine-tunes every weight "
                         f"(--finetune {args.finetune}): pass --finetune lora, or leave --lora-rank out")
    return args


def changed_settings(saved: dict[str, Any], args: TrainArgs) -> list[str]:
    """``NAME: saved -> now`` for every setting (not a run-only one) that differs from a saved run's
    ``train_args``: what ``--resume`` refuses."""
    current = json.loads(json.dumps(asdict(args)))
    # a run started before task and backbone paths were stored in full: its relative paths, read from here
    saved = {**saved, **{k: full_path_if_local(saved.get(k), k) for k in ("task", "backbone")}}
    return [f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in current.items()
            if k not in RUN_ONLY_ARGS and saved.get(k) != v]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_args(args: TrainArgs) -> None:
    """Every problem with the settings at once, as one ValueError (NaN and infinity never pass a range check)."""
    problems = []
    if args.resume and args.overwrite:
        problems.append("--resume and --overwrite contradict each other: --resume continues the run in --out, "
                        "--overwrite replaces it; pass one")
    for name, choices in (("finetune", ("full", "lora")), ("pooling", ("cls", "mean")),
                          ("schedule", ("linear", "constant")), ("device", ("auto", "cpu", "cuda")),
                          ("mixed_precision", ("auto", "no", "bf16", "fp16")), ("keep_epoch", ("best", "last"))):
        if getattr(args, name) not in choices:
            problems.append(f"{flag(name)} must be {', '.join(choices[:-1])} or {choices[-1]}, not {getattr(args, name)!r}")
    for name in ("batch_size", "epochs", "max_length", "lora_rank"):
        if getattr(args, name) < 1:
            problems.append(f"{flag(name)} must be at least 1")
    for name in ("max_steps", "limit", "train_limit", "patience_epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            problems.append(f"{flag(name)} must be at least 1")
    if args.num_workers < 0:
        problems.append("--num-workers must be 0 or more")
    # written so that NaN fails too (every comparison with NaN is False)
    if not (math.isfinite(args.lr) and args.lr > 0):
        problems.append(f"--lr must be a positive finite number, not {args.lr!r}")
    if not 0.0 <= args.warmup_ratio < 1.0:
        problems.append(f"--warmup-ratio must be in [0, 1), not {args.warmup_ratio!r}")
    if not 0.0 <= args.dropout < 1.0:
        problems.append(f"--dropout must be in [0, 1), not {args.dropout!r}")
    for name in ("weight_decay", "max_grad_norm"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value >= 0):
            problems.append(f"{flag(name)} must be a finite number >= 0, not {value!r}")
    if problems:
        raise ValueError("; ".join(problems))
