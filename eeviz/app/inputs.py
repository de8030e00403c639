"""The sentence widgets: text boxes and an example picker, synced by hand with the URL's query parameters."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from streamlit.runtime.scriptrunner import get_script_run_ctx

from ..analysis import overthinking_examples
from ..catalog import CheckpointInfo
from ..config import ModelConfig
from ..inputs import MAX_CHARS, InputError, check_inputs
from .loading import load_eval
from .page import md_escape, seed_widget, write_link

DEFAULT_TEXT = "the acting is wonderful, but the plot is a complete mess."
DEFAULT_TEXT_B = "the film is worth seeing."
BUILTIN_EXAMPLES = (
    {"text": "a gripping, beautifully acted film that never lets up.", "tag": "clearly positive"},
    {"text": "the plot is thin and the jokes fall flat.", "tag": "clearly negative"},
    {"text": "not bad at all, though hardly memorable.", "tag": "mixed"},
    {"text": "i expected to hate it, and i did not.", "tag": "negation"},
)
BUILTIN_PAIRS = (
    {"text": "A man is playing a guitar on stage.", "text_b": "A person is performing music.", "tag": "entailment"},
    {"text": "A man is playing a guitar on stage.", "text_b": "The stage is empty.", "tag": "contradiction"},
)


def example_choices(info: CheckpointInfo, infos: list[CheckpointInfo]) -> list[dict]:
    """Examples to offer for ``info``: from its eval.json (or another evaluated checkpoint on the same task),
    overthinking ones first; built-in sentences when no evaluation exists."""
    candidates = [info] + [
        i for i in infos if i is not info and i.cfg.task == info.cfg.task and i.cfg.is_pair == info.cfg.is_pair
    ]
    for candidate in candidates:
        ev = load_eval(candidate) if candidate.has_eval else None
        if not ev or not ev.examples:
            continue
        labels = ev.labels
        over = overthinking_examples(ev)
        rest = [e for e in ev.examples if e not in over]
        out = []
        for example, tag in [(e, "overthinking") for e in over[:25]] + [(e, "") for e in rest[:40]]:
            gold = example.gold
            gold_name = _gold_name(gold, labels)
            if gold_name is None:  # a label this task does not have (load_eval refuses such files; kept safe)
                continue
            out.append(
                {
                    "text": example.text,
                    "text_b": example.text_b,
                    "gold": gold,
                    "tag": f"{tag + ', ' if tag else ''}gold: {gold_name}",
                }
            )
        if out:  # else the next candidate, then the built-in sentences
            return out
    return [dict(e) for e in (BUILTIN_PAIRS if info.cfg.is_pair else BUILTIN_EXAMPLES)]


def _gold_name(gold: Any, labels: list[str]) -> Any:
    """The class name of a gold label (the value itself in a regression task); None when it names no class."""
    if not labels:
        return gold
    if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < len(labels):
        return None
    return labels[gold]


def _use_example(examples: list[dict]) -> None:
    index = st.session_state.get("example")
    if index is None:
        return
    st.session_state["text"] = examples[index]["text"]
    if examples[index].get("text_b") is not None:
        st.session_state["text_b"] = examples[index]["text_b"]


CARRIED = "_eeviz_sentence"  # session key: the sentence(s) the last page ran, and which page ran them
IN_URL = "_eeviz_text_in_url"  # session key: the sentence parameters this session last wrote to the URL


def page_id() -> str:
    """The running page's id (its script's hash)."""
    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx is not None else ""


def url_to_boxes(defaults: dict[str, str]) -> None:
    """Before the boxes are drawn: a sentence in the URL that this session did not write (a shared link, a
    reload, the browser's back button) goes into its box; on the first run of a page reached from another one
    (whose sidebar links drop the query string), the boxes keep the sentence the last page ran.

    The boxes are synced with the URL by hand (as the checkpoint box is) rather than bound to it: a bound box
    reads a missing parameter as its default whatever the session holds, so a shared link's sentence became
    the default one on Compare at the first click, and a sentence set from code never reached the URL.
    """
    written = st.session_state.get(IN_URL, {})
    carried = st.session_state.get(CARRIED)
    switched = carried is not None and carried["page"] != page_id()
    ctx = get_script_run_ctx()
    back = ctx is not None and getattr(ctx, "is_history_navigation", False)
    # a page's own links always name its checkpoint(s); an address with no query at all is the entry Streamlit
    # pushes when a sidebar link switches pages, before the page writes its link: Back to it is no view of the
    # default sentence, and the boxes keep theirs
    bare = not st.query_params
    for key, default in defaults.items():
        raw = st.query_params.get(key)
        if raw is not None and raw != written.get(key):
            st.session_state[key] = raw
        elif raw is None and back and not bare and written.get(key) is not None:  # back to the default sentence
            st.session_state[key] = default
        elif raw is None and switched and carried.get(key) is not None:
            st.session_state[key] = carried[key]


# The most the sentence(s) may take in the link, URL-encoded. The server refuses a whole request past about 128 KB
# (Streamlit 1.67's uvicorn; tornado, which older ones ran, took 64 KB of headers, and proxies often take less),
# and the box takes 20,000 characters: 19,500 CJK ones, 9 bytes each once encoded, made a 175 KB link that
# answered "HTTP ERROR 400" on reload, the sentence and the page lost. English text of 20,000 characters stays
# under the budget.
LINK_TEXT_BYTES = 32 * 1024
TOO_LONG_FOR_LINK = ("{what} too long to share in a link ({size} KB there, at most {limit} KB): the page's "
                     "link leaves {it} out and opens the default {sentence}.")


def link_size(values: dict[str, str | None]) -> int:
    """Bytes the sentence parameters take in the link, encoded as Streamlit writes them (``urlencode``)."""
    return len(urlencode({key: value for key, value in values.items() if value is not None}))


def boxes_to_url(values: dict[str, str | None], defaults: dict[str, str]) -> None:
    """After the boxes: each sentence in the URL (none while it is the default, to keep links short), and what
    was written remembered, so the next run tells a link's sentence from its own. A sentence too long for a
    link (``LINK_TEXT_BYTES``) is left out of it, with a line under the boxes that says so."""
    written = {key: None if value is None or value == defaults[key] else value for key, value in values.items()}
    size = link_size(written)
    if size > LINK_TEXT_BYTES:  # any stale sentence goes too: the link opens the default one, as the line says
        pair = len(values) > 1
        st.caption(":material/link_off: " + TOO_LONG_FOR_LINK.format(
            what="These sentences are" if pair else "This sentence is", size=math.ceil(size / 1024),
            limit=LINK_TEXT_BYTES // 1024, it="them" if pair else "it", sentence="sentences" if pair else "sentence"))
        written = dict.fromkeys(written)
    write_link(written)  # with the checkpoint(s) the page picked: one history entry
    st.session_state[IN_URL] = written
    carried = {"page": page_id(), "text": values.get("text"), "text_b": values.get("text_b")}
    st.session_state[CARRIED] = carried


def _shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def length_help(cfg: ModelConfig) -> str:
    """The sentence box's help: how to run it, and how much of it the model reads (its checkpoint's limit:
    a 120-word review was cut at 64 tokens, and only a warning after the run said so)."""
    what = "both sentences together" if cfg.is_pair else "the sentence"
    return (f"Ctrl+Enter or click outside the box to run it. The model reads the first {cfg.max_length} tokens of "
            f"{what} (a token is a word, a piece of one or a punctuation mark, and the model adds a few of its "
            "own); the rest is cut, and the page says so.")


def sentence_inputs(cfg: ModelConfig, examples: list[dict]) -> tuple[str, str | None]:
    """Text box(es) (query parameters ``text``, ``text_b``) and an example picker; returns the checked inputs.

    Stops the page with the reason when the input cannot be traced (empty, too long, pair vs single). The
    boxes start at the sentence another page ran when the URL names none (``url_to_boxes``).
    """
    defaults = {"text": DEFAULT_TEXT, **({"text_b": DEFAULT_TEXT_B} if cfg.is_pair else {})}
    url_to_boxes(defaults)
    # the boxes start at the default sentence through the session and take no default (``seed_widget``): a box
    # drawn with the default, then without it, was empty after a link's bad threshold was dropped; and a default
    # beside a value set from code (a link's) made Streamlit log a warning for every shared link
    for key, default in defaults.items():
        seed_widget(key, default)
    cols = st.columns([3, 2]) if not cfg.is_pair else st.columns([2, 2, 2])
    with cols[0]:
        text = st.text_area(
            "Sentence" if not cfg.is_pair else "First sentence (premise)",
            value=None,
            key="text",
            max_chars=MAX_CHARS,
            height=90,
            persist_state="session",
            help=length_help(cfg),
        )
    text_b = None
    if cfg.is_pair:
        with cols[1]:
            text_b = st.text_area(
                "Second sentence (hypothesis)",
                value=None,
                key="text_b",
                max_chars=MAX_CHARS,
                height=90,
                persist_state="session",
            )
    with cols[-1]:
        forget_stale("example", range(len(examples)))
        st.selectbox(
            "…or pick an example",
            list(range(len(examples))),
            index=None,
            key="example",
            format_func=lambda i: _shorten(
                f"[{examples[i]['tag']}] {examples[i]['text']}"
                + (f" ‖ {examples[i]['text_b']}" if examples[i].get("text_b") else "")
            ),
            on_change=_use_example,
            args=(examples,),
            placeholder=f"{len(examples)} examples",
        )
    # before the check: a refused sentence stays in the link and comes along to the next page, with its message
    boxes_to_url({"text": text, **({"text_b": text_b} if cfg.is_pair else {})}, defaults)
    try:
        return check_inputs(text, text_b, cfg.is_pair)
    except InputError as err:
        st.warning(md_escape(err))
        st.stop()


def gold_of(examples: list[dict], text: str, text_b: str | None) -> Any:
    """The gold label of the example with this text, if it is one of ``examples``."""
    for example in examples:
        if example["text"] == text and (example.get("text_b") or None) == (text_b or None):
            return example.get("gold")
    return None


def forget_stale(key: str, options) -> None:
    """Drop a remembered choice that the current options (they change with the checkpoint) no longer offer."""
    if key in st.session_state and st.session_state[key] is not None and st.session_state[key] not in options:
        del st.session_state[key]


def _clamp_state(key: str, lo, hi, kind) -> None:
    """Keep a remembered value inside a range that changed with the checkpoint (e.g. patience up to L)."""
    if key in st.session_state and st.session_state[key] is not None:
        value = kind(st.session_state[key])
        if not lo <= value <= hi:
            set_from_code(key, min(max(value, lo), hi))


_SET_FROM_CODE = "_eeviz_set_from_code"  # session key: widget keys whose value code set, not yet drawn


def set_from_code(key: str, value) -> None:
    """Sets a widget's value from code, before the widget is drawn; the widget then takes no default
    (``default_if_unset``): Streamlit logs "created with a default value but also had its value set via the
    Session State API" for a widget given both, which moving a threshold on Explore and opening Compare did."""
    st.session_state[key] = value
    st.session_state.setdefault(_SET_FROM_CODE, set()).add(key)


def default_if_unset(key: str, default, none=None):
    """``default`` for the widget ``key``, or ``none`` (what the widget reads as "no default") when code set its
    value in the session (``set_from_code``): that value wins either way. Forgets the mark: once drawn, the
    widget holds the value as its own."""
    marked = st.session_state.get(_SET_FROM_CODE, set())
    if key in marked:
        marked.discard(key)
        if key in st.session_state:
            return none
    return default


# Streamlit folds the sidebar away below this width (its mobile breakpoint): the hint shows only there
NARROW_MAX_PX = 767
SIDEBAR_HINT_HTML = (
    f"<style>.eeviz-sidebar-hint{{display:none}}@media (max-width:{NARROW_MAX_PX}px){{.eeviz-sidebar-hint"
    "{display:block;font-size:0.875rem;opacity:0.75}}</style>"
    '<div class="eeviz-sidebar-hint">The checkpoint, exit rule and threshold are in the sidebar: tap » at the '
    "top left.</div>"
)


def sidebar_hint() -> None:
    """On a narrow screen, where the sidebar starts folded, a line saying where its controls are (at 400 px
    nothing said so); wider screens show the sidebar and not the line (a CSS media query, no script)."""
    st.html(SIDEBAR_HINT_HTML)
