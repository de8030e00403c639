"""PABEE's counter and DeeBERT's entropy exit on hand-made probability sequences."""

import math

import numpy as np
import pytest
import torch

from eeviz.methods.deebert import EntropyRule
from eeviz.methods.pabee import PatienceRule, layer_weighted_loss
from eeviz.trace import Trace, replay


def make_trace(probs, method="pabee"):
    probs = np.asarray(probs, dtype=np.float64)
    return Trace(method=method, text="x", tokens=["[CLS]", "x", "[SEP]"], labels=["neg", "pos"][: probs.shape[1]] if probs.shape[1] > 1 else [],
                 logits=np.log(probs).astype(np.float32))


# argmax per layer:        0    0    1    1    1    1
SEQ = [[.9, .1], [.8, .2], [.3, .7], [.4, .6], [.2, .8], [.1, .9]]


def test_patience_counter_and_exit():
    d = replay(make_trace(SEQ), PatienceRule(6, patience=2))
    assert d.info["counter"].tolist() == [0, 1, 0, 1, 2, 3]
    assert d.exit_layer == 5 and d.pred == 1
    d1 = replay(make_trace(SEQ), PatienceRule(6, patience=1))
    assert d1.exit_layer == 2 and d1.pred == 0  # two agreeing layers are enough for t = 1


def test_patience_zero_is_full_model_and_too_large_runs_to_end():
    assert replay(make_trace(SEQ), PatienceRule(6, patience=0)).exit_layer == 6
    d = replay(make_trace(SEQ), PatienceRule(6, patience=4))
    assert d.exit_layer == 6 and d.pred == 1


def test_patience_regression_tolerance():
    values = np.array([[0.1], [0.5], [0.55], [0.58], [2.0]], dtype=np.float32)
    tr = Trace(method="pabee", text="x", tokens=["x"], labels=[], logits=values)
    d = replay(tr, PatienceRule(5, patience=2, tolerance=0.1))
    assert d.info["counter"].tolist() == [0, 0, 1, 2, 0]
    assert d.exit_layer == 4 and d.pred == pytest.approx(0.58)
    assert replay(tr, PatienceRule(5, patience=2, tolerance=0.0)).exit_layer == 5  # official τ = 0 never exits


def test_patience_is_per_row_in_a_batch():
    rule = PatienceRule(3, patience=1)
    state = rule.start(2, torch.device("cpu"))
    l1 = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    l2 = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    rule.step(state, 1, {"logits": l1})
    stop, _ = rule.step(state, 2, {"logits": l2})
    assert stop.tolist() == [True, False]


def test_entropy_exit_first_layer_below_threshold():
    seq = [[.6, .4], [.75, .25], [.95, .05], [.5, .5]]  # entropies .673 .562 .199 .693
    tr = make_trace(seq, method="deebert")
    ent = [-(p * math.log(p) + q * math.log(q)) for p, q in seq]
    d = replay(tr, EntropyRule(4, entropy=0.3))
    assert d.exit_layer == 3 and d.pred == 0
    np.testing.assert_allclose(d.info["entropy"], ent, rtol=1e-5)
    assert replay(tr, EntropyRule(4, entropy=0.6)).exit_layer == 2
    assert replay(tr, EntropyRule(4, entropy=0.0)).exit_layer == 4


def test_entropy_is_finite_for_extreme_logits():
    tr = Trace(method="deebert", text="x", tokens=["x"], labels=["a", "b"],
               logits=np.array([[1e4, -1e4], [0.0, 0.0]], dtype=np.float32))
    d = replay(tr, EntropyRule(2, entropy=0.1))
    assert np.isfinite(d.info["entropy"]).all() and d.exit_layer == 1


def test_layer_weighted_loss():
    per_layer = torch.tensor([1.0, 2.0, 3.0])
    assert float(layer_weighted_loss(per_layer)) == pytest.approx((1 + 4 + 9) / 6)


def test_unknown_rule_param_is_rejected():
    with pytest.raises(ValueError, match="no parameter"):
        PatienceRule(6, threshold=3)


def test_patience_sweep_stops_where_exits_can_no_longer_move():
    # on 6 layers, t = 5 needs all six layers to agree: any larger t is the full model again
    assert PatienceRule.sweep_for(6) == (1, 2, 3, 4, 5)
    assert PatienceRule.sweep_for(12)[-1] == 11
