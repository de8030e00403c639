"""The layer-by-layer runner must reproduce the model's own forward exactly, for every backbone kind."""

import pytest
import torch

from eeviz.config import ModelConfig
from eeviz.model import build_model

TEXTS = ["the movie is good", "bad plot and awful acting, but funny"]


@pytest.mark.parametrize("kind", ["bert", "roberta", "albert"])
def test_runner_matches_hf_forward(tiny_backbones, kind):
    model = build_model(ModelConfig(backbone=tiny_backbones[kind], method="pabee")).eval()
    batch = model.tokenize(TEXTS)
    with torch.no_grad():
        ref = model.runner.model(**batch, output_hidden_states=True, output_attentions=True)
        hidden, mask = model._embed(batch)
        assert torch.equal(hidden, ref.hidden_states[0])
        for i in range(model.num_layers):
            hidden, att = model.runner.layer(i, hidden, mask, output_attentions=True)
            assert torch.equal(hidden, ref.hidden_states[i + 1]), f"{kind} layer {i + 1} differs"
            assert torch.equal(att, ref.attentions[i])
        if model.runner.has_pooler:
            assert torch.allclose(model.pool(model.summarize(hidden, mask)), ref.pooler_output)


def test_attention_rows_sum_to_one_and_padding_ignored(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee")).eval()
    batch = model.tokenize(TEXTS)
    with torch.no_grad():
        _, att = model.forward_all(batch, output_attentions=True)
    assert len(att) == model.num_layers
    assert torch.allclose(att[0].sum(-1), torch.ones_like(att[0].sum(-1)), atol=1e-5)
    pad = batch["attention_mask"][0] == 0  # the shorter sentence is padded
    assert pad.any()
    assert float(att[0][0][..., pad].abs().max()) < 1e-6


def test_mean_pooling_ignores_padding(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee", pooling="mean")).eval()
    with torch.no_grad():
        padded, _ = model.forward_all(model.tokenize(TEXTS))  # the first sentence gets padded
        alone, _ = model.forward_all(model.tokenize(TEXTS[:1]))
        torch.testing.assert_close(padded["logits"][:, 0], alone["logits"][:, 0], atol=1e-5, rtol=1e-4)
        batch = model.tokenize(TEXTS[:1])
        hidden, mask = model._embed(batch)
        hidden, _ = model.runner.layer(0, hidden, mask)
        torch.testing.assert_close(model.summarize(hidden, mask), hidden.mean(1))
    cls = build_model(ModelConfig(backbone=tiny_bert, method="pabee", pooling="cls")).eval()
    with torch.no_grad():
        hidden, mask = cls._embed(model.tokenize(TEXTS))
        assert torch.equal(cls.summarize(hidden, mask), hidden[:, 0])


def test_a_backbone_saved_in_half_precision_loads_with_float32_weights(tiny_bert, tmp_path):
    # transformers 5 keeps a file's stored dtype; training needs float32 master weights (autocast does the rest)
    from transformers import AutoModel, AutoTokenizer

    from eeviz.backbone import load_backbone

    folder = tmp_path / "half"
    AutoModel.from_pretrained(tiny_bert, attn_implementation="eager").half().save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    model, _ = load_backbone(str(folder))
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_misspelt_backbone_name_gets_one_line_with_the_name_it_is_close_to(monkeypatch):
    """The hub's message was several lines about offline mode, ending in ".."; a near miss of a short name is
    named."""
    from eeviz.backbone import BackboneError, load_backbone

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneError) as err:
        load_backbone("minlm")
    message = str(err.value)
    assert "\n" not in message and "not a local folder" in message and "did you mean 'minilm'?" in message
    with pytest.raises(BackboneError, match="the offline default backbone is 'minilm'"):
        load_backbone("bert-base-uncasedd")
