"""The app in a real browser, timed: ``eeviz bench --app`` (one session's page loads, sentences and threshold
moves, then many sessions at once moving their sliders: the README's "Performance in the browser").

Starts the Streamlit app (headless, on a free port of 127.0.0.1), drives Debian's chromium through Playwright
(no ``playwright install``; every request to another host is aborted) and measures, from the browser's own
clock, the time from an action until the page shows its new result (its "Reproduce this result" box has
changed), is idle and has painted twice:

1. one session on Explore: the first load of a cold server, fresh loads of a warm one, a new sentence typed
   (Ctrl+Enter), threshold moves (arrow keys on the sidebar slider); the same on Compare for reference;
2. ``--sessions`` sessions at once (default 16), half on Explore and half on Compare: each loads the page
   and types its own sentence; once all have, each moves a threshold slider every ``--interval`` seconds for
   ``--duration`` seconds. Each session starts its moves at its own random moment within the first interval
   (seeded, ``--seed``), as students do; ``--lockstep`` starts them all at once instead, so that every move
   of the class lands in the same instant (the worst case: "everyone, move your slider now"). With
   ``--browsers K`` only K sessions run in Chromium; the others send what a browser sends without drawing
   anything (``eeviz.app.wire``): a class whose browsers draw on their own computers.

Every session's result is then checked: its sentence box holds its own sentence, and the result summary the
page shows under "Reproduce this result" (exit layer, prediction, attention and logits checksums;
``eeviz.fingerprint``) equals a trace of that sentence computed here, in this process, with the threshold
the page reports (and that threshold is the slider's). Errors are tracebacks on the page, browser errors,
time-outs and lost connections. Prints medians and 90th percentiles, and where the cores' time went while the
class moved sliders (page renderers, Chromium's other processes, the app's server, this benchmark:
``eeviz.tools.cpu_use``); exits 1 on any error or mismatch.

Figures depend on the machine: run it with nothing else running to compare against the README's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import time
from dataclasses import asdict
from pathlib import Path

from .app_session import (
    AppBenchConfig,
    BenchLog,
    Expected,
    Session,
    start_server,
    stop_server,
    verify,
)
from . import cpu_use
from .browser import CHROMIUM_ARGS

# one session's sentences; the load test gives session k sentence k (numbered, so each is its own)
SENTENCES = (
    "a gripping, beautifully acted film that never lets up.",
    "the plot is thin and the jokes fall flat.",
    "not bad at all, though hardly memorable.",
    "i expected to hate it, and i did not.",
    "a tedious, overlong mess with one good scene.",
    "the cast is wonderful but the script lets them down.",
    "funny, warm and surprisingly moving.",
    "two hours i will never get back.",
    "an uneven but often delightful comedy.",
    "the director's best work in a decade.",
    "flat characters, predictable twists, and a dull ending.",
    "it looks great, yet feels strangely empty.",
)


# ------------------------------------------------------------------------------------------- scenarios
def models_settle_s() -> float:
    """Seconds to wait after the cold loads: the app loads the other checkpoints in the background after a
    page's own (eeviz.app.models.PRELOAD_DELAY_S), which would otherwise land in the first timings."""
    from ..app.models import PRELOAD_DELAY_S

    return PRELOAD_DELAY_S + 2.0
async def single_session(browser, url: str, cfg: AppBenchConfig, log: BenchLog, expected: Expected) -> None:
    """Cold first loads of Explore, then Compare (it loads every model); then, on the warm server, each page's
    actions and fresh loads."""
    query = f"?ckpt={cfg.checkpoint}" if cfg.checkpoint else ""
    for page_name in ("Explore", "Compare"):
        cold = Session(browser, url, page_name, f"{page_name} cold", log, cfg)
        try:
            log.add("cold server", f"first load ({page_name})", await cold.open(query))
        except Exception as err:  # noqa: BLE001 - a failed session is reported, the benchmark goes on
            log.errors.append(f"{cold.name}: {type(err).__name__}: {err}")
        finally:
            await cold.close()
    await asyncio.sleep(models_settle_s())
    for page_name in ("Explore", "Compare"):
        scenario = f"one session, {page_name}"
        first = Session(browser, url, page_name, f"{page_name} single", log, cfg)
        try:
            await first.open(query)
            for k in range(cfg.repeats):
                log.add(scenario, "new sentence", await first.type_sentence(SENTENCES[k % len(SENTENCES)]))
            for _ in range(cfg.repeats):
                log.add(scenario, "threshold move", await first.move_slider())
            await verify(first, expected, log)
        except Exception as err:  # noqa: BLE001 - a failed session is reported, the benchmark goes on
            log.errors.append(f"{first.name}: {type(err).__name__}: {err}")
        finally:
            await first.close()
        for _ in range(max(1, cfg.repeats // 2)):
            fresh = Session(browser, url, page_name, f"{page_name} fresh", log, cfg)
            try:
                log.add(scenario, "fresh load", await fresh.open(query))
            except Exception as err:  # noqa: BLE001
                log.errors.append(f"{fresh.name}: {type(err).__name__}: {err}")
            finally:
                await fresh.close()


class Gate:
    """Opens when every session has arrived (loaded and typed its sentence, or failed): the slider phase of
    the load test starts for all at once, not while others are still loading."""

    def __init__(self, count: int):
        self.left, self.opened = count, asyncio.Event()

    def arrive(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.opened.set()


def start_offsets(cfg: AppBenchConfig) -> list[float]:
    """Each load-test session's wait (s) between the gate opening and its first slider move.

    Why not zero: a session waits out the rest of its interval after each move, so sessions that start
    together stay together, and the whole class's moves arrive as one burst every interval for the whole run.
    Students do not move in step; random phases, one per session, model that. ``--lockstep`` keeps the burst.
    """
    if cfg.lockstep:
        return [0.0] * cfg.sessions
    rng = random.Random(cfg.seed)
    return [rng.uniform(0.0, cfg.interval_s) for _ in range(cfg.sessions)]


def browser_count(cfg: AppBenchConfig) -> int:
    """How many of the load test's sessions run in Chromium (``--browsers``; all by default)."""
    return cfg.sessions if cfg.browsers is None else min(cfg.browsers, cfg.sessions)


def scenario_name(cfg: AppBenchConfig, in_browser: bool) -> str:
    """The load test's label: all sessions in Chromium, or which part of a mixed class this one is."""
    browsers = browser_count(cfg)
    if browsers == cfg.sessions:
        return f"{cfg.sessions} sessions at once"
    if in_browser:
        return f"{cfg.sessions} sessions at once: the {browsers} in Chromium"
    return f"{cfg.sessions} sessions at once: the {cfg.sessions - browsers} without a browser"


async def class_session(session, sentence: str, cfg: AppBenchConfig, log: BenchLog, query: str,
                        gate: Gate, offset_s: float = 0.0) -> None:
    """One student: load, type a sentence, then a threshold move every interval (``session``: a browser
    ``Session`` or an ``app.wire.WireSession``, which have the same actions)."""
    scenario = scenario_name(cfg, isinstance(session, Session))
    try:
        try:
            log.add(scenario, f"first load ({session.page_name})", await session.open(query))
            log.add(scenario, f"new sentence ({session.page_name})", await session.type_sentence(sentence))
        finally:
            gate.arrive()
        await asyncio.wait_for(gate.opened.wait(), timeout=cfg.timeout_s * 3)
        await asyncio.sleep(offset_s)
        end = time.monotonic() + cfg.duration_s
        while time.monotonic() < end:
            started = time.monotonic()
            log.add(scenario, "threshold move", await session.move_slider())
            await asyncio.sleep(max(0.0, cfg.interval_s - (time.monotonic() - started)))
    except Exception as err:  # noqa: BLE001 - one failed session is an error, the others go on
        log.errors.append(f"{session.name}: {type(err).__name__}: {err}")


def page_of(k: int) -> str:
    return "Explore" if k % 2 == 0 else "Compare"


async def cpu_from_gate(gate: Gate, server_pid: int) -> cpu_use.Snapshot:
    """The CPU snapshot the slider phase starts from, taken when the gate opens."""
    await gate.opened.wait()
    return cpu_use.snapshot(server_pid)


def load_moves(log: BenchLog, cfg: AppBenchConfig) -> int:
    """The load test's threshold moves, browsers and wire sessions together."""
    names = {scenario_name(cfg, True), scenario_name(cfg, False)}
    return sum(len(log.times.get(name, {}).get("threshold move", [])) for name in names)


async def load_test(browser, url: str, cfg: AppBenchConfig, log: BenchLog, expected: Expected,
                    server_pid: int | None = None) -> None:
    from ..app.wire import WireSession, record, verify_wire

    query = f"?ckpt={cfg.checkpoint}" if cfg.checkpoint else ""
    browsers = browser_count(cfg)
    # what a browser sends on each page the wire sessions use, recorded before the class arrives
    recordings = {}
    for page_name in dict.fromkeys(page_of(k) for k in range(browsers, cfg.sessions)):
        recordings[page_name] = await record(browser, url, page_name, query, cfg, log)
    sessions = [
        Session(browser, url, page_of(k), f"session {k + 1}", log, cfg)
        if k < browsers
        else WireSession(url, recordings[page_of(k)], f"session {k + 1} (no browser)", log, cfg)
        for k in range(cfg.sessions)
    ]
    sentences = [f"{SENTENCES[k % len(SENTENCES)]} (review {k + 1})" for k in range(cfg.sessions)]
    try:
        gate = Gate(len(sessions))
        offsets = start_offsets(cfg)
        start = asyncio.create_task(cpu_from_gate(gate, server_pid)) if server_pid is not None else None
        await asyncio.gather(
            *(class_session(s, t, cfg, log, query, gate, o) for s, t, o in zip(sessions, sentences, offsets))
        )
        if start is not None:
            if start.done():
                log.cpu = cpu_use.cpu_between(start.result(), cpu_use.snapshot(server_pid))
            start.cancel()
        for session in sessions:
            try:
                if isinstance(session, WireSession):
                    if session.sentence is not None:
                        await verify_wire(session, expected, log)
                elif session.page is not None:
                    await verify(session, expected, log)
            except Exception as err:  # noqa: BLE001
                log.errors.append(f"{session.name}: checking failed: {type(err).__name__}: {err}")
    finally:
        for session in sessions:
            await session.close()


async def run_bench(cfg: AppBenchConfig, url: str, log: BenchLog, server_pid: int | None = None) -> None:
    from playwright.async_api import async_playwright

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise RuntimeError("chromium not found on PATH (Debian: apt-get install chromium)")
    expected = Expected(cfg.checkpoints)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            if not cfg.skip_single:
                await single_session(browser, url, cfg, log, expected)
            if not cfg.skip_load and cfg.sessions > 0:
                await load_test(browser, url, cfg, log, expected, server_pid)
        finally:
            await browser.close()


# ------------------------------------------------------------------------------------------- report
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def report(log: BenchLog, cfg: AppBenchConfig, wall_s: float) -> str:
    lines = [
        f"# eeviz bench --app: {cfg.sessions} sessions, {cfg.duration_s:g} s of slider moves every "
        f"{cfg.interval_s:g} s, "
        + ("all at the same moment (--lockstep)" if cfg.lockstep else f"each from its own random moment (seed {cfg.seed})")
        + f"; {os.cpu_count()} CPU cores; load average "
        + " → ".join(f"{x:.1f}" for x in log.load_average)
        + " (start → end; other work on the machine slows every figure)",
        "",
        "| scenario | action | n | median s | p90 s | max s |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, actions in log.times.items():
        for action, values in actions.items():
            lines.append(
                f"| {scenario} | {action} | {len(values)} | {statistics.median(values):.2f} | "
                f"{percentile(values, 0.9):.2f} | {max(values):.2f} |"
            )
    lines += [
        "",
        f"results checked against this process's traces: {log.checked}; mismatches: {len(log.mismatches)}; "
        f"errors: {len(log.errors)}; wall time {wall_s:.0f} s",
    ]
    if log.cpu:
        lines.append(cpu_use.describe(log.cpu, load_moves(log, cfg)))
    if log.retried:
        lines.append(f"key presses that started no run and were pressed again: {len(log.retried)}")
    lines += [f"  mismatch: {m}" for m in log.mismatches[:20]]
    lines += [f"  error: {e}" for e in log.errors[:20]]
    if log.messages:
        lines += [f"  the app showed {len(log.messages)} error message(s), e.g.: {log.messages[0]}"]
    return "\n".join(lines)


def build_parser(prog: str = "eeviz bench --app") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].replace("``", ""))
    defaults = AppBenchConfig()
    add = parser.add_argument
    add("--sessions", type=int, default=defaults.sessions,
        help="sessions at once in the load test (default: %(default)s)")
    add("--duration", type=float, default=defaults.duration_s, help="seconds of slider moves (default: %(default)s)")
    add("--interval", type=float, default=defaults.interval_s,
        help="seconds between slider moves (default: %(default)s)")
    add("--browsers", type=int, default=None, metavar="K",
        help="load test: only K sessions in Chromium, the others without a browser (default: all in Chromium; "
        "see eeviz.app.wire)")
    add("--lockstep", action="store_true",
        help="every session moves its slider at the same moment (default: each at its own random phase)")
    add("--seed", type=int, default=defaults.seed, help="seed of the sessions' random phases (default: %(default)s)")
    add("--repeats", type=int, default=defaults.repeats,
        help="single-session actions of each kind (default: %(default)s)")
    add("--checkpoints", default=None, help="checkpoint folder (default: the app's)")
    add("--checkpoint", default=None, help="Explore's checkpoint (folder name)")
    add("--timeout", type=float, default=defaults.timeout_s,
        help="longest wait for one action, in seconds (default: %(default)s)")
    add("--skip-single", action="store_true", help="only the load test")
    add("--skip-load", action="store_true", help="only the single-session timings")
    add("--json", default=None, metavar="OUT", help="also write every timing to this JSON file")
    return parser


def parse_args(argv: list[str] | None, prog: str) -> AppBenchConfig:
    parser = build_parser(prog)
    ns = parser.parse_args(argv)
    cfg = AppBenchConfig(
        sessions=max(0, min(ns.sessions, 64)),
        duration_s=max(0.0, min(ns.duration, 600.0)),
        interval_s=max(0.1, ns.interval),
        repeats=max(1, min(ns.repeats, 100)),
        checkpoints=ns.checkpoints,
        checkpoint=ns.checkpoint,
        timeout_s=max(5.0, ns.timeout),
        skip_single=ns.skip_single,
        skip_load=ns.skip_load,
        json_out=ns.json,
        lockstep=ns.lockstep,
        browsers=None if ns.browsers is None else max(0, ns.browsers),
        seed=ns.seed,
    )
    return cfg


def main(argv: list[str] | None = None, prog: str = "eeviz bench --app") -> int:
    cfg = parse_args(argv, prog)
    log = BenchLog(load_average=[os.getloadavg()[0]])
    started = time.monotonic()
    proc, url, server_log = start_server(cfg.checkpoints)
    try:
        asyncio.run(run_bench(cfg, url, log, proc.pid))
    except Exception as err:  # noqa: BLE001 - reported with what was measured so far
        log.errors.append(f"benchmark stopped: {type(err).__name__}: {err}")
    finally:
        stop_server(proc)
        server_log.seek(0)
        tail = server_log.read().decode(errors="replace")
        server_log.close()
    for line in tail.splitlines():  # the last line of each traceback the server logged
        if re.match(r"^[\w.]+(Error|Exception)\b", line):
            log.errors.append(f"server log: {line.strip()[:200]}")
    log.load_average.append(os.getloadavg()[0])
    print(report(log, cfg, time.monotonic() - started))
    if cfg.json_out:
        Path(cfg.json_out).write_text(json.dumps({"config": asdict(cfg), **asdict(log)}, indent=1))
    return 1 if log.errors or log.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
