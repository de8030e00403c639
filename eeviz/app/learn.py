"""The Learn page's parts: a hand-made toy trace, and one tab per method drawn from the method's own file.

A method's tab shows its ``paper``, its ``lesson`` (text and formulas), and, when it has a toy, sliders from
``toy_knobs``, the rule from ``toy`` replayed over the toy trace, and the very figures the Explore page draws
(``plots.decision_panels`` with the method's ``figure_inputs``). A method without a lesson still gets a tab
with its paper and what its signals and rules mean.
"""

from __future__ import annotations

import re
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
# characters of LaTeX: an equation this long may break between its terms on a phone (a shorter one is kept whole:
# broken too, it would take two lines even where it fits on one, see LESSON_CSS)
LONG_EQUATION = 70
LESSON_KEY = "learn-lesson"  # the container of a lesson: its display formulas may break into lines (LESSON_CSS)
# A lesson's display formula is often several equations side by side (``a = b \qquad c = d``): on a phone it
# ran past the screen's edge and scrolled sideways with nothing to say it could. There (up to 640 px, where
# Streamlit stacks columns) each equation takes a line of its own, and one still too long breaks after a "+" or
# "-" between its terms: KaTeX cuts a formula into boxes at the points ``breakable_formula`` leaves, which wrap
# here as a flex row, centred while it fits (one too wide starts at the left edge and scrolls); a box that ends
# an equation (``\qquad\allowbreak``) fills its line and loses the \qquad, which would have pushed the line off
# centre. The font is a little smaller there. What is still too wide scrolls, with its edge faded where more of
# it lies. A little room at the sides holds the glyphs KaTeX lets stand out of its boxes (a 2 px overhang made a
# formula scroll, and would fade its end).
LESSON_CSS = f"""<style>
[class*="st-key-{LESSON_KEY}"] .katex-display {{ padding-inline: 0.3em; }}
@media (max-width: 640px) {{
  [class*="st-key-{LESSON_KEY}"] .katex-display > .katex {{ font-size: 1.05em; }}
  [class*="st-key-{LESSON_KEY}"] .katex-display .katex-html {{
    display: flex; flex-wrap: wrap; justify-content: safe center; align-items: baseline; row-gap: 0.3em;
  }}
  [class*="st-key-{LESSON_KEY}"] .katex-html > .base:has(> .allowbreak:last-child) {{
    flex-basis: 100%; text-align: center;
  }}
  [class*="st-key-{LESSON_KEY}"] .katex-html > .base > .mspace:has(+ .allowbreak:last-child) {{
    margin-right: 0 !important;
  }}
}}
@supports (animation-timeline: scroll()) {{
  [class*="st-key-{LESSON_KEY}"] .katex-display {{
    animation: eeviz-formula-scroll linear both; animation-timeline: scroll(self inline);
  }}
  @keyframes eeviz-formula-scroll {{
    from {{ mask-image: linear-gradient(to right, #000 calc(100% - 3em), transparent); }}
    50% {{ mask-image: linear-gradient(to right, transparent, #000 3em, #000 calc(100% - 3em), transparent); }}
    to {{ mask-image: linear-gradient(to right, transparent, #000 3em); }}
  }}
}}
</style>"""


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


_COMMAND = re.compile(r"\\([a-zA-Z]+|.)")
_OPENS, _CLOSES = {"{", "(", "[", r"\begin", r"\left"}, {"}", ")", "]", r"\end", r"\right"}
_OWN_LINES = {"\\\\", r"\newline", "&"}  # a formula that lays out its own lines is left as it is
# commands after which "+" or "-" is a sign, not an operation between two terms
_NOT_OPERANDS = {r"\le", r"\leq", r"\ge", r"\geq", r"\ne", r"\neq", r"\mid", r"\in", r"\to", r"\cdot", r"\times",
                 r"\pm", r"\approx", r"\sim", r"\equiv", r"\quad", r"\qquad", r"\,", r"\;", r"\ ", r"\big", r"\Big"}


def _top_level(latex: str) -> list[tuple[int, str]] | None:
    r"""The tokens of ``latex`` outside braces, brackets, environments and ``\left…\right``, as (position,
    text); None when the formula lays out its own lines (a top-level ``\\`` or ``&``) or does not pair up."""
    out, depth, i = [], 0, 0
    while i < len(latex):
        match = _COMMAND.match(latex, i) if latex[i] == "\\" else None
        text = match.group(0) if match else latex[i]
        depth -= text in _CLOSES
        if depth < 0:
            return None
        if depth == 0 and not text.isspace():  # a bracket that opens or closes here is at the top level
            if text in _OWN_LINES:
                return None
            out.append((i, text))
        depth += text in _OPENS
        i += len(text)
    return out if depth == 0 else None


def _cuts(latex: str, tokens: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    r"""Where the formula may break: (start, end, what stands there) for each top-level ``\qquad`` (between
    equations) and, in an equation longer than ``LONG_EQUATION``, each "+" or "-" between two terms (after an
    operand: not a sign after "=" or at the start)."""
    equations = [i for i, text in tokens if text == r"\qquad"]
    bounds = [0, *equations, len(latex)]
    cuts = []
    for k, (i, text) in enumerate(tokens):
        before = tokens[k - 1][1] if k else ""
        operand = before[-1:].isalnum() and before not in _NOT_OPERANDS or before[-1:] in ("}", ")", "]", "|", "'")
        if text in ("+", "-") and operand:
            start = max(b for b in bounds if b <= i)
            if min(b for b in bounds if b > i) - start <= LONG_EQUATION:
                continue
        elif text != r"\qquad":
            continue
        cuts.append((i, i + len(text), text))
    return cuts


def breakable_formula(latex: str) -> str:
    r"""A display formula that may break into lines between its equations (top-level ``\qquad``, with an
    ``\allowbreak``) and inside a long equation after a "+" or "-" between terms, nowhere else: the pieces
    between those points go in braces, one unbreakable atom each for KaTeX, which would otherwise break after
    any "=" or "+", inside brackets too. Spacing stays as it was (a term in braces meets an operator as the term
    did). A formula that lays out its own lines, or whose brackets do not pair up, stays as it is."""
    tokens = _top_level(latex)
    if tokens is None:
        return latex
    parts, start = [], 0
    for begin, end, text in _cuts(latex, tokens):
        parts += ["{" + latex[start:begin].strip() + "}", r"\qquad\allowbreak" if text == r"\qquad" else text]
        start = end
    return " ".join([*parts, "{" + latex[start:].strip() + "}"])


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
    with st.container(key=f"{LESSON_KEY}-{method.name}"):
        st.markdown(lesson.summary)
        for block in lesson.blocks:
            if block.startswith("$$") and block.endswith("$$"):
                st.latex(breakable_formula(block[2:-2]))
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


def typical_draw(exits, exit_layer: int) -> str:
    """How typical one draw's exit layer is among many draws' (``exits``)."""
    exits = np.asarray(exits)
    share = float(np.mean(exits == exit_layer))
    layers, counts = np.unique(exits, return_counts=True)
    common = int(layers[np.argmax(counts)])
    return (f"This seed is one draw: {share:.0%} of {len(exits)} draws exit at layer {exit_layer}; the most common "
            f"exit is layer {common} ({counts.max() / len(exits):.0%}), and the mean {exits.mean():.1f}. Change the "
            "seed for another draw.")


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
    if spread is not None:  # one draw of a random rule: say how typical it is before anyone reads it as the rule
        st.caption(typical_draw(spread, decision.exit_layer))
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
