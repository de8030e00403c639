"""Layer-by-layer playback (eeviz.plots.playback): frames, the revealed layers, the sentences, the exit."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from eeviz import plots
from eeviz.methods import available_methods, get_method
from eeviz.methods.base import CONTINUE_WORDS, EXIT_WORDS
from eeviz.methods.deebert import DeebertMethod, EntropyRule
from eeviz.methods.elbert import ElbertMethod
from eeviz.methods.pabee import PabeeMethod, PatienceRule
from eeviz.methods.pondernet import PonderNetMethod
from eeviz.plots.playback_parts import CURRENT
from eeviz.plots.style import STOP_COLOR, STOP_LABEL, STOP_SYMBOL
from eeviz.trace import Trace, replay

P = [0.55, 0.7, 0.8, 0.85, 0.9, 0.95]  # p(class 1) per layer of a 6-layer binary toy


def make_trace(p_second, method="pabee", labels=("neg", "pos"), signals=None, tokens=("[CLS]", "a", "[SEP]"),
               attentions=True) -> Trace:
    p = np.asarray(p_second, dtype=np.float64)
    logits = np.log(np.stack([1 - p, p], axis=1)).astype(np.float32)
    num_layers, num_tokens = len(p), len(tokens)
    att = None
    if attentions:
        rng = np.random.default_rng(0)
        att = rng.random((num_layers, 2, num_tokens, num_tokens)).astype(np.float32)
        att /= att.sum(-1, keepdims=True)
    return Trace(method=method, text="a", tokens=list(tokens), labels=list(labels), logits=logits,
                 signals=dict(signals or {}), attentions=att)


def toy_case(method: str, rule: str):
    """A method's own toy signals (its ``toy``) over ``P``, replayed with ``rule`` at its default."""
    cls = get_method(method)
    toy = cls.toy(P, {k.key: k.default for k in cls.toy_knobs(len(P))})
    trace = make_trace(P, method=method, signals=toy.signals)
    decision = replay(trace, cls.rules[rule](len(P)))
    return cls, trace, decision, cls.figure_inputs(toy.args or cls.Args(), trace, decision, 1)


CASES = [(m, r) for m in available_methods() for r in get_method(m).rules]


def visible(shapes, name):
    return [s for s in shapes if s.name == name and s.visible is not False]


def frame_points(frame) -> list[int]:
    """How many layers each line or bar series of a frame shows."""
    return [len(d.y) for d in frame.data if d.type in ("scatter", "bar")]


# ============================================================================================ one decision
@pytest.mark.parametrize("method,rule", CASES)
def test_every_rule_plays_back_layer_by_layer(method, rule):
    cls, trace, decision, inputs = toy_case(method, rule)
    fig = plots.playback_figure(trace, decision, cls, inputs)
    go.Figure(fig.to_dict())  # the unvalidated build is a valid figure
    num_layers, exit_layer = trace.num_layers, decision.exit_layer
    assert [f.name for f in fig.frames] == [str(k) for k in range(1, num_layers + 1)]
    assert len(fig.layout.sliders[0].steps) == num_layers
    for layer, frame in enumerate(fig.frames, start=1):
        shown = min(layer, exit_layer)
        assert frame_points(frame) and set(frame_points(frame)) == {shown}
        for d in frame.data:
            if d.type == "scatter":
                assert list(d.x) == list(range(1, shown + 1))
        # the same number of shapes in every frame: plotly merges them item by item
        assert len(frame.layout.shapes) == len(fig.frames[0].layout.shapes)
        assert bool(visible(frame.layout.shapes, plots.EXIT)) == (layer >= exit_layer)
        assert bool(visible(frame.layout.shapes, "current")) == (layer <= exit_layer)
    titles = [f.layout.title.text.replace("<br>", " ") for f in fig.frames]
    assert len(set(titles[:exit_layer])) == exit_layer  # a new sentence at every computed layer
    assert f"exit at layer {exit_layer}" in titles[exit_layer - 1]
    assert EXIT_WORDS in titles[exit_layer - 1]
    assert all(CONTINUE_WORDS in t for t in titles[: exit_layer - 1])
    assert fig.layout.sliders[0].steps[exit_layer - 1].label == f"{exit_layer} · exit"
    # the exit line carries no words (along the line they ran into the chart's title): the first key says it
    assert all(not s.label.text for s in visible(fig.frames[-1].layout.shapes, plots.EXIT))
    # the key says "exit" without its layer: frame 1 must not tell where the exit will be
    assert "┆ exit</span>" in fig.layout.annotations[0].text and "layer" not in fig.layout.annotations[0].text
    # every frame's title in the same style: "layer ℓ:" bold, the words in a span of normal weight (Streamlit wraps
    # the layout's title, the first frame's, in <b>…</b>; the span keeps its words as in the other frames)
    assert fig.layout.title.text == fig.frames[0].layout.title.text
    assert all(f.layout.title.text.startswith(f"<b>layer {k}:</b> <span style=\"font-weight:normal\">")
               for k, f in enumerate(fig.frames, start=1))
    # play runs layers 1..exit and stops there
    assert list(fig.layout.updatemenus[0].buttons[0].args[0]) == [str(k) for k in range(1, exit_layer + 1)]


def test_layers_after_the_exit_are_not_computed():
    trace = make_trace(P)
    decision = replay(trace, PatienceRule(6, patience=1))  # layers 1 and 2 agree: exit at 2
    assert decision.exit_layer == 2
    fig = plots.playback_figure(trace, decision, PabeeMethod)
    for layer in (3, 6):
        frame = fig.frames[layer - 1]
        assert set(frame_points(frame)) == {2}
        skipped = visible(frame.layout.shapes, plots.SKIPPED)
        assert skipped and all(s.label.text == "not computed" for s in skipped)
        assert {(s.x0, s.x1) for s in skipped if s.xref == "x"} == {(2.5, 6.5)}
        assert "not computed" in frame.layout.title.text.replace("<br>", " ")
    assert fig.layout.sliders[0].steps[4].label == "(5)"
    assert not visible(fig.frames[0].layout.shapes, plots.SKIPPED)


def test_patience_sentences_count_agreeing_layers():
    trace = make_trace(P)
    decision = replay(trace, PatienceRule(6, patience=2))
    sentences = plots.layer_sentences(trace, decision, PabeeMethod)
    assert sentences[0].startswith("layer 1: the first prediction")
    assert "counter 1 < t = 2 → continue" in sentences[1]
    assert sentences[2].startswith("layer 3: layers 1–3 predict the same class: counter 2 = t → exit")
    assert sentences[3] == "layer 4: not computed, the model left at layer 3 with “pos” (80%)"
    changed = make_trace([0.8, 0.3, 0.2, 0.1, 0.1, 0.1])
    words = plots.layer_sentences(changed, replay(changed, PatienceRule(6, patience=2)), PabeeMethod)
    assert "the prediction changed" in words[1]
    never = plots.layer_sentences(trace, replay(trace, PatienceRule(6, patience=0)), PabeeMethod)
    assert "t = 0 never exits early" in never[0] and "the last layer always answers → exit" in never[5]


def test_generic_sentence_compares_the_rules_series_with_its_threshold():
    trace = make_trace([0.6, 0.9, 0.99])
    decision = replay(trace, EntropyRule(3, entropy=0.5))
    words = plots.layer_sentences(trace, decision, DeebertMethod)
    assert words[0] == "layer 1: entropy H(pᵢ) 0.67 ≥ S = 0.5 → continue"  # the subscript drawn, as in the charts
    assert words[1].startswith("layer 2: entropy H(pᵢ) 0.33 < S = 0.5 → exit.")
    # the rule's own test decides, and the last layer always answers
    late = plots.layer_sentences(trace, replay(trace, EntropyRule(3, entropy=0.01)), DeebertMethod)
    assert late[2].startswith("layer 3: entropy H(pᵢ) 0.06 ≥ S = 0.01, but the last layer always answers → exit")


def test_a_number_never_looks_equal_to_the_threshold_it_misses():
    rule = EntropyRule(6, entropy=0.5)
    assert "0.4996 < S = 0.5 → exit" in rule.describe(2, {"entropy": 0.4996}, {})
    assert "0.5004 ≥ S = 0.5 → continue" in rule.describe(2, {"entropy": 0.5004}, {})


def test_window_and_sampling_sentences():
    cls, trace, decision, _ = toy_case("elbert", "two_stage")
    words = plots.layer_sentences(trace, decision, ElbertMethod)
    assert "window of N = 2 layers is not filled yet → continue" in words[0]
    assert "(stage 2) → exit" in words[decision.exit_layer - 1]
    cls, trace, decision, _ = toy_case("pondernet", "sampling")
    words = plots.layer_sentences(trace, decision, PonderNetMethod)
    assert "random draw u_i" in words[0] and "λ_i" in words[0]
    cls, trace, decision, _ = toy_case("pondernet", "expectation")
    words = plots.layer_sentences(trace, decision, PonderNetMethod)
    assert decision.exit_layer == 6 and "never exits early → continue" in words[0]
    assert "the sum over all layers is the answer → exit" in words[5]


def test_threshold_line_and_firing_layers_on_the_rules_chart():
    trace = make_trace([0.6, 0.9, 0.99])
    decision = replay(trace, EntropyRule(3, entropy=0.5))
    fig = plots.playback_figure(trace, decision, DeebertMethod)
    (line,) = visible(fig.layout.shapes, plots.THRESHOLD)
    assert line.y0 == line.y1 == 0.5
    assert not line.label.text  # its words are in the chart's key, not on the line (they sat on the bars)
    keys = [a.text for a in fig.layout.annotations if "S = 0.5" in a.text]
    assert len(keys) == 1 and f'<span style="color:{STOP_COLOR}">◆ {STOP_LABEL}</span>' in keys[0]
    entropy = [d for d in fig.frames[1].data if d.type == "scatter"][-1]
    assert list(entropy.marker.color) == [plots.SERIES_COLORS[0], STOP_COLOR]
    assert list(entropy.marker.symbol) == ["circle", STOP_SYMBOL]
    # its own chart names the series on its y axis, as the class probabilities say "probability"
    y_titles = [fig.layout[f"yaxis{k if k > 1 else ''}"].title.text for k in (1, 2)]
    assert y_titles[0] == "probability" and "entropy" in y_titles[1]


def test_attention_reveals_rows_up_to_the_exit():
    trace = make_trace(P)
    decision = replay(trace, PatienceRule(6, patience=1))
    fig = plots.playback_figure(trace, decision, PabeeMethod)
    heat = [d for d in fig.frames[3].data if d.type == "heatmap"][-1]
    filled = [any(v is not None for v in row) for row in heat.z]
    assert filled == [True, True, False, False, False, False]
    no_attention = plots.playback_figure(make_trace(P, attentions=False), decision, PabeeMethod)
    assert not [d for d in no_attention.data if d.type == "heatmap"]


def test_attention_chart_shows_what_the_heads_read_as_the_attention_page_does():
    """A mean-pooling model's heads read the mean over tokens: the chart shows the attention into it (the
    Attention page's numbers, heads averaged) and says so; a [CLS]-pooling model's shows [CLS]'s row."""
    from eeviz.attention import pooled_attention

    trace = make_trace(P)
    decision = replay(trace, PatienceRule(6, patience=1))

    def chart(pooling):
        fig = plots.playback_figure(trace, decision, PabeeMethod, pooling=pooling)
        heat = [d for d in fig.frames[-1].data if d.type == "heatmap"][-1]
        titles = [a.text.replace("<br>", " ") for a in fig.layout.annotations]  # titles wrap
        return np.array([[np.nan if v is None else v for v in row] for row in heat.z], dtype=float), titles

    mean_rows, mean_titles = chart("mean")
    cls_rows, cls_titles = chart("cls")
    expected_mean = pooled_attention(trace.attentions, pooling="mean").mean(axis=1)
    expected_cls = np.asarray(trace.cls_cumulative).mean(axis=1)
    shown = ~np.isnan(mean_rows)
    assert shown[:decision.exit_layer].all()
    assert np.allclose(mean_rows[shown], expected_mean[shown], atol=6e-4)  # frames hold 3 decimals
    assert np.allclose(cls_rows[shown], expected_cls[shown], atol=6e-4)
    assert not np.allclose(expected_mean, expected_cls)  # the two views differ on this trace
    assert any("mean over tokens" in t for t in mean_titles) and not any("[CLS]" in t for t in mean_titles)
    assert any("into [CLS]" in t for t in cls_titles)


def test_markup_in_labels_tokens_and_sentences_is_escaped():
    trace = make_trace(P, labels=("neg & co", "<b>pos</b>"), tokens=("[CLS]", "<br>", "<a href=x>", "[SEP]"))
    decision = replay(trace, PatienceRule(6, patience=2))
    fig = plots.playback_figure(trace, decision, PabeeMethod)
    assert [d.name for d in fig.data[:2]] == ["neg &amp; co", "&lt;b&gt;pos&lt;/b&gt;"]
    ticks = [a.ticktext for a in (fig.layout[k] for k in fig.layout if k.startswith("xaxis")) if a.ticktext]
    assert ticks == [("[CLS]", "&lt;br&gt;", "&lt;a href=x&gt;", "[SEP]")]
    assert "“&lt;b&gt;pos&lt;/b&gt;”" in fig.frames[2].layout.title.text.replace("<br>", " ")


def test_regression_and_an_unknown_method_still_play():
    trace = Trace(method="mystery", text="a", tokens=[], labels=[], logits=np.array([[0.2], [0.5], [0.55]], "f4"),
                  signals={"score": np.array([0.9, 0.4, 0.1])})
    decision = replay(trace, PatienceRule(3, patience=1, tolerance=0.1))
    fig = plots.playback_figure(trace, decision)  # no method class: bare names and bare decisions
    go.Figure(fig.to_dict())
    assert decision.exit_layer == 3 and len(fig.frames) == 3
    assert fig.frames[0].layout.title.text.endswith("→ continue</span>")


# ============================================================================================ several checkpoints
def test_compare_playback_steps_every_checkpoint_together():
    short, long_ = make_trace(P, method="pabee"), make_trace(P[:4], method="deebert")
    traces = {"a": short, "b": long_}
    decisions = {"a": replay(short, PatienceRule(6, patience=1)), "b": replay(long_, EntropyRule(4, entropy=0.0))}
    assert decisions["a"].exit_layer == 2 and decisions["b"].exit_layer == 4
    fig = plots.compare_playback_figure(traces, decisions, {"a": "<i>A</i>", "b": "B"})
    go.Figure(fig.to_dict())
    assert [f.name for f in fig.frames] == [str(k) for k in range(1, 7)]
    for layer, frame in enumerate(fig.frames, start=1):
        z = frame.data[0].z
        assert [sum(v is not None for v in row) for row in z] == [min(layer, 2), min(layer, 4)]
        exits = visible(frame.layout.shapes, plots.EXIT)
        assert len(exits) == (layer >= 2) + (layer >= 4)
        assert len(frame.layout.shapes) == len(fig.frames[0].layout.shapes)
    titles = [f.layout.title.text.replace("<br>", " ") for f in fig.frames]
    assert "exit now: &lt;i&gt;A&lt;/i&gt;" in titles[1]
    assert "already out: &lt;i&gt;A&lt;/i&gt; at layer 2" in titles[2]
    status = [a.text for a in fig.frames[1].layout.annotations]
    assert status[0].startswith("<b>&lt;i&gt;A&lt;/i&gt;</b>") and "◀ exits here: pos (" in status[0]
    assert status[1].startswith("<b>B</b>") and "running…" in status[1]
    assert "left at layer 2" in fig.frames[2].layout.annotations[0].text
    # the layer shown is framed on each row's cells, clear of the names written in the gaps between the rows
    for frame in fig.frames[:4]:
        current = visible(frame.layout.shapes, CURRENT)
        assert sorted((s.y0 + s.y1) / 2 for s in current) == [0, 1]
        assert all(s.yref == "y" and s.y1 - s.y0 < 1 for s in current)
        names_at = [a.y for a in frame.layout.annotations]  # the row titles, in the gaps
        assert not any(s.y0 < y < s.y1 for s in current for y in names_at)
    skipped = visible(fig.frames[5].layout.shapes, plots.SKIPPED)
    assert [(s.x0, s.x1) for s in skipped] == [(2.5, 6.5)]  # B computes all of its 4 layers
    assert [b.label for b in fig.layout.sliders[0].steps][:4] == ["1", "2 · exit", "3", "4 · exit"]
    hover = fig.data[0].hovertext
    assert hover[0][1].startswith("&lt;i&gt;A&lt;/i&gt; · layer 2: layers 1–2 predict the same class")


# ============================================================================================ looks like the static charts
def test_rule_flags_cells_say_yes_or_no_up_to_the_layer_shown():
    cls, trace, decision, inputs = toy_case("elbert", "two_stage")
    fig = plots.playback_figure(trace, decision, cls, inputs)
    (flags,) = [d for d in fig.data if d.type == "heatmap" and d.texttemplate]
    assert flags.texttemplate == "%{text}"
    exit_layer = decision.exit_layer
    frame = fig.frames[exit_layer - 1]
    (cells,) = [d for d in frame.data if d.type == "heatmap" and d.text is not None]
    for row_z, row_text in zip(cells.z, cells.text):
        shown = list(row_text[:exit_layer])
        assert shown == ["yes" if v else "no" for v in row_z[:exit_layer]]
        assert set(row_text[exit_layer:]) <= {""}  # layers not computed have no words
    assert {"yes", "no"} & {t for row in cells.text for t in row}


def test_playback_colours_match_the_static_charts():
    """The rule's series on a chart of its own is drawn in the static figure's colour (ELBERT's puzzlement was
    orange in the playback and blue in the chart below it); a method panel's lines keep the panel's colours."""
    cls, trace, decision, inputs = toy_case("elbert", "two_stage")
    static = plots.decision_panels(trace, decision, cls.rules["two_stage"].spec, method=cls, inputs=inputs)
    fig = plots.playback_figure(trace, decision, cls, inputs)
    compared = set()
    for panel in static:
        for d in panel.figure.data:
            if d.type != "scatter" or d.x[0] is None or d.line.color is None:
                continue
            same = [p for p in fig.data if p.type == "scatter" and p.name == d.name]
            if same:
                assert same[0].line.color == d.line.color, (panel.title, d.name)
                compared.add(d.name)
    # the rule's own chart (puzzlement) and a method panel's line (the window's confidence) were both compared
    assert cls.series_name("puzzlement") in compared and len(compared) >= 2


def test_slider_and_buttons_are_not_near_white():
    """Plotly's default rail and buttons are near-white: a glaring bar on the dark theme."""
    trace = make_trace(P)
    fig = plots.playback_figure(trace, replay(trace, PatienceRule(6, patience=2)), PabeeMethod)
    slider, buttons = fig.layout.sliders[0], fig.layout.updatemenus[0]
    for color in (slider.bgcolor, slider.bordercolor, slider.activebgcolor, buttons.bgcolor):
        assert color is not None
        assert "rgba(128,128,128" in color or color == plots.THRESHOLD_COLOR, color


def test_the_sentence_sits_under_plotlys_toolbar():
    """Plotly's toolbar shows over the chart's top while the mouse is over it; on a phone it hid the sentence."""
    from eeviz.plots.playback_parts import MODEBAR_PX, TITLE_RISE_PX

    trace, other = make_trace(P), make_trace(P[:4], method="deebert")
    decision = replay(trace, PatienceRule(6, patience=2))
    explore = plots.playback_figure(trace, decision, PabeeMethod)
    compare = plots.compare_playback_figure({"a": trace, "b": other},
                                            {"a": decision, "b": replay(other, EntropyRule(4, entropy=0.0))})
    for fig in (explore, compare):  # both anchored at the top: anchored at its bottom on the grid, plotly ran
        # Compare's sentence of several lines down over the first rows
        title = fig.layout.title
        assert title.yref == "container" and title.y == 1 and title.yanchor == "top"
        assert title.pad.t - TITLE_RISE_PX >= MODEBAR_PX + 4  # its words start under the toolbar
        lines = max(f.layout.title.text.count("<br>") + 1 for f in fig.frames)
        assert fig.layout.margin.t >= title.pad.t + 18 * lines  # and the charts start under its longest sentence


def test_compare_sentence_counts_a_crowd_and_each_row_gives_its_answer():
    """Seven checkpoints named one by one ran the sentence to seven lines, room reserved above the grid in every
    frame; a group of more than one is counted, and each row's own line gives its answer."""
    traces = {f"m{k}": make_trace(P, method="pabee") for k in range(7)}
    decisions = {n: replay(t, PatienceRule(6, patience=1 + k % 3)) for k, (n, t) in enumerate(traces.items())}
    titles = {n: f"ConsistentEE {n} (RL policy)" for n in traces}  # as long as the real ones
    fig = plots.compare_playback_figure(traces, decisions, titles)
    lines = [f.layout.title.text.count("<br>") + 1 for f in fig.frames]
    assert max(lines) <= 3, lines
    exits = sorted({d.exit_layer for d in decisions.values()})
    crowd = fig.frames[exits[0] - 1]
    words = crowd.layout.title.text.replace("<br>", " ")
    leaving = [n for n, d in decisions.items() if d.exit_layer == exits[0]]
    assert len(leaving) > 1 and f"exit now: {len(leaving)} checkpoints" in words
    for name, note in zip(traces, crowd.layout.annotations):
        if name in leaving:  # the row says what it answers, with the probability
            assert f"◀ exits here: {decisions[name].label} (" in note.text and "%)" in note.text


def test_many_token_labels_stand_upright():
    tokens = ["[CLS]", *[f"w{k}" for k in range(20)], "[SEP]"]
    trace = make_trace(P, tokens=tokens)
    fig = plots.playback_figure(trace, replay(trace, PatienceRule(6, patience=2)), PabeeMethod)
    (axis,) = [fig.layout[k] for k in fig.layout if k.startswith("xaxis") and fig.layout[k].ticktext]
    assert axis.tickangle == -90  # slanted labels overlapped on a phone


def test_lambda_looks_the_same_on_every_chart_and_stops_are_keyed():
    cls, trace, decision, inputs = toy_case("pondernet", "sampling")
    fig = plots.playback_figure(trace, decision, cls, inputs)
    lam = [d for d in fig.data if d.type == "scatter" and d.name.startswith("λ<sub>i</sub>")]
    assert len(lam) == 2  # the halting distribution and the rule's state
    assert {(d.line.color, d.line.dash) for d in lam} == {(plots.SERIES_COLORS[2], "dot")}
    cls, trace, decision, inputs = toy_case("pondernet", "q_exit")
    fig = plots.playback_figure(trace, decision, cls, inputs)
    index = next(i for i, d in enumerate(fig.data) if d.type == "scatter" and d.name == "CDF")
    cdf = fig.frames[decision.exit_layer - 1].data[index]  # frames carry only what changes
    assert list(cdf.marker.symbol)[-1] == STOP_SYMBOL and list(cdf.marker.color)[-1] == STOP_COLOR
    assert any(STOP_LABEL in a.text for a in fig.layout.annotations)


def test_a_stopping_bar_is_hatched_frame_by_frame_and_its_key_says_so():
    """PABEE's counter is a bar chart: the bar where the rule would stop was told apart by its colour alone
    (the same grey as the others to a colour-blind eye and in greyscale); it is hatched too, in every frame."""
    trace = make_trace([0.8, 0.7, 0.9, 0.2])  # pos pos pos neg: counter 0, 1, 2, 0
    decision = replay(trace, PatienceRule(4, patience=2))
    fig = plots.playback_figure(trace, decision, PabeeMethod)
    assert decision.exit_layer == 3
    for layer, frame in enumerate(fig.frames, start=1):
        (bars,) = [d for d in frame.data if d.type == "bar"]
        shown = min(layer, decision.exit_layer)
        assert list(bars.marker.pattern.shape) == ["", "", "x"][:shown]
    keys = [a.text for a in fig.layout.annotations if STOP_LABEL in a.text]
    assert len(keys) == 1 and f"▨ {STOP_LABEL}" in keys[0] and "◆" not in keys[0]
