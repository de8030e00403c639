"""The Streamlit app, page by page, through ``streamlit.testing.v1.AppTest`` against tiny checkpoints."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from apptest import charts, run_app  # noqa: E402
from eeviz.app import ui  # noqa: E402
from eeviz.checkpoint import save_checkpoint  # noqa: E402
from eeviz.config import ModelConfig  # noqa: E402
from eeviz.model import build_model  # noqa: E402

PAGES = ["pages/1_Compare.py", "pages/2_Attention.py", "pages/3_Dataset.py", "pages/4_Learn.py"]


def tiny_eval(num_layers: int = 3) -> dict:
    """A small hand-written eval.json for the deebert checkpoint (schema of eeviz.evaluate)."""

    def point(threshold, score, hist):
        mean = sum((i + 1) * c for i, c in enumerate(hist)) / sum(hist)
        return {
            "threshold": threshold,
            "score": score,
            "metrics": {"accuracy": score},
            "mean_exit_layer": mean,
            "layer_speedup": num_layers / mean,
            "wall_speedup": None,
            "histogram": hist,
        }

    return {
        "checkpoint": "deebert-tiny",
        "method": "deebert",
        "task": "toy",
        "split": "test",
        "metric": "accuracy",
        "num_layers": num_layers,
        "num_examples": 2,
        "labels": ["neg", "pos"],
        "batch_size": 1,
        "device": "cpu",
        "full_model": {"score": 0.5, "metrics": {"accuracy": 0.5}, "time_s": 0.1},
        "per_layer": [{"layer": i + 1, "score": s, "metrics": {"accuracy": s}} for i, s in enumerate([0.5, 0.5, 0.0])],
        "rules": {
            "entropy": {
                "param": "entropy",
                "label": "entropy threshold S (nats)",
                "default": 0.3,
                "early_exit": True,
                "points": [point(1.0, 1.0, [2, 0, 0]), point(0.3, 0.5, [0, 1, 1]), point(0.0, 0.5, [0, 0, 2])],
            }
        },
        "examples": [
            {
                "text": "the movie is good",
                "text_b": None,
                "gold": 1,
                "layer_preds": [1, 1, 0],
                "exit": {"entropy": {"layer": 2, "pred": 1, "correct": True}},
            },
            {
                "text": "bad plot",
                "text_b": None,
                "gold": 0,
                "layer_preds": [1, 1, 1],
                "exit": {"entropy": {"layer": 3, "pred": 1, "correct": False}},
            },
        ],
    }


@pytest.fixture(scope="session")
def app_checkpoints(tiny_bert, tmp_path_factory):
    """A checkpoint folder: deebert (with eval.json), palbert (several rules), a sentence-pair regression pabee
    (STS-B style), and one broken folder."""
    root = tmp_path_factory.mktemp("app_checkpoints")
    for name, method, extra in (
        ("deebert-tiny", "deebert", {}),
        ("palbert-tiny", "palbert", {}),
        ("pabee-pair", "pabee", {"is_pair": True, "labels": [], "task": "stsb", "metric": "pearson_spearman"}),
    ):
        cfg = ModelConfig(
            backbone=tiny_bert, method=method, max_length=32, **{"task": "toy", "labels": ["neg", "pos"], **extra}
        )
        save_checkpoint(build_model(cfg), root / name)
    (root / "deebert-tiny" / "eval.json").write_text(json.dumps(tiny_eval()))
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{not json")
    (root / "broken" / "model.safetensors").write_bytes(b"")
    return root


@pytest.fixture
def checkpoints_env(app_checkpoints, monkeypatch):
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(app_checkpoints))
    return app_checkpoints




def chart_specs(at: AppTest, key_part: str = "") -> list[dict]:
    """The page's plotly figures (those whose key contains ``key_part``)."""
    return [chart.spec for chart in charts(at, key_part)]


def exit_markers(at: AppTest, key_part: str = "") -> set[float]:
    """x of every "exit" line drawn in the page's charts."""
    return {
        shape["x0"]
        for spec in chart_specs(at, key_part)
        for shape in spec["layout"].get("shapes", [])
        if shape.get("name") == "exit" and shape.get("type") == "line"
    }


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


# ============================================================================================ Explore
def test_explore_renders_a_decision_with_charts(checkpoints_env):
    at = run_app(ckpt="deebert-tiny")
    assert at.text_area(key="text").value == ui.DEFAULT_TEXT
    assert metric(at, "Exit layer").endswith("/ 3")
    assert len(charts(at)) >= 2
    assert len(at.dataframe) == 1  # the per-layer table
    assert len(at.get("download_button")) == 2
    # the playback box starts closed and builds nothing until it is opened (a threshold move stays cheap)
    assert chart_specs(at, "playback") == []
    at.session_state["playback-open"] = True
    at.run()
    (playback,) = chart_specs(at, "playback")
    assert len(playback["frames"]) == 3  # one frame per layer


def test_threshold_slider_moves_the_marked_exit_layer(checkpoints_env):
    at = run_app(ckpt="deebert-tiny")
    slider = at.slider(key="t_deebert_entropy")
    slider.set_value(slider.max).run()  # S = 1.1 nats > any binary entropy (at most ln 2): exit at layer 1
    assert metric(at, "Exit layer") == "1 / 3"
    assert exit_markers(at) == {1}
    at.slider(key="t_deebert_entropy").set_value(0.0).run()  # entropy is never below 0: the full model
    assert metric(at, "Exit layer") == "3 / 3"
    assert exit_markers(at) == {3}


def test_explore_draws_live_charts_and_streamlit_charts_where_it_cannot_serve_plotly_js(checkpoints_env):
    """Live charts need plotly.js from the app's static folder; with static serving off, the same figures are
    drawn by st.plotly_chart, and nothing else changes."""
    from streamlit import config

    live = run_app(ckpt="deebert-tiny")
    assert not live.get("plotly_chart") and len(charts(live)) >= 2
    served = config.get_option("server.enableStaticServing")
    config.set_option("server.enableStaticServing", False)
    try:
        plain = run_app(ckpt="deebert-tiny")
    finally:
        config.set_option("server.enableStaticServing", served)
    assert not plain.get("bidi_component")
    assert [c.spec for c in charts(plain)] == [c.spec for c in charts(live)]
    assert [c.config for c in charts(plain)] == [c.config for c in charts(live)]


def test_plotly_js_is_served_from_the_plotly_package(tmp_path, monkeypatch):
    """The app serves the plotly.js of the installed plotly package: copied when missing or from another
    version, and no live charts (None) where it cannot be written."""
    from eeviz.app import live_chart

    bundled = live_chart._bundled_plotly_js()
    monkeypatch.setattr(live_chart, "VENDOR_DIR", tmp_path / "vendor")
    live_chart.served_plotly_js.cache_clear()
    try:
        served = live_chart.served_plotly_js()
        assert served == tmp_path / "vendor" / live_chart.PLOTLY_JS
        assert served.read_bytes() == bundled.read_bytes()
        served.write_text("an older plotly.js")
        live_chart.served_plotly_js.cache_clear()
        assert live_chart.served_plotly_js().read_bytes() == bundled.read_bytes()

        monkeypatch.setattr(live_chart, "VENDOR_DIR", tmp_path / "not-a-folder" / "vendor")
        (tmp_path / "not-a-folder").write_text("a file where the folder would go")
        live_chart.served_plotly_js.cache_clear()
        assert live_chart.served_plotly_js() is None
    finally:
        live_chart.served_plotly_js.cache_clear()


def test_query_parameters_restore_the_view(checkpoints_env):
    at = run_app(ckpt="deebert-tiny", text="bad plot", t_deebert_entropy="0.0")
    assert at.text_area(key="text").value == "bad plot"
    assert at.slider(key="t_deebert_entropy").value == 0.0
    assert metric(at, "Exit layer") == "3 / 3"
    # "bad plot" is an eval example: its gold label is known and shown
    assert any("Gold" in m.value for m in [*at.success, *at.error])


def test_several_rules_get_a_rule_choice_and_a_summary(checkpoints_env):
    at = run_app(ckpt="palbert-tiny")
    assert at.radio(key="rule_palbert").value == "q_exit"
    at.radio(key="rule_palbert").set_value("sampling").run()
    assert not at.exception
    assert at.number_input(key="t_palbert_sampling").value == 0  # a seed, not a slider
    titles = {spec["layout"]["title"]["text"] for spec in chart_specs(at)}
    assert "Where the random rule exits, over many draws" in titles
    assert len(at.dataframe) == 2  # every rule's decision + the per-layer table


def test_the_sentence_box_names_the_models_token_limit(checkpoints_env):
    """The limit comes from the checkpoint (max_length 32 here, not the shipped 64)."""
    at = run_app(ckpt="deebert-tiny")
    assert "first 32 tokens" in at.text_area(key="text").help


def test_an_averaged_answer_is_explained_under_the_result(checkpoints_env):
    """A rule whose answer is an average over layers (its RuleSpec.answer) says so under the result, where the
    confidence would otherwise be read as the outlined exit layer's; a rule answering with one layer does not."""
    from eeviz.methods import get_method

    rules = get_method("palbert").rules
    averaged = [name for name, rule in rules.items() if rule.spec.answer]
    assert averaged and len(averaged) < len(rules)
    at = run_app(ckpt="palbert-tiny")
    shown = [c.value for c in at.caption]
    assert not any(rule.spec.answer in shown for rule in rules.values())
    at.radio(key="rule_palbert").set_value(averaged[0]).run()
    assert rules[averaged[0]].spec.answer in [c.value for c in at.caption]


def test_sentence_pairs_get_two_boxes_and_regression_shows_values(checkpoints_env):
    at = run_app(ckpt="pabee-pair")
    assert [t.key for t in at.text_area] == ["text", "text_b"]
    assert metric(at, "Exit layer").endswith("/ 3")
    assert float(metric(at, "Value")) == pytest.approx(float(metric(at, "Prediction")), abs=1e-3)
    titles = [spec["layout"]["title"]["text"] for spec in chart_specs(at)]
    assert titles[0] == "Predicted value per layer"  # no class-probability heatmap for regression
    at.text_area(key="text_b").set_value("").run()
    assert any("second sentence" in w.value for w in at.warning)


def test_bad_input_is_explained_and_markup_stays_text(checkpoints_env):
    at = run_app(ckpt="deebert-tiny")
    at.text_area(key="text").set_value("   ").run()
    assert any("empty" in w.value for w in at.warning)
    assert not at.metric
    at.text_area(key="text").set_value("<script>alert(1)</script> **bold** $x$ ✓ 中文").run()
    assert not at.exception
    assert metric(at, "Exit layer").endswith("/ 3")
    for element in [*at.markdown, *at.caption, *at.warning, *at.success, *at.error, *at.info]:
        assert "<script>" not in element.value


def test_broken_folders_are_listed_and_the_app_still_works(checkpoints_env):
    at = run_app(ckpt="deebert-tiny")
    problems = [t.value for t in at.sidebar.get("text")]
    assert any("broken" in p and "not valid JSON" in p for p in problems)
    # the shared backbone is left out of the titles
    assert set(at.selectbox(key="ckpt").options) == {
        "DeeBERT (entropy) · toy",
        "PALBERT (λ, Q-exit) · toy",
        "PABEE (patience) · stsb",
    }


def test_no_checkpoints_tells_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path))
    at = run_app()
    assert any(ui.TRAIN_COMMAND in c.value for c in at.code)
    assert not at.metric
    assert [i.value for i in at.info] == ["No checkpoints found in this folder:"]


def test_a_checkpoint_folder_that_does_not_exist_is_said_as_such(tmp_path, monkeypatch):
    """Not "no checkpoints found" with "1 folder(s) skipped" beside it: there is no folder at all."""
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path / "gone"))
    at = run_app()
    assert [i.value for i in at.info] == ["There is no checkpoint folder here:"]
    assert any(c.value.endswith("gone") for c in at.code)
    assert not [e for e in at.sidebar.expander if "skipped" in e.label]


# ============================================================================================ other pages
@pytest.mark.parametrize("ckpt", ["deebert-tiny", "pabee-pair"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(checkpoints_env, page, ckpt):
    at = run_app(page, ckpt=ckpt)
    assert charts(at), f"{page} drew no chart"


def test_compare_lists_every_single_sentence_checkpoint(checkpoints_env):
    at = run_app("pages/1_Compare.py")
    assert set(at.multiselect(key="compare").value) == {"deebert-tiny", "palbert-tiny"}  # not the pair model
    # the chips name the methods, as the grid's rows do (full titles were clipped at 400 px); the table in full
    assert sorted(at.multiselect(key="compare").options) == ["DeeBERT", "PABEE", "PALBERT"]
    table = at.dataframe[0].value
    assert sorted(table["checkpoint"]) == ["DeeBERT (entropy) · toy", "PALBERT (λ, Q-exit) · toy"]
    assert set(table["layers"]) == {3}


def test_compare_redraws_nothing_when_no_exit_changes(checkpoints_env):
    """The grid and the table show where each checkpoint exits, not the thresholds: a move that changes no exit
    sends the page the same figure and the same table (which the browser does not redraw), one that does
    changes both."""
    at = run_app("pages/1_Compare.py", ckpts="deebert-tiny")
    at.slider(key="t_deebert_entropy").set_value(0.0).run()  # entropy is never below 0: every checkpoint runs to the end

    def shown():
        (grid,) = charts(at)
        return grid.spec, at.dataframe[0].value

    spec, table = shown()
    assert "threshold" not in table.columns  # the sidebar shows them; the CSV has them
    assert list(table["exit layer"]) == [3]
    def rules_line() -> str:  # the thresholds' line under the grid, markdown escapes undone
        (line,) = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("Thresholds")]
        return line

    assert rules_line().endswith("DeeBERT S = 0")  # the threshold, in view
    at.slider(key="t_deebert_entropy").set_value(0.01).run()  # still below every entropy: no exit changes
    assert shown()[0] == spec
    assert shown()[1].equals(table)
    assert rules_line().endswith("DeeBERT S = 0.01")  # only that line changed
    at.slider(key="t_deebert_entropy").set_value(at.slider(key="t_deebert_entropy").max).run()  # exit at layer 1
    new_spec, new_table = shown()
    assert list(new_table["exit layer"]) == [1]
    assert new_spec != spec


def test_attention_page_embeds_bertviz_and_heatmaps(checkpoints_env):
    at = run_app("pages/2_Attention.py", ckpt="deebert-tiny")
    titles = [spec["layout"]["title"]["text"] for spec in chart_specs(at)]
    assert titles[0].startswith("Cumulative [CLS] attention") and titles[1].startswith("Attention rollout")
    assert len(at.get("iframe")) == 2


def test_attention_page_uses_one_colour_map_and_hides_special_tokens_in_bertviz_too(checkpoints_env):
    """The token heatmaps are shares of one on one scale (rollout was Magma beside two Viridis), and "Hide
    special tokens" leaves [CLS]/[SEP] out of bertviz too, not only out of the heatmaps."""
    at = run_app("pages/2_Attention.py", ckpt="deebert-tiny")
    scales = [json.dumps(spec["data"][0]["colorscale"]) for spec in chart_specs(at) if spec["data"][0]["type"] == "heatmap"]
    assert len(scales) >= 2 and len(set(scales)) == 1

    def bertviz_tokens() -> str:
        return " ".join(frame.proto.srcdoc for frame in at.get("iframe"))

    assert at.toggle(key="att_special").value
    assert "[CLS]" not in bertviz_tokens() and "[SEP]" not in bertviz_tokens()
    at.toggle(key="att_special").set_value(False).run()
    assert "[CLS]" in bertviz_tokens() and "[SEP]" in bertviz_tokens()


def test_dataset_page_filters_examples(checkpoints_env):
    at = run_app("pages/3_Dataset.py")
    assert len(charts(at)) == 4  # one trade-off panel per checkpoint, exits, per layer, histogram
    examples = at.dataframe[1].value
    assert examples["text"].tolist() == ["the movie is good", "bad plot"]
    at.selectbox(key="ds_story").set_value("overthinking").run()
    assert at.dataframe[1].value["text"].tolist() == ["the movie is good"]
    at.selectbox(key="ds_story").set_value("all").run()
    at.segmented_control(key="ds_correct").set_value("wrong").run()
    assert at.dataframe[1].value["text"].tolist() == ["bad plot"]


def test_learn_sliders_move_the_toy_exit():
    at = run_app("pages/4_Learn.py")
    at.slider(key="learn_t").set_value(1).run()  # overthinking toy: positive from layer 2, so layer 3 repeats it
    assert exit_markers(at, "pabee") == {3}
    at.slider(key="learn_t").set_value(0).run()  # t = 0: never exits early
    assert exit_markers(at, "pabee") == {8}
    at.slider(key="learn_q").set_value(0.99).run()  # Q-exit: only the last layer's CDF (1) passes 0.99
    assert exit_markers(at, "ponder-halting") == {8}


def test_export_payload_reproduces_the_decision(app_checkpoints):
    from eeviz import plots
    from eeviz.catalog import find_checkpoints
    from eeviz.checkpoint import load_checkpoint
    from eeviz.trace import Trace, replay

    info = next(i for i in find_checkpoints(app_checkpoints)[0] if i.name == "deebert-tiny")
    model = load_checkpoint(info.path)
    trace = model.trace("the movie is good")
    decision = replay(trace, model.make_rule("entropy", entropy=0.0))
    payload = json.loads(json.dumps(ui.export_payload(info, trace, decision)))
    assert payload["checkpoint"] == "deebert-tiny" and payload["config"]["method"] == "deebert"
    assert payload["decision"]["exit_layer"] == 3 and payload["decision"]["params"] == {"entropy": 0.0}
    assert "attentions" not in payload["trace"]
    again = Trace.from_dict(payload["trace"])
    assert replay(again, model.make_rule("entropy", entropy=0.0)).exit_layer == 3
    csv = plots.layer_table(trace, decision).to_csv(index=False).splitlines()
    assert len(csv) == 1 + 3 and csv[0].startswith("layer,exit,prediction")


def test_compare_shows_shares_in_percent_with_explores_decimals(checkpoints_env):
    import json

    at = run_app("pages/1_Compare.py")
    table = at.dataframe[0]
    columns = json.loads(table.proto.columns)
    assert columns["confidence"]["type_config"]["format"] == "%.1f%%"  # 93.2%, as Explore's box; was 93.21%
    assert columns["depth used"]["type_config"]["format"] == "%.0f%%"  # 50%; was 50.00%
    assert ((table.value["confidence"] > 1) & (table.value["confidence"] <= 100)).all()  # percent, not a share
    # 3 layers; held as shown, whole percents (a screen reader reads the value, not the format)
    assert set(table.value["depth used"]) <= {round(100 * k / 3) for k in (1, 2, 3)}


def test_explore_layer_table_shows_probabilities_in_percent_like_its_box(checkpoints_env):
    import json

    import numpy as np

    at = run_app(ckpt="deebert-tiny")
    table = at.dataframe[-1]  # the per-layer table
    columns = json.loads(table.proto.columns)
    shares = ["confidence"] + [c for c in table.value.columns if c.startswith("p(")]
    assert len(shares) >= 3  # the confidence and one column per class
    for column in shares:
        assert columns[column]["type_config"]["format"] == "%.1f%%"  # as the box's "93.2%"; was 0.932
    assert ((table.value[shares] >= 0) & (table.value[shares] <= 100)).all().all()
    exit_row = table.value[table.value["exit"] != ""].iloc[0]
    assert metric(at, "Confidence") == f"{exit_row['confidence']:.1f}%"  # the box and the table agree
    row_sums = table.value[[c for c in shares if c != "confidence"]].sum(axis=1)
    assert np.allclose(row_sums, 100.0, atol=1e-3)  # percent of the classes, not shares of one
    (entropy,) = [c for c in table.value.columns if c.startswith("entropy")]  # stays in nats, not percent
    assert (table.value[entropy] <= np.log(len(shares) - 1) + 1e-6).all()


def test_compare_table_rule_column_fits_every_rule_name(checkpoints_env):
    """The rule column holds every method's longest plain-word rule name (about 7 px a character at the
    table's font) instead of cutting it ("two stages (puzzlement, then win…")."""
    import json

    from eeviz.methods import available_methods, get_method

    at = run_app("pages/1_Compare.py")
    width = json.loads(at.dataframe[0].proto.columns)["rule"]["width"]
    longest = max(len(r.spec.display) for n in available_methods() for r in get_method(n).rules.values())
    assert isinstance(width, int) and width >= 6.5 * longest


def test_compare_table_puts_the_decision_next_to_the_checkpoint(checkpoints_env):
    """A phone shows two of the table's columns: they were the checkpoint and its rule, and the exit, the
    prediction and the agreement were off screen; then checkpoint, exit and depth, the prediction a scroll away.
    The checkpoint now stays in view while the table scrolls, with its answer and exit beside it."""
    import json

    at = run_app("pages/1_Compare.py")
    proto = at.dataframe[0].proto
    order = list(proto.column_order)
    assert order[:3] == ["checkpoint", "prediction", "exit layer"] and order[-1] == "rule"
    shown = at.dataframe[0].value  # held as shown (a screen reader reads the values): 93.2, not 93.21499943
    assert (shown["confidence"] == shown["confidence"].round(1)).all() and (shown["confidence"] > 1).all()
    assert json.loads(proto.columns)["checkpoint"].get("pinned") is True


def test_compare_with_one_checkpoint_says_it_in_the_singular(checkpoints_env):
    at = run_app("pages/1_Compare.py", ckpts="deebert-tiny")
    assert [m.value.split(" **")[0] for m in at.success] == ["The checkpoint predicts"]  # was "All 1 checkpoints"
