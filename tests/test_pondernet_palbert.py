"""PonderNet and PALBERT: halting distribution, prior, truncated KL, the three rules, training, CLI."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eeviz.checkpoint import save_checkpoint
from eeviz.config import ModelConfig
from eeviz.methods.pondernet import (
    ExpectationRule,
    PonderArgs,
    QExitRule,
    SamplingRule,
    expected_depth,
    geometric_prior,
    halting_distribution,
    sample_exit_layers,
    truncated_kl,
)
from eeviz.model import build_model
from eeviz.tools.trace_cli import main
from eeviz.example_keys import draw_seed, example_keys
from eeviz.passes import collect_signals
from eeviz.trace import Trace, replay, replay_signals
from eeviz.training.optim import parameter_groups
from samples import PLANTED, TEXTS

LAMBDAS = [0.2, 0.5, 0.25, 0.9]
HALT = [0.2, 0.4, 0.1, 0.3]  # 0.2, 0.8*0.5, 0.8*0.5*0.25, and the rest 0.8*0.5*0.75


def train(model, steps=30, lr=3e-3):
    """A plain Adam loop on the planted sentences; returns the eval-mode loss before and after."""
    batch = model.tokenize([t for t, _ in PLANTED])
    labels = torch.tensor([y for _, y in PLANTED])
    overrides = model.method.lr_overrides()
    groups: dict[float, list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            rate = next((r for prefix, r in overrides.items() if name.startswith(prefix)), lr)
            groups.setdefault(rate, []).append(param)
    opt = torch.optim.Adam([{"params": ps, "lr": rate} for rate, ps in groups.items()])

    def eval_loss():
        model.eval()
        with torch.no_grad():
            return model.loss(batch, labels)[0].item()

    before = eval_loss()
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(batch, labels)[0].backward()
        opt.step()
    after = eval_loss()
    return before, after


@pytest.fixture(scope="module")
def trained(tiny_bert):
    """{method: (model, loss before, loss after)} for PonderNet and PALBERT after 30 steps."""
    out = {}
    for method in ("pondernet", "palbert"):
        torch.manual_seed(0)
        model = build_model(ModelConfig(backbone=tiny_bert, method=method, method_args={"prior_lambda": 0.3}))
        before, after = train(model)
        out[method] = (model.eval(), before, after)
    return out


def ponder_trace(lambdas, probs, method="pondernet"):
    """A trace whose signals are the halting quantities of ``lambdas`` and whose layers predict ``probs``."""
    lam = torch.tensor(lambdas, dtype=torch.float64)
    halt = halting_distribution(lam)
    signals = {
        "lambda": lam.float().numpy(),
        "halt_prob": halt.float().numpy(),
        "cdf": torch.cumsum(halt, 0).float().numpy(),
    }
    probs = np.asarray(probs, dtype=np.float64)
    return Trace(method=method, text="x", tokens=["[CLS]", "x", "[SEP]"], labels=["neg", "pos"],
                 logits=np.log(probs).astype(np.float32), signals=signals)


# ------------------------------------------------------------------------------------------ pure functions
def test_halting_distribution_by_hand():
    p = halting_distribution(torch.tensor(LAMBDAS, dtype=torch.float64))
    np.testing.assert_allclose(p.numpy(), HALT, atol=1e-12)
    assert float(p.sum()) == pytest.approx(1.0)
    assert float(expected_depth(p)) == pytest.approx(1 * 0.2 + 2 * 0.4 + 3 * 0.1 + 4 * 0.3)
    # per column of a (L, B) batch; λ_L is ignored: the last layer takes what is left
    batch = torch.tensor([[0.2, 0.5], [0.5, 0.5], [0.25, 0.5], [0.0, 0.1]], dtype=torch.float64)
    np.testing.assert_allclose(halting_distribution(batch)[:, 1].numpy(), [0.5, 0.25, 0.125, 0.125])
    np.testing.assert_allclose(halting_distribution(batch)[:, 0].numpy(), HALT, atol=1e-12)


def test_geometric_prior():
    np.testing.assert_allclose(geometric_prior(4, 0.1).numpy(), [0.1, 0.09, 0.081, 1 - 0.271], rtol=1e-6)
    assert geometric_prior(1, 0.1).tolist() == [1.0]
    assert float(geometric_prior(12, 0.1).sum()) == pytest.approx(1.0)


def direct_kl(p, prior, last, direction):
    terms = [
        p[i] * math.log(p[i] / prior[i]) if direction == "posterior_prior" else prior[i] * math.log(prior[i] / p[i])
        for i in range(last)
    ]
    return sum(terms)


@pytest.mark.parametrize("direction", ["posterior_prior", "prior_posterior"])
def test_truncated_kl_against_direct_sums(direction):
    prior = geometric_prior(4, 0.1).double()
    p = torch.tensor(HALT, dtype=torch.float64)
    prior_list = prior.tolist()
    # CDF = 0.2, 0.6, 0.7, 1.0: mass 0.95 keeps all 4 layers, 0.65 stops at layer 3, 0.5 at layer 2, 0.1 at 1
    for mass, last in [(0.95, 4), (0.65, 3), (0.5, 2), (0.1, 1)]:
        got = truncated_kl(p[:, None], prior, mass, direction)
        assert float(got[0]) == pytest.approx(direct_kl(HALT, prior_list, last, direction), rel=1e-9)
    # the CDF reaching the mass exactly ends the sum: 0.25 + 0.25 >= 0.5 stops at layer 2
    quarters = [0.25] * 4
    got = truncated_kl(torch.tensor(quarters, dtype=torch.float64)[:, None], prior, 0.5, direction)
    assert float(got[0]) == pytest.approx(direct_kl(quarters, prior_list, 2, direction), rel=1e-9)
    # each column is truncated at its own layer
    q = [0.7, 0.1, 0.1, 0.1]
    both = truncated_kl(torch.tensor([HALT, q], dtype=torch.float64).T, prior, 0.65, direction)
    assert float(both[1]) == pytest.approx(direct_kl(q, prior_list, 1, direction), rel=1e-9)
    with pytest.raises(ValueError, match="kl_direction"):
        truncated_kl(p[:, None], prior, 0.95, "sideways")


@pytest.mark.parametrize("direction", ["posterior_prior", "prior_posterior"])
def test_loss_is_expected_ce_plus_beta_kl_with_finite_gradients(tiny_bert, direction):
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=tiny_bert, method="palbert", method_args={"kl_direction": direction, "beta": 0.7})
    model = build_model(cfg).eval()
    batch = model.tokenize(TEXTS[:3])
    labels = torch.tensor([1, 0, 0])
    sig, _ = model.forward_all(batch)
    loss, parts = model.method.loss(sig, labels)
    prior = geometric_prior(3, 0.1).double().tolist()
    expected = 0.0
    for row in range(3):
        p = sig["halt_prob"][:, row].double().tolist()
        ce = [F.cross_entropy(sig["logits"][i, row][None], labels[row][None]).item() for i in range(3)]
        cdf = np.cumsum(p)
        last = int(np.argmax(cdf >= 0.95)) + 1
        expected += sum(pi * ci for pi, ci in zip(p, ce)) + 0.7 * direct_kl(p, prior, last, direction)
    assert float(loss.detach()) == pytest.approx(expected / 3, rel=1e-5)
    # a λ head saturated at 1 makes p(2|x), p(3|x) underflow to exactly 0 in float: gradients stay finite
    with torch.no_grad():
        model.method.lambda_head[-1].bias.fill_(200.0)
    sig, _ = model.forward_all(batch)
    assert float(sig["halt_prob"][1:].detach().max()) == 0.0
    loss, _ = model.method.loss(sig, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.method.parameters() if p.grad is not None)


def test_incremental_signals_match_the_pure_functions(tiny_bert):
    torch.manual_seed(1)
    model = build_model(ModelConfig(backbone=tiny_bert, method="palbert")).eval()
    batch = model.tokenize(TEXTS[:2])
    with torch.no_grad():
        sig, _ = model.forward_all(batch)
        # the λ head sees [p_i ; p_{i-1}] with p_0 = 0
        hidden, mask = model._embed(batch)
        prev = torch.zeros(2, 32)
        for i in range(3):
            hidden, _ = model.runner.layer(i, hidden, mask)
            pooled = model.pool(hidden[:, 0])
            lam = torch.sigmoid(model.method.lambda_head(torch.cat([pooled, prev], -1))).squeeze(-1)
            torch.testing.assert_close(sig["lambda"][i], lam)
            prev = pooled
    halt = halting_distribution(sig["lambda"].double())
    torch.testing.assert_close(sig["halt_prob"].double(), halt, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(sig["cdf"].double(), torch.cumsum(halt, 0), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(sig["log_halt_prob"].exp(), sig["halt_prob"])
    assert sig["cdf"][-1].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------------------------ rules
def test_q_exit_picks_the_first_layer_strictly_above_q():
    tr = ponder_trace([0.25, 1 / 3, 0.5, 0.5], [[0.6, 0.4]] * 4)  # CDF 0.25, 0.5, 0.75, 1.0
    np.testing.assert_allclose(tr.signals["cdf"], [0.25, 0.5, 0.75, 1.0], rtol=1e-6)
    exits = {q: replay(tr, QExitRule(4, q=q)).exit_layer for q in (0.1, 0.25, 0.3, 0.5, 0.74, 0.75, 0.99)}
    assert exits == {0.1: 1, 0.25: 2, 0.3: 2, 0.5: 3, 0.74: 3, 0.75: 4, 0.99: 4}
    d = replay(tr, QExitRule(4))
    np.testing.assert_allclose(d.info["cdf"], [0.25, 0.5, 0.75, 1.0], rtol=1e-6)
    # the sweep runs from the earliest exit to the latest
    sweep_exits = [replay(tr, QExitRule(4, q=q)).exit_layer for q in QExitRule.spec.sweep]
    assert sweep_exits == sorted(sweep_exits) and sweep_exits[0] == 1 and sweep_exits[-1] == 4


def test_expectation_mixes_layer_predictions_and_never_exits_early():
    probs = [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55]]
    tr = ponder_trace(LAMBDAS, probs)
    d = replay(tr, ExpectationRule(4))
    mixture = sum(w * np.asarray(p) for w, p in zip(HALT, probs))  # [0.585, 0.415]
    assert d.exit_layer == 4
    np.testing.assert_allclose(d.probs, mixture, rtol=1e-6)
    assert d.pred == 0 and tr.preds[-1] == 1  # the mixture disagrees with the last layer
    np.testing.assert_allclose(d.info["weight"], HALT, rtol=1e-6)
    assert ExpectationRule.spec.early_exit is False


def test_sampling_is_seeded_and_follows_the_halting_distribution():
    draws = sample_exit_layers(LAMBDAS, 20_000, seed=3)
    np.testing.assert_array_equal(draws, sample_exit_layers(LAMBDAS, 20_000, seed=3))
    assert not np.array_equal(draws[:200], sample_exit_layers(LAMBDAS, 200, seed=4))
    assert set(np.unique(draws)) == {1, 2, 3, 4}
    freq = np.bincount(draws, minlength=5)[1:] / len(draws)
    np.testing.assert_allclose(freq, HALT, atol=0.015)
    # the rule replays exactly the single draw of the same seed
    tr = ponder_trace(LAMBDAS, [[0.6, 0.4]] * 4)
    exits = []
    for seed in range(30):
        d = replay(tr, SamplingRule(4, seed=seed))
        assert d.exit_layer == sample_exit_layers(LAMBDAS, 1, seed=seed)[0]
        assert d.exit_layer == replay(tr, SamplingRule(4, seed=seed)).exit_layer
        exits.append(d.exit_layer)
    assert len(set(exits)) > 1


# ------------------------------------------------------------------------------------------ model
@pytest.mark.parametrize("method", ["pondernet", "palbert"])
def test_short_training_lowers_the_loss(trained, method):
    _, before, after = trained[method]
    assert after < 0.7 * before, (before, after)


@pytest.mark.parametrize("method", ["pondernet", "palbert"])
def test_true_early_exit_agrees_with_replay(trained, method):
    model = trained[method][0]
    traces = {text: model.trace(text) for text in TEXTS}
    seen = set()
    for rule, params in [("q_exit", {"q": q}) for q in (0.1, 0.3, 0.5, 0.7, 0.9)] + [
        ("expectation", {}),
        ("sampling", {"seed": 5}),
    ]:
        for text in TEXTS:
            res = model.early_exit(model.tokenize([text]), model.make_rule(rule, **params))
            d = replay(traces[text], model.make_rule(rule, **params))
            assert d.exit_layer == int(res.exit_layer[0]), (rule, params, text)
            assert d.pred == int(res.preds[0])
            np.testing.assert_allclose(d.probs, res.probs[0].numpy(), atol=1e-5)
            if rule == "q_exit":
                seen.add(d.exit_layer)
    assert len(seen) > 1  # the q values really move the exit
    single = [int(model.early_exit(model.tokenize([t]), model.make_rule("q_exit")).exit_layer[0]) for t in TEXTS]
    assert model.early_exit(model.tokenize(TEXTS), model.make_rule("q_exit")).exit_layer.tolist() == single


def test_lambda_head_switches_and_learning_rate(tiny_bert):
    ponder = build_model(ModelConfig(backbone=tiny_bert, method="pondernet"))
    assert [tuple(p.shape) for p in ponder.method.lambda_head.parameters()] == [(1, 32), (1,)]
    assert ponder.method.lr_overrides() == {}
    palbert = build_model(ModelConfig(backbone=tiny_bert, method="palbert", method_args={"lambda_lr": 1e-4}))
    shapes = [tuple(p.shape) for p in palbert.method.lambda_head.parameters()]
    assert shapes == [(64, 64), (64,)] * 3 + [(1, 64), (1,)]
    assert set(palbert.method.lr_overrides().values()) == {1e-4}
    # the λ head's rate reaches its layers and the layer-position embedding added to its input, nothing else
    names = {id(p): n for n, p in palbert.named_parameters()}
    at_head_rate = sorted(names[id(p)] for g in parameter_groups(palbert, 2e-5, 0.01) if g["lr"] == 1e-4
                          for p in g["params"])
    expected = [f"method.lambda_head.{n}" for n, _ in palbert.method.lambda_head.named_parameters()]
    assert at_head_rate == sorted(expected + ["method.layer_position"])
    linear = build_model(ModelConfig(backbone=tiny_bert, method="palbert", method_args={"lambda_layers": 0}))
    assert [tuple(p.shape) for p in linear.method.lambda_head.parameters()] == [(1, 64), (1,)]
    with pytest.raises(ValueError, match="kl_direction"):
        build_model(ModelConfig(backbone=tiny_bert, method="pondernet", method_args={"kl_direction": "x"}))
    assert PonderArgs().concat_prev is False and PonderArgs().lambda_layers == 0


def test_cli_shows_the_halting_signals(trained, tmp_path, capsys):
    path = save_checkpoint(trained["palbert"][0], tmp_path / "palbert")
    assert main(["--checkpoint", str(path), "--text", "a good film", "--set", "q_exit.q=0.9"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.strip().startswith("layer"))
    assert {"lambda", "halt_prob", "cdf"} <= set(header.split())
    assert "rule q_exit (q=0.9): exit at layer" in out
    assert "rule sampling (seed=0)" in out and "rule expectation" in out


def test_palbert_lambda_head_knows_the_layer_position(tiny_bert):
    # the same pooled vector at two depths gets two λ once the position embedding has learned something
    from eeviz.methods.palbert import PalbertArgs

    assert PalbertArgs().layer_embedding and not PonderArgs().layer_embedding
    model = build_model(ModelConfig(backbone=tiny_bert, method="palbert", labels=["neg", "pos"])).eval()
    head = model.method
    assert head.layer_position.shape == (model.num_layers, 2 * model.runner.hidden_size)
    assert any(n == "method.layer_position" for n, _ in model.named_parameters())
    pooled = torch.randn(2, model.runner.hidden_size)
    with torch.no_grad():
        same = [head.lambda_logit(pooled, {"prev_pooled": pooled}, i) for i in (1, 2)]
        assert torch.equal(same[0], same[1])  # zero at the start: no position effect yet
        head.layer_position[1].fill_(0.5)
        moved = [head.lambda_logit(pooled, {"prev_pooled": pooled}, i) for i in (1, 2)]
    assert not torch.allclose(moved[0], moved[1])


def test_sampling_draws_come_from_a_cpu_generator_whatever_the_device():
    rule = SamplingRule(4, seed=7)
    state = rule.start(3, torch.device("cpu"), keys=[11, 12, 13])
    expected = torch.stack([torch.rand(4, generator=torch.Generator(device="cpu").manual_seed(draw_seed(7, k)))
                            for k in (11, 12, 13)])
    assert torch.equal(state["uniform"], expected)


def test_a_sentence_gets_the_same_sampling_exit_in_any_batch_and_any_row(tiny_bert):
    """Draws once came from one generator per batch, by row: the Dataset page (row r of the file), an upload and
    Explore (row 0 of a batch of one) gave three exits for one sentence at one seed."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_bert, method="pondernet")).eval()  # λ_i near 1/2: exits vary
    texts = list(TEXTS)
    seen = set()
    for seed in range(4):
        alone = [replay(model.trace(t), model.make_rule("sampling", seed=seed)).exit_layer for t in texts]
        batch = model.tokenize(texts)
        signals = collect_signals(model, [batch])
        replayed, _, _ = replay_signals(signals, model.make_rule("sampling", seed=seed), example_keys(batch))
        assert replayed.tolist() == alone, seed
        early = model.early_exit(batch, model.make_rule("sampling", seed=seed)).exit_layer.tolist()
        assert early == alone, seed
        backwards = model.early_exit(model.tokenize(texts[::-1]), model.make_rule("sampling", seed=seed))
        assert backwards.exit_layer.tolist()[::-1] == alone, seed
        seen.update(alone)
    assert len(seen) > 1  # the draws really move the exit


