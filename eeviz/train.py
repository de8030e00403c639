"""Train an early-exit model: ``python -m eeviz.train`` (several GPUs: ``accelerate launch -m eeviz.train``).

Notable:
- Generic over the method: its ``phases()`` say what trains when (``Phase.trainable``, ``prepare``, ``epochs``,
  ``lr``), ``lr_overrides()`` give parameter groups their own rates, ``loss`` reads the signals of all layers.
- One ``accelerate.Accelerator`` runs everything: CPU, one GPU (bf16 autocast, or fp16 with a GradScaler where
  bf16 is missing), several GPUs or nodes (DDP; ``--batch-size`` is per process). Only the main process
  prints and writes.
- Model selection, per phase: after every epoch the dev split is scored; the best epoch of a phase is the
  one with the highest dev score of the *full model* (the last layer's prediction), ties broken by the mean
  of all layers' dev scores (so a phase that trains only the exits, as DeeBERT's second, still selects).
  A phase ends after its epochs or ``--patience-epochs`` epochs without a better score, and the next phase
  starts from its best weights.
- Resume: ``OUT/.resume/`` (safetensors + JSON, no pickle) holds the weights, optimizer and scheduler state
  and the progress after the last finished epoch. Data order and random numbers are a function of
  (seed, phase, epoch), reseeded every epoch, so a resumed run writes the same checkpoint as one that never
  stopped. ``--max-steps`` only cuts a run short (the LR schedule is planned over the full epochs), so a run
  stopped by it can be resumed to completion.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import ModelConfig
from .data import TaskData, load_task
from .evaluate import (
    DATA_SPLIT_SEED,
    collect_signals,
    inference_autocast,
    index_batches,
    make_batch,
    model_inputs,
    predictions,
    scores,
    to_device,
)
from .methods import available_methods, get_method
from .model import encode_texts
from .presets import get_preset, method_defaults

RESUME_DIR = ".resume"
RESUME_STATE = "state.json"
RESUME_TENSORS = "state.safetensors"
METRICS_FILE = "metrics.json"
RESUME_VERSION = 1
SELECTION_RULE = (
    "per phase, the epoch with the best dev score of the full model (last layer); ties broken by the mean "
    "dev score over all layers"
)


# ------------------------------------------------------------------------------------------ arguments
@dataclass
class TrainArgs:
    """Everything a training run depends on (saved in metrics.json and the resume state)."""

    method: str
    out: str
    backbone: str = "minilm"
    task: str = "rotten_tomatoes"
    finetune: str = "full"
    lora_rank: int = 8
    max_length: int = 128
    pooling: str = "cls"
    lr: float = 2e-5
    batch_size: int = 32
    epochs: int = 3
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "linear"
    max_grad_norm: float = 1.0
    dropout: float = 0.1
    patience_epochs: int | None = None
    seed: int = 42
    limit: int | None = None
    train_limit: int | None = None
    init_from: str | None = None
    method_args: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    mixed_precision: str = "auto"
    num_workers: int = 0


# args that say where or how far a run goes, not what it computes: a resumed run may change them
RUN_ONLY_ARGS = {"out", "max_steps", "resume", "overwrite", "device", "mixed_precision", "num_workers"}


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
        if hint is float:
            return float(text)
        if hint is str:
            return text
        return json.loads(text)
    except (ValueError, json.JSONDecodeError):
        name = getattr(hint, "__name__", str(hint))
        raise ValueError(f"--method-arg {key}: expected {name}, got {text!r}") from None


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
    args = TrainArgs(method=method, out=out, **values)
    check_args(args)
    return args


def check_args(args: TrainArgs) -> None:
    problems = []
    if args.finetune not in ("full", "lora"):
        problems.append(f"--finetune must be full or lora, not {args.finetune!r}")
    if args.pooling not in ("cls", "mean"):
        problems.append(f"--pooling must be cls or mean, not {args.pooling!r}")
    if args.schedule not in ("linear", "constant"):
        problems.append(f"--schedule must be linear or constant, not {args.schedule!r}")
    for name in ("batch_size", "epochs", "max_length", "lora_rank"):
        if getattr(args, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("max_steps", "limit", "train_limit", "patience_epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1")
    if not 0.0 <= args.warmup_ratio < 1.0:
        problems.append("--warmup-ratio must be in [0, 1)")
    if args.lr <= 0:
        problems.append("--lr must be positive")
    if args.device not in ("auto", "cpu", "cuda"):
        problems.append(f"--device must be auto, cpu or cuda, not {args.device!r}")
    if args.mixed_precision not in ("auto", "no", "bf16", "fp16"):
        problems.append(f"--mixed-precision must be auto, no, bf16 or fp16, not {args.mixed_precision!r}")
    if problems:
        raise ValueError("; ".join(problems))


# ------------------------------------------------------------------------------------------ data order
BUCKET_BATCHES = 50  # length bucketing sorts runs of this many batches by length


def epoch_batches(n: int, batch_size: int, seed: int, phase: int, epoch: int, rank: int = 0, world: int = 1,
                  lengths: np.ndarray | None = None):
    """This process's batches (lists of example indices) for one epoch.

    The order is a seeded permutation of (seed, phase, epoch), the same in every process; each global batch
    of ``batch_size * world`` examples is split among the processes. With several processes the order is
    padded by wrapping around so that every process runs the same number of full steps (DDP needs that).
    With ``lengths`` (tokens per example), runs of ``BUCKET_BATCHES`` batches are sorted by length and the
    batches then shuffled: batches hold inputs of similar length, so far less padding is computed, while
    the order stays random.
    """
    rng = np.random.default_rng([seed, phase, epoch])
    order = rng.permutation(n)
    step = batch_size * world
    if world > 1 and len(order) % step:
        order = np.concatenate([order, np.resize(order, step - len(order) % step)])
    starts = range(0, len(order), step)
    if lengths is not None:
        runs = np.split(order, range(step * BUCKET_BATCHES, len(order), step * BUCKET_BATCHES))
        order = np.concatenate([run[np.argsort(lengths[run], kind="stable")] for run in runs])
        starts = rng.permutation(np.arange(0, len(order), step))
    return [order[s + rank * batch_size: s + (rank + 1) * batch_size].tolist() for s in starts]


def reseed(seed: int, phase: int, epoch: int, rank: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) from (seed, phase, epoch, rank); epoch -1 = before the phase."""
    from accelerate.utils import set_seed

    set_seed(int(np.random.SeedSequence([seed, phase, epoch + 1, rank]).generate_state(1)[0]))


def token_lengths(tokenizer, examples, max_length: int) -> np.ndarray:
    """Tokens per example (after truncation), for length bucketing."""
    if not examples:
        return np.zeros(0, dtype=np.int64)
    enc = encode_texts(tokenizer, [e.text for e in examples], [e.text_b for e in examples], max_length)
    return enc["attention_mask"].sum(1).numpy()


class Collate:
    """DataLoader collate: a list of indices into the split -> a tokenised batch (``make_batch``)."""

    def __init__(self, tokenizer, examples, max_length: int, regression: bool):
        self.tokenizer, self.examples, self.max_length, self.regression = tokenizer, examples, max_length, regression

    def __call__(self, indices: list[int]) -> dict:
        return make_batch(self.tokenizer, self.examples, indices, self.max_length, self.regression)


class DeviceLoader:
    """Wraps a DataLoader so its batches arrive on ``device`` (what ``Phase.prepare`` receives)."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device = loader, device

    def __iter__(self):
        for batch in self.loader:
            yield to_device(batch, self.device)

    def __len__(self) -> int:
        return len(self.loader)


# ------------------------------------------------------------------------------------------ optimisation
class LossModule(nn.Module):
    """What DDP wraps: its forward runs every layer and the method's loss, so gradients sync across processes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, phase: str) -> torch.Tensor:
        signals, _ = self.model.forward_all(batch)
        loss, _ = self.model.method.loss(signals, batch["labels"], phase=phase, batch=batch)
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


# ------------------------------------------------------------------------------------------ files
def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def parked_resume_dir(out: Path) -> Path:
    """Where ``.resume/`` waits while ``save_checkpoint`` rebuilds OUT (it keeps files, not folders)."""
    return out.parent / f".{out.name}{RESUME_DIR}-parked"


def find_resume_dir(out: Path, recover: bool) -> Path | None:
    """OUT/.resume if it holds a state; ``recover``: first move it back if a crash left it parked beside OUT."""
    state, parked = out / RESUME_DIR, parked_resume_dir(out)
    if recover and not state.is_dir() and parked.is_dir() and out.is_dir():
        os.replace(parked, state)
    return state if (state / RESUME_STATE).is_file() else None


def check_out_dir(out: Path, resume: bool, overwrite: bool, delete: bool = True) -> None:
    """Fail early (before any training) when OUT cannot be written or would clobber something.

    With ``overwrite``, an earlier run in OUT is deleted when ``delete`` (the main process only).
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out '{out}' is a file; give a folder for the checkpoint")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as err:
        raise ValueError(f"cannot write the checkpoint to '{out}': {err}") from err
    if resume or not out.is_dir() or not any(out.iterdir()):
        return
    ours = any((out / name).exists() for name in ("config.json", METRICS_FILE, RESUME_DIR))
    if not overwrite:
        hint = "pass --resume to continue its run or --overwrite to start over" if ours else "choose another --out"
        raise ValueError(f"'{out}' already exists and is not empty: {hint}")
    if not ours:
        raise ValueError(f"'{out}' is not an eeviz training folder: --overwrite refuses to delete it")
    if delete:
        shutil.rmtree(out)
        shutil.rmtree(parked_resume_dir(out), ignore_errors=True)


def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state_dict -> (tensors for safetensors, JSON-able rest)."""
    tensors, plain = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(index), {})[key] = value
    return tensors, {"state": plain, "param_groups": state["param_groups"]}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, entry in meta["state"].items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


# ------------------------------------------------------------------------------------------ the run
@dataclass
class Progress:
    """Where a run stands; saved after every finished epoch and phase (``.resume/state.json``)."""

    phase: int = 0  # index of the current phase
    phase_epochs: int = 0  # finished epochs of the current phase
    stale_epochs: int = 0  # epochs of the current phase since its best
    best_score: list[float] | None = None  # current phase: [full-model dev score, mean per-layer dev score]
    best_epoch: int | None = None  # current phase: global epoch number of its best
    global_step: int = 0
    epochs_run: int = 0
    wall_time_s: float = 0.0
    history: list[dict] = field(default_factory=list)
    phase_bests: list[dict] = field(default_factory=list)  # finished phases: {"phase", "best_epoch"}


def make_accelerator(args: TrainArgs):
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible to torch")
    precision: str | None = args.mixed_precision
    if precision == "auto":
        # `accelerate launch --mixed_precision ...` / `accelerate config` pass their choice by environment
        if os.environ.get("ACCELERATE_MIXED_PRECISION"):
            precision = None
        else:
            precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no"
    # phases freeze parts of the model and some heads sit out some losses: DDP must allow unused parameters
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    return Accelerator(cpu=not cuda, mixed_precision=precision, kwargs_handlers=[ddp])


def load_task_for(args: TrainArgs) -> TaskData:
    task = load_task(args.task, seed=DATA_SPLIT_SEED, limit=args.limit)
    if args.train_limit is not None:
        task.train = task.train[: args.train_limit]
    method_cls = get_method(args.method)
    if task.is_regression and not method_cls.supports_regression:
        raise ValueError(
            f"task '{args.task}' is a regression task and method '{args.method}' cannot do regression "
            f"(methods that can: {', '.join(m for m in available_methods() if get_method(m).supports_regression)})"
        )
    for split in ("train", "dev"):
        if not task.split(split):
            raise ValueError(f"task '{args.task}' has no {split} examples (training needs train, selection needs dev)")
    return task


class Trainer:
    """One training run of one model; ``run()`` goes through the method's phases."""

    def __init__(self, args: TrainArgs, task: TaskData, accelerator):
        from .model import build_model, trainable_names

        self.args, self.task, self.acc = args, task, accelerator
        self.out = Path(args.out)
        self.main = accelerator.is_main_process
        cfg = ModelConfig(
            backbone=args.backbone, method=args.method, task=args.task, labels=list(task.labels),
            metric=task.metric, is_pair=task.is_pair, max_length=args.max_length, pooling=args.pooling, finetune=args.finetune,
            lora_rank=args.lora_rank, lora_alpha=2.0 * args.lora_rank, classifier_dropout=args.dropout,
            method_args=dict(args.method_args),
        )
        torch.manual_seed(args.seed)  # head (and LoRA) initialisation
        self.model = build_model(cfg).to(accelerator.device)
        self.trainable = trainable_names(self.model)
        if args.init_from:
            self.warm_start(Path(args.init_from))
        self.phases = self.model.method.phases()
        regression = task.is_regression
        self.collate = Collate(self.model.tokenizer, task.train, args.max_length, regression)
        self.train_lengths = token_lengths(self.model.tokenizer, task.train, args.max_length)
        self.dev_batches = [make_batch(self.model.tokenizer, task.dev, idx, args.max_length, regression)
                            for idx in index_batches(len(task.dev), args.batch_size)]
        self.dev_golds = np.array([e.label for e in task.dev])
        self.progress = Progress()
        self.best_weights: dict[str, torch.Tensor] = {}
        self.pending: dict[str, Any] | None = None  # optimizer/scheduler state to load into the resumed phase
        self.resumed_buffers: dict[str, torch.Tensor] | None = None  # method buffers, until the resumed phase starts
        self.stopped_by = "running"  # then "completed" or "max_steps"

    def warm_start(self, folder: Path) -> None:
        """Start the backbone (adapters, LayerNorms, pooler: whatever trains here) from another checkpoint.

        Only backbone weights (``runner.*``) whose names and shapes match are copied; the method's own heads
        start fresh. Used by the demo preset so that every method need not adapt the backbone from scratch.
        """
        from safetensors.torch import load_file

        from .checkpoint import WEIGHTS_FILE, read_config

        source_cfg, _ = read_config(folder)
        if Path(source_cfg.backbone).name != Path(self.args.backbone).name or source_cfg.finetune != self.args.finetune:
            raise ValueError(f"--init-from {folder}: it was trained from {source_cfg.backbone} ({source_cfg.finetune}), "
                             f"this run uses {self.args.backbone} ({self.args.finetune})")
        tensors = load_file(str(folder / WEIGHTS_FILE))
        params = dict(self.model.named_parameters())
        copied = 0
        with torch.no_grad():
            for name, value in tensors.items():
                if name.startswith("runner.") and name in self.trainable and params[name].shape == value.shape:
                    params[name].copy_(value)
                    copied += 1
        if copied == 0:
            raise ValueError(f"--init-from {folder}: no backbone weight matches this model")
        self.acc.print(f"warm start: {copied} backbone tensors from {folder}")

    # -------------------------------------------------------------- the schedule
    def run(self) -> dict:
        start = time.perf_counter() - self.progress.wall_time_s
        for index, phase in enumerate(self.phases):
            if index < self.progress.phase:
                continue
            if self.run_phase(index, phase, start):
                self.stopped_by = "max_steps"
                break
            self.finish_phase(index, phase, start)
        else:
            self.stopped_by = "completed"
        finished = self.stopped_by == "completed"
        self.progress.wall_time_s = time.perf_counter() - start
        if self.main:
            if finished:
                self.save_checkpoint(finished=True)
                shutil.rmtree(self.out / RESUME_DIR, ignore_errors=True)
            else:
                write_json_atomic(self.out / METRICS_FILE, self.metrics(finished=False))
        self.acc.wait_for_everyone()
        return self.metrics(finished=finished)

    def set_trainable(self, phase) -> list[str]:
        names = []
        for name, param in self.model.named_parameters():
            train = name in self.trainable and bool(phase.trainable(name))
            param.requires_grad_(train)
            if train:
                names.append(name)
        if not names:
            raise ValueError(f"phase '{phase.name}' of {self.args.method} has no trainable parameters")
        return names

    def run_phase(self, index: int, phase, start: float) -> bool:
        """Train one phase from where the progress stands. Returns True when ``--max-steps`` cut it short."""
        args, progress, acc = self.args, self.progress, self.acc
        phase_names = self.set_trainable(phase)
        epochs = phase.epochs or args.epochs
        steps_per_epoch = len(epoch_batches(len(self.task.train), args.batch_size, args.seed, index, 0,
                                            acc.process_index, acc.num_processes, self.train_lengths))
        total = epochs * steps_per_epoch
        resumed_mid_phase = self.resumed_buffers is not None and progress.phase_epochs > 0
        if phase.prepare is not None and (progress.phase_epochs == 0 or resumed_mid_phase):
            reseed(args.seed, index, -1, acc.process_index)
            self.prepare(phase)
            # Resumed mid-phase: prepare's results kept in buffers come back exactly as saved; those kept in
            # plain attributes are recomputed above (exact when prepare reads only frozen weights, as
            # ConsistentEE's memorized layers do).
            if resumed_mid_phase:
                self.restore_buffers(self.resumed_buffers)
        self.resumed_buffers = None
        optimizer = torch.optim.AdamW(parameter_groups(self.model, phase.lr or args.lr, args.weight_decay))
        warmup = int(round(args.warmup_ratio * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, total, warmup, args.schedule))
        wrapped, optimizer = acc.prepare(LossModule(self.model), optimizer)
        if self.pending is not None:
            optimizer.load_state_dict(self.pending["optimizer"])
            scheduler.load_state_dict(self.pending["scheduler"])
            if acc.scaler is not None and self.pending.get("scaler"):
                acc.scaler.load_state_dict(self.pending["scaler"])
            self.pending = None
        reached_max = False
        while progress.phase_epochs < epochs and not self.early_stopped():
            epoch = progress.phase_epochs
            reseed(args.seed, index, epoch, acc.process_index)
            loss, complete = self.train_epoch(wrapped, optimizer, scheduler, phase, index, epoch, epochs)
            progress.epochs_run += 1
            dev = self.evaluate_dev()
            improved = self.record(phase, epoch, loss, dev, optimizer, complete, phase_names)
            progress.wall_time_s = time.perf_counter() - start
            if self.main:
                if improved:
                    self.save_checkpoint(finished=False)
                else:
                    write_json_atomic(self.out / METRICS_FILE, self.metrics(finished=False))
            if complete:
                progress.phase_epochs += 1
                self.save_resume(optimizer, scheduler)
            if args.max_steps is not None and progress.global_step >= args.max_steps:
                reached_max = True
                break
        acc.free_memory()
        return reached_max

    def early_stopped(self) -> bool:
        patience = self.args.patience_epochs
        return patience is not None and self.progress.stale_epochs >= patience

    @torch.no_grad()
    def prepare(self, phase) -> None:
        """Run ``phase.prepare`` with a non-shuffled loader over the train split (eval mode, no gradients)."""
        loader = torch.utils.data.DataLoader(
            index_batches(len(self.task.train), self.args.batch_size), batch_size=None, shuffle=False,
            collate_fn=self.collate, num_workers=self.args.num_workers,
        )
        self.model.eval()
        with inference_autocast(self.acc.device):
            phase.prepare(self.model, DeviceLoader(loader, self.acc.device))

    def train_epoch(self, wrapped, optimizer, scheduler, phase, index: int, epoch: int, epochs: int):
        """One epoch (or what ``--max-steps`` leaves of it). Returns (mean loss, whether it ran to the end)."""
        from tqdm.auto import tqdm

        args, acc = self.args, self.acc
        batches = epoch_batches(len(self.task.train), args.batch_size, args.seed, index, epoch,
                                acc.process_index, acc.num_processes, self.train_lengths)
        loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False, collate_fn=self.collate,
                                             num_workers=args.num_workers)
        self.model.train()
        losses, done = [], 0
        desc = f"{args.method} {phase.name} epoch {epoch + 1}/{epochs}"
        with tqdm(total=len(batches), desc=desc, disable=not self.main, leave=False) as bar:
            for batch in loader:
                loss = wrapped(to_device(batch, acc.device), phase.name)
                acc.backward(loss)
                if args.max_grad_norm:
                    acc.clip_grad_norm_(wrapped.parameters(), args.max_grad_norm)
                optimizer.step()
                if not acc.optimizer_step_was_skipped:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.detach())
                done += 1
                self.progress.global_step += 1
                bar.update(1)
                if done % 10 == 0:
                    bar.set_postfix(loss=f"{float(torch.stack(losses[-10:]).mean()):.4f}")
                if args.max_steps is not None and self.progress.global_step >= args.max_steps:
                    break
        mean_loss = float(torch.stack(losses).float().mean()) if losses else float("nan")
        return mean_loss, done == len(batches)

    @torch.no_grad()
    def evaluate_dev(self) -> dict:
        """Dev scores: every layer (the last = full model) and the default exit rule by true early exit."""
        model, metric = self.model, self.task.metric
        model.eval()
        signals = collect_signals(model, self.dev_batches)
        layer_scores = [scores(metric, predictions(signals["probs"][i]), self.dev_golds)
                        for i in range(model.num_layers)]
        rule_name = model.method.default_rule
        exits, preds = [], []
        with inference_autocast(self.acc.device):
            for batch in self.dev_batches:
                result = model.early_exit(model_inputs(to_device(batch, self.acc.device)), model.make_rule())
                exits.append(result.exit_layer.cpu())
                preds.append(result.probs.float().cpu())
        rule_metrics = scores(metric, predictions(torch.cat(preds)), self.dev_golds)
        return {
            "score": layer_scores[-1]["score"],
            "metrics": layer_scores[-1],
            "layer_scores": [s["score"] for s in layer_scores],
            "rule": rule_name,
            "rule_score": rule_metrics["score"],
            "mean_exit_layer": float(torch.cat(exits).double().mean()),
        }

    def record(self, phase, epoch: int, loss: float, dev: dict, optimizer, complete: bool, phase_names) -> bool:
        """Add the epoch to the history and keep its weights if it is the phase's best. Returns whether it is."""
        progress = self.progress
        progress.history.append({
            "epoch": progress.epochs_run, "phase": phase.name, "phase_epoch": epoch + 1,
            "steps": progress.global_step, "train_loss": loss, "lr": optimizer.param_groups[0]["lr"],
            "complete": complete, "dev": dev,
        })
        score = [dev["score"], float(np.mean(dev["layer_scores"]))]
        if progress.best_score is not None and score <= progress.best_score:
            progress.stale_epochs += 1
            return False
        progress.best_score, progress.best_epoch, progress.stale_epochs = score, progress.epochs_run, 0
        params = dict(self.model.named_parameters())
        self.best_weights = {n: params[n].detach().to("cpu", copy=True) for n in phase_names}
        return True

    def finish_phase(self, index: int, phase, start: float) -> None:
        """Go back to the phase's best weights and move on to the next phase."""
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in self.best_weights.items():
                params[name].copy_(value)
        progress = self.progress
        ended_by = "early_stopping" if self.early_stopped() else "epochs"
        progress.phase_bests.append({"phase": phase.name, "best_epoch": progress.best_epoch, "ended_by": ended_by})
        progress.phase, progress.phase_epochs, progress.stale_epochs = index + 1, 0, 0
        progress.best_score, progress.best_epoch = None, None
        progress.wall_time_s = time.perf_counter() - start
        self.best_weights = {}
        if index + 1 < len(self.phases):
            self.save_resume(None, None)

    def restore_buffers(self, buffers: dict[str, torch.Tensor]) -> None:
        """Put saved method buffers back (registered anew: ``Phase.prepare`` may have created them)."""
        for name, value in buffers.items():
            owner, _, leaf = name.rpartition(".")
            module = self.model.method.get_submodule(owner) if owner else self.model.method
            module.register_buffer(leaf, value.to(self.acc.device))

    # -------------------------------------------------------------- outputs
    def metrics(self, finished: bool) -> dict:
        progress, acc = self.progress, self.acc
        last_best = progress.best_epoch or (progress.phase_bests[-1]["best_epoch"] if progress.phase_bests else None)
        return {
            "method": self.args.method,
            "task": self.args.task,
            "metric": self.task.metric,
            "selection": SELECTION_RULE,
            "dev_scores": [h["dev"]["score"] for h in progress.history],
            "best_epoch": last_best,
            "phase_best_epochs": progress.phase_bests,
            "epochs_run": progress.epochs_run,
            "steps": progress.global_step,
            "finished": finished,
            "stopped_by": self.stopped_by,
            "wall_time_s": progress.wall_time_s,
            "train_examples": len(self.task.train),
            "dev_examples": len(self.task.dev),
            "device": str(acc.device) + (f" ({torch.cuda.get_device_name(acc.device)})" if acc.device.type == "cuda" else ""),
            "num_processes": acc.num_processes,
            "mixed_precision": str(acc.mixed_precision),
            "train_args": asdict(self.args),
            "history": progress.history,
        }

    def save_checkpoint(self, finished: bool) -> None:
        from .checkpoint import save_checkpoint

        parked, state = parked_resume_dir(self.out), self.out / RESUME_DIR
        if state.is_dir():
            shutil.rmtree(parked, ignore_errors=True)
            os.replace(state, parked)
        save_checkpoint(self.model, self.out, extra_files={METRICS_FILE: self.metrics(finished)})
        if parked.is_dir():
            os.replace(parked, state)

    def save_resume(self, optimizer, scheduler) -> None:
        """Write ``.resume/`` (weights, best weights, method buffers, optimizer state, progress), atomically."""
        from safetensors.torch import save_file

        if not self.main:
            return
        tensors = {f"model.{n}": p.detach().cpu().contiguous()
                   for n, p in self.model.named_parameters() if n in self.trainable}
        tensors.update({f"best.{n}": v.contiguous() for n, v in self.best_weights.items()})
        tensors.update({f"buffer.{n}": b.detach().cpu().contiguous()
                        for n, b in self.model.method.named_buffers()})
        state: dict[str, Any] = {"version": RESUME_VERSION, "train_args": asdict(self.args),
                                 "progress": asdict(self.progress)}
        if optimizer is not None:
            opt_tensors, state["optimizer"] = flatten_optimizer(optimizer.state_dict())
            tensors.update(opt_tensors)
            state["scheduler"] = scheduler.state_dict()
            state["scaler"] = self.acc.scaler.state_dict() if self.acc.scaler is not None else None
        tmp = Path(tempfile.mkdtemp(prefix=f"{RESUME_DIR}.tmp-", dir=self.out))
        save_file(tensors, str(tmp / RESUME_TENSORS))
        (tmp / RESUME_STATE).write_text(json.dumps(state))
        target, old = self.out / RESUME_DIR, self.out / f"{RESUME_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)

    def load_resume(self, folder: Path) -> None:
        """Continue from ``folder``: weights, method buffers, best weights, progress, optimizer state."""
        from safetensors.torch import load_file

        state = json.loads((folder / RESUME_STATE).read_text())
        if state.get("version") != RESUME_VERSION:
            raise ValueError(f"'{folder}' was written by another version of eeviz.train; start over with --overwrite")
        saved, current = state["train_args"], json.loads(json.dumps(asdict(self.args)))
        differ = [f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in current.items()
                  if k not in RUN_ONLY_ARGS and saved.get(k) != v]
        if differ:
            raise ValueError("--resume needs the interrupted run's settings; these differ: " + "; ".join(differ))
        tensors = load_file(str(folder / RESUME_TENSORS))
        self.resumed_buffers = {}
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for key, value in tensors.items():
                kind, _, name = key.partition(".")
                if kind == "model":
                    params[name].copy_(value)
                elif kind == "best":
                    self.best_weights[name] = value
                elif kind == "buffer":
                    self.resumed_buffers[name] = value
        self.restore_buffers(self.resumed_buffers)
        self.progress = Progress(**state["progress"])
        if "optimizer" in state:
            self.pending = {"optimizer": unflatten_optimizer(tensors, state["optimizer"]),
                            "scheduler": state["scheduler"], "scaler": state.get("scaler")}


# ------------------------------------------------------------------------------------------ entry points
def finished_run(out: Path) -> dict | None:
    """The metrics of a run in ``out`` that finished (its resume state is gone), else None."""
    path = Path(out) / METRICS_FILE
    if (Path(out) / RESUME_DIR).is_dir() or not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    return metrics if metrics.get("finished") else None


def train(args: TrainArgs) -> dict:
    """Train (or resume) one run; returns its metrics.json content. Raises ValueError on bad settings."""
    out = Path(args.out)
    accelerator = make_accelerator(args)
    # every process checks (so all fail alike); only the main one deletes or moves anything
    check_out_dir(out, args.resume, args.overwrite, delete=accelerator.is_main_process)
    task = load_task_for(args)
    if args.resume and accelerator.is_main_process:
        find_resume_dir(out, recover=True)
    accelerator.wait_for_everyone()
    resume_from = find_resume_dir(out, recover=False) if args.resume else None
    if args.resume and resume_from is None and (done := finished_run(out)) is not None:
        accelerator.print(f"{out}: this run already finished (nothing to resume)")
        return done
    trainer = Trainer(args, task, accelerator)
    if resume_from is not None:
        trainer.load_resume(resume_from)
        accelerator.print(f"resuming {out} after epoch {trainer.progress.epochs_run} "
                          f"(phase {trainer.progress.phase + 1}/{len(trainer.phases)})")
    elif args.resume:
        accelerator.print(f"{out}: no resume state found, starting from scratch")
    accelerator.print(
        f"training {args.method} on {args.task} ({len(task.train)} train / {len(task.dev)} dev) from "
        f"{args.backbone}, {args.finetune} fine-tuning, {accelerator.num_processes} process(es) on "
        f"{accelerator.device}, mixed precision {accelerator.mixed_precision}"
    )
    metrics = trainer.run()
    best = metrics["best_epoch"]
    score = next((h["dev"]["score"] for h in metrics["history"] if h["epoch"] == best), math.nan)
    accelerator.print(f"{out}: best epoch {best} (dev {task.metric} {score:.4f}), {metrics['epochs_run']} "
                      f"epochs, {metrics['wall_time_s']:.1f} s, stopped by {metrics['stopped_by']}")
    return metrics


def run_preset(name: str, out_dir: str, flags: dict[str, Any], method_arg_pairs: list[str],
               methods: list[str] | None = None) -> list[Path]:
    """Train every available method (or ``methods``) with preset ``name`` into OUT_DIR/METHOD, then evaluate each."""
    from .evaluate import EVAL_FILE, evaluate_checkpoint, format_table

    from accelerate import PartialState

    preset = get_preset(name)
    outs = []
    methods = list(methods or available_methods())
    if preset.warm_start in methods:  # the warm-start source trains first
        methods.remove(preset.warm_start)
        methods.insert(0, preset.warm_start)
    for method in methods:
        train_values, method_values = preset.settings(method)
        if preset.warm_start and method != preset.warm_start:
            train_values.setdefault("init_from", str(Path(out_dir) / preset.warm_start))
        out = Path(out_dir) / method
        args = resolve_args(method, str(out), flags, train_values, method_arg_pairs, method_values)
        evaluated = args.resume and finished_run(out) is not None and (out / EVAL_FILE).is_file()
        train(args)
        if not evaluated and PartialState().is_main_process:
            result = evaluate_checkpoint(out, split=preset.eval_split, limit=args.limit, batch_size=args.batch_size,
                                         device=args.device)
            print(format_table(result))
        outs.append(out)
    return outs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eeviz.train",
        description="Train an early-exit model (any method) and save an eeviz checkpoint. Hyperparameters not "
        "given come from the method's paper (eeviz/presets.py: METHOD_DEFAULTS).",
    )
    run = parser.add_argument_group("what to train")
    run.add_argument("--method", help=f"one of: {', '.join(available_methods())} (with --preset: a comma list)")
    run.add_argument("--backbone", help="alias (minilm), HF hub name (albert-base-v2) or local folder [minilm]")
    run.add_argument("--task", help="task name (rotten_tomatoes, sst2, rte, ...) or a .csv/.jsonl file [rotten_tomatoes]")
    run.add_argument("--out", help="checkpoint folder to write")
    run.add_argument("--preset", help="train every method with a named preset (demo) into --out-dir/METHOD")
    run.add_argument("--out-dir", default="checkpoints", help="with --preset: parent folder [checkpoints]")
    hp = parser.add_argument_group("hyperparameters (default: the method's row in METHOD_DEFAULTS)")
    hp.add_argument("--finetune", choices=["full", "lora"], help="train every weight, or LoRA adapters [full]")
    hp.add_argument("--lora-rank", type=int, help="LoRA rank (alpha = 2 x rank) [8]")
    hp.add_argument("--max-length", type=int, help="max tokens per input [128]")
    hp.add_argument("--pooling", choices=["cls", "mean"],
                    help="sentence vector the heads read: [CLS] state (the papers) or mean over tokens [cls]")
    hp.add_argument("--lr", type=float, help="peak learning rate")
    hp.add_argument("--batch-size", type=int, help="examples per step and process")
    hp.add_argument("--epochs", type=int, help="epochs per phase (a phase may fix its own)")
    hp.add_argument("--warmup-ratio", type=float, help="fraction of a phase's steps spent in linear warmup")
    hp.add_argument("--weight-decay", type=float, help="AdamW weight decay (not on biases and LayerNorms)")
    hp.add_argument("--schedule", choices=["linear", "constant"], help="after warmup: linear decay to 0, or constant")
    hp.add_argument("--max-grad-norm", type=float, help="gradient clipping (0: off)")
    hp.add_argument("--dropout", type=float, help="classifier dropout")
    hp.add_argument("--patience-epochs", type=int,
                    help="stop a phase after N epochs without a better dev score (0: never stop early)")
    hp.add_argument("--seed", type=int, help="seed of initialisation, data order and dropout [42]")
    hp.add_argument("--method-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="a field of the method's Args dataclass (repeatable), e.g. --method-arg beta=0.5")
    ctl = parser.add_argument_group("run control")
    ctl.add_argument("--max-steps", type=int, help="stop after N optimizer steps in total (quick runs)")
    ctl.add_argument("--limit", type=int, help="keep only the first N examples of each split")
    ctl.add_argument("--train-limit", type=int, help="keep only the first N training examples (dev/test stay whole)")
    ctl.add_argument("--init-from", help="checkpoint whose backbone weights (adapters, LayerNorms, pooler) start this run")
    ctl.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    ctl.add_argument("--overwrite", action="store_true", help="delete an earlier run in --out and start over")
    ctl.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present [auto]")
    ctl.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"],
                     help="auto: bf16 on GPUs that have it, else fp16 with loss scaling; none on CPU [auto]")
    ctl.add_argument("--num-workers", type=int, help="DataLoader worker processes for tokenisation [0]")
    return parser


FLAG_NAMES = (
    "backbone", "task", "finetune", "lora_rank", "max_length", "pooling", "lr", "batch_size", "epochs", "warmup_ratio",
    "weight_decay", "schedule", "max_grad_norm", "dropout", "patience_epochs", "seed", "limit", "train_limit",
    "init_from", "max_steps",
    "device", "mixed_precision", "num_workers",
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    flags = {name: getattr(ns, name) for name in FLAG_NAMES}
    flags["resume"] = ns.resume or None
    flags["overwrite"] = ns.overwrite or None
    from .backbone import BackboneError

    try:
        if ns.preset:
            methods = [m.strip() for m in ns.method.split(",")] if ns.method else None
            run_preset(ns.preset, ns.out_dir, flags, ns.method_arg, methods)
            return 0
        if not ns.method or not ns.out:
            parser.error("--method and --out are required (or use --preset)")
        train(resolve_args(ns.method.strip().lower(), ns.out, flags, method_arg_pairs=ns.method_arg))
    except (ValueError, FileNotFoundError, RuntimeError, BackboneError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
