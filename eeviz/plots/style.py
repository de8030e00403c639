"""What every figure shares: colours, escaping, titles, the layer axis, and the exit and threshold markers.

Markers are layout shapes with fixed names, so tests and the app find them: ``"exit"`` (a dashed line, or a
row outline on heatmaps), ``"skipped"`` (the band over the layers true early exit never runs) and
``"threshold"`` (a dotted horizontal line).

Strings that come from users or data (tokens, class names, sentences, folder names) go through
:func:`escape`: plotly renders a subset of HTML in tick labels, legends and hover text, so a token such as
``<br>`` or ``<a href=...>`` would otherwise become markup. Plotly decodes the entities back for display.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import plotly.graph_objects as go

EXIT = "exit"
SKIPPED = "skipped"
THRESHOLD = "threshold"

EXIT_COLOR = "#D62728"
# drawn under an exit outline on coloured cells, wider than it: red on a mid-tone cell is grey on grey to a
# colour-blind eye and in greyscale, and a white edge tells the outline from the cell on both themes
EXIT_CASING = dict(color="#FFFFFF", width=7)
# Colours that read on Streamlit's light and dark themes alike: a mid grey for lines and their labels, and
# semi-transparent fills, through which the page's background shows, for cells and veils (a dark grey vanished
# on the dark theme, and white cells glared on it).
THRESHOLD_COLOR = "#888888"
# a "no" cell of a yes/no row: an opaque mid grey, so plotly's automatic text colour (black here) reads on it
# whatever the page's background (on a see-through cell the text could not suit both themes)
OFF_FILL = "#9E9E9E"
VEIL_COLOR = "#808080"  # over the layers never run: a grey veil greys out a heatmap's colours on either theme
# controls drawn inside a figure (the playback's slider rail and buttons): see-through greys, not plotly's near-white
RAIL_FILL = "rgba(128,128,128,0.25)"
RAIL_BORDER = "rgba(128,128,128,0.6)"
ZONE_COLOR = "#2CA02C"
# "Here the rule would stop": a layer whose value is past the threshold, on the rule's side. One look on every
# chart (static and playback): a magenta diamond, a colour no series, class or band uses (green was the zone's
# and the third series' colour: a green λ_i marker and a green "stop" marker read as one), explained by a key
# entry wherever it is drawn.
STOP_COLOR = "#E7298A"
STOP_SYMBOL = "diamond"
STOP_SIZE = 12
STOP_LABEL = "the rule would stop here"
STOP_PATTERN = "x"  # on a bar the stop look is a hatch as well as the colour: the colour alone was lost in greyscale
MISS_COLOR = "#F58518"  # a band whose condition does not hold (e.g. a window that does not pass)
CLASS_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2", "#9D755D", "#EECA3B", "#FF9DA6")
SERIES_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2", "#9D755D")
# bars after the first are reference distributions (a prior): grey first, so the first stays the eye-catcher
BAR_COLORS = (SERIES_COLORS[0], "#BBBBBB", SERIES_COLORS[4], SERIES_COLORS[5])
LINE_COLORS = (SERIES_COLORS[1], SERIES_COLORS[2], SERIES_COLORS[3], SERIES_COLORS[5])
SIDES = ("below", "above", "at_least")


def escape(text: Any) -> str:
    """``text`` as plotly-safe label text (``<``, ``>``, ``&`` as entities)."""
    return html.escape(str(text), quote=False)


def class_color(index: int) -> str:
    return CLASS_COLORS[int(index) % len(CLASS_COLORS)]


def layers(num_layers: int) -> np.ndarray:
    """The x values of a per-layer figure: 1..L."""
    return np.arange(1, num_layers + 1)


def style(fig: go.Figure, title: str, height: int = 300, y_title: str | None = None) -> go.Figure:
    """Title, height, margins and a legend under the plot: the look every figure shares."""
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


def layer_axis(fig: go.Figure, num_layers: int) -> None:
    """An x axis of layers 1..L, one tick per layer (every other one past 24 layers)."""
    fig.update_xaxes(
        title="layer", range=[0.5, num_layers + 0.5], tickmode="linear", tick0=1, dtick=1 if num_layers <= 24 else 2
    )


# Lines and bands across a whole axis are added as plain shapes (``add_shape`` with an "x domain"/"y domain"
# reference): plotly's add_vline/add_hline/add_vrect took 3 ms each, most of a figure's build time, and every
# threshold move builds the method's figures again.
def vertical(fig: go.Figure, kind: str, x0: float, x1: float, name: str, **style_) -> None:
    """A line (``x0 == x1``) or a band from x0 to x1 over the plot's whole height."""
    fig.add_shape(type=kind, xref="x", yref="y domain", x0=x0, x1=x1, y0=0, y1=1, name=name, **style_)


def horizontal(fig: go.Figure, kind: str, y0: float, y1: float, name: str, **style_) -> None:
    """A line (``y0 == y1``) or a band from y0 to y1 over the plot's whole width."""
    fig.add_shape(type=kind, xref="x domain", yref="y", x0=0, x1=1, y0=y0, y1=y1, name=name, **style_)


def top_label(fig: go.Figure, x: float, text: str, color: str) -> None:
    """Small text just above the plot at ``x`` (the exit's "exit · layer e")."""
    fig.add_annotation(text=text, x=x, xref="x", y=1, yref="y domain", yanchor="bottom", showarrow=False,
                       font=dict(color=color, size=11))


def mark_exit(fig: go.Figure, exit_layer: int | None, num_layers: int, on_heatmap: bool = False) -> go.Figure:
    """The exit layer and a band over the layers after it (never run by true early exit): on line and bar charts
    a dashed line and a grey band; on heatmaps an outline around the exit's column (a line through its middle
    crossed the numbers in the cells) and a stronger grey veil (white glared on the dark theme)."""
    if exit_layer is None:
        return fig
    if on_heatmap:
        vertical(fig, "rect", exit_layer - 0.5, exit_layer + 0.5, EXIT, line=dict(color=EXIT_COLOR, width=3),
                 fillcolor="rgba(0,0,0,0)")
    else:
        vertical(fig, "line", exit_layer, exit_layer, EXIT, line=dict(color=EXIT_COLOR, dash="dash", width=2))
    top_label(fig, exit_layer, f"exit · layer {exit_layer}", EXIT_COLOR)
    if exit_layer < num_layers:
        vertical(fig, "rect", exit_layer + 0.5, num_layers + 0.5, SKIPPED, line_width=0,
                 fillcolor=VEIL_COLOR if on_heatmap else "#888888", opacity=0.6 if on_heatmap else 0.12)
    return fig


def threshold_line(fig: go.Figure, value: float, label: str) -> None:
    """The rule's threshold as a dotted horizontal line named ``"threshold"``; ``label = value`` is its legend
    entry (a label on the line sat on the bars and points under it)."""
    horizontal(fig, "line", value, value, THRESHOLD, line=dict(color=THRESHOLD_COLOR, dash="dot", width=2))
    legend_line(fig, f"{label} = {value:g}", THRESHOLD_COLOR, dash="dot")


def legend_line(fig: go.Figure, text: str, color: str, dash: str = "solid") -> None:
    """A legend entry for a line drawn as a shape (a threshold, a marked layer): an empty trace with the line's
    look, so its words sit in the legend under the plot, never over the data."""
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="lines",
            name=escape(text),
            line=dict(color=color, dash=dash, width=2),
            hoverinfo="skip",
            showlegend=True,
        )
    )
    fig.update_layout(showlegend=True)


def stop_legend(fig: go.Figure, bar: bool = False) -> None:
    """The legend entry of the stop markers (:data:`STOP_LABEL`), as an empty trace with their look: a diamond,
    or with ``bar`` a hatched bar (``stop_pattern``)."""
    if bar:
        entry = go.Bar(x=[None], y=[None], marker=dict(color=STOP_COLOR, pattern=stop_pattern([True])))
    else:
        entry = go.Scatter(x=[None], y=[None], mode="markers",
                           marker=dict(color=STOP_COLOR, symbol=STOP_SYMBOL, size=STOP_SIZE))
    fig.add_trace(entry.update(name=STOP_LABEL, hoverinfo="skip", showlegend=True))
    fig.update_layout(showlegend=True)


def stop_pattern(stops) -> dict:
    """A bar series' ``marker.pattern``: the bars where ``stops`` holds hatched (their colour is ``STOP_COLOR``)."""
    # "overlay": the hatch drawn over the bar's colour (by default it replaced the colour, which only the hatch's
    # lines then carried)
    return {"shape": [STOP_PATTERN if s else "" for s in stops], "fillmode": "overlay"}


def stop_marker(stops, base_color: str, size: int = 9) -> dict:
    """A line's markers: the stop look where ``stops`` (a bool per layer) holds, else ``base_color`` dots."""
    return dict(
        color=[STOP_COLOR if s else base_color for s in stops],
        symbol=[STOP_SYMBOL if s else "circle" for s in stops],
        size=[STOP_SIZE if s else size for s in stops],
    )


def series_looks(panels, present, extra=()) -> dict[str, tuple[str, str]]:
    """Series key -> (colour, dash), the same on every chart of a decision: a method panel's bars and lines take
    their panel's colours (the first line solid, the others dotted), the ``extra`` keys (the rule's state) the
    series colours no panel took. ``panels`` are ``PanelSpec``s; only the keys in ``present`` count."""
    looks: dict[str, tuple[str, str]] = {}
    for panel in panels:
        for k, key in enumerate(k for k in panel.bars if k in present):
            looks.setdefault(key, (BAR_COLORS[k % len(BAR_COLORS)], "solid"))
        for k, key in enumerate(k for k in panel.lines if k in present):
            looks.setdefault(key, (LINE_COLORS[k % len(LINE_COLORS)], "solid" if k == 0 else "dot"))
    used = {color for color, _ in looks.values()}
    free = [c for c in SERIES_COLORS if c not in used] or list(SERIES_COLORS)
    for n, key in enumerate(k for k in dict.fromkeys(extra) if k not in looks):
        looks[key] = (free[n % len(free)], "solid")
    return looks


def subscripts(text: str) -> str:
    """Plotly label text (escaped) with a method's ``x_i`` written as x<sub>i</sub>: "λ_i" -> "λ<sub>i</sub>",
    "p(i|λ_p)" -> "p(i|λ<sub>p</sub>)". Only for the methods' own words (series names, titles), never for
    user text such as class labels, where an underscore is just an underscore."""
    return re.sub(r"(?<=[^\W\d_])_([A-Za-z0-9]+)", r"<sub>\1</sub>", escape(text))


# the letters and digits Unicode has subscripts of (for text that cannot hold <sub>, such as a table's headers)
_UNICODE_SUBSCRIPTS = dict(zip("aehijklmnoprstuvx0123456789", "ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ₀₁₂₃₄₅₆₇₈₉"))


def unicode_subscripts(text: str) -> str:
    """``subscripts`` for plain text: a method's ``x_i`` as xᵢ ("entropy H(p_i)" -> "entropy H(pᵢ)"), for a
    subscript of one or two characters that Unicode has (a longer one is a word: "snake_case_name" stays)."""
    def sub(match: re.Match) -> str:
        word = match.group(1)
        if all(c in _UNICODE_SUBSCRIPTS for c in word):
            return "".join(_UNICODE_SUBSCRIPTS[c] for c in word)
        return match.group(0)

    return re.sub(r"(?<=[^\W\d_])_([A-Za-z0-9]{1,2})(?![A-Za-z0-9])", sub, text)


def sentence_case(text: str) -> str:
    """``text`` with its first letter upper case (a title or caption built from lower-case words)."""
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def exit_zone(fig: go.Figure, threshold: float, side: str | None, y_range) -> None:
    """Shade the side of the threshold on which the rule stops (nothing when the side is unknown)."""
    if side not in SIDES:
        return
    y0, y1 = (y_range[0], threshold) if side == "below" else (threshold, y_range[1])
    horizontal(fig, "rect", y0, y1, "exit zone", fillcolor=ZONE_COLOR, opacity=0.07, line_width=0)


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


def auto_range(values: np.ndarray, extra: tuple[float, ...] = (), from_zero: bool = False) -> tuple[float, float]:
    """A y range around the finite ``values`` and ``extra`` points (a threshold), padded by 8%; bars start at 0."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    points = np.concatenate([finite, np.asarray(extra, dtype=float), [0.0] if from_zero else []])
    lo, hi = (float(points.min()), float(points.max())) if points.size else (0.0, 1.0)
    pad = 0.08 * (hi - lo) if hi > lo else 0.5
    return lo - (0 if from_zero and lo == 0 else pad), hi + pad


# Streamlit's chart theme swaps the colours #000001..#000040 for the theme's (its template's placeholders), in
# a figure's colour scales too: Magma's and Inferno's black, #000004, became a pink band at the bottom of the
# scale and pink cells among the darkest ones (the app's charts swap as Streamlit's own do).
_PLACEHOLDER = re.compile(r"^#0000[0-3][0-9A-Fa-f]$|^#000040$")


def theme_safe_colorscale(name_or_scale):
    """A plotly colour scale (a name such as "Magma", or a list) with any colour that Streamlit's theme would
    take for a placeholder moved one step off it (#000004 -> #010004: the same black to the eye)."""
    import plotly.colors

    scale = plotly.colors.get_colorscale(name_or_scale) if isinstance(name_or_scale, str) else name_or_scale
    out = []
    for position, color in scale:
        if isinstance(color, str) and _PLACEHOLDER.match(color):
            color = "#01" + color[3:]
        out.append([position, color])
    return out
