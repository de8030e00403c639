"""Links at their edges in a real browser (fuzz review, session 11, items 2 and 4).

- A link whose rule or threshold the page drops (a rerun) left the sentence box empty while the result was the
  default sentence's; the next change then said "the text is empty".
- A sentence too long for a link is left out of it: a reload opens the page (with the default sentence) instead
  of "HTTP ERROR 400"; a link at the budget's edge still opens, with its sentence.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from apptest import write_tiny_checkpoints

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"
DEFAULT = "the acting is wonderful, but the plot is a complete mess."


@pytest.fixture(scope="module")
def edge_browser_checkpoints(tiny_bert, tmp_path_factory):
    return write_tiny_checkpoints(tiny_bert, tmp_path_factory.mktemp("edge_browser"), ["deebert", "pabee",
                                                                                      "pondernet"])


def box(page):
    return page.get_by_test_id("stTextArea").locator("textarea").first


def holds(page, text: str) -> bool:
    """Whether the sentence box comes to hold ``text`` (a reload's run may start after the wait for the app)."""
    try:
        page.wait_for_function("t => { const box = document.querySelector('[data-testid=stTextArea] textarea'); "
                               "return box && box.value === t; }", arg=text, timeout=20_000)
    except Exception:  # noqa: BLE001 - the assertion says what the box held instead
        return False
    return True


def alerts(page) -> list[str]:
    found = page.get_by_test_id("stAlert")
    return [found.nth(i).inner_text() for i in range(found.count())]


@pytest.mark.parametrize("link", ["/?ckpt=deebert-tiny&t_deebert_entropy=nan",
                                  "/?ckpt=pondernet-tiny&rule_pondernet=nosuch",
                                  "/Compare?ckpts=deebert-tiny,pabee-tiny&t_deebert_entropy=nan"])
def test_a_dropped_link_value_leaves_the_sentence_in_its_box(streamlit_app, edge_browser_checkpoints, browser_page,
                                                              page_log, wait_for_app, link):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(edge_browser_checkpoints)})
    page.goto(base_url + link)
    wait_for_app(page)
    assert any("Ignored a" in a for a in alerts(page)), alerts(page)
    assert holds(page, DEFAULT), box(page).input_value()  # the sentence the result is for (it was empty)

    # a change elsewhere sends the box as the browser holds it: the page still runs the sentence
    if "/Compare" in link:
        page.get_by_test_id("stMultiSelect").get_by_role("button", name="remove").first.click()
    else:
        page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option").filter(has_text="PABEE").first.click()
    wait_for_app(page)
    assert not [a for a in alerts(page) if "empty" in a], alerts(page)
    assert holds(page, DEFAULT), box(page).input_value()
    result = page.get_by_test_id("stMetric") if "/Compare" not in link else page.get_by_test_id("stDataFrame")
    assert result.count() > 0
    assert page_log.errors == []


def test_a_sentence_too_long_for_a_link_leaves_a_link_that_reloads(streamlit_app, edge_browser_checkpoints,
                                                                   browser_page, page_log, wait_for_app):
    from eeviz.app.inputs import LINK_TEXT_BYTES

    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(edge_browser_checkpoints)})
    page.goto(base_url + "/?ckpt=deebert-tiny&text=a%20short%20one")
    wait_for_app(page)
    box(page).fill("語" * 19_500)  # the box takes it; 175 KB in a link, which the server answered with HTTP 400
    box(page).press("Control+Enter")
    page.get_by_text("too long to share in a link").wait_for(timeout=60_000)
    wait_for_app(page)
    assert "text=" not in page.url and len(page.url) < 1000, page.url[:200]
    response = page.reload()
    wait_for_app(page)
    assert response.status == 200
    assert holds(page, DEFAULT), box(page).input_value()[:40]  # as the line said

    # a link at the budget's edge opens, with its sentence
    edge = "語" * ((LINK_TEXT_BYTES - len("text=")) // 9)
    response = page.goto(base_url + "/?ckpt=deebert-tiny&text=" + quote(edge))
    wait_for_app(page)
    assert response.status == 200 and holds(page, edge), box(page).input_value()[:40]
    assert page.get_by_text("too long to share in a link").count() == 0
    assert page_log.errors == []
