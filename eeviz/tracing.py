"""One sentence through several models at once, tokenized once per distinct tokenizer.

The app's Compare page and the benchmark share this path: each model is loaded once (callers cache the
models), and models that share a tokenizer configuration reuse one tokenization.
"""

from __future__ import annotations

import torch

from .trace import Trace


@torch.inference_mode()
def trace_all(models: dict, text: str, text_b: str | None = None, attentions: bool = True) -> dict[str, Trace]:
    """One sentence through every model in ``models`` (name -> EarlyExitModel), all layers each.

    Models that share a tokenizer configuration reuse one tokenization.
    """
    encodings: dict[tuple, dict] = {}
    out = {}
    for name, model in models.items():
        key = (getattr(model.tokenizer, "name_or_path", id(model.tokenizer)), model.cfg.max_length, str(model.device))
        if key not in encodings:
            encodings[key] = model.tokenize([text], None if text_b is None else [text_b])
        out[name] = model.trace_batch(encodings[key], text, text_b, attentions=attentions)
    return out
