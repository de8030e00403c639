"""One sentence through several checkpoints: a table of their decisions, their exit layers, and every layer's
prediction side by side."""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..trace import Decision, Trace
from .style import EXIT, EXIT_CASING, EXIT_COLOR, class_color, escape, layer_axis, layers, style


def rule_display(trace: Trace, rule: str) -> str:
    """The rule's plain-word name (``RuleSpec.display``) from the trace's method; its key when unknown."""
    from ..methods import get_method

    try:
        return get_method(trace.method).rules[rule].spec.display
    except (ValueError, KeyError):
        return rule


def rule_threshold(trace: Trace, decision: Decision) -> str:
    """The rule's threshold in short ("S = 0.3", "t = 2"): only the parameter the rule compares with (the
    others, such as a window size, made the column too wide to read); "—" for a rule without one."""
    from ..methods import get_method

    try:
        spec = get_method(trace.method).rules[decision.rule].spec
    except (ValueError, KeyError):
        return ", ".join(f"{k}={v:g}" for k, v in decision.params.items() if isinstance(v, (int, float))) or "—"
    value = decision.params.get(spec.param)
    if spec.minimum == spec.maximum or not isinstance(value, (int, float)):
        return "—"
    return f"{spec.symbol or spec.label} = {value:g}"


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
                "rule": rule_display(trace, d.rule),
                "threshold": rule_threshold(trace, d),
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
    return style(fig, "Exit layer and prediction of every checkpoint", height=120 + 45 * len(table))


OUTLINE_HALF = 0.4  # half the exit outline's side, in cells: a gap of 0.2 cell between neighbouring outlines


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
            x=layers(max_layers),
            y=list(range(len(names))),
            zmin=-0.5,
            zmax=num_classes - 0.5,
            colorscale=scale,
            showscale=False,
            text=text,
            texttemplate="%{text}" if max_layers <= 16 else None,
            xgap=2,
            ygap=2,
            # opaque: plotly picks each cell's text colour for the cell's own colour, and a see-through cell was
            # lighter (light theme) or darker (dark theme) than that: white on blue and black on orange fell
            # to 3:1 contrast
            hovertemplate="layer %{x}: %{text}<extra></extra>",
        )
    )
    for r, name in enumerate(names):
        e = decisions[name].exit_layer
        # inset into its cell: two neighbouring rows' outlines shared an edge, and one of them looked half drawn
        cell = dict(type="rect", x0=e - OUTLINE_HALF, x1=e + OUTLINE_HALF, y0=r - OUTLINE_HALF, y1=r + OUTLINE_HALF)
        fig.add_shape(cell, name=f"{EXIT} casing", line=EXIT_CASING)
        fig.add_shape(cell, name=EXIT, line=dict(color=EXIT_COLOR, width=3))
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(names))),
        ticktext=[escape(titles.get(n, n)) for n in names],
        autorange="reversed",
    )
    layer_axis(fig, max_layers)
    # two short lines: one long title ran past the figure on a phone
    title = "Prediction at every layer<br><sup>outlined: where each one exits</sup>"
    return style(fig, title, height=110 + 50 * len(names))
