"""The "Watch it layer by layer" box of Explore and Compare: a Plotly animation that runs in the browser.

The figures come from ``eeviz.plots`` (frames, a slider and a play button); stepping through them never
reruns the page. The box starts closed and its figure is built only while it is open (an expander that tracks
its state): building and sending the animation took most of a threshold move's time when it was drawn on
every move. Open, its figure is cached by what it shows (``eeviz.app.figures``).
"""

from __future__ import annotations

from typing import Callable

import plotly.graph_objects as go
import streamlit as st

from .live_chart import live_chart

TITLE = "Watch it layer by layer"
HOW = (
    "Press **▶ play** to run the layers one by one, or drag the slider. Each chart shows only the layers computed "
    "so far; the sentence above the charts says what the exit rule decides at that layer. Playback stops at the "
    "exit: the layers after it are never computed. From the keyboard, Tab to the buttons under the charts "
    "(previous layer, play, pause, next layer)."
)
COMPARE_HOW = (
    "Press **▶ play** to run every checkpoint one layer at a time, together, or drag the slider: a row stops at "
    "its exit (outlined) and greys the layers it never computes. Hover a cell for what its rule decided there. "
    "From the keyboard, Tab to the buttons under the chart."
)


def playback_box(build: Callable[[], go.Figure], how: str = HOW, key: str = "playback",
                 config: dict | None = None) -> bool:
    """The closed-by-default box; ``build()`` runs only while it is open. Returns whether it is open.

    The open state is the expander's (session key ``<key>-open``), so it stays open across threshold moves
    and reruns; opening it reruns the page's fragment, which then builds the figure.
    """
    box = st.expander(TITLE, expanded=False, key=f"{key}-open", on_change="rerun", icon=":material/play_circle:")
    with box:
        if not box.open:
            return False
        st.caption(how)
        live_chart(build(), key=key, config=config)  # a threshold move redraws it in place
    return True
