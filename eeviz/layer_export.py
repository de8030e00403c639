"""The per-layer table of a decision as a file a user keeps: the sentence, checkpoint, rule and threshold on every
row (the app's "Layers as CSV" downloads, ``eeviz trace --csv``)."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from .plots import layer_table
from .trace import Decision, Trace


def threshold_of(trace: Trace, decision: Decision) -> float | int | None:
    """The value of the rule's threshold (its spec's parameter), an int for a whole-number parameter (a count
    reads 2, as the trace table writes it, not 2.0); None for a rule without one. A trace of a method this
    install lacks falls back to the decision's only numeric parameter."""
    from .methods import get_method

    try:
        spec = get_method(trace.method).rules[decision.rule].spec
    except (ValueError, KeyError):
        numbers = [v for v in decision.params.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return numbers[0] if len(numbers) == 1 else None
    if spec.minimum == spec.maximum or spec.param not in decision.params:
        return None
    value = float(decision.params[spec.param])
    return int(value) if spec.integer and value.is_integer() else value


def layers_frame(checkpoint: str, trace: Trace, decision: Decision) -> pd.DataFrame:
    """The per-layer table (``plots.layer_table``, raw signal names) with the sentence, checkpoint, rule and
    threshold in front, the same on every row."""
    frame = layer_table(trace, decision)
    front = {"sentence": trace.text}
    if trace.text_b is not None:
        front["second sentence"] = trace.text_b
    front.update({"checkpoint": checkpoint, "rule": decision.rule, "threshold": threshold_of(trace, decision)})
    for position, (column, value) in enumerate(front.items()):
        # object columns: stacked with another rule's 0.5, a count of 2 stays 2 (an int column would turn 2.0)
        frame.insert(position, column, pd.Series([value] * len(frame), index=frame.index, dtype=object))
    return frame


def compare_frame(traces: Mapping[str, Trace], decisions: Mapping[str, Decision]) -> pd.DataFrame:
    """Every checkpoint's ``layers_frame``, one under the other (columns a method lacks stay empty)."""
    return pd.concat([layers_frame(name, traces[name], decisions[name]) for name in traces], ignore_index=True)
