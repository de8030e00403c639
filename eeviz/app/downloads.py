"""The downloads of Explore and Compare: what a file is called and what its CSV holds.

A downloaded file says where it came from: its name holds the checkpoint, the exit rule and a short hash of
the sentence (``eeviz_<checkpoint>_<rule>_<hash8>.csv``; underscores inside a part become hyphens, so the
four parts stay apart), and the CSV repeats the sentence, checkpoint, rule and threshold on every row beside
the per-layer data. Figures saved from a chart's camera button get the same name. CSVs are written by
``csv_safe.csv_text``: a sentence that starts like a formula ("=", "+", "-", "@") is not run by a spreadsheet.
"""

from __future__ import annotations

import json
import re
from typing import Mapping, Sequence

import pandas as pd
import streamlit as st

from ..catalog import CheckpointInfo
from ..csv_safe import csv_text
from ..fingerprint import text_id
from ..layer_export import layers_frame
from ..trace import Decision, Trace

HASH_DIGITS = 8
NAME_PART_CHARS = 60  # longer joined parts (many checkpoints on Compare) are replaced by a count
_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]+")


def sentence_hash(text: str, text_b: str | None = None) -> str:
    """The first 8 hex digits of the sentence's SHA-1 (the pair joined by a NUL): the start of the
    ``text_id`` that "Reproduce this result" shows."""
    return text_id(text, text_b)[:HASH_DIGITS]


def name_part(text: str) -> str:
    """``text`` as one part of a file name: letters, digits, '.', '+' and '-' only."""
    return _UNSAFE.sub("-", str(text)).strip("-.") or "none"


def joined_part(names: Sequence[str], what: str) -> str:
    """Several names as one part ('a+b+c'), or their count ('4-checkpoints') when that runs too long."""
    unique = list(dict.fromkeys(name_part(n) for n in names))
    joined = "+".join(unique)
    return joined if len(joined) <= NAME_PART_CHARS else f"{len(unique)}-{what}"


def download_name(checkpoint: str, rule: str, text: str, text_b: str | None, ext: str, what: str = "") -> str:
    """``eeviz_<checkpoint>_<rule>_<hash8>[_<what>].<ext>``; ``ext`` empty for a name without extension."""
    parts = ["eeviz", name_part(checkpoint), name_part(rule), sentence_hash(text, text_b)]
    if what:
        parts.append(name_part(what))
    return "_".join(parts) + (f".{ext}" if ext else "")


def figure_config(filename: str) -> dict:
    """A plotly chart's config: its camera button saves the PNG under ``filename`` (no extension)."""
    return {"toImageButtonOptions": {"filename": filename, "format": "png"}}


def explore_name(info: CheckpointInfo, trace: Trace, decision: Decision, ext: str, what: str = "") -> str:
    return download_name(info.name, decision.rule, trace.text, trace.text_b, ext, what)


def compare_name(traces: Mapping[str, Trace], decisions: Mapping[str, Decision], ext: str, what: str = "") -> str:
    first = next(iter(traces.values()))
    rules = [decisions[name].rule for name in traces]
    return "_".join(
        ["eeviz", joined_part(list(traces), "checkpoints"), joined_part(rules, "rules"),
         sentence_hash(first.text, first.text_b)] + ([name_part(what)] if what else [])
    ) + (f".{ext}" if ext else "")


EXIT_MARK = "◀ exit"  # ``plots.layer_table``'s mark of the exit layer, for the eye


def readable_layers(checkpoint: str, trace: Trace, decision: Decision) -> pd.DataFrame:
    """The app's "Layers as CSV": ``layer_export.layers_frame`` in the words the page shows (the rule's and the
    signals' plain names, as the table above it), and the exit as true/false columns a spreadsheet can filter
    ("exit here", "ran": the layer was computed) instead of "◀ exit"/"skipped". ``eeviz trace --csv`` keeps
    the code's names."""
    from ..methods import get_method
    from .figures import plain_columns

    frame = plain_columns(layers_frame(checkpoint, trace, decision), trace)
    try:
        frame["rule"] = get_method(trace.method).rules[decision.rule].spec.display
    except (ValueError, KeyError):  # a method or rule this install lacks: its key is all there is
        pass
    if "exit" in frame.columns:
        marks = frame.pop("exit")
        frame["exit here"] = marks == EXIT_MARK
        frame["ran"] = marks != "skipped"
    return frame


def export_payload(info: CheckpointInfo, trace: Trace, decision: Decision) -> dict:
    """Everything needed to reproduce the view: checkpoint, config, decision and the trace (no attentions)."""
    return {
        "checkpoint": info.name,
        "config": info.cfg.to_dict(),
        "decision": decision.to_dict(),
        "trace": trace.to_dict(attentions=False),
    }


def export_buttons(info: CheckpointInfo, trace: Trace, decision: Decision) -> None:
    """Explore: the trace and decision as JSON, and the per-layer table as CSV."""
    cols = st.columns([1, 1, 3])
    # the files are written when a button is clicked (a callable), not on every threshold move
    cols[0].download_button(
        "Trace as JSON",
        lambda: json.dumps(export_payload(info, trace, decision), indent=1),
        file_name=explore_name(info, trace, decision, "json"),
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
    )
    cols[1].download_button(
        "Layers as CSV",
        lambda: csv_text(readable_layers(info.name, trace, decision)),
        file_name=explore_name(info, trace, decision, "csv"),
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    cols[2].caption(
        "The page's URL holds the checkpoint, the sentence (unless it is too long for a link), the rule and its "
        "threshold: copy it to share this exact view. File names hold the checkpoint, the rule and the first 8 "
        "digits of the sentence's id."
    )


def compare_export_buttons(traces: Mapping[str, Trace], decisions: Mapping[str, Decision]) -> None:
    """Compare: every checkpoint's layers in one CSV."""
    cols = st.columns([1, 3])
    cols[0].download_button(
        "Layers as CSV",
        lambda: csv_text(pd.concat([readable_layers(name, traces[name], decisions[name]) for name in traces],
                                   ignore_index=True)),
        file_name=compare_name(traces, decisions, "csv"),
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    cols[1].caption(
        "Every checkpoint's layers, one under the other, each row with its sentence, checkpoint, rule and "
        "threshold. The page's URL holds the checkpoints, the sentence (unless it is too long for a link), the "
        "rules and their thresholds."
    )


def sentences_name(checkpoints: Sequence[str], digest: str, ext: str = "csv") -> str:
    """Your sentences' table: ``eeviz_<checkpoints>_your-sentences_<hash8>.<ext>``, the hash that of the uploaded
    file or pasted text (so two tables of different data never share a name)."""
    parts = ["eeviz", joined_part(checkpoints, "checkpoints"), "your-sentences", digest[:HASH_DIGITS] or "none"]
    return "_".join(parts) + f".{ext}"
