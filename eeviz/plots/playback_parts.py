"""The parts of the playback figures (:mod:`eeviz.plots.playback`): which charts a decision gets, how a trace
reveals its first n layers, the per-frame shapes, the slider and play button, and the stacked axes.

Figures are assembled from plain dicts and handed to plotly without its per-property validation, which costs
about ten times the drawing itself here (tests validate the result once). Frames carry only what changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import plotly.graph_objects as go

from ..methods.base import FigureInputs, RuleSpec
from ..trace import Decision, Trace
from .style import EXIT, EXIT_COLOR, RAIL_BORDER, RAIL_FILL, SKIPPED, THRESHOLD_COLOR, auto_range, sentence_case

CURRENT = "current"  # the shape over the layer being computed
NOT_COMPUTED = "not computed"
FRAME_MS = 800  # how long the play button shows each layer
CURRENT_COLOR = "#FFC107"
SKIPPED_COLOR = "#888888"
GREY_TEXT = "#888888"  # readable on light and dark backgrounds


# Plotly's toolbar (the modebar: download, zoom, full screen) shows over a chart's top right corner, from 2 to 28
# px below its top, while the mouse is over it; on a phone it runs across the whole width and hid the frame's
# sentence. The sentence starts under it.
MODEBAR_PX = 28
TITLE_RISE_PX = 13  # plotly draws a top-anchored title's first line this far above its pad (measured in Chromium)
TITLE_PAD_PX = MODEBAR_PX + 4 + TITLE_RISE_PX  # the sentence's pad from the top: its words 4 px under the toolbar


def sentence_title(text: str) -> dict:
    """The layout's title for a frame's sentence: top left, under the toolbar. A figure's top margin holds
    ``TITLE_PAD_PX``, the sentence's lines and a gap."""
    return dict(text=text, font=dict(size=13), x=0, xanchor="left", xref="container", y=1, yanchor="top",
                yref="container", pad=dict(t=TITLE_PAD_PX, l=12))


def plain(key: str) -> str:
    return key.replace("_", " ")


# ------------------------------------------------------------------------------------------------ what is drawn
@dataclass
class Row:
    """One chart of the playback: bars and lines over layers, yes/no flags, or a layers x tokens heatmap."""

    title: str
    kind: str = "series"  # "series", "flags", "tokens"
    bars: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    threshold: str | None = None  # the series the rule compares with its threshold
    y_range: tuple[float, float] | None = None
    y_title: str = ""
    height: int = 190
    panel: str = ""  # the method panel it draws (its bands and markers go there)


def is_flag(values: np.ndarray) -> bool:
    return values.size > 0 and bool(np.isin(values, (0.0, 1.0)).all())


def playback_series(trace: Trace, decision: Decision, inputs: FigureInputs | None = None) -> dict[str, np.ndarray]:
    """Every per-layer series a chart may draw: 1-D signals, the rule's state, and the method's figure inputs."""
    out = {k: np.asarray(v, dtype=float) for k, v in trace.signals.items() if np.asarray(v).ndim == 1}
    out.update({k: np.asarray(v, dtype=float) for k, v in decision.info.items()})
    out.update({k: np.asarray(v, dtype=float) for k, v in (inputs.series if inputs else {}).items()})
    return out


def playback_rows(trace: Trace, decision: Decision, spec: RuleSpec | None, method_cls, series: Mapping) -> list[Row]:
    """The charts after the class probabilities: the rule's series against its threshold (on the method's panel
    that holds it), the method's other panels, the rule's other state, its yes/no flags, then other signals."""
    name_of = getattr(method_cls, "series_name", plain)
    key = spec.series if spec is not None and spec.series in series else None
    rows: list[Row] = []
    drawn: set[str] = set(getattr(method_cls, "internal_signals", ()))
    panels = [p for p in getattr(method_cls, "panels", ()) if any(k in series for k in (*p.bars, *p.lines))]
    panels.sort(key=lambda p: key not in (*p.bars, *p.lines))  # stable: the threshold's panel first
    if key is not None and not any(key in (*p.bars, *p.lines) for p in panels):
        bars = bool(spec.series_bars)
        rows.append(Row(sentence_case(f"{name_of(key)} against the {spec.label}"), bars=[key] if bars else [],
                        lines=[] if bars else [key], threshold=key, y_range=spec.series_range,
                        y_title=name_of(key)))  # as the static chart: the series' name on its y axis
        drawn.add(key)
    for panel in panels:
        keys = [k for k in (*panel.bars, *panel.lines) if k in series]
        rows.append(Row(panel.title, bars=[k for k in panel.bars if k in series],
                        lines=[k for k in panel.lines if k in series], threshold=key if key in keys else None,
                        y_range=panel.y_range, y_title=panel.y_title, panel=panel.title, height=220))
        drawn.update((*panel.bars, *panel.lines, *panel.hides))
    info = {k: np.asarray(v, dtype=float) for k, v in decision.info.items()}
    # the rule's own state, even where a panel drew part of it (a random rule compares u_i with λ_i)
    state = [k for k, v in info.items() if k != key and not is_flag(v)]
    if any(k not in drawn for k in state):
        rows.append(Row("Rule state", lines=state, y_title=spec.state_title if spec is not None else "",
                        y_range=spec.state_range if spec is not None else None))
        drawn.update(state)
    flags = [k for k, v in info.items() if k != key and k not in state]
    if flags:
        rows.append(Row("Rule flags", kind="flags", lines=flags, height=60 + 28 * len(flags)))
        drawn.update(flags)
    others = [k for k in trace.signals if k in series and k not in drawn]
    if others:
        rows.append(Row("Other signals", lines=others))
    threshold = float(decision.params.get(spec.param, spec.default)) if spec is not None else 0.0
    for row in rows:
        if row.kind == "series" and row.y_range is None:
            values = np.concatenate([np.asarray(series[k], dtype=float).ravel() for k in (*row.bars, *row.lines)])
            row.y_range = auto_range(values, (threshold,) if row.threshold else (), from_zero=bool(row.bars))
    return rows


# ------------------------------------------------------------------------------------------------ revealing layers
def rounded(values, digits: int = 4) -> list:
    """Numbers for the browser: ``digits`` decimals, NaN as null (keeps frames small)."""
    arr = np.round(np.asarray(values, dtype=float), digits)
    if arr.ndim > 1:
        return [rounded(row, digits) for row in arr]
    return [float(v) if np.isfinite(v) else None for v in arr]


def series_reveal(values, marker: Mapping[str, list] | list[str] | None = None) -> Callable[[int], dict]:
    """n -> the first n layers of a per-layer series (x, y and the markers' per-layer looks: ``marker`` maps a
    marker property such as "color", "symbol" or "size" to one value per layer; a list is the colours)."""
    values = rounded(values)
    marker = {"color": marker} if isinstance(marker, list) else marker

    def update(n: int) -> dict:
        out: dict[str, Any] = {"x": list(range(1, n + 1)), "y": values[:n]}
        if marker is not None:
            # a nested property (the bars' pattern: {"shape": [...]}) is cut layer by layer too
            out["marker"] = {k: {kk: vv if isinstance(vv, str) else list(vv)[:n] for kk, vv in v.items()}
                             if isinstance(v, Mapping) else list(v)[:n]
                             for k, v in marker.items()}
        return out

    return update


def matrix_reveal(matrix, layers_on_rows: bool) -> Callable[[int], dict]:
    """n -> a heatmap whose layers past n are blank (null)."""
    z = np.asarray(matrix, dtype=float)

    def update(n: int) -> dict:
        shown = z.copy()
        if layers_on_rows:
            shown[n:, :] = np.nan
        else:
            shown[:, n:] = np.nan
        return {"z": rounded(shown, 3)}  # colours: 3 decimals are plenty, and the frames repeat the matrix

    return update


# ------------------------------------------------------------------------------------------------ axes and shapes
def axis_ids(row: int) -> tuple[str, str]:
    """("x", "y") for the first chart, ("x2", "y2") for the second, ..."""
    suffix = "" if row == 1 else str(row)
    return f"x{suffix}", f"y{suffix}"


def stacked_axes(heights: list[int], gaps: list[int]) -> tuple[dict, list[tuple[float, float]], int]:
    """Layout axes of charts stacked top to bottom, ``heights`` px each, ``gaps[k]`` px below chart k (room for
    its x ticks and the next chart's title). Returns (layout entries, each chart's y domain, plot height in px)."""
    total = sum(heights) + sum(gaps[: len(heights) - 1])
    layout, domains, top = {}, [], total
    for row, (height, gap) in enumerate(zip(heights, gaps), start=1):
        x, y = axis_ids(row)
        domain = (max(0.0, (top - height) / total), top / total)
        layout[f"xaxis{x[1:]}"] = dict(domain=[0, 1], anchor=y, automargin=True)
        layout[f"yaxis{y[1:]}"] = dict(domain=list(domain), anchor=x, automargin=True)
        domains.append(domain)
        top -= height + gap
    return layout, domains, total


def shape(kind: str, row: int, *, x_domain: bool = False, y_domain: bool = False, **kw) -> dict:
    """A shape on chart ``row``: in its data coordinates, or across the whole axis where ``*_domain``."""
    x, y = axis_ids(row)
    return {"type": kind, "xref": f"{x} domain" if x_domain else x, "yref": f"{y} domain" if y_domain else y, **kw}


def layer_shapes(row: int, layer: int, exit_layer: int, last: int, on_rows: bool, label: bool) -> list[dict]:
    """The current layer, the exit and the not-computed layers of one chart at frame ``layer``.

    Layers run along x (``on_rows`` False) or down the rows of a heatmap; ``last`` is the chart's last layer.
    Every frame gets the same shapes with the same keys, hidden where they do not apply (``visible``): plotly
    merges a frame's shapes into the figure's item by item, so a shorter list would leave stale shapes behind.
    """
    a, b = ("y", "x") if on_rows else ("x", "y")  # a: the layer axis, b: across it
    across = {f"{b}0": 0, f"{b}1": 1, f"{b}_domain": True}
    out = [shape("rect", row, name=CURRENT, **{f"{a}0": layer - 0.5, f"{a}1": layer + 0.5}, **across,
                 fillcolor=CURRENT_COLOR, opacity=0.2, line_width=0, layer="below", visible=layer <= exit_layer)]
    done = layer >= exit_layer
    if on_rows:
        out.append(shape("rect", row, name=EXIT, y0=exit_layer - 0.5, y1=exit_layer + 0.5, **across,
                         line=dict(color=EXIT_COLOR, width=3), visible=done))
    else:
        text = {"label": dict(text=f"exit · layer {exit_layer}", font=dict(color=EXIT_COLOR, size=11),
                              textposition="end", yanchor="top")} if label else {}
        out.append(shape("line", row, name=EXIT, x0=exit_layer, x1=exit_layer, **across,
                         line=dict(color=EXIT_COLOR, width=2, dash="dash"), visible=done, **text))
    if exit_layer < last:
        out.append(shape("rect", row, name=SKIPPED, **{f"{a}0": exit_layer + 0.5, f"{a}1": last + 0.5}, **across,
                         fillcolor=SKIPPED_COLOR, opacity=0.2, line_width=0, visible=done,
                         label=dict(text=NOT_COMPUTED, font=dict(size=11, color=GREY_TEXT), textposition="top center")))
    return out


# ------------------------------------------------------------------------------------------------ animation
def animation_controls(labels: list[str], play_until: int, below: int = 0) -> dict:
    """A slider over the frames "1".."n" (``labels`` on its steps) and play / pause buttons; play runs frames
    1..``play_until`` (the exit) and stops there. ``below``: extra px between the plot and the slider (room for
    slanted tick labels)."""
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    steps = [dict(method="animate", label=label, args=[[str(k)], still]) for k, label in enumerate(labels, start=1)]
    run = dict(still, frame=dict(duration=FRAME_MS, redraw=True), fromcurrent=False)
    play = dict(label="▶ play", method="animate", args=[[str(k) for k in range(1, play_until + 1)], run])
    pause = dict(label="❚❚ pause", method="animate", args=[[None], still])
    return dict(
        # the slider over the whole width, the buttons under it: side by side they collide on a phone
        # colours both themes read (plotly's defaults are a near-white rail and buttons, a glaring bar on dark)
        sliders=[dict(active=0, steps=steps, x=0, len=1, y=0, yanchor="top", pad=dict(t=50 + below, b=4),
                      currentvalue=dict(prefix="layer ", font=dict(size=13), xanchor="left"), name="layer",
                      bgcolor=RAIL_FILL, bordercolor=RAIL_BORDER, borderwidth=1, activebgcolor=THRESHOLD_COLOR,
                      tickcolor=THRESHOLD_COLOR)],
        updatemenus=[dict(type="buttons", direction="left", buttons=[play, pause], showactive=False,
                          x=0, xanchor="left", y=0, yanchor="top", pad=dict(t=136 + below),
                          bgcolor=RAIL_FILL, bordercolor=RAIL_BORDER)],
    )


def assemble(data: list[dict], layout: dict, frames: list[dict]) -> go.Figure:
    """The figure from plain dicts, without plotly's per-property validation of data and layout."""
    return go.Figure(
        {"data": data, "layout": layout, "frames": [go.Frame(f, _validate=False) for f in frames]}, _validate=False
    )
