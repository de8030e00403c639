"""Browser-test harness: headless Debian chromium (playwright) + Streamlit servers.

Fixtures
--------
chromium_browser   session-scoped playwright ``Browser`` (system chromium, no
                   ``playwright install``); the tests skip if chromium is absent.
browser_page       fresh context + page; every request not to 127.0.0.1/localhost
                   is aborted, ``pageerror`` events are collected (see page_log).
streamlit_app      factory: ``base_url = streamlit_app(script_path, env=None)``;
                   ``streamlit_app.log(base_url)``: that server's stderr so far.
                   starts ``python -m streamlit run`` on a free port (cwd = repo
                   root, so ``.streamlit/config.toml`` applies), waits for
                   ``/_stcore/health``, kills the server at teardown.
page_log           ``.errors`` / ``.blocked`` / ``.dialogs`` live lists for browser_page.
wait_for_app       the :func:`wait_for_app` helper as a fixture:
                   ``errors = wait_for_app(page)`` after ``page.goto(base_url)``.

Typical test::

    def test_x(streamlit_app, browser_page, page_log, wait_for_app):
        url = streamlit_app(APP_SCRIPT)
        browser_page.goto(url)
        wait_for_app(browser_page)
        assert page_log.errors == [] and page_log.dialogs == []
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from eeviz.tools.app_session import stop_server
from eeviz.tools.browser import CHROMIUM_ARGS, is_local_url

REPO_ROOT = Path(__file__).resolve().parents[2]

SERVER_START_TIMEOUT_S = 60.0
APP_RUN_TIMEOUT_MS = 60_000

# Per-page state (Page objects don't take new attributes reliably).
_PAGE_ERRORS: dict[int, list[str]] = {}
_PAGE_BLOCKED: dict[int, list[str]] = {}


# --------------------------------------------------------------------------- helpers


def chromium_executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def collect_page_errors(page) -> list[str]:
    """Start collecting uncaught JS errors (``pageerror``) of ``page``; returns the live list.

    Errors inside iframes (e.g. ``st.iframe`` content) are reported too.
    Idempotent.
    """
    key = id(page)
    if key not in _PAGE_ERRORS:
        errors: list[str] = []
        _PAGE_ERRORS[key] = errors
        page.on("pageerror", lambda exc: errors.append(f"{exc.name}: {exc.message}"))
    return _PAGE_ERRORS[key]


def page_errors(page) -> list[str]:
    return _PAGE_ERRORS.get(id(page), [])


def block_external_requests(page) -> list[str]:
    """Abort every request whose host isn't localhost; returns the live list of blocked URLs."""
    key = id(page)
    if key in _PAGE_BLOCKED:
        return _PAGE_BLOCKED[key]
    blocked: list[str] = []
    _PAGE_BLOCKED[key] = blocked

    def handler(route):
        url = route.request.url
        if is_local_url(url):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", handler)
    return blocked


def blocked_requests(page) -> list[str]:
    return _PAGE_BLOCKED.get(id(page), [])


def wait_for_app(page, timeout_ms: int = APP_RUN_TIMEOUT_MS) -> list[str]:
    """Wait until Streamlit has finished running the script; return the page errors.

    Waits for ``[data-testid="stApp"]`` with ``data-test-script-state="notRunning"``
    (set after a completed run) and for the "Running..." status widget to be gone.
    Call after ``page.goto(...)`` (or after an interaction that reruns the script).
    """
    errors = collect_page_errors(page)
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]',
        state="attached",
        timeout=timeout_ms,
    )
    page.wait_for_selector(
        '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]',
        state="detached",
        timeout=timeout_ms,
    )
    return errors


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def chromium_browser():
    exe = chromium_executable()
    if exe is None:
        pytest.skip("system chromium not found on PATH (Debian: apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    """A new page (1400x900) with external requests blocked and page errors collected."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    block_external_requests(page)
    collect_page_errors(page)
    try:
        yield page
    finally:
        _PAGE_ERRORS.pop(id(page), None)
        _PAGE_BLOCKED.pop(id(page), None)
        context.close()


@pytest.fixture
def page_log(browser_page):
    """Live lists for ``browser_page``: ``.errors`` (pageerror), ``.blocked`` (aborted
    non-local URLs), ``.dialogs`` (alert/confirm messages, auto-dismissed)."""
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    browser_page.on("dialog", on_dialog)
    return SimpleNamespace(
        errors=page_errors(browser_page), blocked=blocked_requests(browser_page), dialogs=dialogs
    )


@pytest.fixture(name="wait_for_app")
def _wait_for_app_fixture():
    return wait_for_app


@pytest.fixture
def streamlit_app():
    """Factory: ``streamlit_app(script_path, env=None) -> "http://127.0.0.1:PORT"``."""
    procs: list[tuple[subprocess.Popen, object]] = []
    logs: dict[str, object] = {}  # base_url -> the server's stderr file

    def log(base_url: str) -> str:
        """What the server at ``base_url`` wrote to stderr so far (Streamlit's warnings go there)."""
        stderr_file = logs[base_url]
        stderr_file.flush()
        stderr_file.seek(0)
        return stderr_file.read().decode(errors="replace")

    def start(script_path, env: dict[str, str] | None = None) -> str:
        port = free_port()
        full_env = dict(os.environ)
        full_env["HF_HUB_OFFLINE"] = "1"
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
        )
        full_env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        stderr_file = tempfile.TemporaryFile(mode="w+b")
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(script_path),
            "--server.headless", "true",
            "--server.port", str(port),
            "--server.address", "127.0.0.1",
        ]
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=full_env,
            stdout=subprocess.DEVNULL, stderr=stderr_file,
        )
        procs.append((proc, stderr_file))
        base_url = f"http://127.0.0.1:{port}"
        logs[base_url] = stderr_file
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(base_url + "/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return base_url
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
        stop_server(proc)
        stderr_file.seek(0)
        log = stderr_file.read().decode(errors="replace")
        print(f"---- streamlit stderr ({' '.join(cmd)}) ----\n{log}", file=sys.stderr)
        pytest.fail(
            f"streamlit server for {script_path} did not become healthy "
            f"(exit code {proc.returncode}); stderr:\n{log[-4000:]}"
        )

    start.log = log
    yield start

    for proc, stderr_file in procs:
        stop_server(proc)
        stderr_file.close()
