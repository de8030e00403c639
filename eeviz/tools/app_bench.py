"""The app in a real browser, timed: ``eeviz bench --app`` (issue 12 §2 speed targets, issue 15 load test).

Starts the Streamlit app (headless, on a free port of 127.0.0.1), drives Debian's chromium through Playwright
(no ``playwright install``; every request to another host is aborted) and measures, from the browser's own
clock, the time from an action until the page is idle (the script run it started has finished and the
browser has painted twice):

1. one session on Explore: the first load of a cold server, fresh loads of a warm one, a new sentence typed
   (Ctrl+Enter), threshold moves (arrow keys on the sidebar slider); the same on Compare for reference;
2. ``--sessions`` sessions at once (default 16), half on Explore and half on Compare: each loads the page,
   types its own sentence, then moves a threshold slider every ``--interval`` seconds for ``--duration``
   seconds.

Every session's result is then checked: its sentence box holds its own sentence, and the result summary the
page shows under "Reproduce this result" (exit layer, prediction, attention and logits checksums;
``eeviz.fingerprint``) equals a trace of that sentence computed here, in this process, with the threshold
the page reports (and that threshold is the slider's). Errors are tracebacks on the page, browser errors,
time-outs and lost connections. Prints medians and 90th percentiles; exits 1 on any error or mismatch.

Figures depend on the machine: run it with nothing else running to compare against the README's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .browser import CHROMIUM_ARGS, is_local_url

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
PAGE_PATHS = {"Explore": "/", "Compare": "/Compare"}
RESULT_KEY = "eeviz-result"  # the app's container holding the result summary (eeviz.app.reproduce)
RESULT_TITLE = "Reproduce this result"  # the expander around it
SERVER_START_TIMEOUT_S = 90.0
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

# Counts the ends of script runs (the app root's data-test-script-state leaving "running") and stamps the last
# key press, both on the page's clock; installed before any page script runs.
INIT_JS = """
(() => {
  const s = {ends: 0, lastKey: 0};
  window.__eevizBench = s;
  document.addEventListener('keydown', () => { s.lastKey = performance.now(); }, true);
  new MutationObserver(records => {
    for (const r of records) if (r.oldValue === 'running') s.ends++;
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
})();
"""
# Resolves when a run has ended after ``before`` runs and the page is idle, after two painted frames: the
# milliseconds since the last key press (or since navigation start); -1 on time-out.
IDLE_JS = """
async ([before, fromKey, timeoutMs]) => {
  const s = window.__eevizBench;
  const start = performance.now();
  const idle = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning' && !document.querySelector(
      '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]');
  };
  while (!(s.ends > before && idle())) {
    if (performance.now() - start > timeoutMs) return -1;
    await new Promise(r => setTimeout(r, 5));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - (fromKey ? s.lastKey : 0);
}
"""

SLIDER_JS = "e => [parseFloat(e.value), parseFloat(e.min), parseFloat(e.max)]"  # the slider's <input type=range>


@dataclass
class AppBenchConfig:
    sessions: int = 16
    duration_s: float = 60.0
    interval_s: float = 2.0
    repeats: int = 8  # single-session actions of each kind
    checkpoints: str | None = None
    checkpoint: str | None = None  # Explore's checkpoint (default: the app's first)
    timeout_s: float = 120.0  # longest wait for one action
    skip_single: bool = False
    skip_load: bool = False
    json_out: str | None = None  # also write every timing here


@dataclass
class BenchLog:
    """Every timed action (seconds) by scenario and action, and every problem seen."""

    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # error boxes the app itself showed
    checked: int = 0

    def add(self, scenario: str, action: str, seconds: float) -> None:
        self.times.setdefault(scenario, {}).setdefault(action, []).append(seconds)


# ------------------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoints: str | None) -> tuple[subprocess.Popen, str, Any]:
    """``streamlit run app.py`` on a free local port; returns (process, base URL, its stderr file)."""
    import tempfile

    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if checkpoints:
        env["EEVIZ_CHECKPOINTS"] = str(Path(checkpoints).resolve())
    log = tempfile.TemporaryFile(mode="w+b")
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
    ]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url, log
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.25)
    stop_server(proc)
    log.seek(0)
    raise RuntimeError(f"the app did not start: {log.read().decode(errors='replace')[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------- one page
class Session:
    """One browser context (one Streamlit session) on one page, with its timings going to ``log``."""

    def __init__(self, browser, base_url: str, page_name: str, name: str, log: BenchLog, cfg: AppBenchConfig):
        self.browser, self.base_url, self.page_name, self.name = browser, base_url, page_name, name
        self.log, self.cfg = log, cfg
        self.page = None
        self.context = None
        self.sentence: str | None = None
        self.direction = 1

    async def open(self, query: str = "") -> float:
        self.context = await self.browser.new_context(viewport={"width": 1440, "height": 900})
        await self.context.add_init_script(INIT_JS)
        await self.context.route("**/*", self._route)
        self.page = await self.context.new_page()
        self.page.on("pageerror", lambda exc: self.log.errors.append(f"{self.name}: browser error {exc}"))
        await self.page.goto(self.base_url + PAGE_PATHS[self.page_name] + query, wait_until="commit")
        return await self._idle(0, from_key=False, what="load")

    async def _route(self, route) -> None:
        if is_local_url(route.request.url):
            await route.continue_()
        else:
            self.log.errors.append(f"{self.name}: blocked a request to {route.request.url}")
            await route.abort()

    async def _runs(self) -> int:
        return await self.page.evaluate("() => window.__eevizBench.ends")

    async def _idle(self, before: int, from_key: bool, what: str) -> float:
        ms = await self.page.evaluate(IDLE_JS, [before, from_key, self.cfg.timeout_s * 1000])
        if ms < 0:
            raise TimeoutError(f"{self.name}: {what} not done after {self.cfg.timeout_s:.0f} s")
        await self._check_page(what)
        return ms / 1000

    async def _check_page(self, what: str) -> None:
        exceptions = self.page.get_by_test_id("stException")
        if await exceptions.count():
            text = (await exceptions.first.inner_text())[:300]
            self.log.errors.append(f"{self.name}: traceback after {what}: {text}")
        state = await self.page.get_attribute('[data-testid="stApp"]', "data-test-connection-state")
        if state and state not in ("CONNECTED", "connected"):
            self.log.errors.append(f"{self.name}: connection {state} after {what}")

    async def type_sentence(self, sentence: str) -> float:
        self.sentence = sentence
        box = self.page.get_by_test_id("stTextArea").locator("textarea").first
        await box.fill(sentence)
        before = await self._runs()
        await box.press("Control+Enter")
        return await self._idle(before, from_key=True, what="new sentence")

    async def _slider(self):
        sidebar = self.page.get_by_test_id("stSidebar")
        thumb = sidebar.get_by_role("slider").first
        if not await thumb.is_visible():  # Compare keeps each method's controls in a closed expander
            await sidebar.get_by_test_id("stExpander").first.locator("summary").click()
            await thumb.wait_for(state="visible", timeout=self.cfg.timeout_s * 1000)
        return thumb

    async def move_slider(self) -> float:
        """One arrow-key step, sweeping from one end of the slider to the other and back."""
        thumb = await self._slider()
        now, low, high = await thumb.evaluate(SLIDER_JS)
        if now >= high:
            self.direction = -1
        elif now <= low:
            self.direction = 1
        await thumb.focus()
        before = await self._runs()
        await self.page.keyboard.press("ArrowRight" if self.direction > 0 else "ArrowLeft")
        return await self._idle(before, from_key=True, what="slider move")

    async def slider_value(self) -> float | None:
        thumb = self.page.get_by_test_id("stSidebar").get_by_role("slider").first
        if not await thumb.count():
            return None
        return (await thumb.evaluate(SLIDER_JS))[0]

    async def shown_results(self) -> list[dict]:
        """The result summary lines the page shows (JSON, one per checkpoint), opening their box if closed
        (a closed expander's content is not in the page; opening it runs nothing on the server)."""
        block = self.page.locator(f".st-key-{RESULT_KEY} code")
        if not await block.count():
            box = self.page.get_by_test_id("stExpander").filter(has_text=RESULT_TITLE)
            if await box.count():
                await box.first.locator("summary").click()
                try:
                    await block.first.wait_for(state="attached", timeout=10_000)
                except Exception:  # noqa: BLE001 - reported as a missing summary
                    return []
        if not await block.count():
            return []
        text = await block.first.text_content() or ""
        return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]

    async def error_boxes(self) -> list[str]:
        alerts = self.page.get_by_test_id("stAlertContentError")
        return [t[:200] for t in await alerts.all_inner_texts()]

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()


# ------------------------------------------------------------------------------------------- checking
class Expected:
    """Traces computed in this process (one thread, as the app) to check what the pages show."""

    def __init__(self, checkpoints: str | None):
        import torch

        from ..catalog import checkpoints_root

        torch.set_num_threads(1)
        self.root = Path(checkpoints) if checkpoints else checkpoints_root()
        self.models: dict[str, Any] = {}
        self.traces: dict[tuple, Any] = {}

    def summary(self, shown: dict, text: str, text_b: str | None = None) -> dict:
        from ..checkpoint import load_checkpoint
        from ..fingerprint import result_summary
        from ..trace import replay

        name = shown["checkpoint"]
        if name not in self.models:
            self.models[name] = load_checkpoint(self.root / name)
        model = self.models[name]
        key = (name, text, text_b)
        if key not in self.traces:
            self.traces[key] = model.trace(text, text_b)
        trace = self.traces[key]
        decision = replay(trace, model.make_rule(shown["rule"], **shown.get("params", {})))
        return result_summary(name, trace, decision)


async def verify(session: Session, expected: Expected, log: BenchLog) -> None:
    """The page shows its own sentence, and each result equals this process's trace of it."""
    from ..fingerprint import differences

    page = session.page
    box = page.get_by_test_id("stTextArea").locator("textarea").first
    value = await box.input_value()
    if value != session.sentence:
        log.mismatches.append(f"{session.name}: the sentence box holds {value!r}, not {session.sentence!r}")
    shown = await session.shown_results()
    if not shown:
        log.mismatches.append(f"{session.name}: no result summary on the page")
    slider = await session.slider_value()
    thresholds = {v for s in shown for v in s.get("params", {}).values() if isinstance(v, (int, float))}
    if slider is not None and shown and not any(abs(v - slider) < 1e-9 for v in thresholds):
        log.mismatches.append(f"{session.name}: the slider says {slider}, the results used {sorted(thresholds)}")
    for summary in shown:
        want = await asyncio.to_thread(expected.summary, summary, session.sentence)
        for problem in differences(summary, want):
            log.mismatches.append(f"{session.name} [{summary.get('checkpoint')}]: {problem}")
        log.checked += 1
    log.messages.extend(f"{session.name}: {m}" for m in await session.error_boxes())


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


async def class_session(session: Session, sentence: str, cfg: AppBenchConfig, log: BenchLog, query: str) -> None:
    scenario = f"{cfg.sessions} sessions at once"
    try:
        log.add(scenario, f"first load ({session.page_name})", await session.open(query))
        log.add(scenario, f"new sentence ({session.page_name})", await session.type_sentence(sentence))
        end = time.monotonic() + cfg.duration_s
        while time.monotonic() < end:
            started = time.monotonic()
            log.add(scenario, "threshold move", await session.move_slider())
            await asyncio.sleep(max(0.0, cfg.interval_s - (time.monotonic() - started)))
    except Exception as err:  # noqa: BLE001 - one failed session is an error, the others go on
        log.errors.append(f"{session.name}: {type(err).__name__}: {err}")


async def load_test(browser, url: str, cfg: AppBenchConfig, log: BenchLog, expected: Expected) -> None:
    query = f"?ckpt={cfg.checkpoint}" if cfg.checkpoint else ""
    sessions = [
        Session(browser, url, "Explore" if k % 2 == 0 else "Compare", f"session {k + 1}", log, cfg)
        for k in range(cfg.sessions)
    ]
    sentences = [f"{SENTENCES[k % len(SENTENCES)]} (review {k + 1})" for k in range(cfg.sessions)]
    try:
        await asyncio.gather(*(class_session(s, t, cfg, log, query) for s, t in zip(sessions, sentences)))
        for session in sessions:
            if session.page is not None and session.sentence is not None:
                try:
                    await verify(session, expected, log)
                except Exception as err:  # noqa: BLE001
                    log.errors.append(f"{session.name}: checking failed: {type(err).__name__}: {err}")
    finally:
        for session in sessions:
            await session.close()


async def run_bench(cfg: AppBenchConfig, url: str, log: BenchLog) -> None:
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
                await load_test(browser, url, cfg, log, expected)
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
        f"{cfg.interval_s:g} s; {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end",
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
    lines += [f"  mismatch: {m}" for m in log.mismatches[:20]]
    lines += [f"  error: {e}" for e in log.errors[:20]]
    if log.messages:
        lines += [f"  the app showed {len(log.messages)} error message(s), e.g.: {log.messages[0]}"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None, prog: str) -> AppBenchConfig:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    defaults = AppBenchConfig()
    parser.add_argument("--sessions", type=int, default=defaults.sessions, help="sessions at once in the load test")
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="seconds of slider moves")
    parser.add_argument("--interval", type=float, default=defaults.interval_s, help="seconds between slider moves")
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="single-session actions of each kind")
    parser.add_argument("--checkpoints", default=None, help="checkpoint folder (default: the app's)")
    parser.add_argument("--checkpoint", default=None, help="Explore's checkpoint (folder name)")
    parser.add_argument("--timeout", type=float, default=defaults.timeout_s, help="longest wait for one action (s)")
    parser.add_argument("--skip-single", action="store_true", help="only the load test")
    parser.add_argument("--skip-load", action="store_true", help="only the single-session timings")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write every timing to this JSON file")
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
    )
    return cfg


def main(argv: list[str] | None = None, prog: str = "eeviz bench --app") -> int:
    cfg = parse_args(argv, prog)
    log = BenchLog()
    started = time.monotonic()
    proc, url, server_log = start_server(cfg.checkpoints)
    try:
        asyncio.run(run_bench(cfg, url, log))
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
    print(report(log, cfg, time.monotonic() - started))
    if cfg.json_out:
        Path(cfg.json_out).write_text(json.dumps({"config": asdict(cfg), **asdict(log)}, indent=1))
    return 1 if log.errors or log.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
