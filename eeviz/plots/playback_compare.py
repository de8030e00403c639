"""Compare's playback: one sentence through several checkpoints, stepped layer by layer together.

One row per checkpoint; frame ℓ reveals each row's predictions up to min(ℓ, its exit). From a row's exit frame
on, its exit cell is outlined (a shape named ``"exit"``) and the layers it never computes are a grey band named
``"skipped"`` labelled "not computed"; the layer being computed is a column outline named ``"current"``. The
frame's title says who exits now, who is still running and who left before; each row's status sits at its
right, and each cell's hover says what that checkpoint's rule decided there (its ``describe``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go

from ..trace import Decision, Trace
from .playback import answer_words, decision_words, frame_title
from .playback_parts import (
    CURRENT, CURRENT_COLOR, GREY_TEXT, NOT_COMPUTED, SKIPPED_COLOR, TITLE_PAD_PX, TITLE_RISE_PX, animation_controls,
    assemble, sentence_title,
)
from .style import EXIT, EXIT_CASING, EXIT_COLOR, SKIPPED, class_color, escape

# each checkpoint's row: its cells, and above them a line with its name and status (no tick labels at the side:
# they would squeeze the grid on a phone)
ROW_PX = 66
GAP_PX = 26
NAME_CLEARANCE_PX = 16  # the first row's name is written in the gap above its cells, half of it over the grid
INSET = GAP_PX / 2 / ROW_PX  # the gap's half, in rows: the shapes of a row stay on its cells
NAMED = 1  # a group of the frame's sentence is named up to this many checkpoints, else counted


def _answer(trace: Trace, decision: Decision) -> str:
    """A row's answer at its exit: the class and its probability (the sentence above may only count the row)."""
    return str(decision.label) if trace.is_regression else f"{decision.label} ({float(np.max(decision.probs)):.0%})"


def _method_of(trace: Trace, methods: Mapping[str, Any] | None, name: str):
    if methods is not None:
        return methods.get(name)
    from ..methods import get_method

    try:
        return get_method(trace.method)
    except ValueError:
        return None


def compare_sentence(layer: int, names: list[str], titles: Mapping[str, str], traces, decisions) -> str:
    """What happens at ``layer``: who exits now (with what), who is still running, who left before.

    A group of more than ``NAMED`` checkpoints is counted, not named: each row's own line says it, and the
    sentence's lines are room reserved above the grid in every frame (seven names ran to seven lines).
    """
    now = [n for n in names if decisions[n].exit_layer == layer]
    running = [n for n in names if decisions[n].exit_layer > layer]
    before = [n for n in names if decisions[n].exit_layer < layer]
    parts = []
    if now:
        parts.append("exit now: " + (", ".join(f"{titles[n]} with {answer_words(traces[n], decisions[n])}"
                                               for n in now) if len(now) <= NAMED else _count(now)))
    if running:
        parts.append("still running: " + (", ".join(titles[n] for n in running) if len(running) <= NAMED
                                          else _count(running)))
    if before:  # grouped by exit layer: "A at layer 1; B at layer 3"
        out = sorted({decisions[n].exit_layer for n in before})
        parts.append("already out: " + ("; ".join(
            ", ".join(titles[n] for n in before if decisions[n].exit_layer == e) + f" at layer {e}" for e in out)
            if len(before) <= NAMED else _count(before)))
    return f"layer {layer}: " + "; ".join(parts)


def _count(names: list[str]) -> str:
    return f"{len(names)} checkpoints"


def compare_playback_figure(
    traces: Mapping[str, Trace],
    decisions: Mapping[str, Decision],
    titles: Mapping[str, str] | None = None,
    methods: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Several checkpoints on one sentence, stepped together (frames 1..the deepest checkpoint's L).

    Args:
        traces / decisions: by checkpoint name.
        titles: checkpoint name -> its title (default: the name).
        methods: checkpoint name -> method class (default: looked up from each trace's method).
    """
    names = list(traces)
    titles = {n: (titles or {}).get(n, n) for n in names}
    labels: list[str] = []
    for trace in traces.values():
        labels += [label for label in trace.labels if label not in labels]
    index = {label: i for i, label in enumerate(labels)}
    depth = max(t.num_layers for t in traces.values())
    exits = [decisions[n].exit_layer for n in names]
    z = np.full((len(names), depth), np.nan)
    text = [[""] * depth for _ in names]
    hover = [[""] * depth for _ in names]
    for r, name in enumerate(names):
        trace, decision = traces[name], decisions[name]
        words = decision_words(trace, decision, _method_of(trace, methods, name))
        for k in range(decision.exit_layer):
            label = trace.label_name(trace.preds[k])
            z[r, k] = index.get(label, np.nan)
            text[r][k] = escape(label) if trace.is_regression else f"{escape(label)}<br>{trace.confidence[k]:.2f}"
            hover[r][k] = escape(f"{titles[name]} · layer {k + 1}: {words[k]}")

    def reveal(layer: int) -> dict:
        cells_z, cells_text = [], []
        for r, e in enumerate(exits):
            n = min(layer, e)
            cells_z.append([None if k >= n or np.isnan(z[r, k]) else int(z[r, k]) for k in range(depth)])
            cells_text.append(text[r][:n] + [""] * (depth - n))
        return {"type": "heatmap", "z": cells_z, "text": cells_text}

    def shapes(layer: int) -> list[dict]:
        # the same shapes with the same keys in every frame, hidden where they do not apply: plotly merges a
        # frame's shapes into the figure's item by item
        out = []
        for r, (name, e) in enumerate(zip(names, exits)):
            cell = dict(type="rect", xref="x", yref="y", y0=r - 0.5 + INSET, y1=r + 0.5 - INSET, visible=layer >= e)
            # the layer shown, framed on each row's cells: one frame down the whole grid crossed the names
            # written in the gaps between the rows ("BERxiT" struck through at 400 px)
            out.append(dict(cell, name=CURRENT, x0=layer - 0.5, x1=layer + 0.5,
                            line=dict(color=CURRENT_COLOR, width=3), visible=layer <= max(exits)))
            out.append(dict(cell, name=f"{EXIT} casing", x0=e - 0.5, x1=e + 0.5, line=EXIT_CASING))
            out.append(dict(cell, name=EXIT, x0=e - 0.5, x1=e + 0.5, line=dict(color=EXIT_COLOR, width=3)))
            if e < traces[name].num_layers:
                out.append(dict(cell, name=SKIPPED, x0=e + 0.5, x1=traces[name].num_layers + 0.5,
                                fillcolor=SKIPPED_COLOR, opacity=0.25, line_width=0,
                                label=dict(text=NOT_COMPUTED, font=dict(size=11, color=GREY_TEXT))))
        return out

    def status(layer: int) -> list[dict]:
        """Each row's name and what it does at ``layer``, in the gap above its cells."""
        out = []
        for r, (name, e) in enumerate(zip(names, exits)):
            if layer < e:
                words, color = "running…", GREY_TEXT
            elif layer == e:
                words, color = f"◀ exits here: {_answer(traces[name], decisions[name])}", EXIT_COLOR
            else:
                words, color = f"left at layer {e}", GREY_TEXT
            text = f'<b>{escape(titles[name])}</b>  <span style="color:{color}">{escape(words)}</span>'
            out.append(dict(text=text, x=0, xref="paper", xanchor="left", y=r - 0.5, yref="y", yanchor="middle",
                            showarrow=False, font=dict(size=12)))
        return out

    sentences = [frame_title(compare_sentence(k, names, titles, traces, decisions)) for k in range(1, depth + 1)]
    # the longest sentence fits under the toolbar and above the first row's name
    head = TITLE_PAD_PX - TITLE_RISE_PX + NAME_CLEARANCE_PX + 18 * max(t.count("<br>") + 1 for t in sentences)

    count = max(1, len(labels))
    scale = []
    for i in range(count):
        scale += [[i / count, class_color(i)], [(i + 1) / count, class_color(i)]]
    # opaque cells, as on the grid (``compare_layers_figure``): plotly's text colour suits the cell's own colour
    data = [dict(reveal(1), x=list(range(1, depth + 1)), y=list(range(len(names))), zmin=-0.5, zmax=count - 0.5,
                 colorscale=scale, showscale=False, texttemplate="%{text}" if depth <= 16 else None,
                 hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", hoverongaps=False, xgap=2, ygap=GAP_PX)]
    layout = dict(
        # the sentence under the toolbar, room for its longest frame kept above the grid in every frame: anchored
        # at its bottom on the grid instead, plotly ran a sentence of several lines down over the first rows
        title=sentence_title(sentences[0]),
        xaxis=dict(range=[0.5, depth + 0.5], tickmode="linear", tick0=1, dtick=1 if depth <= 24 else 2,
                   title=dict(text="layer")),
        yaxis=dict(range=[len(names) - 0.5, -0.5], showticklabels=False, showgrid=False, zeroline=False),
        shapes=shapes(1),
        annotations=status(1),
        height=head + 210 + ROW_PX * len(names),
        margin=dict(l=10, r=20, t=head, b=210),
        hovermode="closest",
        **animation_controls([f"{k} · exit" if k in exits else str(k) for k in range(1, depth + 1)], max(exits)),
    )
    frames = [dict(name=str(k), traces=[0], data=[reveal(k)],
                   layout=dict(title=dict(text=sentences[k - 1]), shapes=shapes(k), annotations=status(k)))
              for k in range(1, depth + 1)]
    return assemble(data, layout, frames)
