"""Where the machine's CPU went during the load test of ``eeviz bench --app``, by group of processes.

Why: the load test runs the class's browsers on the server's own cores, so its figures depend on how the
cores are shared between the pages, Chromium's browser and GPU processes, the app's server and the benchmark
itself. A p90 alone does not say which of them a change should aim at; this does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

RENDERERS = "page renderers"
CHROMIUM = "Chromium's other processes"  # the browser, GPU (software drawing here), network and utility ones
SERVER = "app server"
BENCHMARK = "this benchmark"  # this process and Playwright's driver
OTHER = "everything else"
GROUPS = (RENDERERS, CHROMIUM, SERVER, BENCHMARK, OTHER)
_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


def _descendants(pid: int) -> set[int]:
    try:
        root = psutil.Process(pid)
        return {pid, *(p.pid for p in root.children(recursive=True))}
    except _GONE:
        return set()


def group_of(proc: psutil.Process, server_pids: set[int], bench_pids: set[int]) -> str | None:
    """The group a process counts in; None for a process of none of them (it falls in ``OTHER``)."""
    if proc.pid in server_pids:
        return SERVER
    name = proc.name().lower()
    if "chrom" in name or "headless_shell" in name:  # Chromium runs under the benchmark's tree: test it first
        return RENDERERS if "--type=renderer" in proc.cmdline() else CHROMIUM
    if proc.pid in bench_pids:
        return BENCHMARK
    return None


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclass
class Snapshot:
    at: float  # time.monotonic()
    machine_busy_s: float  # CPU seconds of every core, all processes
    processes: dict[int, tuple[str, float, float]]  # pid -> (group, CPU seconds, creation time)


def snapshot(server_pid: int) -> Snapshot:
    """Every process's CPU time so far, by group."""
    server_pids, bench_pids = _descendants(server_pid), _descendants(os.getpid())
    processes = {}
    for proc in psutil.process_iter():
        try:
            group = group_of(proc, server_pids, bench_pids)
            if group is not None:
                times = proc.cpu_times()
                processes[proc.pid] = (group, times.user + times.system, proc.create_time())
        except _GONE:
            continue
    return Snapshot(time.monotonic(), _machine_busy_s(), processes)


def cpu_between(start: Snapshot, end: Snapshot) -> dict[str, float]:
    """CPU seconds of each group between two snapshots, with ``"seconds"`` (the wall time between them) and
    ``"busy"`` (the share of all cores' time that was used). A process that ended in between is lost to its
    group (and counted in ``OTHER``); one that started in between counts in full."""
    used = dict.fromkeys(GROUPS, 0.0)
    for pid, (group, seconds, created) in end.processes.items():
        before = start.processes.get(pid)
        same = before is not None and before[2] == created
        used[group] += seconds - (before[1] if same else 0.0)
    wall = max(end.at - start.at, 1e-9)
    machine = max(end.machine_busy_s - start.machine_busy_s, 0.0)
    used[OTHER] = max(machine - sum(used[g] for g in GROUPS if g != OTHER), 0.0)
    cores = psutil.cpu_count() or 1
    return {"seconds": wall, "cores": cores, "busy": min(machine / (wall * cores), 1.0), **used}


def describe(cpu: dict[str, float], moves: int) -> str:
    """One line: how busy the cores were, and each group's CPU per threshold move."""
    cores = int(cpu.get("cores") or psutil.cpu_count() or 1)  # the count the share was computed with
    per_move = " · ".join(f"{group} {cpu[group] / max(moves, 1):.3f} s" for group in GROUPS)
    return (
        f"CPU while the class moved sliders ({cpu['seconds']:.0f} s, {moves} moves): the {cores} cores were "
        f"{cpu['busy']:.0%} busy; per threshold move: {per_move}"
    )
