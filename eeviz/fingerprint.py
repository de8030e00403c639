"""A short summary of one result (checkpoint, sentence, rule, exit, attention and logits checksums) that two
runs can compare: the app shows it under "Reproduce this result" and the browser benchmark
(``eeviz bench --app``) checks every session's page against a trace of the same sentence in its own process.

Checksums are position-weighted sums (a swapped pair of values changes them), compared with a relative
tolerance: the same sentence through the same checkpoint gives the same numbers to far more digits than
shown, while another sentence's attentions differ in the first digits.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

CHECKSUM_DIGITS = 6  # significant digits shown
TOLERANCE = 1e-4  # relative difference accepted between two checksums


def checksum(values: Any) -> float:
    """Sum of ``values`` (flattened) weighted by position (weights 1..2, period 97); NaN-free inputs only."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return 0.0
    weights = 1.0 + (np.arange(flat.size) % 97) / 97.0
    return float(flat @ weights)


def text_id(text: str, text_b: str | None = None) -> str:
    """First 10 hex digits of the SHA-1 of the input (the pair joined by a NUL): names a sentence briefly."""
    joined = text if text_b is None else f"{text}\0{text_b}"
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()[:10]


def _rounded(value: float) -> float:
    return float(f"{value:.{CHECKSUM_DIGITS}g}")


def result_summary(checkpoint: str, trace, decision) -> dict[str, Any]:
    """What a page shows for one checkpoint, as plain JSON-able data."""
    attentions = getattr(trace, "attentions", None)
    return {
        "checkpoint": checkpoint,
        "text_id": text_id(trace.text, trace.text_b),
        "tokens": len(trace.tokens),
        "rule": decision.rule,
        "params": {k: (v if isinstance(v, str) else float(v)) for k, v in decision.params.items()},
        "exit_layer": int(decision.exit_layer),
        "prediction": decision.label,
        "attention_checksum": None if attentions is None else _rounded(checksum(attentions)),
        "logits_checksum": _rounded(checksum(trace.logits)),
    }


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def differences(shown: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """The fields where a page's summary differs from the expected one (empty when they agree)."""
    problems = []
    for key in ("checkpoint", "text_id", "tokens", "rule", "exit_layer", "prediction"):
        if shown.get(key) != expected.get(key):
            problems.append(f"{key}: shown {shown.get(key)!r}, expected {expected.get(key)!r}")
    for key in ("attention_checksum", "logits_checksum"):
        if not _close(shown.get(key), expected.get(key)):
            problems.append(f"{key}: shown {shown.get(key)!r}, expected {expected.get(key)!r}")
    return problems
