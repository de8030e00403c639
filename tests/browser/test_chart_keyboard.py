"""The charts without a mouse or the eyes (``live_chart_a11y.js``), in headless Chromium: Explore's playback
is played and stepped from the keyboard through HTML buttons that drive plotly's own animation (its slider
follows), a live region reads each frame's sentence, a chart is a figure named by its title with its SVG hidden
from screen readers, and its toolbar keeps one tab stop (the download).

The checkpoints are test_playback_browser's: PABEE's layers all say "pos", so at patience 1 it exits at layer 2
of 3, at patience 2 at layer 3.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from tests.browser.test_playback_browser import (  # noqa: F401  (playback_checkpoints: a fixture)
    TIMEOUT_MS, playback_checkpoints, state, wait_for_state,
)

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parents[2] / "app.py"

# every live chart: its role, name, title as plotly holds it, whether its SVG is hidden, its toolbar's tab stops
CHARTS_JS = """() => [...document.querySelectorAll('.eeviz-live-chart')].map(gd => ({
  role: gd.getAttribute('role'),
  label: gd.getAttribute('aria-label'),
  title: ((gd.layout.title || {}).text || '').replace(/<[^>]+>/g, ''),
  animated: gd._transitionData._frames.length > 0,
  svgHidden: [...gd.querySelectorAll('svg.main-svg')].every(svg => svg.getAttribute('aria-hidden') === 'true'),
  tabStops: [...gd.querySelectorAll('.modebar-btn')].filter(b => b.tabIndex >= 0).map(b => b.dataset.title),
  buttons: gd.querySelectorAll('.modebar-btn').length,
}))"""
LIVE_JS = "() => document.querySelector('.eeviz-playback-live').textContent"
FOCUSED_JS = "() => document.activeElement.closest('.eeviz-playback-keys') ? document.activeElement.textContent : null"
KEYS_BOX_JS = "() => document.querySelector('.eeviz-playback-keys').getBoundingClientRect().width"


def live_reads(page, title: str) -> None:
    """Wait until the live region reads ``title`` (plotly's title text, with the entities the state keeps)."""
    page.wait_for_function(f"({LIVE_JS})() === {json.dumps(html.unescape(title))}", timeout=TIMEOUT_MS)


def focused_key(page) -> str | None:
    """The playback button with focus, by its name (its symbol is hidden from screen readers); None if none."""
    text = page.evaluate(FOCUSED_JS)
    return None if text is None else text.replace("◀", "").replace("▶", "").replace("❚❚", "").strip()


def tab_to(page, name: str, most: int) -> int:
    """Press Tab until the playback button ``name`` has focus; how many presses it took (fails past ``most``)."""
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if focused_key(page) == name:
            return presses
    raise AssertionError(f"{most} Tabs did not reach {name!r}; focus on {focused_key(page)!r}")


def test_charts_are_named_figures_with_one_toolbar_tab_stop(streamlit_app, playback_checkpoints, browser_page,
                                                            page_log, wait_for_app):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(playback_checkpoints)})
    page.goto(base_url + "/?ckpt=pabee-play&t_pabee_patience=1")
    wait_for_app(page)
    page.wait_for_function("document.querySelectorAll('.eeviz-live-chart[data-drawn]').length >= 2")
    charts = page.evaluate(CHARTS_JS)
    assert charts and not any(c["animated"] for c in charts)  # the playback box is closed
    for chart in charts:
        assert chart["role"] == "figure" and chart["label"] == chart["title"] != "", chart
        assert chart["svgHidden"], chart  # the ticks and values are not read one by one
        assert chart["buttons"] >= 5 and chart["tabStops"] == ["Download plot as a PNG"], chart
    assert charts[0]["label"].startswith("Class probabilities per layer")
    # the accessibility tree: the figure by its name, then its toolbar, no image named by its numbers
    tree = page.locator(".eeviz-live-chart").first.aria_snapshot()
    lines = [line.strip(" -'") for line in tree.splitlines()]
    assert lines[0].startswith('figure "Class probabilities per layer'), tree
    assert lines[1] == "toolbar:" and all(line == "img" or line.startswith("button ") for line in lines[2:]), tree
    assert page.get_by_role("figure", name=charts[1]["label"], exact=True).count() == 1
    assert page.locator(".eeviz-playback-keys").count() == 0  # no frames, no playback buttons
    assert page_log.errors == [], page_log.errors


def test_playback_from_the_keyboard(streamlit_app, playback_checkpoints, browser_page, page_log, wait_for_app):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(playback_checkpoints)})
    page.goto(base_url + "/?ckpt=pabee-play&t_pabee_patience=1")
    wait_for_app(page)
    # open the box from the keyboard too
    summary = page.get_by_test_id("stExpander").filter(has_text="Watch it layer by layer").locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    wait_for_app(page)
    first = wait_for_state(page, "s.frames === 3")
    assert first["active"] == 0
    assert page.evaluate(KEYS_BOX_JS) <= 1  # hidden until one of its buttons has focus (mouse users have plotly's)
    live = page.evaluate(LIVE_JS)
    assert live == html.unescape(first["title"]) and live.startswith("layer 1:")
    animated = next(c for c in page.evaluate(CHARTS_JS) if c["animated"])
    assert animated["label"] == live and animated["tabStops"] == ["Download plot as a PNG"]

    # from the box's header: the chart's download button, "previous layer", then "play"
    summary.focus()
    assert tab_to(page, "play", 4) == 3
    assert page.evaluate(KEYS_BOX_JS) > 200  # shown while focused
    keys = page.get_by_role("group", name="Play the chart layer by layer")
    assert [b.get_attribute("aria-disabled") for b in keys.get_by_role("button").all()] == [
        "true", None, None, "false"]
    names = [b.evaluate("b => b.textContent.replace(/[◀▶❚]/g, '').trim()") for b in keys.get_by_role("button").all()]
    assert names == ["previous layer", "play", "pause", "next layer"]
    assert keys.get_by_role("button", name="next layer", exact=True).count() == 1  # its accessible name

    # "next layer" with Enter, then with Space: plotly's frame and slider step on, the live region reads it
    tab_to(page, "next layer", 2)
    page.keyboard.press("Enter")
    second = wait_for_state(page, "s.active === 1 && s.title.startsWith('layer 2:')")
    assert "exit at layer 2" in second["title"] and second["points"] == [2, 2]
    live_reads(page, second["title"])
    page.keyboard.press(" ")
    third = wait_for_state(page, "s.active === 2 && s.title.startsWith('layer 3:')")
    assert "not computed" in third["title"]
    live_reads(page, third["title"])
    assert keys.get_by_role("button", name="next layer").get_attribute("aria-disabled") == "true"
    page.keyboard.press("Enter")  # at the last frame: nothing more
    page.wait_for_timeout(300)
    assert state(page)["active"] == 2 and focused_key(page) == "next layer"

    # "previous layer" steps back
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused_key(page) == "previous layer"
    page.keyboard.press("Enter")
    wait_for_state(page, "s.active === 1 && s.title.startsWith('layer 2:')")

    # "play" starts from layer 1 and "pause" stops it there: plotly's pause, not the end of the frames
    tab_to(page, "play", 1)
    page.keyboard.press("Enter")
    wait_for_state(page, "s.active === 0")  # play's first frame; the next comes 800 ms later
    tab_to(page, "pause", 1)
    page.keyboard.press("Enter")
    page.wait_for_timeout(1800)  # two frame durations: play would have gone on to layer 2
    assert state(page)["active"] == 0

    # "play" runs to the exit (layer 2) and stops there, as plotly's own play button
    page.keyboard.press("Shift+Tab")
    assert focused_key(page) == "play"
    page.keyboard.press("Enter")
    done = wait_for_state(page, "s.active === 1 && s.title.includes('exit at layer 2')")
    live_reads(page, done["title"])
    page.wait_for_timeout(2500)  # three frame durations: play must not go on past the exit
    assert state(page)["active"] == 1

    # a threshold move redraws the chart in place: the same buttons (not built again), driving the new frames
    page.evaluate("window.__keys = document.querySelector('.eeviz-playback-keys')")
    page.get_by_test_id("stSidebar").get_by_role("slider").focus()
    page.keyboard.press("ArrowRight")  # patience 2: exit at layer 3
    wait_for_app(page)
    moved = wait_for_state(page, f"s.active === 0 && s.frames === 3 && s.title !== {first['title']!r}")
    live_reads(page, moved["title"])
    assert page.evaluate("document.querySelectorAll('.eeviz-playback-keys').length") == 1
    assert page.evaluate("document.querySelector('.eeviz-playback-keys') === window.__keys")
    keys.get_by_role("button", name="play").focus()
    page.keyboard.press("Enter")
    wait_for_state(page, "s.active === 2 && s.title.includes('exit at layer 3')")

    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == [], page_log.errors
