"""The Dataset page's figures and tables (pure builders), sweep points that record every example's exit, random
rules swept over seeds, and ``show_results`` driven through Streamlit's AppTest with in-memory evaluations."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from eeviz import plots
from eeviz.checkpoint import save_checkpoint
from eeviz.eval_result import EvalFileError, EvalResult
from eeviz.evaluate import STOCHASTIC_SEEDS, evaluate_checkpoint, sweep_values
from eeviz.methods import available_methods, get_method
from eeviz.plots import dataset as ds

# per-layer predictions of three stored examples (gold 1, 0, 1) on a 3-layer model
LAYER_PREDS = [[1, 1, 0], [0, 0, 0], [0, 1, 1]]


def point(threshold, score, exits, wall=None):
    """A sweep point whose histogram, mean exit and speed-up follow from the examples' exit layers."""
    histogram = np.bincount(exits, minlength=4)[1:].tolist()
    mean = float(np.mean(exits))
    return {"threshold": threshold, "score": score, "metrics": {"accuracy": score}, "mean_exit_layer": mean,
            "layer_speedup": 3 / mean, "wall_speedup": wall, "histogram": histogram, "exit_layers": list(exits)}


def eval_dict(method="deebert"):
    """A hand-written evaluation: one ordered rule (3 thresholds, 2 of them timed), one random rule (3 seeds), one
    reference rule; every point records the three examples' exit layers."""
    return {
        "checkpoint": "x", "method": method, "task": "toy", "split": "test", "metric": "accuracy",
        "num_layers": 3, "num_examples": 3, "labels": ["neg", "pos"], "batch_size": 1, "device": "cpu",
        "full_model": {"score": 2 / 3, "metrics": {}, "time_s": 1.0},
        "per_layer": [{"layer": i + 1, "score": s, "metrics": {}} for i, s in enumerate([1 / 3, 2 / 3, 2 / 3])],
        "rules": {
            "ordered": {"param": "t", "label": "threshold t", "default": 0.5, "early_exit": True, "points": [
                point(0.9, 1 / 3, [1, 1, 1], wall=2.5), point(0.5, 1.0, [2, 1, 2]), point(0.0, 2 / 3, [3, 3, 3], 1.0)]},
            "random": {"param": "seed", "label": "seed", "default": 0, "early_exit": True, "stochastic": True,
                       "points": [point(0, 1 / 3, [1, 2, 1]), point(1, 2 / 3, [2, 3, 3]), point(2, 2 / 3, [3, 1, 3])]},
            "reference": {"param": "unused", "label": "-", "default": 0, "early_exit": False,
                          "points": [point(0, 2 / 3, [3, 3, 3])]},
        },
        "examples": [
            {"text": t, "text_b": None, "gold": g, "layer_preds": p,
             "exit": {"ordered": {"layer": e, "pred": p[e - 1], "correct": p[e - 1] == g}}}
            for t, g, p, e in zip("abc", [1, 0, 1], LAYER_PREDS, [2, 1, 2])
        ],
        "default_rule": "ordered",
    }


def ev(**changes) -> EvalResult:
    data = eval_dict()
    data.update(changes)
    return EvalResult.from_dict(data)


# ------------------------------------------------------------------------------------------ accuracy for speed
def test_one_panel_per_checkpoint_titled_by_its_title_on_shared_axes():
    second = eval_dict()
    second["per_layer"][0]["score"] = 0.0
    evals = {"run-a": ev(), "run-b": EvalResult.from_dict(second)}
    panels = ds.tradeoff_panels(evals, {"run-a": "Model A", "run-b": "Model B <i>"})
    assert list(panels) == ["run-a", "run-b"]
    assert [f.layout.title.text for f in panels.values()] == ["Model A", "Model B &lt;i&gt;"]  # titles, escaped
    # the same y range in every panel, wide enough for the lowest point of either
    assert panels["run-a"].layout.yaxis.range == panels["run-b"].layout.yaxis.range
    assert panels["run-a"].layout.yaxis.range[0] < 0.0
    for fig in panels.values():  # each panel names its own rules, in their colours
        key = next(a for a in fig.layout.annotations if a.name == ds.RULES_KEY)
        assert "ordered" in key.text and "random" in key.text and "reference" not in key.text


def test_scores_are_percent_and_the_static_baseline_is_drawn():
    fig = ds.tradeoff_panels({"x": ev()}, {"x": "X"})["x"]
    assert fig.layout.yaxis.title.text == "Accuracy (%)"
    by_name = {t.name: t for t in fig.data if t.name != ds.DEFAULT_NAME}
    static = by_name[ds.STATIC_NAME]  # cut every example at layer l: L / l against the per-layer score
    marked = [(x, y) for x, y, size in zip(static.x, static.y, static.marker.size) if size > 0]
    assert np.allclose(marked, [(3.0, 100 / 3), (1.5, 200 / 3), (1.0, 200 / 3)])
    ordered = by_name["ordered"]
    assert ordered.mode == "lines+markers"  # thresholds are ordered: a curve
    assert np.allclose(ordered.x, [1.0, 1.8, 3.0])  # sorted by speed-up (mean exits 3, 5/3 and 1)
    assert np.allclose(ordered.y, [200 / 3, 100.0, 100 / 3])
    full = by_name[ds.FULL_NAME]
    assert list(full.x) == [1.0] and np.allclose(full.y, [200 / 3])
    defaults = [t for t in fig.data if t.name == ds.DEFAULT_NAME]  # each rule's default point is ringed
    assert sorted(float(t.y[0]) for t in defaults) == pytest.approx([100 / 3, 100.0])
    assert "%" in ordered.hovertemplate and "%{y:.1f}" in ordered.hovertemplate


def test_the_static_baseline_is_drawn_as_the_adaptive_gain_measures_it():
    # adaptive gain subtracts the per-layer scores interpolated linearly in *depth*; on the log speed-up axis
    # (L / depth) that is a curve, which straight segments between the layers (L / l) did not draw
    from eeviz.eval_result import static_score

    result = ev()
    scores = [p.score for p in result.per_layer]
    static = next(t for t in ds.tradeoff_panels({"x": result}, {})["x"].data if t.name == ds.STATIC_NAME)
    depths = result.num_layers / np.asarray(static.x)
    assert len(depths) == ds.STATIC_SAMPLES_PER_LAYER * (result.num_layers - 1) + 1
    assert np.allclose(np.diff(depths), 1 / ds.STATIC_SAMPLES_PER_LAYER)  # from layer 1 to L, evenly in depth
    assert np.allclose(static.y, [100 * static_score(scores, d) for d in depths])
    # the default point's static score lies on the drawn line, between two samples a twentieth of a layer apart
    default = result.rules["ordered"].default_point
    k = np.searchsorted(depths, default.mean_exit_layer)
    assert depths[k] - depths[k - 1] <= 1 / ds.STATIC_SAMPLES_PER_LAYER + 1e-9
    drawn = np.interp(default.mean_exit_layer, depths, static.y)
    assert drawn == pytest.approx(100 * static_score(scores, default.mean_exit_layer))
    # hover names whole layers as layers, the depths between as interpolated
    assert static.customdata[0] == "every example cut at layer 1" and "interpolated" in static.customdata[1]


def test_random_rules_are_a_cluster_of_markers_not_a_line():
    fig = ds.tradeoff_panels({"x": ev()}, {})["x"]
    seeds = next(t for t in fig.data if t.name == "random")
    assert seeds.mode == "markers" and len(seeds.x) == 3


def test_each_rule_of_a_panel_has_its_own_marker_and_dash_not_only_a_colour():
    """ELBERT's two rules differed by hue alone: one grey to a colour-blind eye and in greyscale."""
    fig = ds.tradeoff_panels({"x": ev()}, {})["x"]
    rules = [next(t for t in fig.data if t.name == n) for n in ("ordered", "random")]
    assert rules[0].marker.symbol != rules[1].marker.symbol
    assert (rules[0].line.dash or "solid") != (rules[1].line.dash or "solid")
    key = " ".join(a.text for a in fig.layout.annotations)
    for trace in rules:  # the key shows each rule with its own marker's glyph
        glyph = next(g for symbol, g, _ in ds.RULE_LOOKS if symbol == trace.marker.symbol)
        assert f"{glyph} {trace.name}" in key


def test_wall_clock_speed_ups_are_markers_at_measured_points_only():
    fig = ds.tradeoff_panels({"x": ev()}, {}, speed="wall")["x"]
    assert all("lines" not in t.mode for t in fig.data)
    ordered = next(t for t in fig.data if t.name == "ordered")
    assert list(ordered.x) == [1.0, 2.5]  # the untimed default point is left out, nothing joins the two
    assert ds.STATIC_NAME not in [t.name for t in fig.data]  # never measured, so not drawn against wall clock
    assert "random" not in [t.name for t in fig.data]  # no seed was timed
    with pytest.raises(ValueError, match="speed"):
        ds.tradeoff_panels({"x": ev()}, {}, speed="tokens")


def test_a_panel_without_measured_points_says_so():
    data = eval_dict()
    for sweep in data["rules"].values():
        for p in sweep["points"]:
            p["wall_speedup"] = None
    fig = ds.tradeoff_panels({"x": EvalResult.from_dict(data)}, {}, speed="wall")["x"]
    assert [t.name for t in fig.data] == [ds.FULL_NAME]


# ------------------------------------------------------------------------------------------ the other figures
def test_exit_shares_and_per_layer_scores_in_percent_with_titles():
    evals = {"x": ev()}
    shares = ds.exit_share_figure(evals, {"x": "Model X"})
    labels = [a.text for a in shares.layout.annotations]
    assert labels == ["Model X · ordered", "Model X · random"]  # every early-exit rule at its default
    assert np.allclose(shares.data[0].z[0], [100 / 3, 200 / 3, 0.0])  # exits [2, 1, 2]
    assert list(shares.data[0].text[0]) == ["33%", "67%", "0%"]
    per_layer = ds.per_layer_figure(evals, {"x": "Model X"})
    assert np.allclose(per_layer.data[0].z[0], [100 / 3, 200 / 3, 200 / 3])
    assert [a.text for a in per_layer.layout.annotations] == ["Model X"]
    table = ds.summary_table(evals, {"x": "Model X"})
    row = table.iloc[0]
    assert row["checkpoint"] == "Model X" and row["full model (%)"] == pytest.approx(200 / 3)
    assert row["default rule"] == "ordered, t = 0.5" and row["default rule (%)"] == pytest.approx(100.0)
    assert row["adaptive gain (pts)"] is None or np.isnan(row["adaptive gain (pts)"])  # not measured: not made up
    data = eval_dict()
    data["rules"]["ordered"]["points"][1].update(static_score=0.6, adaptive_gain=40.0, top_exit_share=2 / 3)
    row = ds.summary_table({"x": EvalResult.from_dict(data)}).iloc[0]
    assert row["adaptive gain (pts)"] == pytest.approx(40.0) and row["top exit share (%)"] == pytest.approx(200 / 3)


# ------------------------------------------------------------------------------------------ examples
def test_the_examples_table_follows_the_chosen_sweep_point():
    result = ev()
    points = result.rules["ordered"].points
    early = plots.examples_table(result, "ordered", points[0])  # everyone leaves at layer 1
    assert early["exit layer"].tolist() == [1, 1, 1]
    assert early["prediction"].tolist() == ["pos", "neg", "neg"]  # layer 1's predictions
    assert early["correct"].tolist() == [True, True, False]
    late = plots.examples_table(result, "ordered", points[2])  # everyone runs all 3 layers
    assert late["exit layer"].tolist() == [3, 3, 3]
    assert late["prediction"].tolist() == ["neg", "neg", "pos"]
    assert late["correct"].tolist() == [False, True, True]
    seeds = plots.examples_table(result, "random", result.rules["random"].points[2])  # a rule no example stores
    assert seeds["exit layer"].tolist() == [3, 1, 3] and seeds["prediction"].tolist() == ["neg", "neg", "pos"]
    assert late["overthinking"].tolist() == [True, False, False]  # a property of the example, not the point


def test_an_eval_file_without_exit_layers_still_loads_and_shows_the_default_exits():
    data = eval_dict()
    del data["default_rule"]
    for sweep in data["rules"].values():
        for p in sweep["points"]:
            del p["exit_layers"]
    result = EvalResult.from_dict(json.loads(json.dumps(data)))
    assert result.default_rule is None and ds.default_rule(result) == "ordered"  # first deterministic early exit
    assert all(p.exit_layers is None for s in result.rules.values() for p in s.points)
    table = plots.examples_table(result, "ordered", result.rules["ordered"].points[0])
    assert table["exit layer"].tolist() == [2, 1, 2]  # the stored default exits


@pytest.mark.parametrize("bad, message", [
    ([1, 2], "has 2 entries for 3 stored examples"),
    ([1, 4, 1], "holds 4, not a layer 1..3"),
    ([1, "2", 1], "holds '2'"),
    ("123", "should be a list"),
])
def test_bad_exit_layers_are_refused_with_a_clear_message(bad, message):
    data = copy.deepcopy(eval_dict())
    data["rules"]["ordered"]["points"][1]["exit_layers"] = bad
    with pytest.raises(EvalFileError, match=f"rule 'ordered' point 1: exit_layers {message}"):
        EvalResult.from_dict(data)
    data = eval_dict()
    data["default_rule"] = "nope"
    with pytest.raises(EvalFileError, match="default_rule 'nope'"):
        EvalResult.from_dict(data)


# ------------------------------------------------------------------------------------------ the evaluation
def test_random_rules_are_swept_over_several_seeds():
    class Spec:
        sweep, default, stochastic = (0,), 0, True

    assert sweep_values(Spec) == [float(s) for s in range(STOCHASTIC_SEEDS)]
    Spec.default = 7
    assert sweep_values(Spec) == [0.0] + [float(7 + k) for k in range(STOCHASTIC_SEEDS)]
    Spec.stochastic = False
    assert sweep_values(Spec) == [0.0, 7.0]


def stochastic_methods():
    return [m for m in available_methods() if any(r.spec.stochastic for r in get_method(m).rules.values())]


@pytest.mark.parametrize("method", stochastic_methods()[:1])
def test_evaluation_records_every_points_exits_and_several_seeds(tiny_bert, tmp_path, method):
    from test_evaluate import TEXTS, random_model

    data = tmp_path / "eval.csv"
    rows = [(t, "pos" if i % 2 else "neg") for i, t in enumerate(TEXTS * 3)]
    data.write_text("text,label\n" + "\n".join(f"{t},{y}" for t, y in rows) + "\n")
    save_checkpoint(random_model(tiny_bert, method), tmp_path / "ck")
    result = evaluate_checkpoint(tmp_path / "ck", data=str(data), batch_size=4, device="cpu", timing="none")
    assert result.default_rule == get_method(method).default_rule
    reloaded = EvalResult.load(tmp_path / "ck")
    assert reloaded.to_dict() == result.to_dict()
    for name, sweep in result.rules.items():
        for p in sweep.points:  # all examples are stored here, so the exits rebuild the histogram
            assert np.bincount(p.exit_layers, minlength=result.num_layers + 1)[1:].tolist() == p.histogram
        default = sweep.default_point
        assert default.exit_layers == [e.exit[name]["layer"] for e in result.examples]
        if sweep.stochastic:
            assert [p.threshold for p in sweep.points] == [float(s) for s in range(STOCHASTIC_SEEDS)]
            assert len({tuple(p.exit_layers) for p in sweep.points}) > 1  # the seeds really draw differently


# ------------------------------------------------------------------------------------------ the page's views
def run_views(tmp_path, data: dict):
    """``show_results`` on an evaluation held in memory (as a page of uploaded sentences calls it)."""
    from streamlit.testing.v1 import AppTest

    path = tmp_path / "eval.json"
    path.write_text(json.dumps(data))
    script = f"""
import json
from eeviz.eval_result import EvalResult
from eeviz.app.dataset_view import show_results
result = EvalResult.from_dict(json.loads(open({str(path)!r}).read()))
show_results({{"x": result}}, {{"x": "Model X"}}, key_prefix="up")
"""
    at = AppTest.from_string(script, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_show_results_table_follows_the_threshold_slider(tmp_path):
    pytest.importorskip("streamlit")
    at = run_views(tmp_path, eval_dict())
    from apptest import charts

    assert len(charts(at)) == 4  # one trade-off panel, exit shares, per-layer scores, histogram
    assert at.segmented_control(key="up_speed").value == "layer"  # wall clock offered: some points were timed
    assert at.dataframe[-1].value["exit layer"].tolist() == [2, 1, 2]  # the default threshold
    assert next(m.value for m in at.metric if m.label == "Accuracy (%)") == "100.0"
    at.select_slider(key="up_point_x_ordered").set_value(0).run()
    table = at.dataframe[-1].value
    assert table["exit layer"].tolist() == [1, 1, 1] and table["prediction"].tolist() == ["pos", "neg", "neg"]
    assert next(m.value for m in at.metric if m.label == "Accuracy (%)") == "33.3"
    at.selectbox(key="up_rule_x").set_value("random").run()
    at.select_slider(key="up_point_x_random").set_value(2).run()  # the third seed
    assert at.dataframe[-1].value["exit layer"].tolist() == [3, 1, 3]


def test_a_rule_that_never_exits_early_has_no_adaptive_gain_on_the_page(tmp_path):
    data = eval_dict()
    for sweep in data["rules"].values():
        for p in sweep["points"]:
            p.update(static_score=0.5, adaptive_gain=2.5, top_exit_share=1.0)  # gain in points
    at = run_views(tmp_path, data)
    gain = lambda: next(m.value for m in at.metric if m.label == "Adaptive gain")  # noqa: E731
    assert gain() == "+2.5 pts"
    at.selectbox(key="up_rule_x").set_value("reference").run()  # runs every layer: no gain to speak of
    assert gain() == "—"


def test_the_speed_choice_names_the_layer_speed_up_as_one(tmp_path):
    # L / mean exit layer is a speed-up; "layers saved" is PABEE's 1 - mean exit / L
    control = run_views(tmp_path, eval_dict()).segmented_control(key="up_speed")
    labels = [option.content for option in control.proto.options] if control.proto.options else control.options
    assert "layer speed-up (L / mean exit layer)" in labels and not any("layers saved" in o for o in labels)


def test_show_results_without_examples_or_timings(tmp_path):
    pytest.importorskip("streamlit")
    data = eval_dict()
    data["examples"] = []
    for sweep in data["rules"].values():
        for p in sweep["points"]:
            p["exit_layers"], p["wall_speedup"] = [], None
    at = run_views(tmp_path, data)
    assert not at.get("segmented_control") or all(s.key != "up_speed" for s in at.segmented_control)
    assert any("stored no examples" in i.value for i in at.info)
    assert next(m.value for m in at.metric if m.label == "Wall-clock speed-up") == "not measured"


def test_the_summary_shows_the_default_rule_beside_the_checkpoint(tmp_path):
    summary = run_views(tmp_path, eval_dict()).dataframe[0]
    order = list(summary.proto.column_order)
    assert order[:2] == ["checkpoint", "default rule"]  # at the end it ran past the page's width, cut off
    assert set(order) == set(summary.value.columns)  # every column still shown


def test_the_sweep_slider_says_which_end_exits_earlier(tmp_path):
    at = run_views(tmp_path, eval_dict())
    slider = next(s for s in at.select_slider if s.key.startswith("up_point_"))
    result = EvalResult.from_dict(eval_dict())
    points = result.rules[plots.dataset.default_rule(result)].points
    assert f"from {points[0].mean_exit_layer:.2f} at the left end to {points[-1].mean_exit_layer:.2f}" in slider.help


def test_the_summary_leaves_out_wall_clock_speed_up_when_nothing_was_timed():
    untimed = ds.summary_table({"x": ev()}, {"x": "Model X"})  # its default point has no wall-clock time
    assert "wall-clock speed-up" not in untimed.columns  # a column of "None" on every row (uploaded sentences)
    data = eval_dict()
    data["rules"]["ordered"]["default"] = 0.9  # a timed point
    timed = ds.summary_table({"x": EvalResult.from_dict(data)}, {"x": "Model X"})
    assert timed["wall-clock speed-up"].tolist() == [2.5]
    assert ds.WALL_BATCH not in untimed.columns


def test_the_summary_says_the_batch_size_each_wall_speed_up_was_timed_at():
    timed, untimed = eval_dict(), eval_dict()
    timed.update(batch_size=128)
    timed["rules"]["ordered"]["default"] = 0.9  # a timed point
    table = ds.summary_table({"a": EvalResult.from_dict(timed), "b": EvalResult.from_dict(untimed)})
    columns = list(table.columns)
    assert columns.index(ds.WALL_BATCH) == columns.index("wall-clock speed-up") + 1
    assert table[ds.WALL_BATCH].iloc[0] == 128 and np.isnan(table[ds.WALL_BATCH].iloc[1])  # b's was not timed


def test_thresholds_are_named_by_their_symbol_not_their_code_name():
    data = eval_dict(method="elbert")  # its two-stage rule's threshold is "delta" in code, δ on the page
    data["rules"] = {"two_stage": {**data["rules"]["ordered"], "param": "delta"}}
    data["default_rule"] = "two_stage"
    for example in data["examples"]:
        example["exit"] = {"two_stage": example["exit"]["ordered"]}
    table = ds.summary_table({"x": EvalResult.from_dict(data)}, {"x": "Model X"})
    assert table["default rule"].tolist() == ["two stages (puzzlement, then window), δ = 0.5"]
    assert ds.point_label(EvalResult.from_dict(data).rules["two_stage"], EvalResult.from_dict(data).rules[
        "two_stage"].points[0]) == "delta = 0.9"  # without the method's symbol: the parameter's name
