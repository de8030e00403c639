"""Cached features of a frozen backbone give the very signals the full network gives."""

import pytest
import torch

from eeviz.config import ModelConfig
from eeviz.features import FeatureCollate, cache_summaries, encoder_frozen
from eeviz.methods import available_methods
from eeviz.model import SUMMARIES, build_model

TEXTS = ["the movie is good", "bad plot and awful acting", "not very funny", "great fun", "a film"]


@pytest.mark.parametrize("method", available_methods())
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_signals_from_cached_summaries_equal_the_full_pass(tiny_bert, method, pooling, tmp_path, monkeypatch):
    monkeypatch.setenv("EEVIZ_CACHE", str(tmp_path))
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_bert, method=method, labels=["neg", "pos"], pooling=pooling)).eval()
    batches = [model.tokenize(TEXTS[:3]), model.tokenize(TEXTS[3:])]
    cached = cache_summaries(model, batches)
    assert cached.shape == (model.num_layers, len(TEXTS), model.runner.hidden_size)
    collate = FeatureCollate(cached, torch.tensor([0, 1, 0, 1, 1]))
    for rows, batch in ((range(0, 3), batches[0]), (range(3, 5), batches[1])):
        with torch.no_grad():
            full, _ = model.forward_all(batch)
            from_cache, _ = model.forward_all(collate(list(rows)))
        assert set(full) == set(from_cache)
        for key in full:
            torch.testing.assert_close(from_cache[key], full[key], rtol=1e-5, atol=1e-5)
    assert collate([4, 1])["labels"].tolist() == [1, 1] and collate([4, 1])[SUMMARIES].shape[1] == 2


def test_only_the_encoder_is_frozen(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method=available_methods()[0], labels=["a", "b"]))
    names = [n for n, _ in model.named_parameters()]
    frozen = [n for n in names if encoder_frozen(n)]
    assert frozen and all(n.startswith("runner.") for n in frozen)
    assert not any("pooler" in n for n in frozen)
    assert not any(encoder_frozen(n) for n in names if n.startswith("method."))


def test_features_are_computed_once_per_content(tiny_bert, tmp_path, monkeypatch):
    from eeviz.features import cache_dir

    monkeypatch.setenv("EEVIZ_CACHE", str(tmp_path))
    model = build_model(ModelConfig(backbone=tiny_bert, method=available_methods()[0], labels=["a", "b"])).eval()
    batches = [model.tokenize(TEXTS)]
    first = cache_summaries(model, batches)
    files = list(cache_dir().glob("*.safetensors"))
    assert len(files) == 1
    calls = []
    monkeypatch.setattr("eeviz.features.compute_summaries", lambda *a, **k: calls.append(1))
    assert torch.equal(cache_summaries(model, batches), first) and not calls  # read back, not recomputed
    monkeypatch.undo()
    monkeypatch.setenv("EEVIZ_CACHE", str(tmp_path))
    files[0].write_bytes(b"broken")  # a broken file is computed again, and replaced
    assert torch.equal(cache_summaries(model, batches), first)
    with torch.no_grad():  # another encoder is another file
        next(p for n, p in model.named_parameters() if n.startswith("runner.") and "pooler" not in n).add_(1.0)
    assert not torch.equal(cache_summaries(model, batches), first)
    assert len(list(cache_dir().glob("*.safetensors"))) == 2
