"""``eeviz app`` runs Streamlit as a child process: stopping the command stops the app. A script or service
manager stops it with SIGTERM, which used to leave Streamlit serving on its port, its parent gone. (SIGHUP is
not passed on: a terminal's hangup reaches the whole group, and ``nohup eeviz app`` must keep running.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_stopping_the_app_command_stops_streamlit(tmp_path):
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "eeviz.cli", "app", "--checkpoints", str(tmp_path), "--server.port", str(port),
         "--server.headless", "true", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_until(lambda: serving(port), 90), "the app did not start"
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(timeout=60) is not None
        assert wait_until(lambda: not serving(port), 20), f"Streamlit still serves on {port} after SIGTERM"
    finally:
        try:  # whatever of its session is still alive (Streamlit, when the test fails)
            os.killpg(wrapper.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
