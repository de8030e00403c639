"""The load test's CPU accounting (``eeviz.tools.cpu_use``): which process counts in which group, and the CPU
a real busy process used between two snapshots."""

from __future__ import annotations

import subprocess
import sys
from eeviz.tools import cpu_use
from eeviz.tools.app_bench import load_moves, report
from eeviz.tools.app_session import AppBenchConfig, BenchLog


class FakeProcess:
    def __init__(self, pid: int, name: str, cmdline: list[str] | None = None):
        self.pid, self._name, self._cmdline = pid, name, cmdline or [name]

    def name(self) -> str:
        return self._name

    def cmdline(self) -> list[str]:
        return self._cmdline


def test_each_process_counts_in_its_group():
    server, bench = {10, 11}, {20, 21, 30, 31}  # Chromium (30, 31) runs under the benchmark's process tree
    group = lambda proc: cpu_use.group_of(proc, server, bench)  # noqa: E731
    assert group(FakeProcess(10, "python3")) == cpu_use.SERVER
    assert group(FakeProcess(11, "python3")) == cpu_use.SERVER  # a child of the server
    assert group(FakeProcess(30, "chromium", ["chromium", "--type=renderer", "--lang=en"])) == cpu_use.RENDERERS
    assert group(FakeProcess(31, "chromium", ["chromium", "--type=gpu-process"])) == cpu_use.CHROMIUM
    assert group(FakeProcess(32, "chromium", ["chromium", "--headless"])) == cpu_use.CHROMIUM  # the browser
    assert group(FakeProcess(21, "node")) == cpu_use.BENCHMARK  # Playwright's driver
    assert group(FakeProcess(99, "sshd")) is None


def test_cpu_between_two_snapshots_by_group():
    start = cpu_use.Snapshot(0.0, 10.0, {1: (cpu_use.SERVER, 5.0, 100.0), 2: (cpu_use.RENDERERS, 1.0, 100.0)})
    end = cpu_use.Snapshot(
        2.0,
        13.0,
        {
            1: (cpu_use.SERVER, 5.5, 100.0),
            2: (cpu_use.RENDERERS, 0.25, 200.0),  # the pid came back as a new process: all of it counts
            3: (cpu_use.RENDERERS, 1.0, 150.0),  # started in between
        },
    )
    cpu = cpu_use.cpu_between(start, end)
    assert cpu["seconds"] == 2.0
    assert cpu[cpu_use.SERVER] == 0.5
    assert cpu[cpu_use.RENDERERS] == 1.25
    assert cpu[cpu_use.OTHER] == 3.0 - 1.75  # the machine's busy time that no group accounts for
    assert 0.0 < cpu["busy"] <= 1.0


def test_a_busy_server_process_is_measured_as_the_app_server():
    burn = ("import sys, time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"
            "print('done', flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        start = cpu_use.snapshot(proc.pid)
        assert proc.stdout.readline().strip() == "done"  # it has burnt its 0.6 s of CPU and now sleeps
        cpu = cpu_use.cpu_between(start, cpu_use.snapshot(proc.pid))
    finally:
        proc.kill()
        proc.wait()
    assert 0.55 <= cpu[cpu_use.SERVER] <= 1.2  # the burn, and at most the interpreter's start-up besides
    cores = cpu_use.psutil.cpu_count()
    assert cpu[cpu_use.SERVER] <= cpu["busy"] * cpu["seconds"] * cores + 0.05  # within the machine's busy time
    line = cpu_use.describe(cpu, moves=2)
    assert f"app server {cpu[cpu_use.SERVER] / 2:.3f} s" in line and "2 moves" in line


def test_the_report_says_where_the_cpu_went_per_move():
    cfg = AppBenchConfig(sessions=2)
    log = BenchLog()
    for seconds in (0.2, 0.4, 0.3):
        log.add("2 sessions at once", "threshold move", seconds)
    log.add("one session, Explore", "threshold move", 0.1)  # not the load test's
    assert load_moves(log, cfg) == 3
    # the cores the share was measured on, not this machine's count when the report is written
    log.cpu = {"seconds": 60.0, "cores": 7, "busy": 0.5, **dict.fromkeys(cpu_use.GROUPS, 0.0), cpu_use.RENDERERS: 0.9}
    text = report(log, cfg, 70.0)
    assert "page renderers 0.300 s" in text and "the 7 cores were 50% busy" in text
    assert "CPU while" not in report(BenchLog(), cfg, 1.0)  # no load test, no line
