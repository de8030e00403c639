"""Checkpoints for the pages: the catalog, models loaded once per process (``eeviz.app.models``: one lock,
progress shown while they load) and traces cached per (checkpoint, sentence) (``st.cache_data``), so moving a
threshold only re-runs ``replay``, never the network. Messages name folders relative to the checkpoints
folder (``public_text``), never by the server's absolute paths."""

from __future__ import annotations

import re
from typing import Any, Mapping

import streamlit as st

from ..catalog import CheckpointInfo, checkpoints_root, find_checkpoints, read_folder
from ..checkpoint import CheckpointError, CheckpointLayout
from ..eval_result import EvalResult
from ..messages import shorten
from ..trace import Trace
from ..tracing import trace_all
from . import models as registry
from .page import TRAIN_COMMAND, link_later, link_warning, md_escape, seed_widget, write_link
from .paths import public_path, public_text


def list_checkpoints() -> list[CheckpointInfo]:
    """The valid checkpoints; problems with other folders go to a sidebar expander. Stops the page, with the
    command to train one, when there are none."""
    infos, problems = find_checkpoints()
    root = checkpoints_root()
    if problems and root.is_dir():  # (a missing folder is said below, not counted as a skipped one)
        with st.sidebar.expander(f"{len(problems)} folder(s) skipped", icon=":material/warning:"):
            for problem in problems:
                st.text(public_text(problem))
    if not infos:
        st.info("No checkpoints found in this folder:" if root.is_dir() else "There is no checkpoint folder here:")
        st.code(public_path(root, full=True), language=None)
        st.markdown("Train the demo models with:")
        st.code(TRAIN_COMMAND, language="bash")
        st.caption(
            "or point the EEVIZ_CHECKPOINTS environment variable at a folder of eeviz checkpoints. "
            "The Learn page works without any."
        )
        st.page_link("pages/4_Learn.py", label="Learn how the methods work", icon=":material/school:")
        st.stop()
    return infos


def titles(infos: list[CheckpointInfo]) -> dict[str, str]:
    """Folder name -> short human title: "method · backbone · task" without the parts every checkpoint shares,
    and with the folder name added where titles still repeat."""
    parts = {i.name: i.title.split(" · ") for i in infos}
    widths = {len(p) for p in parts.values()}
    if len(infos) > 1 and len(widths) == 1:
        width = widths.pop()
        shared = [k for k in range(1, width) if len({p[k] for p in parts.values()}) == 1]
        parts = {n: [x for k, x in enumerate(p) if k not in shared] for n, p in parts.items()}
    short = {n: " · ".join(p) for n, p in parts.items()}
    counts: dict[str, int] = {}
    for title in short.values():
        counts[title] = counts.get(title, 0) + 1
    return {n: t if counts[t] == 1 else f"{t} ({n})" for n, t in short.items()}


def pick_checkpoint(infos: list[CheckpointInfo], where=None) -> CheckpointInfo:
    """Checkpoint selectbox showing titles, with the folder name in query parameter ``ckpt``.

    Synced by hand rather than with ``bind``: a bound selectbox writes its *displayed* text to the URL, and
    titles depend on which other checkpoints exist, while folder names do not. A ``ckpt`` in the URL that this
    session did not write (a shared link, a reload, a link from the Dataset page) wins over the remembered one.
    """
    where = where or st.sidebar
    by_name = {i.name: i for i in infos}
    names = titles(infos)
    url = st.query_params.get("ckpt")
    if url in by_name and url != st.session_state.get("_ckpt_in_url"):
        st.session_state["ckpt"] = url
    unknown = url is not None and url not in by_name and url != st.session_state.get("_ckpt_in_url")
    if st.session_state.get("ckpt") not in by_name:
        st.session_state.pop("ckpt", None)
    # the index only applies when the session holds no choice yet (index=None would make the box clearable): the
    # first checkpoint Compare shows, when a session began there (a shared Compare link), else the first one
    compared = [n for n in st.session_state.get(COMPARE_KEY) or [] if n in by_name]
    name = where.selectbox(
        "Checkpoint",
        list(by_name),
        index=list(by_name).index(compared[0]) if compared else 0,
        format_func=names.get,
        key="ckpt",
        persist_state="session",
        help="method · backbone · task; folders under " + public_path(checkpoints_root(), full=True),
    )
    if unknown:  # a link to a folder this server lacks or cannot load: say so, rather than show another silently
        reason = skipped_reason(url)
        why = ("is not here (no such folder)" if reason is None  # (this line is in the sidebar, under that list)
               else f"could not be loaded ({md_escape(reason)}; see the folders skipped above)")
        link_warning(f"The link's checkpoint “{md_escape(shorten(url))}” {why}; showing "
                     f"{md_escape(names[name])} instead.", where)
    link_later("ckpt", name)  # with the page's sentence (``write_link``): one history entry
    st.session_state["_ckpt_in_url"] = name
    return by_name[name]


CKPTS_PARAM = "ckpts"  # Compare's checkpoints in the URL: folder names, comma-separated
# a comma or percent sign inside a folder name is written %2C / %25, so any name travels; plain names unchanged
_ESCAPED = re.compile(r"%(25|2[cC])")


def checkpoint_list_value(names) -> str:
    """The ``ckpts`` value of these folder names (``parse_checkpoint_list`` reads it back)."""
    return ",".join(n.replace("%", "%25").replace(",", "%2C") for n in names)


def _list_item(piece: str, known) -> str:
    name = _ESCAPED.sub(lambda m: "%" if m.group(1) == "25" else ",", piece)
    for candidate in (name, piece, name.strip(), piece.strip()):  # an older link wrote names as they are
        if candidate in known:
            return candidate
    return name.strip()


def parse_checkpoint_list(raw: str, known) -> tuple[list[str], list[str]]:
    """(known folder names in the order given, without repeats; the unknown names) of a ``ckpts`` value."""
    names = [_list_item(piece, known) for piece in raw.split(",") if piece.strip()]
    return list(dict.fromkeys(n for n in names if n in known)), [n for n in names if n not in known]


COMPARE_KEY = "compare"  # session key of Compare's checkpoint choice


def skipped_reason(name: str) -> str | None:
    """Why the checkpoints folder's subfolder ``name`` is not offered, as its line in the sidebar's skipped
    folders says it (the listing's own check, ``read_folder``); None when there is no such folder. A link to a
    folder whose weights were deleted was said to name "no such folder"."""
    if not name or name.startswith(".") or any(c in name for c in "/\\\0"):  # hidden, or not one folder's name
        return None
    path = checkpoints_root() / name
    try:
        if not path.is_dir():
            return None
    except OSError:
        return None
    _, problem = read_folder(path)  # the listing's own check and words
    # "'x' is not an eeviz checkpoint: …" -> "not an eeviz checkpoint: …" (the line names the folder already)
    return None if problem is None else shorten(public_text(problem).removeprefix(f"'{name}' is "), 160)


def _some(names: list[str], reasons: Mapping[str, str | None] | None = None) -> str:
    """Up to five of ``names`` (markdown), each with its reason when given, and how many more."""
    shown = [md_escape(shorten(n)) + (f" ({md_escape(reasons[n])})" if reasons else "") for n in names[:5]]
    return ("; " if reasons else ", ").join(shown) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def short_title_of(title: str) -> str:
    """A checkpoint's or method's title without the rule in brackets: "DeeBERT (entropy) · toy" -> "DeeBERT"."""
    return title.split(" (")[0]


def grid_titles(titles: Mapping[str, str], names: list[str]) -> dict[str, str]:
    """Compare's names of checkpoints (the grid's rows, the picker's chips): each method's name alone ("DeeBERT")
    when that tells them apart, else the checkpoints' titles. The full titles ("ELBERT (confidence window) ·
    minilm") took half a phone's width from the cells, whose numbers shrank to 6 px, and clipped the picker's
    chips at 400 px; the table under the grid names each checkpoint in full."""
    short = {name: short_title_of(titles.get(name, name)) for name in names}
    return short if len(set(short.values())) == len(short) else {name: titles.get(name, name) for name in names}


def pick_checkpoints(infos: list[CheckpointInfo], default: list[str], key: str = COMPARE_KEY) -> list[str]:
    """Compare's checkpoint multiselect (``grid_titles`` shown), with the folder names in query parameter ``ckpts``.

    Synced by hand, as ``pick_checkpoint`` is. A ``ckpts`` this session did not write (a shared link, a
    reload) wins over the remembered choice; names that are no checkpoint here are left out with a notice.
    """
    by_name = {i.name: i for i in infos}
    raw = st.query_params.get(CKPTS_PARAM)
    if raw is not None and raw != st.session_state.get("_ckpts_in_url"):
        valid, unknown = parse_checkpoint_list(raw, by_name)
        reasons = {n: skipped_reason(n) for n in unknown}
        absent = [n for n in unknown if reasons[n] is None]
        broken = [n for n in unknown if reasons[n] is not None]
        if absent:
            link_warning(f"Left out of the link's checkpoints (no such folder): {_some(absent)}.")
        if broken:
            link_warning("Left out of the link's checkpoints (they could not be loaded; see the folders skipped in "
                         f"the sidebar): {_some(broken, reasons)}.")
        if valid or not unknown:  # "ckpts=" is an empty choice; only unknown names keep the current one
            st.session_state[key] = valid
    kept = st.session_state.get(key)
    if kept and any(n not in by_name for n in kept):  # a folder that went away since it was chosen
        st.session_state[key] = [n for n in kept if n in by_name]
    names = grid_titles(titles(infos), list(by_name))  # the grid's names: full titles clipped the chips on a phone
    # a value in the session (the user's, or the link's set above) wins; the first one goes there too, and the
    # widget takes no default (``seed_widget``: drawn with a default and then without, after a rerun that dropped a
    # link's bad value, it could show no checkpoints; and a default beside a link's value made Streamlit warn)
    seed_widget(key, [n for n in default if n in by_name])
    chosen = st.multiselect(
        "Checkpoints",
        list(by_name),
        default=None,
        format_func=names.get,
        key=key,
        persist_state="session",
    )
    value = checkpoint_list_value(chosen)
    link_later(CKPTS_PARAM, value)  # with the page's sentence (``write_link``): one history entry
    st.session_state["_ckpts_in_url"] = value
    return chosen


def _stamp(info: CheckpointInfo) -> int:
    """Changes when the checkpoint is rewritten, so a retrained model is reloaded."""
    weights = CheckpointLayout(info.path).weights
    return weights.stat().st_mtime_ns if weights.exists() else 0


def _model(path: str, stamp: int):
    """The loaded model (once per process, whichever session asks first; see ``eeviz.app.models``)."""
    return registry.get_model(path, stamp)


def load_model(info: CheckpointInfo):
    """The checkpoint's model, loaded once per process. Stops the page with the reason if it cannot load."""
    return load_models([info])[info.name]


def load_models(infos: list[CheckpointInfo], stop_on_error: bool = True) -> dict[str, Any]:
    """Models by folder name; new loads show progress. Checkpoints that fail to load are reported and left out
    (or stop the page when ``stop_on_error``)."""
    models, failed = {}, []
    for info in infos:  # a folder that failed before, unchanged since, fails again at once: no progress box
        if registry.known_failure(str(info.path), _stamp(info)):
            try:
                _model(str(info.path), _stamp(info))
            except CheckpointError as err:
                failed.append((info, err))
    failed_names = {info.name for info, _ in failed}
    pending = [i for i in infos if not registry.is_loaded(str(i.path), _stamp(i)) and i.name not in failed_names]
    if pending:
        slot = st.empty()  # the progress box disappears once the models are in
        with slot.status(f"Loading {len(pending)} model{'s' if len(pending) > 1 else ''}…", expanded=False) as status:
            for info in pending:
                status.update(label=f"Loading {md_escape(info.title)}…")  # a label is markdown
                try:
                    _model(str(info.path), _stamp(info))
                except CheckpointError as err:
                    failed.append((info, err))
        slot.empty()
    for info in infos:
        if any(f[0] is info for f in failed):
            continue
        models[info.name] = _model(str(info.path), _stamp(info))
    for info, err in failed:
        st.error(f"Cannot load checkpoint {md_escape(info.name)}: {md_escape(public_text(err))}")
    if failed and stop_on_error:
        write_link()  # the broken checkpoint stays in the link, as before the sentence boxes were drawn
        st.stop()
    if pending:  # after a page's first loads, the other checkpoints load in the background for the next page
        listed, _ = find_checkpoints()
        registry.preload((str(i.path), _stamp(i)) for i in listed)
    return models


@st.cache_data(show_spinner=False, max_entries=256)
def _trace(path: str, stamp: int, text: str, text_b: str | None) -> Trace:
    return _model(path, stamp).trace(text, text_b)


def get_trace(info: CheckpointInfo, text: str, text_b: str | None) -> Trace:
    """One sentence through every layer of a loaded checkpoint, cached per (checkpoint, sentence)."""
    with st.spinner("Running every layer…"):
        return _trace(str(info.path), _stamp(info), text, text_b)


@st.cache_data(show_spinner=False, max_entries=64)
def _traces(paths: tuple[tuple[str, str, int], ...], text: str, text_b: str | None) -> dict[str, Trace]:
    models = {name: _model(path, stamp) for name, path, stamp in paths}
    return trace_all(models, text, text_b)


def get_traces(infos: list[CheckpointInfo], text: str, text_b: str | None) -> dict[str, Trace]:
    """The sentence through every given (loaded) checkpoint, with one tokenization per tokenizer."""
    with st.spinner(f"Running {len(infos)} models…"):
        return _traces(tuple((i.name, str(i.path), _stamp(i)) for i in infos), text, text_b)


@st.cache_data(show_spinner=False, max_entries=64)
def _eval(path: str, mtime: int) -> EvalResult:
    return EvalResult.load(path)


def load_eval(info: CheckpointInfo) -> EvalResult | None:
    """The checkpoint's eval.json, or None (a broken file is reported as a warning)."""
    path = CheckpointLayout(info.path).eval
    if not path.is_file():
        return None
    try:
        return _eval(str(path), path.stat().st_mtime_ns)
    except (ValueError, OSError) as err:
        st.warning(f"Ignoring {md_escape(public_path(path))}: {md_escape(public_text(err))}")
        return None
