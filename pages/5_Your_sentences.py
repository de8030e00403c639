"""Your sentences: every chosen checkpoint over an uploaded CSV/JSONL file or pasted sentences. Each sentence's
exit layer and prediction per checkpoint (at the rule and threshold set on Explore/Compare in this session, else
its defaults) and, when the data has labels, the Dataset page's accuracy/speed-up views for it. Runs are kept per
(content, checkpoint, rule, threshold): reruns recompute nothing."""

import streamlit as st

from eeviz.app import downloads, ui, upload
from eeviz.app.dataset_view import show_results
from eeviz.csv_safe import csv_text
from eeviz.uploads import PASTED

NO_BREAK_HYPHEN = "\u2011"  # "speed-up" wrapped as "speed-" / "up" on a phone

ui.setup_page("Your sentences")
infos = ui.list_checkpoints()
names = ui.titles(infos)
st.title("Your sentences")
st.caption(
    "Run the checkpoints over your own sentences: see where each one exits, and with labels how accurate and "
    "how fast every exit rule is on them."
)

sentences = upload.sentence_source()
if sentences is None:
    st.stop()
upload.describe(sentences)

chosen = st.multiselect(
    "Checkpoints", [i.name for i in infos], default=[i.name for i in infos], format_func=names.get,
    key="up_ckpts", persist_state="session",
)
brought_labels = sentences.labelled
sentences = upload.labels_choice(sentences, [i for i in infos if i.name in chosen])
examples = upload.fitting(sentences, [i for i in infos if i.name in chosen], names)
fit = [i for i in infos if i.name in examples]
if not fit:  # ``fitting`` said why and what to do
    st.stop()

missing = [i for i in fit if upload.cached_run(i, sentences) is None]
if st.button("Run", type="primary", icon=":material/play_arrow:", key="up_run", disabled=not missing):
    if upload.run_all(sentences, fit, examples, names):
        st.rerun()  # draw the results with the button in its new state (disabled: nothing left to run)
runs = {i.name: r for i in fit if (r := upload.cached_run(i, sentences)) is not None}
stopped = upload.stopped_run_note(sentences, fit)  # a Run that another page or a widget change stopped
if not runs:
    if not stopped:
        st.info(f"Press **Run** to run {len(fit)} checkpoint(s) over these {len(sentences)} sentences.")
    st.stop()
if len(runs) < len(fit) and not stopped:
    st.caption(f"Press **Run** to add the other {len(fit) - len(runs)} checkpoint(s).")

st.header("Each sentence")
upload.show_cut_notices(runs, names)
table = upload.show_table(sentences, runs, names)
st.caption("Where each sentence exits, layers counted from 1; then the prediction there. "
           + upload.rules_caption([i for i in fit if i.name in runs], names))
st.download_button(
    "Table as CSV", csv_text(table), file_name=downloads.sentences_name(list(runs), sentences.digest),
    mime="text/csv",
    icon=":material/download:", on_click="ignore",
)

evals = {n: r.evaluation for n, r in runs.items() if r.evaluation is not None}
if not evals:
    if sentences.source == PASTED:  # pasted lines cannot carry labels: say where labels can come from
        st.caption("Pasted lines carry no labels. For accuracy against speed-up as on the Dataset page, choose "
                   "**a file** above with a **label** column.")
    elif not brought_labels:  # (labels left out by the switch above are said there)
        st.caption("A file with a **label** column also gets accuracy against speed-up, as on the Dataset page.")
    st.stop()
st.header(f"Accuracy against speed{NO_BREAK_HYPHEN}up")
show_results(evals, names, key_prefix="up", chosen_on_dev={i.name: set(i.cfg.rule_defaults) for i in fit})
