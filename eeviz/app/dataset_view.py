"""The Dataset page's views of evaluation results, for any dict of ``EvalResult`` (the checkpoints' eval.json
files, or evaluations computed in memory from uploaded sentences).

One figure per question: how much accuracy for how much speed (one panel per checkpoint), where examples
leave, how good each layer is; then one checkpoint's rule at one sweep point, with its examples. Scores are in
percent. Examples and wall-clock timings are optional: what is missing is said, not drawn.
"""

from __future__ import annotations

import streamlit as st

from .. import plots
from ..analysis import STORIES, story_mask
from ..eval_result import EvalResult, RuleSweep
from ..plots import dataset as ds
from ..tools.report_text import OFFLINE_TASK, STANDARD_SET, defaults_text
from .live_chart import live_chart
from .page import md_escape
from .rules import rule_key, threshold_key

PANEL_COLUMNS = 3  # panels per row on a wide screen; Streamlit stacks columns on a narrow one
# short headers (the help says the rest), so that the compared columns fit beside the sidebar at 1440 px
SUMMARY_FORMAT = {
    "full model (%)": st.column_config.NumberColumn(
        "full (%)", format="%.1f", help="the full model: every layer, no early exit"),
    "default rule (%)": st.column_config.NumberColumn(
        "rule (%)", format="%.1f", help="the default rule at its default threshold"),
    "adaptive gain (pts)": st.column_config.NumberColumn(
        "gain (pts)", format="%+.1f", help="adaptive gain: the rule's score minus a static cut of every example at "
        "the same mean depth, in points (none for a reference rule that never exits early)"),
    "top exit share (%)": st.column_config.NumberColumn(
        "top exit (%)", format="%.0f", help="share of examples at the most common exit layer (100: every example "
        "leaves at one layer, as a fixed cut would)"),
    "mean exit layer": st.column_config.NumberColumn(format="%.2f"),
    "layer speed-up": st.column_config.NumberColumn(format="%.2f×", help="L / mean exit layer"),
    "wall-clock speed-up": st.column_config.NumberColumn(
        "wall speed-up", format="%.2f×", help="measured wall-clock speed-up: full pass time / early-exit time"),
    ds.WALL_BATCH: st.column_config.NumberColumn(
        format="%d", help="rows per batch when the wall-clock speed-up was timed: it depends on the batch size"),
    # wide enough for "two stages (puzzlement, then window), δ = 0.8" (an automatic width cut thresholds short)
    "default rule": st.column_config.TextColumn(width=288),
}


# The summary's columns in the order read: what to compare first (in view at 1440 px without scrolling sideways,
# beside the sidebar), then what it was measured on
SUMMARY_ORDER = ("checkpoint", "default rule", "full model (%)", "default rule (%)", "adaptive gain (pts)",
                 "top exit share (%)", "layer speed-up", "wall-clock speed-up", "mean exit layer", ds.WALL_BATCH,
                 "layers", "examples", "data", "device")


def show_results(evals: dict[str, EvalResult], titles: dict[str, str], key_prefix: str = "ds",
                 chosen_on_dev: dict[str, set[str]] | None = None) -> None:
    """Every view of ``evals`` (name -> evaluation), titled with ``titles`` (name -> title); widget keys start
    with ``key_prefix`` so two calls on one page do not collide. ``chosen_on_dev`` (name -> the rules whose
    default threshold was chosen on dev, ``ModelConfig.rule_defaults``) marks the others' "built-in"."""
    if not evals:
        st.info("No evaluation to show.")
        return
    titles = {name: titles.get(name, name) for name in evals}
    summary = ds.summary_table(evals, titles, chosen_on_dev)
    order = [c for c in SUMMARY_ORDER if c in summary.columns]
    order += [c for c in summary.columns if c not in order]
    st.dataframe(summary, hide_index=True, column_config=SUMMARY_FORMAT, column_order=order, placeholder="—")
    show_caveats(evals, chosen_on_dev is not None)
    show_tradeoff(evals, titles, key_prefix)
    st.subheader("Where do examples leave?")
    st.caption("Share of the examples leaving at each layer, for every exit rule at its default threshold "
               "(hover a row for its threshold and mean exit layer).")
    live_chart(ds.exit_share_figure(evals, titles), key=f"{key_prefix}_exits")
    st.subheader("How good is each layer?")
    metrics = sorted({ds.score_title(ev.metric) for ev in evals.values()})
    st.caption(f"{', '.join(metrics)} of each layer's own classifier on every example, without early exit: what "
               "cutting every example at that layer gives (the grey curve of the panels above). The last layer is "
               "the full model.")
    live_chart(ds.per_layer_figure(evals, titles), key=f"{key_prefix}_per_layer")
    show_one(evals, titles, key_prefix)


def show_caveats(evals: dict[str, EvalResult], marks_built_in: bool) -> None:
    """What a reader quoting these numbers must know, in the words of the checkpoints' README
    (``eeviz.tools.report_text``): the offline task is not the published benchmark, and how the default
    thresholds were chosen."""
    from ..data import normalize_task_name

    said = []
    if any(normalize_task_name(ev.task) == OFFLINE_TASK for ev in evals.values()):
        said.append(f"The `{OFFLINE_TASK}` task is eeviz's own offline data set, split at random: it is not "
                    f"{STANDARD_SET}. These accuracies do not compare with published Rotten Tomatoes results.")
    said.append("Each default threshold was chosen on the dev split, never on the test split shown here"
                + ('; "built-in" marks a rule that kept its built-in default (no dev point qualified)'
                   if marks_built_in else "") + ".")
    st.caption(" ".join(said))
    with st.expander("How the default thresholds were chosen"):
        st.markdown(defaults_text())


def explore_query(ev: EvalResult, name: str, rule: str, threshold: float | None, text: str,
                  text_b: str | None = None) -> dict[str, str]:
    """The Explore page's link for one example as the table shows it: checkpoint ``name``, the sentence, and the
    rule and ``threshold`` it exits by, under the keys Explore's own widgets read and write (``rule_<method>``
    holds the rule's words, ``t_<method>_<rule>`` its threshold: ``rules.threshold_key``). Without them Explore
    opened at the checkpoint's default and showed another exit than the table's row."""
    from ..methods import get_method

    query = {"ckpt": name, "text": text}
    if text_b:
        query["text_b"] = text_b
    try:
        method_cls = get_method(ev.method)
        spec = method_cls.rules[rule].spec
    except (ValueError, KeyError):  # a method or rule this install lacks: Explore says so about the checkpoint
        return query
    if len(method_cls.rules) > 1:
        query[rule_key(method_cls.name)] = spec.display
    if threshold is not None and spec.minimum != spec.maximum:
        query[threshold_key(method_cls.name, rule)] = f"{threshold:g}"
    return query


def show_tradeoff(evals: dict[str, EvalResult], titles: dict[str, str], key_prefix: str) -> None:
    """How much accuracy for how much speed: one panel per checkpoint, on shared axes."""
    st.subheader("How much accuracy for how much speed?")
    measured = any(p.wall_speedup is not None for ev in evals.values() for s in ev.rules.values() for p in s.points)
    speed = "layer"
    if measured:
        speed = st.segmented_control(
            "Speed-up", ["layer", "wall"], default="layer", key=f"{key_prefix}_speed", required=True,
            format_func={"layer": "layer speed-up (L / mean exit layer)", "wall": "wall clock (measured)"}.get,
        )
    st.caption(
        "One panel per checkpoint, on the same axes. Coloured: each exit rule over its thresholds (up and right "
        "is better), with its own marker (● ■ ▲, as in the panel's key); ◯ its default threshold; ★ the full "
        "model. "
        + ("Grey ×: cutting every example at layer l (speed-up L / l), the baseline a rule should beat. "
           "A random rule is a cluster of its markers, one per seed, not joined. "
           if speed == "layer" else
           "Wall-clock speed-ups are measured only at a few thresholds (the default and both ends of the sweep): "
           "each marker is one measurement, nothing is drawn in between. ")
        + "Hover a point for its threshold."
    )
    figures = ds.tradeoff_panels(evals, titles, speed=speed)
    names = list(figures)
    for start in range(0, len(names), PANEL_COLUMNS):
        columns = st.columns(PANEL_COLUMNS)
        for column, name in zip(columns, names[start:start + PANEL_COLUMNS]):
            with column:
                live_chart(figures[name], key=f"{key_prefix}_tradeoff_{name}_{speed}")


@st.fragment
def show_one(evals: dict[str, EvalResult], titles: dict[str, str], key_prefix: str) -> None:
    """One checkpoint's rule at one sweep point: its figures, its exits and its examples (a fragment: moving
    the slider reruns only this part)."""
    st.header("One checkpoint, one threshold")
    cols = st.columns(3)
    name = cols[0].selectbox("Checkpoint", list(evals), format_func=titles.get, key=f"{key_prefix}_one")
    ev = evals[name]
    rules = list(ev.rules)
    rule = cols[1].selectbox("Exit rule", rules, index=rules.index(ds.default_rule(ev)),
                             format_func=lambda r: ds.rule_title(ev, r), key=f"{key_prefix}_rule_{name}")
    sweep = ev.rules[rule]
    points = sweep.points
    if not points:
        st.info("This rule has no sweep points.")
        return
    default_index = min(range(len(points)), key=lambda k: abs(points[k].threshold - sweep.default))
    label = "random seed" if sweep.stochastic else sweep.label
    k = cols[2].select_slider(
        label, options=list(range(len(points))), value=default_index, key=f"{key_prefix}_point_{name}_{rule}",
        # a rule without a threshold has one placeholder point: nothing to show but its absence
        format_func=lambda j: ("—" if not sweep.early_exit else f"{points[j].threshold:g}")
        + (" (default)" if j == default_index and sweep.early_exit else ""),
        disabled=len(points) == 1,
        # the sweep's own order, which may run from 1 down to 0: say what left and right mean
        help=("Each seed is one draw of the random rule." if sweep.stochastic else
              f"The thresholds the evaluation swept, in its order: the mean exit layer goes from "
              f"{ds.fixed(points[0].mean_exit_layer)} at the left end to {ds.fixed(points[-1].mean_exit_layer)} at "
              "the right."),
    )
    point = points[k]
    show_point_metrics(ev, sweep, point)
    live_chart(  # the sweep slider redraws it in place
        ds.exit_histogram_figure(point, ev.num_layers, ds.histogram_title(ev, rule, point)),
        key=f"{key_prefix}_histogram",
    )
    show_examples(ev, name, rule, point, key_prefix)


def show_point_metrics(ev: EvalResult, sweep: RuleSweep, point) -> None:
    cols = st.columns(3)
    full = ev.full_model.score
    change = ds.signed(ds.percent(point.score - full), 1)
    level = change == "0.0"  # no change: grey and without an arrow (it was green and pointing up)
    cols[0].metric(ds.score_title(ev.metric), ds.fixed(ds.percent(point.score), 1), f"{change} pts vs the full model",
                   delta_color="off" if level else "normal", delta_arrow="off" if level else "auto")
    cols[1].metric("Mean exit layer", f"{ds.fixed(point.mean_exit_layer)} / {ev.num_layers}")
    cols[2].metric("Layer speed-up", f"{ds.fixed(point.layer_speedup)}×")
    cols = st.columns(3)
    wall = point.wall_speedup
    cols[0].metric("Wall-clock speed-up", "not measured" if wall is None else f"{ds.fixed(wall)}×",
                   help="full-pass time / true early-exit time on the same batches "
                        f"({ev.batch_size} rows each); measured at a few points")
    if not sweep.early_exit:  # a reference rule runs every layer: nothing adapts, so there is no gain to show
        cols[1].metric("Adaptive gain", "—", help="no early exit: this rule runs every layer for every example")
    elif point.adaptive_gain is not None:
        cols[1].metric(
            "Adaptive gain", f"{ds.signed(point.adaptive_gain, 1)} pts",
            help=f"{ev.metric} minus that of cutting every example at the same mean depth "
                 f"({ds.fixed(ds.percent(point.static_score), 1)} %, the per-layer scores interpolated): positive when the "
                 "exits really depend on the input",
        )
    if point.top_exit_share is not None:
        cols[2].metric("Top exit share", f"{ds.fixed(100 * point.top_exit_share, 0)}%",
                       help="share of examples at the most common exit layer: near 100% means the rule hardly adapts")


def show_examples(ev: EvalResult, name: str, rule: str, point, key_prefix: str) -> None:
    """The stored examples with their exit at ``point`` (at the default threshold in files that lack it)."""
    st.subheader("Examples")
    table = plots.examples_table(ev, rule, point)
    if table.empty:
        st.info("This evaluation stored no examples.")
        return
    sweep = ev.rules[rule]
    if point.exit_layers is not None:
        where = ds.at_point(sweep, point, ds.threshold_symbol(ev, rule))
        where = f"{where}, the point chosen above" if where else "of this rule (it has no threshold)"
    else:
        default = sweep.default_point
        shown = ds.point_label(sweep, default, ds.threshold_symbol(ev, rule)) if default else sweep.default
        where = (f"at the default threshold ({shown}): "
                 "this file stores no exits for the other points (evaluate again to get them)")
    st.caption(f"Exits {md_escape(where)}. The overthinking column: the last layer is wrong although an earlier "
               "one was right (a property of the network, the same at every threshold).")
    filters = st.columns([1, 1, 2])
    layers = filters[0].multiselect("Exit layer", list(range(1, ev.num_layers + 1)), key=f"{key_prefix}_layers_{name}")
    correct = filters[1].segmented_control(
        "Exit prediction", ["all", "right", "wrong"], default="all", required=True, key=f"{key_prefix}_correct"
    )
    story = filters[2].selectbox(
        "Layer story", ["all", *STORIES], key=f"{key_prefix}_story",
        format_func=lambda s: "every example" if s == "all" else STORIES[s],
        help="Overthinking (Kaya et al., 2019, the term early-exit papers use) is about the network: its last "
             "layer is wrong while an earlier one was right, whatever this rule does; such an example may still "
             "leave at a wrong layer before the right one. Left too late / too early compare this rule's exit "
             "with the layers that were right.",
    )
    shown = table
    if story != "all":  # over the whole table, before the other filters drop rows
        shown = shown[story_mask(ev, table["exit layer"].tolist(), story)]
    if layers:
        shown = shown[shown["exit layer"].isin(layers)]
    if correct != "all":
        shown = shown[shown["correct"] == (correct == "right")]
    selection = st.dataframe(
        shown, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"{key_prefix}_table",
        placeholder="—",  # a missing cell (no layer was right: no first correct layer) read "None"
        column_config={"first correct layer": st.column_config.NumberColumn(
            help="the first layer whose prediction is right; — when no layer is")},
    )
    st.caption(f"{len(shown)} of {len(table)} stored examples. Select a row to open it on the Explore page.")
    rows = selection.selection.rows if selection else []
    if rows:
        row = shown.iloc[rows[0]]
        # the threshold the table's exits are at: the chosen point's, or the default's in a file without them
        threshold = point.threshold if point.exit_layers is not None else sweep.default
        query = explore_query(ev, name, rule, threshold if sweep.early_exit else None, row["text"],
                              row.get("text_b") or None)
        st.page_link("app.py", label="Open this example in Explore", icon=":material/search:", query_params=query)

