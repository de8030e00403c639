"""The Dataset page's examples, as a teacher reads them (app review, session 10): the link to Explore carries the
rule and the threshold the table's exits are at, one rounding for one number everywhere, the layer-story filters
select what they say, and the summary says what the numbers are not."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest  # noqa: E402
from test_dataset_view import eval_dict  # noqa: E402

from apptest import run_app  # noqa: E402
from eeviz.analysis import story_mask  # noqa: E402
from eeviz.app.dataset_view import explore_query  # noqa: E402
from eeviz.checkpoint import save_checkpoint  # noqa: E402
from eeviz.config import ModelConfig  # noqa: E402
from eeviz.eval_result import EvalResult  # noqa: E402
from eeviz.model import build_model  # noqa: E402
from eeviz.plots import dataset as ds  # noqa: E402


# ------------------------------------------------------------------------------------------ the link to Explore
def palbert_eval() -> EvalResult:
    data = eval_dict(method="palbert")
    data["rules"] = {"q_exit": {**data["rules"]["ordered"], "param": "q"},
                     "sampling": {**data["rules"]["random"]}}
    data["default_rule"] = "q_exit"
    return EvalResult.from_dict(data)


def test_the_link_names_the_rule_in_words_and_its_threshold_under_explores_keys():
    result = palbert_eval()
    query = explore_query(result, "palbert-tiny", "q_exit", 0.9, "a film", None)
    assert query == {"ckpt": "palbert-tiny", "text": "a film", "rule_palbert": "Q-exit", "t_palbert_q_exit": "0.9"}
    seeded = explore_query(result, "palbert-tiny", "sampling", 2.0, "a film", "second")
    assert seeded["t_palbert_sampling"] == "2" and seeded["rule_palbert"] == "sampling (random)"
    assert seeded["text_b"] == "second"
    # a method with one rule and no threshold to carry: the rule is not named, nothing is made up
    one_rule = EvalResult.from_dict({**eval_dict(method="deebert"), "rules": {
        "entropy": {**eval_dict()["rules"]["ordered"], "param": "entropy"}}, "default_rule": "entropy"})
    assert explore_query(one_rule, "d", "entropy", 0.15, "x") == {"ckpt": "d", "text": "x", "t_deebert_entropy": "0.15"}
    assert explore_query(one_rule, "d", "entropy", None, "x") == {"ckpt": "d", "text": "x"}


@pytest.fixture
def palbert_checkpoint(tiny_bert, tmp_path, monkeypatch):
    cfg = ModelConfig(backbone=tiny_bert, method="palbert", task="toy", labels=["neg", "pos"], max_length=32)
    save_checkpoint(build_model(cfg), tmp_path / "palbert-tiny")
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path))
    return tmp_path


def test_explore_opens_the_link_at_the_tables_rule_and_threshold(palbert_checkpoint):
    result = palbert_eval()
    at = run_app(None, **explore_query(result, "palbert-tiny", "q_exit", 0.35, "a fine film"))
    assert at.slider(key="t_palbert_q_exit").value == pytest.approx(0.35)  # not the checkpoint's default
    at = run_app(None, **explore_query(result, "palbert-tiny", "sampling", 7.0, "a fine film"))
    assert at.radio(key="rule_palbert").value == "sampling"  # not the default rule (Q-exit)
    assert at.number_input(key="t_palbert_sampling").value == 7


# ------------------------------------------------------------------------------------------ the layer stories
def test_each_layer_story_selects_what_its_words_say():
    result = EvalResult.from_dict(eval_dict())  # per-layer predictions [1,1,0], [0,0,0], [0,1,1]; gold 1, 0, 1
    # overthinking: the last layer wrong, an earlier one right, whatever the exit (example a)
    assert story_mask(result, [1, 1, 1], "overthinking") == [True, False, False]
    assert story_mask(result, [3, 3, 3], "overthinking") == [True, False, False]
    # every example leaving at layer 1: c is wrong there and right later; a is right there (no story)
    assert story_mask(result, [1, 1, 1], "too early") == [False, False, True]
    assert story_mask(result, [1, 1, 1], "too late") == [False, False, False]
    # running to layer 3: a is wrong there after being right at layers 1 and 2
    assert story_mask(result, [3, 3, 3], "too late") == [True, False, False]
    assert story_mask(result, [3, 3, 3], "too early") == [False, False, False]
    with pytest.raises(ValueError, match="story must be one of"):
        story_mask(result, [1, 1, 1], "nosuch")


# ------------------------------------------------------------------------------------------ numbers and words
def test_halves_round_away_from_zero_as_the_table_does():
    assert ds.fixed(2.125) == "2.13" and ds.fixed(12.5, 0) == "13" and ds.fixed(37.5, 0) == "38"
    assert ds.fixed(-0.04, 1) == "0.0" and ds.signed(0.04) == "0.0" and ds.signed(1.25) == "+1.3"
    assert ds.signed(-1.25) == "-1.3"


def views(tmp_path, data: dict, chosen_on_dev=None) -> AppTest:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(data))
    script = f"""
import json
from eeviz.eval_result import EvalResult
from eeviz.app.dataset_view import show_results
result = EvalResult.from_dict(json.loads(open({str(path)!r}).read()))
show_results({{"x": result}}, {{"x": "Model X"}}, chosen_on_dev={chosen_on_dev!r})
"""
    at = AppTest.from_string(script, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def eight_examples() -> dict:
    """A default point with 8 examples exiting 1, 5 and 2 times at layers 1..3: mean 2.125, shares 1/8 and 5/8."""
    data = eval_dict()
    data.update(num_examples=8, examples=[])
    default = data["rules"]["ordered"]["points"][1]
    default.update(histogram=[1, 5, 2], mean_exit_layer=2.125, layer_speedup=3 / 2.125, exit_layers=None,
                   score=data["full_model"]["score"], top_exit_share=5 / 8)
    for sweep in data["rules"].values():
        for p in sweep["points"]:
            p["exit_layers"] = None
    return data


def test_one_number_reads_the_same_in_the_metric_the_histogram_and_the_table(tmp_path):
    from apptest import charts

    at = views(tmp_path, eight_examples())
    metrics = {m.label: m for m in at.metric}
    assert metrics["Mean exit layer"].value == "2.13 / 3"  # Python's own format gave 2.12; the table shows 2.13
    assert metrics["Top exit share"].value == "63%"  # 62.5: up, as the table and the charts round
    specs = [c.spec for c in charts(at)]
    histogram = next(s for s in specs if s["layout"].get("title", {}).get("text", "").startswith("Exit layers"))
    assert any(a.get("text") == "mean 2.13" for a in histogram["layout"]["annotations"])
    shares = next(s for s in specs if s["data"][0]["type"] == "heatmap" and s["data"][0]["zmax"] == 100)
    assert ["13%", "63%", "25%"] in shares["data"][0]["text"]
    # the score equals the full model's: no green arrow up for a change of nothing
    score = metrics["Accuracy (%)"]
    assert score.delta == "0.0 pts vs the full model"
    assert score.proto.color == score.proto.GRAY and score.proto.direction == score.proto.NONE


def test_the_summary_marks_built_in_thresholds_and_says_what_the_data_is_not(tmp_path):
    data = eval_dict()
    assert "built-in" not in ds.summary_table({"x": EvalResult.from_dict(data)})["default rule"][0]  # not known
    assert ds.summary_table({"x": EvalResult.from_dict(data)}, chosen_on_dev={"x": set()})["default rule"][0].endswith(
        "(built-in)")
    assert "built-in" not in ds.summary_table({"x": EvalResult.from_dict(data)},
                                              chosen_on_dev={"x": {"ordered"}})["default rule"][0]
    data["task"] = "rotten_tomatoes"
    at = views(tmp_path, data, chosen_on_dev={"x": set()})
    said = " ".join(c.value for c in at.caption)
    assert "not the standard sentence-polarity set" in said and "do not compare with published" in said
    assert "chosen on the dev split" in said and '"built-in" marks' in said
    summary = at.dataframe[0]
    assert list(summary.proto.column_order)[:7] == ["checkpoint", "default rule", "full model (%)", "default rule (%)",
                                                    "adaptive gain (pts)", "top exit share (%)", "layer speed-up"]
