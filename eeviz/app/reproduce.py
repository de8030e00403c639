"""The "Reproduce this result" box: one JSON line per checkpoint (``eeviz.fingerprint.result_summary``).

It says what a reader needs to check a result elsewhere (checkpoint, a short id of the sentence, the rule and
threshold, the exit and prediction, checksums of the attention weights and logits), and it is what the
browser benchmark (``eeviz bench --app``) reads to check that every session shows its own sentence's result.
"""

from __future__ import annotations

import json

import streamlit as st

RESULT_KEY = "eeviz-result"  # the container's key: its element gets the CSS class st-key-eeviz-result


def show_result_check(summaries: list[dict]) -> None:
    with st.expander("Reproduce this result", icon=":material/fact_check:"):
        with st.container(key=RESULT_KEY):
            st.caption(
                "The same sentence through the same checkpoint gives the same exit and the same checksums on "
                "any machine (sums of the attention weights and the logits, weighted by position). To check "
                "one elsewhere: `eeviz.fingerprint.result_summary(name, trace, decision)` on "
                "`load_checkpoint(folder).trace(text)` replayed with the rule and threshold below."
            )
            st.code("\n".join(json.dumps(s, ensure_ascii=False) for s in summaries), language="json", wrap_lines=True)
