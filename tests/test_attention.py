"""Cumulative [CLS] attention and rollout against explicit matrix products."""

import numpy as np

from eeviz.attention import attention_rollout, cumulative_cls_attention
from eeviz.config import ModelConfig
from eeviz.model import build_model
from eeviz.trace import Trace


def random_attentions(num_layers=4, heads=3, tokens=5, seed=0):
    """Row-stochastic (L, heads, T, T) attention weights."""
    rng = np.random.default_rng(seed)
    raw = rng.random((num_layers, heads, tokens, tokens)) ** 3
    return raw / raw.sum(-1, keepdims=True)


def test_cumulative_cls_attention_by_hand():
    # one head, two tokens: C^1 = A^1, C^2 = A^2 A^1
    a1 = np.array([[0.5, 0.5], [0.0, 1.0]])
    a2 = np.array([[1.0, 0.0], [0.5, 0.5]])
    a3 = np.array([[0.2, 0.8], [1.0, 0.0]])
    cum = cumulative_cls_attention(np.stack([a1, a2, a3])[:, None])
    # A^2 A^1 = [[0.5, 0.5], [0.25, 0.75]]; A^3 A^2 A^1 row 0 = 0.2*[.5,.5] + 0.8*[.25,.75] = [0.3, 0.7]
    np.testing.assert_allclose(cum[:, 0], [[0.5, 0.5], [0.5, 0.5], [0.3, 0.7]], atol=1e-7)
    # the last token's row (cls_index=1) of A^2 A^1 is [0.25, 0.75]
    np.testing.assert_allclose(cumulative_cls_attention(np.stack([a1, a2])[:, None], cls_index=1)[1, 0], [0.25, 0.75])


def test_cumulative_cls_attention_is_the_product_per_head():
    att = random_attentions()
    cum = cumulative_cls_attention(att)
    assert cum.shape == (4, 3, 5)
    for layer in range(4):
        for head in range(3):
            # C^l = A^l A^(l-1) ... A^1
            product = np.linalg.multi_dot([att[k, head] for k in range(layer, -1, -1)] + [np.eye(5)])
            np.testing.assert_allclose(cum[layer, head], product[0], rtol=1e-5)
    # products of row-stochastic matrices stay row-stochastic
    np.testing.assert_allclose(cum.sum(-1), 1.0, rtol=1e-5)


def test_rollout_is_the_product_of_residual_head_averages():
    att = random_attentions(seed=1)
    rollout = attention_rollout(att)
    eye = np.eye(5)
    product = eye
    for layer in range(4):
        mixed = 0.5 * att[layer].mean(0) + 0.5 * eye
        product = mixed @ product
        np.testing.assert_allclose(rollout[layer], product[0], rtol=1e-5)
    # residual 0 = plain head-averaged product
    plain = attention_rollout(att, residual=0.0)
    np.testing.assert_allclose(plain[1], (att[1].mean(0) @ att[0].mean(0))[0], rtol=1e-5)


def test_rollout_renormalises_rows():
    # rows that do not sum to 1 (e.g. weights after dropout) are renormalised after the residual is added
    att = np.array([[[[0.2, 0.2], [0.0, 0.4]]]])  # (1, 1, 2, 2)
    mixed = np.array([[0.1 + 0.5, 0.1], [0.0, 0.2 + 0.5]])
    expected = mixed[0] / mixed[0].sum()
    np.testing.assert_allclose(attention_rollout(att)[0], expected, rtol=1e-6)


def test_trace_properties_use_the_model_attentions(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method="elbert")).eval()
    tr = model.trace("the movie is not good")
    att = tr.attentions.astype(np.float64)
    num_layers, heads, tokens, _ = att.shape
    np.testing.assert_allclose(att.sum(-1), 1.0, rtol=1e-5)
    product = np.broadcast_to(np.eye(tokens), (heads, tokens, tokens))
    for layer in range(num_layers):
        product = att[layer] @ product
        np.testing.assert_allclose(tr.cls_cumulative[layer], product[:, 0], rtol=1e-4, atol=1e-6)
    assert tr.rollout.shape == (num_layers, tokens)
    no_att = Trace.from_dict({**tr.to_dict(attentions=False)})
    assert no_att.cls_cumulative is None and no_att.rollout is None


def test_attention_heatmaps_say_what_their_colours_are():
    from eeviz.plots import token_heatmap

    fig = token_heatmap(np.full((2, 3), 0.2), ["a", "<b>", "c"], title="t", exit_layer=1)
    assert fig.data[0].colorbar.title.text == "share of attention"  # the colour bar had no title
    assert "share of attention" in fig.data[0].hovertemplate
    assert fig.data[0].customdata[0][1] == "&lt;b&gt;"  # tokens stay text


def test_attention_colour_scales_hold_no_colour_streamlits_theme_would_swap():
    import re

    from eeviz.plots import token_heatmap

    for name in ("Magma", "Inferno", "Viridis"):  # Magma's black is #000004: the theme's placeholder no. 4 (pink)
        scale = token_heatmap(np.full((2, 3), 0.2), ["a", "b", "c"], title="t", colorscale=name).data[0].colorscale
        assert not [c for _, c in scale if re.fullmatch(r"#0000[0-3][0-9a-fA-F]|#000040", c)], (name, scale)
        assert len(scale) > 2  # still the named scale, not a stand-in
