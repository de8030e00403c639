"""Several processes (issue 13, item 7): a 2-process CPU run (torchrun, gloo) of every method records the
train loss averaged over both processes, and builds DDP without the per-step search for unused parameters
(frozen parts already have requires_grad=False) -- which would fail loudly if a loss left a trainable
parameter out."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eeviz.methods import available_methods

from test_train import write_reviews

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_two_processes_average_the_loss_and_skip_the_unused_parameter_search(tiny_bert, tmp_path):
    task = write_reviews(tmp_path / "reviews.csv")
    methods = available_methods()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    env.pop("ACCELERATE_MIXED_PRECISION", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path / "runs"), tiny_bert, task, ",".join(methods)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for method in methods:
        metrics = json.loads((tmp_path / "runs" / method / "metrics.json").read_text())
        assert metrics["num_processes"] == 2 and metrics["finished"], method
        for entry in metrics["history"]:
            # rank 0 adds 0, rank 1 adds 1000 to its loss: the mean of both is 500 + the real loss (a few units;
            # a policy-gradient loss may be negative), rank 0's alone would be the real loss
            assert abs(entry["train_loss"] - 500) < 100, (method, entry["phase"], entry["train_loss"])
    for rank in (0, 1):
        built = json.loads((tmp_path / "runs" / f"rank{rank}.json").read_text())
        assert {b["method"] for b in built} == set(methods)
        assert all(b["wrapper"] == "DistributedDataParallel" and b["find_unused_parameters"] is False
                   for b in built), built
