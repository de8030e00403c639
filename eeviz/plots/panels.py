"""The figures that explain one decision, chosen from what the rule and the method declare, and the per-layer table.

Nothing here knows a method: the rule's ``RuleSpec`` says which series it compares with its threshold and on
which side it stops; the method's ``panels`` say which series belong together, ``signal_names`` give them plain
words, and ``figure_inputs`` (passed in as ``inputs``) adds series, markers and bands. A method that declares
nothing still gets a figure per signal, its threshold drawn on the series its rule reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..methods.base import FigureInputs, PanelSpec, RuleSpec
from ..trace import Decision, Trace
from .style import sentence_case, series_looks
from .traces import exit_distribution_figure, flags_figure, lines_figure, panel_figure, signal_figure


@dataclass
class Panel:
    """One figure of the per-layer view, with the sentence that explains it."""

    title: str
    figure: go.Figure
    caption: str = ""


def is_flag(values: np.ndarray) -> bool:
    """Whether a rule's per-layer state is a yes/no flag (only 0 and 1): drawn, and tabled, as yes/no."""
    return values.size > 0 and bool(np.isin(values, (0.0, 1.0)).all())


def has_threshold(spec: RuleSpec) -> bool:
    """Whether the rule has a threshold to draw (reference rules pin an unused parameter; a seed is none)."""
    return spec.minimum != spec.maximum and not spec.stochastic


def threshold_series(
    decision: Decision, spec: RuleSpec, series: Mapping[str, np.ndarray]
) -> tuple[str | None, str | None]:
    """(name of the series the rule compares with its threshold, side on which it stops), or (None, None).

    The spec says it; a rule that does not falls back to a series named like its parameter or itself, or to the
    only per-layer value it reports, without a side.
    """
    if spec.series is not None:
        return (spec.series, spec.side) if spec.series in series else (None, None)
    if not has_threshold(spec):
        return None, None
    for candidate in (spec.param, spec.name):
        if candidate in series:
            return candidate, None
    reported = [k for k, v in decision.info.items() if not is_flag(np.asarray(v, dtype=float))]
    if len(reported) == 1 and reported[0] in series:
        return reported[0], None
    return None, None


def _default_name(key: str) -> str:
    return key.replace("_", " ")


def decision_panels(
    trace: Trace,
    decision: Decision,
    spec: RuleSpec,
    *,
    method: type | None = None,
    inputs: FigureInputs | None = None,
    sampled_exits: Sequence[int] | None = None,
) -> list[Panel]:
    """The figures of one decision, in this order: the rule's series against its threshold (on the method's panel
    that holds it, else on a figure of its own), the method's other panels, the spread of a random rule's exit over
    many draws, the rule's other state (lines) and yes/no flags, then every signal not drawn yet.

    Args:
        trace: The example's full trace.
        decision: ``replay(trace, rule)``.
        spec: The rule's spec (series, side, threshold label, description).
        method: The method's class (``ExitMethod`` subclass): its ``panels``, ``signal_names``, ``signal_docs``.
        inputs: ``method.figure_inputs(...)`` of this decision: extra series, markers, bands, figure titles.
        sampled_exits: Exit layers of a random rule over many draws (its seeds).
    """
    inputs = inputs or FigureInputs()
    docs = dict(getattr(method, "signal_docs", {}) or {})
    name_of = getattr(method, "series_name", _default_name)
    exit_layer = decision.exit_layer
    signals = {k: np.asarray(v, dtype=float) for k, v in trace.signals.items() if np.asarray(v).ndim == 1}
    info = {k: np.asarray(v, dtype=float) for k, v in decision.info.items()}
    extra = {k: np.asarray(v, dtype=float) for k, v in inputs.series.items()}
    series = {**signals, **info, **extra}
    name, side = threshold_series(decision, spec, series)
    threshold = float(decision.params.get(spec.param, spec.default))
    if side == "at_least" and threshold <= 0:
        side = None  # a count threshold of 0 disables the rule: nothing can reach it
    shown: set[str] = set(getattr(method, "internal_signals", ()))
    panels: list[Panel] = []

    declared = [p for p in getattr(method, "panels", ()) if any(k in series for k in (*p.bars, *p.lines))]
    declared.sort(key=lambda p: name not in (*p.bars, *p.lines))  # stable: the threshold's panel first
    state = {k: v for k, v in info.items() if k != name and not is_flag(v)}
    # one quantity, one look: λ_i in the rule's state is drawn as in the method's panel
    looks = series_looks(declared, series, extra=state)
    if name is not None and not any(name in (*p.bars, *p.lines) for p in declared):
        panels.append(_threshold_panel(series, name, side, threshold, spec, name_of, docs, exit_layer))
        shown.add(name)
    for panel in declared:
        panels.append(_method_panel(panel, series, name, side, threshold, spec, name_of, inputs, exit_layer))
        shown.update(k for k in (*panel.bars, *panel.lines, *panel.hides))
    if sampled_exits is not None:
        follows = spec.follows if spec.follows in series else None
        expected_color = looks[follows][0] if follows in looks else None
        panels.append(
            Panel(
                "Exit layer over many draws",
                exit_distribution_figure(
                    sampled_exits,
                    trace.num_layers,
                    series[follows] if follows else None,
                    exit_layer,
                    expected_name=name_of(follows) if follows else "expected",
                    expected_color=expected_color,
                ),
                "The rule is random: this is where it exits across seeds (the chosen seed's exit is marked)",
            )
        )
    # the rule's own state, even where a figure above already drew it (a random rule compares u_i with λ_i)
    if state:
        named_state = {name_of(k): v for k, v in state.items()}  # plain words ("uniform draw u_i"), not code names
        figure = lines_figure(named_state, "Rule state per layer", exit_layer, y_title=spec.state_title or "value",
                              y_range=spec.state_range, looks={name_of(k): looks[k] for k in state})
        panels.append(Panel("Rule state", figure, sentence_case(spec.description)))
        shown.update(state)
    flags = {k: v for k, v in info.items() if k != name and k not in state}
    if flags:
        named = {name_of(k): v for k, v in flags.items()}
        panels.append(Panel("Rule flags", flags_figure(named, "Rule flags per layer", exit_layer)))
        shown.update(flags)
    for key, values in signals.items():
        if key not in shown:
            panels.append(Panel(key, signal_figure(values, name_of(key), exit_layer=exit_layer),
                                sentence_case(docs.get(key, ""))))
    return panels


def _threshold_panel(series, name, side, threshold, spec, name_of, docs, exit_layer) -> Panel:
    """The rule's series on a figure of its own, against the threshold."""
    return Panel(
        sentence_case(f"{name_of(name)} against {spec.label}"),
        signal_figure(
            series[name],
            name_of(name),
            threshold=threshold,
            threshold_label=spec.label,
            side=side,
            exit_layer=exit_layer,
            bars=spec.series_bars,
            title=f"{name_of(name)} against the {spec.label}",
            y_range=spec.series_range,
        ),
        sentence_case(docs.get(name, spec.description)),
    )


def _method_panel(panel: PanelSpec, series, name, side, threshold, spec, name_of, inputs, exit_layer) -> Panel:
    """One of the method's panels, with the threshold when it holds the rule's series."""
    keys = [k for k in (*panel.bars, *panel.lines) if k in series]
    figure = panel_figure(
        panel,
        {k: series[k] for k in keys},
        names={k: name_of(k) for k in keys},
        threshold=threshold if name in keys else None,
        threshold_label=spec.label,
        threshold_series=name,
        side=side,
        markers=[m for m in inputs.markers if m.panel == panel.title],
        bands=[b for b in inputs.bands if b.panel == panel.title],
        highlight=inputs.highlight,
        exit_layer=exit_layer,
        title=inputs.titles.get(panel.title),
    )
    return Panel(panel.title, figure, sentence_case(panel.caption))


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
