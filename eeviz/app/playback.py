"""The "Watch it layer by layer" box of Explore and Compare: a Plotly animation that runs in the browser.

The figures come from ``eeviz.plots`` (frames, a slider and a play button); stepping through them never
reruns the page.
"""

from __future__ import annotations

from typing import Any, Mapping

import streamlit as st

from .. import plots
from ..trace import Decision, Trace

TITLE = "Watch it layer by layer"
HOW = (
    "Press **▶ play** to run the layers one by one, or drag the slider. Each chart shows only the layers computed "
    "so far; the sentence above the charts says what the exit rule decides at that layer. Playback stops at the "
    "exit: the layers after it are never computed."
)


def show_playback(model, trace: Trace, decision: Decision, gold: Any = None, key: str = "playback") -> None:
    """Explore: one decision, layer by layer (probabilities, the rule's signals, the [CLS] attention)."""
    method_cls = type(model.method)
    with st.expander(TITLE, expanded=True, icon=":material/play_circle:"):
        st.caption(HOW)
        inputs = method_cls.figure_inputs(model.method.args, trace, decision, gold)
        st.plotly_chart(plots.playback_figure(trace, decision, method_cls, inputs), key=key)


def show_compare_playback(
    traces: Mapping[str, Trace],
    decisions: Mapping[str, Decision],
    titles: Mapping[str, str],
    models: Mapping[str, Any] | None = None,
    key: str = "compare-playback",
) -> None:
    """Compare: every checkpoint stepped together, so one sees which leaves first."""
    methods = {name: type(model.method) for name, model in models.items()} if models else None
    with st.expander(TITLE, expanded=True, icon=":material/play_circle:"):
        st.caption(
            "Press **▶ play** to run every checkpoint one layer at a time, together, or drag the slider: a row "
            "stops at its exit (outlined) and greys the layers it never computes. Hover a cell for what its rule "
            "decided there."
        )
        st.plotly_chart(plots.compare_playback_figure(traces, decisions, titles, methods), key=key)
