"""Model selection: the dev scores recorded after every epoch, and how a phase's best epoch is chosen."""

from __future__ import annotations

import numpy as np
import torch

from ..evaluate import collect_signals, inference_autocast, model_inputs, predictions, scores, to_device

SELECTION_RULE = (
    "per phase, the epoch with the best dev score of the full model (last layer); ties broken by the mean "
    "dev score over all layers"
)


@torch.no_grad()
def dev_scores(model, dev_batches: list[dict], golds: np.ndarray, metric: str, device: torch.device) -> dict:
    """Dev scores: every layer (the last = full model) and the default exit rule by true early exit."""
    model.eval()
    signals = collect_signals(model, dev_batches)
    layer_scores = [scores(metric, predictions(signals["probs"][i]), golds) for i in range(model.num_layers)]
    exits, preds = [], []
    with inference_autocast(device):
        for batch in dev_batches:
            result = model.early_exit(model_inputs(to_device(batch, device)), model.make_rule())
            exits.append(result.exit_layer.cpu())
            preds.append(result.probs.float().cpu())
    rule_metrics = scores(metric, predictions(torch.cat(preds)), golds)
    return {
        "score": layer_scores[-1]["score"],
        "metrics": layer_scores[-1],
        "layer_scores": [s["score"] for s in layer_scores],
        "rule": model.method.default_rule,
        "rule_score": rule_metrics["score"],
        "mean_exit_layer": float(torch.cat(exits).double().mean()),
    }


def selection_score(dev: dict) -> list[float]:
    """What ``SELECTION_RULE`` compares (as a list, so that ``>`` breaks ties in order)."""
    return [dev["score"], float(np.mean(dev["layer_scores"]))]
