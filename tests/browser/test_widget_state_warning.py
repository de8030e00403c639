"""A threshold carried from Explore to Compare logs no Streamlit warning.

Moving DeeBERT's threshold on Explore and opening Compare from the sidebar logged "The widget with key
"t_deebert_entropy" was created with a default value but also had its value set via the Session State API":
the value was carried into the session from code and the widget was drawn with its default as well. Streamlit
logs it once per server, so each case starts its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apptest import write_tiny_checkpoints

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"
TIMEOUT_MS = 60_000
WARNING = "had its value set via the Session State API"


@pytest.fixture(scope="module")
def deebert_checkpoint(tiny_bert, tmp_path_factory):
    return write_tiny_checkpoints(tiny_bert, tmp_path_factory.mktemp("warning_checkpoints"), ("deebert",))


def open_compare(page, wait_for_app) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name="Compare", exact=True).click()
    page.get_by_role("heading", name="Compare methods on one sentence").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)


def compare_threshold(page) -> str:
    page.get_by_test_id("stSidebar").get_by_text("DeeBERT", exact=True).click()  # its rule's expander
    return page.get_by_test_id("stSidebar").get_by_role("slider").input_value()


@pytest.mark.parametrize("how", ["moved", "link"])
def test_threshold_reaches_compare_without_warning(how, streamlit_app, deebert_checkpoint, browser_page,
                                                   wait_for_app):
    page = browser_page
    url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(deebert_checkpoint)})
    if how == "moved":  # the user moves the slider on Explore
        page.goto(url + "/?ckpt=deebert-tiny")
        wait_for_app(page)
        page.get_by_test_id("stSidebar").get_by_role("slider").focus()
        page.keyboard.press("End")
        page.wait_for_url(re.compile(r"t_deebert_entropy="), timeout=TIMEOUT_MS)
        wait_for_app(page)
        wanted = page.get_by_test_id("stSidebar").get_by_role("slider").input_value()
    else:  # a shared link with a threshold
        page.goto(url + "/?ckpt=deebert-tiny&t_deebert_entropy=0.25")
        wait_for_app(page)
        wanted = "0.25"
    open_compare(page, wait_for_app)
    assert float(compare_threshold(page)) == float(wanted)  # the value came along
    assert "t_deebert_entropy=" in page.url
    log = streamlit_app.log(url)
    assert WARNING not in log, log[-3000:]
