"""Figures and tables of evaluation sweeps (``eval.json``), one per question the Dataset page asks:

- "How much accuracy for how much speed?": ``tradeoff_panels``, one small panel per checkpoint (its rules over
  their thresholds, the static baseline of cutting every example at one layer, the full model, the default);
- "Where do examples leave?": ``exit_share_figure`` (every rule at its default) and ``exit_histogram_figure``
  (one sweep point);
- "How good is each layer?": ``per_layer_figure``;
- ``summary_table``: one row per checkpoint.

Scores are shown in percent (x 100) everywhere, as in the README. Wall-clock speed-ups are measured at a few
points only, so they are drawn as markers, never joined by lines. Random rules (``RuleSweep.stochastic``) are
swept over seeds, which have no order: their points are a cluster of markers too.
"""

from __future__ import annotations

import textwrap
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, Collection, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..eval_result import EvalResult, RuleSweep, SweepPoint
from ..metrics import METRIC_NAMES
from .style import EXIT_COLOR, SERIES_COLORS, escape, layer_axis, layers, style

BASELINE_COLOR = "#888888"  # the static "cut every example at layer l" curve: a mid grey on either theme
STATIC_NAME = "cut at layer l"
FULL_NAME = "full model (all layers)"
DEFAULT_NAME = "default threshold"
RULES_KEY = "rules"  # the annotation naming a panel's rules in their colours (tests find it by this name)
# characters per line of a title: a phone's chart (about 360 px wide) shows some 45 of the bold 14 px title font
TITLE_WIDTH = 40
TITLE_LINE_PX = 18  # each line of a title after the first: more room above the plot, and the plot keeps its height
SPEEDS = {"layer": "layer speed-up (L / mean exit layer)", "wall": "measured wall-clock speed-up"}
# The static baseline is drawn at this many depths per layer: a rule's adaptive gain compares it with the
# per-layer scores interpolated linearly in depth, which on the log speed-up axis (L / depth) is a curve, not
# the straight segments between layers that joining the layers alone would draw
STATIC_SAMPLES_PER_LAYER = 20


def fixed(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, halves rounded away from zero as the tables and the charts' hover
    labels (JavaScript's toFixed) round them: Python's own format rounds an exact half to even, so a mean exit
    layer of 2.125 read 2.13 in the table and 2.12 in the metric and the histogram (and 1/8 read 12%, 3/8 38%)."""
    exact = Decimal(float(value))  # the float's exact binary value, as toFixed reads it
    rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)  # halves away from zero
    return str(rounded.copy_abs() if rounded.is_zero() else rounded)  # -0.04 reads 0.0, not -0.0


def signed(value: float, digits: int = 1) -> str:
    """``fixed`` with its sign: "+1.5", "-0.3", and "0.0" for what rounds to zero (no direction to show)."""
    text = fixed(value, digits)
    return text if text.startswith("-") or Decimal(text).is_zero() else f"+{text}"


def percent(score: float | None) -> float | None:
    """A score (0..1) in percent."""
    return None if score is None else 100.0 * float(score)


def score_title(metric: str) -> str:
    """The score's axis title: "Accuracy (%)"; correlations read "× 100" (GLUE's convention)."""
    name = METRIC_NAMES.get(metric, metric)
    return f"{name} × 100" if metric in ("matthews", "pearson_spearman", "pearson", "spearman") else f"{name} (%)"


def rule_title(ev: EvalResult, rule: str) -> str:
    """The rule's plain-word name (``RuleSpec.display``) from the evaluation's method; its key when unknown."""
    from ..methods import get_method

    try:
        return get_method(ev.method).rules[rule].spec.display
    except (ValueError, KeyError):
        return rule


def default_rule(ev: EvalResult) -> str:
    """The checkpoint's default rule; in older files (which lack it) the first deterministic early-exit rule."""
    if ev.default_rule in ev.rules:
        return ev.default_rule
    ranked = sorted(ev.rules, key=lambda r: (not ev.rules[r].early_exit, ev.rules[r].stochastic))
    return ranked[0]


def threshold_symbol(ev: EvalResult, rule: str) -> str | None:
    """The threshold's short name in sentences (``RuleSpec.symbol``: "S", "δ", "q"); None when the method or rule
    is unknown here or has none (then its parameter's name is used)."""
    from ..methods import get_method

    try:
        return get_method(ev.method).rules[rule].spec.symbol or None
    except (ValueError, KeyError):
        return None


def point_label(sweep: RuleSweep, point: SweepPoint, symbol: str | None = None) -> str:
    """"S = 0.5" (``symbol``, else the parameter's name: "delta = 0.8" read as code), "seed 3" for a random
    rule, "no threshold" for a reference rule that runs every layer (its one parameter is a placeholder:
    "unused = 0" said nothing)."""
    if not sweep.early_exit:
        return "no threshold"
    return f"seed {point.threshold:g}" if sweep.stochastic else f"{symbol or sweep.param} = {point.threshold:g}"


def at_point(sweep: RuleSweep, point: SweepPoint, symbol: str | None = None) -> str:
    """"at S = 0.5" for a sentence; "" for a rule without a threshold."""
    return f"at {point_label(sweep, point, symbol)}" if sweep.early_exit else ""


def _speed(point: SweepPoint, speed: str) -> float | None:
    if speed not in SPEEDS:
        raise ValueError(f"speed must be 'layer' or 'wall', got {speed!r}")
    return point.layer_speedup if speed == "layer" else point.wall_speedup


# ---------------------------------------------------------------------------- accuracy for speed
# the k-th rule of a panel: its marker, the marker's glyph in the panel's key, its line's dash
RULE_LOOKS = (("circle", "●", "solid"), ("square", "■", "dash"), ("triangle-up", "▲", "dot"),
              ("diamond", "◆", "dashdot"))
def _panel_traces(ev: EvalResult, speed: str, static_exits: bool) -> tuple[list[go.Scatter], list[str]]:
    """One checkpoint's traces (the static baseline, each early-exit rule, its default point, the full model) and
    each drawn rule's name in its colour and symbol, for the panel's key."""
    metric, out, keys = escape(ev.metric), [], []
    if static_exits and speed == "layer" and ev.per_layer:
        out.append(_static_trace(ev, metric))
    first = default_rule(ev)  # the default rule gets the first colour in every panel
    rules = sorted(((r, sweep) for r, sweep in ev.rules.items() if sweep.early_exit), key=lambda rs: rs[0] != first)
    for k, (rule, sweep) in enumerate(rules):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        # each rule its own marker and dash as well as its colour: ELBERT's two rules differed by hue alone, one
        # grey to a colour-blind eye and in greyscale
        marker_symbol, glyph, dash = RULE_LOOKS[k % len(RULE_LOOKS)]
        name, symbol = escape(rule_title(ev, rule)), threshold_symbol(ev, rule)
        points = sorted((p for p in sweep.points if _speed(p, speed) is not None), key=lambda p: _speed(p, speed))
        if not points:
            continue
        # lines only where the points are a curve: thresholds are ordered and each point is measured, while
        # wall-clock points are a few measured ones and seeds have no order
        joined = speed == "layer" and not sweep.stochastic
        hover = (f"{name} · %{{customdata[0]}}<br>{metric} %{{y:.1f}} % · speed-up %{{x:.2f}}×"
                 "<br>mean exit layer %{customdata[1]:.2f}<extra></extra>")
        out.append(go.Scatter(
            x=[_speed(p, speed) for p in points], y=[percent(p.score) for p in points],
            mode="lines+markers" if joined else "markers", name=name, legendgroup=name,
            line=dict(color=color, width=2, dash=dash), marker=dict(color=color, size=7 if joined else 9,
                                                                    symbol=marker_symbol),
            customdata=[[escape(point_label(sweep, p, symbol)), p.mean_exit_layer] for p in points],
            hovertemplate=hover,
        ))
        keys.append(f'<span style="color:{color}">{glyph} {name}</span>')
        default = sweep.default_point
        if default is not None and _speed(default, speed) is not None:
            out.append(go.Scatter(
                x=[_speed(default, speed)], y=[percent(default.score)], mode="markers", name=DEFAULT_NAME,
                legendgroup=name, showlegend=False,
                marker=dict(symbol="circle-open", size=17, color=color, line=dict(width=2.5)),
                customdata=[[escape(point_label(sweep, default, symbol)), default.mean_exit_layer]],
                hovertemplate=hover.replace(" · %{customdata[0]}", " · default %{customdata[0]}"),
            ))
    if ev.full_model is not None:
        out.append(go.Scatter(
            x=[1.0], y=[percent(ev.full_model.score)], mode="markers", name=FULL_NAME, showlegend=False,
            marker=dict(symbol="star", size=15, color=EXIT_COLOR, line=dict(color="white", width=1)),
            hovertemplate=f"full model (all {ev.num_layers} layers)<br>{metric} %{{y:.1f}} %<extra></extra>",
        ))
    return out, keys


def static_curve(ev: EvalResult) -> tuple[np.ndarray, np.ndarray]:
    """(depths, scores) of cutting every example at one depth, from layer 1 to the last: the per-layer scores
    interpolated linearly in depth (``eval_result.static_score``, what adaptive gain subtracts), sampled
    ``STATIC_SAMPLES_PER_LAYER`` times per layer so that the drawn curve is the one the gain measures."""
    per_layer = sorted(ev.per_layer, key=lambda p: p.layer)
    layer_numbers = np.array([p.layer for p in per_layer], dtype=float)
    depths = np.linspace(layer_numbers[0], layer_numbers[-1],
                         int(STATIC_SAMPLES_PER_LAYER * (layer_numbers[-1] - layer_numbers[0])) + 1)
    return depths, np.interp(depths, layer_numbers, [p.score for p in per_layer])


def _static_trace(ev: EvalResult, metric: str) -> go.Scatter:
    """The static baseline (speed-up L / depth against the score at that depth), marked with × at whole layers."""
    depths, scores = static_curve(ev)
    at_layer = np.isclose(depths, np.round(depths))
    where = [f"every example cut at layer {d:.0f}" if whole else f"every example cut at depth {fixed(d)} (interpolated)"
             for d, whole in zip(depths, at_layer)]
    return go.Scatter(
        x=ev.num_layers / depths, y=100.0 * scores, mode="lines+markers", name=STATIC_NAME,
        line=dict(color=BASELINE_COLOR, dash="dot", width=1.5),
        marker=dict(symbol="x-thin", size=np.where(at_layer, 7, 0), line=dict(color=BASELINE_COLOR, width=1.5)),
        customdata=where,
        hovertemplate=f"%{{customdata}}<br>{metric} %{{y:.1f}} %<br>speed-up %{{x:.2f}}×<extra></extra>",
    )


def _range(values: list[float], pad: float, min_span: float = 1.0) -> list[float]:
    """An axis range around ``values``, padded by ``pad`` of its span, and at least ``min_span`` wide: equal
    values (every score 100% on a two-sentence upload) spanned 1e-9 and got ticks such as 99.99999999995."""
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < min_span:
        middle = (lo + hi) / 2
        lo, hi = middle - min_span / 2, middle + min_span / 2
    span = hi - lo
    return [lo - pad * span, hi + pad * span]


SPEED_TICKS = (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)


def _speed_axis(fig: go.Figure, speeds: list[float], speed: str) -> None:
    """A log axis of speed-ups (a ratio: 1× to 1.5× is as far as 4× to 6×), ticks at round ratios."""
    lo, hi = min(speeds + [1.0]), max(speeds + [1.0])
    lo, hi = lo / 1.08, hi * 1.08
    ticks = [t for t in SPEED_TICKS if lo <= t <= hi]
    fig.update_xaxes(title=SPEEDS[speed], type="log", range=[np.log10(lo), np.log10(hi)], tickvals=ticks,
                     ticktext=[f"{t:g}×" for t in ticks], tickangle=0)


def tradeoff_panels(evals: Mapping[str, EvalResult], titles: Mapping[str, str] | None = None, speed: str = "layer",
                    static_exits: bool = True, height: int = 380) -> dict[str, go.Figure]:
    """Small multiples of accuracy (%) against speed-up: one figure per checkpoint, titled with its title
    (``titles``, else its name), all on the same axes so the panels compare at a glance.

    Each panel: every early-exit rule swept over its thresholds (a line in ``speed="layer"``; markers where the
    points have no order or were measured one by one: random rules, wall-clock speed-ups), its default point
    ringed, the full model as a star, and (layer speed-up only) the static baseline of cutting every example at
    layer l (per-layer score against L / l). Points without the chosen speed-up are left out.
    """
    titles = titles or {}
    drawn = {name: _panel_traces(ev, speed, static_exits) for name, ev in evals.items()}
    traces = {name: ts for name, (ts, _) in drawn.items()}
    xs = [x for ts in traces.values() for t in ts for x in t.x]
    ys = [y for ts in traces.values() for t in ts for y in t.y]
    # the rules are named in one line each above the axes, in a top margin as tall in every panel, so the
    # panels' axes line up (a plotly legend hid points inside the axes, and outside them took a different
    # height in each panel)
    lines = max((len(keys) for _, keys in drawn.values()), default=0)
    y_range = _range(ys, 0.08)
    figures = {}
    for name, ev in evals.items():
        fig = go.Figure(traces[name])
        if not fig.data:
            fig.add_annotation(text="no measured points", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        _speed_axis(fig, xs, speed)
        fig.update_yaxes(title=score_title(ev.metric), range=y_range)
        style(fig, escape(titles.get(name, name)), height=height)
        fig.update_layout(showlegend=False, margin=dict(l=10, r=10, t=44 + 17 * lines, b=10))
        keys = drawn[name][1]
        if keys:
            fig.add_annotation(name=RULES_KEY, text="<br>".join(keys), xref="paper", yref="paper", x=0.0, y=1.0,
                               xanchor="left", yanchor="bottom", align="left", showarrow=False,
                               font=dict(size=12), yshift=4)
        figures[name] = fig
    return figures


# ---------------------------------------------------------------------------- rows of cells
ROW_PX, GAP_PX = 46, 18  # a row of cells and the gap above it, where the row's label is written


def _row_heatmap(rows: list[list[float | None]], labels: list[str], hover: list[str], x_title: str,
                 text_of: Callable[[float], str], colorscale: str, zmin: float | None = None, zmax: float | None = None) -> go.Figure:
    """One row of cells per labelled entity, each cell's value written in it, each label written *above* its row
    (labels at the side took half of a phone's width), layers 1..L across the top. No title: the page asks the
    question above it (a title long enough to explain was cut on a phone)."""
    num_layers = max((len(r) for r in rows), default=1)
    z = [r + [None] * (num_layers - len(r)) for r in rows]
    text = [["" if v is None else text_of(v) for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=layers(num_layers), y=list(range(len(z))), zmin=zmin, zmax=zmax, colorscale=colorscale,
        showscale=False, text=text, texttemplate="%{text}" if num_layers <= 24 else None, textfont=dict(size=12),
        xgap=2, ygap=GAP_PX, customdata=[[h] * num_layers for h in hover],
        hovertemplate="%{customdata}<br>layer %{x}: %{text}<extra></extra>",
    ))
    for i, label in enumerate(labels):
        fig.add_annotation(text=label, xref="paper", x=0.0, xanchor="left", y=i - 0.5, yanchor="bottom",
                           yshift=-GAP_PX / 2 - 1, showarrow=False, font=dict(size=12))
    pad = 0.3  # room above the first row for its label
    fig.update_yaxes(visible=False, range=[len(z) - 0.5, -0.5 - pad])
    layer_axis(fig, num_layers)
    fig.update_xaxes(side="top", title=x_title)
    style(fig, "", height=int(ROW_PX * (len(z) + pad)) + 70)
    fig.update_layout(margin=dict(l=10, r=10, t=60, b=10))
    return fig


# ---------------------------------------------------------------------------- where examples leave
def exit_share_figure(evals: Mapping[str, EvalResult], titles: Mapping[str, str] | None = None) -> go.Figure:
    """Share of examples (%) leaving at each layer: one row per checkpoint and early-exit rule, at its default."""
    titles = titles or {}
    rows, labels, hover = [], [], []
    for name, ev in evals.items():
        for rule, sweep in ev.rules.items():
            point = sweep.default_point
            if not sweep.early_exit or point is None or point.num_examples == 0:
                continue
            rows.append([100.0 * c / point.num_examples for c in point.histogram])
            label = escape(f"{titles.get(name, name)} · {rule_title(ev, rule)}")
            labels.append(label)
            where = escape(point_label(sweep, point, threshold_symbol(ev, rule)))
            hover.append(f"{label} at {where}<br>mean exit layer {fixed(point.mean_exit_layer)}")
    return _row_heatmap(rows, labels, hover, "exit layer", lambda v: f"{fixed(v, 0)}%", "Blues", zmin=0, zmax=100)


def histogram_title(ev: EvalResult, rule: str, point: SweepPoint) -> str:
    """The histogram's title in lines that fit a phone: "Exit layers of 872 examples", then the rule and its
    threshold (the rule's name wrapped and "at δ = 0.8" on its own line when together they are too long).
    Plotly never wraps a title: on one line it ran past a phone's edge and was cut off."""
    what = rule_title(ev, rule)
    where = at_point(ev.rules[rule], point, threshold_symbol(ev, rule))
    lines = [f"Exit layers of {point.num_examples} examples"]
    if len(what) + 1 + len(where) <= TITLE_WIDTH:
        lines.append(f"{what} {where}".rstrip())
    else:
        lines += [*textwrap.wrap(what, TITLE_WIDTH, break_on_hyphens=False), *([where] if where else [])]
    return "<br>".join(escape(line) for line in lines)


def exit_histogram_figure(point: SweepPoint, num_layers: int, title: str = "") -> go.Figure:
    """How many examples exit at each layer for one sweep point, with the mean exit layer. ``title`` may hold
    several lines (``<br>``, see :func:`histogram_title`): the margin above the plot grows with them."""
    counts = np.asarray(point.histogram, dtype=float)
    share = 100.0 * counts / max(1.0, counts.sum())
    fig = go.Figure(go.Bar(x=layers(num_layers), y=counts, marker_color=SERIES_COLORS[0], name="examples",
                           customdata=share,
                           hovertemplate="layer %{x}: %{y:.0f} examples (%{customdata:.1f} %)<extra></extra>"))
    mean = point.mean_exit_layer
    if mean is not None:
        fig.add_vline(
            x=mean,
            name="mean exit",
            line=dict(color=EXIT_COLOR, dash="dash"),
            annotation=dict(text=f"mean {fixed(mean)}", font=dict(color=EXIT_COLOR, size=11)),
        )
    # headroom over the tallest bar for the mean's label
    fig.update_yaxes(title="examples", range=[0, 1.15 * max(1.0, float(counts.max(initial=0.0)))])
    layer_axis(fig, num_layers)
    style(fig, title or "Exit layers")
    extra = TITLE_LINE_PX * title.count("<br>")
    return fig.update_layout(height=fig.layout.height + extra, margin_t=fig.layout.margin.t + extra)


# ---------------------------------------------------------------------------- each layer
def per_layer_figure(evals: Mapping[str, EvalResult], titles: Mapping[str, str] | None = None) -> go.Figure:
    """Score (%) of each layer's own classifier (no early exit): one row per checkpoint, one cell per layer."""
    titles = titles or {}
    rows = [[percent(p.score) for p in sorted(ev.per_layer, key=lambda p: p.layer)] for ev in evals.values()]
    labels = [escape(titles.get(name, name)) for name in evals]
    metrics = {ev.metric for ev in evals.values()}
    unit = score_title(metrics.pop()) if len(metrics) == 1 else "score × 100"
    return _row_heatmap(rows, labels, [f"{label}<br>{escape(unit)}" for label in labels], "layer", lambda v: fixed(v, 1), "Viridis")


# ---------------------------------------------------------------------------- one row per checkpoint
WALL_BATCH = "timed at batch size"


BUILT_IN = "built-in"  # a default threshold no dev point qualified for (``eeviz report`` marks it so too)


def summary_table(evals: Mapping[str, EvalResult], titles: Mapping[str, str] | None = None,
                  chosen_on_dev: Mapping[str, Collection[str]] | None = None) -> pd.DataFrame:
    """Per checkpoint: data, full model and default rule (scores in percent), speed-ups (a wall-clock one with
    the batch size it was timed at), device. ``chosen_on_dev`` (checkpoint -> the rules whose default threshold
    was chosen on dev: ``ModelConfig.rule_defaults``): the default rule's threshold of a checkpoint listed there
    is marked "built-in" when its rule is not among them, as ``eeviz report`` marks it."""
    titles = titles or {}
    chosen_on_dev = chosen_on_dev or {}
    rows = []
    for name, ev in evals.items():
        rule = default_rule(ev)
        sweep = ev.rules[rule]
        point = sweep.default_point
        rows.append({  # the numbers to compare first, what they were measured on after
            "checkpoint": titles.get(name, name),
            "full model (%)": percent(ev.full_model.score),
            "default rule (%)": percent(point.score) if point else None,
            # what the adaptive exit adds over cutting every example at the same mean depth, and how spread the
            # exits are: the two figures that tell an input-dependent exit from a fixed cut (None: a reference rule)
            "adaptive gain (pts)": point.adaptive_gain if point else None,
            "top exit share (%)": percent(point.top_exit_share) if point else None,
            "layer speed-up": point.layer_speedup if point else None,
            "wall-clock speed-up": point.wall_speedup if point else None,
            # a wall speed-up depends on the batch size it was timed at (rows leave a batch as they exit)
            WALL_BATCH: ev.batch_size if point and point.wall_speedup is not None else None,
            "mean exit layer": point.mean_exit_layer if point else None,
            "layers": ev.num_layers,
            # "two stages (puzzlement, then window), δ = 0.8": a comma, as its name may end in brackets
            "default rule": (f"{rule_title(ev, rule)}, {point_label(sweep, point, threshold_symbol(ev, rule))}"
                             if point else rule_title(ev, rule))
            + (f" ({BUILT_IN})" if name in chosen_on_dev and rule not in chosen_on_dev[name] and sweep.early_exit
               else ""),
            "data": f"{ev.task} · {ev.split}",
            "examples": ev.num_examples,
            "device": ev.device,
        })
    frame = pd.DataFrame(rows)
    if frame["wall-clock speed-up"].isna().all():  # an untimed sweep (uploaded sentences): "None" on every row
        frame = frame.drop(columns=["wall-clock speed-up", WALL_BATCH])
    return frame
