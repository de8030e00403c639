"""``eeviz bench --app`` end to end on tiny checkpoints: a short load test with one session in Chromium and the
others without a browser (``eeviz.app.wire``), every session's result checked against a trace."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apptest import write_tiny_checkpoints

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]


def test_a_mixed_class_runs_and_every_result_is_checked(tiny_bert, tmp_path):
    root = write_tiny_checkpoints(tiny_bert, tmp_path / "checkpoints", ["deebert", "pabee"])
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    run = subprocess.run(
        [sys.executable, "-m", "eeviz.bench", "--app", "--skip-single", "--checkpoints", str(root),
         "--checkpoint", "deebert-tiny", "--sessions", "4", "--browsers", "1", "--duration", "4",
         "--interval", "1", "--timeout", "60"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-2000:]
    # 1 in Chromium (Explore), 3 on the wire (Compare, Explore, Compare), each with its slider moves
    moves = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"\| 4 sessions at once: the (1 in Chromium|3 without a browser) \| threshold move \| (\d+) \|", out)}
    assert set(moves) == {"1 in Chromium", "3 without a browser"}, out
    assert moves["3 without a browser"] >= 3 * 2 and moves["1 in Chromium"] >= 2
    checked = re.search(r"results checked against this process's traces: (\d+); mismatches: (\d+); errors: (\d+)", out)
    # Explore shows one result, Compare one per checkpoint (2): 1 + 2 + 1 + 2
    assert checked and checked.groups() == ("6", "0", "0"), out
    # where the cores' time went while the class moved sliders: every move counted, the server and Chromium busy
    cpu = re.search(r"CPU while the class moved sliders \(\d+ s, (\d+) moves\): the \d+ cores were (\d+)% busy; "
                    r"per threshold move: page renderers ([\d.]+) s · Chromium's other processes ([\d.]+) s · "
                    r"app server ([\d.]+) s", out)
    assert cpu, out
    assert int(cpu.group(1)) == sum(moves.values())
    assert float(cpu.group(3)) > 0 and float(cpu.group(5)) > 0 and int(cpu.group(2)) > 0
