"""Teaching fixes (issue 12 §3-4): what the heads really read, the bertviz numbering, the entropy slider's
range, plain words, and colours that read on light and dark themes."""

from __future__ import annotations


import numpy as np
import pytest

from eeviz.attention import cumulative_cls_attention, pooled_attention



# ============================================================================ attention into the pooled vector
def test_pooled_attention_by_hand():
    # one head, two tokens: C^1 = A^1, C^2 = A^2 A^1 = [[0.5, 0.5], [0.25, 0.75]]
    a1 = np.array([[0.5, 0.5], [0.0, 1.0]])
    a2 = np.array([[1.0, 0.0], [0.5, 0.5]])
    att = np.stack([a1, a2])[:, None]
    mean = pooled_attention(att, pooling="mean")
    assert mean.shape == (2, 1, 2)
    # layer 1: mean of A^1's rows = [0.25, 0.75]; layer 2: mean of [[.5,.5],[.25,.75]] = [0.375, 0.625]
    np.testing.assert_allclose(mean[:, 0], [[0.25, 0.75], [0.375, 0.625]], atol=1e-7)
    # only the first position real: its row alone
    np.testing.assert_allclose(pooled_attention(att, "mean", real=[1, 0])[:, 0], [[0.5, 0.5], [0.5, 0.5]])
    # [CLS] pooling: the [CLS] row, i.e. the cumulative [CLS] view
    np.testing.assert_allclose(pooled_attention(att, pooling="cls"), cumulative_cls_attention(att))
    with pytest.raises(ValueError):
        pooled_attention(att, pooling="max")


def test_pooled_attention_averages_the_rows_of_the_product_per_head():
    rng = np.random.default_rng(0)
    att = rng.random((3, 2, 4, 4))
    att /= att.sum(-1, keepdims=True)
    pooled = pooled_attention(att)
    for head in range(2):
        product = att[2, head] @ att[1, head] @ att[0, head]
        np.testing.assert_allclose(pooled[2, head], product.mean(0), rtol=1e-5)
    np.testing.assert_allclose(pooled.sum(-1), 1.0, rtol=1e-5)


# ============================================================================ bertviz numbers from 1
def test_bertviz_views_number_layers_and_heads_from_one():
    pytest.importorskip("bertviz")
    from eeviz.app.bertviz_offline import head_view_html, model_view_html

    att = np.full((2, 2, 3, 3), 1 / 3)
    tokens = ["a", ".text(layer));", "c"]  # bertviz's code as a token: the data must stay as it is
    head = head_view_html(att, tokens, vendor_dir=None)
    assert ".text(layer + 1));" in head
    assert '".text(layer));"' in head  # the token, untouched
    model = model_view_html(att, ["a", "b", "c"], vendor_dir=None)
    assert ".text(config.heads[i] + 1)" in model and ".text(config.layers[i] + 1)" in model
    assert "(config.layers[layerIndex] + 1)" in model and "(config.heads[headIndex] + 1)" in model


# ============================================================================ the Attention page
@pytest.fixture(scope="module")
def teaching_checkpoints(tiny_bert, tmp_path_factory):
    """A mean-pooling checkpoint with three classes and a [CLS]-pooling one with two."""
    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    root = tmp_path_factory.mktemp("teaching_checkpoints")
    for name, pooling, labels in (("mean3", "mean", ["neg", "neutral", "pos"]), ("cls2", "cls", ["neg", "pos"])):
        cfg = ModelConfig(
            backbone=tiny_bert, method="deebert", max_length=16, task="toy", labels=labels, pooling=pooling
        )
        save_checkpoint(build_model(cfg), root / name)
    return root


def run_page(root, monkeypatch, page=None, **query):
    pytest.importorskip("streamlit")
    from apptest import run_app

    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(root))
    return run_app(page, **query)


def chart_titles(at) -> list[str]:
    from apptest import charts

    return [chart.spec["layout"]["title"]["text"] for chart in charts(at)]


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_attention_page_says_the_heads_read_the_mean(teaching_checkpoints, monkeypatch):
    at = run_page(teaching_checkpoints, monkeypatch, "pages/2_Attention.py", ckpt="mean3")
    titles = [t.replace("<br>", " ") for t in chart_titles(at)]  # long titles break in two for a phone
    assert titles[0].startswith("What the heads read") and "mean over tokens" in titles[0]
    assert titles[1].startswith("Cumulative [CLS] attention: what [CLS] attends to")
    assert "the heads read the mean over tokens" in captions(at).lower()


def test_attention_page_says_the_heads_read_cls(teaching_checkpoints, monkeypatch):
    at = run_page(teaching_checkpoints, monkeypatch, "pages/2_Attention.py", ckpt="cls2")
    titles = chart_titles(at)
    assert titles[0].startswith("Cumulative [CLS] attention") and not any("What the heads read" in t for t in titles)
    assert "The heads read [CLS]" in captions(at)


def test_attention_pages_choices_come_back_from_a_link(teaching_checkpoints, monkeypatch):
    # the head and the two switches were not in the link: a shared Attention view came back as the default
    at = run_page(teaching_checkpoints, monkeypatch, "pages/2_Attention.py", ckpt="cls2", att_head="head 2",
                  att_after="true", att_special="false")
    assert at.selectbox(key="att_head").value == 1  # heads numbered from 1 in the link as on the page
    assert at.toggle(key="att_after").value is True and at.toggle(key="att_special").value is False
    titles = " ".join(chart_titles(at))
    assert "head 2" in titles, titles


# ============================================================================ the entropy slider's range
def test_deebert_entropy_threshold_runs_to_log_c():
    import math

    from eeviz.methods.base import RuleSpec

    spec = RuleSpec(name="e", param="e", default=0.1, sweep=(0.1,), label="S", maximum=1.1, maximum_per_class=True)
    assert spec.maximum_for(2) == 0.7  # log 2 = 0.693, rounded up to the step
    assert spec.maximum_for(3) == 1.1
    assert spec.maximum_for(10) == 2.31 and spec.maximum_for(10) >= math.log(10)
    assert spec.maximum_for(None) == 1.1 and spec.maximum_for(1) == 1.1  # unknown / regression: the fallback
    plain = RuleSpec(name="p", param="p", default=0.1, sweep=(0.1,), label="p", maximum=0.9)
    assert plain.maximum_for(10) == 0.9


def entropy_slider_max(at) -> float:
    sliders = [s for s in at.slider if s.key == "t_deebert_entropy"]
    assert sliders, "no entropy slider"
    return sliders[0].max


def test_deebert_entropy_slider_follows_the_checkpoints_classes(teaching_checkpoints, monkeypatch):
    assert entropy_slider_max(run_page(teaching_checkpoints, monkeypatch, ckpt="cls2")) == pytest.approx(0.7)
    assert entropy_slider_max(run_page(teaching_checkpoints, monkeypatch, ckpt="mean3")) == pytest.approx(1.1)


def test_a_link_entropy_above_log_c_is_dropped_with_a_note(teaching_checkpoints, monkeypatch):
    at = run_page(teaching_checkpoints, monkeypatch, ckpt="cls2", t_deebert_entropy="1.0")
    assert entropy_slider_max(at) == pytest.approx(0.7)
    notes = [w.value.replace("\\", "") for w in at.warning]  # markdown-escaped
    assert any("out of range" in n and "from 0 to 0.7" in n for n in notes), notes


# ============================================================================ a long input is said to be cut
def test_find_cut_names_the_unread_words(tiny_bert):
    from transformers import AutoTokenizer

    from eeviz.truncation import find_cut

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    short = find_cut(tokenizer, "good movie", None, 16)
    assert short.unread_tokens == 0 and short.total_tokens == 4
    text = "the movie was fun and the acting was good but the plot was dull and the story was the worst"
    cut = find_cut(tokenizer, text, None, 8)  # [CLS] + 6 words + [SEP] are read
    assert cut.total_tokens == 22 and cut.unread_tokens == 14
    assert cut.unread_text == "acting was good but the plot was dull and the story was the worst"
    pair = find_cut(tokenizer, text, "boring", 8)
    assert pair.unread_tokens == 24 - 8 and pair.unread_text == ""


def test_explore_says_when_the_input_was_cut(teaching_checkpoints, monkeypatch):
    long_text = " ".join(["the movie was fun"] * 6) + " but the plot was the worst"
    at = run_page(teaching_checkpoints, monkeypatch, ckpt="cls2", text=long_text)
    notes = [w.value.replace("\\", "") for w in at.warning]
    assert any(n.startswith("**The input was cut**") and "the plot was the worst" in n for n in notes), notes
    at = run_page(teaching_checkpoints, monkeypatch, ckpt="cls2", text="good movie")
    assert not any("was cut" in w.value for w in at.warning)
    at = run_page(teaching_checkpoints, monkeypatch, "pages/2_Attention.py", ckpt="cls2", text=long_text)
    assert any("was cut" in w.value for w in at.warning)


# ============================================================================ plain words
def test_layer_table_and_compare_table_use_plain_words():
    from eeviz.app.figures import plain_columns
    from eeviz.plots.style import unicode_subscripts
    from eeviz.methods import get_method
    from eeviz.plots import compare_table
    from eeviz.trace import Decision, Trace

    method_cls = next(get_method(n) for n in __import__("eeviz.methods", fromlist=["x"]).available_methods()
                      if get_method(n).signal_names and len(get_method(n).rules) > 1)
    key, plain = next(iter(method_cls.signal_names.items()))
    trace = Trace(method=method_cls.name, text="x", text_b=None, tokens=["x"], labels=["a", "b"],
                  logits=np.zeros((2, 2), dtype=np.float32), signals={key: np.array([0.1, 0.2])})
    import pandas as pd

    frame = plain_columns(pd.DataFrame({"layer": [1, 2], key: [0.1, 0.2], f"rule {key}": [0, 1]}), trace)
    plain = unicode_subscripts(plain)  # a table header holds no <sub>: "H(p_i)" reads "H(pᵢ)"
    assert list(frame.columns) == ["layer", plain, f"rule {plain}"]
    assert all("_i" not in c for c in frame.columns)
    rule = next(name for name, r in method_cls.rules.items() if r.spec.display != name)
    decision = Decision(rule, {}, 1, 0, np.array([0.5, 0.5]), {}, "a")
    table = compare_table({"c": trace}, {"c": decision}, {})
    assert table["rule"].tolist() == [method_cls.rules[rule].spec.display]


# ============================================================================ colours on light and dark themes
LIGHT_BG, DARK_BG = (255, 255, 255), (14, 17, 23)  # Streamlit's light and dark page backgrounds


def rgb(color: str) -> tuple[float, ...]:
    """(r, g, b[, a]) of '#RRGGBB' or 'rgba(r, g, b, a)'."""
    if color.startswith("#"):
        return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(float(v) for v in color[color.index("(") + 1 : -1].split(","))


def contrast(a, b) -> float:
    def lum(c):
        ch = [v / 255 for v in c[:3]]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_threshold_line_and_label_read_on_both_themes():
    import plotly.graph_objects as go

    from eeviz import plots

    fig = go.Figure(go.Scatter(x=[1, 2], y=[0.1, 0.9]))
    from eeviz.plots.style import threshold_line

    threshold_line(fig, 0.5, "S")
    (line,) = [s for s in fig.layout.shapes if s.name == plots.THRESHOLD]
    (label,) = [d for d in fig.data if d.name == "S = 0.5"]  # its words: a legend entry drawn like the line
    for color in (line.line.color, label.line.color):
        assert contrast(rgb(color), LIGHT_BG) >= 3 and contrast(rgb(color), DARK_BG) >= 3, color


def test_flag_cells_and_veils_are_not_white():
    from eeviz.plots.traces import flags_figure

    fig = flags_figure({"window full": [0, 1, 1], "window ok": [0, 0, 1]}, "flags", exit_layer=2)
    off = fig.data[0].colorscale[0][1]
    # a mid grey: set off from a white page and from a dark one (not the near-white cells that glared)
    assert contrast(rgb(off), LIGHT_BG) >= 2 and contrast(rgb(off), DARK_BG) >= 2, off
    for shape in fig.layout.shapes:
        assert (shape.fillcolor or "").lower() not in ("white", "#ffffff")


def test_unicode_subscripts_write_a_methods_short_subscripts_only():
    from eeviz.plots.style import unicode_subscripts

    assert unicode_subscripts("entropy H(p_i)") == "entropy H(pᵢ)"
    assert unicode_subscripts("p(i|λ_p) and x_ij") == "p(i|λₚ) and xᵢⱼ"
    # words and characters Unicode has no subscript of stay as written
    assert unicode_subscripts("snake_case_name") == "snake_case_name"
    assert unicode_subscripts("z_q, 3_i") == "z_q, 3_i"
