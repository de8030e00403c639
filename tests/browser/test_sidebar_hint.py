"""On a phone the sidebar starts folded: one line says the checkpoint, rule and threshold are behind its »
button. Wide screens show the sidebar and not the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from apptest import write_tiny_checkpoints

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture(scope="module")
def hint_checkpoint(tiny_bert, tmp_path_factory):
    return write_tiny_checkpoints(tiny_bert, tmp_path_factory.mktemp("hint_checkpoints"), ("deebert",))


@pytest.mark.parametrize("page", ["", "Compare", "Attention"])
def test_the_sidebar_hint_shows_on_narrow_screens_only(page, streamlit_app, hint_checkpoint, browser_page,
                                                       wait_for_app):
    url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(hint_checkpoint)})
    browser_page.goto(f"{url}/{page}?ckpt=deebert-tiny")
    wait_for_app(browser_page)
    hint = browser_page.locator(".eeviz-sidebar-hint")
    hint.wait_for(state="attached", timeout=60_000)
    assert not hint.is_visible()  # 1400 px wide: the sidebar is open
    browser_page.set_viewport_size({"width": 400, "height": 900})
    hint.wait_for(state="visible", timeout=10_000)
    assert "sidebar" in hint.inner_text() and "»" in hint.inner_text()
