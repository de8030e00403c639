"""Find the checkpoints in a folder and trace one sentence through several of them.

The app and the benchmark share this path: each model is loaded once (callers cache the result), and a
sentence is tokenized once per distinct tokenizer, not once per method.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import CheckpointError, read_config, read_json_file
from .config import ModelConfig
from .trace import Trace

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "checkpoints"


def checkpoints_root() -> Path:
    """``$EEVIZ_CHECKPOINTS`` if set (tests, other installs), else the repository's checkpoints/ folder."""
    return Path(os.environ.get("EEVIZ_CHECKPOINTS", DEFAULT_ROOT))


@dataclass
class CheckpointInfo:
    """What a picker shows about a checkpoint without loading its weights."""

    name: str  # folder name
    path: Path
    cfg: ModelConfig
    metrics: dict  # metrics.json, if any
    has_eval: bool  # eval.json (the evaluate sweep) is present

    @property
    def title(self) -> str:
        from .methods import get_method

        try:
            method = get_method(self.cfg.method).title
        except ValueError:
            method = self.cfg.method
        return f"{method} · {Path(self.cfg.backbone).name} · {Path(self.cfg.task).name}"


def find_checkpoints(root: str | os.PathLike | None = None) -> tuple[list[CheckpointInfo], list[str]]:
    """(valid checkpoints sorted by name, problems with the folders that are not valid checkpoints)."""
    root = Path(root) if root is not None else checkpoints_root()
    found, problems = [], []
    if not root.is_dir():
        return found, [f"no checkpoint folder at '{root}'"]
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            cfg, _ = read_config(path)
        except CheckpointError as err:
            problems.append(str(err))
            continue
        except Exception as err:  # noqa: BLE001 - one bad folder must never take the listing (and the app) down
            problems.append(f"'{path}' cannot be read as a checkpoint ({type(err).__name__}: {err})")
            continue
        metrics = {}
        if (path / "metrics.json").is_file():
            # training metrics are extra information: a broken file is reported, the checkpoint stays usable
            try:
                metrics = read_json_file(path / "metrics.json", what="training metrics")
            except CheckpointError as err:
                problems.append(str(err))
            if not isinstance(metrics, dict):
                problems.append(f"'{path / 'metrics.json'}' (training metrics) is not a JSON object")
                metrics = {}
        found.append(CheckpointInfo(path.name, path, cfg, metrics, (path / "eval.json").is_file()))
    return found, problems


@torch.inference_mode()
def trace_all(models: dict, text: str, text_b: str | None = None, attentions: bool = True) -> dict[str, Trace]:
    """One sentence through every model in ``models`` (name -> EarlyExitModel), all layers each.

    Models that share a tokenizer configuration reuse one tokenization.
    """
    encodings: dict[tuple, dict] = {}
    out = {}
    for name, model in models.items():
        key = (getattr(model.tokenizer, "name_or_path", id(model.tokenizer)), model.cfg.max_length, str(model.device))
        if key not in encodings:
            encodings[key] = model.tokenize([text], None if text_b is None else [text_b])
        out[name] = model.trace_batch(encodings[key], text, text_b, attentions=attentions)
    return out
