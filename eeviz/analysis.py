"""Analysis of evaluation results that draws nothing: overthinking, and the examples table of the Dataset page."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .eval_result import EvalResult, ExampleRecord, SweepPoint


def is_overthinking(layer_preds: Sequence, gold) -> bool:
    """The last layer is wrong although an earlier layer was right (classification)."""
    if len(layer_preds) < 2 or gold is None:
        return False
    return layer_preds[-1] != gold and any(p == gold for p in layer_preds[:-1])


def examples_table(ev: EvalResult, rule: str, point: SweepPoint | None = None) -> pd.DataFrame:
    """An evaluation's examples with one rule's exit and the per-layer story.

    The exit is at ``point`` (one of the rule's sweep points) when it records the examples' exit layers: the
    prediction is then the exit layer's own (``layer_preds``); otherwise at the rule's default threshold (what
    each example stores, e.g. in files written before sweep points recorded exits).
    """
    labels = list(ev.labels)
    exits = point.exit_layers if point is not None else None

    def name(value):
        if value is None:
            return ""
        return labels[int(value)] if labels and 0 <= int(value) < len(labels) else f"{float(value):.3f}"

    rows = []
    for row, example in enumerate(ev.examples):
        preds = list(example.layer_preds)
        gold = example.gold
        exit_info = example.exit.get(rule, {})
        if exits is not None and exits[row] != exit_info.get("layer"):  # same layer: keep the stored exit as is
            pred = preds[exits[row] - 1]
            exit_info = {"layer": exits[row], "pred": pred, "correct": _correct(pred, gold, labels)}
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


def _correct(pred, gold, labels) -> bool | None:
    """Whether a prediction is right: the class for classification, within the evaluation's tolerance for a
    regression (the one ``eeviz.evaluate`` applies to stored exits)."""
    if gold is None:
        return None
    if labels:
        return bool(pred == gold)
    from .evaluate import REGRESSION_TOLERANCE

    return bool(abs(float(pred) - float(gold)) <= REGRESSION_TOLERANCE)


def overthinking_examples(ev: EvalResult) -> list[ExampleRecord]:
    """The evaluation's examples whose last layer is wrong while an earlier layer was right."""
    if not ev.labels:
        return []
    return [e for e in ev.examples if is_overthinking(e.layer_preds, e.gold)]


# The Dataset page's filters over the examples' layer story, each saying exactly what it selects: overthinking
# (Kaya et al., 2019; the PABEE and DeeBERT papers' sense) is a property of the network, the same at every
# threshold; whether a rule left too early or too late compares its exit with the layers that were right.
STORIES = {
    "overthinking": "overthinking: the last layer is wrong, an earlier layer was right (whatever the exit)",
    "too late": "left too late: wrong at its exit, right at an earlier layer",
    "too early": "left too early: wrong at its exit, right at a later layer",
}


def story_mask(ev: EvalResult, exit_layers: Sequence[int | None], story: str) -> list[bool]:
    """Per stored example (``exit_layers``: its exit under the rule shown), whether it fits ``story``
    (a key of ``STORIES``); nothing fits without class labels (a regression) or a gold label."""
    if story not in STORIES:
        raise ValueError(f"story must be one of {', '.join(STORIES)}, got {story!r}")
    out = []
    for example, exit_layer in zip(ev.examples, exit_layers):
        preds, gold = list(example.layer_preds), example.gold
        if not ev.labels or gold is None or exit_layer is None or not preds:
            out.append(False)
        elif story == "overthinking":
            out.append(is_overthinking(preds, gold))
        else:
            right = [layer for layer, p in enumerate(preds, 1) if p == gold]
            wrong_at_exit = preds[int(exit_layer) - 1] != gold
            if story == "too late":
                out.append(wrong_at_exit and any(layer < exit_layer for layer in right))
            else:
                out.append(wrong_at_exit and any(layer > exit_layer for layer in right))
    return out

