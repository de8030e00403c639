"""Dataset: accuracy against speed-up for every evaluated checkpoint, exit histograms, per-layer scores and the
examples, from each checkpoint's eval.json (written by ``python -m eeviz.evaluate``)."""

import pandas as pd
import streamlit as st

from eeviz import plots
from eeviz.app import ui

ui.setup_page("Dataset")
infos = ui.list_checkpoints()
names = ui.titles(infos)
st.title("Accuracy against speed-up")

evaluated = [i for i in infos if i.has_eval]
if not evaluated:
    st.info("No checkpoint has an evaluation yet. Evaluate one (writes eval.json next to its weights):")
    st.code(ui.EVALUATE_COMMAND, language="bash")
    st.stop()
chosen = st.multiselect(
    "Checkpoints",
    [i.name for i in evaluated],
    default=[i.name for i in evaluated],
    format_func=names.get,
    key="ds_ckpts",
)
evals = {}
for info in evaluated:
    if info.name in chosen:
        ev = ui.load_eval(info)
        if ev is not None:
            evals[info.name] = ev
if not evals:
    st.stop()

speed = st.segmented_control(
    "Speed-up",
    ["layer", "wall"],
    default="layer",
    key="ds_speed",
    required=True,
    format_func={"layer": "layers (L / mean exit layer)", "wall": "wall clock (measured)"}.get,
)
static = st.toggle("Show 'always exit at layer l' baselines", value=True, key="ds_static", disabled=speed == "wall")
st.plotly_chart(plots.tradeoff_figure(evals, speed, static_exits=static), key="tradeoff")
st.caption(
    "Each line is one exit rule swept over its thresholds; stars are the full models. Wall-clock speed-ups are "
    "measured only at a few thresholds (default and the sweep's ends); hover a point for its threshold."
)

summary = pd.DataFrame(
    [
        {
            "checkpoint": names[n],
            "task": ev.task,
            "split": ev.split,
            "examples": ev.num_examples,
            "metric": ev.metric,
            "full model": ev.full_model.score,
            "layers": ev.num_layers,
            "device": ev.device,
        }
        for n, ev in evals.items()
    ]
)
st.dataframe(summary, hide_index=True)
st.plotly_chart(plots.per_layer_figure(evals), key="per-layer")

st.header("One checkpoint")
cols = st.columns(3)
name = cols[0].selectbox("Checkpoint", list(evals), format_func=names.get, key="ds_one")
ev = evals[name]
rule_names = list(ev.rules)
rule = cols[1].selectbox("Exit rule", rule_names, key="ds_rule")
entry = ev.rules[rule]
points = entry.points
default_index = min(range(len(points)), key=lambda k: abs(points[k].threshold - entry.default))
k = cols[2].select_slider(
    entry.label,
    options=list(range(len(points))),
    value=default_index,
    key="ds_point",
    format_func=lambda j: f"{points[j].threshold:g}",
)
point = points[k]
metric_cols = st.columns(6)
metric_cols[0].metric(ev.metric, f"{point.score:.4f}", f"{point.score - ev.full_model.score:+.4f} vs full")
metric_cols[1].metric("Mean exit layer", f"{point.mean_exit_layer:.2f} / {ev.num_layers}")
metric_cols[2].metric("Layer speed-up", f"{point.layer_speedup:.2f}×")
wall = point.wall_speedup
metric_cols[3].metric("Wall-clock speed-up", "not measured" if wall is None else f"{wall:.2f}×")
if point.adaptive_gain is not None:
    metric_cols[4].metric(
        "Adaptive gain",
        f"{point.adaptive_gain:+.1f} pts",
        help=f"{ev.metric} minus the static {ev.metric} of cutting every example at the same mean depth "
        f"({point.static_score:.4f}, the per-layer scores interpolated): positive when the exits really depend "
        "on the input",
    )
    metric_cols[5].metric(
        "Top exit share", f"{point.top_exit_share:.0%}",
        help="share of examples at the most common exit layer: near 100% means the rule hardly adapts",
    )
st.plotly_chart(
    plots.exit_histogram_figure(
        point,
        ev.num_layers,
        f"Exit layers of {ev.num_examples} examples, " f"{rule} at {entry.param} = {point.threshold:g}",
    ),
    key="histogram",
)

st.subheader("Examples")
table = plots.examples_table(ev, rule)
if table.empty:
    st.info("This evaluation stored no examples.")
    st.stop()
st.caption(
    f"Exits at the rule's default threshold ({entry.param} = {entry.default:g}). Overthinking: the last "
    "layer is wrong although an earlier one was right."
)
filters = st.columns(3)
layers = filters[0].multiselect("Exit layer", sorted(table["exit layer"].dropna().unique().tolist()), key="ds_layers")
correct = filters[1].segmented_control(
    "Exit prediction", ["all", "right", "wrong"], default="all", required=True, key="ds_correct"
)
over = filters[2].toggle("Only overthinking examples", key="ds_over")
shown = table
if layers:
    shown = shown[shown["exit layer"].isin(layers)]
if correct != "all":
    shown = shown[shown["correct"] == (correct == "right")]
if over:
    shown = shown[shown["overthinking"]]
selection = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="single-row", key="ds_table")
st.caption(f"{len(shown)} of {len(table)} stored examples. Select a row to open it on the Explore page.")
rows = selection.selection.rows if selection else []
if rows:
    row = shown.iloc[rows[0]]
    query = {"ckpt": name, "text": row["text"]}
    if "text_b" in row and row["text_b"]:
        query["text_b"] = row["text_b"]
    st.page_link("app.py", label="Open this example in Explore", icon=":material/search:", query_params=query)
