"""The Learn page's display formulas on a phone: they fit the screen, their equations one under another, where
they used to run past its edge and scroll sideways with nothing to say so; on a wide screen they stay on one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
TIMEOUT_MS = 60_000

# per display formula of the open tab: [scroll width, box width, rows of KaTeX's boxes, whether it may break (\allowbreak)]
FORMULAS_JS = """() => [...document.querySelectorAll('[data-testid=stTabPanel]:not([hidden]) .katex-display')]
    .filter(e => e.offsetParent).map(e => {
  const boxes = [...e.querySelectorAll('.katex-html > .base')].map(b => b.getBoundingClientRect());
  const rows = boxes.filter((b, i) => i === 0 || b.top >= boxes[i - 1].bottom - 1).length;  // under the one before
  return [e.scrollWidth, e.clientWidth, rows, !!e.querySelector('.allowbreak')];
})"""


def lesson_formulas(page, tab) -> list[list]:
    tab.click()
    page.wait_for_timeout(300)
    return page.evaluate(FORMULAS_JS)


def test_lesson_formulas_fit_a_phone_and_stay_on_one_line_on_a_wide_screen(streamlit_app, browser_page, page_log,
                                                                          wait_for_app, tmp_path):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(tmp_path)})  # Learn needs no checkpoint
    page.set_viewport_size({"width": 400, "height": 900})
    page.goto(base_url + "/Learn")
    wait_for_app(page)
    tabs = page.get_by_role("tab")
    tabs.first.wait_for(timeout=TIMEOUT_MS)
    assert tabs.count() >= 2
    narrow, stacked = [], 0
    for k in range(tabs.count()):
        formulas = lesson_formulas(page, tabs.nth(k))
        narrow.append(formulas)
        for scroll_width, width, rows, breakable in formulas:
            assert scroll_width <= width, (tabs.nth(k).inner_text(), scroll_width, width)  # no sideways scroll
            stacked += breakable and rows > 1
    assert sum(map(len, narrow)) >= 10 and stacked >= 5  # equations side by side went one under another

    page.set_viewport_size({"width": 1440, "height": 900})
    page.wait_for_timeout(300)
    for k in range(tabs.count()):
        wide = lesson_formulas(page, tabs.nth(k))
        assert len(wide) == len(narrow[k])
        for scroll_width, width, rows, _ in wide:
            assert scroll_width <= width and rows == 1  # side by side, as the lesson wrote them
    assert page_log.errors == [], page_log.errors
