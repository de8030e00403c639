#!/usr/bin/env python
"""Headless-chromium screenshot of a page (e.g. a running Streamlit app) for humans.

    python scripts/screenshot.py http://127.0.0.1:8501 out.png --full-page
    python scripts/screenshot.py URL out.png --wait-selector 'iframe' --width 1400
    python scripts/screenshot.py URL out.png --width 400 --dark      # a phone, dark theme

Uses the system chromium (/usr/bin/chromium), never downloads a browser.
Requests to hosts other than localhost are blocked unless --allow-network.
For Streamlit pages it waits until the script run finished (no "Running..."),
then for --wait-selector (searched in the page and in its iframes), then
--settle-ms for iframes/animations to draw.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from eeviz.tools.browser import CHROMIUM_ARGS, is_local_url  # noqa: E402

# the page's own scrollers only: one inside another (a table's rows, 44,000 px tall on the Dataset page) scrolls
# within its box whatever the window's height, and counting it gave 20,000 px shots blank below the page
_CONTENT_HEIGHT_JS = """() => {
  const scrolls = el => {
    const oy = getComputedStyle(el).overflowY;
    return (oy === 'auto' || oy === 'scroll') && el.scrollHeight > el.clientHeight;
  };
  const inside = el => { for (let p = el.parentElement; p; p = p.parentElement) if (scrolls(p)) return true; return false; };
  let h = document.documentElement.scrollHeight;
  for (const el of document.querySelectorAll('*')) {
    if (scrolls(el) && !inside(el)) h = Math.max(h, el.scrollHeight + el.getBoundingClientRect().top);
  }
  return h;
}"""


def _wait_streamlit(page, timeout_ms: int) -> None:
    if page.locator('[data-testid="stApp"]').count() == 0:
        try:
            page.wait_for_selector('[data-testid="stApp"]', state="attached", timeout=3000)
        except Exception:
            return  # not a Streamlit page
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', state="attached", timeout=timeout_ms
    )
    page.wait_for_selector(
        '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]',
        state="detached",
        timeout=timeout_ms,
    )


def _wait_selector_any_frame(page, selector: str, timeout_ms: int) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if frame.locator(selector).count() > 0:
                    return
            except Exception:
                pass  # frame detached / navigating
        page.wait_for_timeout(200)
    raise TimeoutError(f"selector {selector!r} not found in page or iframes within {timeout_ms} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("out", help="output PNG path")
    ap.add_argument("--wait-selector", default=None, help="CSS selector to wait for (page or any iframe)")
    ap.add_argument("--full-page", action="store_true", help="capture the whole scrollable page")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the app/selector")
    ap.add_argument("--settle-ms", type=int, default=1000, help="extra wait before the shot")
    ap.add_argument("--allow-network", action="store_true", help="don't block non-localhost requests")
    ap.add_argument("--dark", action="store_true",
                    help="a browser that prefers dark: Streamlit's default theme setting (the system's) turns dark")
    args = ap.parse_args(argv)

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("error: chromium not found on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    timeout_ms = int(args.timeout * 1000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height},
                                    color_scheme="dark" if args.dark else "light")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(f"{exc.name}: {exc.message}"))
            if not args.allow_network:
                def handler(route):
                    if is_local_url(route.request.url):
                        route.continue_()
                    else:
                        print(f"blocked: {route.request.url}", file=sys.stderr)
                        route.abort()

                page.route("**/*", handler)
            page.goto(args.url, timeout=timeout_ms)
            _wait_streamlit(page, timeout_ms)
            if args.wait_selector:
                _wait_selector_any_frame(page, args.wait_selector, timeout_ms)
            page.wait_for_timeout(args.settle_ms)
            if args.full_page:
                # Streamlit scrolls inside a container, not the document: grow the
                # viewport to the tallest scrollable element so everything is laid out.
                height = page.evaluate(_CONTENT_HEIGHT_JS)
                if height > args.height:
                    page.set_viewport_size({"width": args.width, "height": min(int(height) + 20, 20000)})
                    page.wait_for_timeout(500)
            page.screenshot(path=args.out, full_page=args.full_page)
            for err in errors:
                print(f"page error: {err}", file=sys.stderr)
            print(args.out)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
