"""``train(args)``: one run from settings to checkpoint (accelerator, data, resume, then the ``Trainer``)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ..data import TaskData, load_task
from ..evaluate import DATA_SPLIT_SEED
from ..methods import available_methods, get_method
from ..precision import training_precision
from .args import TrainArgs
from .resume import check_out_dir, find_resume_dir, finished_run, recover_run_folder
from .trainer import Trainer


def mixed_precision_for(args: TrainArgs, cuda: bool) -> str | None:
    """The Accelerator's ``mixed_precision`` (``eeviz.precision.training_precision``); None lets
    ``accelerate launch --mixed_precision ...`` / ``accelerate config`` decide (they pass it by environment)."""
    if args.mixed_precision == "auto" and os.environ.get("ACCELERATE_MIXED_PRECISION"):
        return None
    return training_precision(args.mixed_precision, cuda)


def make_accelerator(args: TrainArgs):
    from accelerate import Accelerator

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible to torch")
    # DDP is built per phase (``Trainer.start_phase``): frozen parts have requires_grad=False, so it needs no
    # search for unused parameters (a graph traversal per step) unless a phase says it does
    accelerator = Accelerator(cpu=not cuda, mixed_precision=mixed_precision_for(args, cuda))
    if not cuda and accelerator.mixed_precision == "fp16":  # e.g. from an accelerate config: it would run fp32
        raise ValueError("fp16 mixed precision needs a CUDA GPU (fp16 with loss scaling); on the CPU use "
                         "--mixed-precision bf16 or no")
    return accelerator


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


def train(args: TrainArgs) -> dict:
    """Train (or resume) one run; returns its metrics.json content. Raises ValueError on bad settings."""
    out = Path(args.out)
    accelerator = make_accelerator(args)
    # every process checks (so all fail alike); only the main one deletes or moves anything
    check_out_dir(out, args.resume, args.overwrite, delete=accelerator.is_main_process)
    task = load_task_for(args)
    if args.resume and accelerator.is_main_process:
        recover_run_folder(out)
    accelerator.wait_for_everyone()
    resume_from = find_resume_dir(out) if args.resume else None
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
