"""Page setup shared by every page: the page config, the sidebar's links, and markdown escaping."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st
import torch

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


def setup_page(title: str) -> None:
    """Page config (wide) and the sidebar's page links (the default nav is hidden in .streamlit/config.toml)."""
    # One sentence is far too small a job for several threads: on a small shared CPU torch's thread pool
    # made tracing every method 30x slower (3.9 s vs 0.1 s, `python -m eeviz.bench`).
    torch.set_num_threads(1)
    st.set_page_config(page_title=f"{title} · eeviz", page_icon=PAGE_ICON, layout="wide")
    page_style()
    with st.sidebar:
        st.markdown("**eeviz** · early exit, layer by layer")
        for path, label, page_icon in PAGES:
            st.page_link(path, label=label, icon=page_icon)
        st.divider()


def page_style() -> None:
    """The CSS every page shares."""
    # a display formula wider than a phone scrolls inside its own box instead of running past the page's edge
    st.html(f"<style>.katex-display{{overflow-x:auto;overflow-y:hidden;padding-bottom:4px}}{STALE_DIM_CSS}</style>")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: Any) -> str:
    """``text`` with markdown (and LaTeX ``$``) characters backslash-escaped, for st.markdown/st.warning."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))
