"""Figures and tables cached by what they show, shared by every session of the process.

A threshold move on Explore or Compare reruns only the decision part of the page (an ``st.fragment``); what
that part draws is a pure function of (checkpoint, sentence, rule, threshold, gold label), so it is built once
per such key (``st.cache_resource``: no copy per session; nothing mutates a figure after it is built). The key
arguments name the inputs; the underscore arguments carry the objects they stand for and are not hashed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from .. import plots
from ..catalog import CheckpointInfo
from ..fingerprint import result_summary
from ..plots.style import unicode_subscripts
from ..trace import Decision, Trace
from .loading import _stamp, grid_titles  # noqa: F401  (grid_titles: the grid's row labels)
from .rules import figure_extras

CACHE_ENTRIES = 512  # figures of a few hundred (sentence, threshold) pairs: a few tens of MB


def trace_key(info: CheckpointInfo, trace: Trace) -> tuple[str, int, str, str | None]:
    """(checkpoint folder, its weights' stamp, text, second text): what a trace is a function of."""
    return (str(info.path), _stamp(info), trace.text, trace.text_b)


def params_key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted(params.items()))


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def probability_figure(key: tuple, exit_layer: int, _trace: Trace) -> go.Figure:
    """Class probabilities per layer as a heatmap with the numbers (a line chart of the same numbers is no
    longer drawn beside it); for regression, the predicted value per layer."""
    if _trace.is_regression:
        return plots.probability_lines(_trace, exit_layer)
    return plots.probability_heatmap(_trace, exit_layer)


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def decision_panels(key: tuple, rule: str, params: tuple, gold: Any, _model, _trace: Trace, _decision: Decision):
    """(panels, notes): the method's figures for one decision (``plots.decision_panels``), with the notes
    its figure inputs carry."""
    extras = figure_extras(_model, _trace, _decision, gold)
    spec = type(_model.method).rules[rule].spec
    panels = plots.decision_panels(_trace, _decision, spec, **extras)
    return panels, list(extras["inputs"].notes)


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def layer_table(key: tuple, rule: str, params: tuple, _trace: Trace, _decision: Decision) -> pd.DataFrame:
    """The per-layer table with the method's plain-word signal names as column titles (the CSV download
    keeps the raw keys: they are what the trace JSON and the code call them), and the class probabilities and
    confidence in percent (``layer_table_config`` formats them), as the decision box above it shows them."""
    frame = plots.layer_table(_trace, _decision)
    for key, values in _decision.info.items():  # the rule's yes/no state reads yes/no, as in its figure
        column = f"rule {key}" if f"rule {key}" in frame.columns else key
        if column in frame.columns and plots.is_flag(np.asarray(values, dtype=float)):
            frame[column] = ["yes" if v else "no" for v in np.asarray(values, dtype=float)]
    frame = plain_columns(frame, _trace)
    percent = percent_columns(frame, _trace)
    frame = frame.assign(**{column: 100 * frame[column] for column in percent})
    # held as shown (one decimal for a percent, three for a signal): a screen reader reads the table's values,
    # not its formats, and read "51.386497497558594" where the page showed 51.4%
    digits = {column: 1 if column in percent else SIGNAL_DIGITS for column in frame.columns
              if column != "layer" and pd.api.types.is_float_dtype(frame[column])}
    # in float64: a float32 53.3 reads back as 53.29999923706055
    return frame.astype({column: "float64" for column in digits}).round(digits)


def percent_columns(frame: pd.DataFrame, trace: Trace) -> list[str]:
    """The table's shares of one: the confidence and each class's probability (``Trace.to_frame``). A
    method's own signals stay as they are, probabilities too: its charts compare them with thresholds such
    as q = 0.5."""
    if trace.is_regression:
        return []
    shares = ["confidence", *(f"p({name})" for name in trace.labels)]
    return [c for c in frame.columns if c in shares]


# a share of one shown in a table, as the decision box shows it ("93.2%"): the table holds 100 × the share, and
# Streamlit's own "percent" format showed two decimals ("93.21%")
PERCENT_FORMAT = "%.1f%%"


SIGNAL_DIGITS = 3  # a method's own signals: one number of decimals for all (they came as 0.5 and 0.335962)
SIGNAL_FORMAT = f"%.{SIGNAL_DIGITS}f"


def header_width(title: str) -> int:
    """Pixels for a column whose title shows whole ("LTE score uᵢ" was cut to "LTE sc…" at 1440 px)."""
    return max(60, 8 * len(title) + 30)


def layer_table_config(frame: pd.DataFrame, trace: Trace) -> dict:
    """``st.dataframe``'s column formats for ``layer_table``: percent with the decision box's one decimal for
    the shares, three decimals for the method's signals, and every title whole."""
    percent = percent_columns(frame, trace)
    config = {}
    for column in frame.columns:
        width = header_width(column)
        if column in percent:
            config[column] = st.column_config.NumberColumn(format=PERCENT_FORMAT, width=width)
        elif column != "layer" and pd.api.types.is_float_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(format=SIGNAL_FORMAT, width=width)
        else:
            config[column] = st.column_config.Column(width=width)
    return config


# every trace's own columns: one quantity, one name whatever the method (ELBERT called the confidence
# "p(predicted class)" and DeeBERT the entropy "entropy H(pᵢ)", where the other methods' tables said
# "confidence" and "entropy"); the method's figures keep its own words
GENERIC_COLUMNS = ("confidence", "entropy")


def plain_columns(frame: pd.DataFrame, trace: Trace) -> pd.DataFrame:
    """``frame`` with signal and rule-state columns renamed by the trace's method (``series_name``);
    a name that would repeat another column stays as it is."""
    from ..methods import get_method

    try:
        method_cls = get_method(trace.method)
    except ValueError:  # a trace of a method this install does not have: raw keys
        return frame
    names, taken = {}, set(frame.columns)
    for column in frame.columns:
        raw = column[len("rule "):] if column.startswith("rule ") else column
        if raw not in method_cls.signal_names or column in GENERIC_COLUMNS:
            continue
        plain = ("rule " if raw != column else "") + unicode_subscripts(method_cls.series_name(raw))
        if plain not in taken:
            names[column] = plain
            taken.add(plain)
    return frame.rename(columns=names)


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def attention_checksum(key: tuple, name: str, _trace: Trace, _decision: Decision) -> Any:
    """The summary's attention checksum, once per trace: it does not depend on the rule, and summing every
    attention weight took most of a threshold move's server time (130 ms for MiniLM on one sentence)."""
    return result_summary(name, _trace, _decision)["attention_checksum"]


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def summary(key: tuple, name: str, rule: str, params: tuple, _trace: Trace, _decision: Decision) -> dict:
    """The result summary shown under "Reproduce this result" (``eeviz.fingerprint``); the attention part
    comes from ``attention_checksum`` (per trace), the rest is the decision's."""
    out = result_summary(name, dataclasses.replace(_trace, attentions=None), _decision)
    out["attention_checksum"] = attention_checksum(key, name, _trace, _decision)
    return out


def compare_figures(key: tuple, _traces: Mapping[str, Trace], _decisions: Mapping[str, Decision],
                    _names: Mapping[str, str]) -> tuple[pd.DataFrame, go.Figure]:
    """(table, prediction-at-every-layer grid) of the Compare page; ``key`` names every checkpoint, the
    sentence and each rule with its threshold. (The bar chart of exit layers is not drawn: the table's
    "depth used" bars show the same numbers.)"""
    # the grid shows only where each checkpoint exits: keyed by that, most threshold moves find it built, and
    # the page gets the same figure, which it does not redraw
    exits = tuple((name, title, trace_key, _decisions[name].exit_layer) for name, title, trace_key, *_ in key)
    return compare_table(key, _traces, _decisions, _names), compare_layers_figure(exits, _traces, _decisions, _names)


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def compare_table(key: tuple, _traces: Mapping[str, Trace], _decisions: Mapping[str, Decision],
                  _names: Mapping[str, str]) -> pd.DataFrame:
    return plots.compare_table(_traces, _decisions, _names)


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def compare_layers_figure(exits: tuple, _traces: Mapping[str, Trace], _decisions: Mapping[str, Decision],
                          _names: Mapping[str, str]) -> go.Figure:
    return plots.compare_layers_figure(_traces, _decisions, grid_titles(_names, list(_traces)))


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def playback_figure(key: tuple, rule: str, params: tuple, gold: Any, _model, _trace: Trace,
                    _decision: Decision) -> go.Figure:
    """Explore's layer-by-layer animation of one decision (built only while its box is open)."""
    method_cls = type(_model.method)
    inputs = method_cls.figure_inputs(_model.method.args, _trace, _decision, gold)
    return plots.playback_figure(_trace, _decision, method_cls, inputs, pooling=_model.cfg.pooling)


@st.cache_resource(show_spinner=False, max_entries=CACHE_ENTRIES)
def compare_playback_figure(key: tuple, _traces: Mapping[str, Trace], _decisions: Mapping[str, Decision],
                            _names: Mapping[str, str], _models: Mapping[str, Any]) -> go.Figure:
    """Compare's animation: every checkpoint stepped together; ``key`` as for ``compare_figures``."""
    methods = {name: type(model.method) for name, model in _models.items() if name in _traces}
    return plots.compare_playback_figure(_traces, _decisions, _names, methods)
