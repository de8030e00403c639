"""Page setup shared by every page: the page config, the sidebar's links, and markdown escaping."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st
import torch
from streamlit.runtime.scriptrunner import get_script_run_ctx

TRAIN_COMMAND = "python -m eeviz.train --preset demo"
EVALUATE_COMMAND = "python -m eeviz.evaluate --checkpoint checkpoints/NAME"
PAGES = (
    ("app.py", "Explore", ":material/search:"),
    ("pages/1_Compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/2_Attention.py", "Attention", ":material/visibility:"),
    ("pages/3_Dataset.py", "Dataset", ":material/bar_chart:"),
    ("pages/4_Learn.py", "Learn", ":material/school:"),
    ("pages/5_Your_sentences.py", "Your sentences", ":material/upload_file:"),
)
PAGE_ICON = "🪜"  # an emoji: a material icon as favicon would be fetched from fonts.gstatic.com
# While a rerun is pending, Streamlit fades the outdated elements (and expanders' borders) out over 1 s after
# 0.5 s. The fade repaints the page at the frame rate for as long as the rerun waits: in headless Chromium, 0.06
# s of CPU per second of waiting, more than a whole threshold move costs, so under load (a class on one
# machine) waiting made more waiting. Kept: the same dimming after the same 0.5 s, in one step.
STALE_DIM_CSS = (
    '[data-testid="stElementContainer"],[data-testid="stExpander"] details,[data-testid="stExpander"] summary'
    "{transition-duration:0s !important}"
)
# While a script runs, Streamlit's header shows a running figure that changes pose every 200 ms, each change a
# React render and a new frame: about 0.025 s of the page's CPU per second of waiting (measured in headless
# Chromium), which under load (a class on one machine) made the waiting longer. On the pages a class moves
# sliders on (Explore, Compare: runs of a fraction of a second), the header says "Running…" instead, still,
# from 0.5 s into a run (as Streamlit's widget does), driven by CSS alone; what is lost is its Stop button.
STILL_RUNNING_CSS = (
    '[data-testid="stStatusWidget"]{display:none !important}'
    '[data-testid="stHeader"]::after{content:"Running…";position:absolute;top:0.9rem;right:4.5rem;'
    "font-size:0.875rem;opacity:0.6;visibility:hidden}"
    '[data-testid="stApp"][data-test-script-state="running"] [data-testid="stHeader"]::after'
    "{visibility:visible;transition:visibility 0s 0.5s}"
)


def setup_page(title: str, still_running: bool = False) -> None:
    """Page config (wide) and the sidebar's page links (the default nav is hidden in .streamlit/config.toml).
    ``still_running``: a still "Running…" instead of Streamlit's animated status and Stop button
    (``STILL_RUNNING_CSS``), for pages whose runs are short and frequent."""
    # One sentence is far too small a job for several threads: on a small shared CPU torch's thread pool
    # made tracing every method 30x slower (3.9 s vs 0.1 s, `python -m eeviz.bench`).
    torch.set_num_threads(1)
    st.set_page_config(page_title=f"{title} · eeviz", page_icon=PAGE_ICON, layout="wide")
    page_style(still_running)
    with st.sidebar:
        st.markdown("**eeviz** · early exit, layer by layer")
        for path, label, page_icon in PAGES:
            st.page_link(path, label=label, icon=page_icon)
        st.divider()
    _count_page_switch()
    carried = st.session_state.pop(_LINK_NOTES_CARRIED, [])
    st.session_state[_LINK_NOTES_SHOWN] = []  # this run's
    for message in carried:
        link_warning(message, st.sidebar)


_LAST_PAGE = "_eeviz_last_page"  # session key: (the page the session's last run was on, how many page switches)


def _count_page_switch() -> None:
    ctx = get_script_run_ctx()
    here = ctx.page_script_hash if ctx is not None else ""
    last, switches = st.session_state.get(_LAST_PAGE, (here, 0))
    st.session_state[_LAST_PAGE] = (here, switches + (last != here))


def page_switches() -> int:
    """How many times this session went from one page to another: a change since a long run started on a page
    tells that the run was stopped by leaving the page (Streamlit stops a page's run when another page opens)."""
    return st.session_state.get(_LAST_PAGE, ("", 0))[1]


# Notes about values a shared link held that the page could not use (a checkpoint that is not here, a rule that
# does not exist). A page fixes such a link and reruns where a widget already read the bad value; the rerun
# clears the page, and the value it fixed would not be noted again, so the notes shown before the rerun are
# shown once more after it (one link with both a bad checkpoint and a bad rule used to show only the rule's).
_LINK_NOTES_SHOWN = "_eeviz_link_notes_shown"  # session key: the notes this run showed
_LINK_NOTES_CARRIED = "_eeviz_link_notes_carried"  # session key: the notes the run before a rerun showed


def link_warning(message: str, where: Any = None) -> None:
    """A warning (markdown) about a value in the page's link, kept for a rerun this run may ask for
    (``keep_link_warnings``)."""
    (where or st).warning(message, icon=":material/link_off:")
    st.session_state.setdefault(_LINK_NOTES_SHOWN, []).append(message)


def keep_link_warnings() -> None:
    """Before ``st.rerun()``: the link warnings this run showed are shown again by the next run (in the sidebar),
    and the link values this run picked (``link_later``) are written, since the rerun reads the link (a checkpoint
    the link named and this server lacks was otherwise noted twice)."""
    write_link()
    shown = st.session_state.pop(_LINK_NOTES_SHOWN, [])
    st.session_state[_LINK_NOTES_CARRIED] = list(dict.fromkeys(st.session_state.get(_LINK_NOTES_CARRIED, []) + shown))


# What a page writes into its link goes in one message at the end of its inputs (``write_link``): Streamlit's
# frontend pushes a browser history entry for each change of the query string, and Compare's first run after a
# page switch wrote its checkpoints and then its sentence, so the Back button stepped through an entry without
# the sentence (which the page then read as the default sentence) and one with Compare's checkpoints on
# Explore's address.
_LINK_LATER = "_eeviz_link_later"  # session key: this run's link values not written yet


def link_later(key: str, value: str) -> None:
    """``value`` for the link's ``key``, written with the page's next ``write_link``."""
    st.session_state.setdefault(_LINK_LATER, {})[key] = value


def write_link(values: dict[str, str | None] | None = None) -> None:
    """The values ``link_later`` held and ``values`` into the link, in one change (None removes a key, a change of
    its own: a sentence set back to the default, seldom). A value the link already holds is not written again: written in Streamlit's own encoding ("+" for a space, where a shared
    link had "%20"), it made one more history entry showing the same view."""
    pending = {**st.session_state.pop(_LINK_LATER, {}), **(values or {})}
    changed = {key: value for key, value in pending.items() if value is not None and st.query_params.get(key) != value}
    if changed:
        st.query_params.update(changed)
    for key, value in pending.items():
        if value is None and key in st.query_params:
            del st.query_params[key]


# a row of metrics wraps onto more lines as the text grows: with the browser's text at 150% or 200% (a reader's
# "large text" setting) five metrics in a row were cut to "3…", "r…", "9…", exit layer and answer unreadable;
# 9rem grows with the text, so at the usual size the row stays one line
METRIC_WRAP_CSS = ('[data-testid="stHorizontalBlock"]:has([data-testid="stMetric"]) > [data-testid="stColumn"]'
                   "{min-width:9rem}")


def page_style(still_running: bool = False) -> None:
    """The CSS every page shares (``STILL_RUNNING_CSS`` too where asked)."""
    # a display formula wider than a phone scrolls inside its own box instead of running past the page's edge
    running = STILL_RUNNING_CSS if still_running else ""
    st.html(f"<style>.katex-display{{overflow-x:auto;overflow-y:hidden;padding-bottom:4px}}{STALE_DIM_CSS}"
            f"{METRIC_WRAP_CSS}{running}</style>")


def seed_widget(key: str, first_value: Any) -> None:
    """Gives the widget ``key`` its first value through the session (the widget is then drawn with no default:
    ``value=None``, ``default=None``), unless the session holds one.

    Why not the widget's default: a box drawn with its default, then with none because the session held a value,
    was drawn empty when a run stopped for a rerun in between (a link's bad rule or threshold is dropped that
    way). The rerun keeps the first run's value for the widget without telling the browser, which may never have
    drawn the first run's box, so the box was empty while the page ran the default sentence, and the next click
    sent the empty box ("the text is empty"). A value set through the session is sent with the widget again
    by such a rerun."""
    if key not in st.session_state:
        st.session_state[key] = first_value


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: Any) -> str:
    """``text`` with markdown (and LaTeX ``$``) characters backslash-escaped, for st.markdown/st.warning."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))
