"""ConsistentEE: memorized layers, rewards, trajectory log-probabilities, the policy rule and REINFORCE."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eeviz.checkpoint import load_checkpoint, save_checkpoint
from eeviz.config import ModelConfig
from eeviz.methods.consistentee import (
    ConsistentEEArgs,
    ConsistentEEMethod,
    PolicyRule,
    depth_penalty,
    exit_rewards,
    gold_log_likelihood,
    memorized_layers,
    reward_parts,
    sample_exits,
    trajectory_log_prob,
)
from eeviz.model import build_model
from eeviz.trace import Trace, replay

TEXTS = ["the movie is good", "great acting", "bad plot", "the worst film", "not very funny and a dull story"]


# ------------------------------------------------------------------------------------------ pure parts
def test_memorized_layer_on_hand_made_patterns():
    T, F_ = True, False
    correct = torch.tensor([
        [T, T, T, T],  # right everywhere: memorized at layer 1
        [F_, T, T, T],  # 2
        [T, F_, T, T],  # forgotten at layer 2, then right to the end: 3
        [T, T, F_, T],  # only the last layer: 4
        [T, T, T, F_],  # last layer wrong: L
        [F_, F_, F_, F_],  # never right: L
    ])
    assert memorized_layers(correct).tolist() == [1, 2, 3, 4, 4, 4]


def test_gold_log_likelihood_one_example_and_batch():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    expected = [2 - math.log(math.exp(2) + 1 + math.exp(-1)), 1 - math.log(2 + math.e)]
    np.testing.assert_allclose(gold_log_likelihood(logits.numpy(), 0)[0].item(), expected[0], rtol=1e-6)
    np.testing.assert_allclose(gold_log_likelihood(logits, 1)[1].item(), expected[1], rtol=1e-6)
    batch = torch.randn(4, 3, 5)  # (L, B, C)
    labels = torch.tensor([4, 0, 2])
    direct = torch.stack([F.log_softmax(batch[:, b], -1)[:, labels[b]] for b in range(3)], dim=1)
    torch.testing.assert_close(gold_log_likelihood(batch, labels), direct)


def test_hardness_makes_easy_reward_fall_faster_with_depth():
    gold = torch.full((2, 4), -0.2)  # same likelihood at every layer for both examples
    memorized = torch.tensor([1, 4])  # easy, hard
    guided = exit_rewards(gold, memorized, alpha=0.1, hardness_guided=True)
    # easy: slope α(1 - 1/4) = 0.075 per layer; the hardest (m = L) pays nothing for depth
    np.testing.assert_allclose(guided[0].numpy(), [-0.2 - 0.075 * e for e in (1, 2, 3, 4)], rtol=1e-6)
    np.testing.assert_allclose(guided[1].numpy(), [-0.2] * 4, rtol=1e-6)
    vanilla = exit_rewards(gold, memorized, alpha=0.1, hardness_guided=False)
    np.testing.assert_allclose(vanilla.numpy(), [[-0.2 - 0.1 * e for e in (1, 2, 3, 4)]] * 2, rtol=1e-6)


def test_reward_parts_of_one_trace():
    logits = np.array([[0.0, 2.0], [1.0, 0.0], [3.0, 0.0], [0.5, 0.0]], dtype=np.float32)  # preds 1 0 0 0
    parts = reward_parts(logits, label=0, alpha=0.1)
    assert parts.correct.tolist() == [False, True, True, True]
    assert parts.memorized_layer == 2 and parts.hardness == pytest.approx(0.5)
    gold = [row[0] - math.log(math.exp(row[0]) + math.exp(row[1])) for row in logits.tolist()]
    np.testing.assert_allclose(parts.gold_log_likelihood, gold, rtol=1e-5)
    np.testing.assert_allclose(parts.depth_penalty, [0.1 * e * 0.5 for e in (1, 2, 3, 4)], rtol=1e-6)
    np.testing.assert_allclose(parts.reward, parts.gold_log_likelihood - parts.depth_penalty, rtol=1e-6)
    assert depth_penalty(4, torch.tensor(2), 0.1).shape == (4,)


def test_trajectory_log_prob_against_direct_computation():
    pi = torch.tensor([[0.3, 0.6, 0.8, 0.1], [0.3, 0.6, 0.8, 0.1], [0.9, 0.2, 0.4, 0.7]], requires_grad=True)
    exits = torch.tensor([1, 3, 4])
    p = pi.detach().tolist()
    direct = [
        math.log(p[0][0]),
        math.log(1 - p[1][0]) + math.log(1 - p[1][1]) + math.log(p[1][2]),
        math.log(1 - p[2][0]) + math.log(1 - p[2][1]) + math.log(1 - p[2][2]),  # forced exit at L: no log π_L
    ]
    got = trajectory_log_prob(pi, exits)
    np.testing.assert_allclose(got.detach().numpy(), direct, rtol=1e-6)
    got.sum().backward()
    assert pi.grad[:, 3].abs().sum() == 0  # the last layer's policy never chooses
    assert pi.grad[0, 1:].abs().sum() == 0 and pi.grad[0, 0] == pytest.approx(1 / 0.3)


def test_sample_exits_modes():
    torch.manual_seed(0)
    pi = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.2, 0.7, 0.1]])
    greedy = sample_exits(pi, 5, mode="epsilon_greedy", epsilon=0.0)
    assert greedy.tolist() == [[1, 3, 2]] * 5
    sampled = sample_exits(pi, 5, mode="sampling")
    assert sampled[:, 0].tolist() == [1] * 5 and sampled[:, 1].tolist() == [3] * 5
    # exit at 1 w.p. .5, at 2 w.p. .25, else the forced exit at 3 (.25)
    many = sample_exits(torch.tensor([[0.5, 0.5, 0.5]]), 20000, mode="sampling")[:, 0]
    freq = [(many == e).float().mean().item() for e in (1, 2, 3)]
    np.testing.assert_allclose(freq, [0.5, 0.25, 0.25], atol=0.02)
    with pytest.raises(ValueError, match="mode"):
        sample_exits(pi, 2, mode="greedy")


# ------------------------------------------------------------------------------------------ rule
def test_policy_rule_exits_at_first_probability_above_threshold():
    trace = Trace(method="consistentee", text="x", tokens=["x"], labels=["neg", "pos"],
                  logits=np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [3.0, 0.0]], dtype=np.float32),
                  signals={"policy": np.array([0.2, 0.6, 0.9, 0.3], dtype=np.float32)})
    d = replay(trace, PolicyRule(4))  # threshold 0.5
    assert d.exit_layer == 2 and d.pred == 1
    np.testing.assert_allclose(d.info["policy"], [0.2, 0.6, 0.9, 0.3], rtol=1e-6)
    assert replay(trace, PolicyRule(4, threshold=0.1)).exit_layer == 1
    assert replay(trace, PolicyRule(4, threshold=0.6)).exit_layer == 3  # strictly above
    d_last = replay(trace, PolicyRule(4, threshold=0.95))
    assert d_last.exit_layer == 4 and d_last.pred == 0
    assert list(PolicyRule.spec.sweep) == sorted(PolicyRule.spec.sweep)  # low threshold = earliest exit


# ------------------------------------------------------------------------------------------ losses
def make_method(**args):
    return ConsistentEEMethod(ConsistentEEArgs(**args), hidden_size=8, num_layers=3, num_labels=2)


def test_classifier_phase_trains_only_the_greedy_exit_layer():
    torch.manual_seed(0)
    logits = torch.randn(3, 2, 2, requires_grad=True)  # (L, B, C)
    policy = torch.tensor([[0.9, 0.1], [0.2, 0.3], [0.1, 0.2]])  # greedy exits: row 0 at 1, row 1 at L = 3
    labels = torch.tensor([1, 0])
    loss, parts = make_method().loss({"logits": logits, "policy": policy}, labels, phase="classifiers")
    expected = (F.cross_entropy(logits[0, 0:1], labels[0:1]) + F.cross_entropy(logits[2, 1:2], labels[1:2])) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts["exit_layer"] == pytest.approx(2.0)
    loss.backward()
    touched = logits.grad.abs().sum(-1) > 0
    assert touched.tolist() == [[True, False], [False, False], [False, True]]


def test_policy_loss_uses_stored_memorized_layers_else_the_batch_own():
    method = make_method()
    # layer predictions: row 0 right everywhere (m = 1); row 1 right only at layer 3 (m = 3)
    logits = torch.tensor([[[2.0, 0.0], [2.0, 0.0]], [[2.0, 0.0], [2.0, 0.0]], [[2.0, 0.0], [0.0, 2.0]]])
    sig = {"logits": logits, "policy": torch.full((3, 2), 0.5, requires_grad=True)}
    labels = torch.tensor([0, 1])
    _, parts = method.loss(sig, labels, phase="policy", batch={"index": torch.tensor([0, 1])})
    assert parts["memorized_layer"] == pytest.approx(2.0)  # no prepare run: computed from the batch
    method.memorized = torch.tensor([0, 3, 3])  # prepared values (0 = unknown index)
    _, parts = method.loss(sig, labels, phase="policy", batch={"index": torch.tensor([2, 1])})
    assert parts["memorized_layer"] == pytest.approx(3.0)
    _, parts = method.loss(sig, labels, phase="policy", batch={"index": torch.tensor([0, 2])})
    assert parts["memorized_layer"] == pytest.approx(2.0)  # index 0 unknown: row 0's own m = 1


def test_phases_schedule_and_trainable_parameters():
    method = make_method(rounds=2)
    phases = method.phases()
    assert [p.name for p in phases] == ["warmup", "policy", "classifiers", "policy", "classifiers"]
    names = [f"method.{n}" for n, _ in method.named_parameters()] + ["runner.layer.0.attention.weight"]
    policy_names = {n for n in names if n.startswith("method.policies.")}
    assert policy_names and {n for n in names if phases[1].trainable(n)} == policy_names
    for phase in (phases[0], phases[2]):
        assert {n for n in names if phase.trainable(n)} == set(names) - policy_names
    assert phases[1].prepare is not None and phases[1].lr == ConsistentEEArgs().policy_lr
    with pytest.raises(ValueError, match="mode"):
        make_method(mode="greedy")


# ------------------------------------------------------------------------------------------ on a model
@pytest.fixture(scope="module")
def model(tiny_bert):
    torch.manual_seed(0)
    return build_model(ModelConfig(backbone=tiny_bert, method="consistentee", labels=["neg", "pos"])).eval()


def test_true_early_exit_agrees_with_replay(model):
    # random policies give π ≈ (0.47, 0.53, 0.45) per layer, so these thresholds exit at 1, 2 and 3
    seen = set()
    for threshold in (0.3, 0.5, 0.7):
        batched = model.early_exit(model.tokenize(TEXTS), model.make_rule(threshold=threshold))
        for row, text in enumerate(TEXTS):
            trace = model.trace(text, attentions=False)
            d = replay(trace, model.make_rule(threshold=threshold))
            single = model.early_exit(model.tokenize([text]), model.make_rule(threshold=threshold))
            assert d.exit_layer == int(single.exit_layer[0]) == int(batched.exit_layer[row])
            assert d.pred == int(single.preds[0])
            seen.add(d.exit_layer)
    assert seen == {1, 2, 3}


def test_checkpoint_round_trip_keeps_policies(model, tmp_path):
    save_checkpoint(model, tmp_path / "ck")
    loaded = load_checkpoint(tmp_path / "ck")
    expected = model.trace(TEXTS[0], attentions=False).signals["policy"]
    np.testing.assert_allclose(loaded.trace(TEXTS[0], attentions=False).signals["policy"], expected, rtol=1e-5)


def test_reinforce_moves_easy_examples_earlier_and_hard_ones_later(model):
    """Planted split, backbone and classifiers frozen: only the policies learn from the rewards.

    Classifiers 1-2 say "neg" with p = σ(6), classifier 3 is undecided. "neg" examples are easy (m = 1: exiting
    at layer 1 earns ≈ 0 - α·2/3), "pos" ones hard (m = L: layer 1 earns log σ(-6) ≈ -6, layer 3 log 0.5).
    The random tiny backbone gives every sentence almost the same pooled state, so the two groups are trained
    from the same start in two runs rather than told apart within one batch.
    """
    model = copy.deepcopy(model)
    with torch.no_grad():
        for i, classifier in enumerate(model.method.classifiers):
            classifier.weight.zero_()
            classifier.bias.copy_(torch.tensor([3.0, -3.0]) if i < 2 else torch.zeros(2))
    start = copy.deepcopy(model.method.policies.state_dict())
    texts = TEXTS[:4]

    def mean_pi(batch):
        model.eval()
        with torch.no_grad():
            return model.forward_all(batch)[0]["policy"].mean(1)

    def train_policies(label):
        model.method.policies.load_state_dict(start)
        torch.manual_seed(1)
        batch = {**model.tokenize(texts), "labels": torch.full((4,), label), "index": torch.arange(4)}
        phase = model.method.phases()[1]
        assert phase.name == "policy"
        for name, param in model.named_parameters():
            param.requires_grad_(phase.trainable(name))
        phase.prepare(model, [batch])
        memorized = model.method.memorized.tolist()
        before = mean_pi(batch)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        model.train()
        for _ in range(30):
            loss, _ = model.method.loss(model.forward_all(batch)[0], batch["labels"], phase="policy", batch=batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        exits = model.early_exit(batch, model.make_rule()).exit_layer.tolist()
        return memorized, before, mean_pi(batch), exits

    easy_m, easy_before, easy_after, easy_exits = train_policies(label=0)
    hard_m, hard_before, hard_after, hard_exits = train_policies(label=1)
    assert easy_m == [1, 1, 1, 1] and hard_m == [3, 3, 3, 3]
    torch.testing.assert_close(easy_before, hard_before)  # same start
    assert easy_after[0] > easy_before[0] + 0.3 and hard_after[0] < hard_before[0] - 0.3
    assert easy_after[1] > hard_after[1] + 0.3
    torch.testing.assert_close(easy_after[2], easy_before[2])  # the forced last exit gets no gradient
    assert easy_exits == [1, 1, 1, 1] and hard_exits == [3, 3, 3, 3]


def test_policy_gradient_survives_bf16_autocast():
    # under bf16, σ(6.5) rounds to 1.0: a log-probability taken from π has exactly zero gradient there
    from eeviz.methods.consistentee import trajectory_log_prob_from_logits

    z = torch.tensor([[6.5, 0.0, 0.0]], requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logit = torch.nn.functional.linear(z, torch.eye(3))  # a bf16 policy output, as in a real network
        log_prob = trajectory_log_prob_from_logits(logit, torch.tensor([2]))  # continue at 1, exit at 2
    log_prob.sum().backward()
    assert z.grad[0, 0] != 0  # d/dz log(1 − σ(z)) = −σ(z) ≈ −0.998
    assert log_prob.dtype == torch.float32
    expected = math.log(1 - 1 / (1 + math.exp(-6.5))) + math.log(0.5)
    assert float(log_prob.detach()) == pytest.approx(expected, rel=1e-2)
