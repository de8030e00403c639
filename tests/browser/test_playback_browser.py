"""The layer-by-layer playback in headless Chromium: play runs the frames and stops at the exit, the slider
steps through them, the sentence changes with the layer, and Compare steps every checkpoint together.

The box starts closed (its figure is built only once it is opened), so each page opens it first.

The tiny checkpoints are made deterministic: every classifier's weights are zero, so each layer predicts from
its bias alone. PABEE's layers all say "pos" (patience 1: exit at layer 2 of 3); DeeBERT's are sure enough
(entropy 0.19 < S = 0.3) to exit at layer 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from eeviz.checkpoint import save_checkpoint
from eeviz.config import ModelConfig
from eeviz.model import build_model

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
TIMEOUT_MS = 60_000

# the playback chart's state, read from plotly's own objects
STATE_JS = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && g.layout.sliders);
  if (!gd || !gd._fullLayout.sliders) return null;
  return {active: gd._fullLayout.sliders[0].active,
          title: gd._fullLayout.title.text.replace(/<br>/g, ' ').replace(/<[^>]+>/g, ''),  // the words alone
          // the drawn title's weight, piece by piece ("layer 1:" bold, its words normal)
          weights: [...gd.querySelectorAll('.g-gtitle text tspan')]
            .filter(t => [...t.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
            .map(t => getComputedStyle(t).fontWeight),
          shapes: gd._fullLayout.shapes.filter(s => s.visible).map(s => s.name),
          points: gd.data.filter(d => d.type === 'scatter').map(d => d.x.length),
          frames: gd._transitionData._frames.length};
}"""


def fixed_classifiers(model, bias) -> None:
    """Every Linear classifier of the method predicts ``bias`` whatever it reads."""
    with torch.no_grad():
        for name, module in model.method.named_modules():
            if isinstance(module, torch.nn.Linear) and module.out_features == len(bias):
                module.weight.zero_()
                module.bias.copy_(torch.tensor(bias))


@pytest.fixture(scope="module")
def playback_checkpoints(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("playback_checkpoints")
    for method, bias in (("pabee", [0.0, 1.0]), ("deebert", [0.0, 3.0])):
        cfg = ModelConfig(backbone=tiny_bert, method=method, task="toy", labels=["neg", "pos"], max_length=32)
        model = build_model(cfg)
        fixed_classifiers(model, bias)
        save_checkpoint(model, root / f"{method}-play")
    return root


def state(page) -> dict:
    return page.evaluate(STATE_JS)


def open_playback(page, wait_for_app) -> None:
    """Open the "Watch it layer by layer" box: it starts closed, and its figure is built once it is open."""
    box = page.get_by_test_id("stExpander").filter(has_text="Watch it layer by layer")
    box.locator("summary").click()
    wait_for_app(page)


def playback_chart(page):
    chart = page.locator(".js-plotly-plot").filter(has=page.locator("g.slider-container")).first
    chart.wait_for(timeout=TIMEOUT_MS)
    chart.scroll_into_view_if_needed()
    return chart


def click_step(page, chart, label: str) -> None:
    """Click the slider's rail under the step labelled ``label``, as a user moving it."""
    labels = chart.locator("g.slider-container text.slider-label")
    texts = labels.all_text_contents()
    box = labels.nth(texts.index(label)).bounding_box()
    rail = chart.locator("rect.slider-rail-touch-rect").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, rail["y"] + rail["height"] / 2)


def assert_sentence_under_toolbar(page, chart) -> None:
    """Plotly's toolbar shows over the chart's top while the mouse is over it: the frame's sentence sits under it
    (on a phone the toolbar runs across the whole width and hid the sentence)."""
    # the toolbar is laid out (see-through) before the mouse comes: no hover needed to measure it
    toolbar, sentence = chart.locator(".modebar").bounding_box(), chart.locator(".gtitle").bounding_box()
    assert toolbar is not None and sentence is not None
    assert sentence["y"] >= toolbar["y"] + toolbar["height"], (toolbar, sentence)


def assert_sentence_above_rows(chart) -> None:
    """Compare's sentence ends above the first row's name, whatever the frame (a frame of more lines than the
    first one ran its words over the first rows)."""
    sentence, first_name = chart.locator(".gtitle").bounding_box(), chart.locator(".annotation").first.bounding_box()
    assert sentence is not None and first_name is not None
    assert sentence["y"] + sentence["height"] <= first_name["y"] + 1, (sentence, first_name)


def wait_for_state(page, condition: str) -> dict:
    """Wait until the playback state satisfies the JS expression ``condition`` (over ``s``)."""
    page.wait_for_function(f"() => {{ const s = ({STATE_JS})(); return s && ({condition}); }}", timeout=TIMEOUT_MS)
    return state(page)


def test_playback_in_the_browser(streamlit_app, playback_checkpoints, browser_page, page_log, wait_for_app):
    page = browser_page
    base_url = streamlit_app(APP, env={"EEVIZ_CHECKPOINTS": str(playback_checkpoints)})
    page.goto(base_url + "/?ckpt=pabee-play&t_pabee_patience=1")
    wait_for_app(page)
    assert page.locator("g.slider-container").count() == 0  # closed: nothing built
    open_playback(page, wait_for_app)
    chart = playback_chart(page)
    first = wait_for_state(page, "s.frames === 3")
    assert first["active"] == 0 and first["points"] == [1, 1]
    assert first["title"].startswith("layer 1:") and "→ continue" in first["title"]
    assert "exit" not in first["shapes"]
    # Streamlit wraps the first frame's title (the layout's) in <b>…</b>: its words must still read as the others'
    assert first["weights"][0] == "700" and first["weights"][-1] == "400"
    assert_sentence_under_toolbar(page, chart)

    # play: the frames advance, each with its own sentence, and stop at the exit (layer 2 of 3)
    chart.locator("g.updatemenu-button", has_text="play").click()
    done = wait_for_state(page, "s.active === 1 && s.title.includes('exit at layer 2')")
    assert done["points"] == [2, 2]
    assert "exit" in done["shapes"] and "skipped" in done["shapes"]
    assert "layers 1–2 predict the same class" in done["title"] and done["title"] != first["title"]
    assert done["weights"][0] == "700" and set(done["weights"][1:]) == {"400"}
    page.wait_for_timeout(2500)  # three frame durations: play must not go on past the exit
    assert state(page)["active"] == 1

    # the slider: after the exit nothing more is computed; back to layer 1, nothing is marked
    click_step(page, chart, "(3)")
    # wait for the frame to be drawn too, not only for the slider index (the animation draws it after)
    after = wait_for_state(page, "s.active === 2 && s.title.includes('not computed')")
    # the hidden live region reads the frame the slider moved to (live_chart_a11y.js)
    page.wait_for_function("document.querySelector('.eeviz-playback-live').textContent.startsWith('layer 3: not "
                           "computed')", timeout=TIMEOUT_MS)
    assert after["points"] == [2, 2] and "not computed" in after["title"]
    click_step(page, chart, "1")
    back = wait_for_state(page, "s.active === 0 && s.title.startsWith('layer 1')")
    assert back["title"] == first["title"] and "exit" not in back["shapes"]
    assert back["weights"] == first["weights"]

    # Compare: both checkpoints step together; DeeBERT leaves at layer 1, PABEE at layer 2
    page.goto(base_url + "/Compare?ckpt=pabee-play&t_pabee_patience=1")
    wait_for_app(page)
    open_playback(page, wait_for_app)
    chart = playback_chart(page)
    start = wait_for_state(page, "s.frames === 3")
    assert_sentence_under_toolbar(page, chart)
    assert_sentence_above_rows(chart)
    assert "exit now: DeeBERT" in start["title"] and "still running: PABEE" in start["title"]
    chart.locator("g.updatemenu-button", has_text="play").click()
    end = wait_for_state(page, "s.active === 1 && s.title.includes('exit now: PABEE')")
    assert "exit now: PABEE" in end["title"] and "already out: DeeBERT" in end["title"]
    assert_sentence_above_rows(chart)
    assert end["shapes"].count("exit") == 2
    # the keyboard's "previous layer" (live_chart_a11y.js) steps every checkpoint back together
    keys = page.get_by_role("group", name="Play the chart layer by layer")
    keys.get_by_role("button", name="previous layer").focus()
    page.keyboard.press("Enter")
    wait_for_state(page, "s.active === 0 && s.title.includes('exit now: DeeBERT')")

    assert page.get_by_test_id("stException").count() == 0
    assert page_log.errors == [], page_log.errors
    assert page_log.blocked == [], f"the app tried to reach the network: {page_log.blocked}"
