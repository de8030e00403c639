"""Analysis of evaluation results that draws nothing: overthinking, and the examples table of the Dataset page."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .eval_result import EvalResult, ExampleRecord


def is_overthinking(layer_preds: Sequence, gold) -> bool:
    """The last layer is wrong although an earlier layer was right (classification)."""
    if len(layer_preds) < 2 or gold is None:
        return False
    return layer_preds[-1] != gold and any(p == gold for p in layer_preds[:-1])


def examples_table(ev: EvalResult, rule: str) -> pd.DataFrame:
    """An evaluation's examples with one rule's exit (at its default threshold) and the per-layer story."""
    labels = list(ev.labels)

    def name(value):
        if value is None:
            return ""
        return labels[int(value)] if labels and 0 <= int(value) < len(labels) else f"{float(value):.3f}"

    rows = []
    for example in ev.examples:
        preds = list(example.layer_preds)
        gold = example.gold
        exit_info = example.exit.get(rule, {})
        correct_layers = [i + 1 for i, p in enumerate(preds) if p == gold] if labels else []
        rows.append(
            {
                "text": example.text,
                "text_b": example.text_b or "",
                "gold": name(gold),
                "exit layer": exit_info.get("layer"),
                "prediction": name(exit_info.get("pred")),
                "correct": exit_info.get("correct"),
                "last layer": name(preds[-1]) if preds else "",
                "overthinking": bool(labels) and is_overthinking(preds, gold),
                "first correct layer": correct_layers[0] if correct_layers else None,
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty and not frame["text_b"].astype(bool).any():
        frame = frame.drop(columns="text_b")
    return frame


def overthinking_examples(ev: EvalResult) -> list[ExampleRecord]:
    """The evaluation's examples whose last layer is wrong while an earlier layer was right."""
    if not ev.labels:
        return []
    return [e for e in ev.examples if is_overthinking(e.layer_preds, e.gold)]
