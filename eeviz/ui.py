"""Streamlit helpers shared by the app's pages.

- ``setup_page``: page config and the sidebar navigation;
- ``pick_checkpoint`` / ``load_model`` / ``load_models`` / ``get_trace`` / ``get_traces``: the checkpoint catalog,
  models loaded once per process (``st.cache_resource``) and traces cached per (checkpoint, sentence)
  (``st.cache_data``), so moving a threshold only re-runs ``replay``, never the network;
- ``pick_checkpoint``, ``sentence_inputs`` and ``rule_controls``: widgets synced with URL query parameters (the
  checkpoint by hand, the others with ``bind="query-params"``), so a view's checkpoint, sentence, rule and
  thresholds travel in its link and survive a reload; they keep their values across pages
  (``persist_state="session"``);
- ``show_decision``, ``method_extras``, ``export_buttons``: the decision banner, the method-specific inputs of
  the per-layer figures, and the downloads.

Pages read widgets, call these and ``eeviz.plots``, and draw; no model logic lives in ``pages/``.
User text reaches the page only through widgets, dataframes, ``st.code`` and :func:`md_escape`d markdown
(never ``unsafe_allow_html``).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch

from . import plots
from .catalog import CheckpointInfo, checkpoints_root, find_checkpoints, trace_all
from .checkpoint import WEIGHTS_FILE, CheckpointError, load_checkpoint
from .config import ModelConfig
from .inputs import MAX_CHARS, InputError, check_inputs
from .methods.base import ExitMethod, RuleSpec
from .trace import Decision, Trace, replay

TRAIN_COMMAND = "python -m eeviz.train --preset demo"
EVALUATE_COMMAND = "python -m eeviz.evaluate --checkpoint checkpoints/NAME"
PAGES = (
    ("app.py", "Explore", ":material/search:"),
    ("pages/1_Compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/2_Attention.py", "Attention", ":material/visibility:"),
    ("pages/3_Dataset.py", "Dataset", ":material/bar_chart:"),
    ("pages/4_Learn.py", "Learn", ":material/school:"),
)
PAGE_ICON = "🪜"  # an emoji: a material icon as favicon would be fetched from fonts.gstatic.com
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
SAMPLED_DRAWS = 200  # draws of a random rule shown as a distribution of exit layers
# integer thresholds with a range up to this count layers (patience) and are capped at the model's depth;
# wider integer ranges (a random seed) get a number box instead of a slider
MAX_LAYER_COUNT_RANGE = 100


# ============================================================================================ page
def setup_page(title: str) -> None:
    """Page config (wide) and the sidebar's page links (the default nav is hidden in .streamlit/config.toml)."""
    # One sentence is far too small a job for several threads: on a small shared CPU torch's thread pool
    # made tracing every method 30x slower (3.9 s vs 0.1 s, `python -m eeviz.bench`).
    torch.set_num_threads(1)
    st.set_page_config(page_title=f"{title} · eeviz", page_icon=PAGE_ICON, layout="wide")
    with st.sidebar:
        st.markdown("**eeviz** · early exit, layer by layer")
        for path, label, page_icon in PAGES:
            st.page_link(path, label=label, icon=page_icon)
        st.divider()


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: Any) -> str:
    """``text`` with markdown (and LaTeX ``$``) characters backslash-escaped, for st.markdown/st.warning."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


# ============================================================================================ checkpoints
def list_checkpoints() -> list[CheckpointInfo]:
    """The valid checkpoints; problems with other folders go to a sidebar expander. Stops the page, with the
    command to train one, when there are none."""
    infos, problems = find_checkpoints()
    if problems:
        with st.sidebar.expander(f"{len(problems)} folder(s) skipped", icon=":material/warning:"):
            for problem in problems:
                st.text(problem)
    if not infos:
        root = checkpoints_root()
        st.info("No checkpoints found in this folder:")
        st.code(str(root), language=None)
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
    if st.session_state.get("ckpt") not in by_name:
        st.session_state.pop("ckpt", None)
    # index 0 only applies when the session holds no choice yet (index=None would make the box clearable)
    name = where.selectbox(
        "Checkpoint",
        list(by_name),
        index=0,
        format_func=names.get,
        key="ckpt",
        persist_state="session",
        help="method · backbone · task; folders under " + str(checkpoints_root()),
    )
    st.query_params["ckpt"] = name
    st.session_state["_ckpt_in_url"] = name
    return by_name[name]


def _stamp(info: CheckpointInfo) -> int:
    """Changes when the checkpoint is rewritten, so a retrained model is reloaded."""
    weights = info.path / WEIGHTS_FILE
    return weights.stat().st_mtime_ns if weights.exists() else 0


@st.cache_resource(show_spinner=False)
def _model(path: str, stamp: int):
    return load_checkpoint(path)


@st.cache_resource(show_spinner=False)
def _loaded() -> set:
    """(path, stamp) of the models already in ``_model``'s cache: only new loads show progress."""
    return set()


def load_model(info: CheckpointInfo):
    """The checkpoint's model, loaded once per process. Stops the page with the reason if it cannot load."""
    return load_models([info])[info.name]


def load_models(infos: list[CheckpointInfo], stop_on_error: bool = True) -> dict[str, Any]:
    """Models by folder name; new loads show progress. Checkpoints that fail to load are reported and left out
    (or stop the page when ``stop_on_error``)."""
    pending = [i for i in infos if (str(i.path), _stamp(i)) not in _loaded()]
    models, failed = {}, []
    if pending:
        slot = st.empty()  # the progress box disappears once the models are in
        with slot.status(f"Loading {len(pending)} model(s)…", expanded=False) as status:
            for info in pending:
                status.update(label=f"Loading {info.title}…")
                try:
                    _model(str(info.path), _stamp(info))
                    _loaded().add((str(info.path), _stamp(info)))
                except CheckpointError as err:
                    failed.append((info, err))
        slot.empty()
    for info in infos:
        if any(f[0] is info for f in failed):
            continue
        models[info.name] = _model(str(info.path), _stamp(info))
    for info, err in failed:
        st.error(f"Cannot load checkpoint {md_escape(info.name)}: {md_escape(err)}")
    if failed and stop_on_error:
        st.stop()
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
def _eval(path: str, mtime: int) -> dict:
    try:
        from .evaluate import load_eval
    except ImportError:  # an install without the evaluator still reads the file
        return json.loads(Path(path).read_text())
    return load_eval(path).to_dict()


def load_eval(info: CheckpointInfo) -> dict | None:
    """The checkpoint's eval.json, or None (a broken file is reported as a warning)."""
    path = info.path / "eval.json"
    if not path.is_file():
        return None
    try:
        return _eval(str(path), path.stat().st_mtime_ns)
    except (ValueError, OSError) as err:
        st.warning(f"Ignoring {md_escape(path)}: {md_escape(err)}")
        return None


# ============================================================================================ inputs
def example_choices(info: CheckpointInfo, infos: list[CheckpointInfo]) -> list[dict]:
    """Examples to offer for ``info``: from its eval.json (or another evaluated checkpoint on the same task),
    overthinking ones first; built-in sentences when no evaluation exists."""
    candidates = [info] + [
        i for i in infos if i is not info and i.cfg.task == info.cfg.task and i.cfg.is_pair == info.cfg.is_pair
    ]
    for candidate in candidates:
        ev = load_eval(candidate) if candidate.has_eval else None
        if not ev or not ev.get("examples"):
            continue
        labels = ev.get("labels", [])
        over = plots.overthinking_examples(ev)
        rest = [e for e in ev["examples"] if e not in over]
        out = []
        for example, tag in [(e, "overthinking") for e in over[:25]] + [(e, "") for e in rest[:40]]:
            gold = example.get("gold")
            gold_name = labels[int(gold)] if labels and gold is not None else gold
            out.append(
                {
                    "text": example["text"],
                    "text_b": example.get("text_b"),
                    "gold": gold,
                    "tag": f"{tag + ', ' if tag else ''}gold: {gold_name}",
                }
            )
        return out
    return [dict(e) for e in (BUILTIN_PAIRS if info.cfg.is_pair else BUILTIN_EXAMPLES)]


def _use_example(examples: list[dict]) -> None:
    index = st.session_state.get("example")
    if index is None:
        return
    st.session_state["text"] = examples[index]["text"]
    if examples[index].get("text_b") is not None:
        st.session_state["text_b"] = examples[index]["text_b"]


def _shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sentence_inputs(cfg: ModelConfig, examples: list[dict]) -> tuple[str, str | None]:
    """Text box(es) (query parameters ``text``, ``text_b``) and an example picker; returns the checked inputs.

    Stops the page with the reason when the input cannot be traced (empty, too long, pair vs single).
    """
    cols = st.columns([3, 2]) if not cfg.is_pair else st.columns([2, 2, 2])
    with cols[0]:
        text = st.text_area(
            "Sentence" if not cfg.is_pair else "First sentence (premise)",
            value=DEFAULT_TEXT,
            key="text",
            max_chars=MAX_CHARS,
            height=90,
            bind="query-params",
            persist_state="session",
            help="Ctrl+Enter or click outside the box to run it",
        )
    text_b = None
    if cfg.is_pair:
        with cols[1]:
            text_b = st.text_area(
                "Second sentence (hypothesis)",
                value=DEFAULT_TEXT_B,
                key="text_b",
                max_chars=MAX_CHARS,
                height=90,
                bind="query-params",
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


# ============================================================================================ rules
def threshold_input(spec: RuleSpec, num_layers: int, where=None, shared: dict | None = None) -> float | int | None:
    """The widget for a rule's threshold (query parameter ``t_<rule>``); None for rules without one.

    ``shared`` collects the values of widgets already drawn in this run, so two methods with the same rule
    (PonderNet and PALBERT) share one widget instead of drawing a duplicate.
    """
    where = where or st.sidebar
    key = f"t_{spec.name}"
    if shared is not None and key in shared:
        return shared[key]
    if spec.minimum == spec.maximum:
        where.caption(f"{spec.label}")
        value = None
    elif spec.integer:
        lo, hi, default = int(spec.minimum), int(spec.maximum), int(spec.default)
        if hi - lo <= MAX_LAYER_COUNT_RANGE:
            hi = max(lo + 1, min(hi, num_layers))
        _clamp_state(key, lo, hi, int)
        if hi - lo > MAX_LAYER_COUNT_RANGE:
            value = where.number_input(
                spec.label,
                lo,
                hi,
                min(max(default, lo), hi),
                1,
                key=key,
                help=spec.description,
                bind="query-params",
                persist_state="session",
            )
        else:
            value = where.slider(
                spec.label,
                lo,
                hi,
                min(max(default, lo), hi),
                max(1, int(spec.step)),
                key=key,
                help=spec.description,
                bind="query-params",
                persist_state="session",
            )
    else:
        lo, hi = float(spec.minimum), float(spec.maximum)
        _clamp_state(key, lo, hi, float)
        value = where.slider(
            spec.label,
            lo,
            hi,
            min(max(float(spec.default), lo), hi),
            float(spec.step),
            key=key,
            help=spec.description,
            bind="query-params",
            persist_state="session",
        )
    if shared is not None:
        shared[key] = value
    return value


def forget_stale(key: str, options) -> None:
    """Drop a remembered choice that the current options (they change with the checkpoint) no longer offer."""
    if key in st.session_state and st.session_state[key] is not None and st.session_state[key] not in options:
        del st.session_state[key]


def _clamp_state(key: str, lo, hi, kind) -> None:
    """Keep a remembered value inside a range that changed with the checkpoint (e.g. patience up to L)."""
    if key in st.session_state and st.session_state[key] is not None:
        value = kind(st.session_state[key])
        if not lo <= value <= hi:
            st.session_state[key] = min(max(value, lo), hi)


def rule_controls(
    method_cls: type[ExitMethod], num_layers: int, where=None, shared: dict | None = None
) -> tuple[str, dict]:
    """Exit-rule choice (query parameter ``rule_<method>``) and its threshold; returns (rule name, params)."""
    where = where or st.sidebar
    names = list(method_cls.rules)
    rule = method_cls.default_rule
    if len(names) > 1:
        # no format_func: a bound widget writes its displayed text to the URL
        rule = where.radio(
            "Exit rule",
            names,
            index=names.index(rule),
            key=f"rule_{method_cls.name}",
            horizontal=True,
            help=f"default: {method_cls.default_rule}. "
            + " · ".join(f"{n}: {method_cls.rules[n].spec.description}" for n in names),
            bind="query-params",
            persist_state="session",
        )
    spec = method_cls.rules[rule].spec
    value = threshold_input(spec, num_layers, where, shared)
    return rule, ({} if value is None else {spec.param: value})


def is_random(rule_name: str, spec: RuleSpec) -> bool:
    """Rules whose exit depends on random draws (their parameter is the seed)."""
    return rule_name == "sampling" or spec.param == "seed"


def sampled_exits(model, trace: Trace, rule_name: str, params: dict, draws: int = SAMPLED_DRAWS) -> np.ndarray:
    """Exit layers of a random rule over ``draws`` seeds (the rule's own code, replayed)."""
    spec = model.method.rules[rule_name].spec
    out = []
    for seed in range(draws):
        out.append(replay(trace, model.make_rule(rule_name, **{**params, spec.param: seed})).exit_layer)
    return np.asarray(out)


def method_extras(model, trace: Trace, decision: Decision, gold: Any = None, where=None) -> dict:
    """Inputs of ``plots.decision_panels`` that need the model: the PonderNet prior, a random rule's spread,
    ConsistentEE's reward (with a gold-label picker, since a typed sentence has none)."""
    extras: dict[str, Any] = {}
    args = model.method.args
    if callable(getattr(model.method, "prior", None)):
        extras["prior"] = model.method.prior().detach().cpu().numpy()
    spec = model.method.rules[decision.rule].spec
    if is_random(decision.rule, spec):
        extras["sampled_exits"] = sampled_exits(model, trace, decision.rule, decision.params)
    reward_parts = _method_function(model.method, "reward_parts")
    if reward_parts is not None and not trace.is_regression:
        where = where or st
        labels = trace.labels
        default = int(gold) if gold is not None else int(trace.preds[-1])
        label = where.selectbox(
            "Gold label for the reward",
            range(len(labels)),
            index=default,
            format_func=lambda c: labels[c],
            key="reward_gold",
            help="the reward needs the true label; for a typed sentence, choose it",
        )
        extras["reward"] = reward_parts(
            trace.logits,
            int(label),
            alpha=float(getattr(args, "alpha", 0.05)),
            hardness_guided=bool(getattr(args, "hardness_guided", True)),
        )
    return extras


def _method_function(method: ExitMethod, name: str):
    """A module-level helper ``name`` of the method's module or of a module it inherits from (PALBERT from
    PonderNet), or None."""
    for cls in type(method).__mro__:
        if cls is ExitMethod:
            break
        found = getattr(importlib.import_module(cls.__module__), name, None)
        if callable(found):
            return found
    return None


# ============================================================================================ output
def show_decision(trace: Trace, decision: Decision, gold: Any = None) -> None:
    """The decision in large type: exit layer, prediction, confidence, layers saved; and how it compares
    with the full model (and the gold label when known)."""
    num_layers = trace.num_layers
    exit_layer = decision.exit_layer
    with st.container(border=True):
        cols = st.columns(5)
        cols[0].metric("Exit layer", f"{exit_layer} / {num_layers}")
        cols[1].metric("Prediction", decision.label)
        if trace.is_regression:
            cols[2].metric("Value", f"{float(decision.pred):.3f}")
        else:
            cols[2].metric("Confidence", f"{float(np.max(decision.probs)):.1%}")
        saved = num_layers - exit_layer
        cols[3].metric("Layers saved", f"{saved} ({saved / num_layers:.0%})")
        cols[4].metric("Speed-up", f"{num_layers / exit_layer:.1f}×", help="L / exit layer: the saving in layers run")
        last = trace.label_name(trace.preds[-1])
        changed = last != decision.label
        if gold is not None and not trace.is_regression:
            gold_name = trace.label_name(gold)
            right = decision.label == gold_name
            verdict = "right" if right else "wrong"
            if changed and right:
                st.success(
                    f"Gold: **{md_escape(gold_name)}**. Exiting at layer {exit_layer} is {verdict}; the full model "
                    f"(layer {num_layers}) says **{md_escape(last)}**: overthinking, and early exit avoids it."
                )
            elif changed:
                st.error(
                    f"Gold: **{md_escape(gold_name)}**. Exiting at layer {exit_layer} is {verdict}; the full model "
                    f"(layer {num_layers}) would have said **{md_escape(last)}**."
                )
            else:
                (st.success if right else st.error)(
                    f"Gold: **{md_escape(gold_name)}**: the prediction is {verdict}, as the full model's is."
                )
        elif changed:
            st.warning(
                f"The full model (layer {num_layers}) would predict **{md_escape(last)}**: exiting early changes the answer."
            )
        else:
            st.caption(
                f"Same answer as the full model (layer {num_layers})"
                + (f", with {saved} layer(s) fewer." if saved else ".")
            )


def all_rules_table(model, trace: Trace, chosen: dict[str, dict]):
    """Every rule of the method at its current threshold (from ``chosen`` or the session, else its default)."""
    import pandas as pd

    rows = []
    for name, rule_cls in model.method.rules.items():
        spec = rule_cls.spec
        params = chosen.get(name)
        if params is None:
            value = st.session_state.get(f"t_{name}")
            params = {} if value is None or spec.minimum == spec.maximum else {spec.param: value}
        d = replay(trace, model.make_rule(name, **params))
        value = params.get(spec.param, None if spec.minimum == spec.maximum else spec.default)
        rows.append(
            {
                "rule": name,
                "threshold": "—" if value is None else f"{spec.label} = {value:g}",
                "exit layer": d.exit_layer,
                "prediction": d.label,
                "early exit": spec.early_exit,
            }
        )
    return pd.DataFrame(rows)


def export_payload(info: CheckpointInfo, trace: Trace, decision: Decision) -> dict:
    """Everything needed to reproduce the view: checkpoint, config, decision and the trace (no attentions)."""
    return {
        "checkpoint": info.name,
        "config": info.cfg.to_dict(),
        "decision": decision.to_dict(),
        "trace": trace.to_dict(attentions=False),
    }


def export_buttons(info: CheckpointInfo, trace: Trace, decision: Decision) -> None:
    """Download the trace and decision as JSON, and the per-layer table as CSV."""
    cols = st.columns([1, 1, 3])
    cols[0].download_button(
        "Trace as JSON",
        json.dumps(export_payload(info, trace, decision), indent=1),
        file_name=f"eeviz-{info.name}.json",
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
    )
    cols[1].download_button(
        "Layers as CSV",
        plots.layer_table(trace, decision).to_csv(index=False),
        file_name=f"eeviz-{info.name}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    cols[2].caption(
        "The page's URL holds the checkpoint, the sentence, the rule and its threshold: copy it to share "
        "this exact view."
    )


def pair_boundary(tokens: list[str], is_pair: bool) -> int | None:
    """Index of the second sentence's first token ([SEP] / </s> separated), for bertviz's pair colouring."""
    if not is_pair:
        return None
    seps = [i for i, t in enumerate(tokens) if t in ("[SEP]", "</s>")]
    if not seps:
        return None
    start = seps[0] + 1
    while start < len(tokens) and tokens[start] in ("[SEP]", "</s>"):
        start += 1
    return start if 0 < start < len(tokens) else None


# ============================================================================================ toys (Learn page)
TOY_LABELS = ["negative", "positive"]


def toy_trace(method: str, p_positive, signals: dict | None = None) -> Trace:
    """A hand-made binary trace from p(positive) per layer (gold: positive), for the Learn page's live demos.

    The replay and the figures treat it exactly like a model's trace.
    """
    p = np.clip(np.asarray(p_positive, dtype=np.float64), 1e-4, 1 - 1e-4)
    logits = np.log(np.stack([1 - p, p], axis=1)).astype(np.float32)
    return Trace(
        method=method,
        text="toy example",
        tokens=[],
        labels=list(TOY_LABELS),
        logits=logits,
        signals=dict(signals or {}),
        gold=1,
    )
