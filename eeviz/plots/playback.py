"""Layer-by-layer playback: one decision, or one sentence through several checkpoints, as a Plotly animation.

Frame ℓ (named ``str(ℓ)``) reveals layers 1..ℓ of every chart, up to the exit layer. From the exit frame on,
the exit is marked (shapes named ``"exit"``) and the layers after it are a grey band named ``"skipped"``
labelled "not computed". Each frame's title says what the rule decides at layer ℓ in plain words (the rule's
``describe``); the slider's step at the exit reads "3 · exit". A slider steps through the frames and a play
button runs layers 1..exit and stops there, all in the browser (no server round trip per frame).

What is drawn comes from the rule's ``RuleSpec`` and the method's ``panels``, ``signal_names`` and
``figure_inputs``, as for the static figures: nothing here names a method. The layer currently computed is a
shape named ``"current"``.
"""

from __future__ import annotations

import html
import re
import textwrap
from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go

from ..attention import pooled_attention
from ..methods.base import CONTINUE_WORDS, EXIT_WORDS, FigureInputs
from ..trace import Decision, Trace
from .playback_parts import (
    CURRENT, GREY_TEXT, NOT_COMPUTED, TITLE_PAD_PX, Row, animation_controls, assemble, axis_ids, is_flag,
    layer_shapes, matrix_reveal, plain, playback_rows, playback_series, sentence_title, series_reveal, shape,
    stacked_axes,
)
from .style import (BAR_COLORS, EXIT_COLOR, LINE_COLORS, OFF_FILL, SERIES_COLORS, SIDES, STOP_COLOR, STOP_LABEL,
                    STOP_SIZE, STOP_SYMBOL, THRESHOLD, ZONE_COLOR, auto_range, class_color, escape, fires,
                    series_looks, stop_pattern, subscripts, unicode_subscripts)

WRAP = 56  # characters per line of a frame's sentence (plotly does not wrap titles; fits a phone)
NORMAL_WEIGHT = "font-weight:normal"
KEY_WIDTH = 38  # characters of a chart's title and colour key per line: what a phone shows beside the y labels

__all__ = ["CURRENT", "NOT_COMPUTED", "answer_words", "decision_words", "frame_title", "layer_sentences",
           "playback_figure", "step_label"]


# ------------------------------------------------------------------------------------------------ sentences
def _rule(method_cls, decision: Decision, num_layers: int):
    rule_cls = getattr(method_cls, "rules", {}).get(decision.rule)
    try:
        return None if rule_cls is None else rule_cls(num_layers, **decision.params)
    except (TypeError, ValueError):
        return None


def decision_words(trace: Trace, decision: Decision, method_cls=None) -> list[str]:
    """What the rule decides at each layer 1..exit, in plain words (without "layer ℓ: " in front)."""
    rule = _rule(method_cls, decision, trace.num_layers)
    series_name = getattr(method_cls, "series_name", plain)

    def name_of(key: str) -> str:  # the sentence is plain text (a frame's title, a hover): "u_i" reads "uᵢ"
        return unicode_subscripts(series_name(key))

    signals = {k: np.asarray(v) for k, v in trace.signals.items()}
    logits, probs = np.asarray(trace.logits), np.asarray(trace.probs)
    words = []
    for layer in range(1, decision.exit_layer + 1):
        stop = layer == decision.exit_layer
        if rule is None:
            words.append(EXIT_WORDS if stop else CONTINUE_WORDS)
            continue
        info = {k: float(np.asarray(v, dtype=float)[layer - 1]) for k, v in decision.info.items()}
        sig = {k: v[layer - 1] for k, v in signals.items()}
        sig.update(logits=logits[layer - 1], probs=probs[layer - 1])
        words.append(rule.describe(layer, info, sig, stop=stop, name_of=name_of))
    return words


def answer_words(trace: Trace, decision: Decision) -> str:
    if trace.is_regression:
        return f"the value {decision.label}"
    return f"“{decision.label}” ({float(np.max(decision.probs)):.0%})"


def layer_sentences(trace: Trace, decision: Decision, method_cls=None) -> list[str]:
    """One sentence per layer 1..L: the decision at ℓ; at the exit also the answer; after it, "not computed"."""
    exit_layer, num_layers = decision.exit_layer, trace.num_layers
    out = [f"layer {k}: {w}" for k, w in enumerate(decision_words(trace, decision, method_cls), start=1)]
    rest = f"; layers {exit_layer + 1}–{num_layers} are {NOT_COMPUTED}" if exit_layer < num_layers else ""
    out[-1] += f". The model stops: exit at layer {exit_layer} with {answer_words(trace, decision)}{rest}"
    out += [f"layer {k}: {NOT_COMPUTED}, the model left at layer {exit_layer} with {answer_words(trace, decision)}"
            for k in range(exit_layer + 1, num_layers + 1)]
    return out


def frame_title(sentence: str) -> str:
    """A frame's sentence as plotly title text: escaped, "layer ℓ:" in bold, wrapped.

    The words after "layer ℓ:" say their weight themselves (a span of normal weight): Streamlit wraps
    the first frame's title, the layout's, in <b>…</b>, and not the frames' titles that replace it, so the first
    frame read all bold and the others not.
    """
    head, _, tail = sentence.partition(": ")
    lines = textwrap.wrap(tail, WRAP - len(head), break_on_hyphens=False) or [""]
    tail = "<br>".join(escape(line) for line in lines)  # plotly carries the open span over its line breaks
    return f'<b>{escape(head)}:</b> <span style="{NORMAL_WEIGHT}">{tail}</span>'


def step_label(layer: int, exit_layer: int) -> str:
    """A slider step's label: the layer, "3 · exit" at the exit, "(5)" after it (not computed)."""
    if layer == exit_layer:
        return f"{layer} · exit"
    return str(layer) if layer < exit_layer else f"({layer})"


# ------------------------------------------------------------------------------------------------ one decision
def _chart_title(title: str, key: list[str]) -> str:
    """A chart's title and its colour key (already escaped HTML spans), packed into lines of at most
    ``KEY_WIDTH`` visible characters: plotly does not wrap them, and on a phone a longer line ran off the chart."""
    lines = [subscripts(line) for line in textwrap.wrap(title, KEY_WIDTH, break_on_hyphens=False) or [""]]
    width = len(textwrap.wrap(title, KEY_WIDTH, break_on_hyphens=False)[-1]) if title else 0
    for item in key:
        shown = len(html.unescape(re.sub(r"<[^>]+>", "", item)))  # the visible characters of the span
        if width and width + 2 + shown > KEY_WIDTH:
            lines.append(item)
            width = shown
        else:
            lines[-1] += ("  " if width else "") + item
            width += (2 if width else 0) + shown
    return "<br>".join(lines)


def playback_figure(
    trace: Trace,
    decision: Decision,
    method_cls=None,
    inputs: FigureInputs | None = None,
    *,
    attention: bool = True,
    pooling: str = "cls",
) -> go.Figure:
    """Watch one decision layer by layer: the class probabilities, the rule's series against its threshold, the
    method's panels, the rule's state and flags, and the cumulative [CLS] attention (with ``attention`` and a
    trace that has attentions), stacked in one figure whose frames 1..L share a slider and a play button.

    Each chart's title carries its colour key (no legends at the side: they squeeze narrow screens).

    Args:
        trace: The example's full trace.
        decision: ``replay(trace, rule)``.
        method_cls: The method's class (``rules``, ``panels``, ``signal_names``); None draws what the trace and
            decision hold, with bare names and a bare "→ continue / → exit".
        inputs: ``method_cls.figure_inputs(...)`` of this decision (extra series, bands, markers).
        pooling: what the exit heads read (``ModelConfig.pooling``): the attention chart shows what reaches
            that vector, as the Attention page does: [CLS]'s row, or for "mean" the mean over query positions
            (it showed [CLS]'s for a mean-pooling model, which the Attention page says the heads do not read).
    """
    inputs = inputs or FigureInputs()
    num_layers, exit_layer = trace.num_layers, decision.exit_layer
    rule_cls = getattr(method_cls, "rules", {}).get(decision.rule)
    spec = rule_cls.spec if rule_cls is not None else None
    name_of = getattr(method_cls, "series_name", plain)
    series = playback_series(trace, decision, inputs)
    rows = [Row("Predicted value" if trace.is_regression else "Class probabilities", height=190,
                y_title="value" if trace.is_regression else "probability")]
    rows += playback_rows(trace, decision, spec, method_cls, series)
    if attention and trace.attentions is not None and len(trace.tokens):
        # worded as the Attention page's chart of the same numbers
        title = "What the heads read, so far: cumulative attention into " + (
            "the mean over tokens" if pooling == "mean" else "[CLS]")
        rows.append(Row(title, kind="tokens", height=40 + 22 * num_layers))
    threshold = float(decision.params.get(spec.param, spec.default)) if spec is not None else None
    side = spec.side if spec is not None and spec.side in SIDES else None
    if side == "at_least" and threshold is not None and threshold <= 0:
        side = None  # a count threshold of 0 disables the rule: nothing reaches it

    ruled = spec.series if spec is not None and spec.series in series else None
    panels = [p for p in getattr(method_cls, "panels", ()) if any(k in series for k in (*p.bars, *p.lines))]
    panels.sort(key=lambda p: ruled not in (*p.bars, *p.lines))  # in the order of playback_rows
    # one quantity, one look on every chart, as the static figures (λ_i in the rule's state as in its panel)
    state = [k for k, v in decision.info.items() if k != ruled and not is_flag(np.asarray(v, dtype=float))]
    looks = series_looks(panels, series, extra=state)
    data: list[dict] = []
    reveals: list[tuple[str, Any]] = []
    keys: dict[int, list[str]] = {}  # chart -> its colour key

    def add(row: int, plot: dict, update, key: str | None = None) -> None:
        x, y = axis_ids(row)
        plot.update(update(1), xaxis=x, yaxis=y, showlegend=False)
        data.append(plot)
        reveals.append((plot["type"], update))
        if key is not None:
            symbol = "■" if plot["type"] == "bar" else ("┈" if plot.get("line", {}).get("dash") == "dot" else "●")
            keys.setdefault(row, []).append(f'<span style="color:{key}">{symbol} {plot["name"]}</span>')

    if trace.is_regression:
        add(1, dict(type="scatter", mode="lines+markers", name="prediction"), series_reveal(trace.preds))
    for c, label in enumerate(trace.labels):
        name = escape(label)
        add(1, dict(type="scatter", mode="lines+markers", name=name, line=dict(color=class_color(c), width=2),
                    hovertemplate=f"layer %{{x}}<br>p({name}) = %{{y:.3f}}<extra></extra>"),
            series_reveal(trace.probs[:, c]), key=class_color(c))
    tokens = [escape(t) for t in trace.tokens]
    for r, row in enumerate(rows[1:], start=2):
        if row.kind == "flags":  # yes / no in the cells, as the static chart has
            add(r, dict(type="heatmap", y=[escape(name_of(k)) for k in row.lines], x=list(range(1, num_layers + 1)),
                        zmin=0, zmax=1, colorscale=[[0, OFF_FILL], [1, ZONE_COLOR]], showscale=False, xgap=2,
                        ygap=2, hoverongaps=False, texttemplate="%{text}",
                        hovertemplate="layer %{x}: %{y}: %{text}<extra></extra>"),
                flags_reveal(np.array([series[k] for k in row.lines])))
        elif row.kind == "tokens":
            # heads averaged: (L, T), computed once here; the frames only reveal its rows
            matrix = np.asarray(pooled_attention(trace.attentions, pooling=pooling)
                                if pooling == "mean" else trace.cls_cumulative, dtype=float).mean(axis=1)
            add(r, dict(type="heatmap", x=list(range(len(tokens))), y=list(range(1, num_layers + 1)),
                        colorscale="Viridis", zmin=0, zmax=float(np.nanmax(matrix)) or 1.0, showscale=False,
                        hoverongaps=False, customdata=[tokens] * num_layers,
                        hovertemplate="layer %{y} · %{customdata}<br>%{z:.3f}<extra></extra>"),
                matrix_reveal(matrix, layers_on_rows=True))
        else:
            stops_seen: set[str] = set()  # the stop looks the frames ever show: "▨" a hatched bar, "◆" a diamond
            for k, key in enumerate([*row.bars, *row.lines]):
                bar = k < len(row.bars)
                base, dash = looks.get(key) or (_series_color(row, k, bar), "solid")
                met = fires(series[key], threshold, side) if key == row.threshold else np.zeros(num_layers, bool)
                if np.asarray(met)[:exit_layer].any():
                    stops_seen.add("▨" if bar else "◆")
                name = subscripts(name_of(key))
                hover = f"layer %{{x}}<br>{name} = %{{y:.3f}}<extra></extra>"
                plot = dict(type="bar", name=name, opacity=0.85, hovertemplate=hover) if bar else dict(
                    type="scatter", mode="lines+markers", name=name, hovertemplate=hover,
                    line=dict(color=base, width=2, dash=dash))
                marker = {"color": [STOP_COLOR if m else base for m in met]}
                if bar:  # the stop look: a hatched bar, a diamond on a line
                    marker["pattern"] = stop_pattern(met)
                else:
                    marker.update(symbol=[STOP_SYMBOL if m else "circle" for m in met],
                                  size=[STOP_SIZE if m else 8 for m in met])
                add(r, plot, series_reveal(series[key], marker), key=base)
            if stops_seen:
                keys[r].append(f'<span style="color:{STOP_COLOR}">{" ".join(sorted(stops_seen))} {STOP_LABEL}</span>')
            # the threshold's and the marked layers' words go in the key: on their lines they sat on the bars
            if row.threshold is not None and threshold is not None:
                text = escape(f"{spec.symbol or spec.label} = {threshold:g}")
                keys.setdefault(r, []).append(f'<span style="color:{GREY_TEXT}">┈ {text}</span>')
            for marker in (m for m in inputs.markers if row.panel and m.panel == row.panel):
                keys.setdefault(r, []).append(f'<span style="color:{LINE_COLORS[2]}">│ {escape(marker.label)}</span>')

    # "exit" without its layer: the charts show only the layers computed so far, and the dashed line appears at
    # the frame that reaches the exit
    keys.setdefault(1, []).append(f'<span style="color:{EXIT_COLOR}">┆ exit</span>')
    # room under each chart for its x ticks and the next chart's title; the last chart over layers says "layer"
    titles = [_chart_title(row.title, keys.get(r, [])) for r, row in enumerate(rows, start=1)]
    last_layer_chart = max(r for r, row in enumerate(rows, start=1) if row.kind != "tokens")
    gaps = [40 + 19 * (titles[r + 1].count("<br>") + 1 if r + 1 < len(rows) else 0) + 22 * (r + 1 == last_layer_chart)
            for r in range(len(rows))]  # gaps[r]: under chart r + 1, above chart r + 2 and its title
    layout, domains, plot_height = stacked_axes([row.height for row in rows], gaps)
    for r, row in enumerate(rows, start=1):
        x_axis, y_axis = (f"{a}axis{axis_ids(r)[0][1:]}" for a in "xy")
        if row.kind == "tokens":
            layout[x_axis].update(tickmode="array", tickvals=list(range(len(tokens))), ticktext=tokens,
                                  tickfont=dict(size=10), automargin=True)
            if len(tokens) > 16:  # else unset: plotly tilts the labels only where they would overlap (a phone)
                # upright (-90): slanted labels need ~1.3 times the room each and overlapped at 400 px
                layout[x_axis].update(tickangle=-90)
            layout[y_axis].update(autorange="reversed", title=dict(text="layer"), dtick=1)
            continue
        layout[x_axis].update(range=[0.5, num_layers + 0.5], tickmode="linear", tick0=1,
                              dtick=1 if num_layers <= 24 else 2)
        if r == last_layer_chart:
            layout[x_axis]["title"] = dict(text="layer")
        if row.kind == "series":
            y_range = row.y_range if r > 1 else (auto_range(trace.preds) if trace.is_regression else (-0.02, 1.02))
            layout[y_axis].update(range=list(y_range), title=dict(text=escape(row.y_title)))

    def shapes(layer: int) -> list[dict]:
        out = []
        for r, row in enumerate(rows, start=1):
            # no words on the exit line (drawn along it, they ran into the chart's title): the key says it
            out += layer_shapes(r, layer, exit_layer, num_layers, row.kind == "tokens", label=False)
            if row.threshold is not None and threshold is not None:
                if side is not None:
                    lo, hi = row.y_range
                    y0, y1 = (lo, threshold) if side == "below" else (threshold, hi)
                    out.append(shape("rect", r, x_domain=True, name="exit zone", x0=0, x1=1, y0=y0, y1=y1,
                                     fillcolor=ZONE_COLOR, opacity=0.08, line_width=0, layer="below"))
                out.append(shape("line", r, x_domain=True, name=THRESHOLD, x0=0, x1=1, y0=threshold, y1=threshold,
                                 line=dict(color=GREY_TEXT, dash="dot", width=2)))
            # a method's bands and markers (a window, a marked layer) appear with the answer
            for band in (b for b in inputs.bands if row.panel and b.panel == row.panel):
                out.append(shape("rect", r, y_domain=True, name=band.name, x0=band.first - 0.5, x1=band.last + 0.5,
                                 y0=0, y1=1, fillcolor=ZONE_COLOR if band.ok else "#F58518", opacity=0.12,
                                 line_width=0, visible=layer >= max(exit_layer, band.last),
                                 label=dict(text=escape(band.label), font=dict(size=11),
                                            textposition=_band_text_side(band, num_layers))))
            for marker in (m for m in inputs.markers if row.panel and m.panel == row.panel):
                out.append(shape("line", r, y_domain=True, name=marker.name, x0=marker.layer, x1=marker.layer,
                                 y0=0, y1=1, line=dict(color=LINE_COLORS[2], width=2),
                                 visible=layer >= max(exit_layer, marker.layer)))
        return out

    sentences = [frame_title(s) for s in layer_sentences(trace, decision, method_cls)]
    # the tallest sentence fits above the charts (under the toolbar), and so does the first chart's title when it
    # takes two lines
    head = TITLE_PAD_PX + 18 + 18 * max(t.count("<br>") + 1 for t in sentences) + 19 * titles[0].count("<br>")
    below = 0 if rows[-1].kind != "tokens" else (60 if len(tokens) > 16 else 12)  # the last chart's token labels
    layout.update(
        annotations=[dict(text=title, x=0, xref="paper", xanchor="left", y=top, yref="paper", yanchor="bottom",
                          align="left", showarrow=False, font=dict(size=12)) for title, (_, top) in zip(titles, domains)],
        title=sentence_title(sentences[0]),
        shapes=shapes(1),
        height=plot_height + head + 190 + below,
        margin=dict(l=10, r=20, t=head, b=190 + below),
        barmode="group",
        hovermode="closest",
        **animation_controls([step_label(k, exit_layer) for k in range(1, num_layers + 1)], exit_layer, below),
    )
    frames = [
        dict(name=str(layer), traces=list(range(len(data))),
             data=[{"type": kind, **update(min(layer, exit_layer))} for kind, update in reveals],
             layout=dict(title=dict(text=sentences[layer - 1]), shapes=shapes(layer)))
        for layer in range(1, num_layers + 1)
    ]
    return assemble(data, layout, frames)


def _series_color(row, k: int, bar: bool) -> str:
    """The colour of a row's k-th series, the same as the static figures': a method panel's bars and lines take
    ``panels``' colours (``plots.traces.panel_figure``), any other chart (the rule's series on its own, the rule's
    state) the series colours in order (``signal_figure``, ``lines_figure``)."""
    if not row.panel:
        return SERIES_COLORS[k % len(SERIES_COLORS)]
    return BAR_COLORS[k % len(BAR_COLORS)] if bar else LINE_COLORS[(k - len(row.bars)) % len(LINE_COLORS)]


def flags_reveal(matrix) -> Callable[[int], dict]:
    """n -> a yes/no heatmap whose layers past n are blank, with "yes" / "no" in the cells shown."""
    cells = matrix_reveal(matrix, layers_on_rows=False)
    words = [["yes" if v else "no" for v in row] for row in np.asarray(matrix, dtype=float)]

    def update(n: int) -> dict:
        return {**cells(n), "text": [row[:n] + [""] * (len(row) - n) for row in words]}

    return update


def _band_text_side(band, num_layers: int) -> str:
    """Where a band's words sit: from its left edge into the chart when the band is in the chart's left half,
    else ending at its right edge; centred words ran off the chart's edge on a phone."""
    return "bottom left" if band.first + band.last <= num_layers + 1 else "bottom right"
