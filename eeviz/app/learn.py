"""The Learn page's parts: a hand-made toy trace, and one tab per method drawn from the method's own file.

A method's tab shows its ``paper``, its ``lesson`` (text and formulas), and, when it has a toy, sliders from
``toy_knobs``, the rule from ``toy`` replayed over the toy trace, and the very figures the Explore page draws
(``plots.decision_panels`` with the method's ``figure_inputs``). A method without a lesson still gets a tab
with its paper and what its signals and rules mean.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import streamlit as st

from .. import plots
from ..methods.base import ExitMethod, Knob, step_format
from ..plots.style import sentence_case
from ..trace import Trace, replay
from .live_chart import live_chart
from .page import md_escape
from .rules import sampled_exits, short_title

TOY_LABELS = ["negative", "positive"]
KNOB_COLUMNS = 4


def toy_trace(method: str, p_positive, signals: dict | None = None) -> Trace:
    """A hand-made binary trace from p(positive) per layer (gold: positive), for the Learn page's live demos.

    The replay and the figures treat it exactly like a model's trace.
    """
    p = np.clip(np.asarray(p_positive, dtype=np.float64), 1e-4, 1 - 1e-4)
    logits = np.log(np.stack([1 - p, p], axis=1)).astype(np.float32)
    return Trace(
        method=method,
        text="toy example",
        tokens=[],
        labels=list(TOY_LABELS),
        logits=logits,
        signals={k: np.asarray(v) for k, v in (signals or {}).items()},
        gold=1,
    )


def knob_input(knob: Knob, key: str, where=None):
    """The widget of one toy knob: a toggle (bool), a select box (choices) or a slider (ints when all are)."""
    where = where or st
    if isinstance(knob.default, bool):
        return where.toggle(knob.label, value=knob.default, key=key, help=knob.help or None)
    if knob.choices:
        return where.selectbox(knob.label, knob.choices, index=knob.choices.index(knob.default), key=key)
    numbers = (knob.minimum, knob.maximum, knob.default, knob.step)
    kind = int if all(isinstance(v, int) for v in numbers) else float
    # as many decimals as the step: Streamlit's "%0.2f" showed a 0.005 step's 0.125 as "0.13"
    return where.slider(knob.label, *(kind(v) for v in numbers), key=key, help=knob.help or None,
                        format=step_format(knob.step, kind is int))


def knob_inputs(method: type[ExitMethod], num_layers: int, used_keys: set[str]) -> dict:
    """The method's toy knobs as widgets, up to ``KNOB_COLUMNS`` a row; returns knob key -> value.

    Widget keys are ``learn_<knob key>``, or ``learn_<method>_<knob key>`` where an earlier tab took that key
    (methods that share knobs, such as a head bias, keep their own values).
    """
    knobs = method.toy_knobs(num_layers)
    values = {}
    for start in range(0, len(knobs), KNOB_COLUMNS):
        row = knobs[start : start + KNOB_COLUMNS]
        for col, knob in zip(st.columns(KNOB_COLUMNS if len(knobs) > 1 else 2), row):
            key = f"learn_{knob.key}"
            if key in used_keys:
                key = f"learn_{method.name}_{knob.key}"
            used_keys.add(key)
            values[knob.key] = knob_input(knob, key, col)
    return values


def render_lesson(method: type[ExitMethod]) -> None:
    """The paper (title, authors, venue, link), the lesson's text and formulas, or the method's own docs."""
    paper, lesson = method.paper, method.lesson
    if paper is not None:
        st.markdown(
            f"**{md_escape(short_title(method))}** · [{md_escape(paper.title)}]({paper.url}) "
            f"({md_escape(paper.authors)}, {md_escape(paper.venue)})"
        )
    if lesson is None:
        st.markdown(f"**{md_escape(method.title)}**")
        for name, rule in method.rules.items():
            st.markdown(f"- exit rule *{md_escape(rule.spec.display)}*: {rule.spec.description}")
        for name, doc in method.signal_docs.items():
            st.markdown(f"- signal *{md_escape(method.series_name(name))}*: {doc}")
        return
    st.markdown(lesson.summary)
    for block in lesson.blocks:
        if block.startswith("$$") and block.endswith("$$"):
            st.latex(block[2:-2])
        else:
            st.markdown(block)


def show_chart(fig, key: str, where=None) -> None:
    """A toy plot that the lesson's sliders redraw in place (a live chart), in ``where`` (a column) or here."""
    with where if where is not None else nullcontext():
        live_chart(fig, key=key)


def chart_key(prefix: str, title: str) -> str:
    """A stable chart key from a figure's title: "Halting distribution" -> "<prefix>-halting-distribution"."""
    words = "".join(c if c.isalnum() else " " for c in title.lower()).split()
    return "-".join([prefix, *words])


def render_toy(method: type[ExitMethod], p_positive, used_keys: set[str]) -> None:
    """The method's toy: knobs, the rule replayed over the toy trace, its verdict, metrics and figures."""
    num_layers = len(p_positive)
    knobs = knob_inputs(method, num_layers, used_keys)
    toy = method.toy(p_positive, knobs)
    if toy is None:
        return
    prefix = (method.lesson.key if method.lesson else "") or method.name
    trace = toy_trace(method.name, p_positive, toy.signals)
    rule_cls = method.rules[toy.rule]
    decision = replay(trace, rule_cls(num_layers, **toy.params))
    right = decision.label == TOY_LABELS[1]
    st.caption(
        f"{md_escape(sentence_case(rule_cls.spec.display))}: exit at layer {decision.exit_layer} of {num_layers}, "
        f"**{md_escape(decision.label)}**, " + ("right." if right else "wrong (gold: positive).")
    )
    if toy.metrics:
        cols = st.columns(len(toy.metrics) + 1)
        cols[0].metric("Exit layer", f"{decision.exit_layer} / {num_layers}")
        for col, (label, value) in zip(cols[1:], toy.metrics.items()):
            col.metric(label, value)
    args = toy.args if toy.args is not None else method.Args()
    inputs = method.figure_inputs(args, trace, decision, trace.gold)
    spread = sampled_exits(trace, rule_cls, decision.params) if rule_cls.spec.stochastic else None
    panels = plots.decision_panels(trace, decision, rule_cls.spec, method=method, inputs=inputs, sampled_exits=spread)
    figures = [(plots.probability_lines(trace, decision.exit_layer), "lines", "")]
    figures += [(panel.figure, chart_key(prefix, panel.title), panel.caption) for panel in panels]
    for start in range(0, len(figures), 2):
        for col, (fig, key, caption) in zip(st.columns(2), figures[start : start + 2]):
            show_chart(fig, key if key != "lines" else f"{prefix}-lines", col)
            if caption:  # the method's own words: markdown with LaTeX formulas
                col.caption(caption)
    for note in inputs.notes + toy.notes:
        st.caption(note)
    if toy.loss_weights is not None:
        weights = plots.signal_figure(toy.loss_weights, "loss weight", bars=True, title=toy.loss_weights_title)
        show_chart(weights, f"{prefix}-weights")
