"""Each example's key: a number fixed by its tokens alone, so that a random exit rule draws the same numbers for
an example wherever it sits (a trace of one sentence, row 7 of an evaluation batch, row 0 after a file lost its
first rows).

Rules that draw random numbers (``RuleSpec.stochastic``) seed each row's draws from the rule's seed and this
key (``draw_seed``). Seeding one generator per batch instead gave an example the draws of its row: the Dataset
page, an upload and Explore then showed three exits for one sentence at one seed.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import torch


def _digest(*parts: bytes) -> int:
    """A 64-bit number from ``parts`` (blake2b: the same on every machine and in every process, unlike hash())."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(part)
    return int.from_bytes(h.digest(), "little")


def example_keys(batch: dict) -> list[int] | None:
    """One key per row of a tokenized batch: a digest of the row's token ids without its padding. None for a
    batch without token ids (cached features: rows have no tokens to key)."""
    ids = batch.get("input_ids")
    if ids is None:
        return None
    ids = ids.detach().cpu().numpy().astype(np.int64)
    mask = batch.get("attention_mask")
    mask = np.ones_like(ids, dtype=bool) if mask is None else mask.detach().cpu().numpy().astype(bool)
    return [_digest(row[keep].tobytes()) for row, keep in zip(ids, mask)]


def batches_keys(batches) -> list[int] | None:
    """The keys of every row of ``batches``, in order (the rows of a sweep's cached signals); None when a batch
    has no token ids."""
    keys: list[int] = []
    for batch in batches:
        part = example_keys(batch)
        if part is None:
            return None
        keys.extend(part)
    return keys


def draw_seed(seed: int, key: int) -> int:
    """The seed of one example's draws: a digest of the rule's seed and the example's key."""
    return _digest(np.int64(seed).tobytes(), np.uint64(key).tobytes())


def row_generators(seed: int, batch_size: int, keys: Sequence[int] | None) -> list[torch.Generator]:
    """One CPU generator per row, seeded by ``draw_seed``. Without keys, a row's position stands in for its key
    (rows then get their draws by place: only where no tokens exist, e.g. cached features)."""
    if keys is None:
        keys = range(batch_size)
    elif len(keys) != batch_size:
        raise ValueError(f"{len(keys)} example keys for a batch of {batch_size}")
    # on the CPU whatever the device: a seed gives the same draws, so the same exits, on CUDA as in the app's
    # replay (CUDA generators produce other numbers from the same seed)
    return [torch.Generator(device="cpu").manual_seed(draw_seed(seed, int(k))) for k in keys]
