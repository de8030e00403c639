"""``python -m eeviz.train`` (same as ``eeviz train``; several GPUs: ``accelerate launch -m eeviz.train``).

The code lives in ``eeviz.training``; this module keeps the old entry point and import path.
"""

from __future__ import annotations

from .checkpoint import METRICS_FILE, RESUME_DIR
from .training.args import RUN_ONLY_ARGS, TrainArgs, check_args, method_args_dict, parse_field_value, resolve_args
from .training.batches import epoch_batches
from .training.cli import build_parser, run_preset
from .training.cli import main as _main
from .training.optim import lr_factor, parameter_groups
from .training.resume import finished_run, flatten_optimizer, unflatten_optimizer
from .training.run import train
from .training.trainer import Trainer, TrainingDiverged

__all__ = [
    "METRICS_FILE", "RESUME_DIR", "RUN_ONLY_ARGS", "TrainArgs", "Trainer", "TrainingDiverged", "build_parser",
    "check_args", "epoch_batches", "finished_run", "flatten_optimizer", "lr_factor", "main", "method_args_dict",
    "parameter_groups", "parse_field_value", "resolve_args", "run_preset", "train", "unflatten_optimizer",
]


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="python -m eeviz.train")


if __name__ == "__main__":  # ``python -m eeviz.train``, as ``eeviz train`` (its Ctrl-C line too)
    import sys

    from .cli import run_command
    from .messages import plain_warnings

    plain_warnings()
    raise SystemExit(run_command("train", sys.argv[1:], prog="python -m eeviz.train"))
