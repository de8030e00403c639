"""Learn: each method's training objective and exit rule, with live plots on a toy example.

The toy is a hand-made 8-layer trace (p(positive) per layer, gold = positive); the exit rules replayed over
it and the figures are the very ones the Explore page uses on real models. Every tab comes from the method's
own file (its paper, lesson, toy knobs and toy), so a new method gets its tab without changes here.
"""

import numpy as np
import streamlit as st

from eeviz.app import learn, ui
from eeviz.methods import available_methods, get_method

# p(positive) at layers 1..8 of three toy examples (gold: positive)
TOYS = {
    "overthinking": [0.40, 0.62, 0.78, 0.86, 0.90, 0.84, 0.58, 0.38],
    "easy": [0.55, 0.80, 0.93, 0.97, 0.98, 0.99, 0.99, 0.99],
    "hard": [0.50, 0.45, 0.40, 0.48, 0.55, 0.62, 0.71, 0.83],
}
TOY_HELP = {
    "overthinking": "Wrong at layer 1, right from layer 2, most confident at layer 5, wrong again at the last layer",
    "easy": "Right from layer 1 and confident from layer 3: any rule should exit early",
    "hard": "Undecided at layer 1, wrong at layers 2 to 4, right from layer 5 and confident only at the top",
}

ui.setup_page("Learn")
st.html(learn.LESSON_CSS)
st.title("How early exit works")
st.markdown(
    "An encoder runs its layers one after another. Early-exit methods put a small classifier after **every** layer, "
    "so each layer already has a prediction $p_i$; an **exit rule** reads the signals seen so far and decides, layer "
    "by layer, whether to stop and answer now. Stopping early saves the remaining layers; sometimes it is even more "
    "accurate, when later layers *overthink* a right answer into a wrong one. The methods differ in what they train "
    "and in the signal the rule reads."
)
toy_name = st.segmented_control("Toy example", list(TOYS), default="overthinking", required=True, key="learn_toy")
st.caption(f"p(positive) per layer: {', '.join(f'{p:.2f}' for p in TOYS[toy_name])}. {TOY_HELP[toy_name]}.")
p_positive = np.asarray(TOYS[toy_name])

methods = [get_method(name) for name in available_methods()]
used_keys: set[str] = set()
for method, tab in zip(methods, st.tabs([learn.short_title(m) for m in methods])):
    with tab:
        learn.render_lesson(method)
        learn.render_toy(method, p_positive, used_keys)
