"""What training checks about a task's labels, and what a checkpoint records about its data.

- ``class_counts`` / ``describe_classes``: rows per class and split, the line training prints first.
- ``check_labels``: a class that no training row has (a typo in dev, "nue" beside "neu"), or two labels that differ
  only in case or spacing ("NEG" beside "neg"), is refused in one line naming where it is; a class of one or two rows
  among hundreds is warned about.
- ``task_fingerprint`` / ``data_changed_note``: a digest of the task's examples and its split sizes, recorded in the
  checkpoint at training time (``ModelConfig.data_fingerprint``), and the one-line warning when the data read now
  is not the data trained on (a changed file re-draws the splits: its test split may hold training rows).

The task is duck-typed (``eeviz.data.TaskData``): this module imports nothing from ``eeviz.data``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

SPLITS = ("train", "dev", "test")
RARE_ROWS = 2  # a class with at most this many rows ...
COMMON_ROWS = 20  # ... beside one with at least this many is likely a typo


def where_line(place: str) -> str:
    """'line 332' out of a row's place in its file ('row 331 (line 332)'), else the place as it is."""
    found = re.search(r"line \d+", place)
    return found.group(0) if found else place


def class_counts(task, splits: dict[str, list] | None = None) -> dict[str, list[int]]:
    """Class name -> rows in train, dev and test (of ``splits``, default the task's own)."""
    splits = splits or {s: getattr(task, s) for s in SPLITS}
    counts = {name: [0, 0, 0] for name in task.labels}
    for k, split in enumerate(SPLITS):
        for ex in splits[split]:
            counts[task.labels[ex.label]][k] += 1
    return counts


def describe_classes(task) -> str:
    """One line: 'classes (train/dev/test rows): neg 107/12/14, pos 109/12/13', or why it is regression."""
    if not task.labels:
        why = getattr(task, "regression_reason", None)
        return "regression (numeric targets)" + (f": {why}" if why else "")
    counts = class_counts(task)
    return "classes (train/dev/test rows): " + ", ".join(f"{name} {'/'.join(map(str, n))}" for name, n in counts.items())


def _at(task, name: str) -> str:
    place = (getattr(task, "first_seen", None) or {}).get(name)
    return f" ({where_line(place)})" if place else ""


def check_labels(task) -> list[str]:
    """Refuse (ValueError, one line) labels that look like typos; return warnings (one line each) for doubtful ones.

    Counts are those of the whole task (``task.full_counts``, before ``--limit``), so a short test run on the
    first rows is not refused for a class its first rows lack.
    """
    if not task.labels:
        return []
    counts = getattr(task, "full_counts", None) or class_counts(task)
    by_key: dict[str, list[str]] = {}
    for name in counts:
        by_key.setdefault(" ".join(name.split()).casefold(), []).append(name)
    for names in by_key.values():
        if len(names) > 1:
            shown = " and ".join(f"'{n}'{_at(task, n)}" for n in names[:3])
            raise ValueError(f"labels {shown} differ only in case or spacing: a typo? they would train as "
                             "different classes; write each class the same way in every row")
    summary = ", ".join(f"{name} {'/'.join(map(str, n))}" for name, n in counts.items())
    for name, (train, dev, test) in counts.items():
        if train == 0:
            where = " and ".join(s for s, n in (("dev", dev), ("test", test)) if n)
            raise ValueError(f"label '{name}'{_at(task, name)} is in {where} only: a typo? every class needs "
                             f"training rows (classes, train/dev/test rows: {summary})")
    largest = max(sum(n) for n in counts.values())
    total = sum(sum(n) for n in counts.values())
    return [f"label '{name}' is in only {sum(n)} of {total} rows{_at(task, name)}: a typo? (classes, "
            f"train/dev/test rows: {summary})"
            for name, n in counts.items() if sum(n) <= RARE_ROWS and largest >= COMMON_ROWS]


# ---------------------------------------------------------------------------------------------- what was trained on
def task_fingerprint(task, max_chars: int | None = None) -> dict[str, Any]:
    """sha256 of the task's class names and examples, split by split in order, and each split's size.

    Texts count up to ``max_chars`` (the length every loader cuts them to), so the digest of a task is the same
    whether it was taken before or after the cut.
    """
    digest = hashlib.sha256(json.dumps(list(task.labels)).encode("utf-8"))
    sizes = {}
    for split in SPLITS:
        examples = getattr(task, split)
        sizes[split] = len(examples)
        digest.update(f"\0{split}\n".encode("utf-8"))
        for ex in examples:
            text_b = ex.text_b if ex.text_b is None or max_chars is None else ex.text_b[:max_chars]
            row = [ex.text if max_chars is None else ex.text[:max_chars], text_b, ex.label]
            digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")
    return {"sha256": digest.hexdigest(), **sizes}


def _sizes(fingerprint: dict[str, Any]) -> str:
    return "/".join(str(fingerprint.get(s, "?")) for s in SPLITS)


def data_changed_note(recorded, task_data) -> str | None:
    """One line when ``task_data`` is not the data a checkpoint was trained on, else None.

    ``recorded``: the checkpoint's ``ModelConfig`` (its ``data_fingerprint``) or that dict itself. A checkpoint
    trained before fingerprints were recorded (or an unreadable record) gives None: nothing to compare.
    ``task_data``: the task as loaded now (``eeviz.data.load_task``; its fingerprint is that of every row, even
    when loaded with ``limit``).
    """
    then = getattr(recorded, "data_fingerprint", recorded)
    if not isinstance(then, dict) or not isinstance(then.get("sha256"), str):
        return None
    now = getattr(task_data, "fingerprint", None) or task_fingerprint(task_data)
    if now.get("sha256") == then["sha256"]:
        return None
    rows_then = sum(v for s in SPLITS if isinstance(v := then.get(s), int))
    rows_now = sum(now.get(s, 0) for s in SPLITS)
    if rows_then == rows_now and all(then.get(s) == now.get(s) for s in SPLITS):
        sizes = f"{rows_now} rows then and now, train/dev/test {_sizes(now)}, but not the same rows"
    else:
        sizes = f"{rows_then} rows then, {rows_now} now; train/dev/test {_sizes(then)} then, {_sizes(now)} now"
    return (f"the data of task '{task_data.name}' changed since training ({sizes}): its test split may hold rows "
            "the model trained on")
