"""Attention: what the vector the heads read (mean over tokens, or [CLS]) has gathered from each token, layer by
layer, up to the exit; beside it what [CLS] attends to (ELBERT's view)."""

import numpy as np
import streamlit as st

from eeviz import plots
from eeviz.app import ui
from eeviz.app.bertviz_offline import head_view_html, model_view_html
from eeviz.attention import pooled_attention
from eeviz.trace import replay

MAX_BERTVIZ_TOKENS = 60  # bertviz draws T² lines per head; beyond this it gets slow in the browser

ui.setup_page("Attention")
infos = ui.list_checkpoints()
info = ui.pick_checkpoint(infos)
model = ui.load_model(info)
with st.sidebar:
    rule_name, params = ui.rule_controls(type(model.method), model.num_layers, method=model.method)

st.title("Attention up to the exit")
ui.sidebar_hint()  # on a phone the sidebar, with the checkpoint and threshold, starts folded
text, text_b = ui.sentence_inputs(info.cfg, ui.example_choices(info, infos))
trace = ui.get_trace(info, text, text_b)
decision = replay(trace, model.make_rule(rule_name, **params))
exit_layer = decision.exit_layer
st.markdown(f"Exit at layer **{exit_layer} / {trace.num_layers}** with **{ui.md_escape(decision.label)}**.")
ui.show_cut_notice(info, model, trace)
if trace.attentions is None:
    st.info("This trace has no attention weights.")
    st.stop()

num_heads = trace.attentions.shape[1]
cols = st.columns([2, 2, 2])
ui.forget_stale("att_head", ["mean", *range(num_heads)])
head = cols[0].selectbox(
    "Head",
    ["mean", *range(num_heads)],
    key="att_head",
    format_func=lambda h: "mean of all heads" if h == "mean" else f"head {h + 1}",
    bind="query-params",  # in the link as shown ("head 3"), like the other pages' choices
    persist_state="session",
)
after = cols[1].toggle("Show the layers after the exit", value=False, key="att_after", bind="query-params",
                       persist_state="session")
hide_special = cols[2].toggle(
    "Hide special tokens",
    value=True,
    key="att_special",
    help="[CLS]/[SEP] soak up much of the attention; hiding them (in the charts and in bertviz) rescales the "
    "colours to the words",
    bind="query-params",
    persist_state="session",
)
rows = trace.num_layers if after else exit_layer
special = set(model.tokenizer.all_special_tokens)
keep = np.array([not (hide_special and t in special) for t in trace.tokens])
if not keep.any():
    keep[:] = True
tokens = [t for t, k in zip(trace.tokens, keep) if k]

head_name = "mean over heads" if head == "mean" else f"head {head + 1}"


def by_head(per_head: np.ndarray) -> np.ndarray:
    """(rows, heads, T) -> (rows, T) for the chosen head (or their mean), hidden tokens dropped."""
    return (per_head.mean(axis=1) if head == "mean" else per_head[:, head])[:, keep]


# The heads read ``summarize`` of a layer: the mean over tokens or the [CLS] position (ModelConfig.pooling).
reads_mean = info.cfg.pooling == "mean"
if reads_mean:
    pooled = pooled_attention(trace.attentions[:rows], pooling="mean")
    ui.live_chart(
        plots.token_heatmap(
            by_head(pooled),
            tokens,
            exit_layer=exit_layer,
            title=f"What the heads read:<br>attention into the mean over tokens, {head_name}",
        ),
        key="pooled",
    )
    st.caption(
        "**The heads read the mean over tokens** (this checkpoint pools by averaging every token's vector), so "
        "this row is the average over all query positions of $C^l = A^l \\cdots A^1$: how much of every input "
        "token reaches the vector the exit heads classify after $l$ layers."
    )
ui.live_chart(
    plots.token_heatmap(
        by_head(trace.cls_cumulative[:rows]),
        tokens,
        exit_layer=exit_layer,
        title="Cumulative [CLS] attention:<br>what [CLS] attends to (its row of Aˡ···A¹), " + head_name,
    ),
    key="cumulative",
)
st.caption(
    ("The heads do not read [CLS] here; this view is kept beside it because it is the one papers on [CLS] attention draw. " if reads_mean else
     "**The heads read [CLS]**, so this is also what they classify. ")
    + "Per head, $C^0 = I$ and $C^l = A^l C^{l-1}$; each row shows how much of every input token reaches [CLS] "
    "after $l$ layers. Hidden tokens are dropped without renormalising."
)
ui.live_chart(
    plots.token_heatmap(
        trace.rollout[:rows][:, keep],
        tokens,
        exit_layer=exit_layer,  # the same colour map as the other two: three shares of one, one scale
        title="Attention rollout into [CLS]:<br>heads averaged, with the residual path 0.5·A + 0.5·I",
    ),
    key="rollout",
)
st.caption(
    "Attention rollout (Abnar & Zuidema, 2020) follows the residual connections too: $\\hat A^l = 0.5\\,"
    "\\bar A^l + 0.5\\,I$ with $\\bar A^l$ the mean over heads (rows renormalised), $R^l = \\hat A^l R^{l-1}$; "
    "each row is [CLS]'s row of $R^l$: how much of every input token reaches [CLS] after $l$ layers"
    + (", although these heads read the mean over tokens." if reads_mean else ".")
    + " The head chosen above does not change it."
)

st.subheader("bertviz")
# the toggle above hides the special tokens here too (their rows and columns; bertviz scales each line by its
# weight, so the words' lines stay as they were)
shown = np.flatnonzero(keep)
att = trace.attentions[:rows][:, :, shown][:, :, :, shown]
full_boundary = ui.pair_boundary(trace.tokens, info.cfg.is_pair)
boundary = None if full_boundary is None else int((shown < full_boundary).sum()) or None
if boundary is not None and boundary >= len(shown):
    boundary = None
if len(trace.tokens) > MAX_BERTVIZ_TOKENS and not st.toggle(
    f"Draw bertviz for {len(trace.tokens)} tokens (slow)", key="att_big"
):
    st.info(f"bertviz draws every token pair of every head; it is off for inputs over {MAX_BERTVIZ_TOKENS} tokens.")
    st.stop()
head_tab, model_tab = st.tabs(["Head view", "Model view"])
try:
    with head_tab:
        st.caption("Pick a layer and click heads; lines connect each token to the tokens it attends to.")
        st.iframe(head_view_html(att, tokens, sentence_b_start=boundary, layer=rows - 1))
    with model_tab:
        st.caption(f"Every head of layers 1..{rows}; click a thumbnail to enlarge it.")
        st.iframe(model_view_html(att, tokens, sentence_b_start=boundary), width="content")
except ValueError as err:
    st.warning(ui.md_escape(err))
