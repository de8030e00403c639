"""BERxiT: the LTE target and loss by hand, the alternating schedule, the LTE rule, replay = early exit, resume."""

import copy
import math
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from eeviz.checkpoint import load_checkpoint, save_checkpoint
from eeviz.config import ModelConfig
from eeviz.methods.berxit import BerxitArgs, BerxitMethod, LteRule, lte_loss, lte_target, uses_all_layers
from eeviz.model import build_model
from eeviz.trace import Trace, replay
from eeviz.train import RESUME_DIR, resolve_args, train

from samples import PLANTED, TEXTS

# three layers, two rows; the gold labels are (1, 0)
LOGITS = torch.tensor([
    [[2.0, 0.0], [1.0, 0.0]],  # layer 1: predicts (0, 0): row 0 wrong, row 1 right
    [[0.0, 1.0], [0.0, 3.0]],  # layer 2: predicts (1, 1): row 0 right, row 1 wrong
    [[0.0, 2.0], [2.0, 0.0]],  # layer 3: predicts (1, 0): both right
])
LABELS = torch.tensor([1, 0])
LTE = torch.tensor([[0.9, 0.2], [0.4, 0.5], [0.1, 0.0]])


def ce(logits, label):
    return -(logits[label] - math.log(sum(math.exp(v) for v in logits)))


def make_method(**args):
    torch.manual_seed(0)
    return BerxitMethod(BerxitArgs(**args), hidden_size=8, num_layers=3, num_labels=2)


# ------------------------------------------------------------------------------------------ pure parts
def test_lte_target_is_the_per_layer_error_indicator():
    assert lte_target(LOGITS, LABELS).tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]


def test_lte_target_for_regression_maps_the_squared_error_into_0_1():
    outputs = torch.tensor([[[0.5], [2.0]], [[1.0], [0.0]]])  # (L=2, B=2, 1)
    target = lte_target(outputs, torch.tensor([1.0, 0.0]))
    expected = [[1 - math.exp(-0.25), 1 - math.exp(-4.0)], [0.0, 0.0]]
    np.testing.assert_allclose(target.numpy(), expected, rtol=1e-6)


def test_lte_loss_by_hand():
    # squared errors against the targets [[1, 0], [0, 1], [0, 0]]: .01 .04 / .16 .25 / .01 0
    expected = (0.01 + 0.04 + 0.16 + 0.25 + 0.01 + 0.0) / 6
    assert float(lte_loss(LTE, lte_target(LOGITS, LABELS))) == pytest.approx(expected, rel=1e-6)


def test_schedule_alternates_final_then_all_layers():
    assert [uses_all_layers(s) for s in range(4)] == [False, True, False, True]
    assert uses_all_layers(torch.tensor([3, 4])).tolist() == [True, False]


# ------------------------------------------------------------------------------------------ the loss
def test_loss_alternates_between_final_and_all_layers_and_adds_the_lte_loss():
    method = make_method(lte_weight=0.5).train()
    sig = {"logits": LOGITS, "lte": LTE}
    per_layer = [np.mean([ce(LOGITS[i, b].tolist(), int(LABELS[b])) for b in range(2)]) for i in range(3)]
    j = (0.01 + 0.04 + 0.16 + 0.25 + 0.01 + 0.0) / 6
    expected = [per_layer[2] + 0.5 * j, sum(per_layer) + 0.5 * j]  # even step, odd step
    for step in range(4):
        loss, parts = method.loss(sig, LABELS)
        assert float(loss) == pytest.approx(expected[step % 2], rel=1e-5), step
        assert float(parts["all_layers"]) == step % 2 and float(parts["lte_mse"]) == pytest.approx(j, rel=1e-5)
        assert [float(parts[f"ce_{i}"]) for i in (1, 2, 3)] == pytest.approx(per_layer, rel=1e-5)
    assert int(method.train_step) == 4


def test_eval_mode_loss_does_not_advance_the_schedule():
    method = make_method().train()
    method.loss({"logits": LOGITS, "lte": LTE}, LABELS)  # step 0 -> the counter is at 1 (odd)
    method.eval()
    for _ in range(3):
        _, parts = method.loss({"logits": LOGITS, "lte": LTE}, LABELS)
        assert float(parts["all_layers"]) == 1.0
    assert int(method.train_step) == 1


def test_even_steps_leave_the_inner_classifiers_without_gradient():
    method = make_method().train()
    pooled = torch.randn(3, 2, 8)
    sigs = [method.layer_signals(i + 1, pooled[i], pooled[i], {}) for i in range(3)]
    sig = {k: torch.stack([s[k] for s in sigs]) for k in sigs[0]}
    loss, _ = method.loss(sig, LABELS)  # step 0: final layer + LTE
    loss.backward()
    inner = [method.classifiers[i].weight.grad for i in (0, 1)]
    assert all(g is None or not g.any() for g in inner)
    assert method.classifiers[2].weight.grad.any() and method.lte_head.weight.grad.any()


# ------------------------------------------------------------------------------------------ the rule
def lte_trace(u, probs=((0.7, 0.3),) * 4):
    probs = np.asarray(probs, dtype=np.float64)
    return Trace(method="berxit", text="x", tokens=["x"], labels=["neg", "pos"], logits=np.log(probs).astype(np.float32),
                 signals={"lte": np.asarray(u, dtype=np.float32)})


def test_rule_exits_at_the_first_layer_below_the_threshold():
    trace = lte_trace([0.8, 0.45, 0.2, 0.05], probs=[[0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9]])
    d = replay(trace, LteRule(4, threshold=0.3))
    assert d.exit_layer == 3 and d.pred == 1
    np.testing.assert_allclose(d.info["lte"], [0.8, 0.45, 0.2, 0.05], rtol=1e-6)
    assert replay(trace, LteRule(4, threshold=0.5)).exit_layer == 2
    assert replay(trace, LteRule(4, threshold=0.45)).exit_layer == 3  # strictly below
    assert replay(trace, LteRule(4, threshold=0.9)).exit_layer == 1
    assert replay(trace, LteRule(4, threshold=0.0)).exit_layer == 4  # never below 0: the last layer


def test_rule_step_is_per_row():
    rule = LteRule(3, threshold=0.3)
    stop, info = rule.step(rule.start(3, torch.device("cpu")), 1, {"lte": torch.tensor([0.1, 0.3, 0.9])})
    assert stop.tolist() == [True, False, False] and info["lte"].tolist() == pytest.approx([0.1, 0.3, 0.9])


def test_sweep_runs_from_earliest_to_latest_exit():
    sweep = LteRule.spec.sweep
    assert list(sweep) == sorted(sweep, reverse=True) and sweep[-1] == 0.0
    assert LteRule.spec.series == "lte" and LteRule.spec.side == "below"


def test_figure_inputs_give_the_target_only_with_a_gold_label():
    trace = lte_trace([0.8, 0.45, 0.2, 0.05], probs=[[0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.7, 0.3]])
    d = replay(trace, LteRule(4))
    assert BerxitMethod.figure_inputs(BerxitArgs(), trace, d).series == {}
    target = BerxitMethod.figure_inputs(BerxitArgs(), trace, d, gold=1).series["lte_target"]
    assert target.tolist() == [1.0, 0.0, 0.0, 1.0]


# ------------------------------------------------------------------------------------------ on a model
@pytest.fixture(scope="module")
def model(tiny_bert):
    torch.manual_seed(0)
    m = build_model(ModelConfig(backbone=tiny_bert, method="berxit", labels=["neg", "pos"])).eval()
    with torch.no_grad():  # a steep LTE head, so that u_i spreads over (0, 1) across sentences and layers
        m.method.lte_head.weight.mul_(8.0)
    return m


def test_true_early_exit_agrees_with_replay(model):
    u = np.stack([model.trace(t, attentions=False).signals["lte"] for t in TEXTS])
    thresholds = [0.0, *np.quantile(u, [0.1, 0.3, 0.5, 0.7, 0.9]).round(3).tolist(), 1.0]
    seen = set()
    for threshold in thresholds:
        batched = model.early_exit(model.tokenize(TEXTS), model.make_rule(threshold=threshold))
        for row, text in enumerate(TEXTS):
            d = replay(model.trace(text, attentions=False), model.make_rule(threshold=threshold))
            single = model.early_exit(model.tokenize([text]), model.make_rule(threshold=threshold))
            assert d.exit_layer == int(single.exit_layer[0]) == int(batched.exit_layer[row]), (threshold, text)
            assert d.pred == int(single.preds[0])
            seen.add(d.exit_layer)
    assert seen == {1, 2, 3}


def test_early_exit_is_forced_at_the_last_layer(model):
    result = model.early_exit(model.tokenize(TEXTS), model.make_rule(threshold=0.0))  # u is never below 0
    assert result.exit_layer.tolist() == [3] * len(TEXTS) and result.layers_run == 3 * len(TEXTS)


def test_checkpoint_keeps_the_lte_head_not_the_step_counter(model, tmp_path):
    save_checkpoint(model, tmp_path / "ck")
    assert not any("train_step" in k for k in load_file(str(tmp_path / "ck" / "model.safetensors")))
    loaded = load_checkpoint(tmp_path / "ck")
    expected = model.trace(TEXTS[0], attentions=False).signals["lte"]
    np.testing.assert_allclose(loaded.trace(TEXTS[0], attentions=False).signals["lte"], expected, rtol=1e-5)


def test_a_short_training_run_lowers_the_loss(model):
    model = copy.deepcopy(model)
    batch = model.tokenize([t for t, _ in PLANTED])
    labels = torch.tensor([y for _, y in PLANTED])

    def objective():  # both alternating objectives' parts: every layer's CE and the LTE loss
        model.eval()
        with torch.no_grad():
            _, parts = model.method.loss(model.forward_all(batch)[0], labels)
        return float(sum(parts[f"ce_{i}"] for i in (1, 2, 3)) + parts["lte_mse"])

    before = objective()
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(20):
        model.train()
        loss, _ = model.method.loss(model.forward_all(batch)[0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert int(model.method.train_step) == 20
    assert objective() < 0.7 * before


# ------------------------------------------------------------------------------------------ resume
def write_reviews(path) -> str:
    """12 train, 6 dev, 6 test rows: 3 steps per epoch at batch 4, so epoch 2 starts on an odd step."""
    rng = random.Random(0)
    words = {"pos": ["good", "great", "fun"], "neg": ["bad", "awful", "dull"]}
    lines = ["text,label,split"]
    for i in range(24):
        label = "pos" if i % 2 else "neg"
        split = "train" if i < 12 else ("dev" if i < 18 else "test")
        lines.append(f"the film was {rng.choice(words[label])},{label},{split}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_resume_keeps_the_alternation_parity(tiny_bert, tmp_path):
    data = write_reviews(tmp_path / "reviews.csv")

    def args(out, **extra):
        flags = dict(backbone=tiny_bert, task=data, batch_size=4, epochs=2, lr=1e-3, warmup_ratio=0.0,
                     patience_epochs=0, device="cpu", **extra)
        return resolve_args("berxit", str(tmp_path / out), flags)

    whole_metrics = train(args("whole"))
    whole = load_file(str(tmp_path / "whole" / "model.safetensors"))
    for out, tamper in (("cut", False), ("tampered", True)):
        train(args(out, max_steps=3))  # stops after epoch 1: the resume state holds the step count
        state_file = tmp_path / out / RESUME_DIR / "state.safetensors"
        state = load_file(str(state_file))
        assert state["buffer.train_step"].tolist() == [3]
        if tamper:  # a run that forgot its step count would start epoch 2 on an even step
            state["buffer.train_step"] = torch.zeros(1, dtype=torch.long)
            save_file(state, str(state_file))
        metrics = train(args(out, resume=True))
        # epoch 2's mean training loss mixes its steps' objectives: it tells the parity apart
        losses = [h["train_loss"] for h in metrics["history"]]
        whole_losses = [h["train_loss"] for h in whole_metrics["history"]]
        assert losses[0] == whole_losses[0]
        assert (losses[1] == whole_losses[1]) != tamper, out
        if not tamper:
            resumed = load_file(str(tmp_path / out / "model.safetensors"))
            assert all(torch.equal(whole[k], resumed[k]) for k in whole)


# ------------------------------------------------------------------------------------------ the app's view
def test_toy_exits_where_a_calibrated_head_says_probably_right():
    p_positive = np.array([0.4, 0.6, 0.8, 0.9, 0.95, 0.97, 0.99, 0.99])
    toy = BerxitMethod.toy(p_positive, {"tau": 0.15, "bias": 0.0})
    np.testing.assert_allclose(toy.signals["lte"], 1 - np.maximum(p_positive, 1 - p_positive), rtol=1e-6)
    trace = Trace(method="berxit", text="toy", tokens=["toy"], labels=["neg", "pos"], gold=1,
                  logits=np.log(np.stack([1 - p_positive, p_positive], 1)).astype(np.float32), signals=toy.signals)
    assert replay(trace, LteRule(8, **toy.params)).exit_layer == 4  # first u_i < 0.15: 1 - 0.9


def test_panel_draws_the_score_against_the_threshold_and_the_target_with_gold():
    from eeviz.plots import decision_panels

    trace = lte_trace([0.8, 0.45, 0.2, 0.05], probs=[[0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.7, 0.3]])
    d = replay(trace, LteRule(4))
    score = "LTE score u<sub>i</sub>"  # the method's "u_i", with its subscript drawn
    for gold, drawn in ((None, {score}), (1, {score, "LTE target (layer wrong)"})):
        inputs = BerxitMethod.figure_inputs(BerxitArgs(), trace, d, gold)
        panels = decision_panels(trace, d, LteRule.spec, method=BerxitMethod, inputs=inputs)
        assert panels[0].title == "Learning to exit"
        assert {t.name for t in panels[0].figure.data} >= drawn
