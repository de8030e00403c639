"""A reader who sets the browser's text larger (150%, 200%) still reads the result: Explore's row of metrics
wraps onto more lines instead of cutting each value to "3…" / "r…"; at the usual size it stays one row."""

from __future__ import annotations

from pathlib import Path

import pytest

from apptest import write_tiny_checkpoints

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"

# every metric's label and value: (text shown, text whole?), and the metrics' distinct tops (rows)
METRICS_JS = """() => {
  const cut = el => el.scrollWidth > el.clientWidth + 1;
  const metrics = [...document.querySelectorAll('[data-testid=stMetric]')];
  const boxes = metrics.map(m => [...m.querySelectorAll('.stMarkdownEllipsis')]);
  return {
    count: metrics.length,
    cut: boxes.flat().filter(cut).map(el => el.innerText),
    rows: new Set(metrics.map(m => Math.round(m.getBoundingClientRect().top))).size,
  };
}"""


@pytest.fixture(scope="module")
def text_checkpoint(tiny_bert, tmp_path_factory):
    return write_tiny_checkpoints(tiny_bert, tmp_path_factory.mktemp("text_checkpoints"), ("deebert",))


def test_the_metrics_wrap_when_the_text_is_large(streamlit_app, text_checkpoint, browser_page, wait_for_app):
    url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(text_checkpoint)})
    browser_page.set_viewport_size({"width": 1440, "height": 900})
    browser_page.goto(f"{url}/?ckpt=deebert-tiny")
    wait_for_app(browser_page)
    browser_page.locator("[data-testid=stMetric]").first.wait_for(timeout=60_000)
    usual = browser_page.evaluate(METRICS_JS)
    assert usual["count"] >= 4 and usual["rows"] == 1 and usual["cut"] == [], usual
    for size in ("150%", "200%"):
        browser_page.evaluate(f"document.documentElement.style.fontSize = '{size}'")
        browser_page.wait_for_timeout(300)
        large = browser_page.evaluate(METRICS_JS)
        assert large["cut"] == [], (size, large)  # every label and value whole
    assert large["rows"] > 1, large  # at 200%: on more lines
