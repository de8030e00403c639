"""Exit-machinery training on cached features of a frozen backbone (``eeviz train --cached-features``).

The papers train each method jointly with its backbone. On a 2-core CPU that leaves a few epochs per method,
too few for exit machinery (λ heads, policy networks, layer weights) to learn anything input-dependent. The
cheap alternative: adapt the backbone once (a method whose loss trains every layer), freeze its encoder
layers, run every training and dev sentence through it *once*, keep each layer's sentence vector (the
[CLS] state or the mean over tokens, before the pooler), and then train a method's heads, pooler and exit
machinery on those vectors for many epochs. The method's loss, phases and model selection are unchanged:
``EarlyExitModel.forward_all`` reads a batch's ``summaries`` instead of running the encoder.

What differs from joint training, by construction: the encoder layers do not change, and their dropout is
off while the vectors are cached (the heads' own dropout still applies).
"""

from __future__ import annotations

import torch

from .model import SUMMARIES


def encoder_frozen(name: str) -> bool:
    """Parameters that cached features hold fixed: every backbone weight except its pooler.

    The pooler (dense + tanh of the sentence vector) runs after the cache, so it can still train.
    """
    return name.startswith("runner.") and "pooler" not in name


@torch.no_grad()
def cache_summaries(model, batches: list[dict], desc: str = "caching features") -> torch.Tensor:
    """Every layer's sentence vector for the examples of ``batches`` (in their order): (L, N, H) on the CPU.

    The model runs in eval mode (no dropout) and full precision, so the cache is deterministic.
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    parts = []
    for batch in tqdm(batches, desc=desc, leave=False):
        inputs = {k: v.to(model.device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        parts.append(model.summaries(inputs).cpu())
    model.train(was_training)
    return torch.cat(parts, dim=1)


class FeatureCollate:
    """DataLoader collate over cached features: a list of indices -> {summaries, labels, index}."""

    def __init__(self, summaries: torch.Tensor, labels: torch.Tensor):
        self.summaries, self.labels = summaries, labels

    def __call__(self, indices: list[int]) -> dict:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {SUMMARIES: self.summaries[:, idx], "labels": self.labels[idx], "index": idx}
