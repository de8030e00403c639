"""PALBERT: Teaching ALBERT to Ponder (Balagansky & Gavrilov, 2022). PonderNet with three changes.

- λ head: λ_i = σ(MLP([p_i ; p_{i-1}])), MLP = 3 × (Linear(2H, 2H) + tanh) then Linear(2H, 1), p_0 = 0; the
  previous pooled vector is carried in the method state, so true early exit needs no extra layer.
- Exit: the deterministic Q-exit (first layer whose CDF of p(i|x) exceeds q, q = 0.5) is the default rule.
- Optional learning rate of its own for the λ head (``lambda_lr``, via ``lr_overrides``).

The paper's Table 1 ablations are switches of the shared ``PonderArgs``: the exit criterion is the rule
(``q_exit`` vs ``sampling``, or the ``expectation`` reference); ``lambda_layers`` (3 vs 0 = one linear
layer); ``concat_prev`` (with or without p_{i-1}); ``lambda_lr``; plus the prior (``prior_lambda``, β) and the
KL direction; ``layer_embedding``: the λ head is aware of "the number of currently running layers" (the
paper's introduction), through a learned embedding of the layer's position added to its input, as in the
official code. Not implemented: the official code's RNN λ head and "normal" prior.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import PresetSettings, TrainDefaults
from .base import Lesson, Paper
from .pondernet import ExpectationRule, PonderArgs, PonderNetMethod, QExitRule, SamplingRule


@dataclass
class PalbertArgs(PonderArgs):
    """PonderArgs with PALBERT's defaults: a 3-block MLP λ head fed [p_i ; p_{i-1}]."""

    lambda_layers: int = 3
    concat_prev: bool = True
    layer_embedding: bool = True


class PalbertMethod(PonderNetMethod):
    name = "palbert"
    listing_order = 3
    title = "PALBERT (λ, Q-exit)"
    Args = PalbertArgs
    rules = {"q_exit": QExitRule, "sampling": SamplingRule, "expectation": ExpectationRule}
    default_rule = "q_exit"
    train_defaults = TrainDefaults(
        lr=2e-5, batch_size=32, epochs=25, schedule="constant", patience_epochs=5,
        source="PALBERT: Adam, fixed lr from {1e-5, 2e-5, 3e-5, 5e-5}, batch {16, 32, 128}, up to 25 epochs, "
        "early stop after 5 epochs without dev improvement; the Lambda head's own lr is a method argument",
    )
    # demo: the same prior and KL weight as PonderNet's on 6 layers (see there)
    # seed 2: of the heads trained with seeds 42, 1 and 2 (everything else equal), the one whose dev sweep has a
    # point within 0.5 point of its full model with the most layers saved (55%; 39% and 40% for the others)
    preset_settings = {"demo": PresetSettings(train=dict(seed=2), method_args=dict(prior_lambda=0.25, beta=0.1))}

    paper = Paper(
        "PALBERT: Teaching ALBERT to Ponder",
        "Balagansky & Gavrilov",
        "NeurIPS 2022",
        "https://arxiv.org/abs/2204.03276",
    )
    lesson = Lesson(
        summary="PonderNet's halting distribution with a deterministic exit (Q-exit) and a deeper λ head that also "
        "sees the previous layer.",
        blocks=(
            "Heads: one classifier shared by all layers, and a λ head that reads the pooled hidden states of layers "
            "$i$ and $i-1$ ($h_0 = 0$) through a 3-block MLP: "
            "$\\lambda_i = \\sigma(\\mathrm{MLP}([h_i ; h_{i-1}]))$, the probability of halting at layer $i$ "
            "once it is reached. As in PonderNet:",
            r"$$p(i \mid x) = \lambda_i \prod_{j<i} (1 - \lambda_j), \qquad \text{the last layer takes the rest}$$",
            "Training, as PonderNet: the expected loss under the halting distribution, plus a KL term that pulls it "
            "toward a geometric prior $p_G$ (truncated to $L$ layers: its last entry takes the remaining mass):",
            r"$$\mathcal{L} = \sum_i p(i \mid x)\,\mathrm{CE}_i + \beta\,"
            r"\mathrm{KL}\big(p(\cdot \mid x)\,\|\,p_G(\cdot \mid \lambda_p)\big), \qquad "
            r"p_G(k) = \lambda_p (1-\lambda_p)^{k-1}$$",
            "Exit: instead of PonderNet's random draw, the deterministic **Q-exit** stops at the first layer whose "
            "CDF passes $q$:",
            r"$$\text{Q-exit: first } i \text{ with } \sum_{j \le i} p(j \mid x) > q$$",
        ),
        # the chart keys of the former shared PonderNet · PALBERT tab, which links and tests use
        key="ponder",
    )


METHOD = PalbertMethod
