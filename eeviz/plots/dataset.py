"""Figures of evaluation sweeps (``eval.json``): accuracy against speed-up, exit-layer histograms, and the score
of every layer's own classifier."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from ..eval_result import EvalResult, SweepPoint
from .style import CLASS_COLORS, EXIT_COLOR, SERIES_COLORS, escape, layer_axis, layers, style


def _speed_key(speed: str) -> str:
    if speed not in ("layer", "wall"):
        raise ValueError(f"speed must be 'layer' or 'wall', got {speed!r}")
    return f"{speed}_speedup"


def tradeoff_figure(evals: Mapping[str, EvalResult], speed: str = "layer", static_exits: bool = True) -> go.Figure:
    """Score against speed-up for every early-exit rule of every evaluated checkpoint.

    Args:
        evals: checkpoint name -> its evaluation (``EvalResult``).
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
        metric = metric or ev.metric
        rules = [(r, entry) for r, entry in ev.rules.items() if entry.early_exit]
        for k, (rule, entry) in enumerate(rules):
            points = [p for p in entry.points if getattr(p, key) is not None]
            points.sort(key=lambda p: getattr(p, key))
            if not points:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[getattr(p, key) for p in points],
                    y=[p.score for p in points],
                    mode="lines+markers",
                    name=f"{label} · {escape(rule)}",
                    legendgroup=label,
                    line=dict(color=color, dash=dashes[k % len(dashes)], width=2),
                    customdata=[[p.threshold, p.mean_exit_layer] for p in points],
                    hovertemplate=(
                        f"{label} · {escape(rule)}<br>{escape(entry.param)} = %{{customdata[0]:g}}"
                        "<br>score %{y:.4f} · speed-up %{x:.2f}×<br>mean exit layer %{customdata[1]:.2f}<extra></extra>"
                    ),
                )
            )
        if ev.full_model is not None:
            fig.add_trace(
                go.Scatter(
                    x=[1.0],
                    y=[ev.full_model.score],
                    mode="markers",
                    name=f"{label} · full model",
                    legendgroup=label,
                    marker=dict(symbol="star", size=14, color=color, line=dict(color="black", width=1)),
                    hovertemplate=f"{label}<br>full model: %{{y:.4f}}<extra></extra>",
                )
            )
        if static_exits and speed == "layer" and ev.per_layer:
            per_layer = sorted(ev.per_layer, key=lambda p: p.layer)
            fig.add_trace(
                go.Scatter(
                    x=[ev.num_layers / p.layer for p in per_layer],
                    y=[p.score for p in per_layer],
                    mode="lines+markers",
                    name=f"{label} · fixed layer",
                    legendgroup=label,
                    line=dict(color=color, dash="dot", width=1),
                    marker=dict(symbol="x", size=6),
                    opacity=0.5,
                    customdata=[p.layer for p in per_layer],
                    hovertemplate=f"{label}<br>always exit at layer %{{customdata}}: %{{y:.4f}}<extra></extra>",
                )
            )
    fig.update_xaxes(title="speed-up (L / mean exit layer)" if speed == "layer" else "measured wall-clock speed-up")
    fig.update_yaxes(title=escape(metric))
    if not fig.data:
        fig.add_annotation(text="no points to draw", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    style(fig, "Accuracy against speed-up", height=480)
    fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02))
    return fig


def exit_histogram_figure(point: SweepPoint, num_layers: int, title: str = "") -> go.Figure:
    """How many examples exit at each layer for one sweep point, with the mean exit layer."""
    counts = np.asarray(point.histogram, dtype=float)
    x = layers(num_layers)
    fig = go.Figure(go.Bar(x=x, y=counts, marker_color=SERIES_COLORS[0], name="examples"))
    mean = point.mean_exit_layer
    if mean is not None:
        fig.add_vline(
            x=mean,
            name="mean exit",
            line=dict(color=EXIT_COLOR, dash="dash"),
            annotation=dict(text=f"mean {mean:.2f}", font=dict(color=EXIT_COLOR, size=11)),
        )
    fig.update_yaxes(title="examples", rangemode="tozero")
    layer_axis(fig, num_layers)
    return style(fig, title or "Exit layers")


def per_layer_figure(evals: Mapping[str, EvalResult]) -> go.Figure:
    """Score of each layer's own classifier (no early exit) per checkpoint; the full model as a star."""
    fig = go.Figure()
    max_layers = 1
    for c, (name, ev) in enumerate(evals.items()):
        color = CLASS_COLORS[c % len(CLASS_COLORS)]
        per_layer = sorted(ev.per_layer, key=lambda p: p.layer)
        max_layers = max(max_layers, ev.num_layers)
        fig.add_trace(
            go.Scatter(
                x=[p.layer for p in per_layer],
                y=[p.score for p in per_layer],
                mode="lines+markers",
                name=escape(name),
                line=dict(color=color, width=2),
            )
        )
    fig.update_yaxes(title="score")
    layer_axis(fig, max_layers)
    return style(fig, "Score of each layer's classifier", height=360)
