"""The app in headless Chromium (``streamlit run app.py``) against tiny checkpoints, with the network cut off.

Types a sentence, moves a threshold, walks through every page, and checks bertviz draws in the Attention page
while every request to a host other than localhost is aborted (the harness's ``browser_page``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from eeviz.app import bertviz_offline
from apptest import write_tiny_checkpoints

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
TIMEOUT_MS = 60_000
SENTENCE = "the plot is good but the acting is bad"


@pytest.fixture(scope="module")
def browser_checkpoints(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_checkpoints")
    return write_tiny_checkpoints(tiny_bert, root, ("deebert", "pabee"))


def rerun_done(page, wait_for_app, condition) -> None:
    """Wait for ``condition`` (a playwright wait) that a rerun has happened, then for the run to finish."""
    condition()
    wait_for_app(page)


def metric_values(page) -> list[str]:
    return page.get_by_test_id("stMetricValue").all_inner_texts()


def goto_page(page, wait_for_app, label: str, heading: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=label, exact=True).click()
    page.get_by_role("heading", name=heading).wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").all_inner_texts()


@pytest.mark.skipif(bool(bertviz_offline.missing_vendor_files()), reason=f"run: {bertviz_offline.INSTALL_COMMAND}")
def test_app_in_the_browser(streamlit_app, browser_checkpoints, browser_page, page_log, wait_for_app):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(browser_checkpoints)})
    page.goto(base_url + "/?ckpt=deebert-tiny")
    wait_for_app(page)
    page.locator(".eeviz-live-chart .main-svg").nth(1).wait_for(timeout=TIMEOUT_MS)  # probabilities, rule's panel
    wait_for_app(page)
    assert page.get_by_role("heading", name="Explore one sentence").count() == 1

    # type a sentence: it runs and lands in the URL
    box = page.get_by_test_id("stTextArea").locator("textarea").first
    box.fill(SENTENCE)
    box.press("Control+Enter")
    rerun_done(
        page, wait_for_app, lambda: page.wait_for_url(re.compile(r"text=the\+plot\+is\+good"), timeout=TIMEOUT_MS)
    )
    # one Tokens box once the rerun has settled (stale elements of the previous run can linger for a moment)
    expect(page.get_by_test_id("stExpander").filter(has_text="Tokens (")).to_have_count(1, timeout=TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0

    # move the entropy threshold S with the keyboard: max -> exit at layer 1, min (0) -> the full model
    thumb = page.get_by_test_id("stSidebar").get_by_role("slider")
    thumb.focus()
    page.keyboard.press("End")
    rerun_done(
        page,
        wait_for_app,
        lambda: page.get_by_test_id("stMetricValue").first.filter(has_text="1 / 3").wait_for(timeout=TIMEOUT_MS),
    )
    page.keyboard.press("Home")
    rerun_done(
        page,
        wait_for_app,
        lambda: page.get_by_test_id("stMetricValue").first.filter(has_text="3 / 3").wait_for(timeout=TIMEOUT_MS),
    )
    page.wait_for_url(re.compile(r"t_deebert_entropy=0"), timeout=TIMEOUT_MS)

    # every page, reached through the sidebar, keeps the sentence and the checkpoint
    goto_page(page, wait_for_app, "Compare", "Compare methods on one sentence")
    assert page.get_by_test_id("stTextArea").locator("textarea").first.input_value() == SENTENCE
    page.locator(".eeviz-live-chart .main-svg").first.wait_for(timeout=TIMEOUT_MS)
    assert page.locator(".eeviz-live-chart").count() == 1  # the layers grid; the playback box starts closed

    goto_page(page, wait_for_app, "Attention", "Attention up to the exit")
    assert page.get_by_test_id("stTextArea").locator("textarea").first.input_value() == SENTENCE
    head = page.frame_locator('iframe[data-testid="stIFrame"]').nth(0)
    head.locator("#vis svg line").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Model view").click()
    model = page.frame_locator('iframe[data-testid="stIFrame"]').nth(1)
    model.locator("#vis svg line").first.wait_for(state="attached", timeout=TIMEOUT_MS)

    goto_page(page, wait_for_app, "Dataset", "Accuracy against speed\u2011up")  # a non-breaking hyphen
    assert "python -m eeviz.evaluate" in page.get_by_test_id("stCode").first.inner_text()

    goto_page(page, wait_for_app, "Learn", "How early exit works")
    page.get_by_role("tab", name="ELBERT").click()
    page.get_by_text("Puzzlement", exact=False).first.wait_for(timeout=TIMEOUT_MS)

    goto_page(page, wait_for_app, "Explore", "Explore one sentence")
    assert page.get_by_test_id("stTextArea").locator("textarea").first.input_value() == SENTENCE
    assert metric_values(page)[0] == "3 / 3"  # the threshold set before switching pages is kept

    assert page_log.errors == [], page_log.errors
    assert page_log.dialogs == []
    assert page_log.blocked == [], f"the app tried to reach the network: {page_log.blocked}"


def test_a_shared_link_reaches_compare_on_the_first_click(streamlit_app, browser_checkpoints, browser_page, page_log,
                                                        wait_for_app):
    """A link with a sentence and a threshold, opened on Explore: the sidebar's Compare link (which drops the
    query string) shows that sentence at once, and Compare's URL then holds its checkpoints and the sentence,
    so a reload keeps them. The downloads are named after the checkpoint, rule and sentence."""
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(browser_checkpoints)})
    page.goto(base_url + "/?ckpt=pabee-tiny&text=a+shared+sentence&t_pabee_patience=1")
    wait_for_app(page)
    page.get_by_test_id("stMetricValue").first.wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)

    # Explore's CSV: its name and its first columns
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.get_by_test_id("stDownloadButton").filter(has_text="Layers as CSV").locator("button").click()
    download = download_info.value
    name = download.suggested_filename
    assert re.fullmatch(r"eeviz_pabee-tiny_patience_[0-9a-f]{8}\.csv", name), name
    header, first = Path(download.path()).read_text().splitlines()[:2]
    assert header.startswith("sentence,checkpoint,rule,threshold,layer,")
    assert first.startswith("a shared sentence,pabee-tiny,patience,1")

    goto_page(page, wait_for_app, "Compare", "Compare methods on one sentence")
    box = page.get_by_test_id("stTextArea").locator("textarea").first
    assert box.input_value() == "a shared sentence"  # the first click, no second visit
    page.wait_for_url(re.compile(r"ckpts=deebert-tiny%2Cpabee-tiny"), timeout=TIMEOUT_MS)
    page.wait_for_url(re.compile(r"text=a\+shared\+sentence"), timeout=TIMEOUT_MS)
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.get_by_test_id("stDownloadButton").filter(has_text="Layers as CSV").locator("button").click()
    name = download_info.value.suggested_filename
    assert re.fullmatch(r"eeviz_deebert-tiny\+pabee-tiny_entropy\+patience_[0-9a-f]{8}\.csv", name), name

    # a reload keeps Compare's view; a link naming one checkpoint and an unknown one keeps the known one
    page.reload()
    wait_for_app(page)
    expect(page.get_by_test_id("stTextArea").locator("textarea").first).to_have_value("a shared sentence",
                                                                                    timeout=TIMEOUT_MS)
    page.goto(base_url + "/Compare?ckpts=pabee-tiny,gone&text=another+one")
    wait_for_app(page)
    expect(page.get_by_test_id("stAlert").filter(has_text="Left out of the link")).to_have_count(1,
                                                                                               timeout=TIMEOUT_MS)
    page.wait_for_url(re.compile(r"ckpts=pabee-tiny(&|$)"), timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("stTextArea").locator("textarea").first).to_have_value("another one",
                                                                                    timeout=TIMEOUT_MS)
    wait_for_app(page)
    assert page.get_by_test_id("stMultiSelect").inner_text().count("PABEE") == 1

    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == [], page_log.errors
    assert page_log.blocked == [], f"the app tried to reach the network: {page_log.blocked}"
