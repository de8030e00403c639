"""Tests for eeviz.metrics against hand-computed values and scipy."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from eeviz.metrics import METRIC_NAMES, compute_metrics

# 2x2 example: labels 1,1,1,1,0,0,0,0 vs preds 1,1,1,0,1,0,0,0 -> TP=3 FN=1 FP=1 TN=3.
Y = [1, 1, 1, 1, 0, 0, 0, 0]
P = [1, 1, 1, 0, 1, 0, 0, 0]


def test_accuracy():
    assert compute_metrics("accuracy", P, Y) == {"score": 0.75, "accuracy": 0.75}


def test_f1_binary_positive_class():
    m = compute_metrics("f1", P, Y)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1)) and m["score"] == m["f1"]
    assert m["accuracy"] == 0.75
    # F1 of class 1 only: predicting all 0 gives 0, not the class-0 F1.
    assert compute_metrics("f1", [0, 0, 0], [1, 0, 0])["f1"] == 0.0
    # Asymmetric case: TP=2 FP=2 FN=0 -> 4/6.
    assert compute_metrics("f1", [1, 1, 1, 1], [1, 1, 0, 0])["f1"] == pytest.approx(2 / 3)


def test_matthews_hand_computed():
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (9-1)/sqrt(4^4) = 0.5
    m = compute_metrics("matthews", P, Y)
    assert m["matthews"] == pytest.approx(0.5) and m["score"] == m["matthews"]
    assert m["accuracy"] == 0.75
    assert compute_metrics("matthews", [1, 0, 1, 0], [1, 0, 1, 0])["score"] == pytest.approx(1.0)
    assert compute_metrics("matthews", [0, 1, 0, 1], [1, 0, 1, 0])["score"] == pytest.approx(-1.0)


def test_matthews_multiclass_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    p[:100] = y[:100]
    assert compute_metrics("matthews", p, y)["score"] == pytest.approx(sk.matthews_corrcoef(y, p))
    assert compute_metrics("f1", p, y)["score"] == pytest.approx(sk.f1_score(y, p, average="macro"))


def test_constant_predictions_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compute_metrics("matthews", [1, 1, 1, 1], [1, 0, 1, 0])["matthews"] == 0.0
        m = compute_metrics("pearson_spearman", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert m == {"score": 0.0, "pearson": 0.0, "spearman": 0.0}


def test_pearson_spearman_against_scipy():
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    p = y + rng.normal(scale=0.7, size=50)
    p[:5] = p[5]  # ties exercise average ranking
    m = compute_metrics("pearson_spearman", p, y)
    assert m["pearson"] == pytest.approx(stats.pearsonr(p, y)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(p, y)[0])
    assert m["score"] == pytest.approx((m["pearson"] + m["spearman"]) / 2)
    assert all(isinstance(v, float) and not math.isnan(v) for v in m.values())


def test_accepts_numpy_and_errors():
    assert compute_metrics("accuracy", np.array([1, 0]), np.array([1, 1]))["score"] == 0.5
    with pytest.raises(ValueError, match="Unknown metric"):
        compute_metrics("bleu", [1], [1])
    with pytest.raises(ValueError, match="length"):
        compute_metrics("accuracy", [1, 0], [1])
    with pytest.raises(ValueError):
        compute_metrics("accuracy", [], [])
    with pytest.raises(ValueError, match=">= 0"):
        compute_metrics("accuracy", [1, 0], [1, -1])


def test_metric_names():
    for key in ("accuracy", "f1", "matthews", "pearson_spearman"):
        assert METRIC_NAMES[key]
