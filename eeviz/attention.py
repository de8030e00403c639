"""Attention summaries over depth: cumulative [CLS] attention (ELBERT) and attention rollout.

Both take one example's attention weights ``A`` of shape (L, heads, T, T) (row = query, column = key).
"""

from __future__ import annotations

import numpy as np


def cumulative_cls_attention(attentions: np.ndarray, cls_index: int = 0) -> np.ndarray:
    """Per head, C^0 = I and C^l = A^l C^{l-1}; returns the [CLS] row of C^l: shape (L, heads, T).

    This is ELBERT's visualisation: how much each input token, carried through all layers up to l,
    reaches the [CLS] position of layer l.
    """
    att = np.asarray(attentions, dtype=np.float64)
    num_layers, heads, tokens, _ = att.shape
    cum = np.broadcast_to(np.eye(tokens), (heads, tokens, tokens)).copy()
    rows = np.empty((num_layers, heads, tokens))
    for layer in range(num_layers):
        cum = att[layer] @ cum
        rows[layer] = cum[:, cls_index, :]
    return rows.astype(np.float32)


def attention_rollout(attentions: np.ndarray, cls_index: int = 0, residual: float = 0.5) -> np.ndarray:
    """Head-averaged rollout with the residual path: Â = (1-r)·mean_h A + r·I, rows renormalised.

    Returns the [CLS] row of Â^l ··· Â^1 for each l: shape (L, T). Abnar & Zuidema (2020).
    """
    att = np.asarray(attentions, dtype=np.float64).mean(axis=1)
    num_layers, tokens, _ = att.shape
    eye = np.eye(tokens)
    cum = eye.copy()
    rows = np.empty((num_layers, tokens))
    for layer in range(num_layers):
        a = (1.0 - residual) * att[layer] + residual * eye
        a = a / a.sum(axis=-1, keepdims=True)
        cum = a @ cum
        rows[layer] = cum[cls_index]
    return rows.astype(np.float32)


def pooled_attention(
    attentions: np.ndarray, pooling: str = "mean", cls_index: int = 0, real: np.ndarray | None = None
) -> np.ndarray:
    """Cumulative attention into the sentence vector the heads read: shape (L, heads, T).

    Per head, C^0 = I and C^l = A^l C^{l-1} (as in ``cumulative_cls_attention``). The heads read
    ``summarize`` of a layer's hidden states: for ``pooling="mean"`` the mean over the real tokens, so
    the row returned is the average of C^l's rows over the real query positions; for ``"cls"`` it is the
    [CLS] row. ``real`` (T,) marks the real positions (None: all of them; a trace has no padding).
    """
    if pooling == "cls":
        return cumulative_cls_attention(attentions, cls_index)
    if pooling != "mean":
        raise ValueError(f"pooling must be 'cls' or 'mean', not {pooling!r}")
    att = np.asarray(attentions, dtype=np.float64)
    num_layers, heads, tokens, _ = att.shape
    weights = np.ones(tokens) if real is None else np.asarray(real, dtype=np.float64)
    weights = weights / weights.sum()
    cum = np.broadcast_to(np.eye(tokens), (heads, tokens, tokens)).copy()
    rows = np.empty((num_layers, heads, tokens))
    for layer in range(num_layers):
        cum = att[layer] @ cum
        rows[layer] = np.einsum("q,hqk->hk", weights, cum)  # weighted mean of the query rows
    return rows.astype(np.float32)
