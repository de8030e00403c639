"""The browser side of ``eeviz bench --app`` (``eeviz.tools.app_bench``): the app's server, one browser session
on one page, and the check of what a page shows against a trace computed in the benchmark's own process.

Times come from the browser's clock: an init script counts the ends of script runs (the app root's
``data-test-script-state`` leaving "running") and stamps the last key press; an action is done when a run
that started after it has ended, the page is idle and two frames have been painted.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .browser import is_local_url

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
PAGE_PATHS = {"Explore": "/", "Compare": "/Compare"}
RESULT_KEY = "eeviz-result"  # the app's container holding the result summary (eeviz.app.reproduce)
RESULT_TITLE = "Reproduce this result"  # the expander around it
SERVER_START_TIMEOUT_S = 90.0
INPUT_LOST_S = 30.0  # a key press after which the page stays idle this long started no run: press again
INPUT_RETRIES = 2

# Stamps the last key press on the page's clock; installed before any page script runs.
INIT_JS = """
(() => {
  const s = {lastKey: 0};
  window.__eevizBench = s;
  document.addEventListener('keydown', () => { s.lastKey = performance.now(); }, true);
})();
"""
# The text of the page's result box (one JSON line per checkpoint), or null while it is not drawn.
RESULT_JS = """() => {
  const code = document.querySelector('.st-key-eeviz-result [data-testid="stCode"] code');
  return code ? code.textContent : null;
}"""
# Resolves when the page is done: idle (no script running, no running icon) and, for "load", its result box
# drawn (the last element of Explore and Compare), for "change", the text of its result box no longer
# ``before``; then after two painted frames. Returns [milliseconds since the last key press (or since
# navigation start), -1 on time-out; the page's traceback text or null; its connection state]. Done is read
# from what the page shows, not from the script-state attribute alone: under load React batches "running" and
# "not running" into one render and the attribute never changes. It waits on the page's DOM changes, not by
# polling: sixteen pages polling every 5 ms were load on the very machine being measured.
DONE_JS = """
async ([kind, before, fromKey, timeoutMs]) => {
  const start = performance.now();
  const result = () => {
    const code = document.querySelector('.st-key-eeviz-result [data-testid="stCode"] code');
    return code ? code.textContent : null;
  };
  const boxDrawn = () => [...document.querySelectorAll('[data-testid="stExpander"] summary')]
    .some(s => s.textContent.includes('Reproduce this result'));
  const idle = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning' && !document.querySelector(
      '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]');
  };
  const done = () => idle() && (kind === 'load' ? boxDrawn() : (result() !== null && result() !== before));
  if (!done()) {
    const ok = await new Promise(resolve => {
      const finish = value => { observer.disconnect(); clearTimeout(timer); resolve(value); };
      const observer = new MutationObserver(() => { if (done()) finish(true); });
      observer.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
      const timer = setTimeout(() => finish(done()), Math.max(0, timeoutMs - (performance.now() - start)));
    });
    if (!ok) return -1;
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const ms = performance.now() - (fromKey ? window.__eevizBench.lastKey : 0);
  const error = document.querySelector('[data-testid="stException"]');
  const app = document.querySelector('[data-testid="stApp"]');
  return [ms, error ? error.innerText.slice(0, 300) : null, app && app.getAttribute('data-test-connection-state')];
}
"""

# what a page was doing when an action timed out
STATE_JS = """() => { const app = document.querySelector('[data-testid="stApp"]');
  return {script: app && app.getAttribute('data-test-script-state'),
          connection: app && app.getAttribute('data-test-connection-state'),
          stale: document.querySelectorAll('[data-stale="true"]').length,
          focused: document.activeElement && document.activeElement.getAttribute('aria-label')}; }"""
# The sidebar's sliders (the first visible one is moved), by CSS: a role query walks the page's accessibility
# tree, in every page on every move, on the machine being measured.
SIDEBAR_SLIDERS = '[data-testid="stSidebar"] input[type="range"]'
SLIDER_THUMB = f"{SIDEBAR_SLIDERS} >> visible=true"
SLIDER_JS = "e => [parseFloat(e.value), parseFloat(e.min), parseFloat(e.max)]"  # the slider's <input type=range>
# Focuses the first visible of the sliders; returns [value, min, max, the result box's text (``RESULT_JS``)] or
# null when none is visible. One protocol call per move where locators took four (each a round trip through the
# browser process and a query in the page).
FOCUS_SLIDER_JS = """(sliders) => {
  const thumb = [...document.querySelectorAll(sliders)].find(e => e.checkVisibility());
  if (!thumb) return null;
  thumb.focus();
  return [parseFloat(thumb.value), parseFloat(thumb.min), parseFloat(thumb.max), (%s)()];
}""" % RESULT_JS


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
    lockstep: bool = False  # load test: every session moves at the same moment (else each at a random phase)
    seed: int = 0  # the random phases' seed
    browsers: int | None = None  # load test: sessions in Chromium (None: all); the rest without a browser


@dataclass
class BenchLog:
    """Every timed action (seconds) by scenario and action, and every problem seen."""

    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # error boxes the app itself showed
    retried: list[str] = field(default_factory=list)  # key presses that started no run and were repeated
    load_average: list[float] = field(default_factory=list)  # the machine's 1-minute load, at start and end
    cpu: dict[str, float] = field(default_factory=dict)  # the load test's slider phase (eeviz.tools.cpu_use)
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
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if checkpoints:
        env["EEVIZ_CHECKPOINTS"] = str(Path(checkpoints).resolve())
    log = tempfile.TemporaryFile(mode="w+b")
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        # serving, not developing: without this, a source file edited during the run (by anyone) makes
        # Streamlit unload the app's modules under the running sessions
        "--server.fileWatcherType", "none",
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
        self.on_websocket = None  # called with the page's websocket, e.g. to record what it sends (eeviz.app.wire)

    async def open(self, query: str = "") -> float:
        self.context = await self.browser.new_context(viewport={"width": 1440, "height": 900})
        await self.context.add_init_script(INIT_JS)
        await self.context.route("**/*", self._route)
        self.page = await self.context.new_page()
        self.page.on("pageerror", lambda exc: self.log.errors.append(f"{self.name}: browser error {exc}"))
        if self.on_websocket is not None:
            self.page.on("websocket", self.on_websocket)
        await self.page.goto(self.base_url + PAGE_PATHS[self.page_name] + query, wait_until="commit")
        seconds = await self._done("load", None, from_key=False, timeout_s=self.cfg.timeout_s)
        # open the result box (no rerun: its content is drawn in the browser), read by every later action
        await self.page.get_by_test_id("stExpander").filter(has_text=RESULT_TITLE).first.locator("summary").click()
        await self.page.locator(f'.st-key-{RESULT_KEY} [data-testid="stCode"] code').first.wait_for(
            state="attached", timeout=self.cfg.timeout_s * 1000
        )
        return seconds

    async def _route(self, route) -> None:
        if is_local_url(route.request.url):
            await route.continue_()
        else:
            self.log.errors.append(f"{self.name}: blocked a request to {route.request.url}")
            await route.abort()

    async def _done(self, kind: str, before: str | None, from_key: bool, timeout_s: float) -> float:
        """Seconds until the page is done (``DONE_JS``); -1 on time-out."""
        ms, traceback, connection = await self.page.evaluate(DONE_JS, [kind, before, from_key, timeout_s * 1000])
        if ms < 0 and kind == "load":
            state = await self.page.evaluate(STATE_JS)
            raise TimeoutError(f"{self.name}: load not done after {timeout_s:.0f} s (page: {state})")
        if ms >= 0:
            if traceback is not None:
                self.log.errors.append(f"{self.name}: traceback after {kind}: {traceback}")
            if connection and connection not in ("CONNECTED", "connected"):
                self.log.errors.append(f"{self.name}: connection {connection} after {kind}")
        return ms / 1000 if ms >= 0 else -1.0

    async def _act(self, press, what: str, before: str | None = None) -> float:
        """Times ``press`` (key presses that should change the page's result) until the result box shows a
        new result and the page is idle. Under heavy load a press sometimes changes nothing at all: when
        the page sat idle with the same result for ``INPUT_LOST_S``, it is pressed again, at most
        ``INPUT_RETRIES`` times, each retry noted in the log; the time counts from the last press."""
        if before is None:
            before = await self.page.evaluate(RESULT_JS)
        for _ in range(1 + INPUT_RETRIES):
            await press()
            seconds = await self._done("change", before, from_key=True, timeout_s=INPUT_LOST_S)
            if seconds >= 0:
                return seconds
            state = await self.page.evaluate(STATE_JS)
            if state["script"] != "notRunning":  # a run is under way: wait for it
                seconds = await self._done("change", before, from_key=True, timeout_s=self.cfg.timeout_s)
                if seconds >= 0:
                    return seconds
            self.log.retried.append(f"{self.name}: {what}: no new result {INPUT_LOST_S:g} s after the key press")
        state = await self.page.evaluate(STATE_JS)
        raise TimeoutError(f"{self.name}: {what}: no new result after {1 + INPUT_RETRIES} presses (page: {state})")

    async def type_sentence(self, sentence: str) -> float:
        self.sentence = sentence
        box = self.page.get_by_test_id("stTextArea").locator("textarea").first

        async def press():
            await box.fill(sentence)
            await box.press("Control+Enter")

        return await self._act(press, "new sentence")

    async def move_slider(self) -> float:
        """One arrow-key step, sweeping from one end of the slider to the other and back."""
        state = await self.page.evaluate(FOCUS_SLIDER_JS, SIDEBAR_SLIDERS)
        if state is None:  # Compare keeps each method's controls in a closed expander
            await self.page.get_by_test_id("stSidebar").get_by_test_id("stExpander").first.locator("summary").click()
            await self.page.locator(SLIDER_THUMB).first.wait_for(state="visible", timeout=self.cfg.timeout_s * 1000)
            state = await self.page.evaluate(FOCUS_SLIDER_JS, SIDEBAR_SLIDERS)
        now, low, high, before = state
        self.direction = sweep_direction(now, low, high, self.direction)
        key = "ArrowRight" if self.direction > 0 else "ArrowLeft"
        presses = 0

        async def press():
            nonlocal presses
            if presses:  # a retry: the focus may have moved since
                await self.page.evaluate(FOCUS_SLIDER_JS, SIDEBAR_SLIDERS)
            presses += 1
            await self.page.keyboard.press(key)

        return await self._act(press, "slider move", before)

    async def slider_value(self) -> float | None:
        thumb = self.page.locator(SLIDER_THUMB).first
        if not await thumb.count():
            return None
        return (await thumb.evaluate(SLIDER_JS))[0]

    async def shown_results(self) -> list[dict]:
        """The result summary lines the page shows (JSON, one per checkpoint), opening their box if closed
        (a closed expander's content is not in the page; opening it runs nothing on the server)."""
        block = self.page.locator(f'.st-key-{RESULT_KEY} [data-testid="stCode"] code')
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
        return parse_summaries(await block.first.text_content() or "")

    async def error_boxes(self) -> list[str]:
        alerts = self.page.get_by_test_id("stAlertContentError")
        return [t[:200] for t in await alerts.all_inner_texts()]

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()


def sweep_direction(now: float, low: float, high: float, direction: int) -> int:
    """The direction of a slider's next step when it sweeps from one end to the other and back."""
    if now >= high:
        return -1
    if now <= low:
        return 1
    return direction


# ------------------------------------------------------------------------------------------- checking
def parse_summaries(text: str) -> list[dict]:
    """The result summaries in the text of a page's "Reproduce this result" box (one JSON line each)."""
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


class Expected:
    """Traces computed in this process (one thread, as the app) to check what the pages show."""

    def __init__(self, checkpoints: str | None):
        import torch

        from ..catalog import checkpoints_root

        torch.set_num_threads(1)
        try:  # the loads here are the benchmark's own business: no progress bars in its report
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
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
    """The page shows its own sentence, and each result equals this process's trace of the sentence in its box
    (so a result of another session's sentence is a mismatch even where typing failed)."""
    page = session.page
    box = page.get_by_test_id("stTextArea").locator("textarea").first
    value = await box.input_value()
    if value != session.sentence:
        log.mismatches.append(f"{session.name}: the sentence box holds {value!r}, not {session.sentence!r}")
    shown = await session.shown_results()
    if not shown:
        log.mismatches.append(f"{session.name}: no result summary on the page")
    await check_results(session.name, shown, value, await session.slider_value(), expected, log)
    log.messages.extend(f"{session.name}: {m}" for m in await session.error_boxes())


async def check_results(name: str, shown: list[dict], sentence: str, slider: float | None, expected: Expected,
                        log: BenchLog) -> None:
    """Some result used the slider's threshold (on Compare the slider is one method's; the others keep theirs),
    and each result equals this process's trace of ``sentence`` with that result's rule and threshold."""
    from ..fingerprint import differences

    thresholds = {v for s in shown for v in s.get("params", {}).values() if isinstance(v, (int, float))}
    if slider is not None and shown and not any(abs(v - slider) < 1e-9 for v in thresholds):
        log.mismatches.append(f"{name}: the slider says {slider}, the results used {sorted(thresholds)}")
    for summary in shown:
        want = await asyncio.to_thread(expected.summary, summary, sentence)
        for problem in differences(summary, want):
            log.mismatches.append(f"{name} [{summary.get('checkpoint')}]: {problem}")
        log.checked += 1
