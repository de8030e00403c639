"""Data order for training: seeded epoch batches (sharded across processes, bucketed by length) and loaders."""

from __future__ import annotations

import numpy as np
import torch

from ..passes import make_batch, to_device
from ..model import encode_texts

BUCKET_BATCHES = 50  # length bucketing sorts runs of this many batches by length


def epoch_batches(n: int, batch_size: int, seed: int, phase: int, epoch: int, rank: int = 0, world: int = 1,
                  lengths: np.ndarray | None = None):
    """This process's batches (lists of example indices) for one epoch.

    The order is a seeded permutation of (seed, phase, epoch), the same in every process; each global batch
    of ``batch_size * world`` examples is split among the processes. With several processes the order is
    padded by wrapping around so that every process runs the same number of full steps (DDP needs that).
    With ``lengths`` (tokens per example), runs of ``BUCKET_BATCHES`` batches are sorted by length and the
    batches then shuffled: batches hold inputs of similar length, so far less padding is computed, while
    the order stays random.
    """
    rng = np.random.default_rng([seed, phase, epoch])
    order = rng.permutation(n)
    step = batch_size * world
    if world > 1 and len(order) % step:
        order = np.concatenate([order, np.resize(order, step - len(order) % step)])
    starts = range(0, len(order), step)
    if lengths is not None:
        runs = np.split(order, range(step * BUCKET_BATCHES, len(order), step * BUCKET_BATCHES))
        order = np.concatenate([run[np.argsort(lengths[run], kind="stable")] for run in runs])
        starts = rng.permutation(np.arange(0, len(order), step))
    return [order[s + rank * batch_size: s + (rank + 1) * batch_size].tolist() for s in starts]


def reseed(seed: int, phase: int, epoch: int, rank: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) from (seed, phase, epoch, rank); epoch -1 = before the phase."""
    from accelerate.utils import set_seed

    set_seed(int(np.random.SeedSequence([seed, phase, epoch + 1, rank]).generate_state(1)[0]))


def token_lengths(tokenizer, examples, max_length: int) -> np.ndarray:
    """Tokens per example (after truncation), for length bucketing."""
    if not examples:
        return np.zeros(0, dtype=np.int64)
    enc = encode_texts(tokenizer, [e.text for e in examples], [e.text_b for e in examples], max_length)
    return enc["attention_mask"].sum(1).numpy()


class Collate:
    """DataLoader collate: a list of indices into the split -> a tokenised batch (``make_batch``)."""

    def __init__(self, tokenizer, examples, max_length: int, regression: bool):
        self.tokenizer, self.examples, self.max_length, self.regression = tokenizer, examples, max_length, regression

    def __call__(self, indices: list[int]) -> dict:
        return make_batch(self.tokenizer, self.examples, indices, self.max_length, self.regression)


class DeviceLoader:
    """Wraps a DataLoader so its batches arrive on ``device`` (what ``Phase.prepare`` receives)."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device = loader, device

    def __iter__(self):
        for batch in self.loader:
            yield to_device(batch, self.device)

    def __len__(self) -> int:
        return len(self.loader)


def index_loader(batches: list[list[int]], collate: Collate, num_workers: int):
    """A DataLoader over ready-made index batches, in the given order (tokenised by ``collate``)."""
    return torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False, collate_fn=collate,
                                       num_workers=num_workers)
