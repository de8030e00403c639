"""While a rerun is pending, outdated elements dim after 0.5 s in one step instead of fading for 1 s, and on the
pages a class uses at once the header says "Running…", still, instead of Streamlit's animated figure.

The fade repainted the page at the frame rate for as long as a rerun waited (``eeviz.app.page.STALE_DIM_CSS``),
and so did the figure (``STILL_RUNNING_CSS``). The app here is one of ours in miniature: the pages' CSS
(``page_style``) and a fragment whose run takes 2 s.
"""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.browser

SLOW_APP = textwrap.dedent(
    """
    import time
    import streamlit as st
    from eeviz.app.page import page_style

    page_style(still_running=STILL)

    @st.fragment
    def part():
        value = st.slider("value", 0, 10, 5)
        if value != 5:
            time.sleep(2.0)  # a slow rerun: long enough to watch the outdated elements
        st.write(f"value is {value}")
        with st.expander("details", expanded=True):
            st.write("inside")

    part()
    """
)


def open_slow_app(page, streamlit_app, wait_for_app, folder, still_running: bool) -> None:
    """``SLOW_APP`` (with or without ``still_running``) served and loaded in ``page``, its slider focused, idle."""
    script = folder / "slow_app.py"
    script.write_text(SLOW_APP.replace("still_running=STILL", f"still_running={still_running}"))
    page.goto(streamlit_app(script))
    wait_for_app(page)
    page.get_by_text("value is 5").wait_for()
    page.get_by_role("slider").focus()


# every running CSS transition of an outdated element (opacity, border colours): [property, duration ms]
STALE_TRANSITIONS_JS = """() => document.getAnimations()
  .filter(a => a.transitionProperty && a.effect && a.effect.target && a.effect.target.closest
          && a.effect.target.closest('[data-stale="true"], details'))
  .map(a => [a.transitionProperty, a.effect.getTiming().duration])"""
OPACITY_JS = """() => [...document.querySelectorAll('[data-testid="stElementContainer"][data-stale="true"]')]
  .map(e => parseFloat(getComputedStyle(e).opacity))"""


def test_outdated_elements_dim_in_one_step(streamlit_app, browser_page, page_log, wait_for_app, tmp_path):
    page = browser_page
    open_slow_app(page, streamlit_app, wait_for_app, tmp_path, still_running=False)
    page.keyboard.press("ArrowRight")
    page.wait_for_selector('[data-stale="true"]', state="attached", timeout=5_000)
    page.wait_for_timeout(200)
    transitions = page.evaluate(STALE_TRANSITIONS_JS)
    assert transitions, "no transition started on the outdated elements: nothing to check"
    assert all(duration == 0 for _, duration in transitions), transitions  # Streamlit's own: 1000 ms
    page.wait_for_timeout(700)  # past Streamlit's 0.5 s delay: dimmed, still before the run ends
    assert "value is 5" in page.inner_text("body")  # the old result is still shown
    dims = page.evaluate(OPACITY_JS)
    assert dims and all(o < 1 for o in dims), dims  # outdated content still says so

    page.get_by_text("value is 6").wait_for(timeout=20_000)
    wait_for_app(page)
    assert not page_log.errors


# the header's own "Running…" (a CSS pseudo-element) and whether Streamlit's animated running figure is drawn
RUNNING_JS = """() => {
  const header = getComputedStyle(document.querySelector('[data-testid="stHeader"]'), '::after');
  const icon = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
  return {label: header.content, shown: header.content !== 'none' && header.visibility === 'visible',
          widget: icon ? icon.checkVisibility() : false,
          running: document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state')};
}"""


@pytest.mark.parametrize("still", [True, False])
def test_the_header_says_running_without_an_animation(still, streamlit_app, browser_page, page_log, wait_for_app,
                                                      tmp_path):
    page = browser_page
    open_slow_app(page, streamlit_app, wait_for_app, tmp_path, still_running=still)
    idle = page.evaluate(RUNNING_JS)
    assert not idle["shown"] and not idle["widget"]
    page.keyboard.press("ArrowRight")
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', state="attached")
    early = page.evaluate(RUNNING_JS)
    page.wait_for_timeout(1000)  # past the 0.5 s a run waits before saying so
    late = page.evaluate(RUNNING_JS)
    assert late["running"] == "running"  # the run (2 s) is still going: the check below means something
    if still:
        assert not early["shown"]  # quick runs do not flash it
        assert late["shown"] and "Running" in late["label"], late
        assert not late["widget"], "Streamlit's animated status widget is drawn"
    else:  # the other pages keep Streamlit's widget, with its Stop button
        assert not late["shown"] and late["widget"], late
    page.get_by_text("value is 6").wait_for(timeout=20_000)
    wait_for_app(page)
    assert not page.evaluate(RUNNING_JS)["shown"]
    assert not page_log.errors
