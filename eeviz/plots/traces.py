"""Plotly figures and tables for the app: pure functions of traces, decisions and evaluation results.

Conventions shared by every per-layer figure:
- layers are 1-based on the x axis (on the y axis for the layers x tokens heatmaps);
- the exit layer is marked the same way everywhere: a dashed line (or a row outline) in a layout shape named
  ``"exit"``, and a grey band named ``"skipped"`` over the layers that true early exit never runs;
- threshold lines are shapes named ``"threshold"``.
Tests and the app find the markers by these names.

Strings that come from users or data (tokens, class names, sentences, folder names) go through
:func:`escape`: plotly renders a subset of HTML in tick labels, legends and hover text, so a token such as
``<br>`` or ``<a href=...>`` would otherwise become markup. Plotly decodes the entities back for display.

The figure chosen for a decision depends only on the signal and rule-state names a trace carries (see
:func:`decision_panels`), so a new method's signals show up without changes here.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .methods.base import RuleSpec
from .trace import Decision, Trace

EXIT = "exit"
SKIPPED = "skipped"
THRESHOLD = "threshold"

EXIT_COLOR = "#D62728"
THRESHOLD_COLOR = "#555555"
ZONE_COLOR = "#2CA02C"
CLASS_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2", "#9D755D", "#EECA3B", "#FF9DA6")
SERIES_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2", "#9D755D")

# Which per-layer series each known rule compares with its threshold, and on which side it stops:
# "below" (value < threshold), "above" (value > threshold) or "at_least" (value >= threshold).
# Rules not listed fall back to a series named like their parameter or themselves, without a side.
THRESHOLD_SERIES: dict[str, tuple[str, str]] = {
    "patience": ("counter", "at_least"),
    "entropy": ("entropy", "below"),
    "q_exit": ("cdf", "above"),
    "puzzlement": ("puzzlement", "below"),
    "two_stage": ("puzzlement", "below"),
    "policy": ("policy", "above"),
}
# PonderNet/PALBERT signals, drawn together in one halting-distribution figure
HALTING_SIGNALS = ("halt_prob", "cdf", "lambda", "log_halt_prob")


def escape(text: Any) -> str:
    """``text`` as plotly-safe label text (``<``, ``>``, ``&`` as entities)."""
    return html.escape(str(text), quote=False)


def class_color(index: int) -> str:
    return CLASS_COLORS[int(index) % len(CLASS_COLORS)]


def _layers(num_layers: int) -> np.ndarray:
    return np.arange(1, num_layers + 1)


def _style(fig: go.Figure, title: str, height: int = 300, y_title: str | None = None) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)),
        height=height,
        margin=dict(l=10, r=10, t=56, b=10),
        legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="left", x=0.0, font=dict(size=11)),
        hovermode="closest",
    )
    if y_title is not None:
        fig.update_yaxes(title=y_title)
    return fig


def _layer_axis(fig: go.Figure, num_layers: int) -> None:
    fig.update_xaxes(
        title="layer", range=[0.5, num_layers + 0.5], tickmode="linear", tick0=1, dtick=1 if num_layers <= 24 else 2
    )


def mark_exit(fig: go.Figure, exit_layer: int | None, num_layers: int, on_heatmap: bool = False) -> go.Figure:
    """Dashed line at the exit layer and a band over the layers after it (never run by true early exit): grey
    over line charts, a white veil over heatmaps (where grey would just shift the colours)."""
    if exit_layer is None:
        return fig
    fig.add_vline(
        x=exit_layer,
        name=EXIT,
        line=dict(color=EXIT_COLOR, dash="dash", width=2),
        annotation=dict(text=f"exit · layer {exit_layer}", font=dict(color=EXIT_COLOR, size=11), yanchor="bottom"),
        annotation_position="top",
    )
    if exit_layer < num_layers:
        fig.add_vrect(
            x0=exit_layer + 0.5,
            x1=num_layers + 0.5,
            name=SKIPPED,
            line_width=0,
            fillcolor="white" if on_heatmap else "#888888",
            opacity=0.5 if on_heatmap else 0.12,
        )
    return fig


def _threshold_line(fig: go.Figure, value: float, label: str) -> None:
    fig.add_hline(
        y=value,
        name=THRESHOLD,
        line=dict(color=THRESHOLD_COLOR, dash="dot", width=2),
        annotation=dict(text=escape(f"{label} = {value:g}"), font=dict(size=11, color=THRESHOLD_COLOR)),
        annotation_position="top right",
    )


def fires(values: np.ndarray, threshold: float, side: str | None) -> np.ndarray:
    """Where a ``side`` comparison with ``threshold`` holds (all False when the side is unknown)."""
    values = np.asarray(values, dtype=float)
    if side == "below":
        return values < threshold
    if side == "above":
        return values > threshold
    if side == "at_least":
        return values >= threshold
    return np.zeros(values.shape, dtype=bool)


# ============================================================================================ one trace
def probability_heatmap(trace: Trace, exit_layer: int | None = None) -> go.Figure:
    """Classes x layers heatmap of p(class); each layer's predicted class in bold."""
    num_layers, num_classes = trace.probs.shape
    probs = trace.probs.T  # (C, L)
    preds = trace.preds
    text = [
        [f"<b>{probs[c, i]:.2f}</b>" if preds[i] == c else f"{probs[c, i]:.2f}" for i in range(num_layers)]
        for c in range(num_classes)
    ]
    names = [escape(label) for label in trace.labels]
    fig = go.Figure(
        go.Heatmap(
            z=probs,
            x=_layers(num_layers),
            y=list(range(num_classes)),
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            text=text,
            texttemplate="%{text}" if num_layers <= 24 else None,
            textfont=dict(size=12),
            customdata=[[name] * num_layers for name in names],
            hovertemplate="layer %{x}<br>p(%{customdata}) = %{z:.3f}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_yaxes(tickmode="array", tickvals=list(range(num_classes)), ticktext=names, autorange="reversed")
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers, on_heatmap=True)
    return _style(
        fig, "Class probabilities per layer (bold: the layer's prediction)", height=max(300, 140 + 40 * num_classes)
    )


def probability_lines(trace: Trace, exit_layer: int | None = None) -> go.Figure:
    """One line per class: p(class) against layer; regression traces show the predicted value instead."""
    num_layers = trace.num_layers
    x = _layers(num_layers)
    fig = go.Figure()
    if trace.is_regression:
        fig.add_trace(go.Scatter(x=x, y=trace.preds, mode="lines+markers", name="prediction"))
        title, y_title = "Predicted value per layer", "value"
    else:
        for c, label in enumerate(trace.labels):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=trace.probs[:, c],
                    mode="lines+markers",
                    name=escape(label),
                    line=dict(color=class_color(c), width=2),
                    hovertemplate=f"layer %{{x}}<br>p({escape(label)}) = %{{y:.3f}}<extra></extra>",
                )
            )
        fig.update_yaxes(range=[-0.02, 1.02])
        title, y_title = "Class probabilities per layer", "probability"
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return _style(fig, title, y_title=y_title)


def signal_figure(
    values: Sequence[float],
    name: str,
    *,
    threshold: float | None = None,
    threshold_label: str | None = None,
    side: str | None = None,
    exit_layer: int | None = None,
    bars: bool = False,
    title: str | None = None,
    y_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Any per-layer value against layer, with an optional threshold and the side on which the rule stops.

    Layers where the stopping condition holds are drawn green, and that side of the threshold is shaded.
    """
    values = np.asarray(values, dtype=float)
    num_layers = len(values)
    x = _layers(num_layers)
    met = fires(values, threshold, side) if threshold is not None else np.zeros(num_layers, dtype=bool)
    colors = [ZONE_COLOR if m else SERIES_COLORS[0] for m in met]
    label = escape(name)
    if bars:
        trace = go.Bar(
            x=x,
            y=values,
            name=label,
            marker_color=colors,
            hovertemplate=f"layer %{{x}}<br>{label} = %{{y:g}}<extra></extra>",
        )
    else:
        trace = go.Scatter(
            x=x,
            y=values,
            mode="lines+markers",
            name=label,
            line=dict(color=SERIES_COLORS[0], width=2),
            marker=dict(color=colors, size=9),
            hovertemplate=f"layer %{{x}}<br>{label} = %{{y:.3f}}<extra></extra>",
        )
    fig = go.Figure(trace)
    if y_range is None:
        finite = values[np.isfinite(values)]
        points = np.concatenate([finite, [threshold] if threshold is not None else [], [0.0] if bars else []])
        lo, hi = (float(points.min()), float(points.max())) if points.size else (0.0, 1.0)
        pad = 0.08 * (hi - lo) if hi > lo else 0.5
        y_range = (lo - (0 if bars and lo == 0 else pad), hi + pad)
    fig.update_yaxes(range=list(y_range), title=label)
    if threshold is not None:
        if side in ("below", "above", "at_least"):
            y0, y1 = (y_range[0], threshold) if side == "below" else (threshold, y_range[1])
            fig.add_hrect(y0=y0, y1=y1, name="exit zone", fillcolor=ZONE_COLOR, opacity=0.07, line_width=0)
        _threshold_line(fig, float(threshold), threshold_label or "threshold")
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return _style(fig, title or label)


def lines_figure(series: Mapping[str, Sequence[float]], title: str, exit_layer: int | None = None) -> go.Figure:
    """Several per-layer series on one chart (e.g. a rule's state)."""
    fig = go.Figure()
    num_layers = 0
    for k, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        num_layers = max(num_layers, len(values))
        fig.add_trace(
            go.Scatter(
                x=_layers(len(values)),
                y=values,
                mode="lines+markers",
                name=escape(name),
                line=dict(color=SERIES_COLORS[k % len(SERIES_COLORS)], width=2),
            )
        )
    fig.update_layout(showlegend=True)
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return _style(fig, title)


def flags_figure(flags: Mapping[str, Sequence[float]], title: str, exit_layer: int | None = None) -> go.Figure:
    """Yes/no rule state per layer (e.g. ELBERT's window flags) as rows of coloured cells."""
    names = list(flags)
    z = np.array([np.asarray(flags[n], dtype=float) for n in names])
    num_layers = z.shape[1]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=_layers(num_layers),
            y=list(range(len(names))),
            zmin=0,
            zmax=1,
            colorscale=[[0, "#EEEEEE"], [1, ZONE_COLOR]],
            text=[["yes" if v else "no" for v in row] for row in z],
            texttemplate="%{text}",
            showscale=False,
            xgap=2,
            ygap=2,
            hovertemplate="layer %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(names))), ticktext=[escape(n) for n in names])
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers, on_heatmap=True)
    return _style(fig, title, height=110 + 35 * len(names))


def halting_figure(
    halt_prob: Sequence[float],
    *,
    cdf: Sequence[float] | None = None,
    lambdas: Sequence[float] | None = None,
    q: float | None = None,
    prior: Sequence[float] | None = None,
    exit_layer: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """PonderNet/PALBERT: p(i|x) bars (and the prior's), the CDF against q, and λ_i."""
    halt_prob = np.asarray(halt_prob, dtype=float)
    num_layers = len(halt_prob)
    x = _layers(num_layers)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=halt_prob, name="p(i|x)", marker_color=SERIES_COLORS[0], opacity=0.85))
    if prior is not None:
        fig.add_trace(go.Bar(x=x, y=np.asarray(prior, dtype=float), name="prior p(i|λ_p)", marker_color="#BBBBBB"))
    if cdf is not None:
        cdf = np.asarray(cdf, dtype=float)
        met = fires(cdf, q, "above") if q is not None else np.zeros(num_layers, dtype=bool)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=cdf,
                mode="lines+markers",
                name="CDF",
                line=dict(color=SERIES_COLORS[1], width=2),
                marker=dict(size=9, color=[ZONE_COLOR if m else SERIES_COLORS[1] for m in met]),
            )
        )
    if lambdas is not None:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(lambdas, dtype=float),
                mode="lines+markers",
                name="λ_i",
                line=dict(color=SERIES_COLORS[2], dash="dot", width=2),
            )
        )
    if q is not None:
        _threshold_line(fig, float(q), "q")
    expected = float((x * halt_prob).sum())
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05], title="probability")
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return _style(fig, title or f"Halting distribution · expected depth Σ i·p(i|x) = {expected:.2f}", height=340)


def window_figure(trace: Trace, window: int, window_ok: Sequence[float], exit_layer: int) -> go.Figure:
    """ELBERT stage 2: the predicted class's probability per layer, and the window of N layers ending at the exit."""
    num_layers = trace.num_layers
    x = _layers(num_layers)
    preds = trace.preds.astype(int)
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=trace.confidence,
            mode="lines+markers",
            name="p(predicted class)",
            line=dict(color="#999999", width=1.5),
            marker=dict(size=11, color=[class_color(p) for p in preds]),
            customdata=[escape(trace.label_name(p)) for p in preds],
            hovertemplate="layer %{x}: %{customdata}<br>p = %{y:.3f}<extra></extra>",
        )
    )
    start = max(1, exit_layer - window + 1)
    passed = bool(np.asarray(window_ok, dtype=float)[exit_layer - 1])
    fig.add_vrect(
        x0=start - 0.5,
        x1=exit_layer + 0.5,
        name="window",
        fillcolor=ZONE_COLOR if passed else "#F58518",
        opacity=0.12,
        line_width=0,
        annotation=dict(text=f"window N={window}: {'passes' if passed else 'does not pass'}", font=dict(size=11)),
        annotation_position="bottom left",
    )
    fig.update_yaxes(range=[0, 1.05], title="probability")
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return _style(fig, "Confidence window (colour: predicted class)")


def reward_figure(
    gold_log_likelihood: Sequence[float],
    depth_penalty: Sequence[float],
    memorized_layer: int,
    exit_layer: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """ConsistentEE: reward r(e) = log p_e(y|x) - depth penalty for exiting at each layer e, and the memorized layer."""
    gold_ll = np.asarray(gold_log_likelihood, dtype=float)
    penalty = np.asarray(depth_penalty, dtype=float)
    reward = gold_ll - penalty
    num_layers = len(reward)
    x = _layers(num_layers)
    best = int(np.argmax(reward)) + 1
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=x, y=reward, name="reward r(e)", marker_color=[ZONE_COLOR if e == best else SERIES_COLORS[0] for e in x]
        )
    )
    fig.add_trace(
        go.Scatter(x=x, y=gold_ll, mode="lines+markers", name="log p_e(y|x)", line=dict(color=SERIES_COLORS[1]))
    )
    fig.add_trace(
        go.Scatter(
            x=x, y=-penalty, mode="lines+markers", name="− depth penalty", line=dict(color=SERIES_COLORS[3], dash="dot")
        )
    )
    fig.add_vline(
        x=memorized_layer,
        name="memorized",
        line=dict(color=SERIES_COLORS[2], width=2),
        annotation=dict(text=f"memorized layer m = {memorized_layer}", font=dict(size=11, color=SERIES_COLORS[2])),
        annotation_position="bottom left" if memorized_layer > num_layers / 2 else "bottom right",
    )
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return _style(fig, title or f"Reward for exiting at each layer (best: layer {best})", y_title="reward")


def exit_distribution_figure(
    exit_layers: Sequence[int], num_layers: int, expected: Sequence[float] | None = None, exit_layer: int | None = None
) -> go.Figure:
    """How often a random rule exits at each layer over many draws (and the distribution it should follow)."""
    draws = np.asarray(exit_layers, dtype=int)
    counts = np.bincount(draws, minlength=num_layers + 1)[1:]
    x = _layers(num_layers)
    fig = go.Figure(
        go.Bar(x=x, y=counts / max(1, len(draws)), name=f"{len(draws)} draws", marker_color=SERIES_COLORS[0])
    )
    if expected is not None:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(expected, dtype=float),
                mode="lines+markers",
                name="p(i|x)",
                line=dict(color=SERIES_COLORS[1]),
            )
        )
    fig.update_yaxes(title="share of draws", rangemode="tozero")
    _layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return _style(fig, "Where the random rule exits, over many draws")


@dataclass
class Panel:
    """One figure of the per-layer view, with the sentence that explains it."""

    title: str
    figure: go.Figure
    caption: str = ""


def _is_flag(values: np.ndarray) -> bool:
    return values.size > 0 and bool(np.isin(values, (0.0, 1.0)).all())


def threshold_series(
    decision: Decision, spec: RuleSpec, series: Mapping[str, np.ndarray]
) -> tuple[str | None, str | None]:
    """(name of the series the rule compares with its threshold, side on which it stops), or (None, None)."""
    if decision.rule in THRESHOLD_SERIES and THRESHOLD_SERIES[decision.rule][0] in series:
        return THRESHOLD_SERIES[decision.rule]
    for candidate in (spec.param, spec.name):
        if candidate in series:
            return candidate, None
    return None, None


def decision_panels(
    trace: Trace,
    decision: Decision,
    spec: RuleSpec,
    *,
    signal_docs: Mapping[str, str] | None = None,
    prior: Sequence[float] | None = None,
    sampled_exits: Sequence[int] | None = None,
    reward: Any = None,
) -> list[Panel]:
    """The method-specific figures of one decision, chosen from the names of the signals and rule state.

    Args:
        trace: The example's full trace.
        decision: ``replay(trace, rule)``.
        spec: The rule's spec (threshold name, label, description).
        signal_docs: The method's description of its signals, used as captions.
        prior: PonderNet/PALBERT prior over layers, drawn next to p(i|x).
        sampled_exits: Exit layers of a random rule over many draws.
        reward: ConsistentEE reward parts (``gold_log_likelihood``, ``depth_penalty``, ``memorized_layer``).
    """
    docs = dict(signal_docs or {})
    exit_layer = decision.exit_layer
    signals = {k: np.asarray(v, dtype=float) for k, v in trace.signals.items() if np.asarray(v).ndim == 1}
    info = {k: np.asarray(v, dtype=float) for k, v in decision.info.items()}
    series = {**signals, **info}
    name, side = threshold_series(decision, spec, series)
    threshold = float(decision.params.get(spec.param, spec.default))
    if side == "at_least" and threshold <= 0:
        side = None  # patience t = 0 disables the rule: nothing can reach it
    shown: set[str] = set()
    panels: list[Panel] = []

    if "halt_prob" in signals:
        q = threshold if name == "cdf" else None
        panels.append(
            Panel(
                "Halting distribution",
                halting_figure(
                    signals["halt_prob"],
                    cdf=signals.get("cdf"),
                    lambdas=signals.get("lambda"),
                    q=q,
                    prior=prior,
                    exit_layer=exit_layer,
                ),
                "p(i|x) = λ_i ∏_{j<i}(1-λ_j) (bars), its CDF (exits once above q) and λ_i"
                + (", with the geometric prior the KL term pulls toward (grey)" if prior is not None else ""),
            )
        )
        shown.update(k for k in HALTING_SIGNALS if k in signals)  # the Q-exit threshold q is drawn here too
    if name is not None and name not in shown:
        panels.append(
            Panel(
                f"{name} against {spec.label}",
                signal_figure(
                    series[name],
                    name,
                    threshold=threshold,
                    threshold_label=spec.label,
                    side=side,
                    exit_layer=exit_layer,
                    bars=name == "counter",
                    title=f"{name} against the {spec.label}",
                    y_range=(0.0, 1.05) if name in ("puzzlement", "policy", "cdf") else None,
                ),
                docs.get(name, spec.description),
            )
        )
        shown.add(name)
    if sampled_exits is not None:
        panels.append(
            Panel(
                "Exit layer over many draws",
                exit_distribution_figure(sampled_exits, trace.num_layers, signals.get("halt_prob"), exit_layer),
                "the rule is random: this is where it exits across seeds (the chosen seed's exit is marked)",
            )
        )
    window = decision.params.get("window")
    if window is not None and "window_ok" in info:
        panels.append(
            Panel(
                "Confidence window",
                window_figure(trace, int(window), info["window_ok"], exit_layer),
                f"stage 2 exits when the last {int(window)} layers predict the same class with a probability that "
                f"never falls ({decision.params.get('criterion', 'monotonic')} criterion)",
            )
        )
    if reward is not None:
        panels.append(
            Panel(
                "Reward",
                reward_figure(reward.gold_log_likelihood, reward.depth_penalty, reward.memorized_layer, exit_layer),
                "what training rewards for exiting at each layer, for the chosen gold label",
            )
        )
    # the rule's own state, even where a signal figure already drew it (sampling compares u_i with λ_i)
    state = {k: v for k, v in info.items() if k != name and not _is_flag(v)}
    if state:
        panels.append(Panel("Rule state", lines_figure(state, "Rule state per layer", exit_layer), spec.description))
        shown.update(state)
    flags = {k: v for k, v in info.items() if k != name and k not in state}
    if flags:
        panels.append(Panel("Rule flags", flags_figure(flags, "Rule flags per layer", exit_layer)))
        shown.update(flags)
    for key, values in signals.items():
        if key not in shown:
            panels.append(Panel(key, signal_figure(values, key, exit_layer=exit_layer), docs.get(key, "")))
    return panels


def layer_table(trace: Trace, decision: Decision) -> pd.DataFrame:
    """One row per layer: ``trace.to_frame()`` plus the rule's state and where the rule exits."""
    frame = trace.to_frame()
    for key, values in decision.info.items():
        values = np.asarray(values)
        if key in frame.columns and np.allclose(frame[key].to_numpy(dtype=float), values):
            continue  # the rule just reads a signal already in the table
        frame[key if key not in frame.columns else f"rule {key}"] = values
    frame.insert(
        1,
        "exit",
        [
            "◀ exit" if layer == decision.exit_layer else ("skipped" if layer > decision.exit_layer else "")
            for layer in frame["layer"]
        ],
    )
    return frame


# ============================================================================================ attention
def token_heatmap(
    matrix: np.ndarray,
    tokens: Sequence[str],
    *,
    title: str,
    exit_layer: int | None = None,
    colorscale: str = "Viridis",
) -> go.Figure:
    """Layers x tokens heatmap (rows are layers 1..R, top to bottom), the exit layer's row outlined.

    Tokens sit at integer positions with their text as tick labels, so repeated tokens stay separate columns.
    """
    matrix = np.asarray(matrix, dtype=float)
    num_rows, num_tokens = matrix.shape
    names = [escape(t) for t in tokens]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(range(num_tokens)),
            y=_layers(num_rows),
            colorscale=colorscale,
            customdata=[names] * num_rows,
            hovertemplate="layer %{y} · %{customdata} (#%{x})<br>%{z:.3f}<extra></extra>",
            colorbar=dict(thickness=12),
        )
    )
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(num_tokens)),
        ticktext=names,
        tickangle=-50 if num_tokens > 20 else 0,
        tickfont=dict(size=11 if num_tokens <= 40 else 8),
    )
    fig.update_yaxes(title="layer", autorange="reversed", tickmode="linear", tick0=1, dtick=1)
    if exit_layer is not None and 1 <= exit_layer <= num_rows:
        fig.add_shape(
            type="rect",
            name=EXIT,
            xref="x domain",
            x0=0,
            x1=1,
            y0=exit_layer - 0.5,
            y1=exit_layer + 0.5,
            line=dict(color=EXIT_COLOR, width=3),
        )
        if exit_layer < num_rows:
            fig.add_shape(
                type="rect",
                name=SKIPPED,
                xref="x domain",
                x0=0,
                x1=1,
                y0=exit_layer + 0.5,
                y1=num_rows + 0.5,
                fillcolor="white",
                opacity=0.55,
                line_width=0,
            )
    return _style(fig, title, height=150 + 28 * num_rows + (40 if num_tokens > 20 else 0))


# ============================================================================================ compare
def compare_table(
    traces: Mapping[str, Trace], decisions: Mapping[str, Decision], titles: Mapping[str, str]
) -> pd.DataFrame:
    """One row per checkpoint: its rule's decision, its last layer's prediction, and whether it is in the majority."""
    rows = []
    for name, trace in traces.items():
        d = decisions[name]
        rows.append(
            {
                "checkpoint": titles.get(name, name),
                "folder": name,
                "rule": d.rule,
                "threshold": ", ".join(f"{k}={v:g}" for k, v in d.params.items() if isinstance(v, (int, float))),
                "exit layer": d.exit_layer,
                "layers": trace.num_layers,
                "depth used": d.exit_layer / trace.num_layers,
                "prediction": d.label,
                "confidence": float(np.max(d.probs)) if not trace.is_regression else float("nan"),
                "last layer says": trace.label_name(trace.preds[-1]),
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    votes = Counter(frame["prediction"])
    top = votes.most_common()
    majority = top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else None
    frame["agrees"] = [majority is not None and p == majority for p in frame["prediction"]]
    return frame


def compare_exit_figure(table: pd.DataFrame, labels: Sequence[str] = ()) -> go.Figure:
    """Each checkpoint's exit layer out of its depth, coloured by its prediction."""
    order = {label: i for i, label in enumerate(labels)}
    for p in table["prediction"]:
        order.setdefault(p, len(order))
    names = [escape(n) for n in table["checkpoint"]]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(y=names, x=table["layers"], orientation="h", marker_color="#E8E8E8", name="all layers", hoverinfo="skip")
    )
    for label, index in order.items():
        rows = table[table["prediction"] == label]
        if rows.empty:
            continue
        fig.add_trace(
            go.Bar(
                y=[escape(n) for n in rows["checkpoint"]],
                x=rows["exit layer"],
                orientation="h",
                name=escape(label),
                marker_color=class_color(index),
                text=[
                    f"layer {e}/{n} · {escape(label)}" + ("" if np.isnan(c) else f" · {c:.0%}")
                    for e, n, c in zip(rows["exit layer"], rows["layers"], rows["confidence"])
                ],
                textposition="inside",
                insidetextanchor="start",
                hovertemplate="%{y}<br>exit at layer %{x}<extra></extra>",
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="layer", dtick=1, range=[0, float(table["layers"].max()) + 0.3])
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=names)
    return _style(fig, "Exit layer and prediction of every checkpoint", height=120 + 45 * len(table))


def compare_layers_figure(
    traces: Mapping[str, Trace], decisions: Mapping[str, Decision], titles: Mapping[str, str]
) -> go.Figure:
    """Checkpoints x layers grid of each layer's prediction, the exit cell outlined: where methods disagree."""
    names = list(traces)
    labels: list[str] = []
    for trace in traces.values():
        labels += [label for label in trace.labels if label not in labels]
    index = {label: i for i, label in enumerate(labels)}
    max_layers = max(t.num_layers for t in traces.values())
    z = np.full((len(names), max_layers), np.nan)
    text = [[""] * max_layers for _ in names]
    for r, name in enumerate(names):
        trace = traces[name]
        for layer in range(trace.num_layers):
            label = trace.label_name(trace.preds[layer])
            z[r, layer] = index.get(label, np.nan)
            text[r][layer] = (
                f"{escape(label)}<br>{trace.confidence[layer]:.2f}" if not trace.is_regression else escape(label)
            )
    num_classes = max(1, len(labels))
    scale = []
    for i in range(num_classes):
        scale += [[i / num_classes, class_color(i)], [(i + 1) / num_classes, class_color(i)]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=_layers(max_layers),
            y=list(range(len(names))),
            zmin=-0.5,
            zmax=num_classes - 0.5,
            colorscale=scale,
            showscale=False,
            text=text,
            texttemplate="%{text}" if max_layers <= 16 else None,
            xgap=2,
            ygap=2,
            opacity=0.85,
            hovertemplate="layer %{x}: %{text}<extra></extra>",
        )
    )
    for r, name in enumerate(names):
        e = decisions[name].exit_layer
        fig.add_shape(
            type="rect", name=EXIT, x0=e - 0.5, x1=e + 0.5, y0=r - 0.5, y1=r + 0.5, line=dict(color="black", width=3)
        )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(names))),
        ticktext=[escape(titles.get(n, n)) for n in names],
        autorange="reversed",
    )
    _layer_axis(fig, max_layers)
    return _style(fig, "Prediction at every layer (outlined: where each method exits)", height=110 + 50 * len(names))


# ============================================================================================ dataset
def _speed_key(speed: str) -> str:
    if speed not in ("layer", "wall"):
        raise ValueError(f"speed must be 'layer' or 'wall', got {speed!r}")
    return f"{speed}_speedup"


def tradeoff_figure(evals: Mapping[str, dict], speed: str = "layer", static_exits: bool = True) -> go.Figure:
    """Score against speed-up for every early-exit rule of every evaluated checkpoint.

    Args:
        evals: checkpoint name -> eval.json contents.
        speed: "layer" (L / mean exit layer) or "wall" (measured; only the points that have it).
        static_exits: also draw "always exit at layer l" (L/l, per-layer score), a baseline any rule should beat.
    """
    key = _speed_key(speed)
    fig = go.Figure()
    dashes = ("solid", "dash", "dot", "dashdot")
    metric = ""
    for c, (name, ev) in enumerate(evals.items()):
        color = CLASS_COLORS[c % len(CLASS_COLORS)]
        label = escape(name)
        metric = metric or ev.get("metric", "score")
        rules = [(r, entry) for r, entry in ev.get("rules", {}).items() if entry.get("early_exit", True)]
        for k, (rule, entry) in enumerate(rules):
            points = [p for p in entry["points"] if p.get(key) is not None]
            points.sort(key=lambda p: p[key])
            if not points:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p[key] for p in points],
                    y=[p["score"] for p in points],
                    mode="lines+markers",
                    name=f"{label} · {escape(rule)}",
                    legendgroup=label,
                    line=dict(color=color, dash=dashes[k % len(dashes)], width=2),
                    customdata=[[p["threshold"], p["mean_exit_layer"]] for p in points],
                    hovertemplate=(
                        f"{label} · {escape(rule)}<br>{escape(entry.get('param', 'threshold'))} = %{{customdata[0]:g}}"
                        "<br>score %{y:.4f} · speed-up %{x:.2f}×<br>mean exit layer %{customdata[1]:.2f}<extra></extra>"
                    ),
                )
            )
        full = ev.get("full_model", {})
        if "score" in full:
            fig.add_trace(
                go.Scatter(
                    x=[1.0],
                    y=[full["score"]],
                    mode="markers",
                    name=f"{label} · full model",
                    legendgroup=label,
                    marker=dict(symbol="star", size=14, color=color, line=dict(color="black", width=1)),
                    hovertemplate=f"{label}<br>full model: %{{y:.4f}}<extra></extra>",
                )
            )
        if static_exits and speed == "layer" and ev.get("per_layer"):
            num_layers = ev["num_layers"]
            per_layer = sorted(ev["per_layer"], key=lambda p: p["layer"])
            fig.add_trace(
                go.Scatter(
                    x=[num_layers / p["layer"] for p in per_layer],
                    y=[p["score"] for p in per_layer],
                    mode="lines+markers",
                    name=f"{label} · fixed layer",
                    legendgroup=label,
                    line=dict(color=color, dash="dot", width=1),
                    marker=dict(symbol="x", size=6),
                    opacity=0.5,
                    customdata=[p["layer"] for p in per_layer],
                    hovertemplate=f"{label}<br>always exit at layer %{{customdata}}: %{{y:.4f}}<extra></extra>",
                )
            )
    fig.update_xaxes(title="speed-up (L / mean exit layer)" if speed == "layer" else "measured wall-clock speed-up")
    fig.update_yaxes(title=escape(metric))
    if not fig.data:
        fig.add_annotation(text="no points to draw", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    _style(fig, "Accuracy against speed-up", height=480)
    fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02))
    return fig


def exit_histogram_figure(point: Mapping[str, Any], num_layers: int, title: str = "") -> go.Figure:
    """How many examples exit at each layer for one sweep point, with the mean exit layer."""
    counts = np.asarray(point["histogram"], dtype=float)
    x = _layers(num_layers)
    fig = go.Figure(go.Bar(x=x, y=counts, marker_color=SERIES_COLORS[0], name="examples"))
    mean = point.get("mean_exit_layer")
    if mean is not None:
        fig.add_vline(
            x=mean,
            name="mean exit",
            line=dict(color=EXIT_COLOR, dash="dash"),
            annotation=dict(text=f"mean {mean:.2f}", font=dict(color=EXIT_COLOR, size=11)),
        )
    fig.update_yaxes(title="examples", rangemode="tozero")
    _layer_axis(fig, num_layers)
    return _style(fig, title or "Exit layers")


def per_layer_figure(evals: Mapping[str, dict]) -> go.Figure:
    """Score of each layer's own classifier (no early exit) per checkpoint; the full model as a star."""
    fig = go.Figure()
    max_layers = 1
    for c, (name, ev) in enumerate(evals.items()):
        color = CLASS_COLORS[c % len(CLASS_COLORS)]
        per_layer = sorted(ev.get("per_layer", []), key=lambda p: p["layer"])
        max_layers = max(max_layers, ev.get("num_layers", len(per_layer)))
        fig.add_trace(
            go.Scatter(
                x=[p["layer"] for p in per_layer],
                y=[p["score"] for p in per_layer],
                mode="lines+markers",
                name=escape(name),
                line=dict(color=color, width=2),
            )
        )
    fig.update_yaxes(title="score")
    _layer_axis(fig, max_layers)
    return _style(fig, "Score of each layer's classifier", height=360)


def is_overthinking(layer_preds: Sequence, gold) -> bool:
    """The last layer is wrong although an earlier layer was right (classification)."""
    if len(layer_preds) < 2 or gold is None:
        return False
    return layer_preds[-1] != gold and any(p == gold for p in layer_preds[:-1])


def examples_table(ev: Mapping[str, Any], rule: str) -> pd.DataFrame:
    """eval.json's examples with one rule's exit (at its default threshold) and the per-layer story."""
    labels = list(ev.get("labels", []))

    def name(value):
        if value is None:
            return ""
        return labels[int(value)] if labels and 0 <= int(value) < len(labels) else f"{float(value):.3f}"

    rows = []
    for example in ev.get("examples", []):
        preds = list(example.get("layer_preds", []))
        gold = example.get("gold")
        exit_info = example.get("exit", {}).get(rule, {})
        correct_layers = [i + 1 for i, p in enumerate(preds) if p == gold] if labels else []
        rows.append(
            {
                "text": example.get("text", ""),
                "text_b": example.get("text_b") or "",
                "gold": name(gold),
                "exit layer": exit_info.get("layer"),
                "prediction": name(exit_info.get("pred")),
                "correct": exit_info.get("correct"),
                "last layer": name(preds[-1]) if preds else "",
                "overthinking": bool(labels) and is_overthinking(preds, gold),
                "first correct layer": correct_layers[0] if correct_layers else None,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty and not frame["text_b"].astype(bool).any():
        frame = frame.drop(columns="text_b")
    return frame


def overthinking_examples(ev: Mapping[str, Any]) -> list[dict]:
    """The eval examples whose last layer is wrong while an earlier layer was right."""
    if not ev.get("labels"):
        return []
    return [e for e in ev.get("examples", []) if is_overthinking(e.get("layer_preds", []), e.get("gold"))]
