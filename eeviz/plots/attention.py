"""Layers x tokens heatmaps (what [CLS] gathers from each token, attention rollout), the exit layer's row outlined."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .style import EXIT, EXIT_COLOR, SKIPPED, VEIL_COLOR, escape, layers, style, theme_safe_colorscale


def token_heatmap(
    matrix: np.ndarray,
    tokens: Sequence[str],
    *,
    title: str,
    exit_layer: int | None = None,
    colorscale: str = "Viridis",
    value_name: str = "share of attention",
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
            y=layers(num_rows),
            colorscale=theme_safe_colorscale(colorscale),
            customdata=[names] * num_rows,
            hovertemplate=f"layer %{{y}} · %{{customdata}} (#%{{x}})<br>{escape(value_name)} %{{z:.3f}}<extra></extra>",
            colorbar=dict(thickness=12, title=dict(text=escape(value_name), side="right")),  # what the colours mean
        )
    )
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(num_tokens)),
        ticktext=names,
        automargin=True,
        tickfont=dict(size=11 if num_tokens <= 40 else 8),
    )
    if num_tokens > 20:
        fig.update_xaxes(tickangle=-50)
    # else left unset: plotly then tilts the labels only where they would overlap (a phone), flat where they fit
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
                fillcolor=VEIL_COLOR,  # white glared on the dark theme
                opacity=0.6,
                line_width=0,
            )
    return style(fig, title, height=150 + 28 * num_rows + (40 if num_tokens > 20 else 0))
