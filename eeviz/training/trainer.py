"""``Trainer``: one run of one model through its method's phases, epoch by epoch, with model selection.

Model selection, per phase (``selection.py``): after every epoch the dev split is scored; the best epoch of a
phase is the one with the highest dev score of the *full model* (the last layer's prediction), ties broken by
the mean of all layers' dev scores (so a phase that trains only the exits, as some methods' second phase
does, still selects). A phase ends after its epochs or ``--patience-epochs`` epochs without a better score, and the next phase
starts from its best weights. A non-finite loss stops the run before it reaches the weights.

Host syncs: a step reads nothing from the device but the finiteness of its loss (one sync); the loss and
its parts stay on the device, summed, and are read once per epoch (and every 10 steps for the progress
bar), averaged over every process. Dev selection and ``Phase.prepare`` run in the inference precision of
every tool (``eeviz.precision``), recorded in metrics.json.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import CheckpointLayout
from ..data import TaskData
from ..passes import index_batches, make_batch, to_device
from ..precision import inference_autocast, inference_precision
from .args import TrainArgs, changed_settings, model_config
from .batches import Collate, DeviceLoader, epoch_batches, index_loader, reseed, token_lengths
from .optim import LossModule, make_optimizer
from .selection import SELECTION_RULE, dev_scores, selection_score
from .warm_start import copy_backbone_weights
from .resume import (
    Progress,
    drop_resume_state,
    flatten_optimizer,
    read_resume_state,
    save_checkpoint_keeping_resume,
    settle_overwrite,
    unflatten_optimizer,
    write_json_atomic,
    write_resume_state,
)

class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: training stops before that step reaches the weights."""


class Trainer:
    """One training run of one model; ``run()`` goes through the method's phases."""

    def __init__(self, args: TrainArgs, task: TaskData, accelerator):
        from ..model import build_model, trainable_names

        self.args, self.task, self.acc = args, task, accelerator
        self.out = Path(args.out)
        self.layout = CheckpointLayout(self.out)
        self.main = accelerator.is_main_process
        torch.manual_seed(args.seed)  # head (and LoRA) initialisation
        self.model = build_model(model_config(args, task)).to(accelerator.device)
        self.trainable = trainable_names(self.model)
        if args.init_from:
            self.warm_start(Path(args.init_from))
        self.phases = self.model.method.phases()
        regression = task.is_regression
        # --max-length, cut at the backbone's positions (the model's config says so; longer inputs would
        # fail inside its position embeddings)
        self.max_length = self.model.cfg.max_length
        self.collate = Collate(self.model.tokenizer, task.train, self.max_length, regression)
        self.train_lengths = token_lengths(self.model.tokenizer, task.train, self.max_length)
        self.dev_batches = [make_batch(self.model.tokenizer, task.dev, idx, self.max_length, regression)
                            for idx in index_batches(len(task.dev), args.batch_size)]
        if args.cached_features:
            self.use_cached_features()
        self.dev_golds = np.array([e.label for e in task.dev])
        self.progress = Progress()
        self.best_weights: dict[str, torch.Tensor] = {}
        self.pending: dict[str, Any] | None = None  # optimizer/scheduler state to load into the resumed phase
        self.resumed_buffers: dict[str, torch.Tensor] | None = None  # method buffers, until the resumed phase starts
        self.stopped_by = "running"  # then "completed", "max_steps" or "non-finite loss"
        # dev selection and prepare: the inference precision of every tool, whatever training runs in
        self.inference_precision = inference_precision(accelerator.device)
        self.loss_module = None  # the phase's LossModule (its ``parts``: the last step's loss parts)
        self.epoch_parts: dict[str, float] = {}  # the last epoch's mean loss parts

    def use_cached_features(self) -> None:
        """Freeze the encoder and train on its per-layer sentence vectors, computed once (``eeviz.features``)."""
        from ..features import FEATURE_BATCH, FeatureCollate, cache_summaries, encoder_frozen

        self.trainable = {n for n in self.trainable if not encoder_frozen(n)}
        # the encoder's batches are fixed (FEATURE_BATCH, split order) whatever --batch-size, so runs with other
        # batch sizes share the cached features
        train = [self.collate(idx) for idx in index_batches(len(self.task.train), FEATURE_BATCH)]
        self.collate = FeatureCollate(cache_summaries(self.model, train, "caching train features"),
                                      torch.cat([b["labels"] for b in train]))
        dev_inputs = [make_batch(self.model.tokenizer, self.task.dev, idx, self.max_length, self.task.is_regression)
                      for idx in index_batches(len(self.task.dev), FEATURE_BATCH)]
        dev = FeatureCollate(cache_summaries(self.model, dev_inputs, "caching dev features"),
                             torch.cat([b["labels"] for b in dev_inputs]))
        self.dev_batches = [dev(idx) for idx in index_batches(len(self.task.dev), self.args.batch_size)]
        if self.acc.device.type == "cpu":
            # heads-only steps are a few small matrix products: a thread pool costs more than it saves (12x
            # slower with 2 threads than 1 on a busy 2-core machine)
            torch.set_num_threads(1)
        self.train_lengths = None  # no padding to save: batches need no length bucketing

    def warm_start(self, folder: Path) -> None:
        copied = copy_backbone_weights(self.model, self.trainable, folder, self.args.backbone, self.args.finetune)
        self.acc.print(f"warm start: {copied} backbone tensors from {folder}")

    # -------------------------------------------------------------- the schedule
    def run(self) -> dict:
        start = time.perf_counter() - self.progress.wall_time_s
        try:
            for index, phase in enumerate(self.phases):
                if index < self.progress.phase:
                    continue
                if self.run_phase(index, phase, start):
                    self.stopped_by = "max_steps"
                    break
                self.finish_phase(index, phase, start)
            else:
                self.stopped_by = "completed"
        except TrainingDiverged:
            self.stopped_by = "non-finite loss"
            if self.main and self.out.is_dir():  # the checkpoint there (if any) is the last finite one
                write_json_atomic(self.layout.metrics, self.metrics(finished=False))
            raise
        finished = self.stopped_by == "completed"
        self.progress.wall_time_s = time.perf_counter() - start
        if self.main:
            if finished:
                self.save_checkpoint(finished=True)
                drop_resume_state(self.out)
            else:
                write_json_atomic(self.layout.metrics, self.metrics(finished=False))
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

    def start_phase(self, index: int, phase, total_steps: int):
        """Prepare the phase (if it has a ``prepare``) and build its optimizer; returns (wrapped, optimizer, scheduler)."""
        args, acc = self.args, self.acc
        resumed_mid_phase = self.resumed_buffers is not None and self.progress.phase_epochs > 0
        if phase.prepare is not None and (self.progress.phase_epochs == 0 or resumed_mid_phase):
            reseed(args.seed, index, -1, acc.process_index)
            self.prepare(phase)
            # Resumed mid-phase: prepare's results kept in buffers come back exactly as saved; those kept in
            # plain attributes are recomputed above (exact when prepare reads only frozen weights).
            if resumed_mid_phase:
                self.restore_buffers(self.resumed_buffers)
        self.resumed_buffers = None
        optimizer, scheduler = make_optimizer(self.model, phase.lr or args.lr, args.weight_decay, args.warmup_ratio,
                                              args.schedule, total_steps)
        if acc.num_processes > 1:
            from accelerate.utils import DistributedDataParallelKwargs

            # frozen parts have requires_grad=False: DDP searches for unused parameters (a graph traversal
            # per step) only for a phase whose loss leaves some trainable ones out
            acc.ddp_handler = (DistributedDataParallelKwargs(find_unused_parameters=True)
                               if phase.unused_parameters else None)
        self.loss_module = LossModule(self.model)
        wrapped, optimizer = acc.prepare(self.loss_module, optimizer)
        if self.pending is not None:
            optimizer.load_state_dict(self.pending["optimizer"])
            scheduler.load_state_dict(self.pending["scheduler"])
            if acc.scaler is not None and self.pending.get("scaler"):
                acc.scaler.load_state_dict(self.pending["scaler"])
            self.pending = None
        return wrapped, optimizer, scheduler

    def run_phase(self, index: int, phase, start: float) -> bool:
        """Train one phase from where the progress stands. Returns True when ``--max-steps`` cut it short."""
        args, progress, acc = self.args, self.progress, self.acc
        phase_names = self.set_trainable(phase)
        epochs = phase.epochs or args.epochs
        steps_per_epoch = len(epoch_batches(len(self.task.train), args.batch_size, args.seed, index, 0,
                                            acc.process_index, acc.num_processes, self.train_lengths))
        wrapped, optimizer, scheduler = self.start_phase(index, phase, epochs * steps_per_epoch)
        reached_max = False
        while progress.phase_epochs < epochs and not self.early_stopped():
            epoch = progress.phase_epochs
            reseed(args.seed, index, epoch, acc.process_index)
            loss, complete = self.train_epoch(wrapped, optimizer, scheduler, phase, index, epoch, epochs)
            progress.epochs_run += 1
            dev = self.evaluate_dev()
            improved = self.record(phase, epoch, loss, dev, optimizer, complete, phase_names)
            progress.wall_time_s = time.perf_counter() - start
            self.end_epoch(improved, complete, optimizer, scheduler)
            if args.max_steps is not None and progress.global_step >= args.max_steps:
                reached_max = True
                break
        acc.free_memory()
        return reached_max

    def end_epoch(self, improved: bool, complete: bool, optimizer, scheduler) -> None:
        """Write what the epoch changed: the checkpoint when it is the phase's best, else metrics.json; the resume state."""
        if self.main:
            if improved:
                self.save_checkpoint(finished=False)
            else:
                write_json_atomic(self.layout.metrics, self.metrics(finished=False))
        if complete:
            self.progress.phase_epochs += 1
            self.save_resume(optimizer, scheduler)

    def early_stopped(self) -> bool:
        stale_limit = self.args.patience_epochs
        return stale_limit is not None and self.progress.stale_epochs >= stale_limit

    @torch.no_grad()
    def prepare(self, phase) -> None:
        """Run ``phase.prepare`` with a non-shuffled loader over the train split (eval mode, no gradients)."""
        loader = index_loader(index_batches(len(self.task.train), self.args.batch_size), self.collate,
                              self.args.num_workers)
        self.model.eval()
        with inference_autocast(self.acc.device, self.inference_precision):
            phase.prepare(self.model, DeviceLoader(loader, self.acc.device))

    def train_epoch(self, wrapped, optimizer, scheduler, phase, index: int, epoch: int, epochs: int):
        """One epoch (or what ``--max-steps`` leaves of it). Returns (mean loss, whether it ran to the end)."""
        from tqdm.auto import tqdm

        args, acc = self.args, self.acc
        batches = epoch_batches(len(self.task.train), args.batch_size, args.seed, index, epoch,
                                acc.process_index, acc.num_processes, self.train_lengths)
        self.model.train()
        losses = []
        part_sums: dict[str, Any] = {}  # summed on the device: no host sync per step
        desc = f"{args.method} {phase.name} epoch {epoch + 1}/{epochs}"
        with tqdm(total=len(batches), desc=desc, disable=not self.main, leave=False) as bar:
            for batch in index_loader(batches, self.collate, args.num_workers):
                loss = wrapped(to_device(batch, acc.device), phase.name)
                self.check_finite(loss, phase, epoch)
                acc.backward(loss)
                if args.max_grad_norm:
                    acc.clip_grad_norm_(wrapped.parameters(), args.max_grad_norm)
                optimizer.step()
                if not acc.optimizer_step_was_skipped:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.detach())
                for key, value in self.loss_module.parts.items():
                    value = value.detach().float() if torch.is_tensor(value) else float(value)
                    part_sums[key] = part_sums.get(key, 0.0) + value
                self.progress.global_step += 1
                bar.update(1)
                if len(losses) % 10 == 0:
                    bar.set_postfix(loss=f"{float(torch.stack(losses[-10:]).mean()):.4f}")
                if args.max_steps is not None and self.progress.global_step >= args.max_steps:
                    break
        mean_loss, self.epoch_parts = self.epoch_means(losses, part_sums)
        return mean_loss, len(losses) == len(batches)

    def epoch_means(self, losses: list[torch.Tensor], part_sums: dict[str, Any]) -> tuple[float, dict[str, float]]:
        """The epoch's mean loss and mean loss parts, averaged over every process (each runs as many steps):
        one read from the device, and one all-reduce with several processes."""
        if not losses:
            return float("nan"), {}
        keys = sorted(part_sums)
        device = losses[0].device
        means = torch.stack([torch.stack(losses).float().mean()]
                            + [torch.as_tensor(part_sums[k], dtype=torch.float32, device=device) / len(losses)
                               for k in keys])
        if self.acc.num_processes > 1:
            means = self.acc.reduce(means, reduction="mean")
        values = means.tolist()
        return values[0], dict(zip(keys, values[1:]))

    def check_finite(self, loss: torch.Tensor, phase, epoch: int) -> None:
        """Raise ``TrainingDiverged`` before a NaN or infinite loss reaches the gradients (all processes agree)."""
        finite = torch.isfinite(loss.detach()).reshape(1)
        if self.acc.num_processes > 1:
            finite = self.acc.gather(finite)  # every process stops at the same step, or DDP would hang
        if bool(finite.all()):
            return
        raise TrainingDiverged(
            f"training stopped: the loss became {float(loss.detach())} at step {self.progress.global_step + 1} "
            f"({self.args.method}, phase '{phase.name}', epoch {epoch + 1}); no weights from that step were "
            f"saved. Try a lower --lr (now {self.args.lr:g}), gradient clipping (--max-grad-norm) or "
            "--mixed-precision no"
        )

    def evaluate_dev(self) -> dict:
        return dev_scores(self.model, self.dev_batches, self.dev_golds, self.task.metric, self.acc.device,
                          self.inference_precision)

    def record(self, phase, epoch: int, loss: float, dev: dict, optimizer, complete: bool, phase_names) -> bool:
        """Add the epoch to the history and keep its weights if it is the phase's best. Returns whether it is."""
        progress = self.progress
        progress.history.append({
            "epoch": progress.epochs_run, "phase": phase.name, "phase_epoch": epoch + 1,
            "steps": progress.global_step, "train_loss": loss, "train_parts": self.epoch_parts,
            "lr": optimizer.param_groups[0]["lr"], "complete": complete, "dev": dev,
        })
        score = selection_score(dev, phase.selects_by)
        if self.args.keep_epoch == "last":
            score = [float(progress.epochs_run)]  # every epoch beats the one before: the phase keeps its last
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
            "inference_precision": self.inference_precision,
            "train_args": asdict(self.args),
            "history": progress.history,
        }

    def save_checkpoint(self, finished: bool) -> None:
        save_checkpoint_keeping_resume(self.model, self.out, self.metrics(finished))
        settle_overwrite(self.out)  # the new run has saved: the earlier run that --overwrite replaces goes

    def save_resume(self, optimizer, scheduler) -> None:
        """Write ``.resume/`` (weights, best weights, method buffers, optimizer state, progress), atomically."""
        if not self.main:
            return
        tensors = {f"model.{n}": p.detach().cpu().contiguous()
                   for n, p in self.model.named_parameters() if n in self.trainable}
        tensors.update({f"best.{n}": v.contiguous() for n, v in self.best_weights.items()})
        tensors.update({f"buffer.{n}": b.detach().cpu().contiguous()
                        for n, b in self.model.method.named_buffers()})
        state: dict[str, Any] = {"train_args": asdict(self.args), "progress": asdict(self.progress)}
        if optimizer is not None:
            opt_tensors, state["optimizer"] = flatten_optimizer(optimizer.state_dict())
            tensors.update(opt_tensors)
            state["scheduler"] = scheduler.state_dict()
            state["scaler"] = self.acc.scaler.state_dict() if self.acc.scaler is not None else None
        write_resume_state(self.out, tensors, state)

    def load_resume(self, folder: Path) -> None:
        """Continue from ``folder``: weights, method buffers, best weights, progress, optimizer state."""
        state, tensors = read_resume_state(folder)
        differ = changed_settings(state["train_args"], self.args)
        if differ:
            raise ValueError("--resume needs the interrupted run's settings; these differ: " + "; ".join(differ))
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
