"""Run by tests/test_ddp.py under torchrun (2 CPU processes, gloo): train each method named on the command line.

Each process adds its own constant (1000 x rank) to the loss: the gradients do not change, and the train
loss in metrics.json then shows whose losses it averages. Each process writes what DDP was built with.
"""

import json
import os
import sys

from eeviz.train import resolve_args, train
from eeviz.training.optim import LossModule
from eeviz.training.trainer import Trainer

RANK = int(os.environ["RANK"])
real_forward, real_start = LossModule.forward, Trainer.start_phase
built: list[dict] = []


def forward(self, batch, phase):
    return real_forward(self, batch, phase) + 1000.0 * RANK


def start_phase(self, index, phase, total_steps):
    wrapped, optimizer, scheduler = real_start(self, index, phase, total_steps)
    built.append({"method": self.args.method, "phase": phase.name, "wrapper": type(wrapped).__name__,
                  "find_unused_parameters": getattr(wrapped, "find_unused_parameters", None)})
    return wrapped, optimizer, scheduler


def main(out: str, backbone: str, task: str, methods: list[str]) -> None:
    LossModule.forward, Trainer.start_phase = forward, start_phase
    flags = dict(backbone=backbone, task=task, batch_size=2, epochs=1, lr=1e-3, warmup_ratio=0.0,
                 patience_epochs=0, device="cpu")
    for method in methods:
        train(resolve_args(method, os.path.join(out, method), flags))
    with open(os.path.join(out, f"rank{RANK}.json"), "w") as f:
        json.dump(built, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(","))
