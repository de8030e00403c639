"""Learn: each method's training objective and exit rule, with live plots on a toy example.

The toy is a hand-made 8-layer trace (p(positive) per layer, gold = positive); the exit rules replayed over
it and the figures are the very ones the Explore page uses on real models.
"""

import math

import numpy as np
import streamlit as st
import torch

from eeviz import plots, ui
from eeviz.methods import get_method
from eeviz.trace import replay

# p(positive) at layers 1..8 of three toy examples (gold: positive)
TOYS = {
    "overthinking": [0.40, 0.62, 0.78, 0.86, 0.90, 0.84, 0.58, 0.38],
    "easy": [0.55, 0.80, 0.93, 0.97, 0.98, 0.99, 0.99, 0.99],
    "hard": [0.50, 0.45, 0.40, 0.48, 0.55, 0.62, 0.71, 0.83],
}
TOY_HELP = {
    "overthinking": "right from layer 2, confident in the middle, wrong again at the last layers",
    "easy": "right and confident early: any rule should exit early",
    "hard": "wrong early, right only near the top",
}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def method_or_none(name):
    try:
        return get_method(name)
    except ValueError:
        st.info(f"{name} is not part of this install.")
        return None


def show(fig, key, col=None):
    (col or st).plotly_chart(fig, key=key)


def verdict(decision):
    right = decision.label == ui.TOY_LABELS[1]
    st.caption(
        f"Exit at layer {decision.exit_layer} of {L}: **{decision.label}**, "
        + ("right." if right else "wrong (gold: positive).")
    )


ui.setup_page("Learn")
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
p_pos = np.asarray(TOYS[toy_name])
L = len(p_pos)
base = ui.toy_trace("toy", p_pos)

tabs = st.tabs(["PABEE", "DeeBERT", "PonderNet · PALBERT", "ELBERT", "ConsistentEE"])

# ------------------------------------------------------------------------------------------- PABEE
with tabs[0]:
    method = method_or_none("pabee")
    if method:
        st.markdown(
            "**PABEE** (Zhou et al., 2020): one classifier per layer; stop when the prediction has stopped changing."
        )
        st.markdown("Training: every layer's cross-entropy, deeper layers weighted more:")
        st.latex(r"\mathcal{L} = \frac{\sum_{i=1}^{L} i\,\mathrm{CE}_i}{\sum_{i=1}^{L} i}")
        st.markdown(
            "Exit: a patience counter grows while consecutive layers agree; stop once it reaches $t$ "
            "($t + 1$ identical predictions in a row):"
        )
        st.latex(
            r"c_i = \begin{cases} c_{i-1} + 1 & \hat y_i = \hat y_{i-1} \\ 0 & \text{otherwise}\end{cases}"
            r"\qquad \text{exit at the first } i \text{ with } c_i = t"
        )
        t = st.slider("patience t", 0, L - 1, 2, key="learn_t", help="t = 0 disables early exit")
        rule = method.rules["patience"](L, patience=t)
        decision = replay(base, rule)
        verdict(decision)
        left, right = st.columns(2)
        show(plots.probability_lines(base, decision.exit_layer), "pabee-lines", left)
        show(plots.decision_panels(base, decision, rule.spec)[0].figure, "pabee-counter", right)
        weights = np.arange(1, L + 1) / np.arange(1, L + 1).sum()
        show(
            plots.signal_figure(weights, "loss weight", bars=True, title="Loss weight of each layer, i / Σi"),
            "pabee-weights",
        )

# ------------------------------------------------------------------------------------------- DeeBERT
with tabs[1]:
    method = method_or_none("deebert")
    if method:
        st.markdown('**DeeBERT** (Xin et al., 2020): "highway" classifiers after every layer; stop when one is sure.')
        st.markdown(
            "Training in two stages: (1) the backbone and the final classifier on the final loss; (2) with "
            "those frozen, the highways on the sum of their losses:"
        )
        st.latex(r"\mathcal{L}_1 = \mathrm{CE}_L \qquad \mathcal{L}_2 = \sum_{i=1}^{L-1} \mathrm{CE}_i")
        st.markdown("Exit at the first layer whose prediction entropy (in nats) is below $S$:")
        st.latex(r"H(p_i) = -\sum_{c} p_i(c) \log p_i(c) < S")
        spec = method.rules["entropy"].spec
        s = st.slider(spec.label, 0.0, round(math.log(2), 2), 0.3, 0.01, key="learn_s")
        rule = method.rules["entropy"](L, entropy=s)
        decision = replay(base, rule)
        verdict(decision)
        left, right = st.columns(2)
        show(plots.probability_lines(base, decision.exit_layer), "deebert-lines", left)
        show(plots.decision_panels(base, decision, rule.spec)[0].figure, "deebert-entropy", right)

# ------------------------------------------------------------------------------------------- PonderNet / PALBERT
with tabs[2]:
    method = method_or_none("palbert")
    if method:
        from eeviz.methods import pondernet

        st.markdown(
            "**PonderNet** (Banino et al., 2021) and **PALBERT** (Balagansky & Gavrilov, 2022): a shared "
            "λ head says, at every layer, how likely the model is to halt there."
        )
        st.latex(r"p(i \mid x) = \lambda_i \prod_{j<i} (1 - \lambda_j), \qquad \text{the last layer takes the rest}")
        st.markdown(
            "Training: the expected loss under the halting distribution, plus a KL pull toward a geometric "
            "prior that prefers halting early:"
        )
        st.latex(
            r"\mathcal{L} = \sum_i p(i \mid x)\,\mathrm{CE}_i + \beta\,"
            r"\mathrm{KL}\big(p(\cdot \mid x)\,\|\,p_G(\cdot \mid \lambda_p)\big), \qquad p_G(k) = \lambda_p (1-\lambda_p)^{k-1}"
        )
        st.markdown(
            "PonderNet exits when a Bernoulli($\\lambda_i$) draw fires; PALBERT's deterministic **Q-exit** stops at "
            "the first layer whose CDF passes $q$. PALBERT's λ head reads $[p_i ; p_{i-1}]$ through a 3-layer MLP."
        )
        st.latex(r"\text{Q-exit: first } i \text{ with } \sum_{j \le i} p(j \mid x) > q")
        cols = st.columns(4)
        bias = cols[0].slider(
            "λ head bias (toy)",
            -3.0,
            3.0,
            0.0,
            0.1,
            key="learn_bias",
            help="in this toy, λ_i = σ(6·(confidence_i − 0.8) + bias)",
        )
        q = cols[1].slider("quantile q", 0.0, 1.0, 0.5, 0.01, key="learn_q")
        prior_lambda = cols[2].slider("prior λ_p", 0.05, 0.9, 0.1, 0.01, key="learn_lp")
        beta = cols[3].slider("KL weight β", 0.0, 2.0, 0.5, 0.05, key="learn_beta")
        lambdas = sigmoid(6 * (base.confidence - 0.8) + bias)
        halt = pondernet.halting_distribution(torch.tensor(lambdas)).numpy()
        cdf = np.cumsum(halt)
        cdf[-1] = 1.0
        toy = ui.toy_trace("palbert", p_pos, {"lambda": lambdas, "halt_prob": halt, "cdf": cdf})
        rule = method.rules["q_exit"](L, q=q)
        decision = replay(toy, rule)
        verdict(decision)
        prior = pondernet.geometric_prior(L, prior_lambda).numpy()
        kl = float(pondernet.truncated_kl(torch.tensor(halt)[:, None], torch.tensor(prior))[0])
        ce = -np.log(base.probs[:, 1])
        m = st.columns(4)
        m[0].metric("Q-exit layer", f"{decision.exit_layer} / {L}")
        m[1].metric("Σ p(i|x)·CE_i", f"{float((halt * ce).sum()):.3f}")
        m[2].metric("β·KL", f"{beta * kl:.3f}")
        m[3].metric("Expected depth", f"{float(pondernet.expected_depth(torch.tensor(halt))):.2f}")
        left, right = st.columns(2)
        show(
            plots.halting_figure(halt, cdf=cdf, lambdas=lambdas, q=q, prior=prior, exit_layer=decision.exit_layer),
            "ponder-halting",
            left,
        )
        draws = pondernet.sample_exit_layers(lambdas, 1000, seed=0)
        show(plots.exit_distribution_figure(draws, L, halt), "ponder-sampling", right)
        right.caption("PonderNet's sampling exit over 1000 draws follows p(i|x): random, unlike Q-exit.")

# ------------------------------------------------------------------------------------------- ELBERT
with tabs[3]:
    method = method_or_none("elbert")
    if method:
        from eeviz.methods import elbert

        st.markdown(
            "**ELBERT** (Xie et al., 2021): one classifier shared by all layers, a learned weight per layer, "
            "and a two-stage exit."
        )
        st.markdown(
            "Training: trainable $t_i$ set each layer's weight; the last layer takes what is left so the "
            "weights sum to $L$:"
        )
        st.latex(
            r"w_i = \sigma(t_i)\ (i < L), \qquad w_L = L - \sum_{i<L} \sigma(t_i), \qquad "
            r"\mathcal{L} = \sum_i w_i\,\mathrm{CE}_i"
        )
        st.markdown(
            "Stage 1: exit when the *puzzlement* (normalised entropy) is below δ. Stage 2: exit when, over "
            "a window of the last $N$ layers, the same class is predicted with a probability that never falls."
        )
        st.latex(r"\mathrm{Puzzlement}(i) = \frac{H(p_i)}{\log C} < \delta")
        cols = st.columns(4)
        delta = cols[0].slider("puzzlement threshold δ", 0.0, 1.0, 0.3, 0.01, key="learn_delta")
        window = cols[1].slider("window N", 2, L, elbert.default_window(L), key="learn_window")
        criterion = cols[2].selectbox("window criterion", elbert.WINDOW_CRITERIA, key="learn_criterion")
        t_init = cols[3].slider("t_i (all layers)", -4.0, 6.0, 4.0, 0.5, key="learn_tinit")
        toy = ui.toy_trace("elbert", p_pos)
        toy.signals["puzzlement"] = toy.puzzlement
        rule = method.rules["two_stage"](L, delta=delta, window=window, criterion=criterion)
        decision = replay(toy, rule)
        verdict(decision)
        panels = plots.decision_panels(toy, decision, rule.spec, signal_docs=method.signal_docs)
        for start in range(0, len(panels), 2):
            for col, panel in zip(st.columns(2), panels[start : start + 2]):
                show(panel.figure, f"elbert-{panel.title}", col)
        weights = elbert.elbert_layer_weights(torch.full((L - 1,), t_init)).numpy()
        show(plots.signal_figure(weights, "w_i", bars=True, title="Loss weights w_i (sum L)"), "elbert-weights")

# ------------------------------------------------------------------------------------------- ConsistentEE
with tabs[4]:
    method = method_or_none("consistentee")
    if method:
        from eeviz.methods import consistentee

        st.markdown(
            "**ConsistentEE** (Zeng et al., 2024): a small policy network per layer learns, by "
            "reinforcement learning, when to exit; easy examples are pushed to exit early."
        )
        st.markdown(
            "The *memorized layer* $m$ is the first layer from which every classifier is right ($L$ if the "
            "last is wrong). Exiting at layer $e$ earns"
        )
        st.latex(r"r(e) = \log p_e(y \mid x) - \alpha\, e \left(1 - \frac{m}{L}\right)")
        st.markdown("and the policies follow REINFORCE over $K$ sampled exits with the mean reward $b$ as baseline:")
        st.latex(
            r"\mathcal{L} = -\big(r - b\big) \log P(e), \qquad \log P(e) = \sum_{j<e} \log(1 - \pi_j) + \log \pi_e"
        )
        st.markdown("At inference: exit at the first layer with $\\pi_i > 0.5$.")
        cols = st.columns(4)
        threshold = cols[0].slider("exit probability threshold", 0.0, 1.0, 0.5, 0.01, key="learn_pi")
        bias = cols[1].slider(
            "policy bias (toy)",
            -3.0,
            3.0,
            0.0,
            0.1,
            key="learn_pibias",
            help="in this toy, π_i = σ(8·(confidence_i − 0.85) + bias)",
        )
        alpha = cols[2].slider("depth cost α", 0.0, 0.3, 0.05, 0.01, key="learn_alpha")
        guided = cols[3].toggle("hardness-guided", value=True, key="learn_guided")
        pi = sigmoid(8 * (base.confidence - 0.85) + bias)
        toy = ui.toy_trace("consistentee", p_pos, {"policy": pi})
        rule = method.rules["policy"](L, threshold=threshold)
        decision = replay(toy, rule)
        verdict(decision)
        parts = consistentee.reward_parts(toy.logits, 1, alpha=alpha, hardness_guided=guided)
        panels = plots.decision_panels(toy, decision, rule.spec, signal_docs=method.signal_docs, reward=parts)
        for start in range(0, len(panels), 2):
            for col, panel in zip(st.columns(2), panels[start : start + 2]):
                show(panel.figure, f"cee-{panel.title}", col)
        st.caption(
            f"Memorized layer m = {parts.memorized_layer}, hardness m/L = {parts.hardness:.2f}"
            + (": the hardest examples pay nothing for depth." if guided and parts.memorized_layer == L else ".")
        )
