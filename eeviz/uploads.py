"""Sentences a user brings: an uploaded CSV/JSONL file (``text``, optional ``label`` and ``text_b``) or pasted
lines, read into examples for a checkpoint and run through it.

Reading reuses the data files' own validation (``eeviz.data_files.rows_from_bytes``: encoding, columns, empty
texts; ``map_onto``: labels as class names or indices) and cleans each text as the Explore page cleans a typed
one (``eeviz.inputs.clean_text``), so a sentence's exit here is the exit Explore shows for it. Every problem is
an ``UploadError`` with a one-line message.

Running gives, per checkpoint, each sentence's exit at a rule and threshold (the checkpoint's default unless
given: the app passes those set on Explore/Compare) (``SentenceExits``): one network pass
(``collect_signals``) and the rule replayed over it (``replay_signals``). With labels,
``eeviz.evaluate.evaluate_model`` also sweeps every rule over that same pass (the Dataset page's sweep, untimed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .data import Example, cut_long_texts
from .data_files import FILE_EXTENSIONS, map_onto, rows_and_places
from .eval_result import EvalResult
from .evaluate import evaluate_model
from .example_keys import batches_keys
from .passes import collect_signals, index_batches, predictions
from .inputs import clean_text, visible
from .model import TOKENIZER_LOCK, encode_texts
from .trace import replay_signals

# Limits that keep one run to seconds on a small shared CPU: 500 sentences through 7 small checkpoints is a few
# thousand sentence passes, done in batches. The file limit is also the uploader widget's.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_ROWS = 500
SPLIT_NAME = "your sentences"  # the split name evaluations of uploaded data carry
PASTED = "pasted sentences"  # the source name of pasted text
BATCH_SIZE = 32

Progress = Callable[[int, int], None]


class UploadError(ValueError):
    """Data a user brought that cannot be used, with a one-line message saying why."""


class UnknownLabels(UploadError):
    """Labels that are none of a checkpoint's classes (nor class indices): the sentences still run without them
    (``without_labels``)."""


@dataclass(frozen=True)
class Sentences:
    """What a user brought, read and cleaned; labels stay as given until a checkpoint's classes map them.

    Attributes:
        source: The file's name, or ``PASTED``.
        texts: The (first) texts, cleaned as typed text is.
        texts_b: Second texts of pairs, else None per row.
        labels: The labels as written in the file, or None when it has no label column.
        notices: Things the user should know (texts cut to the character limit).
        digest: Identifies the content (cache key of the results).
        places: Each row's place in the file ("line 3"), for messages about a row; empty for pasted text.
    """

    source: str
    texts: tuple[str, ...]
    texts_b: tuple[str | None, ...]
    labels: tuple | None
    notices: tuple[str, ...] = ()
    digest: str = ""
    places: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    @property
    def is_pair(self) -> bool:
        return any(t is not None for t in self.texts_b)


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1024 / 1024:.1f} MB" if num_bytes >= 1024 * 1024 else f"{num_bytes / 1024:.0f} KB"


def _digest(kind: str, name: str, raw: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\0" + name.encode() + b"\0" + raw).hexdigest()


def _check_size(what: str, num_bytes: int) -> None:
    if num_bytes > MAX_UPLOAD_BYTES:
        raise UploadError(f"{what} is {_size(num_bytes)}; the limit is {_size(MAX_UPLOAD_BYTES)}.")


def _check_rows(what: str, rows: int) -> None:
    if rows > MAX_ROWS:
        raise UploadError(
            f"{what} has {rows} sentences; the limit is {MAX_ROWS}: keep the first {MAX_ROWS} or split it."
        )


def _build(source: str, texts, texts_b, labels, digest: str, places=()) -> Sentences:
    """Cleans texts as typed text is (rows left empty or invisible-only are dropped: a file's were already named
    by ``rows_and_places``), cuts very long ones with a notice."""
    rows, kept_places = [], []
    for i, text in enumerate(texts):
        text, text_b = clean_text(text), None if texts_b[i] is None else clean_text(texts_b[i])
        if visible(text):
            rows.append(Example(text, None if labels is None else labels[i], text_b if text_b and visible(text_b) else None))
            kept_places.extend(places[i:i + 1])
    if not rows:
        raise UploadError(f"{source} has no sentences (every text is empty).")
    _check_rows(source, len(rows))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cut_long_texts(rows, source)
    return Sentences(
        source=source,
        texts=tuple(r.text for r in rows),
        texts_b=tuple(r.text_b for r in rows),
        labels=None if labels is None else tuple(r.label for r in rows),
        notices=tuple(str(w.message) for w in caught),
        digest=digest,
        places=tuple(kept_places),
    )


def read_upload(name: str, raw: bytes) -> Sentences:
    """An uploaded .csv/.jsonl/.json (JSON lines) file's sentences.

    Raises:
        UploadError: Too big, wrong kind, not UTF-8, no 'text' column, a row without a label in a file with
            labels, too many rows, nothing to read.
    """
    name = name or "the file"
    if not name.lower().endswith(FILE_EXTENSIONS):
        raise UploadError(f"{name} is not a {', '.join(FILE_EXTENSIONS)} file.")
    _check_size(name, len(raw))
    if not raw.strip():
        raise UploadError(f"{name} is empty.")
    try:
        with warnings.catch_warnings(record=True) as caught:  # rows left out: said on the page
            warnings.simplefilter("always")
            rows, places = rows_and_places(name, raw, label_required=False)
    except ValueError as err:
        raise UploadError(_one_line(err)) from None
    _check_rows(name, len(rows))
    labelled = "label" in rows[0]
    sentences = _build(
        name,
        [str(r["text"]) for r in rows],
        [None if r.get("text_b") in (None, "") else str(r["text_b"]) for r in rows],
        [r["label"] for r in rows] if labelled else None,
        _digest("file", name, raw),
        places,
    )
    return dataclasses.replace(sentences, notices=(*(str(w.message) for w in caught), *sentences.notices))


def read_pasted(text: str) -> Sentences:
    """Pasted sentences, one per line (empty lines skipped); they carry no labels."""
    raw = (text or "").encode("utf-8")
    _check_size("The pasted text", len(raw))
    lines = [line for line in (text or "").split("\n") if clean_text(line)]
    if not lines:
        raise UploadError("Paste at least one sentence (one per line).")
    _check_rows("The pasted text", len(lines))
    return _build(PASTED, lines, [None] * len(lines), None, _digest("paste", "", raw))


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def examples_for(sentences: Sentences, cfg) -> list[Example]:
    """The sentences as examples for a checkpoint (``cfg``: its ``ModelConfig``), labels mapped onto its classes.

    Labels without a label column are None (nothing to score).

    Raises:
        UploadError: The checkpoint reads pairs and the data has single sentences (or the other way round), or
            a label is neither one of its classes nor a class index.
    """
    if cfg.is_pair and not all(t is not None for t in sentences.texts_b):
        raise UploadError("it reads sentence pairs: every row needs a second text (a 'text_b' column).")
    if not cfg.is_pair and sentences.is_pair:
        raise UploadError("it reads single sentences, but the data has a second text ('text_b').")
    labels = [None] * len(sentences)
    if sentences.labelled:
        try:
            labels = map_onto(list(sentences.labels), list(cfg.labels), sentences.source, list(sentences.places))
        except ValueError as err:
            unknown = _unknown_labels(sentences, list(cfg.labels))
            if unknown:
                raise UnknownLabels(unknown) from None
            raise UploadError(_one_line(err)) from None
    return [Example(t, y, b) for t, b, y in zip(sentences.texts, sentences.texts_b, labels)]


def _unknown_labels(sentences: Sentences, names: list[str]) -> str:
    """The message about labels that are none of the classes ``names`` nor their indices, in plain words with
    the ways out (the data files' own message, in Python's list syntax, told a CSV with positive/negative only
    what was expected); "" when every label is a class or an index (another problem: said as it is)."""
    from .messages import shorten

    if not names:
        return ""
    indices = {str(i) for i in range(len(names))}
    rows = [i for i, v in enumerate(sentences.labels) if str(v).strip() not in names and str(v).strip() not in indices]
    if not rows:
        return ""
    unknown = list(dict.fromkeys(shorten(str(sentences.labels[i]).strip(), 30) for i in rows))
    where = sentences.places[rows[0]] if rows[0] < len(sentences.places) else f"row {rows[0] + 1}"
    shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    return (f"its classes are {' and '.join(names) if len(names) == 2 else ', '.join(names)} (or 0 to "
            f"{len(names) - 1}), but the labels here include {shown}, the first at {where}. Rename the labels to "
            f"{'/'.join(names)}, or drop the label column to see each sentence's exit without accuracy.")


def without_labels(sentences: Sentences) -> Sentences:
    """The same sentences without their labels (exits and predictions, no accuracy), a content of their own
    for the caches."""
    return dataclasses.replace(sentences, labels=None, digest=_digest("no labels", "", sentences.digest.encode()))


# ---------------------------------------------------------------------------------------------- running
@dataclass
class SentenceExits:
    """Each sentence's exit through one checkpoint at its default rule and threshold.

    Attributes:
        rule: The checkpoint's default exit rule, ``threshold`` its default threshold; ``rule_title`` and
            ``threshold_name`` name them in plain words.
        exit_layers: 1..``num_layers`` per sentence.
        preds: The class index (a float for regression) at exit, per sentence.
        labels: The checkpoint's class names ([] for regression).
        correct: Per sentence, whether the prediction at exit is right; None without labels.
        cut_rows: Rows (0-based) longer than the ``max_length`` tokens the model reads.
        evaluation: With labels, the whole sweep (the Dataset page's views), else None.
    """

    rule: str
    threshold: float
    rule_title: str
    threshold_name: str
    num_layers: int
    max_length: int
    exit_layers: list[int]
    preds: list
    labels: list[str]
    correct: list[bool] | None = None
    cut_rows: list[int] = field(default_factory=list)
    evaluation: EvalResult | None = None

    def pred_names(self) -> list[str]:
        if not self.labels:
            return [f"{float(p):.3f}" for p in self.preds]
        return [self.labels[int(p)] for p in self.preds]


def long_rows(model, examples: list[Example]) -> list[int]:
    """Rows longer than the model's ``max_length`` tokens (it reads only their start)."""
    texts_b = [e.text_b for e in examples]
    with TOKENIZER_LOCK:
        ids = model.tokenizer(
            [e.text for e in examples], text_pair=None if all(t is None for t in texts_b) else texts_b,
            truncation=False,
        )["input_ids"]
    return [i for i, row in enumerate(ids) if len(row) > model.cfg.max_length]


@torch.inference_mode()
def run_checkpoint(model, examples: list[Example], source: str = PASTED, progress: Progress | None = None,
                   rule: str | None = None, threshold: float | None = None) -> SentenceExits:
    """Each example through ``model`` (all layers once, batched) and ``rule`` at ``threshold`` (the checkpoint's
    default rule and its default threshold when None) replayed over that.

    ``progress(batches done, batches in all)`` follows the network pass. Labelled examples (every label set)
    also get the whole evaluation sweep, untimed. A rule that draws random numbers gives each sentence the draws
    its seed and the sentence's tokens give it (``eeviz.example_keys``), as in Explore and ``evaluate_model``.
    """
    from .analysis import _correct

    if not examples:
        raise UploadError("no sentences to run")
    model.eval()
    method = model.method
    rule = rule or method.default_rule
    spec = method.rules[rule].spec
    threshold = method.default_threshold(rule) if threshold is None else threshold
    labelled = all(e.label is not None for e in examples)
    common = dict(rule=rule, threshold=threshold, rule_title=spec.display, threshold_name=spec.symbol or spec.label,
                  num_layers=model.num_layers, max_length=model.cfg.max_length,
                  labels=list(model.cfg.labels), cut_rows=long_rows(model, examples))
    batches = [
        encode_texts(model.tokenizer, [examples[i].text for i in idx], [examples[i].text_b for i in idx],
                     model.cfg.max_length)
        for idx in index_batches(len(examples), BATCH_SIZE)
    ]
    signals = collect_signals(model, batches, progress=progress)  # the one network pass, for both uses below
    ev = None
    if labelled:  # the Dataset page's sweep over the same pass
        ev = evaluate_model(model, examples, task=source, split=SPLIT_NAME, batch_size=BATCH_SIZE,
                            max_examples=len(examples), timing="none", signals=signals)
    params = {} if spec.minimum == spec.maximum else {spec.param: threshold}
    exit_layer, probs, _ = replay_signals(signals, model.make_rule(rule, **params), batches_keys(batches))
    regression = model.cfg.is_regression
    preds = [float(p) if regression else int(p) for p in np.asarray(predictions(probs))]
    correct = [_correct(p, e.label, common["labels"]) for p, e in zip(preds, examples)] if labelled else None
    return SentenceExits(exit_layers=[int(v) for v in exit_layer.tolist()], preds=preds, correct=correct,
                         evaluation=ev, **common)


def result_columns(title: str) -> tuple[str, str, str]:
    """The table's columns of one checkpoint (by its title): exit layer, prediction, right."""
    return f"{title}: exit layer", f"{title}: prediction", f"{title}: right"


def sentence_table(sentences: Sentences, runs: dict[str, SentenceExits], titles: dict[str, str]) -> pd.DataFrame:
    """One row per sentence: its text (and second text, label), and per checkpoint its exit layer, the
    prediction there and, with labels, whether it is right. Columns are named by the checkpoints' titles."""
    table: dict[str, list] = {"#": list(range(1, len(sentences) + 1)), "sentence": list(sentences.texts)}
    if sentences.is_pair:
        table["second sentence"] = [t or "" for t in sentences.texts_b]
    if sentences.labelled:
        table["label"] = [str(v) for v in sentences.labels]
    for name, run in runs.items():
        exit_col, pred_col, right_col = result_columns(titles.get(name, name))
        table[exit_col] = run.exit_layers
        table[pred_col] = run.pred_names()
        if run.correct is not None:
            table[right_col] = run.correct
    return pd.DataFrame(table)
