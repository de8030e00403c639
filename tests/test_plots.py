"""Plot and table builders of the app (eeviz.plots), on hand-made traces and evaluation dicts."""

from __future__ import annotations

import numpy as np
import pytest

from eeviz import plots
from eeviz.eval_result import EvalResult, SweepPoint
from eeviz.methods.base import RuleSpec
from eeviz.methods.deebert import EntropyRule
from eeviz.methods.elbert import ElbertArgs, ElbertMethod
from eeviz.methods.pabee import PatienceRule
from eeviz.methods.pondernet import PonderArgs, PonderNetMethod, QExitRule, SamplingRule
from eeviz.plots.style import STOP_COLOR, STOP_LABEL, STOP_PATTERN, STOP_SYMBOL, series_looks, subscripts
from eeviz.trace import Decision, Trace, replay


def make_trace(p_second, labels=("neg", "pos"), signals=None, tokens=("[CLS]", "a", "[SEP]")) -> Trace:
    """Binary trace from p(class 1) per layer."""
    p = np.asarray(p_second, dtype=np.float64)
    logits = np.log(np.stack([1 - p, p], axis=1)).astype(np.float32)
    return Trace(
        method="pabee", text="a", tokens=list(tokens), labels=list(labels), logits=logits, signals=dict(signals or {})
    )


def shapes(fig, name):
    return [s for s in fig.layout.shapes if s.name == name]


def exit_x(fig) -> float:
    """The layer a figure marks as the exit: its dashed line, or the middle of the column outlined on a heatmap."""
    (mark,) = shapes(fig, plots.EXIT)
    if mark.type == "rect":
        assert mark.x1 - mark.x0 == 1
        return (mark.x0 + mark.x1) / 2
    assert mark.x0 == mark.x1
    return mark.x0


# ============================================================================================ per layer
def test_probability_heatmap_bolds_each_layers_prediction_and_marks_exit():
    trace = make_trace([0.8, 0.6, 0.3])  # predictions: pos, pos, neg
    fig = plots.probability_heatmap(trace, exit_layer=2)
    heat = fig.data[0]
    np.testing.assert_allclose(np.asarray(heat.z), [[0.2, 0.4, 0.7], [0.8, 0.6, 0.3]], atol=1e-6)
    assert heat.text[1][0] == "<b>0.80</b>" and heat.text[0][0] == "0.20"
    assert heat.text[0][2] == "<b>0.70</b>" and heat.text[1][2] == "0.30"
    (outline,) = shapes(fig, plots.EXIT)  # the exit's column outlined: a line through it crossed the numbers
    assert outline.type == "rect" and (outline.x0, outline.x1) == (1.5, 2.5)
    (band,) = shapes(fig, plots.SKIPPED)
    assert (band.x0, band.x1) == (2.5, 3.5)


def test_no_skipped_band_when_exiting_at_the_last_layer():
    fig = plots.probability_lines(make_trace([0.8, 0.6, 0.3]), exit_layer=3)
    assert exit_x(fig) == 3
    assert shapes(fig, plots.SKIPPED) == []
    assert [d.name for d in fig.data] == ["neg", "pos"]


def test_signal_figure_threshold_zone_and_firing_layers():
    fig = plots.signal_figure(
        [0.9, 0.4, 0.1], "entropy", threshold=0.5, threshold_label="S", side="below", exit_layer=2
    )
    (line,) = shapes(fig, plots.THRESHOLD)
    assert line.y0 == line.y1 == 0.5
    (zone,) = shapes(fig, "exit zone")
    lo, hi = fig.layout.yaxis.range
    assert zone.y0 == lo and zone.y1 == 0.5 and lo < 0.1 and hi > 0.9
    # layers where entropy < S (2 and 3) have the stop look, which the legend explains
    assert list(fig.data[0].marker.color) == [plots.SERIES_COLORS[0], STOP_COLOR, STOP_COLOR]
    assert list(fig.data[0].marker.symbol) == ["circle", STOP_SYMBOL, STOP_SYMBOL]
    (key,) = [d for d in fig.data if d.name == STOP_LABEL]
    assert key.marker.color == STOP_COLOR and key.marker.symbol == STOP_SYMBOL
    assert exit_x(fig) == 2


def test_stop_look_is_its_own_and_explained_only_where_drawn():
    # no series, class, zone or exit colour: green stop markers read as λ_i's green ones
    from eeviz.plots import style as st

    taken = {*st.SERIES_COLORS, *st.CLASS_COLORS, *st.BAR_COLORS, *st.LINE_COLORS, st.ZONE_COLOR, st.EXIT_COLOR,
             st.MISS_COLOR, st.THRESHOLD_COLOR}
    assert STOP_COLOR not in taken
    fig = plots.signal_figure([0.9, 0.8], "entropy", threshold=0.5, threshold_label="S", side="below")
    assert STOP_LABEL not in [d.name for d in fig.data]  # nothing stops: no key for it
    assert STOP_COLOR not in list(fig.data[0].marker.color)


@pytest.mark.parametrize(
    "side, expected",
    [
        ("below", [True, False, False]),
        ("above", [False, False, True]),
        ("at_least", [False, True, True]),
        (None, [False] * 3),
    ],
)
def test_fires_sides(side, expected):
    assert plots.fires([1, 2, 3], 2, side).tolist() == expected


def test_labels_with_markup_are_escaped():
    trace = make_trace([0.8, 0.6], labels=("<b>no</b>", "a&b"))
    fig = plots.probability_heatmap(trace, exit_layer=1)
    assert list(fig.layout.yaxis.ticktext) == ["&lt;b&gt;no&lt;/b&gt;", "a&amp;b"]
    assert [d.name for d in plots.probability_lines(trace).data] == ["&lt;b&gt;no&lt;/b&gt;", "a&amp;b"]


def test_patience_panel_counter_against_t():
    trace = make_trace([0.8, 0.7, 0.9, 0.2])  # pos pos pos neg: counter 0,1,2,0
    rule = PatienceRule(4, patience=2)
    decision = replay(trace, rule)
    assert decision.exit_layer == 3
    panels = plots.decision_panels(trace, decision, rule.spec)
    assert len(panels) == 1
    fig = panels[0].figure
    assert fig.data[0].type == "bar" and list(fig.data[0].y) == [0, 1, 2, 0]
    assert list(fig.data[0].marker.color)[2] == STOP_COLOR  # counter >= t at layer 3
    # and hatched: the colour alone was the same grey as the other bars to a colour-blind eye and in greyscale
    assert list(fig.data[0].marker.pattern.shape) == ["", "", STOP_PATTERN, ""]
    (key,) = [d for d in fig.data if d.name == STOP_LABEL]
    assert key.type == "bar" and list(key.marker.pattern.shape) == [STOP_PATTERN]  # the key looks like the bar
    assert fig.data[0].marker.pattern.fillmode == "overlay"  # over the colour, not instead of it
    assert shapes(fig, plots.THRESHOLD)[0].y0 == 2
    assert exit_x(fig) == 3


def test_patience_zero_draws_no_exit_zone():
    trace = make_trace([0.8, 0.7, 0.9])
    rule = PatienceRule(3, patience=0)
    fig = plots.decision_panels(trace, replay(trace, rule), rule.spec)[0].figure
    assert shapes(fig, "exit zone") == []
    assert exit_x(fig) == 3


def test_entropy_panel_moves_with_the_threshold():
    trace = make_trace([0.6, 0.9, 0.99])  # entropies ≈ 0.673, 0.325, 0.056 nats
    for s, exit_layer in ((0.5, 2), (0.1, 3), (0.7, 1)):
        rule = EntropyRule(3, entropy=s)
        (panel,) = plots.decision_panels(trace, replay(trace, rule), rule.spec)
        assert exit_x(panel.figure) == exit_layer
        assert shapes(panel.figure, plots.THRESHOLD)[0].y0 == s


class QRule:
    spec = RuleSpec(name="q_exit", param="q", default=0.5, sweep=(0.5,), label="quantile q")


def halting_trace():
    lam = np.array([0.2, 0.5, 0.5])
    halt = np.array([0.2, 0.4, 0.4])  # 0.2, 0.8·0.5, rest
    cdf = np.array([0.2, 0.6, 1.0])
    return make_trace(
        [0.6, 0.7, 0.8], signals={"lambda": lam, "halt_prob": halt, "cdf": cdf, "log_halt_prob": np.log(halt)}
    )


def test_halting_panel_carries_q_prior_and_exit():
    trace = halting_trace()
    decision = Decision("q_exit", {"q": 0.5}, 2, 1, np.array([0.3, 0.7]), {"cdf": trace.signals["cdf"]}, "pos")
    prior = np.array([0.5, 0.25, 0.25])
    inputs = PonderNetMethod.figure_inputs(PonderArgs(prior_lambda=0.5), trace, decision)  # this very prior
    panels = plots.decision_panels(trace, decision, QRule.spec, method=PonderNetMethod, inputs=inputs)
    assert [p.title for p in panels] == ["Halting distribution"]  # cdf, λ, log p are all in this figure
    fig = panels[0].figure
    names = [d.name for d in fig.data]
    # λ_p, λ_i with subscripts; the threshold's legend entry last (a spec without a side marks no stop)
    assert names == ["p(i|x)", "prior p(i|λ<sub>p</sub>)", "CDF", "λ<sub>i</sub> (halting probability)",
                     "quantile q = 0.5"]
    # the real Q-exit says its side: the CDF passes q at layers 2 and 3, diamonds there, with their key; λ_i keeps
    # its own colour throughout (it was green where the stop markers were green too)
    fig = plots.decision_panels(trace, decision, QExitRule.spec, method=PonderNetMethod, inputs=inputs)[0].figure
    assert [d.name for d in fig.data][-2:] == [STOP_LABEL, "quantile q = 0.5"]
    cdf, lam = fig.data[2], fig.data[3]
    assert list(cdf.marker.symbol) == ["circle", STOP_SYMBOL, STOP_SYMBOL]
    assert STOP_COLOR not in list(lam.marker.color) and set(lam.marker.symbol) == {"circle"}
    np.testing.assert_allclose(fig.data[1].y, prior)
    assert shapes(fig, plots.THRESHOLD)[0].y0 == 0.5
    assert exit_x(fig) == 2
    assert "2.20" in fig.layout.title.text  # expected depth 1·0.2 + 2·0.4 + 3·0.4


def test_sampling_panels_show_draws_against_lambda_and_the_spread():
    trace = halting_trace()
    spec = SamplingRule.spec  # the rule's own spec says what its exit layer follows (p(i|x))
    info = {"lambda": trace.signals["lambda"], "uniform": np.array([0.7, 0.3, 0.9])}  # fires at layer 2: 0.3 < 0.5
    decision = Decision("sampling", {"seed": 0}, 2, 1, np.array([0.3, 0.7]), info, "pos")
    panels = plots.decision_panels(trace, decision, spec, method=PonderNetMethod, sampled_exits=[1, 2, 2, 3])
    assert [p.title for p in panels] == ["Halting distribution", "Exit layer over many draws", "Rule state"]
    assert shapes(panels[0].figure, plots.THRESHOLD) == []  # no q for this rule
    np.testing.assert_allclose(panels[1].figure.data[0].y, [0.25, 0.5, 0.25])
    np.testing.assert_allclose(panels[1].figure.data[1].y, trace.signals["halt_prob"])
    state = panels[2].figure
    # plain words, not the code's keys; an axis title and a range from 0 (both are probabilities)
    assert [d.name for d in state.data] == ["λ<sub>i</sub> (halting probability)", "uniform draw u<sub>i</sub>"]
    # one quantity, one look: λ_i as in the halting distribution (colour and dots), u_i in a colour no series
    # of that chart has; p(i|x) over the draws in its bars' colour, the draws in another
    halting = {d.name: d for d in panels[0].figure.data}
    lam = halting["λ<sub>i</sub> (halting probability)"]
    assert (state.data[0].line.color, state.data[0].line.dash) == (lam.line.color, lam.line.dash) == (
        plots.SERIES_COLORS[2], "dot")
    assert state.data[1].line.color not in {d.line.color for d in panels[0].figure.data if d.type == "scatter"}
    assert panels[1].figure.data[1].line.color == halting["p(i|x)"].marker.color[0]
    assert panels[1].figure.data[0].marker.color != panels[1].figure.data[1].line.color
    assert panels[1].caption.startswith("The rule is random")
    assert state.layout.yaxis.title.text == "probability"
    assert tuple(state.layout.yaxis.range) == (0.0, 1.05)
    # the caption says the rule: exit where the draw falls below λ_i
    assert "$u_i$ falls below $\\lambda_i$" in panels[2].caption


def test_unknown_method_degrades_to_generic_panels():
    trace = make_trace([0.6, 0.7, 0.8], signals={"novelty": np.array([0.1, 0.5, 0.2]), "grid": np.ones((3, 2))})
    spec = RuleSpec(name="mystery", param="score", default=0.3, sweep=(0.3,), label="score bound")
    info = {"score": np.array([0.9, 0.2, 0.1]), "gate": np.array([0.0, 1.0, 1.0]), "aux": np.array([3.0, 2.0, 5.0])}
    decision = Decision("mystery", {"score": 0.3}, 2, 1, np.array([0.3, 0.7]), info, "pos")
    panels = plots.decision_panels(trace, decision, spec)
    assert [p.title for p in panels] == ["Score against score bound", "Rule state", "Rule flags", "novelty"]
    assert shapes(panels[0].figure, plots.THRESHOLD)[0].y0 == 0.3
    assert shapes(panels[0].figure, "exit zone") == []  # no known side for an unknown rule
    assert [d.name for d in panels[1].figure.data] == ["aux"]
    # a rule that says nothing of its state: a generic axis title, and 0 on the axis for non-negative values
    assert panels[1].figure.layout.yaxis.title.text == "value"
    assert panels[1].figure.layout.yaxis.range[0] == 0.0 and panels[1].figure.layout.yaxis.range[1] > 5.0
    assert panels[2].figure.data[0].z.tolist() == [[0.0, 1.0, 1.0]]
    assert all(exit_x(p.figure) == 2 for p in panels)


def test_window_panel_spans_the_last_n_layers():
    trace = make_trace([0.6, 0.7, 0.8, 0.9])
    info = {
        "puzzlement": trace.puzzlement,
        "window_filled": np.array([0.0, 0.0, 1.0, 1.0]),
        "window_ok": np.array([0.0, 0.0, 1.0, 1.0]),
    }
    spec = RuleSpec(name="two_stage", param="delta", default=0.1, sweep=(0.1,), label="δ")
    decision = Decision(
        "two_stage", {"delta": 0.1, "window": 3, "criterion": "monotonic"}, 3, 1, trace.probs[2], info, "pos"
    )
    inputs = ElbertMethod.figure_inputs(ElbertArgs(), trace, decision)
    panels = plots.decision_panels(trace, decision, spec, method=ElbertMethod, inputs=inputs)
    assert [p.title for p in panels][:2] == ["Puzzlement against δ", "Confidence window"]
    (band,) = shapes(panels[1].figure, "window")
    assert (band.x0, band.x1) == (0.5, 3.5)
    assert panels[-1].title == "Rule flags"


def test_reward_figure_sums_its_parts():
    fig = plots.reward_figure([-1.0, -0.2, -0.1], [0.1, 0.2, 0.3], memorized_layer=2, exit_layer=1)
    np.testing.assert_allclose(fig.data[0].y, [-1.1, -0.4, -0.4])
    assert list(fig.data[0].marker.color)[1] == plots.ZONE_COLOR  # first best layer
    assert shapes(fig, "memorized")[0].x0 == 2
    assert exit_x(fig) == 1


def test_exit_distribution_shares():
    fig = plots.exit_distribution_figure([1, 1, 3, 2], 3, expected=[0.5, 0.25, 0.25], exit_layer=1)
    np.testing.assert_allclose(fig.data[0].y, [0.5, 0.25, 0.25])


def test_layer_table_marks_exit_and_skips_duplicate_rule_state():
    trace = make_trace([0.8, 0.7, 0.9], signals={"policy": np.array([0.1, 0.9, 0.2])})
    decision = Decision(
        "policy",
        {"threshold": 0.5},
        2,
        1,
        trace.probs[1],
        {"policy": trace.signals["policy"], "counter": np.array([0, 1, 2])},
        "pos",
    )
    table = plots.layer_table(trace, decision)
    assert table["exit"].tolist() == ["", "◀ exit", "skipped"]
    assert table["counter"].tolist() == [0, 1, 2]
    assert "rule policy" not in table.columns


# ============================================================================================ attention
def test_token_heatmap_keeps_repeated_tokens_apart_and_escapes_them():
    tokens = ["[CLS]", "<b>x</b>", "the", "the"]
    matrix = np.arange(12, dtype=float).reshape(3, 4)
    fig = plots.token_heatmap(matrix, tokens, title="t", exit_layer=2)
    assert list(fig.data[0].x) == [0, 1, 2, 3]
    assert list(fig.layout.xaxis.ticktext) == ["[CLS]", "&lt;b&gt;x&lt;/b&gt;", "the", "the"]
    (outline,) = shapes(fig, plots.EXIT)
    assert (outline.y0, outline.y1) == (1.5, 2.5)
    (veil,) = shapes(fig, plots.SKIPPED)
    assert (veil.y0, veil.y1) == (2.5, 3.5)


# ============================================================================================ compare
def test_compare_table_majority_and_exit_figure():
    traces = {n: make_trace(p) for n, p in (("a", [0.8, 0.9]), ("b", [0.7, 0.2]), ("c", [0.3, 0.9]))}
    decisions = {
        "a": Decision("entropy", {"entropy": 0.3}, 1, 1, np.array([0.2, 0.8]), {}, "pos"),
        "b": Decision("entropy", {"entropy": 0.3}, 2, 0, np.array([0.8, 0.2]), {}, "neg"),
        "c": Decision("entropy", {"entropy": 0.3}, 2, 1, np.array([0.1, 0.9]), {}, "pos"),
    }
    table = plots.compare_table(traces, decisions, {"a": "A", "b": "B", "c": "C"})
    assert table["checkpoint"].tolist() == ["A", "B", "C"]
    assert table["agrees"].tolist() == [True, False, True]
    assert table["last layer says"].tolist() == ["pos", "neg", "pos"]
    assert table["depth used"].tolist() == [0.5, 1.0, 1.0]
    fig = plots.compare_exit_figure(table, ["neg", "pos"])
    by_name = {d.name: d for d in fig.data}
    assert list(by_name["pos"].x) == [1, 2] and list(by_name["neg"].x) == [2]
    grid = plots.compare_layers_figure(traces, decisions, {"a": "A"})
    assert grid.data[0].z.tolist() == [[1, 1], [1, 0], [0, 1]]
    outlines = shapes(grid, plots.EXIT)
    assert [((s.x0 + s.x1) / 2, (s.y0 + s.y1) / 2) for s in outlines] == [(1, 0), (2, 1), (2, 2)]  # exit, row
    # inside their cells: b's and c's outlines (same layer, neighbouring rows) share no edge
    assert all(s.y1 - s.y0 < 0.9 and s.x1 - s.x0 < 0.9 for s in outlines)
    assert outlines[1].y1 < outlines[2].y0
    # to a colour-blind eye or in greyscale the red outline on a mid-tone cell was grey on grey: each one has a
    # wider white edge under it (drawn first), and the cells are opaque so plotly's text colour suits them
    casings = shapes(grid, f"{plots.EXIT} casing")
    assert [(c.x0, c.x1, c.y0, c.y1) for c in casings] == [(s.x0, s.x1, s.y0, s.y1) for s in outlines]
    order = [s.name for s in grid.layout.shapes]
    at = {name: [i for i, n in enumerate(order) if n == name] for name in (plots.EXIT, f"{plots.EXIT} casing")}
    assert all(c < o for c, o in zip(at[f"{plots.EXIT} casing"], at[plots.EXIT]))
    assert all(c.line.width > s.line.width and c.line.color.upper() == "#FFFFFF" for c, s in zip(casings, outlines))
    assert grid.data[0].opacity in (None, 1)


def test_compare_table_has_no_majority_on_a_tie():
    traces = {n: make_trace(p) for n, p in (("a", [0.8]), ("b", [0.2]))}
    decisions = {
        "a": Decision("entropy", {}, 1, 1, np.array([0.2, 0.8]), {}, "pos"),
        "b": Decision("entropy", {}, 1, 0, np.array([0.8, 0.2]), {}, "neg"),
    }
    assert plots.compare_table(traces, decisions, {})["agrees"].tolist() == [False, False]


# ============================================================================================ dataset
def eval_dict():
    point = lambda t, s, mean, wall: {  # noqa: E731
        "threshold": t,
        "score": s,
        "metrics": {"accuracy": s},
        "mean_exit_layer": mean,
        "layer_speedup": 3 / mean,
        "wall_speedup": wall,
        "histogram": [0, 0, 0],
    }
    return {
        "checkpoint": "x",
        "method": "deebert",
        "task": "toy",
        "split": "test",
        "metric": "accuracy",
        "num_layers": 3,
        "num_examples": 4,
        "labels": ["neg", "pos"],
        "batch_size": 1,
        "device": "cpu",
        "full_model": {"score": 0.75, "metrics": {}, "time_s": 1.0},
        "per_layer": [
            {"layer": 1, "score": 0.5, "metrics": {}},
            {"layer": 2, "score": 0.5, "metrics": {}},
            {"layer": 3, "score": 0.75, "metrics": {}},
        ],
        "rules": {
            "entropy": {
                "param": "entropy",
                "label": "S",
                "default": 0.3,
                "early_exit": True,
                "points": [point(0.6, 0.5, 1.0, 2.5), point(0.3, 0.75, 1.5, None), point(0.0, 0.75, 3.0, 1.0)],
            },
            "reference": {
                "param": "unused",
                "label": "-",
                "default": 0,
                "early_exit": False,
                "points": [point(0, 0.8, 3.0, 1.0)],
            },
        },
        "examples": [
            {
                "text": "a",
                "text_b": None,
                "gold": 1,
                "layer_preds": [1, 1, 0],
                "exit": {"entropy": {"layer": 2, "pred": 1, "correct": True}},
            },
            {
                "text": "b",
                "text_b": None,
                "gold": 0,
                "layer_preds": [0, 0, 0],
                "exit": {"entropy": {"layer": 1, "pred": 0, "correct": True}},
            },
            {
                "text": "c",
                "text_b": None,
                "gold": 1,
                "layer_preds": [0, 0, 0],
                "exit": {"entropy": {"layer": 3, "pred": 0, "correct": False}},
            },
        ],
    }


def test_tradeoff_panels_layer_and_wall_speedups():
    panels = plots.tradeoff_panels({"x": EvalResult.from_dict(eval_dict())}, {"x": "Model X"}, "layer")
    fig = panels["x"]
    assert fig.layout.title.text == "Model X"
    names = [d.name for d in fig.data]
    # the reference rule never exits early; the default point and the full model are marked
    assert names == ["cut at layer l", "entropy", "default threshold", "full model (all layers)"]
    static, curve, default, full = fig.data
    assert list(curve.x) == [1.0, 2.0, 3.0] and list(curve.y) == [75.0, 75.0, 50.0]  # by speed-up, in percent
    assert list(default.x) == [2.0] and list(default.y) == [75.0]
    assert list(full.x) == [1.0] and list(full.y) == [75.0]
    marked = [(x, y) for x, y, size in zip(static.x, static.y, static.marker.size) if size > 0]  # whole layers
    assert marked == [(3.0, 50.0), (1.5, 50.0), (1.0, 75.0)]  # L / l
    wall = plots.tradeoff_panels({"x": EvalResult.from_dict(eval_dict())}, {}, "wall")["x"]
    assert [d.name for d in wall.data] == ["entropy", "full model (all layers)"]  # the default was not timed
    assert list(wall.data[0].x) == [1.0, 2.5] and wall.data[0].mode == "markers"  # measured points only
    with pytest.raises(ValueError):
        plots.tradeoff_panels({"x": EvalResult.from_dict(eval_dict())}, {}, "tokens")


def test_tradeoff_panels_give_equal_scores_a_readable_axis():
    """Every point at 100% (a two-sentence upload): the y axis spans a point around it, not 1e-9 (its ticks
    read 99.99999999995 and squeezed the panels)."""
    data = eval_dict()
    result = EvalResult.from_dict(data)
    for entry in result.rules.values():
        for point in entry.points:
            point.score = 1.0
    result.full_model.score = 1.0
    for point in result.per_layer:
        point.score = 1.0
    low, high = plots.tradeoff_panels({"x": result}, {}, "layer")["x"].layout.yaxis.range
    assert low < 100 < high and high - low >= 1


def test_exit_histogram_and_per_layer_figures():
    point = SweepPoint(threshold=0.5, score=0.5, metrics={}, mean_exit_layer=1.75, layer_speedup=3 / 1.75,
                       wall_speedup=None, histogram=[5, 0, 3])
    fig = plots.exit_histogram_figure(point, 3)
    assert list(fig.data[0].y) == [5, 0, 3] and list(fig.data[0].x) == [1, 2, 3]
    assert shapes(fig, "mean exit")[0].x0 == 1.75
    per_layer = plots.per_layer_figure({"x": EvalResult.from_dict(eval_dict())})
    assert [list(row) for row in per_layer.data[0].z] == [[50.0, 50.0, 75.0]]  # percent


def test_exit_histogram_title_fits_a_phone():
    """On one line ("Exit layers of 1276 examples · learning to exit at threshold = 0.075") the title ran past a
    400 px wide chart and was cut off: its lines are short now, and the plot keeps its height under them."""
    from eeviz.plots import dataset as ds

    data = eval_dict()
    long_rule = "a made-up rule whose name alone runs past the width of a phone"  # unknown: titled by its key
    data["rules"][long_rule] = dict(data["rules"]["entropy"], param="gate")
    ev = EvalResult.from_dict(data)
    point = ev.rules[long_rule].points[1]
    title = ds.histogram_title(ev, long_rule, point)
    lines = title.split("<br>")
    assert lines[0] == f"Exit layers of {point.num_examples} examples"
    assert " ".join(lines[1:]) == f"{long_rule} at gate = 0.3"
    assert lines[-1] == "at gate = 0.3"  # the threshold on its own line, never cut from its name
    assert all(len(line) <= ds.TITLE_WIDTH for line in lines) and len(lines) == 4
    # a short rule shares its line with the threshold (S: the threshold's symbol in the file)
    short = ds.histogram_title(ev, "entropy", point)
    assert short == f"Exit layers of {point.num_examples} examples<br>entropy at S = 0.3"
    one_line = plots.exit_histogram_figure(point, 3, "Exit layers")
    tall = plots.exit_histogram_figure(point, 3, title)
    assert tall.layout.title.text == title
    # room above the plot for three more lines; the plot itself (height minus margins) as tall as before
    assert tall.layout.margin.t - one_line.layout.margin.t == 3 * ds.TITLE_LINE_PX
    assert tall.layout.height - tall.layout.margin.t == one_line.layout.height - one_line.layout.margin.t


def test_a_rule_without_a_threshold_is_labelled_so_not_by_its_placeholder():
    """A reference rule that runs every layer (early_exit false) has one placeholder parameter: the Dataset page
    said "expectation (all layers) at unused = 0"."""
    from eeviz.plots import dataset as ds

    data = eval_dict()
    data["rules"]["reference"] = dict(data["rules"]["entropy"], param="unused", early_exit=False)
    ev = EvalResult.from_dict(data)
    sweep = ev.rules["reference"]
    point = sweep.points[0]
    assert ds.point_label(sweep, point) == "no threshold"
    assert ds.at_point(sweep, point) == ""
    title = ds.histogram_title(ev, "reference", point)
    assert title == f"Exit layers of {point.num_examples} examples<br>reference"
    data["default_rule"] = "reference"
    assert ds.summary_table({"c": EvalResult.from_dict(data)}).iloc[0]["default rule"] == "reference, no threshold"
    # a rule with a threshold keeps it
    assert ds.at_point(ev.rules["entropy"], point, "S") == f"at S = {point.threshold:g}"


def test_examples_table_and_overthinking():
    table = plots.examples_table(EvalResult.from_dict(eval_dict()), "entropy")
    assert table.columns.tolist() == [
        "text",
        "gold",
        "exit layer",
        "prediction",
        "correct",
        "last layer",
        "overthinking",
        "first correct layer",
    ]
    assert table["overthinking"].tolist() == [True, False, False]
    assert table["gold"].tolist() == ["pos", "neg", "pos"]
    assert table["first correct layer"].tolist()[:2] == [1, 1] and np.isnan(table["first correct layer"].tolist()[2])
    assert [e.text for e in plots.overthinking_examples(EvalResult.from_dict(eval_dict()))] == ["a"]
    assert (
        plots.is_overthinking([1, 0], 1) and not plots.is_overthinking([0, 1], 1) and not plots.is_overthinking([1], 0)
    )


def test_method_words_get_subscripts_and_user_words_stay_text():
    assert subscripts("λ_i (halting probability)") == "λ<sub>i</sub> (halting probability)"
    assert subscripts("prior p(i|λ_p)") == "prior p(i|λ<sub>p</sub>)"
    assert subscripts("<b>w_i</b>") == "&lt;b&gt;w<sub>i</sub>&lt;/b&gt;"  # escaped first: no markup gets in
    fig = plots.signal_figure([1.0, 1.0], "loss weight", bars=True, title="loss weights w_i (sum L)")
    assert fig.layout.title.text == "Loss weights w<sub>i</sub> (sum L)"
    trace = make_trace([0.8, 0.6], labels=("a_b", "c"))  # a class label is the user's: no subscript
    assert [d.name for d in plots.probability_lines(trace).data] == ["a_b", "c"]


def test_series_looks_keep_a_panels_colours_and_give_others_free_ones():
    (panel,) = PonderNetMethod.panels
    looks = series_looks([panel], {"halt_prob", "prior", "cdf", "lambda"}, extra=["lambda", "uniform"])
    assert looks["lambda"] == (plots.SERIES_COLORS[2], "dot") and looks["cdf"] == (plots.SERIES_COLORS[1], "solid")
    assert looks["uniform"][0] not in {c for k, (c, _) in looks.items() if k != "uniform"}
