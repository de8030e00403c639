"""The browser's Back button walks back through what the user saw, with its sentence.

Streamlit's frontend pushes a history entry for every change of the query string, and one when a sidebar link
switches pages. A page now writes its link in one change, and Back to the bare page entry a switch pushed keeps
the sentence (it showed the default sentence).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eeviz.checkpoint import save_checkpoint
from eeviz.config import ModelConfig
from eeviz.model import build_model

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"
TIMEOUT_MS = 60_000
DEFAULT = "the acting is wonderful, but the plot is a complete mess."


@pytest.fixture(scope="module")
def history_checkpoints(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("history_checkpoints")
    for method in ("deebert", "pabee"):
        cfg = ModelConfig(backbone=tiny_bert, method=method, task="toy", labels=["neg", "pos"], max_length=32)
        save_checkpoint(build_model(cfg), root / f"{method}-tiny")
    return root


def sentence(page) -> str:
    return page.get_by_test_id("stTextArea").locator("textarea").first.input_value()


def shows(page, text: str) -> bool:
    """Whether the sentence box comes to hold ``text`` (a run that history navigation starts may still be on its
    way when the previous one has finished)."""
    try:
        page.wait_for_function("t => { const box = document.querySelector('[data-testid=stTextArea] textarea'); "
                               "return box && box.value === t; }", arg=text, timeout=20_000)
    except Exception:  # noqa: BLE001 - the assertion below says what the box held instead
        return False
    return True


def test_back_after_a_page_switch_and_after_typing_shows_what_was_seen(streamlit_app, history_checkpoints,
                                                                       browser_page, page_log, wait_for_app):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(history_checkpoints)})
    page.goto(base_url + "/?ckpt=pabee-tiny&text=a%20dull%20but%20honest%20film")
    wait_for_app(page)
    assert shows(page, "a dull but honest film"), sentence(page)
    start = page.evaluate("history.length")  # a link's own values are not written again: no entry of their own

    page.get_by_test_id("stSidebar").get_by_role("link", name="Compare").click()
    page.wait_for_url("**/Compare?*text=*", timeout=TIMEOUT_MS)
    wait_for_app(page)
    assert shows(page, "a dull but honest film"), sentence(page)
    assert page.evaluate("history.length") == start + 2  # the switch's bare entry and the page's one write

    # two steps back to the link (the switch's entry and the page's write; which comes first is the frontend's
    # race: the bare /Compare, or Compare's link on Explore's address), each showing the sentence, never the default
    for _ in range(2):
        page.go_back()
        wait_for_app(page)
        assert shows(page, "a dull but honest film"), (page.url, sentence(page))
    assert "/Compare" not in page.url and "ckpts" not in page.url and "ckpt=pabee-tiny" in page.url

    # typed sentences on one page: Back shows the one before, and from a link without one, the default
    page.goto(base_url + "/?ckpt=pabee-tiny")
    wait_for_app(page)
    assert shows(page, DEFAULT), sentence(page)
    box = page.get_by_test_id("stTextArea").locator("textarea").first
    box.fill("the plot is good")
    box.press("Control+Enter")
    page.wait_for_url("**text=the+plot+is+good*", timeout=TIMEOUT_MS)
    wait_for_app(page)
    page.go_back()
    wait_for_app(page)
    assert shows(page, DEFAULT), sentence(page)
    assert "text=" not in page.url
    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == [], page_log.errors
