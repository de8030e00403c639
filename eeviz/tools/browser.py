"""Headless Chromium settings shared by the screenshot tool and the browser tests.

Debian's ``chromium`` is driven through Playwright (never ``playwright install``). Without the
background-networking flags Chromium keeps dialling Google's hosts, which a closed network refuses.
"""

from __future__ import annotations

from urllib.parse import urlparse

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def is_local_url(url: str) -> bool:
    """True for requests that stay on this machine (and for data:/blob:/about: URLs)."""
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or (parsed.hostname or "") in LOCAL_HOSTS
