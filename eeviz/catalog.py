"""Find the checkpoint folders under a root and say what each holds, without loading any weights.

(Tracing one sentence through several models moved to ``eeviz.tracing``; ``trace_all`` stays importable from
here for callers of the former location.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CheckpointError, CheckpointLayout, read_config, read_json_file
from .config import ModelConfig
from .tracing import trace_all  # noqa: F401  (the former location)

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
            method_cls = get_method(self.cfg.method)
            method = method_cls.title
            rule = method_cls.rules.get(self.cfg.default_rule or "")
            if rule is not None and self.cfg.default_rule != method_cls.default_rule:
                # the method's title names the paper's exit rule; this checkpoint exits with another by default
                method = f"{method.split(' (')[0]} ({rule.spec.title})"
        except ValueError:
            method = self.cfg.method
        return f"{method} · {Path(self.cfg.backbone).name} · {Path(self.cfg.task).name}"


def read_folder(path: Path) -> tuple[ModelConfig | None, str | None]:
    """(the folder's config, None), or (None, why it is not a checkpoint, in one line)."""
    try:
        return read_config(path)[0], None
    except CheckpointError as err:
        return None, str(err)
    except Exception as err:  # noqa: BLE001 - one bad folder must never take the listing (and the app) down
        return None, f"'{path}' cannot be read as a checkpoint ({type(err).__name__}: {err})"


def find_checkpoints(root: str | os.PathLike | None = None) -> tuple[list[CheckpointInfo], list[str]]:
    """(valid checkpoints sorted by name, problems with the folders that are not valid checkpoints)."""
    root = Path(root) if root is not None else checkpoints_root()
    found, problems = [], []
    if not root.is_dir():
        return found, [f"no checkpoint folder at '{root}'"]
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        cfg, problem = read_folder(path)
        if cfg is None:
            problems.append(problem)
            continue
        layout = CheckpointLayout(path)
        metrics = {}
        if layout.metrics.is_file():
            # training metrics are extra information: a broken file is reported, the checkpoint stays usable
            try:
                metrics = read_json_file(layout.metrics, what="training metrics")
            except CheckpointError as err:
                problems.append(str(err))
            if not isinstance(metrics, dict):
                problems.append(f"'{layout.metrics}' (training metrics) is not a JSON object")
                metrics = {}
        found.append(CheckpointInfo(path.name, path, cfg, metrics, layout.eval.is_file()))
    return found, problems
