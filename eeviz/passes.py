"""Passes of a model over batches of examples: tokenised batches, every layer's signals, timed passes.

``eeviz.evaluate`` sweeps exit rules over what ``collect_signals`` caches and times true early exit with
``time_points``; training, model selection, the report and the app's uploads build and run their batches
with the same functions.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .data import Example
from .methods.base import ExitRule
from .model import MODEL_INPUTS, SUMMARIES, encode_texts
from .precision import DEFAULT_INFERENCE_PRECISION, inference_autocast


# ---------------------------------------------------------------------------------------------- batches
def make_batch(tokenizer, examples: list[Example], indices: list[int], max_length: int, regression: bool) -> dict:
    """Tokenise ``examples[indices]`` with dynamic padding (``encode_texts``, as ``EarlyExitModel.tokenize``).

    Returns CPU tensors: input_ids, attention_mask (token_type_ids when the tokenizer makes them), ``labels``
    (long; float for regression) and ``index`` (each example's position in its split).
    """
    rows = [examples[i] for i in indices]
    batch = encode_texts(tokenizer, [r.text for r in rows], [r.text_b for r in rows], max_length)
    batch["labels"] = torch.tensor([r.label for r in rows], dtype=torch.float32 if regression else torch.long)
    batch["index"] = torch.tensor(indices, dtype=torch.long)
    return batch


def index_batches(n: int, batch_size: int) -> list[list[int]]:
    """Consecutive index chunks of ``range(n)``."""
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_inputs(batch: dict) -> dict:
    """The tensors the network reads (labels and indices stay out of ``early_exit``'s way)."""
    return {k: v for k, v in batch.items() if k in MODEL_INPUTS or k == SUMMARIES}


@torch.inference_mode()
def collect_signals(model, batches: Iterable[dict], precision: str = DEFAULT_INFERENCE_PRECISION,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, torch.Tensor]:
    """Every layer's signals over all ``batches``, concatenated along the batch: each (L, N, ...) float32 on CPU.

    ``progress(batches done, batches in all)`` is called after each batch (the app's progress bar)."""
    device = model.device
    parts: dict[str, list[torch.Tensor]] = {}
    batches = list(batches) if progress is not None else batches
    with inference_autocast(device, precision):
        for done, batch in enumerate(batches, 1):
            sig, _ = model.forward_all(model_inputs(to_device(batch, device)))
            for key, value in sig.items():
                parts.setdefault(key, []).append(value.float().cpu())
            if progress is not None:
                progress(done, len(batches))
    return {k: torch.cat(v, dim=1) for k, v in parts.items()}


def predictions(probs: torch.Tensor) -> np.ndarray:
    """Class index per row, or the value itself for regression (one output)."""
    if probs.shape[-1] == 1:
        return probs[..., 0].double().numpy()
    return probs.argmax(-1).numpy()


# ---------------------------------------------------------------------------------------------- timing
def batch_shape(batch: dict) -> tuple[int, ...]:
    """(rows, tokens) of a batch of inputs, (layers, rows, width) of one of cached features."""
    return tuple((batch[SUMMARIES] if SUMMARIES in batch else batch["input_ids"]).shape)


@torch.inference_mode()
def time_points(model, batches: list[dict], rules: dict[Any, ExitRule], repeats: int = 1,
                precision: str = DEFAULT_INFERENCE_PRECISION) -> tuple[float, dict[Any, float]]:
    """Seconds of a full pass through all layers, and of true early exit with each rule, on the same batches.

    Interleaved batch by batch so drifting machine load hits all runs alike; with ``repeats`` > 1 each batch
    counts its fastest of that many runs (robust to other processes' load). Untimed warm-up runs (the full
    pass and every rule) come before the first batch and before every batch larger than all before it in
    some dimension: on a GPU the caching allocator grows (and kernels get chosen) for each larger shape, and
    that one-off cost would otherwise land in whichever run meets the shape first. Smaller shapes reuse what
    the larger ones set up, so a sweep warms up about log(batches) times, not once per batch.
    """
    device = model.device
    on_device = [model_inputs(to_device(b, device)) for b in batches]
    full_s, rule_s = 0.0, {k: 0.0 for k in rules}
    largest: tuple[int, ...] = ()  # the largest size seen so far in each dimension

    def timed(fn) -> float:
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        return time.perf_counter() - start

    with inference_autocast(device, precision):
        for batch in on_device:
            shape = batch_shape(batch)
            if len(shape) != len(largest) or any(a > b for a, b in zip(shape, largest)):
                largest = tuple(map(max, shape, largest)) if len(shape) == len(largest) else shape
                model.forward_all(batch)
                for rule in rules.values():
                    model.early_exit(batch, rule)
            best = {key: math.inf for key in (None, *rules)}
            for _ in range(repeats):
                best[None] = min(best[None], timed(lambda: model.forward_all(batch)))
                for key, rule in rules.items():
                    best[key] = min(best[key], timed(lambda: model.early_exit(batch, rule)))
            full_s += best.pop(None)
            for key, seconds in best.items():
                rule_s[key] += seconds
    return full_s, rule_s
