"""The decision banner, the cut-input notices, and bertviz's sentence-pair boundary (the downloads are in
``downloads``)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import streamlit as st

from ..catalog import CheckpointInfo
from ..trace import Decision, Trace
from ..truncation import Cut, find_cut
from .page import md_escape


def show_decision(trace: Trace, decision: Decision, gold: Any = None, answer: str = "") -> None:
    """The decision in large type: exit layer, prediction, confidence, layers saved; and how it compares
    with the full model (and the gold label when known). ``answer``: the rule's words on how its answer is
    formed when it is not the exit layer's own prediction (``RuleSpec.answer``), shown under the result."""
    num_layers = trace.num_layers
    exit_layer = decision.exit_layer
    with st.container(border=True):
        cols = st.columns(5)
        cols[0].metric("Exit layer", f"{exit_layer} / {num_layers}")
        # a class name comes from config.json, and a metric's value is markdown; a regression's is a number
        cols[1].metric("Prediction", decision.label if trace.is_regression else md_escape(decision.label))
        if trace.is_regression:
            cols[2].metric("Value", f"{float(decision.pred):.3f}")
        else:
            cols[2].metric("Confidence", f"{float(np.max(decision.probs)):.1%}")
        saved = num_layers - exit_layer
        cols[3].metric("Layers saved", f"{saved} ({saved / num_layers:.0%})")
        cols[4].metric("Speed-up", f"{num_layers / exit_layer:.1f}×", help="$L$ / exit layer: the saving in layers run")
        if answer:  # the confidence is not the outlined layer's: say why before anyone compares them
            st.caption(answer)
        last = trace.label_name(trace.preds[-1])
        changed = last != decision.label
        if gold is not None and not trace.is_regression:
            gold_name = trace.label_name(gold)
            right = decision.label == gold_name
            verdict = "right" if right else "wrong"
            if changed and right:
                st.success(
                    f"Gold: **{md_escape(gold_name)}**. Exiting at layer {exit_layer} is {verdict}; the full model "
                    f"(layer {num_layers}) says **{md_escape(last)}**: overthinking, and early exit avoids it."
                )
            elif changed:
                st.error(
                    f"Gold: **{md_escape(gold_name)}**. Exiting at layer {exit_layer} is {verdict}; the full model "
                    f"(layer {num_layers}) would have said **{md_escape(last)}**."
                )
            else:
                (st.success if right else st.error)(
                    f"Gold: **{md_escape(gold_name)}**: the prediction is {verdict}, as the full model's is."
                )
        elif changed:
            st.warning(
                f"The full model (layer {num_layers}) would predict **{md_escape(last)}**: exiting early changes the answer."
            )
        else:
            st.caption(
                f"Same answer as the full model (layer {num_layers})"
                + (f", with {saved} layer{'s' if saved > 1 else ''} fewer." if saved else ".")
            )


@st.cache_data(show_spinner=False, max_entries=512)
def _cut(folder: str, text: str, text_b: str | None, max_length: int, _tokenizer) -> Cut:
    return find_cut(_tokenizer, text, text_b, max_length)


def show_cut_notice(info: CheckpointInfo, model, trace: Trace) -> None:
    """A visible warning, next to the result, when the input was longer than the model reads."""
    max_length = info.cfg.max_length
    if len(trace.tokens) < max_length:  # the trace holds the cut input: shorter means nothing was cut
        return
    cut = _cut(str(info.path), trace.text, trace.text_b, max_length, model.tokenizer)
    if not cut.unread_tokens:
        return
    unread = cut.unread_text if len(cut.unread_text) <= 200 else cut.unread_text[:199] + "…"
    st.warning(
        f"**The input was cut**: this model reads its first {max_length} tokens and the input has "
        f"{cut.total_tokens}, so the last {cut.unread_tokens} were never read"
        + (f": “{md_escape(unread)}”" if unread else "")
        + ". The result above is for the part it read.",
        icon=":material/content_cut:",
    )


def show_compare_cut_notice(infos: list[CheckpointInfo], models: Mapping[str, Any], traces: Mapping[str, Trace],
                            names: Mapping[str, str]) -> None:
    """Compare: one visible warning, next to the result, naming every checkpoint that read only part of the
    input (their tokenizers and lengths may differ, so each is checked)."""
    cut = []
    for info in infos:
        trace, max_length = traces[info.name], info.cfg.max_length
        if len(trace.tokens) < max_length:
            continue
        found = _cut(str(info.path), trace.text, trace.text_b, max_length, models[info.name].tokenizer)
        if found.unread_tokens:
            cut.append(f"{md_escape(names.get(info.name, info.name))} (reads {max_length} of {found.total_tokens} tokens)")
    if cut:
        st.warning(
            "**The input was cut**: " + "; ".join(cut) + ". Their results are for the part they read; the words "
            "after it were never seen.",
            icon=":material/content_cut:",
        )


def pair_boundary(tokens: list[str], is_pair: bool) -> int | None:
    """Index of the second sentence's first token ([SEP] / </s> separated), for bertviz's pair colouring."""
    if not is_pair:
        return None
    seps = [i for i, t in enumerate(tokens) if t in ("[SEP]", "</s>")]
    if not seps:
        return None
    start = seps[0] + 1
    while start < len(tokens) and tokens[start] in ("[SEP]", "</s>"):
        start += 1
    return start if 0 < start < len(tokens) else None
