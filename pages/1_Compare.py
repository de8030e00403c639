"""Compare: one sentence through every checkpoint at once; where each exits, what it says, where they disagree.

The sentence runs through the checkpoints once (cached); the decisions are one fragment (``decisions_view``):
a threshold move reruns only it, and its figures are cached by (checkpoints, sentence, rules, thresholds).
"""

import streamlit as st

from eeviz.app import downloads, figures, ui
from eeviz.trace import replay

ui.setup_page("Compare", still_running=True)
infos = ui.list_checkpoints()
names = ui.titles(infos)
by_name = {i.name: i for i in infos}

st.title("Compare methods on one sentence")
ui.sidebar_hint()  # on a phone the sidebar, with the rule and threshold, starts folded
current = by_name.get(st.session_state.get("ckpt") or st.query_params.get("ckpt"), infos[0])
# the choice travels in the URL as ?ckpts=a,b,c (folder names); unknown names there are left out, with a notice
chosen = ui.pick_checkpoints(infos, default=[i.name for i in infos if i.cfg.is_pair == current.cfg.is_pair])
if not chosen:
    ui.write_link()  # the empty choice, in the link too
    st.info("Pick at least one checkpoint.")
    st.stop()
selected = [by_name[n] for n in chosen]
kind = selected[0].cfg.is_pair
dropped = [i for i in selected if i.cfg.is_pair != kind]
selected = [i for i in selected if i.cfg.is_pair == kind]
if dropped:
    st.caption(
        "Left out (they read "
        + ("single sentences" if kind else "sentence pairs")
        + "): "
        + ", ".join(ui.md_escape(names[i.name]) for i in dropped)
    )

text, text_b = ui.sentence_inputs(selected[0].cfg, ui.example_choices(selected[0], infos))
models = ui.load_models(selected, stop_on_error=False)
selected = [i for i in selected if i.name in models]
if not selected:
    st.stop()

traces = ui.get_traces(selected, text, text_b)


@st.fragment
def decisions_view(selected, models, traces, names) -> None:
    """Each checkpoint's decision and the figures comparing them. The exit-rule widgets (in the sidebar) rerun
    only this function: a threshold move never re-runs the sentence through the models."""
    rules = {}  # one set of exit-rule controls per method (shared with Explore through their keys)
    with st.sidebar:
        st.markdown("**Exit rules**")
        # one model per method: its checkpoint's defaults start the widgets (the first selected one's)
        first = {type(models[i.name].method): models[i.name].method for i in reversed(selected)}
        for method_cls in {type(models[i.name].method): None for i in selected}:
            depth = max(models[i.name].num_layers for i in selected if type(models[i.name].method) is method_cls)
            with st.expander(ui.short_title(method_cls), expanded=False):  # its rule is chosen inside
                rules[method_cls] = ui.rule_controls(method_cls, depth, where=st, method=first[method_cls])

    decisions, keys = {}, {}  # keys: what each checkpoint's result is a function of, for the caches
    for info in selected:
        model = models[info.name]
        rule_name, params = rules[type(model.method)]
        decisions[info.name] = replay(traces[info.name], model.make_rule(rule_name, **params))
        keys[info.name] = (figures.trace_key(info, traces[info.name]), rule_name, figures.params_key(params))
    every = tuple((name, names[name], *key) for name, key in keys.items())
    table, layers_figure = figures.compare_figures(every, traces, decisions, names)

    votes = table["prediction"].value_counts()
    if len(votes) == 1:
        who = {1: "The checkpoint predicts", 2: "Both checkpoints predict"}.get(
            len(table), f"All {len(table)} checkpoints predict")
        st.success(f"{who} **{ui.md_escape(votes.index[0])}**.")
    else:
        parts = "; ".join(
            f"**{ui.md_escape(label)}** ({count}: "
            + ", ".join(ui.md_escape(c) for c in table.loc[table["prediction"] == label, "checkpoint"])
            + ")"
            for label, count in votes.items()
        )
        st.warning(f"The checkpoints disagree: {parts}.")
    overthinkers = table[table["prediction"] != table["last layer says"]]
    if not overthinkers.empty:
        st.caption(
            "Early exit changes the answer of: "
            + ", ".join(
                f"{ui.md_escape(r['checkpoint'])} (exit: {ui.md_escape(r['prediction'])}, last layer: {ui.md_escape(r['last layer says'])})"
                for _, r in overthinkers.iterrows()
            )
        )

    ui.show_compare_cut_notice(selected, models, traces, names)  # next to the result, as on Explore
    saved_as = downloads.compare_name(traces, decisions, "")  # what a figure's camera button saves it as
    # built only while open: drawn on every threshold move it was most of the move's time
    ui.playback_box(lambda: figures.compare_playback_figure(every, traces, decisions, names, models),
                    how=ui.COMPARE_HOW, key="compare-playback", config=ui.figure_config(f"{saved_as}_playback"))
    ui.live_chart(layers_figure, key="compare-layers", config=ui.figure_config(f"{saved_as}_layers"))
    st.dataframe(
        # without the thresholds (the sidebar shows them): a move that changes no exit leaves the table as it
        # was, and an unchanged table costs the page nothing, where a changed one is redrawn (about 15 ms of
        # each browser's CPU per move, `eeviz bench --app`)
        # shares in percent with Explore's decimals (one for the confidence, none for the depth): the table's
        # own "percent" format showed 66.67% and 93.21% beside Explore's 93.2%
        # held as shown, for a screen reader, which reads the values and not the formats (``figures.layer_table``)
        table.drop(columns=["threshold"]).assign(**{
            "depth used": (100 * table["depth used"]).astype("float64").round(0),
            "confidence": (100 * table["confidence"]).astype("float64").round(1)}),
        hide_index=True,
        # the columns that fit the page's width at 1440 px (the last one was cut off): the folder and the depth
        # stay in the data; "depth used" shows the exit out of the depth. The answer and the exit come right
        # after the checkpoint and the rule last: a phone shows three columns (they were checkpoint and rule, then
        # checkpoint, exit and depth, with the prediction a sideways scroll away)
        column_order=["checkpoint", "prediction", "exit layer", "depth used", "confidence", "last layer says",
                      "agrees", "rule"],
        column_config={
            # long titles are cut (hover shows them) rather than pushing the last column out; the rule column
            # is as wide as the longest shipped rule name ("two stages (puzzlement, then window)"); the
            # checkpoint stays in view while the table scrolls sideways (a phone)
            "checkpoint": st.column_config.TextColumn("checkpoint", width="medium", pinned=True),
            "rule": st.column_config.TextColumn("rule", width=240),
            "exit layer": st.column_config.NumberColumn("exit", width="small"),
            "depth used": st.column_config.ProgressColumn("depth used", min_value=0.0, max_value=100.0,
                                                          format="%.0f%%", width="small"),
            "confidence": st.column_config.NumberColumn(format=figures.PERCENT_FORMAT, width="small"),
            "last layer says": st.column_config.TextColumn("last layer", width="small"),
            "agrees": st.column_config.CheckboxColumn("agrees", help="predicts what most of the checkpoints predict"),
        },
    )
    # the thresholds in view, in a line of their own: in the grid or the table a move that changes no exit would
    # redraw them (see the table above), and in the sidebar they hid in closed expanders. Below the table: above
    # it, the line that changes on every move made each page redraw the table too (about 30 ms of a browser's
    # CPU per move, measured with one Chromium session)
    # one per method, as the sidebar's controls are (each method's checkpoints share them); the rule is the table's
    thresholds = {ui.short_title_of(row["checkpoint"]): row["threshold"] for _, row in table.iterrows()}
    st.caption("Thresholds, set in the sidebar as on Explore: " + " · ".join(
        f"{ui.md_escape(method)} {ui.md_escape(value if value != '—' else 'none')}"
        for method, value in thresholds.items()))
    ui.compare_export_buttons(traces, decisions)
    ui.show_result_check(
        [
            figures.summary(trace_key, name, rule_name, params_key, traces[name], decisions[name])
            for name, (trace_key, rule_name, params_key) in keys.items()
        ]
    )


decisions_view(selected, models, traces, names)
