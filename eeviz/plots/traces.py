"""Per-layer figures of one trace: class probabilities, any signal against a threshold, several series on one
chart, yes/no flags, where a random rule exits, and a method's panel (bars, lines, markers, bands).

Layers are 1-based on the x axis (on the y axis for heatmaps); the exit layer, the skipped layers and the
threshold are marked as :mod:`eeviz.plots.style` describes.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..methods.base import LayerBand, LayerMarker, PanelSpec
from ..trace import Trace
from .style import (
    MISS_COLOR,
    OFF_FILL,
    SERIES_COLORS,
    STOP_COLOR,
    ZONE_COLOR,
    auto_range,
    class_color,
    escape,
    exit_zone,
    fires,
    layer_axis,
    layers,
    legend_line,
    mark_exit,
    sentence_case,
    series_looks,
    stop_legend,
    stop_marker,
    stop_pattern,
    style,
    subscripts,
    threshold_line,
    vertical,
)


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
            x=layers(num_layers),
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
    layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers, on_heatmap=True)
    return style(
        fig, "Class probabilities per layer (bold: the layer's prediction)", height=max(300, 140 + 40 * num_classes)
    )


def probability_lines(trace: Trace, exit_layer: int | None = None) -> go.Figure:
    """One line per class: p(class) against layer; regression traces show the predicted value instead."""
    num_layers = trace.num_layers
    x = layers(num_layers)
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
    layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return style(fig, title, y_title=y_title)


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

    Layers where the stopping condition holds get the stop look (``style.STOP_COLOR``: a diamond on a line, the
    colour on a bar) and a legend entry, and that side of the threshold is shaded.
    """
    values = np.asarray(values, dtype=float)
    num_layers = len(values)
    x = layers(num_layers)
    met = fires(values, threshold, side) if threshold is not None else np.zeros(num_layers, dtype=bool)
    colors = [STOP_COLOR if m else SERIES_COLORS[0] for m in met]
    label = subscripts(name)
    if bars:
        trace = go.Bar(
            x=x,
            y=values,
            name=label,
            marker=dict(color=colors, pattern=stop_pattern(met)),
            hovertemplate=f"layer %{{x}}<br>{label} = %{{y:g}}<extra></extra>",
        )
    else:
        trace = go.Scatter(
            x=x,
            y=values,
            mode="lines+markers",
            name=label,
            line=dict(color=SERIES_COLORS[0], width=2),
            marker=stop_marker(met, SERIES_COLORS[0]),
            hovertemplate=f"layer %{{x}}<br>{label} = %{{y:.3f}}<extra></extra>",
        )
    fig = go.Figure(trace)
    if met.any():
        stop_legend(fig, bar=bars)
    if y_range is None:
        y_range = auto_range(values, () if threshold is None else (threshold,), from_zero=bars)
    fig.update_yaxes(range=list(y_range), title=label)
    if threshold is not None:
        exit_zone(fig, threshold, side, y_range)
        threshold_line(fig, float(threshold), threshold_label or "threshold")
    layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return style(fig, subscripts(sentence_case(title)) if title else label)


def lines_figure(
    series: Mapping[str, Sequence[float]],
    title: str,
    exit_layer: int | None = None,
    *,
    y_title: str = "value",
    y_range: tuple[float, float] | None = None,
    looks: Mapping[str, tuple[str, str]] | None = None,
) -> go.Figure:
    """Several per-layer series on one chart (e.g. a rule's state), named by their keys (plain words).

    ``y_range`` fixes the y axis; else it spans the values, from 0 when none is negative (so 0 has its tick).
    ``looks`` gives a series (by its name) the (colour, dash) it has on the other charts; else the series
    colours in order.
    """
    looks = dict(looks or {})
    fig = go.Figure()
    num_layers = 0
    for k, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        num_layers = max(num_layers, len(values))
        label = subscripts(name)
        color, dash = looks.get(name) or (SERIES_COLORS[k % len(SERIES_COLORS)], "solid")
        fig.add_trace(
            go.Scatter(
                x=layers(len(values)),
                y=values,
                mode="lines+markers",
                name=label,
                line=dict(color=color, width=2, dash=dash),
                hovertemplate=f"layer %{{x}}<br>{label} = %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(showlegend=True)
    if y_range is None:
        values = np.concatenate([np.asarray(v, dtype=float).ravel() for v in series.values()] or [np.zeros(0)])
        finite = values[np.isfinite(values)]
        y_range = auto_range(values, from_zero=bool(finite.size) and bool((finite >= 0).all()))
    fig.update_yaxes(range=list(y_range), title=escape(y_title) if y_title else None)
    layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return style(fig, subscripts(sentence_case(title)))


def flags_figure(flags: Mapping[str, Sequence[float]], title: str, exit_layer: int | None = None) -> go.Figure:
    """Yes/no rule state per layer (e.g. ELBERT's window flags) as rows of coloured cells."""
    names = list(flags)
    z = np.array([np.asarray(flags[n], dtype=float) for n in names])
    num_layers = z.shape[1]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=layers(num_layers),
            y=list(range(len(names))),
            zmin=0,
            zmax=1,
            colorscale=[[0, OFF_FILL], [1, ZONE_COLOR]],
            text=[["yes" if v else "no" for v in row] for row in z],
            texttemplate="%{text}",
            showscale=False,
            xgap=2,
            ygap=2,
            hovertemplate="layer %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(names))), ticktext=[escape(n) for n in names])
    layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers, on_heatmap=True)
    return style(fig, title, height=110 + 35 * len(names))


def exit_distribution_figure(
    exit_layers: Sequence[int],
    num_layers: int,
    expected: Sequence[float] | None = None,
    exit_layer: int | None = None,
    expected_name: str = "expected",
    expected_color: str | None = None,
) -> go.Figure:
    """How often a random rule exits at each layer over many draws, and the distribution ``expected`` it should
    follow (named ``expected_name``, drawn in ``expected_color``: its colour on the other charts). The draws take
    a series colour other than it."""
    draws = np.asarray(exit_layers, dtype=int)
    counts = np.bincount(draws, minlength=num_layers + 1)[1:]
    x = layers(num_layers)
    expected_color = expected_color or SERIES_COLORS[1]
    draws_color = next(c for c in (SERIES_COLORS[0], SERIES_COLORS[4]) if c != expected_color)
    fig = go.Figure(
        go.Bar(x=x, y=counts / max(1, len(draws)), name=f"{len(draws)} draws", marker_color=draws_color)
    )
    if expected is not None:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(expected, dtype=float),
                mode="lines+markers",
                name=subscripts(expected_name),
                line=dict(color=expected_color),
            )
        )
    fig.update_yaxes(title="share of draws", rangemode="tozero")
    layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return style(fig, "Where the random rule exits, over many draws")




def panel_figure(
    panel: PanelSpec,
    series: Mapping[str, Sequence[float]],
    *,
    names: Mapping[str, str] | None = None,
    threshold: float | None = None,
    threshold_label: str = "threshold",
    threshold_series: str | None = None,
    side: str | None = None,
    markers: Sequence[LayerMarker] = (),
    bands: Sequence[LayerBand] = (),
    highlight: Mapping[str, Sequence[int]] | None = None,
    exit_layer: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """A method's panel: its ``bars`` and ``lines`` series (those present in ``series``) on one chart.

    The threshold is drawn when ``threshold_series`` is one of the panel's series, whose layers that meet the
    stopping condition (``side``) get the stop look (a magenta diamond, with a legend entry); the layers
    ``highlight`` lists per series are drawn green.
    ``markers`` and ``bands`` are vertical lines and spans of layers, as shapes named by their ``name``.
    """
    names = dict(names or {})
    highlight = {k: set(int(v) for v in layers_) for k, layers_ in (highlight or {}).items()}
    drawn = [k for k in (*panel.bars, *panel.lines) if k in series]
    num_layers = max((len(np.asarray(series[k])) for k in drawn), default=0)
    x = layers(num_layers)
    has_threshold = threshold is not None and threshold_series in drawn
    fig = go.Figure()

    looks = series_looks([panel], series)

    def stops(key: str) -> np.ndarray:
        values = np.asarray(series[key], dtype=float)
        return fires(values, threshold, side) if has_threshold and key == threshold_series else np.zeros(len(values), bool)

    def colors(key: str, base: str) -> list[str]:
        chosen = highlight.get(key, set())
        return [STOP_COLOR if m else ZONE_COLOR if layer in chosen else base for layer, m in zip(x, stops(key))]

    for k, key in enumerate(k for k in panel.bars if k in series):
        label = subscripts(names.get(key, key))
        fig.add_trace(
            go.Bar(
                x=x,
                y=np.asarray(series[key], dtype=float),
                name=label,
                marker=dict(color=colors(key, looks[key][0]), pattern=stop_pattern(stops(key))),
                opacity=0.85 if k == 0 else 1.0,
                hovertemplate=f"layer %{{x}}<br>{label} = %{{y:.3f}}<extra></extra>",
            )
        )
    for key in (k for k in panel.lines if k in series):
        label = subscripts(names.get(key, key))
        color, dash = looks[key]
        marker = stop_marker(stops(key), color)
        marker["color"] = colors(key, color)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.asarray(series[key], dtype=float),
                mode="lines+markers",
                name=label,
                line=dict(color=color, width=2, dash=dash),
                marker=marker,
                hovertemplate=f"layer %{{x}}<br>{label} = %{{y:.3f}}<extra></extra>",
            )
        )
    stopping = [key for key in drawn if stops(key).any()]
    if any(key in panel.lines for key in stopping):
        stop_legend(fig)
    if any(key in panel.bars for key in stopping):
        stop_legend(fig, bar=True)
    fig.update_layout(barmode="group", showlegend=True)
    y_range = panel.y_range
    if y_range is None:
        values = np.concatenate([np.asarray(series[k], dtype=float).ravel() for k in drawn] or [np.zeros(0)])
        y_range = auto_range(values, (threshold,) if has_threshold else (), from_zero=bool(panel.bars))
    fig.update_yaxes(range=list(y_range), title=escape(panel.y_title) if panel.y_title else None)
    if has_threshold:
        exit_zone(fig, float(threshold), side, y_range)
        threshold_line(fig, float(threshold), threshold_label)
    for band in bands:
        vertical(fig, "rect", band.first - 0.5, band.last + 0.5, band.name,
                 fillcolor=ZONE_COLOR if band.ok else MISS_COLOR, opacity=0.12, line_width=0)
        fig.add_annotation(text=escape(band.label), x=band.first - 0.5, xref="x", xanchor="left", y=0,
                           yref="y domain", yanchor="bottom", showarrow=False, font=dict(size=11))
    for k, marker in enumerate(markers):  # labelled in the legend: a label on the line sat on the bars
        color = SERIES_COLORS[(2 + k) % len(SERIES_COLORS)]
        vertical(fig, "line", marker.layer, marker.layer, marker.name, line=dict(color=color, width=2))
        legend_line(fig, marker.label, color)  # plain text: legend_line escapes it
    layer_axis(fig, num_layers)
    mark_exit(fig, exit_layer, num_layers)
    return style(fig, subscripts(title or panel.title), height=340 if panel.bars and panel.lines else 300)


def reward_figure(
    gold_log_likelihood: Sequence[float],
    depth_penalty: Sequence[float],
    memorized_layer: int,
    exit_layer: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """A gain minus a per-layer cost, r(e) = log p_e(y|x) − penalty(e), as bars (the best layer green), both parts
    as lines, and a marked layer. Kept for callers of the former API; methods give the same through
    ``figure_inputs`` and a ``PanelSpec``."""
    gain = np.asarray(gold_log_likelihood, dtype=float)
    cost = np.asarray(depth_penalty, dtype=float)
    reward = gain - cost
    best = int(np.argmax(reward)) + 1
    panel = PanelSpec("Reward", bars=("reward",), lines=("gain", "cost"), y_title="reward")
    return panel_figure(
        panel,
        {"reward": reward, "gain": gain, "cost": -cost},
        names={"reward": "reward r(e)", "gain": "log p_e(y|x)", "cost": "− depth penalty"},
        markers=[LayerMarker("Reward", int(memorized_layer), f"memorized layer m = {memorized_layer}", "memorized")],
        highlight={"reward": [best]},
        exit_layer=exit_layer,
        title=title or f"Reward for exiting at each layer (best: layer {best})",
    )
