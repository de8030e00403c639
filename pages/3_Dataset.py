"""Dataset: how much accuracy each checkpoint's exit rules trade for how much speed, where examples leave, how
good each layer is, and the examples, from each checkpoint's eval.json (written by ``python -m eeviz.evaluate``).
The views are ``eeviz.app.dataset_view.show_results``, which any set of evaluations can call."""

import streamlit as st

from eeviz.app import ui
from eeviz.app.dataset_view import show_results

ui.setup_page("Dataset")
infos = ui.list_checkpoints()
names = ui.titles(infos)
st.title("Accuracy against speed\u2011up")  # a non-breaking hyphen: "speed-" / "up" on a phone

evaluated = [i for i in infos if i.has_eval]
if not evaluated:
    st.info("No checkpoint has an evaluation yet. Evaluate one (writes eval.json next to its weights):")
    st.code(ui.EVALUATE_COMMAND, language="bash")
    st.stop()
chosen = st.multiselect(
    "Checkpoints",
    [i.name for i in evaluated],
    default=[i.name for i in evaluated],
    format_func=names.get,
    key="ds_ckpts",
)
evals = {}
for info in evaluated:
    if info.name in chosen:
        ev = ui.load_eval(info)
        if ev is not None:
            evals[info.name] = ev
if not evals:
    st.info("Choose at least one checkpoint.")
    st.stop()
# a default threshold not chosen on dev is marked "built-in", as the checkpoints' README marks it
show_results(evals, names, chosen_on_dev={i.name: set(i.cfg.rule_defaults) for i in evaluated})
