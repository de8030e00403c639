"""eeviz: early exit in transformer encoders, layer by layer. Home page: explore one sentence.

Run with ``streamlit run app.py`` or ``eeviz app`` (checkpoints from ./checkpoints or $EEVIZ_CHECKPOINTS). The
sentence runs through every layer once (cached); the exit rule is then replayed over that trace. Everything
the rule decides is one fragment (``decision_view``): a threshold move reruns only it, never the sentence
through the model, and its figures are cached by (checkpoint, sentence, rule, threshold).
"""

import streamlit as st

from eeviz.app import downloads, figures, ui
from eeviz.trace import replay

ui.setup_page("Explore", still_running=True)
infos = ui.list_checkpoints()
info = ui.pick_checkpoint(infos)
model = ui.load_model(info)

st.title("Explore one sentence")
ui.sidebar_hint()  # on a phone the sidebar, with the rule and threshold, starts folded
labels = ", ".join(info.cfg.labels) if info.cfg.labels else "regression"
st.caption(f"{ui.md_escape(info.title)} · {model.num_layers} layers · classes: {ui.md_escape(labels)}")

examples = ui.example_choices(info, infos)
text, text_b = ui.sentence_inputs(info.cfg, examples)
trace = ui.get_trace(info, text, text_b)
gold = ui.gold_of(examples, text, text_b)


@st.fragment
def decision_view(info, model, trace, gold) -> None:
    """The exit rule's decision and every figure of it. Its widgets (rule and threshold in the sidebar, the
    figures' gold label) rerun only this function."""
    method_cls = type(model.method)
    with st.sidebar:
        rule_name, params = ui.rule_controls(method_cls, model.num_layers, method=model.method)
    rule = model.make_rule(rule_name, **params)
    decision = replay(trace, rule)
    key, pkey = figures.trace_key(info, trace), figures.params_key(params)
    saved_as = downloads.explore_name(info, trace, decision, "")  # what a figure's camera button saves it as
    ui.show_decision(trace, decision, gold, answer=method_cls.rules[rule_name].spec.answer)
    ui.show_cut_notice(info, model, trace)  # next to the result, not only in the Tokens expander
    # live charts: a threshold move redraws them in place (Plotly.react), not as new charts
    ui.live_chart(figures.probability_figure(key, decision.exit_layer, trace), key="probabilities",
                  config=ui.figure_config(f"{saved_as}_probabilities"))
    # built only while open: it was most of a threshold move's time when drawn on every move
    ui.playback_box(lambda: figures.playback_figure(key, rule_name, pkey, gold, model, trace, decision),
                    config=ui.figure_config(f"{saved_as}_playback"))

    with st.expander(f"Tokens ({len(trace.tokens)})"):
        st.code(" ".join(trace.tokens), language=None, wrap_lines=True)
        if len(trace.tokens) >= info.cfg.max_length:
            st.caption(f"The input was cut to the model's {info.cfg.max_length} tokens.")

    # the method's name alone: its title names the paper's rule ("PonderNet (λ, sampling)"), and this checkpoint
    # may exit by another (the shipped PonderNet by Q-exit: the picker says so)
    st.subheader(f"How {ui.short_title(method_cls)} decides")
    paper = method_cls.paper
    if paper is not None:
        st.caption(f"[{ui.md_escape(paper.title)}]({paper.url}), {ui.md_escape(f'{paper.authors}, {paper.venue}')}")
    figure_gold = ui.gold_input(trace, gold) if method_cls.figures_need_gold else gold
    panels, notes = figures.decision_panels(key, rule_name, pkey, figure_gold, model, trace, decision)
    for start in range(0, len(panels), 2):
        for col, panel in zip(st.columns(2), panels[start : start + 2]):
            with col:
                ui.live_chart(panel.figure, key=f"panel-{start}-{panel.title}",
                              config=ui.figure_config(f"{saved_as}_panel-{start + 1}"))
            if panel.caption:  # the method's own words: markdown with LaTeX formulas
                col.caption(panel.caption)
    for note in notes:
        st.caption(note)

    if len(method_cls.rules) > 1:
        st.markdown("**Every exit rule of this method** at its current threshold")
        st.dataframe(ui.all_rules_table(model, trace, {rule_name: params}), hide_index=True)

    st.subheader("Layer by layer")
    table = figures.layer_table(key, rule_name, pkey, trace, decision)
    st.dataframe(table, hide_index=True, column_config=figures.layer_table_config(table, trace))
    ui.export_buttons(info, trace, decision)
    ui.show_result_check([figures.summary(key, info.name, rule_name, pkey, trace, decision)])


decision_view(info, model, trace, gold)
