"""The Your sentences page's parts: where the sentences come from, which checkpoints fit them, and running them
with a progress bar, each (content, checkpoint) once per process (``eeviz.uploads`` does the work)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from ..catalog import CheckpointInfo
from ..data import Example
from ..uploads import (
    MAX_ROWS,
    MAX_UPLOAD_BYTES,
    PASTED,
    SentenceExits,
    Sentences,
    UnknownLabels,
    UploadError,
    examples_for,
    read_pasted,
    read_upload,
    result_columns,
    run_checkpoint,
    sentence_table,
    without_labels,
)
from .loading import _stamp, load_models
from .page import md_escape, page_switches
from .rules import rule_key, threshold_key, url_value_problem

FILE, PASTE = "file", "paste"
# session key: (name, bytes) of the last file read without error. Streamlit's uploader comes back empty after
# a visit to another page (pasted text is kept by its widget); the file is kept here until the user removes
# it from the uploader, picks another, or presses "Forget it".
KEPT_FILE = "_eeviz_kept_upload"
MAX_CACHED_RUNS = 32  # (content, checkpoint) results kept per process (about 2 MB each for 500 sentences)
PASTE_PLACEHOLDER = "the plot is good but the acting is bad\nan utterly dull film\n…"

_runs: OrderedDict[tuple, SentenceExits] = OrderedDict()
_runs_lock = threading.Lock()


def sentence_source() -> Sentences | None:
    """The upload box or the paste box, and what was read from it; None while there is nothing yet. Bad
    input is reported in one line (``st.error``) and gives None."""
    kind = st.segmented_control(
        "Sentences from", [FILE, PASTE], default=FILE, required=True, key="up_source",
        format_func={FILE: "a file", PASTE: "pasted lines"}.get, persist_state="session",
    )
    try:
        if kind == FILE:
            upload = st.file_uploader(
                "A CSV or JSON-lines file", type=["csv", "jsonl", "json"], key="up_file",
                max_upload_size=max(1, MAX_UPLOAD_BYTES // (1024 * 1024)),
                help=f"a **text** column, optionally **label** (class names or indices) and **text_b** (the "
                f"second sentence of pairs); at most {MAX_ROWS} rows",
                on_change=_forget_removed_file,
            )
            st.caption(
                f"Columns: **text**, optionally **label** and **text_b**; at most {MAX_ROWS} rows. "
                "With labels you also get accuracy against speed-up."
            )
            if upload is not None:
                st.session_state.pop(KEPT_FILE, None)  # a file that fails to read replaces the kept one too
                data = upload.getvalue()
                sentences = read_upload(upload.name, data)
                st.session_state[KEPT_FILE] = (upload.name, data)
                return sentences
            return _kept_file()
        text = st.text_area(
            "Sentences, one per line", key="up_paste", height=160, placeholder=PASTE_PLACEHOLDER,
            max_chars=MAX_UPLOAD_BYTES, persist_state="session",
        )
        st.caption(f"At most {MAX_ROWS} lines; Ctrl+Enter to apply. Pasted sentences carry no labels.")
        return read_pasted(text) if text and text.strip() else None
    except UploadError as err:
        st.error(md_escape(err), icon=":material/error:")
        return None


def _forget_removed_file() -> None:
    """The uploader changed: a file removed with its × is forgotten (a new file replaces it when read)."""
    if st.session_state.get("up_file") is None:
        st.session_state.pop(KEPT_FILE, None)


def _kept_file() -> Sentences | None:
    """The file uploaded earlier in this session, while the uploader is empty after a visit to another page."""
    kept = st.session_state.get(KEPT_FILE)
    if kept is None:
        return None
    name, data = kept
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(f"Using **{md_escape(name)}**, uploaded earlier in this session; choose a file above to use another.")
    if right.button("Forget it", key="up_forget", icon=":material/close:"):
        st.session_state.pop(KEPT_FILE, None)
        st.rerun()
    return read_upload(name, data)


def describe(sentences: Sentences) -> None:
    """One line on what was read, and the notices (texts cut to the character limit)."""
    what = "sentence pairs" if sentences.is_pair else "sentences"
    labels = f", labelled ({len(set(map(str, sentences.labels)))} label values)" if sentences.labelled else ", no labels"
    n = len(sentences)
    origin = f"{n} pasted {what}" if sentences.source == PASTED else f"{n} {what} from {md_escape(sentences.source)}"
    st.caption(f"{origin}{labels}.")
    for notice in sentences.notices:
        st.warning(md_escape(notice), icon=":material/content_cut:")


NO_LABELS_KEY = "up_no_labels"


def labels_choice(sentences: Sentences, infos: list[CheckpointInfo]) -> Sentences:
    """Where the labels are none of a chosen checkpoint's classes: a switch to run without them (exits and
    predictions still shown, no accuracy), which says so when on. Returns the sentences to run."""
    if not sentences.labelled:
        return sentences
    refused = False
    for info in infos:
        try:
            examples_for(sentences, info.cfg)
        except UnknownLabels:
            refused = True
            break
        except UploadError:
            continue
    if not refused:
        return sentences
    if st.toggle("Run without the labels", key=NO_LABELS_KEY,
                 help="the labels are left out: each sentence's exit and prediction are shown, without accuracy"):
        st.caption("Running without the labels: each sentence's exit and prediction, no accuracy against speed-up.")
        return without_labels(sentences)
    return sentences


def fitting(sentences: Sentences, infos: list[CheckpointInfo], titles: dict[str, str]) -> dict[str, list[Example]]:
    """The examples for every checkpoint the data fits; the others get one line each (grouped by reason)."""
    fits, skipped, labels_refused = {}, {}, False
    for info in infos:
        try:
            fits[info.name] = examples_for(sentences, info.cfg)
        except UnknownLabels as err:  # the switch above runs them without the labels
            labels_refused = True
            skipped.setdefault(f"{err} Or switch on Run without the labels above.", []).append(
                titles.get(info.name, info.name))
        except UploadError as err:
            skipped.setdefault(str(err), []).append(titles.get(info.name, info.name))
    for reason, names in skipped.items():
        every = len(names) == len(infos) > 1
        who = "every chosen checkpoint" if every else ", ".join(names)
        if every:  # the reason is written for one checkpoint
            reason = reason.replace("its classes are", "their classes are", 1)
        st.warning(f"Skipped {md_escape(who)}: {md_escape(reason)}", icon=":material/block:")
    if not fits:  # what to do next: another checkpoint cannot help when the labels are the trouble
        st.info("Switch on **Run without the labels**, or rename the labels, to run these sentences."
                if labels_refused else "Choose at least one checkpoint that fits these sentences.")
    return fits


@dataclass(frozen=True)
class RuleChoice:
    """The rule and threshold a checkpoint runs the sentences at; ``from_session`` when Explore or Compare set
    them in this session (else the checkpoint's defaults)."""

    rule: str
    threshold: float | None  # None: a rule without a threshold
    words: str  # "entropy, S = 0.1"
    from_session: bool


def rule_choice(info: CheckpointInfo) -> RuleChoice:
    """The rule and threshold the session's sidebar holds for this checkpoint's method (the keys Explore and
    Compare read and write: ``rule_<method>``, ``t_<method>_<rule>``), else the checkpoint's defaults. A value
    the rule cannot take is ignored. (Your sentences used the defaults only, and disagreed with Explore.)"""
    from ..methods import get_method

    method_cls = get_method(info.cfg.method)
    default_rule = info.cfg.default_rule or method_cls.default_rule
    rule = st.session_state.get(rule_key(method_cls.name))
    words = {r.spec.display: name for name, r in method_cls.rules.items()}
    rule = rule if rule in method_cls.rules else words.get(rule, default_rule)  # the key, or the buttons' words
    spec = method_cls.rules[rule].spec
    default = float(info.cfg.rule_defaults.get(rule, spec.default))
    threshold: float | None = default
    value = st.session_state.get(threshold_key(method_cls.name, rule))
    # the checks a threshold from a link gets (a number, finite, whole where it must be, in range)
    if value is not None and not isinstance(value, bool) and url_value_problem(spec, str(value)) is None:
        threshold = float(value)
    if spec.minimum == spec.maximum:
        threshold = None
    symbol = spec.symbol or spec.label
    shown = "no threshold" if threshold is None else f"{symbol} = {threshold:g}"
    chosen = rule != default_rule or (threshold is not None and threshold != default)
    return RuleChoice(rule, threshold, f"{spec.display}, {shown}", chosen)


def _key(info: CheckpointInfo, sentences: Sentences, choice: RuleChoice) -> tuple:
    return str(info.path), _stamp(info), sentences.digest, choice.rule, choice.threshold


def cached_run(info: CheckpointInfo, sentences: Sentences, choice: RuleChoice | None = None) -> SentenceExits | None:
    """The run of ``sentences`` through ``info`` at ``choice`` (the session's rule and threshold when None)."""
    key = _key(info, sentences, choice or rule_choice(info))
    with _runs_lock:
        run = _runs.get(key)
        if run is not None:
            _runs.move_to_end(key)
        return run


def _remember(info: CheckpointInfo, sentences: Sentences, choice: RuleChoice, run: SentenceExits) -> None:
    with _runs_lock:
        _runs[_key(info, sentences, choice)] = run
        while len(_runs) > MAX_CACHED_RUNS:
            _runs.popitem(last=False)


def run_all(sentences: Sentences, infos: list[CheckpointInfo], examples: dict[str, list[Example]],
            titles: dict[str, str]) -> bool:
    """Run every checkpoint of ``infos`` not run over these sentences yet, with one progress bar for all.
    Returns False when a checkpoint could not be loaded (its error is on the page)."""
    todo = [i for i in infos if cached_run(i, sentences) is None]
    if not todo:
        return True
    # until the run ends: what it is doing, for the page to say, if the run never ends, that it was stopped
    st.session_state[RUN_MARK] = {"digest": sentences.digest, "todo": [i.name for i in todo], "done": [],
                                  "switches": page_switches()}
    models = load_models(todo, stop_on_error=False)
    loaded = [i for i in todo if i.name in models]
    all_loaded, todo = len(loaded) == len(todo), loaded
    bar = st.progress(0.0, text="Starting…")
    for k, info in enumerate(todo):
        title = titles.get(info.name, info.name)

        def progress(done: int, total: int, k=k, title=title) -> None:
            bar.progress(min(1.0, (k + done / total) / len(todo)),
                         text=f"{md_escape(title)}: batch {done} of {total} (checkpoint {k + 1} of {len(todo)})")

        choice = rule_choice(info)
        run = run_checkpoint(models[info.name], examples[info.name], sentences.source, progress,
                             rule=choice.rule, threshold=choice.threshold)
        _remember(info, sentences, choice, run)
        mark = st.session_state[RUN_MARK]
        st.session_state[RUN_MARK] = {**mark, "done": [*mark["done"], info.name]}
    bar.empty()
    st.session_state.pop(RUN_MARK, None)
    return all_loaded


# session key: the Run in progress, left behind when Streamlit stops it (another page opened, or a widget changed
# while it ran: the script stops at its next step, silently); the checkpoints done so far are kept
RUN_MARK = "_eeviz_sentences_run"


def stopped_run_note(sentences: Sentences, infos: list[CheckpointInfo]) -> bool:
    """A line saying that the last Run over these sentences was stopped before it finished, how many of its
    checkpoints were done and how many remain (coming back to the page said only "Press Run to run 8
    checkpoint(s)"); False, and nothing drawn, when there is no such run."""
    mark = st.session_state.get(RUN_MARK)
    if mark is None or mark["digest"] != sentences.digest:
        return False
    remain = [i for i in infos if i.name in mark["todo"] and cached_run(i, sentences) is None]
    if not remain:  # done since (or no longer chosen): nothing to say
        st.session_state.pop(RUN_MARK, None)
        return False
    how = ("when the page was left" if page_switches() != mark["switches"]
           else "before it finished (something on the page was changed while it ran)")
    st.warning(f"The last run was stopped {how}: {len(mark['done'])} of {len(mark['todo'])} checkpoint(s) done, "
               f"{len(remain)} remain. Press **Run** to run {'it' if len(remain) == 1 else 'them'}.",
               icon=":material/pause_circle:")
    return True


def show_cut_notices(runs: dict[str, SentenceExits], titles: dict[str, str]) -> None:
    """One warning per set of sentences longer than the tokens a model reads (checkpoints that cut the same
    rows at the same length share it)."""
    groups: dict[tuple[int, tuple[int, ...]], list[str]] = {}
    for name, run in runs.items():
        if run.cut_rows:
            groups.setdefault((run.max_length, tuple(run.cut_rows)), []).append(titles.get(name, name))
    for (max_length, rows), names in groups.items():
        who = "the checkpoints read" if len(names) == len(runs) else f"{', '.join(names)} read{'s' if len(names) == 1 else ''}"
        if len(rows) == 1:
            what = f"Sentence {rows[0] + 1} is longer than the {max_length} tokens {who}: only its"
        else:
            numbers = ", ".join(str(r + 1) for r in rows[:10]) + (", …" if len(rows) > 10 else "")
            what = f"{len(rows)} sentences (# {numbers}) are longer than the {max_length} tokens {who}: only their"
        st.warning(md_escape(f"{what} first {max_length} tokens were read, as for a long typed sentence."),
                   icon=":material/content_cut:")


def show_table(sentences: Sentences, runs: dict[str, SentenceExits], titles: dict[str, str]) -> pd.DataFrame:
    """The per-sentence table: per checkpoint its exit layer (headed by its title) and the prediction there,
    marked ✓/✗ with labels. Returns the full table (separate right/wrong columns), for the download."""
    table = sentence_table(sentences, runs, titles)
    shown = table.copy()
    # the sentence column stays narrow enough for the exits to show beside it on a phone; "#" stays in view
    config = {"#": st.column_config.NumberColumn(width=40, pinned=True),
              # pinned too, so that scrolling to the exits on a phone keeps the sentence in view
              "sentence": st.column_config.TextColumn(width=200, pinned=True)}
    for name, run in runs.items():
        title = titles.get(name, name)
        exit_col, pred_col, right_col = result_columns(title)
        config[exit_col] = st.column_config.NumberColumn(
            title, format=f"%d / {run.num_layers}",
            help=f"where {title} exits ({run.rule_title}"
            + ("" if run.threshold is None else f", {run.threshold_name} = {run.threshold:g}")
            + f"), of its {run.num_layers} layers",
        )
        marks = ""
        if right_col in shown:
            shown[pred_col] = [f"{p} {'✓' if r else '✗'}" for p, r in zip(shown[pred_col], shown.pop(right_col))]
            marks = ": ✓ right, ✗ wrong"
        config[pred_col] = st.column_config.TextColumn("prediction", help=f"{title}'s prediction at its exit{marks}")
    st.dataframe(shown, hide_index=True, column_config=config, key="up_table")
    return table


def rules_caption(fit: list[CheckpointInfo], titles: dict[str, str]) -> str:
    """Which rule and threshold each checkpoint ran at, and where they came from (markdown)."""
    choices = {info.name: rule_choice(info) for info in fit}
    each = "; ".join(f"{md_escape(titles.get(n, n))}: {md_escape(c.words)}"
                     + (" (set on Explore/Compare)" if c.from_session else " (its default)") for n, c in choices.items())
    return (f"Exits at: {each}. A rule or threshold set on Explore or Compare in this session applies here too; "
            "the others are the checkpoint's defaults.")

