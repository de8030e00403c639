"""``train(args)``: one run from settings to checkpoint (accelerator, data, resume, then the ``Trainer``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..checkpoint import CheckpointLayout
from ..config import ModelConfig
from ..data import TaskData, data_changed_note, load_task
from ..data_checks import check_labels, describe_classes
from ..devices import device_problem
from ..evaluate import DATA_SPLIT_SEED
from ..methods import available_methods, get_method
from ..precision import training_precision
from ..messages import plural
from .args import TrainArgs, changed_settings
from .resume import check_out_dir, find_resume_dir, finished_run, move_aside, recover_run_folder, settle_overwrite
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
    if problem := device_problem(args.device):
        raise ValueError(problem)
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
        why = f" ({task.regression_reason})" if task.regression_reason else ""
        raise ValueError(
            f"task '{args.task}' is read as a regression task{why}, and method '{args.method}' cannot do regression "
            f"(methods that can: {', '.join(m for m in available_methods() if get_method(m).supports_regression)})"
        )
    for split in ("train", "dev"):
        if not task.split(split):
            raise ValueError(f"task '{args.task}' has no {split} examples (training needs train, selection needs dev)")
    return task


def task_lines(args: TrainArgs, task: TaskData, accelerator) -> list[str]:
    """The run's first lines: what trains on what (classification into which classes, or regression, and why),
    and the rows per class and split."""
    kind = ("as a regression task" if task.is_regression else
            f"into {plural(len(task.labels), 'class', 'classes')}")
    return [
        f"training {args.method} on {args.task} {kind} ({len(task.train)} train / {len(task.dev)} dev / "
        f"{len(task.test)} test) from {args.backbone}, {args.finetune} fine-tuning, "
        f"{plural(accelerator.num_processes, 'process', 'processes')} on {accelerator.device}, mixed precision {accelerator.mixed_precision}",
        describe_classes(task),
    ]


def ending_line(args: TrainArgs, out: Path, metrics: dict, metric: str) -> str:
    """The run's last line: how many epochs finished (and how far a cut one got), the best one, the time."""
    history = metrics["history"]
    finished = [h for h in history if h["complete"]]
    cut = history[-1] if history and not history[-1]["complete"] else None
    epochs = plural(len(finished), "finished epoch")
    if cut is not None:
        before = history[-2]["steps"] if len(history) > 1 else 0
        epochs += f" and {plural(cut['steps'] - before, 'step')} of epoch {cut['epoch']}"
    best = metrics["best_epoch"]
    entry = next((h for h in history if h["epoch"] == best), None)
    if entry is None:
        kept = "no epoch scored"
    elif entry["complete"]:
        kept = f"best epoch {best} (dev {metric} {entry['dev']['score']:.4f})"
    else:
        kept = f"kept the weights after step {entry['steps']} (dev {metric} {entry['dev']['score']:.4f})"
    how = ("finished" if metrics["stopped_by"] == "completed" else
           f"cut short by --max-steps {args.max_steps}" if metrics["stopped_by"] == "max_steps" else
           f"stopped: {metrics['stopped_by']}")
    return f"{out}: {how}: {epochs}, {kept}, {metrics['wall_time_s']:.1f} s"


def check_same_data(out: Path, task: TaskData) -> None:
    """``--resume`` on data that changed since the run began: its splits are drawn anew, so the epochs left would
    train on other rows than the ones before (and dev/test rows could come into training). Refused in one line."""
    try:
        recorded = json.loads(CheckpointLayout(out).config.read_text())["model"]["data_fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # nothing saved yet, or a run from before fingerprints: nothing to compare
    if (changed := data_changed_note(recorded, task)) is not None:
        raise ValueError(f"--resume: {changed}; restore that data, or start a new run with --overwrite")


def check_restart(out: Path, args: TrainArgs) -> None:
    """``--resume`` without a resume state: an unfinished run there stopped before its first epoch finished,
    so it starts again from step 1 (the same data order and random numbers: what resuming it would give),
    provided the settings are its settings."""
    layout = CheckpointLayout(out)
    if not layout.metrics.is_file():
        return
    try:
        saved = json.loads(layout.metrics.read_text()).get("train_args") or {}
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"--resume: cannot read {layout.metrics}: {err}") from None
    differ = changed_settings(saved, args)
    if differ:
        raise ValueError("--resume needs the interrupted run's settings; these differ: " + "; ".join(differ))


def resume_hint(args: TrainArgs, metrics: dict) -> str:
    """What ``--resume`` does with a run ``--max-steps`` cut short (its state is that of the last finished epoch)."""
    finished = [h["epoch"] for h in metrics["history"] if h["complete"]]
    where = (f"after epoch {finished[-1]} (the last finished one; an epoch the cut ended inside runs again from "
             "its start)" if finished else
             "from step 1 (no epoch finished), which gives what an uninterrupted run gives")
    return (f"{args.out}: cut short by --max-steps {args.max_steps}; the same command with --resume (and a larger "
            f"--max-steps, or none) continues it {where}")


def train(args: TrainArgs, asked_max_length: bool | None = None) -> dict:
    """Train (or resume) one run; returns its metrics.json content. Raises ValueError on bad settings.

    ``asked_max_length``: whether the user asked for ``args.max_length`` (the command line's --max-length), for
    the words of the note when the backbone has fewer positions; None: when it is not the default.

    Nothing in --out changes before the settings, data, model and warm start have loaded. ``--overwrite``
    moves the earlier run aside and deletes it once the new run saved its first checkpoint; a run that fails
    before that puts it back.
    """
    out = Path(args.out)
    accelerator = make_accelerator(args)
    main = accelerator.is_main_process
    if main:
        settle_overwrite(out)  # an --overwrite that a crash cut short: put right before looking at OUT
    accelerator.wait_for_everyone()
    replaces = check_out_dir(out, args.resume, args.overwrite)  # every process checks, so all fail alike
    task = load_task_for(args)
    warnings = check_labels(task)
    if args.resume and main:
        recover_run_folder(out)
    accelerator.wait_for_everyone()
    resume_from = find_resume_dir(out) if args.resume else None
    if args.resume and resume_from is None:
        if (done := finished_run(out)) is not None:
            accelerator.print(f"{out}: this run already finished (nothing to resume)")
            return done
        check_restart(out, args)
    if args.resume:
        check_same_data(out, task)
    for line in task_lines(args, task, accelerator) + [f"warning: {w}" for w in warnings]:
        accelerator.print(line)
    trainer = Trainer(args, task, accelerator)
    if resume_from is not None:
        trainer.load_resume(resume_from)
        accelerator.print(f"resuming {out} after epoch {trainer.progress.epochs_run} "
                          f"(phase {trainer.progress.phase + 1}/{len(trainer.phases)})")
    elif args.resume and CheckpointLayout(out).metrics.is_file():
        accelerator.print(f"{out}: the run stopped before its first epoch finished (no resume state): starting it "
                          "again from step 1, which gives what resuming it would")
    elif args.resume:
        accelerator.print(f"{out}: no run to resume there, starting from scratch")
    if trainer.max_length < args.max_length:
        if asked_max_length is None:
            asked_max_length = args.max_length != ModelConfig.max_length
        accelerator.print(f"--max-length {args.max_length} is more than the backbone's {trainer.max_length} "
                          f"positions: inputs are cut at {trainer.max_length} tokens" if asked_max_length else
                          f"the backbone reads at most {trainer.max_length} tokens: inputs are cut there")
    if args.cached_features and not args.init_from:
        accelerator.print("--cached-features without --init-from: the heads train on the backbone's own "
                          "encoder, frozen as it was pretrained")
    if replaces and main:
        move_aside(out)
    accelerator.wait_for_everyone()
    try:
        metrics = trainer.run()
    except BaseException:
        if replaces and main and settle_overwrite(out):
            accelerator.print(f"{out}: the earlier run there is kept as it was")
        raise
    accelerator.print(ending_line(args, out, metrics, task.metric))
    if metrics["stopped_by"] == "max_steps":
        accelerator.print(resume_hint(args, metrics))
    return metrics
