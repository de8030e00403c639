"""Training losses and model selection against values worked out by hand (numpy, float64, tiny tensors).

Covers what other tests only smoke-test: PABEE's layer-weighted loss (classification and regression), DeeBERT's
two stages (their losses and what each one freezes), ConsistentEE's REINFORCE loss (advantage × trajectory
log-probability) with fixed trajectories, and the per-phase choice of the best epoch (``selection_score`` and
``Trainer.record``, including ``--keep-epoch last``). Every expectation is computed here from the formulas in
the methods' docstrings, never by calling the code under test; each test also checks that its expectation
differs from the nearest wrong alternative, so a swapped formula fails.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import eeviz.methods.consistentee as consistentee
from eeviz.config import ModelConfig
from eeviz.methods.base import Phase
from eeviz.methods.consistentee import ConsistentEEArgs, ConsistentEEMethod
from eeviz.methods.deebert import DeebertArgs, DeebertMethod
from eeviz.methods.pabee import PabeeArgs, PabeeMethod
from eeviz.model import build_model, trainable_names
from eeviz.training.optim import make_optimizer
from eeviz.training.resume import Progress
from eeviz.training.selection import selection_score
from eeviz.training.trainer import Trainer


# ------------------------------------------------------------------------------------------ by-hand helpers
def ce_by_hand(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy −log softmax(logits)[y] of one layer (B, C), in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


# logits (L = 3, B = 2, C = 3) and gold labels for the classification losses
CLS_LOGITS = np.array([
    [[0.2, -0.4, 1.1], [1.5, 0.3, -0.2]],
    [[-0.7, 0.5, 0.9], [0.1, 0.8, 0.0]],
    [[0.0, -1.2, 2.3], [2.0, -0.5, 0.4]],
])
CLS_LABELS = np.array([2, 0])


# ------------------------------------------------------------------------------------------ PABEE
def test_pabee_classification_loss_is_the_layer_weighted_mean_of_ce():
    method = PabeeMethod(PabeeArgs(), hidden_size=4, num_layers=3, num_labels=3)
    logits = torch.tensor(CLS_LOGITS, dtype=torch.float32, requires_grad=True)
    loss, parts = method.loss({"logits": logits}, torch.tensor(CLS_LABELS))

    ce = np.array([ce_by_hand(CLS_LOGITS[i], CLS_LABELS).mean() for i in range(3)])
    expected = (1 * ce[0] + 2 * ce[1] + 3 * ce[2]) / (1 + 2 + 3)
    assert abs(expected - ce.mean()) > 1e-2  # the weighting matters for these numbers
    assert abs(expected - ce[-1]) > 1e-2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert parts["loss"].item() == pytest.approx(expected, rel=1e-6)
    for i in range(3):
        assert parts[f"ce_{i + 1}"].item() == pytest.approx(ce[i], rel=1e-6)

    # gradient: d loss / d logits[i, b] = (i / 6) · (softmax − one-hot) / B
    loss.backward()
    probs = np.exp(CLS_LOGITS) / np.exp(CLS_LOGITS).sum(-1, keepdims=True)
    onehot = np.eye(3)[CLS_LABELS]
    grad = np.stack([(i + 1) / 6 * (probs[i] - onehot) / 2 for i in range(3)])
    np.testing.assert_allclose(logits.grad.numpy(), grad, rtol=1e-5, atol=1e-7)


def test_pabee_regression_loss_is_the_layer_weighted_mean_of_mse():
    method = PabeeMethod(PabeeArgs(), hidden_size=4, num_layers=3, num_labels=1)
    outputs = np.array([[0.5, 2.0, -1.0], [1.5, 2.5, 0.0], [3.0, 1.0, 0.25]])  # (L, B) predicted values
    targets = np.array([1.0, 3.0, 0.5])
    loss, parts = method.loss({"logits": torch.tensor(outputs[..., None], dtype=torch.float32)},
                              torch.tensor(targets, dtype=torch.float32))

    # layer 1: (0.25 + 1 + 2.25) / 3; layer 2: (0.25 + 0.25 + 0.25) / 3; layer 3: (4 + 4 + 0.0625) / 3
    mse = np.array([3.5 / 3, 0.75 / 3, 8.0625 / 3])
    np.testing.assert_allclose(mse, ((outputs - targets) ** 2).mean(-1))
    expected = (1 * mse[0] + 2 * mse[1] + 3 * mse[2]) / 6
    assert abs(expected - mse.mean()) > 1e-2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    for i in range(3):
        assert parts[f"ce_{i + 1}"].item() == pytest.approx(mse[i], rel=1e-6)


# ------------------------------------------------------------------------------------------ DeeBERT: losses
def test_deebert_final_stage_is_the_last_ce_and_highway_stage_the_sum_of_the_others():
    method = DeebertMethod(DeebertArgs(), hidden_size=4, num_layers=3, num_labels=3)
    ce = np.array([ce_by_hand(CLS_LOGITS[i], CLS_LABELS).mean() for i in range(3)])
    final, highways = ce[2], ce[0] + ce[1]
    assert abs(final - highways) > 0.1  # the two stages' expectations differ: a swap would fail

    def loss_of(phase):
        logits = torch.tensor(CLS_LOGITS, dtype=torch.float32, requires_grad=True)
        loss, parts = method.loss({"logits": logits}, torch.tensor(CLS_LABELS), phase=phase)
        loss.backward()
        touched = [bool(logits.grad[i].abs().sum() > 0) for i in range(3)]
        return loss.item(), parts, touched

    value, parts, touched = loss_of("final")
    assert value == pytest.approx(final, rel=1e-6) and touched == [False, False, True]
    for i in range(3):  # the parts report every layer's CE whatever the stage
        assert parts[f"ce_{i + 1}"].item() == pytest.approx(ce[i], rel=1e-6)
    value, _, touched = loss_of("highways")
    assert value == pytest.approx(highways, rel=1e-6) and touched == [True, True, False]
    value, _, _ = loss_of("main")  # a single-stage run trains the final classifier
    assert value == pytest.approx(final, rel=1e-6)


# ------------------------------------------------------------------------------------------ DeeBERT: freezing
@pytest.fixture(scope="module")
def deebert_model(tiny_bert):
    torch.manual_seed(0)
    return build_model(ModelConfig(backbone=tiny_bert, method="deebert", labels=["neg", "pos"], max_length=32))


def trainer_like(model):
    """What ``Trainer.set_trainable`` reads of a Trainer."""
    return SimpleNamespace(model=model, trainable=trainable_names(model), args=SimpleNamespace(method="deebert"))


def one_step(model, phase) -> dict[str, torch.Tensor]:
    """One AdamW step (weight decay on) of ``phase`` as the trainer takes it; returns the weights before it."""
    Trainer.set_trainable(trainer_like(model), phase)
    model.zero_grad(set_to_none=True)  # as the trainer leaves them after every step
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer, _ = make_optimizer(model, lr=1e-2, weight_decay=0.01, warmup_ratio=0.0, schedule="constant",
                                  total_steps=1)
    model.train()
    batch = model.tokenize(["the movie is good", "a bad and boring plot", "great acting", "the worst film"])
    signals, _ = model.forward_all(batch)
    loss, _ = model.method.loss(signals, torch.tensor([1, 0, 1, 0]), phase=phase.name)
    loss.backward()
    optimizer.step()
    frozen_with_grad = [n for n, p in model.named_parameters() if not p.requires_grad and p.grad is not None]
    assert not frozen_with_grad
    return before


def test_deebert_stages_train_disjoint_parameters(deebert_model):
    model = deebert_model
    names = {n for n, _ in model.named_parameters()}
    # by hand: two highways (layers 1, 2 of 3), each a pooler dense and a classifier, weight and bias
    highway = {f"method.highway_{part}.{i}.{w}" for part in ("poolers", "classifiers") for i in (0, 1)
               for w in ("weight", "bias")}
    assert highway <= names and len(highway) == 8
    assert {"method.final_classifier.weight", "method.final_classifier.bias"} <= names
    assert any(n.startswith("runner.") for n in names)

    final, highways = model.method.phases()
    assert [final.name, highways.name] == ["final", "highways"]
    assert set(Trainer.set_trainable(trainer_like(model), final)) == names - highway
    assert {n for n, p in model.named_parameters() if p.requires_grad} == names - highway
    assert set(Trainer.set_trainable(trainer_like(model), highways)) == highway
    assert {n for n, p in model.named_parameters() if p.requires_grad} == highway


def test_deebert_highway_step_leaves_backbone_and_final_classifier_unchanged(deebert_model):
    model = deebert_model
    final, highways = model.method.phases()
    params = dict(model.named_parameters())
    changed = lambda before, n: not torch.equal(before[n], params[n].detach())  # noqa: E731

    before = one_step(model, highways)
    moved = {n for n in params if changed(before, n)}
    assert moved and all(n.startswith("method.highway_") for n in moved)
    assert not changed(before, "method.final_classifier.weight")
    assert not any(changed(before, n) for n in params if n.startswith("runner."))
    assert changed(before, "method.highway_classifiers.0.weight") and changed(before, "method.highway_poolers.1.weight")

    before = one_step(model, final)  # and the other way round: the final stage leaves the highways alone
    moved = {n for n in params if changed(before, n)}
    assert "method.final_classifier.weight" in moved and any(n.startswith("runner.") for n in moved)
    assert not any(n.startswith("method.highway_") for n in moved)


# ------------------------------------------------------------------------------------------ ConsistentEE
# L = 3 layers, B = 3 examples, C = 2 classes
CEE_LOGITS = np.array([
    [[0.3, 1.2], [-0.2, 0.9], [1.0, 0.2]],  # layer 1 predicts 1, 1, 0
    [[1.5, -0.5], [0.1, 1.1], [0.7, 0.4]],  # layer 2 predicts 0, 1, 0
    [[2.0, 0.1], [-1.0, 2.5], [0.2, 0.9]],  # layer 3 predicts 0, 1, 1
])
CEE_LABELS = np.array([0, 1, 0])
# right at layers (F, T, T) -> m = 2; (T, T, T) -> m = 1; (T, T, F): the last layer is wrong -> m = L = 3
CEE_MEMORIZED = np.array([2, 1, 3])
CEE_Z = np.array([[0.4, 1.5, -0.8], [-0.3, 0.2, 1.1], [2.0, -1.0, 0.5]])  # policy logits (L, B)
# K = 3 trajectories (K, B): every example exits once at each of several layers, the last one included
CEE_EXITS = np.array([[1, 2, 3], [3, 1, 2], [2, 3, 3]])


def memorized_by_hand(logits, labels):
    correct = logits.argmax(-1) == labels  # (L, B)
    num_layers = correct.shape[0]
    return np.array([next((l for l in range(1, num_layers + 1) if correct[l - 1:, b].all()), num_layers)
                     for b in range(correct.shape[1])])


def policy_loss_by_hand(memorized, alpha, guided=True, log_pi_at_last=False):
    """loss = −mean_{k,b}((r − mean_k r)·log P), and d loss / d z; see the module docstring of consistentee."""
    num_layers, batch = CEE_Z.shape
    k = CEE_EXITS.shape[0]
    gold_ll = -np.stack([ce_by_hand(CEE_LOGITS[i], CEE_LABELS) for i in range(num_layers)])  # (L, B)
    weight = 1.0 - memorized / num_layers if guided else np.ones(batch)
    pi = sigmoid(CEE_Z)
    rewards = np.zeros((k, batch))
    log_p = np.zeros((k, batch))
    dlogp_dz = np.zeros((k, num_layers, batch))
    for t in range(k):
        for b in range(batch):
            e = CEE_EXITS[t, b]
            rewards[t, b] = gold_ll[e - 1, b] - alpha * e * weight[b]
            for j in range(1, e):  # continued through layer j: log(1 − π_j), derivative −π_j
                log_p[t, b] += np.log(1.0 - pi[j - 1, b])
                dlogp_dz[t, j - 1, b] = -pi[j - 1, b]
            if e < num_layers or log_pi_at_last:  # exited by choice at e: log π_e, derivative 1 − π_e
                log_p[t, b] += np.log(pi[e - 1, b])
                dlogp_dz[t, e - 1, b] = 1.0 - pi[e - 1, b]
    advantage = rewards - rewards.mean(0, keepdims=True)
    loss = -(advantage * log_p).mean()
    grad = -(advantage[:, None, :] * dlogp_dz).sum(0) / (k * batch)
    return loss, grad, rewards


@pytest.fixture
def fixed_exits(monkeypatch):
    """Replace the trajectory sampler with CEE_EXITS; record what the loss asked it for."""
    calls = []

    def fake_sample_exits(pi, num_samples, mode="sampling", epsilon=0.1):
        calls.append((tuple(pi.shape), num_samples, pi.detach().clone()))
        return torch.tensor(CEE_EXITS)

    monkeypatch.setattr(consistentee, "sample_exits", fake_sample_exits)
    return calls


@pytest.mark.parametrize("guided", [True, False])
def test_consistentee_policy_loss_is_advantage_times_log_probability(fixed_exits, guided):
    alpha = 0.3
    memorized = memorized_by_hand(CEE_LOGITS, CEE_LABELS)
    assert memorized.tolist() == CEE_MEMORIZED.tolist()
    expected, grad, rewards = policy_loss_by_hand(memorized, alpha, guided)
    # the wrong alternatives give other numbers: a log π_L term for the forced exit, the other reward form
    assert abs(expected - policy_loss_by_hand(memorized, alpha, guided, log_pi_at_last=True)[0]) > 1e-3
    assert abs(expected - policy_loss_by_hand(memorized, alpha, not guided)[0]) > 1e-3
    assert abs(expected - policy_loss_by_hand(memorized, 0.0, guided)[0]) > 1e-3

    method = ConsistentEEMethod(ConsistentEEArgs(alpha=alpha, hardness_guided=guided, num_trajectories=3),
                                hidden_size=4, num_layers=3, num_labels=2)
    z = torch.tensor(CEE_Z, dtype=torch.float32, requires_grad=True)
    sig = {"logits": torch.tensor(CEE_LOGITS, dtype=torch.float32), "policy": torch.sigmoid(z), "policy_logit": z}
    loss, parts = method.loss(sig, torch.tensor(CEE_LABELS), phase="policy")

    (shape, k, pi_seen), = fixed_exits
    assert shape == (3, 3) and k == 3  # π as (B, L), K trajectories
    np.testing.assert_allclose(pi_seen.numpy(), sigmoid(CEE_Z).T, rtol=1e-6)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert parts["reward"].item() == pytest.approx(rewards.mean(), rel=1e-5)
    assert parts["exit_layer"].item() == pytest.approx(CEE_EXITS.mean())
    assert parts["memorized_layer"].item() == pytest.approx(CEE_MEMORIZED.mean())
    loss.backward()
    np.testing.assert_allclose(z.grad.numpy(), grad, rtol=1e-5, atol=1e-7)
    assert not z.grad[2].any()  # the forced exit at L: its policy chooses nothing and gets no gradient


def test_consistentee_policy_loss_from_probabilities_and_stored_memorized_layers(fixed_exits):
    """Without ``policy_logit`` the loss takes log π from π; stored memorized layers replace the batch's own."""
    alpha = 0.3
    stored = np.array([3, 3, 1])  # prepare's values for training examples 0..2, unlike the batch's own [2, 1, 3]
    expected, _, _ = policy_loss_by_hand(stored, alpha)
    assert abs(expected - policy_loss_by_hand(CEE_MEMORIZED, alpha)[0]) > 1e-3

    method = ConsistentEEMethod(ConsistentEEArgs(alpha=alpha, num_trajectories=3),
                                hidden_size=4, num_layers=3, num_labels=2)
    method.memorized = torch.tensor(stored)
    sig = {"logits": torch.tensor(CEE_LOGITS, dtype=torch.float32),
           "policy": torch.tensor(sigmoid(CEE_Z), dtype=torch.float32)}
    loss, parts = method.loss(sig, torch.tensor(CEE_LABELS), phase="policy", batch={"index": torch.arange(3)})
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    assert parts["memorized_layer"].item() == pytest.approx(stored.mean())


# ------------------------------------------------------------------------------------------ phase selection
def dev(score, rule_score, layer_scores):
    return {"score": score, "rule_score": rule_score, "layer_scores": list(layer_scores)}


def test_selection_score_compares_the_phase_quantity_then_the_mean_layer_score():
    a = dev(0.80, 0.70, [0.60, 0.70, 0.80])  # better full model
    b = dev(0.75, 0.78, [0.60, 0.70, 0.75])  # better exit rule
    assert selection_score(a, "full") == pytest.approx([0.80, 0.70])
    assert selection_score(a, "rule") == pytest.approx([0.70, 0.70])
    assert selection_score(a, "full") > selection_score(b, "full")
    assert selection_score(b, "rule") > selection_score(a, "rule")
    assert selection_score(a) == selection_score(a, "full")  # "full" is the default
    # a tie on the phase's quantity goes to the higher mean over layers, for either kind of phase
    c = dev(0.80, 0.70, [0.66, 0.70, 0.80])  # a's scores with a better first layer: mean 0.72
    assert selection_score(c, "full") > selection_score(a, "full")
    assert selection_score(c, "rule") > selection_score(a, "rule")
    assert not selection_score(a, "rule") > selection_score(a, "rule")  # equal is not better


# five epochs of one phase: (full model, rule, per-layer scores)
EPOCHS = [
    dev(0.80, 0.70, [0.60, 0.70, 0.80]),  # 1
    dev(0.80, 0.75, [0.60, 0.70, 0.80]),  # 2: rule better; full model tied, same layer mean
    dev(0.80, 0.75, [0.63, 0.70, 0.80]),  # 3: ties on both, higher layer mean
    dev(0.85, 0.72, [0.60, 0.70, 0.85]),  # 4: full model better, rule worse
    dev(0.70, 0.60, [0.50, 0.60, 0.70]),  # 5: worse at everything
]
# by hand, from the table above: which epochs beat the phase's best so far, and the one kept
EXPECTED = {
    "rule": ([True, True, True, False, False], 3, 2),
    "full": ([True, False, True, True, False], 4, 1),
    "last": ([True] * 5, 5, 0),
}


@pytest.mark.parametrize("selects_by, keep_epoch, expected", [
    ("rule", "best", EXPECTED["rule"]),
    ("full", "best", EXPECTED["full"]),
    ("rule", "last", EXPECTED["last"]),
    ("full", "last", EXPECTED["last"]),
])
def test_record_keeps_the_phase_best_epoch_or_the_last(selects_by, keep_epoch, expected):
    assert len({best for _, best, _ in EXPECTED.values()}) == 3  # the three ways pick different epochs
    model = nn.Linear(1, 1, bias=False)
    trainer = SimpleNamespace(progress=Progress(), args=SimpleNamespace(keep_epoch=keep_epoch), epoch_parts={},
                              model=model, best_weights={})
    optimizer = SimpleNamespace(param_groups=[{"lr": 1e-3}])
    phase = Phase("p", selects_by=selects_by)
    improved = []
    for epoch, scores in enumerate(EPOCHS):
        with torch.no_grad():
            model.weight.fill_(epoch + 1.0)  # the weights say which epoch they come from
        trainer.progress.epochs_run += 1  # as run_phase does before recording
        improved.append(Trainer.record(trainer, phase, epoch, 0.5, scores, optimizer, True, ["weight"]))
    flags, best, stale = expected
    assert improved == flags
    assert trainer.progress.best_epoch == best and trainer.progress.stale_epochs == stale
    assert trainer.best_weights["weight"].item() == best  # the kept weights are that epoch's
    history = trainer.progress.history
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5] and [h["phase_epoch"] for h in history] == [1, 2, 3, 4, 5]
    assert history[3]["dev"] == EPOCHS[3] and all(h["phase"] == "p" for h in history)


def test_phases_that_train_only_exit_machinery_select_by_the_rule():
    method = ConsistentEEMethod(ConsistentEEArgs(rounds=1), hidden_size=4, num_layers=3, num_labels=2)
    assert [(p.name, p.selects_by) for p in method.phases()] == [
        ("warmup", "full"), ("policy", "rule"), ("classifiers", "full")]
