"""Exit-rule widgets (the rule and its threshold, in the URL) and what the method's figures need from the model."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from ..methods.base import ExitMethod, ExitRule, RuleSpec
from ..messages import shorten
from ..trace import Decision, Trace, replay
from .inputs import _clamp_state, default_if_unset, forget_stale, page_id, set_from_code
from .loading import short_title_of  # noqa: F401  (the app's pages take it from here, with short_title)
from .page import keep_link_warnings, link_warning, md_escape

SAMPLED_DRAWS = 200  # draws of a random rule shown as a distribution of exit layers
# integer thresholds with a range up to this count layers (patience) and are capped at the model's depth;
# wider integer ranges (a random seed) get a number box instead of a slider
MAX_LAYER_COUNT_RANGE = 100


def short_title(method: type[ExitMethod]) -> str:
    """"PABEE (patience)" -> "PABEE": the method's name without the rule its title names."""
    return method.title.split(" (")[0]


def threshold_key(method_name: str, rule_name: str) -> str:
    """The session and URL key of one method's rule threshold (``t_<method>_<rule>``).

    One per method, not per rule: each checkpoint's default threshold was chosen on its own dev split, and when
    PonderNet and PALBERT shared one ``t_q_exit`` widget, Compare ran PonderNet at PALBERT's q (0.05 against its
    own 0.15) without a word, and disagreed with Explore.
    """
    return f"t_{method_name}_{rule_name}"


def rule_key(method_name: str) -> str:
    """The session and URL key of one method's chosen exit rule (``rule_<method>``; the URL holds its words)."""
    return f"rule_{method_name}"


def upgrade_old_link_keys() -> None:
    """Links written before thresholds were per method name the rule only (``t_q_exit=0.25``): such a value goes
    to every method with that rule, under its own key. Links written before the rule buttons showed plain words
    name a rule by its key (``rule_palbert=q_exit``): it becomes the words (``Q-exit``), which the button reads.
    Either way the page reruns, so that the widgets read the new link."""
    from ..methods import available_methods, get_method

    by_rule: dict[str, list[str]] = {}
    rule_keys = {}  # rule_<method> values written by rule key: (query key, the rule's words)
    for name in available_methods():
        rules = get_method(name).rules
        for rule in rules:
            by_rule.setdefault(rule, []).append(name)
        chosen = st.query_params.get(rule_key(name))
        if chosen in rules and rules[chosen].spec.display != chosen:
            rule_keys[rule_key(name)] = rules[chosen].spec.display
    old = [rule for rule in by_rule if f"t_{rule}" in st.query_params]
    if not old and not rule_keys:
        return
    try:
        for key, words in rule_keys.items():
            st.query_params[key] = words
        for rule in old:
            raw = st.query_params[f"t_{rule}"]
            for name in by_rule[rule]:
                if threshold_key(name, rule) not in st.query_params:
                    st.query_params[threshold_key(name, rule)] = raw
            del st.query_params[f"t_{rule}"]
    except StreamlitAPIException:  # a key already bound to a widget (history navigation): leave the link be
        return
    keep_link_warnings()
    st.rerun()


def threshold_input(spec: RuleSpec, key: str, num_layers: int, where=None, default: float | None = None,
                    num_labels: int | None = None) -> float | int | None:
    """The widget for a rule's threshold (``key``, also its query parameter: ``threshold_key``); None for rules
    without one. ``num_labels``: the model's class count, for thresholds whose top depends on it
    (``RuleSpec.maximum_for``).
    """
    if spec.maximum_for(num_labels) != spec.maximum:  # the range, the link check and the clamp all follow it
        spec = dataclasses.replace(spec, maximum=spec.maximum_for(num_labels))
    where = where or st.sidebar
    _carry_link_values()
    _check_url_value(spec, key)
    if spec.minimum == spec.maximum:
        where.caption(f"{spec.label}")
        value = None
    elif spec.integer:
        lo, hi = widget_range(spec, num_layers)
        default = int(spec.default if default is None else default)
        _clamp_state(key, lo, hi, int)
        if hi - lo > MAX_LAYER_COUNT_RANGE:
            value = where.number_input(
                spec.label,
                lo,
                hi,
                default_if_unset(key, min(max(default, lo), hi), "min"),
                1,
                key=key,
                help=spec.description,
                bind="query-params",
                persist_state="session",
            )
        else:
            value = where.slider(
                spec.label,
                lo,
                hi,
                default_if_unset(key, min(max(default, lo), hi)),
                max(1, int(spec.step)),
                key=key,
                help=spec.description,
                bind="query-params",
                persist_state="session",
            )
    else:
        lo, hi = float(spec.minimum), float(spec.maximum)
        _clamp_state(key, lo, hi, float)
        value = where.slider(
            spec.label,
            lo,
            hi,
            default_if_unset(key, min(max(float(spec.default if default is None else default), lo), hi)),
            float(spec.step),
            format=spec.number_format,  # as many decimals as the step (Streamlit shows 0.075 as "0.07")
            key=key,
            help=spec.description,
            bind="query-params",
            persist_state="session",
        )
    if value is not None:
        _note_link_value(key, value)
    return value


def widget_range(spec: RuleSpec, num_layers: int) -> tuple[float, float]:
    """The range a threshold widget offers: the spec's, with layer counts capped at the model's depth."""
    if spec.integer:
        lo, hi = int(spec.minimum), int(spec.maximum)
        if hi - lo <= MAX_LAYER_COUNT_RANGE:
            hi = max(lo + 1, min(hi, num_layers))
        return lo, hi
    return float(spec.minimum), float(spec.maximum)


def url_value_problem(spec: RuleSpec, raw: str, key: str | None = None) -> str | None:
    """Why a threshold from the URL cannot be used (None when it can): not a number, not finite (``inf``,
    ``1e309``), not whole for a whole-number threshold, or outside the rule's range. Names the valid range."""
    kind = "a whole number" if spec.integer else "a number"
    valid = f"{spec.label or spec.param} takes {kind} from {spec.minimum:g} to {spec.maximum:g}"
    shown = shorten(raw)
    key = key or f"t_{spec.name}"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return f"{key}={shown} is not a number; {valid}"
    if not math.isfinite(value):
        return f"{key}={shown} is not a finite number; {valid}"
    if spec.integer and not value.is_integer():
        return f"{key}={shown} is not a whole number; {valid}"
    if not spec.minimum <= value <= spec.maximum:
        return f"{key}={shown} is out of range; {valid}"
    return None


_URL_NOTES = "_eeviz_url_notes"  # session key: messages about link values dropped in the previous run
_FROM_LINK = "_eeviz_rule_links"  # session key: the page that last drew rule widgets; their values from the link


def _carry_link_values() -> dict:
    """On the first rule widget a page draws after another page drew some: the values that came in that
    page's link go to the session, unless this page's URL has its own; returns the record to update.

    Why: sidebar page links drop the query string, and a widget bound to the URL reads a missing parameter
    as its default unless the session holds a value set from code, so a shared link's threshold was lost on
    Compare at the first click. (Values a user set carry over without this.)
    """
    seen = st.session_state.get(_FROM_LINK)
    if seen is None:
        seen = st.session_state[_FROM_LINK] = {"page": page_id(), "values": {}}
    elif seen["page"] != page_id():
        for key, value in seen["values"].items():
            if value is not None and key not in st.query_params:
                set_from_code(key, value)  # the widget, drawn without its default, takes it
                try:  # and back into the link, which a widget seeded from the session leaves as it is
                    st.query_params[key] = value if isinstance(value, str) else f"{value:g}"
                except StreamlitAPIException:  # already bound (history navigation): the session has it
                    pass
        seen["page"] = page_id()
    return seen["values"]


def _note_link_value(key: str, value) -> None:
    """Remember a rule widget's value while the URL holds it (a default is not in the URL: nothing to carry)."""
    _carry_link_values()[key] = value if key in st.query_params else None


def _check_url_value(spec: RuleSpec, key: str) -> None:
    """Checks a threshold in the link before its widget reads it (``?t_x=inf`` raised OverflowError inside
    Streamlit, which seeds a bound widget from the URL the run started with): a value the rule cannot take is
    removed from the URL and the page reruns without it, then says so, naming the valid range. (A valid value
    beyond this model's depth, a layer count, is clamped by the widget itself.)"""
    _show_link_note(key)
    raw = st.query_params.get(key)
    if raw is None or spec.minimum == spec.maximum:
        return
    problem = url_value_problem(spec, raw, key)
    if problem is not None:
        _drop_from_link(key, f"Ignored a threshold from the link: {md_escape(problem)}.")


def _show_link_note(key: str) -> None:
    """The sidebar note of a value ``_drop_from_link`` removed in the previous run, once."""
    notes = st.session_state.setdefault(_URL_NOTES, {})
    if key in notes:
        link_warning(notes.pop(key), st.sidebar)


def _drop_from_link(key: str, message: str) -> None:
    """Removes ``key`` from the URL and reruns, so that its widget starts without it; the next run says
    ``message`` (``_show_link_note``)."""
    try:
        del st.query_params[key]
    except (KeyError, StreamlitAPIException):  # already bound to its widget (history navigation): say so only
        link_warning(message, st.sidebar)
        return
    st.session_state.setdefault(_URL_NOTES, {})[key] = message
    keep_link_warnings()
    st.rerun()


def _check_url_rule(key: str, choices: list[str]) -> None:
    """A rule in the link that is none of the buttons' words (``?rule_x=nosuch``; an old link's rule key was
    rewritten by ``upgrade_old_link_keys``) is removed from the URL, and the page says so, naming the choices
    (the bound radio dropped it without a word)."""
    _show_link_note(key)
    raw = st.query_params.get(key)
    if raw is None or raw in choices:
        return
    shown = shorten(raw)
    _drop_from_link(key, md_escape(f"Ignored a rule from the link: {key}={shown} is no rule here; the choices are "
                                   f"{', '.join(choices)}."))


def rule_controls(
    method_cls: type[ExitMethod], num_layers: int, where=None, method: ExitMethod | None = None,
) -> tuple[str, dict]:
    """Exit-rule choice (query parameter ``rule_<method>``) and its threshold; returns (rule name, params).

    With ``method`` (a loaded model's), the widgets start at that checkpoint's defaults (its default rule and
    thresholds chosen on dev), else at the papers'.
    """
    where = where or st.sidebar
    upgrade_old_link_keys()
    names = list(method_cls.rules)
    rule = method.default_rule if method is not None else method_cls.default_rule
    if len(names) > 1:
        _carry_link_values()
        display = {n: r.spec.display for n, r in method_cls.rules.items()}
        _check_url_rule(rule_key(method_cls.name), list(display.values()))
        # plain words on the buttons; a bound widget writes the displayed text to the URL (rule_x=Q-exit)
        rule = where.radio(
            "Exit rule",
            names,
            index=default_if_unset(rule_key(method_cls.name), names.index(rule), 0),
            format_func=display.get,
            key=rule_key(method_cls.name),
            horizontal=True,
            help=f"default: {display[rule]}. "
            + " · ".join(f"{display[n]}: {r.spec.description}" for n, r in method_cls.rules.items()),
            bind="query-params",
            persist_state="session",
        )
        _note_link_value(rule_key(method_cls.name), rule)
    spec = method_cls.rules[rule].spec
    if len(names) > 1:  # what the chosen rule does, in a line (the help lists them all)
        where.caption(spec.description)  # markdown with LaTeX
    default = method.default_threshold(rule) if method is not None else None
    num_labels = method.num_labels if method is not None else None
    value = threshold_input(spec, threshold_key(method_cls.name, rule), num_layers, where, default, num_labels)
    return rule, ({} if value is None else {spec.param: value})


def sampled_exits(trace: Trace, rule_cls: type[ExitRule], params: dict, draws: int = SAMPLED_DRAWS) -> np.ndarray:
    """Exit layers of a random rule over ``draws`` seeds (its parameter; the rule's own code, replayed)."""
    seed = rule_cls.spec.param
    rules = (rule_cls(trace.num_layers, **{**params, seed: k}) for k in range(draws))
    return np.asarray([replay(trace, rule).exit_layer for rule in rules])


def gold_input(trace: Trace, gold: Any = None, where=None) -> int | None:
    """A gold-label select box for figures that need one (a typed sentence has none); None for regression."""
    if trace.is_regression:
        return None
    where = where or st
    labels = trace.labels
    forget_stale("figure_gold", range(len(labels)))
    return where.selectbox(
        "Gold label for the figures",
        range(len(labels)),
        index=int(gold) if gold is not None else int(trace.preds[-1]),
        format_func=lambda c: labels[c],
        key="figure_gold",
        help="this method's figures need the true label; for a typed sentence, choose it",
    )


def method_extras(model, trace: Trace, decision: Decision, gold: Any = None, where=None) -> dict:
    """The keyword arguments of ``plots.decision_panels`` that need the model: the method's class, its figure
    inputs (asking for a gold label when they need one), and a random rule's spread over many draws."""
    if type(model.method).figures_need_gold:
        gold = gold_input(trace, gold, where)
    return figure_extras(model, trace, decision, gold)


def figure_extras(model, trace: Trace, decision: Decision, gold: Any = None) -> dict:
    """``method_extras`` without the widget: a pure function of its inputs (the pages cache it)."""
    method_cls = type(model.method)
    rule_cls = method_cls.rules[decision.rule]
    extras: dict[str, Any] = {
        "method": method_cls,
        "inputs": method_cls.figure_inputs(model.method.args, trace, decision, gold),
    }
    if rule_cls.spec.stochastic:
        extras["sampled_exits"] = sampled_exits(trace, rule_cls, decision.params)
    return extras


def all_rules_table(model, trace: Trace, chosen: dict[str, dict]):
    """Every rule of the method at its current threshold (from ``chosen`` or the session, else its default)."""
    import pandas as pd

    rows = []
    for name, rule_cls in model.method.rules.items():
        spec = rule_cls.spec
        params = chosen.get(name)
        if params is None:
            value = st.session_state.get(threshold_key(model.method.name, name))
            params = {} if value is None or spec.minimum == spec.maximum else {spec.param: value}
        rule = model.make_rule(name, **params)  # an unset threshold is the checkpoint's default, as on its own
        d = replay(trace, rule)
        value = None if spec.minimum == spec.maximum else rule.params[spec.param]
        # each rule has its own threshold: say which ones are at their default, so that two values of one δ do
        # not puzzle
        unset = value is not None and value == model.method.default_threshold(name)
        rows.append(
            {
                "rule": spec.display,
                "threshold": "—" if value is None else f"{spec.label} = {value:g}" + (" (default)" if unset else ""),
                "exit layer": d.exit_layer,
                "prediction": d.label,
                "early exit": spec.early_exit,
            }
        )
    return pd.DataFrame(rows)
