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

import hashlib
import os
from pathlib import Path

import torch

from .model import MODEL_INPUTS as INPUT_KEYS
from .model import SUMMARIES


FEATURE_BATCH = 32  # examples per encoder pass while caching (fixed: the cache key hashes the padded inputs)


def encoder_frozen(name: str) -> bool:
    """Parameters that cached features hold fixed: every backbone weight except its pooler.

    The pooler (dense + tanh of the sentence vector) runs after the cache, so it can still train.
    """
    return name.startswith("runner.") and "pooler" not in name


def cache_dir() -> Path:
    """Where computed features are kept between runs: ``$EEVIZ_CACHE`` or ``~/.cache/eeviz``, then features/."""
    return Path(os.environ.get("EEVIZ_CACHE") or Path.home() / ".cache" / "eeviz") / "features"


def content_key(model, batches: list[dict]) -> str:
    """A hash of everything the features depend on: the encoder's weights, the pooling and the inputs."""
    digest = hashlib.sha256(f"{model.cfg.pooling}|{model.num_layers}".encode())
    for name, param in sorted(model.named_parameters()):
        if encoder_frozen(name):
            digest.update(name.encode())
            digest.update(param.detach().cpu().float().numpy().tobytes())
    for batch in batches:
        for key in INPUT_KEYS:
            if key in batch:
                digest.update(batch[key].cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


def cache_summaries(model, batches: list[dict], desc: str = "caching features") -> torch.Tensor:
    """Every layer's sentence vector for the examples of ``batches`` (in their order): (L, N, H) on the CPU.

    Computed once per content (``content_key``) and kept in ``cache_dir()``: every method of a preset starts
    from the same encoder, so only the first one pays for the pass. A missing or unreadable file is
    recomputed.
    """
    from safetensors.torch import load_file, save_file

    path = cache_dir() / f"{content_key(model, batches)}.safetensors"
    try:
        return load_file(str(path))["summaries"]
    except Exception:  # noqa: BLE001 - no cache yet, or a broken one: compute it again
        pass
    summaries = compute_summaries(model, batches, desc)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        save_file({"summaries": summaries.contiguous()}, str(tmp))
        os.replace(tmp, path)
    except OSError:  # a read-only home: the run still works, the next one recomputes
        pass
    return summaries


@torch.no_grad()
def compute_summaries(model, batches: list[dict], desc: str = "caching features") -> torch.Tensor:
    """``cache_summaries`` without the disk: eval mode (no dropout), full precision, so it is deterministic."""
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    parts = []
    for batch in tqdm(batches, desc=desc, leave=False):
        inputs = {k: v.to(model.device) for k, v in batch.items() if k in INPUT_KEYS}
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
