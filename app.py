"""eeviz: early exit in transformer encoders, layer by layer. Home page: explore one sentence.

Run with ``streamlit run app.py`` (checkpoints from ./checkpoints or $EEVIZ_CHECKPOINTS). The sentence runs
through every layer once (cached); the exit rule is then replayed over that trace, so moving a threshold
updates every figure instantly.
"""

import streamlit as st

from eeviz import plots
from eeviz.app import ui
from eeviz.trace import replay

ui.setup_page("Explore")
infos = ui.list_checkpoints()
info = ui.pick_checkpoint(infos)
model = ui.load_model(info)
method_cls = type(model.method)
with st.sidebar:
    rule_name, params = ui.rule_controls(method_cls, model.num_layers)

st.title("Explore one sentence")
labels = ", ".join(info.cfg.labels) if info.cfg.labels else "regression"
st.caption(f"{ui.md_escape(info.title)} · {model.num_layers} layers · classes: {ui.md_escape(labels)}")

examples = ui.example_choices(info, infos)
text, text_b = ui.sentence_inputs(info.cfg, examples)
trace = ui.get_trace(info, text, text_b)
rule = model.make_rule(rule_name, **params)
decision = replay(trace, rule)
gold = ui.gold_of(examples, text, text_b)
ui.show_decision(trace, decision, gold)
ui.show_playback(model, trace, decision, gold)

with st.expander(f"Tokens ({len(trace.tokens)})"):
    st.code(" ".join(trace.tokens), language=None, wrap_lines=True)
    if len(trace.tokens) >= info.cfg.max_length:
        st.caption(f"The input was cut to the model's {info.cfg.max_length} tokens.")

exit_layer = decision.exit_layer
left, right = st.columns(2)
if not trace.is_regression:
    left.plotly_chart(plots.probability_heatmap(trace, exit_layer), key="heatmap")
right.plotly_chart(plots.probability_lines(trace, exit_layer), key="lines")

st.subheader(f"How {method_cls.title} decides")
paper = method_cls.paper
if paper is not None:
    st.caption(f"[{ui.md_escape(paper.title)}]({paper.url}), {ui.md_escape(f'{paper.authors}, {paper.venue}')}")
extras = ui.method_extras(model, trace, decision, gold)
panels = plots.decision_panels(trace, decision, rule.spec, **extras)
for start in range(0, len(panels), 2):
    for col, panel in zip(st.columns(2), panels[start : start + 2]):
        col.plotly_chart(panel.figure, key=f"panel-{start}-{panel.title}")
        if panel.caption:
            col.caption(ui.md_escape(panel.caption))
for note in extras["inputs"].notes:
    st.caption(ui.md_escape(note))

if len(method_cls.rules) > 1:
    st.markdown("**Every exit rule of this method** at its current threshold")
    st.dataframe(ui.all_rules_table(model, trace, {rule_name: params}), hide_index=True)

st.subheader("Layer by layer")
st.dataframe(plots.layer_table(trace, decision), hide_index=True)
ui.export_buttons(info, trace, decision)
