"""A threshold move reruns only the decision part of Explore (an ``st.fragment``), never the page above it.

Watches the websocket: a full run sends every element again (the page title among them); a fragment run sends
only the fragment's elements. The sentence (and its trace) sit above the fragment, so a slider move that
sends no title never reached ``get_trace``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eeviz.checkpoint import save_checkpoint
from eeviz.config import ModelConfig
from eeviz.model import build_model

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"
TIMEOUT_MS = 60_000
TITLE = "Explore one sentence".encode()


@pytest.fixture(scope="module")
def fragment_checkpoints(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("fragment_checkpoints")
    cfg = ModelConfig(backbone=tiny_bert, method="deebert", task="toy", labels=["neg", "pos"], max_length=32)
    save_checkpoint(build_model(cfg), root / "deebert-tiny")
    return root


def test_a_threshold_move_reruns_only_the_decision(streamlit_app, fragment_checkpoints, browser_page, page_log,
                                                   wait_for_app):
    page = browser_page
    frames: list[bytes] = []

    def on_socket(socket):
        socket.on("framereceived", lambda payload: frames.append(payload if isinstance(payload, bytes) else payload.encode()))

    page.on("websocket", on_socket)
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(fragment_checkpoints)})
    page.goto(base_url + "/?ckpt=deebert-tiny")
    wait_for_app(page)
    metric = page.get_by_test_id("stMetricValue").first
    metric.wait_for(timeout=TIMEOUT_MS)
    assert any(TITLE in f for f in frames)  # a full run sends the title

    # the entropy threshold to its maximum: every layer is confident enough, exit at layer 1
    frames.clear()
    page.get_by_test_id("stSidebar").get_by_role("slider").focus()
    page.keyboard.press("End")
    metric.filter(has_text="1 / 3").wait_for(timeout=TIMEOUT_MS)
    wait_for_app(page)
    assert frames, "the slider move sent nothing"
    assert not any(TITLE in f for f in frames), "a threshold move reran the whole page (and its trace)"
    page.wait_for_url(re.compile(r"t_deebert_entropy=[0-9.]+"), timeout=TIMEOUT_MS)  # still written to the link

    # a new sentence is a full run: the title comes again (the check above can fail)
    frames.clear()
    box = page.get_by_test_id("stTextArea").locator("textarea").first
    box.fill("the plot is good")
    box.press("Control+Enter")
    page.wait_for_url(re.compile(r"text=the\+plot\+is\+good"), timeout=TIMEOUT_MS)
    wait_for_app(page)
    assert any(TITLE in f for f in frames)
    assert metric.inner_text() == "1 / 3"  # the threshold set by the fragment is kept by the full run
    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == [], page_log.errors


# what the page's live charts show: per chart, its node's place in the page, the x of its exit marker, the y of
# its threshold line, and whether any of Streamlit's placeholder colours (#000001..#000040) is left undrawn
CHARTS_JS = """() => [...document.querySelectorAll('.eeviz-live-chart')].map(chart => {
  const shapes = (chart.layout && chart.layout.shapes) || [];
  const named = name => shapes.find(s => s.name === name);
  const exit = named('exit'), threshold = named('threshold');
  return {
    // the same chart node, and in it the same plot (Plotly.react starts a new plot when it must)
    same: (window.__charts || []).includes(chart) && (window.__plots || []).includes(chart.querySelector('.main-svg')),
    exit: exit ? (exit.x0 + exit.x1) / 2 : null,
    threshold: threshold ? threshold.y0 : null,
    placeholders: /#0000[0-4][0-9]/.test(JSON.stringify(chart._fullLayout.template || {}) + JSON.stringify(chart.layout)),
    background: getComputedStyle(chart.querySelector('.main-svg')).backgroundColor,  // as drawn
    drawn: chart.dataset.drawn,  // which of its figures is on screen (live_chart.js counts them)
  };
})"""


def test_a_threshold_move_redraws_the_charts_in_place(streamlit_app, fragment_checkpoints, browser_page, page_log,
                                                      wait_for_app):
    """Explore's changed charts are redrawn in their own node (Plotly.react), with their new exit and threshold,
    in Streamlit's theme, never as new charts (a new chart cost each page about 50 ms per move)."""
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(fragment_checkpoints)})
    page.goto(base_url + "/?ckpt=deebert-tiny&t_deebert_entropy=0.01")
    wait_for_app(page)
    page.locator(".eeviz-live-chart .main-svg").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('.eeviz-live-chart[data-drawn]').length >= 2")
    assert page.get_by_test_id("stPlotlyChart").count() == 0  # the probabilities and the rule's panel are live
    before = page.evaluate(CHARTS_JS)
    assert [c["exit"] for c in before if c["exit"] is not None] == [3, 3]  # a tiny threshold: no early exit
    assert [c["threshold"] for c in before if c["threshold"] is not None] == [0.01]
    background = page.evaluate(
        "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
    assert all(not c["placeholders"] and c["background"] == background for c in before), (before, background)
    page.evaluate("window.__charts = [...document.querySelectorAll('.eeviz-live-chart')]; "
                  "window.__plots = window.__charts.map(chart => chart.querySelector('.main-svg'))")

    # one step up (0.01 -> 0.02): still no early exit. The rule's panel draws its new threshold line; the
    # probabilities, whose figure is the same, are left alone (not drawn again)
    page.get_by_test_id("stSidebar").get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"({CHARTS_JS})().some(c => c.threshold === 0.02)", timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)  # a redraw of the other chart would come with the same rerun
    stepped = page.evaluate(CHARTS_JS)
    assert [c["exit"] for c in stepped if c["exit"] is not None] == [3, 3]
    for old, new in zip(before, stepped):
        changed = old["threshold"] != new["threshold"]
        assert (int(new["drawn"]) > int(old["drawn"])) == changed, (before, stepped)
    assert any(c["threshold"] is None for c in stepped)  # a chart with nothing to change was there

    # the entropy threshold to its maximum: exit at layer 1, in the same chart nodes
    page.get_by_test_id("stSidebar").get_by_role("slider").focus()
    page.keyboard.press("End")
    page.get_by_test_id("stMetricValue").first.filter(has_text="1 / 3").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(f"({CHARTS_JS})().every(c => c.exit === null || c.exit === 1)", timeout=TIMEOUT_MS)
    after = page.evaluate(CHARTS_JS)
    assert all(c["same"] for c in after), after
    assert len(after) == len(before)
    (threshold,) = [c["threshold"] for c in after if c["threshold"] is not None]
    assert threshold > 0.5  # log 2 for two classes

    # the system turns dark (the app follows it): the same charts take the dark background
    page.emulate_media(color_scheme="dark")
    app_background = "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"
    page.wait_for_function(f"{app_background} !== {background!r}", timeout=TIMEOUT_MS)
    page.wait_for_function(f"({CHARTS_JS})().every(c => c.background === {app_background})", timeout=TIMEOUT_MS)
    assert all(c["same"] and not c["placeholders"] for c in page.evaluate(CHARTS_JS))
    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == [], page_log.errors
