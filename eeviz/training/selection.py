"""Model selection: the dev scores recorded after every epoch, and how a phase's best epoch is chosen."""

from __future__ import annotations

import numpy as np
import torch

from ..evaluate import scores
from ..passes import collect_signals, predictions
from ..precision import DEFAULT_INFERENCE_PRECISION
from ..trace import replay_signals

SELECTION_RULE = (
    "per phase, the epoch with the best dev score of what the phase trains: the full model (last layer) for "
    "phases that train classifiers, the default exit rule for phases that train only exit machinery; ties "
    "broken by the mean dev score over all layers"
)


@torch.no_grad()
def dev_scores(model, dev_batches: list[dict], golds: np.ndarray, metric: str, device: torch.device,
               precision: str = DEFAULT_INFERENCE_PRECISION) -> dict:
    """Dev scores: every layer (the last = full model) and the default exit rule, in the inference precision
    every tool uses (``eeviz.precision``: fp32 unless asked), whatever ``--mixed-precision`` trained in.

    The rule is replayed over the same pass's signals (``replay_signals``: the code true early exit runs, and
    the same exits, as the tests check), so dev batches may also be cached features.
    """
    model.eval()
    signals = collect_signals(model, dev_batches, precision)
    layer_scores = [scores(metric, predictions(signals["probs"][i]), golds) for i in range(model.num_layers)]
    exit_layer, probs, _ = replay_signals(signals, model.make_rule())
    rule_metrics = scores(metric, predictions(probs), golds)
    return {
        "score": layer_scores[-1]["score"],
        "metrics": layer_scores[-1],
        "layer_scores": [s["score"] for s in layer_scores],
        "rule": model.method.default_rule,
        "rule_score": rule_metrics["score"],
        "mean_exit_layer": float(exit_layer.double().mean()),
    }


def selection_score(dev: dict, selects_by: str = "full") -> list[float]:
    """What ``SELECTION_RULE`` compares (as a list, so that ``>`` breaks ties in order)."""
    main = dev["rule_score"] if selects_by == "rule" else dev["score"]
    return [main, float(np.mean(dev["layer_scores"]))]
