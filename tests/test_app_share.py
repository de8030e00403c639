"""Shareable state and exports of Explore and Compare (issue 12 §7), and Compare's cut-input notice (§4).

- Download names hold the checkpoint, the rule and a short hash of the sentence; the CSV repeats the sentence,
  checkpoint, rule and threshold beside the per-layer data (unit tests of the builders).
- Compare's checkpoints live in the URL (``?ckpts=a,b``); unknown names there are left out with a notice.
- A sentence (and a threshold) that came in Explore's link reaches Compare on the first page switch, though
  the switch drops the query string (``AppTest.switch_page`` with the query cleared, as a sidebar link does).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from apptest import charts, run_app  # noqa: E402
from eeviz import layer_export  # noqa: E402
from eeviz.app import downloads  # noqa: E402
from eeviz.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from eeviz.config import ModelConfig  # noqa: E402
from eeviz.fingerprint import text_id  # noqa: E402
from eeviz.methods import get_method  # noqa: E402
from eeviz.model import build_model  # noqa: E402
from eeviz.trace import replay  # noqa: E402

COMPARE = "pages/1_Compare.py"
NAME = re.compile(r"^eeviz_([A-Za-z0-9.+-]+)_([A-Za-z0-9.+-]+)_([0-9a-f]{8})(_[A-Za-z0-9.+-]+)?\.(csv|json)$")


@pytest.fixture(scope="module")
def share_checkpoints(tiny_bert, tmp_path_factory):
    """deebert (one rule with a threshold), palbert (a rule with an underscore in its name, and a reference rule
    without a threshold), a sentence-pair pabee; max_length 32, so a long sentence is cut."""
    root = tmp_path_factory.mktemp("share_checkpoints")
    for name, method, extra in (
        ("deebert-tiny", "deebert", {}),
        ("palbert-tiny", "palbert", {}),
        ("pabee-pair", "pabee", {"is_pair": True}),
    ):
        cfg = ModelConfig(backbone=tiny_bert, method=method, task="toy", labels=["neg", "pos"], max_length=32,
                          **extra)
        save_checkpoint(build_model(cfg), root / name)
    return root


@pytest.fixture
def share_env(share_checkpoints, monkeypatch):
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(share_checkpoints))
    return share_checkpoints


def run(page: str | None = None, **query) -> AppTest:
    return run_app(page, **query)


def chart_configs(at: AppTest) -> dict[str, dict]:
    return {chart.id: chart.config for chart in charts(at)}


# ============================================================================================ names and CSVs
def decision_of(root: Path, name: str, rule: str, text: str, text_b: str | None = None, **params):
    model = load_checkpoint(root / name)
    trace = model.trace(text, text_b)
    return trace, replay(trace, model.make_rule(rule, **params))


def test_download_names_hold_checkpoint_rule_and_sentence_hash():
    name = downloads.download_name("palbert-tiny", "q_exit", "a fine film", None, "csv")
    match = NAME.match(name)
    assert match, name
    assert match.group(1) == "palbert-tiny"
    assert match.group(2) == "q-exit"  # an underscore inside a part would read as a separator
    assert match.group(3) == text_id("a fine film")[:8]
    # another sentence, or the same one with a second sentence, gets another hash
    assert downloads.download_name("palbert-tiny", "q_exit", "a poor film", None, "csv") != name
    assert downloads.download_name("palbert-tiny", "q_exit", "a fine film", "b", "csv") != name
    # characters a file name cannot hold are replaced; an extra part names the figure
    odd = downloads.download_name("my ckpt/../x", "r", "t", None, "png", what="panel 1")
    assert "/" not in odd and " " not in odd and odd.endswith("_panel-1.png")


def test_several_checkpoints_make_one_part_or_a_count():
    assert downloads.joined_part(["a", "b", "a"], "checkpoints") == "a+b"
    many = [f"checkpoint-number-{k}" for k in range(8)]
    assert downloads.joined_part(many, "checkpoints") == "8-checkpoints"


def test_layers_csv_carries_sentence_checkpoint_rule_and_threshold(share_checkpoints):
    text = 'a "quoted", comma-filled sentence'
    trace, decision = decision_of(share_checkpoints, "deebert-tiny", "entropy", text, entropy=0.25)
    csv = layer_export.layers_frame("deebert-tiny", trace, decision).to_csv(index=False)
    frame = pd.read_csv(io.StringIO(csv))
    assert list(frame.columns[:4]) == ["sentence", "checkpoint", "rule", "threshold"]
    assert len(frame) == trace.num_layers
    assert set(frame["sentence"]) == {text}  # the quotes and commas survive the CSV
    assert set(frame["checkpoint"]) == {"deebert-tiny"} and set(frame["rule"]) == {"entropy"}
    assert np.allclose(frame["threshold"], 0.25)
    assert list(frame["layer"]) == list(range(1, trace.num_layers + 1))  # the per-layer data follows


def test_a_rule_without_threshold_leaves_the_column_empty_and_pairs_get_both_sentences(share_checkpoints):
    palbert = get_method("palbert")
    reference = next(n for n, r in palbert.rules.items() if r.spec.minimum == r.spec.maximum)
    trace, decision = decision_of(share_checkpoints, "palbert-tiny", reference, "a fine film")
    frame = layer_export.layers_frame("palbert-tiny", trace, decision)
    assert frame["threshold"].isna().all()
    trace, decision = decision_of(share_checkpoints, "pabee-pair", "patience", "a man plays", "music", patience=1)
    frame = layer_export.layers_frame("pabee-pair", trace, decision)
    assert list(frame.columns[:5]) == ["sentence", "second sentence", "checkpoint", "rule", "threshold"]
    assert set(frame["second sentence"]) == {"music"} and set(frame["threshold"]) == {1.0}


def test_compare_csv_stacks_every_checkpoint(share_checkpoints):
    traces, decisions = {}, {}
    traces["deebert-tiny"], decisions["deebert-tiny"] = decision_of(
        share_checkpoints, "deebert-tiny", "entropy", "a fine film", entropy=0.1)
    traces["palbert-tiny"], decisions["palbert-tiny"] = decision_of(
        share_checkpoints, "palbert-tiny", "q_exit", "a fine film", q=0.5)
    frame = layer_export.compare_frame(traces, decisions)
    assert list(frame["checkpoint"]) == ["deebert-tiny"] * 3 + ["palbert-tiny"] * 3
    assert list(frame["rule"]) == ["entropy"] * 3 + ["q_exit"] * 3
    assert list(frame["threshold"]) == [0.1] * 3 + [0.5] * 3
    name = downloads.compare_name(traces, decisions, "csv")
    assert name == f"eeviz_deebert-tiny+palbert-tiny_entropy+q-exit_{text_id('a fine film')[:8]}.csv"


def test_your_sentences_table_is_named_by_its_checkpoints_and_data():
    first = downloads.sentences_name(["deebert-tiny", "pabee_tiny"], "0123456789abcdef")
    assert first == "eeviz_deebert-tiny+pabee-tiny_your-sentences_01234567.csv"  # the parts stay apart
    assert downloads.sentences_name(["deebert-tiny", "pabee_tiny"], "fedcba9876543210") != first  # other data
    many = downloads.sentences_name([f"checkpoint-{i}" for i in range(9)], "0123456789abcdef")
    assert many == "eeviz_9-checkpoints_your-sentences_01234567.csv"


def test_explore_figures_are_saved_under_the_same_name(share_env):
    at = run(ckpt="deebert-tiny", text="a fine film", t_deebert_entropy="0.2")
    names = [c.get("toImageButtonOptions", {}).get("filename", "") for c in chart_configs(at).values()]
    stem = f"eeviz_deebert-tiny_entropy_{text_id('a fine film')[:8]}"
    assert names and all(n.startswith(stem + "_") for n in names), names
    assert len(set(names)) == len(names)  # each figure its own file


# ============================================================================================ Compare's URL
def test_compare_reads_and_writes_its_checkpoints_in_the_url(share_env):
    at = run(COMPARE, ckpts="palbert-tiny", text="short")
    assert at.multiselect(key="compare").value == ["palbert-tiny"]
    assert not at.warning
    at.multiselect(key="compare").set_value(["deebert-tiny", "palbert-tiny"]).run()
    assert at.query_params["ckpts"] == "deebert-tiny,palbert-tiny"
    assert len(at.dataframe[0].value) == 2  # one row per checkpoint


def test_unknown_checkpoints_in_the_link_are_left_out_with_a_notice(share_env):
    at = run(COMPARE, ckpts="nope,deebert-tiny,<b>x</b>")
    assert at.multiselect(key="compare").value == ["deebert-tiny"]
    notices = [w.value for w in at.warning if "Left out of the link" in w.value]
    assert len(notices) == 1 and "nope" in notices[0] and "<b>" not in notices[0]
    assert at.query_params["ckpts"] == "deebert-tiny"  # the link is cleaned
    at = run(COMPARE, ckpts="nope")  # nothing usable: the usual choice, and the notice
    assert set(at.multiselect(key="compare").value) == {"deebert-tiny", "palbert-tiny"}
    assert any("nope" in w.value for w in at.warning)


def test_a_checkpoint_folder_with_a_comma_or_percent_in_its_name_travels_in_the_link(share_checkpoints,
                                                                                      tmp_path, monkeypatch):
    import shutil
    odd = ["has,comma", "50%2C off", "%25"]
    for name in odd:
        shutil.copytree(share_checkpoints / "deebert-tiny", tmp_path / name)
    shutil.copytree(share_checkpoints / "palbert-tiny", tmp_path / "palbert-tiny")
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path))
    at = run(COMPARE, text="short")
    at.multiselect(key="compare").set_value(odd + ["palbert-tiny"]).run()
    written = at.query_params["ckpts"]
    again = run(COMPARE, ckpts=written, text="short")  # the same link, reloaded or shared
    assert not [w.value for w in again.warning if "Left out of the link" in w.value]
    assert again.multiselect(key="compare").value == odd + ["palbert-tiny"]
    assert again.query_params["ckpts"] == written
    # a plain name is written as it is, so links made before keep working, as do older links' raw names
    assert written.endswith(",palbert-tiny")
    assert run(COMPARE, ckpts="palbert-tiny,%25").multiselect(key="compare").value == ["palbert-tiny", "%25"]


# ============================================================================================ page switches
def test_a_shared_links_sentence_and_threshold_reach_compare_on_the_first_switch(share_env):
    at = run(ckpt="deebert-tiny", text="a shared sentence", t_deebert_entropy="0.55")
    assert at.text_area(key="text").value == "a shared sentence"
    at.query_params.clear()  # a sidebar page link drops the query string
    at.switch_page(COMPARE)
    at.run()
    assert not at.exception
    assert at.text_area(key="text").value == "a shared sentence"
    assert at.slider(key="t_deebert_entropy").value == 0.55
    assert at.query_params["text"] == "a shared sentence"  # and Compare's own link holds it
    # an edit on Compare stands through its reruns
    at.text_area(key="text").set_value("an edited sentence").run()
    assert at.text_area(key="text").value == "an edited sentence"
    at.query_params.clear()
    at.switch_page("app.py")
    at.run()
    assert at.text_area(key="text").value == "an edited sentence"


def test_a_session_begun_on_a_compare_link_opens_explore_on_its_first_checkpoint(share_env):
    """Not on the first folder of all (a link comparing PALBERT and DeeBERT opened Explore on BERxiT)."""
    at = run(COMPARE, ckpts="palbert-tiny,deebert-tiny", text="a shared sentence")
    at.query_params.clear()  # a sidebar page link drops the query string
    at.switch_page("app.py")
    at.run()
    assert not at.exception
    assert at.selectbox(key="ckpt").value == "palbert-tiny" and at.query_params["ckpt"] == "palbert-tiny"
    assert at.text_area(key="text").value == "a shared sentence"


def test_compare_says_when_the_input_was_cut(share_env):
    long = " ".join(["wonderful"] * 60)  # far past the tiny models' 32 tokens
    at = run(COMPARE, ckpts="deebert-tiny,palbert-tiny", text=long)
    cut = [w.value for w in at.warning if "The input was cut" in w.value]
    assert len(cut) == 1 and "reads 32 of" in cut[0]
    at = run(COMPARE, ckpts="deebert-tiny,palbert-tiny", text="short")
    assert not [w for w in at.warning if "The input was cut" in w.value]


# ============================================================================================ playback box
def test_compare_builds_its_playback_only_once_opened(share_env):
    at = run(COMPARE, ckpts="deebert-tiny,palbert-tiny", text="short")
    assert not charts(at, "playback")
    assert [e.label for e in at.expander].count("Watch it layer by layer") == 1
    at.session_state["compare-playback-open"] = True  # what clicking the box does
    at.run()
    assert not at.exception
    (playback,) = charts(at, "playback")
    assert "_playback" in playback.config["toImageButtonOptions"]["filename"]
    at.slider(key="t_deebert_entropy").set_value(0.6).run()  # stays open through a threshold move
    assert charts(at, "playback")


def test_the_apps_layers_csv_speaks_the_pages_words(share_checkpoints):
    # app review (session 10) item 20: the rule and signals by their code names, the exit as "◀ exit"
    from eeviz.plots.panels import layer_table

    trace, decision = decision_of(share_checkpoints, "palbert-tiny", "q_exit", "a fine film", q=0.3)
    frame = downloads.readable_layers("palbert-tiny", trace, decision)
    assert set(frame["rule"]) == {"Q-exit"} and "exit" not in frame.columns
    assert frame["exit here"].tolist() == [layer == decision.exit_layer for layer in frame["layer"]]
    assert frame["ran"].tolist() == [layer <= decision.exit_layer for layer in frame["layer"]]
    raw = layer_table(trace, decision).columns
    assert len(frame.columns) == len(raw) + 4 + 1  # sentence, checkpoint, rule, threshold; exit -> exit here, ran
