"""The files of a run: strict-JSON metrics, the ``.resume/`` state, and recovery from a crash inside a save.

``OUT/.resume/`` (safetensors + JSON, no pickle) holds the weights, optimizer and scheduler state and the
progress after the last finished epoch. Every save is atomic (write a temporary folder, move the old one
aside, move the new one in, delete the old one); ``recover_run_folder`` puts a folder back together after a
crash at any point of that sequence (see ``eeviz.checkpoint.CheckpointLayout`` for the names).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointLayout, recover_interrupted_save, save_checkpoint
from ..files import TMP_SUFFIX, write_atomically

RESUME_VERSION = 1


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


# ------------------------------------------------------------------------------------------ JSON
def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinity replaced by None, so it writes as strict JSON (``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj: Any) -> None:
    """Strict JSON (non-finite numbers as null), written to a temporary file and renamed into place."""
    write_atomically(path, json.dumps(json_safe(obj), indent=2, allow_nan=False))


# ------------------------------------------------------------------------------------------ the folder
def check_out_dir(out: Path, resume: bool, overwrite: bool) -> bool:
    """Fail early (before any training) when OUT cannot be written or would clobber something; nothing changes.

    Returns whether OUT holds an earlier run that ``overwrite`` replaces (``move_aside`` moves it, once the
    new run's settings, data and model have loaded; ``settle_overwrite`` deletes it once the new run saved).
    """
    layout = CheckpointLayout(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out '{out}' is a file; give a folder for the checkpoint")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as err:
        raise ValueError(f"cannot write the checkpoint to '{out}': {err}") from err
    # a save in OUT was interrupted, or an --overwrite before its new run saved
    crashed = layout.old.is_dir() or layout.parked_resume.is_dir() or overwritten(out).is_dir()
    filled = out.is_dir() and any(out.iterdir())
    if not crashed and not filled:
        return False
    ours = crashed or any(p.exists() for p in (layout.config, layout.metrics, layout.resume))
    if resume:
        if not ours:  # its first save would replace the folder (and keep only its files)
            raise ValueError(f"'{out}' is not an eeviz training folder: --resume has no run there to continue")
        return False
    if not overwrite:
        hint = "pass --resume to continue its run or --overwrite to start over" if ours else "choose another --out"
        what = "an interrupted save left its run beside it" if crashed and not filled else "already exists and is not empty"
        raise ValueError(f"'{out}' {what}: {hint}")
    if not ours:
        raise ValueError(f"'{out}' is not an eeviz training folder: --overwrite refuses to delete it")
    return True


def overwritten(out: Path) -> Path:
    """Where ``--overwrite`` keeps the earlier run of OUT until the new run has saved: ``.NAME.overwritten``."""
    return out.with_name(f".{out.name}.overwritten")


def move_aside(out: Path) -> None:
    """``--overwrite``: put the earlier run back together and move it to ``overwritten(out)`` (main process)."""
    recover_run_folder(out)  # its interrupted saves' leftovers go back into it (or away)
    if out.exists():
        os.replace(out, overwritten(out))


def settle_overwrite(out: Path) -> bool:
    """Finish or undo an ``--overwrite``: once the new run saved a checkpoint in OUT, the earlier run goes;
    before that (it failed, or a crash cut it short), the earlier run comes back. Returns whether it came back.

    Called after each checkpoint save, when a run fails, and before every run (after a crash).
    """
    aside = overwritten(out)
    if not aside.is_dir():
        return False
    if CheckpointLayout(out).config.is_file():
        shutil.rmtree(aside, ignore_errors=True)
        return False
    recover_run_folder(out)  # whatever the new run left: its metrics.json or a save cut short
    shutil.rmtree(out, ignore_errors=True)  # holds no checkpoint: only the new run's partial files
    os.replace(aside, out)
    return True


def recover_run_folder(out: Path) -> None:
    """Put OUT back together after a crash inside a save, and delete what the interrupted save left.

    The checkpoint comes back from ``.OUT.old`` when the new one never moved in; ``.resume/`` comes back
    from where it was parked (beside OUT, while the checkpoint was rebuilt) or from ``.resume.old`` (when
    the new state never moved in). An older state is always consistent: the resumed run redoes the epoch.
    """
    layout = CheckpointLayout(out)
    recover_interrupted_save(out)
    for aside in (layout.parked_resume, layout.resume_old):
        if not aside.is_dir():
            continue
        if out.is_dir() and not layout.resume_state.is_file():
            shutil.rmtree(layout.resume, ignore_errors=True)
            os.replace(aside, layout.resume)
        else:
            shutil.rmtree(aside, ignore_errors=True)
    for tmp in layout.resume_temporaries():
        shutil.rmtree(tmp, ignore_errors=True)
    for tmp in (out.glob(f".*.json{TMP_SUFFIX}") if out.is_dir() else ()):
        tmp.unlink()  # a metrics.json write cut short (the next save would carry it along)
    if layout.resume.is_dir() and not layout.resume_state.is_file():
        shutil.rmtree(layout.resume, ignore_errors=True)  # a state deleted halfway when its run finished


def find_resume_dir(out: Path) -> Path | None:
    """OUT/.resume if it holds a state, else None."""
    layout = CheckpointLayout(out)
    return layout.resume if layout.resume_state.is_file() else None


def finished_run(out: Path) -> dict | None:
    """The metrics of a run in ``out`` that finished (its resume state is gone), else None."""
    layout = CheckpointLayout(out)
    if layout.resume_state.is_file() or not layout.metrics.is_file():
        return None
    metrics = json.loads(layout.metrics.read_text())
    return metrics if metrics.get("finished") else None


def save_checkpoint_keeping_resume(model, out: Path, metrics: dict) -> None:
    """Write the checkpoint (with metrics.json) into OUT, keeping OUT/.resume/ (the save rebuilds OUT from files)."""
    layout = CheckpointLayout(out)
    if layout.resume.is_dir():
        shutil.rmtree(layout.parked_resume, ignore_errors=True)
        os.replace(layout.resume, layout.parked_resume)
    save_checkpoint(model, out, extra_files={layout.metrics.name: json_safe(metrics)})
    if layout.parked_resume.is_dir():
        os.replace(layout.parked_resume, layout.resume)


def drop_resume_state(out: Path) -> None:
    """A finished run needs no resume state: its state file goes first, so a crash here reads as finished."""
    layout = CheckpointLayout(out)
    layout.resume_state.unlink(missing_ok=True)
    shutil.rmtree(layout.resume, ignore_errors=True)


# ------------------------------------------------------------------------------------------ the state
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


def write_resume_state(out: Path, tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Write ``.resume/`` atomically: a temporary folder, then the old state aside, the new one in, the old gone."""
    from safetensors.torch import save_file

    layout = CheckpointLayout(out)
    tmp = Path(tempfile.mkdtemp(prefix=layout.resume_tmp_prefix, dir=out))
    save_file(tensors, str(tmp / layout.resume_tensors.name))
    (tmp / layout.resume_state.name).write_text(json.dumps({"version": RESUME_VERSION, **state}))
    shutil.rmtree(layout.resume_old, ignore_errors=True)
    if layout.resume.exists():
        os.replace(layout.resume, layout.resume_old)
    os.replace(tmp, layout.resume)
    shutil.rmtree(layout.resume_old, ignore_errors=True)


def read_resume_state(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(state.json, tensors) of a ``.resume/`` folder; ValueError when another version wrote it."""
    from safetensors.torch import load_file

    layout = CheckpointLayout(folder.parent)
    state = json.loads(layout.resume_state.read_text())
    if state.get("version") != RESUME_VERSION:
        raise ValueError(f"'{folder}' was written by another version of eeviz.train; start over with --overwrite")
    return state, load_file(str(layout.resume_tensors))
