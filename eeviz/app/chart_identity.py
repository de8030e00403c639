"""Keyed Plotly charts keep their identity in the page when their figure changes.

Streamlit 1.67 builds a Plotly chart's element id from its figure even when the chart has a key, and the page
uses that id as the chart's identity: a threshold move that shifts one line in a figure threw the chart away
and drew a new one with ``Plotly.newPlot``, about 55 ms of the browser's CPU per chart (``eeviz bench --app``;
Plotly's own update of the same chart, ``Plotly.react``, costs about 5 ms). In a class on one machine every
browser pays that on every move. With a key, the key alone is the identity, as it is for widgets; charts
without a key are untouched. Streamlit is pinned (requirements.txt); ``tests/test_chart_identity.py`` fails
if its element ids change shape.
"""

from __future__ import annotations

import streamlit.elements.plotly_chart as _plotly_chart

_MARK = "_eeviz_key_is_identity"


def keep_keyed_chart_identity() -> None:
    """From now on (idempotent), a keyed ``st.plotly_chart``'s element id depends on its key, not its figure."""
    compute = _plotly_chart.compute_and_register_element_id
    if getattr(compute, _MARK, False):
        return

    def key_is_identity(element_type, *, user_key, key_as_main_identity, **kwargs):
        if user_key is not None:
            key_as_main_identity = True
        return compute(element_type, user_key=user_key, key_as_main_identity=key_as_main_identity, **kwargs)

    setattr(key_is_identity, _MARK, True)
    _plotly_chart.compute_and_register_element_id = key_is_identity
