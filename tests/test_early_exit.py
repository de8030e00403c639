"""True early exit: computes only the layers it reports, per row, and agrees with trace replay."""

import pytest
import torch

from eeviz.config import ModelConfig
from eeviz.model import build_model
from eeviz.trace import replay

from samples import TEXTS


@pytest.fixture(scope="module")
def model(tiny_backbones):
    torch.manual_seed(0)
    m = build_model(ModelConfig(backbone=tiny_backbones["bert"], method="pabee")).eval()
    # make early layers confident and agreeing for some inputs: random heads already give varied exits
    return m


def count_layer_calls(model):
    calls = []
    for i in range(model.num_layers):
        model.runner.layer_module(i).register_forward_hook(lambda mod, inp, out, i=i: calls.append(inp[0].shape[0]))
    return calls


def test_early_exit_runs_only_reported_layers(tiny_backbones):
    m = build_model(ModelConfig(backbone=tiny_backbones["bert"], method="pabee")).eval()
    calls = count_layer_calls(m)
    for text in TEXTS:
        calls.clear()
        res = m.early_exit(m.tokenize([text]), m.make_rule("patience", patience=1))
        assert len(calls) == int(res.exit_layer[0]) == res.layers_run


def test_batched_exit_drops_rows_and_matches_single(model):
    calls = count_layer_calls(model)
    rule_args = dict(patience=1)
    single = [model.early_exit(model.tokenize([t]), model.make_rule("patience", **rule_args)) for t in TEXTS]
    calls.clear()
    batched = model.early_exit(model.tokenize(TEXTS), model.make_rule("patience", **rule_args))
    exits = [int(s.exit_layer[0]) for s in single]
    assert batched.exit_layer.tolist() == exits
    assert batched.layers_run == sum(exits) == sum(calls)
    for s, b in zip(single, batched.probs):
        torch.testing.assert_close(s.probs[0], b, atol=1e-5, rtol=1e-4)


def test_replay_of_trace_matches_true_early_exit(model):
    for patience in (0, 1, 2):
        for text in TEXTS:
            rule = model.make_rule("patience", patience=patience)
            res = model.early_exit(model.tokenize([text]), rule)
            d = replay(model.trace(text), model.make_rule("patience", patience=patience))
            assert d.exit_layer == int(res.exit_layer[0])
            assert d.pred == int(res.preds[0])


def test_batched_exit_with_mean_pooling_matches_single(tiny_backbones):
    # mean pooling reads the padding mask, which shrinks as rows and padding columns leave the batch
    m = build_model(ModelConfig(backbone=tiny_backbones["bert"], method="pabee", pooling="mean")).eval()
    single = [m.early_exit(m.tokenize([t]), m.make_rule("patience", patience=1)) for t in TEXTS]
    batched = m.early_exit(m.tokenize(TEXTS), m.make_rule("patience", patience=1))
    assert batched.exit_layer.tolist() == [int(s.exit_layer[0]) for s in single]
    for s, b in zip(single, batched.probs):
        torch.testing.assert_close(s.probs[0], b, atol=1e-5, rtol=1e-4)
