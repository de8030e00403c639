"""Plotly charts that a rerun updates in place (``live_chart``): every chart of the app goes through it.

Streamlit's ``st.plotly_chart`` reads a figure once per element identity, and a changed figure is a new
identity: every threshold move unmounted each changed chart and drew a new one, about 50 ms of a page's CPU
per chart, which sixteen pages on one machine felt. ``live_chart`` is a small ``st.components.v2`` component
(``live_chart.js``) that keeps one chart node per key and hands it each new figure through ``Plotly.react``,
with Streamlit's chart theme (light or dark) reproduced in the browser.

plotly.js comes from the plotly Python package itself (its ``package_data/plotly.min.js``, the version the
figures are built for), copied into ``static/vendor/`` and served by Streamlit's static serving: nothing is
fetched from the internet. Where that cannot work (static serving off, the folder read-only), the chart is
drawn by ``st.plotly_chart`` as before.

``live_chart_a11y.js`` makes each chart usable without a mouse or the eyes: a figure named by its title (its
SVG, a soup of tick and cell numbers, hidden from screen readers), one tab stop in its toolbar (the download),
and for a figure with frames (the playback) HTML buttons that step and play its animation and a live region
that reads each frame's sentence.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit as st

from .bertviz_offline import DEFAULT_VENDOR_URL, VENDOR_DIR

__all__ = ["COMPONENT_NAME", "PLOTLY_JS", "figure_json", "live_chart", "plotly_js_url", "served_plotly_js"]

PLOTLY_JS = "plotly.min.js"
COMPONENT_NAME = "eeviz_live_chart"
# the figure's JSON, kept on the figure: a move that sends the same (cached) figure serialises nothing again
# (so a figure must not change after it is drawn; none of the app's does)
_JSON_ATTR = "_eeviz_json"


def _bundled_plotly_js() -> Path:
    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


@lru_cache(maxsize=1)
def served_plotly_js() -> Path | None:
    """``static/vendor/plotly.min.js``, copied from the plotly package when missing or from another version;
    None when it cannot be (no bundled file, the folder not writable)."""
    source, target = _bundled_plotly_js(), VENDOR_DIR / PLOTLY_JS
    try:
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            shutil.copyfile(source, partial)
            partial.replace(target)  # whole or not at all: another process may be serving it
        return target
    except OSError:
        return None


def plotly_js_url() -> str | None:
    """Where the page loads plotly.js from; None when this app cannot serve it."""
    if not st.get_option("server.enableStaticServing") or served_plotly_js() is None:
        return None
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return (f"/{base}" if base else "") + f"{DEFAULT_VENDOR_URL}/{PLOTLY_JS}?v={plotly.__version__}"


@lru_cache(maxsize=1)
def _renderer():
    # live_chart_a11y.js (screen-reader names, tab stops, keyboard playback) first: one module, one scope
    here = Path(__file__).parent
    source = "\n".join((here / name).read_text(encoding="utf-8") for name in ("live_chart_a11y.js", "live_chart.js"))
    # every chart element carries the script on every rerun: it goes without its comment lines and indents
    js = "\n".join(line.strip() for line in source.splitlines() if line.strip() and not line.lstrip().startswith("//"))
    # isolate_styles=False: plotly.js puts its stylesheet in the page's <head>, which a shadow root would not see
    return st.components.v2.component(COMPONENT_NAME, js=js, isolate_styles=False)


def figure_json(fig: go.Figure) -> str:
    cached = getattr(fig, _JSON_ATTR, None)
    if cached is None:
        cached = fig.to_json()
        object.__setattr__(fig, _JSON_ATTR, cached)
    return cached


def live_chart(fig: go.Figure, *, key: str, config: dict | None = None) -> None:
    """``fig`` in a chart that keeps its node across reruns (one per ``key``) and redraws in place. ``fig`` must
    not change after this call (its JSON is kept on it)."""
    src = plotly_js_url()
    if src is None:
        st.plotly_chart(fig, key=key, config=config)
        return
    _renderer()(key=key, data={"figure": figure_json(fig), "config": config or {}, "src": src})
