"""ELBERT: layer weights, puzzlement, the confidence-window criteria (2 and 3 classes), training, CLI."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eeviz.checkpoint import load_checkpoint, save_checkpoint
from eeviz.config import ModelConfig
from eeviz.methods.elbert import (
    PuzzlementRule,
    TwoStageRule,
    default_window,
    elbert_layer_weights,
    puzzlement_from_logits,
)
from eeviz.model import build_model
from eeviz.tools.trace_cli import main
from eeviz.trace import Trace, replay
from samples import PLANTED, TEXTS


# predicted class 0 throughout; its probability: .6 .7 .65 .7 .8 .9
BINARY = [[0.6, 0.4], [0.7, 0.3], [0.65, 0.35], [0.7, 0.3], [0.8, 0.2], [0.9, 0.1]]
# three classes: the argmax moves 0 -> 1 at layer 2 while the top probability rises (.4 -> .45)
THREE = [[0.4, 0.35, 0.25], [0.3, 0.45, 0.25], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.1, 0.55, 0.35]]


def hand_puzzlement(p):
    p = np.asarray(p, dtype=np.float64)
    return float(-(p * np.log(p)).sum() / math.log(len(p)))


def elbert_trace(probs):
    probs = np.asarray(probs, dtype=np.float64)
    labels = ["a", "b", "c"][: probs.shape[1]]
    puzzlement = np.array([hand_puzzlement(p) for p in probs], dtype=np.float32)
    return Trace(method="elbert", text="x", tokens=["[CLS]", "x", "[SEP]"], labels=labels,
                 logits=np.log(probs).astype(np.float32), signals={"puzzlement": puzzlement})


def exit_layer(probs, **params):
    tr = elbert_trace(probs)
    return replay(tr, TwoStageRule(tr.num_layers, **params)).exit_layer


# ------------------------------------------------------------------------------------------ loss weights
def test_layer_weights_sum_to_depth():
    s4 = 1 / (1 + math.exp(-4))
    w = elbert_layer_weights(torch.tensor([4.0, 4.0]))
    np.testing.assert_allclose(w.numpy(), [s4, s4, 3 - 2 * s4], rtol=1e-6)
    t = torch.tensor([-3.0, 0.0, 2.5, 7.0, -0.5], requires_grad=True)
    w = elbert_layer_weights(t)
    assert float(w.detach().sum()) == pytest.approx(6.0)
    np.testing.assert_allclose(w[:-1].detach().numpy(), torch.sigmoid(t).detach().numpy())
    # the sum is constant, so its gradient vanishes
    w.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 0.0, atol=1e-6)


def test_loss_is_the_weighted_sum_of_layer_ce(tiny_bert):
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_bert, method="elbert")).eval()
    with torch.no_grad():
        model.method.weight_logits.copy_(torch.tensor([1.0, -2.0]))
    batch = model.tokenize(TEXTS[:3])
    labels = torch.tensor([1, 0, 1])
    sig, _ = model.forward_all(batch)
    loss, parts = model.method.loss(sig, labels)
    s1, s2 = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(2))
    ce = [F.cross_entropy(sig["logits"][i], labels).item() for i in range(3)]
    expected = s1 * ce[0] + s2 * ce[1] + (3 - s1 - s2) * ce[2]
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert parts["w_3"] == pytest.approx(3 - s1 - s2, rel=1e-6)


def test_puzzlement_is_normalised_entropy():
    probs = torch.tensor([[0.9, 0.05, 0.05], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.25, 0.25]])
    got = puzzlement_from_logits(probs.log())
    np.testing.assert_allclose(got.numpy(), [hand_puzzlement(p) for p in probs.tolist()], rtol=1e-5)
    assert float(got[1]) == pytest.approx(1.0)
    two = puzzlement_from_logits(torch.tensor([[0.0, 0.0], [5.0, -5.0]]))
    assert float(two[0]) == pytest.approx(1.0) and float(two[1]) < 0.001


# ------------------------------------------------------------------------------------------ exit rules
def test_window_scales_with_depth():
    assert [default_window(n) for n in (3, 6, 9, 12, 24)] == [2, 2, 3, 4, 8]
    assert TwoStageRule(24).params["window"] == 8
    assert TwoStageRule(24, window=5.0).window == 5  # CLI values arrive as floats
    with pytest.raises(ValueError, match="criterion"):
        TwoStageRule(6, criterion="increasing")
    with pytest.raises(ValueError, match="no parameter"):
        PuzzlementRule(6, window=3)


def test_window_criteria_on_two_classes():
    off = dict(delta=0.0, window=3)  # δ = 0: stage 1 never fires
    # monotonic: windows .6 .7 .65 | .7 .65 .7 | .65 .7 .8 <- first non-decreasing one, ending at layer 5
    assert exit_layer(BINARY, criterion="monotonic", **off) == 5
    assert exit_layer(BINARY, criterion="unchanged", **off) == 3
    assert exit_layer(BINARY, criterion="range", range_bound=0.12, **off) == 3  # range .1
    assert exit_layer(BINARY, criterion="range", range_bound=0.07, **off) == 4  # range .05
    assert exit_layer(BINARY, criterion="range", range_bound=0.02, **off) == 6  # never: the last layer
    d = replay(elbert_trace(BINARY), TwoStageRule(6, criterion="monotonic", **off))
    assert d.info["window_filled"].tolist() == [0, 0, 1, 1, 1, 1]
    assert d.info["window_ok"].tolist() == [0, 0, 0, 0, 1, 1]
    np.testing.assert_allclose(d.info["puzzlement"], [hand_puzzlement(p) for p in BINARY], rtol=1e-5)
    # ties pass the monotonic test (non-decreasing, as in the official code)
    assert exit_layer([[0.7, 0.3]] * 3 + [[0.6, 0.4]], criterion="monotonic", **off) == 3
    # the label flips to class 1 at layer 2; from there p(class 1) rises .55 .6 .7
    flip = [[0.6, 0.4], [0.45, 0.55], [0.4, 0.6], [0.3, 0.7], [0.35, 0.65]]
    assert exit_layer(flip, criterion="monotonic", **off) == 4
    assert exit_layer(flip, criterion="unchanged", **off) == 4


def test_window_criteria_on_three_classes():
    off = dict(delta=0.0)
    # the top probability rises .4 -> .45 from layer 1 to 2, but the class changes: no exit at layer 2
    assert exit_layer(THREE, criterion="monotonic", window=2, **off) == 3
    assert exit_layer(THREE, criterion="monotonic", window=3, **off) == 4  # class 1: .45 .5 .6
    assert exit_layer(THREE, criterion="monotonic", window=4, **off) == 5  # .45 .5 .6 .55 fails: last layer
    d = replay(elbert_trace(THREE), TwoStageRule(5, criterion="monotonic", window=4, **off))
    assert d.info["window_ok"].tolist() == [0, 0, 0, 0, 0]
    assert exit_layer(THREE, criterion="unchanged", window=3, **off) == 4
    d = replay(elbert_trace(THREE), TwoStageRule(5, criterion="unchanged", window=4, **off))
    assert d.info["window_ok"].tolist() == [0, 0, 0, 0, 1]  # layers 2-5 all predict class 1
    assert exit_layer(THREE, criterion="range", window=3, range_bound=0.16, **off) == 4  # .45 .5 .6: .15
    d = replay(elbert_trace(THREE), TwoStageRule(5, criterion="range", window=3, range_bound=0.11, **off))
    assert d.info["window_ok"].tolist() == [0, 0, 0, 0, 1]  # .15 fails, then .5 .6 .55: .1 passes


def test_stage_one_and_two_stage():
    # puzzlement: .94 .73 .36 .10; δ = 0.4 fires at layer 3 before any window can
    seq = [[0.5, 0.3, 0.2], [0.7, 0.2, 0.1], [0.9, 0.05, 0.05], [0.98, 0.01, 0.01]]
    puzzlement = [hand_puzzlement(p) for p in seq]
    assert puzzlement[1] > 0.4 > puzzlement[2]
    tr = elbert_trace(seq)
    assert replay(tr, PuzzlementRule(4, delta=0.4)).exit_layer == 3
    assert replay(tr, PuzzlementRule(4, delta=0.0)).exit_layer == 4
    assert replay(tr, PuzzlementRule(4, delta=1.0)).exit_layer == 1
    # the window (class 0 rising) fires at layer 2 with N = 2: stage 2 alone is earlier than stage 1
    assert replay(tr, TwoStageRule(4, delta=0.4, window=2)).exit_layer == 2
    assert replay(tr, TwoStageRule(4, delta=0.4, window=4)).exit_layer == 3  # stage 1 first
    sweep = [replay(tr, PuzzlementRule(4, delta=d)).exit_layer for d in PuzzlementRule.spec.sweep]
    assert sweep == sorted(sweep)


def official_binary_exit(class0, window, criterion, range_bound=0.1):
    """The official ELBERT code's window tests (bias_2/bias_1/bias_3, margin 0) on class-0 probabilities."""
    for i in range(1, len(class0) + 1):
        x = class0[:i]
        if len(x) < window:
            continue
        last = x[-window:]
        if criterion == "unchanged":
            ok = all(v > 0.5 for v in last) or all(v < 0.5 for v in last)
        elif criterion == "range":
            ok = (min(last) > 0.5 or max(last) < 0.5) and max(last) - min(last) <= range_bound
        else:
            larger = last[0] > 0.5
            ok = all((b >= a) if larger else (b <= a) for a, b in zip(last, last[1:]))
        if ok:
            return i
    return len(class0)


@pytest.mark.parametrize("criterion", ["monotonic", "unchanged", "range"])
def test_binary_windows_match_the_official_code(criterion):
    rng = np.random.default_rng(0)
    for _ in range(200):
        class0 = rng.uniform(0.02, 0.98, size=8).round(3)
        class0 = np.where(class0 == 0.5, 0.501, class0)
        probs = np.stack([class0, 1 - class0], axis=1)
        # probabilities on a 0.001 grid and a bound off it: no comparison sits on a rounding boundary
        got = exit_layer(probs, criterion=criterion, delta=0.0, window=3, range_bound=0.1505)
        assert got == official_binary_exit(probs[:, 0].tolist(), 3, criterion, 0.1505), class0


# ------------------------------------------------------------------------------------------ model
@pytest.fixture(scope="module")
def trained(tiny_bert):
    """(model, loss before, loss after, t before) after a plain 30-step Adam loop on the planted sentences."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_bert, method="elbert", method_args={"weight_lr": 0.05}))
    batch = model.tokenize([t for t, _ in PLANTED])
    labels = torch.tensor([y for _, y in PLANTED])
    overrides = model.method.lr_overrides()
    weight_params = [p for n, p in model.named_parameters() if n in overrides]
    other = [p for n, p in model.named_parameters() if n not in overrides and p.requires_grad]
    opt = torch.optim.Adam([{"params": other, "lr": 3e-3}, {"params": weight_params, "lr": 0.05}])
    t_before = model.method.weight_logits.detach().clone()

    def eval_loss():
        model.eval()
        with torch.no_grad():
            return model.loss(batch, labels)[0].item()

    before = eval_loss()
    model.train()
    for _ in range(30):
        opt.zero_grad()
        model.loss(batch, labels)[0].backward()
        opt.step()
    return model.eval(), before, eval_loss(), t_before


def test_short_training_lowers_the_loss_and_moves_the_weights(trained):
    model, before, after, t_before = trained
    assert model.method.lr_overrides() == {"method.weight_logits": 0.05}
    assert "method.weight_logits" in dict(model.named_parameters())
    assert after < 0.5 * before, (before, after)
    assert t_before.tolist() == [4.0, 4.0]
    assert not torch.allclose(model.method.weight_logits.detach(), t_before)
    assert float(model.method.layer_weights().detach().sum()) == pytest.approx(3.0)


def test_true_early_exit_agrees_with_replay(trained):
    model = trained[0]
    traces = {text: model.trace(text) for text in TEXTS}
    seen = set()
    cases = [("puzzlement", {"delta": d}) for d in (0.2, 0.5, 0.8, 0.95)]
    cases += [("two_stage", {"delta": 0.0, "criterion": c}) for c in ("monotonic", "unchanged", "range")]
    cases += [("two_stage", {"delta": 0.5, "window": 3})]
    for rule, params in cases:
        for text in TEXTS:
            res = model.early_exit(model.tokenize([text]), model.make_rule(rule, **params))
            d = replay(traces[text], model.make_rule(rule, **params))
            assert d.exit_layer == int(res.exit_layer[0]), (rule, params, text)
            assert d.pred == int(res.preds[0])
            seen.add(d.exit_layer)
    assert len(seen) > 1  # the thresholds really move the exit
    rule_args = {"delta": 0.0, "criterion": "unchanged"}
    single = [int(model.early_exit(model.tokenize([t]), model.make_rule("two_stage", **rule_args)).exit_layer[0])
              for t in TEXTS]
    batched = model.early_exit(model.tokenize(TEXTS), model.make_rule("two_stage", **rule_args))
    assert batched.exit_layer.tolist() == single


def test_checkpoint_keeps_the_weights_and_cli_shows_puzzlement(trained, tmp_path, capsys):
    model = trained[0]
    path = save_checkpoint(model, tmp_path / "elbert")
    loaded = load_checkpoint(path)
    torch.testing.assert_close(loaded.method.weight_logits, model.method.weight_logits)
    assert main(["--checkpoint", str(path), "--text", "a good film", "--set", "puzzlement.delta=0.9"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.strip().startswith("layer"))
    assert "puzzlement" in header.split()
    assert "rule two_stage (delta=0.3, window=2, criterion=monotonic, range_bound=0.1): exit at layer" in out
    assert "rule puzzlement (delta=0.9): exit at layer" in out


def test_window_replay_equals_true_early_exit_on_near_tie_logits(tiny_bert):
    # class probabilities 1e-6 apart in logits: a float64 trace flipped `confidence >= previous` against the
    # engine's float32; the trace now computes them exactly as the engine does
    model = build_model(ModelConfig(backbone=tiny_bert, method="elbert", labels=["a", "b"])).eval()
    num_layers = model.num_layers
    base = torch.tensor([0.3, 0.0])
    logits = torch.stack([base + torch.tensor([i * 1e-6, 0.0]) for i in range(num_layers)])  # (L, C)
    trace = Trace(method="elbert", text="x", tokens=["x"], labels=["a", "b"], logits=logits.numpy(),
                  signals={"puzzlement": puzzlement_from_logits(logits).numpy()})
    signals = {"logits": logits[:, None], "probs": F.softmax(logits.float(), -1)[:, None],
               "puzzlement": puzzlement_from_logits(logits)[:, None]}
    for criterion in ("monotonic", "range", "unchanged"):
        rule = lambda: TwoStageRule(num_layers, delta=0.0, window=2, criterion=criterion)  # noqa: E731
        engine, engine_exit = rule(), None
        engine_state = engine.start(1, torch.device("cpu"))
        for i in range(1, num_layers + 1):
            stop, _ = engine.step(engine_state, i, {k: v[i - 1] for k, v in signals.items()})
            if bool(stop[0]) or i == num_layers:
                engine_exit = i
                break
        assert replay(trace, rule()).exit_layer == engine_exit, criterion
        np.testing.assert_array_equal(trace.probs, signals["probs"][:, 0].numpy())
