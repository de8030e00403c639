"""PonderNet for encoders (Banino et al., 2021, as adapted by PALBERT, Balagansky & Gavrilov, 2022).

Heads: one classifier shared by all layers and one λ head shared by all layers. λ_i = σ(Λ(p_i)) is the
probability of halting at layer i once it is reached; it induces the halting distribution
p(i|x) = λ_i ∏_{j<i}(1-λ_j), whose last entry takes the remaining mass so that it sums to 1.
Loss (the negative of the paper's Eq. 1): Σ_i p(i|x)·CE_i + β·KL(p(·|x) || p(·|λ_p)), where the prior is a
geometric distribution truncated to L layers (its last entry takes the remaining mass).

KL truncation (paper, Sec. 3): per example, j is the first layer with Σ_{i<=j} p(i|x) >= ``kl_mass`` (0.95);
the KL sums its terms over layers 1..j only, with neither distribution renormalised. The official code
computes KL(prior || p) instead (``kl_direction="prior_posterior"``) and pads p with ε/L past the mass: only
the direction is offered here.

Notable:
- the halting distribution is computed incrementally in ``layer_signals``, in log space: the running
  log ∏(1-λ_j) is carried in the method state, so p(i|x) never underflows to an exact 0 (which would give
  NaN gradients in the KL) and true early exit sees the same numbers as the full pass;
- exit rules: ``sampling`` (the original criterion: halt when Bernoulli(λ_i) fires; seedable),
  ``q_exit`` (PALBERT's deterministic criterion: the first layer whose CDF exceeds q) and ``expectation``
  (reference only: Σ_i p(i|x)·softmax_i over all layers, never exits early);
- the PALBERT switches (λ head depth, [p_i; p_{i-1}] input, λ learning rate) are ``PonderArgs`` fields, so
  PonderNet is PALBERT's ablation baseline with the same code (see ``palbert.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .base import ExitMethod, ExitRule, MethodArgs, PresetSettings, RuleSpec, Signals, State, TrainDefaults
from .base import FigureInputs, Knob, Lesson, PanelSpec, Paper, Toy, format_number, verdict
from ..example_keys import row_generators

KL_DIRECTIONS = ("posterior_prior", "prior_posterior")


@dataclass
class PonderArgs(MethodArgs):
    """PonderNet hyperparameters; the defaults are the original PonderNet's.

    Attributes:
        prior_lambda: λ_p of the geometric prior p(k|λ_p) = λ_p (1-λ_p)^(k-1).
        beta: weight β of the KL term.
        kl_mass: the KL runs over the layers up to the first where the CDF of p(·|x) reaches this mass.
        kl_direction: "posterior_prior" = KL(p(·|x) || prior) (the paper), "prior_posterior" = KL(prior || p(·|x))
            (the official PALBERT code).
        lambda_layers: hidden Linear+tanh blocks of the λ head before its Linear(·, 1): 0 = a single linear
            layer (PonderNet), 3 = PALBERT's MLP.
        concat_prev: feed [p_i ; p_{i-1}] (p_0 = 0) to the λ head instead of p_i alone (PALBERT).
        lambda_lr: learning rate of the λ head; None = the run's rate.
        layer_embedding: add a learned embedding of the layer's position to the λ head's input, so the head
            knows "the number of currently running layers" (PALBERT, Sec. 1; its official code does this).
    """

    prior_lambda: float = 0.1
    beta: float = 0.5
    kl_mass: float = 0.95
    kl_direction: str = "posterior_prior"
    lambda_layers: int = 0
    concat_prev: bool = False
    lambda_lr: float | None = None
    layer_embedding: bool = False


# --------------------------------------------------------------------------------------------- pure functions
def halting_distribution(lambdas: torch.Tensor) -> torch.Tensor:
    """p(i|x) = λ_i ∏_{j<i}(1-λ_j) over dim 0 (layers); the last layer takes the remaining mass.

    Args:
        lambdas: (L, ...) halting probabilities λ_i.

    Returns:
        (L, ...) halting distribution, summing to 1 over dim 0.
    """
    lambdas = torch.as_tensor(lambdas)
    not_halted = torch.cumprod(1.0 - lambdas, dim=0)
    reached = torch.cat([torch.ones_like(lambdas[:1]), not_halted[:-1]])  # ∏_{j<i}(1-λ_j)
    probs = lambdas * reached
    probs[-1] = reached[-1]
    return probs


def geometric_prior(num_layers: int, prior_lambda: float, device: torch.device | None = None) -> torch.Tensor:
    """Geometric prior λ_p (1-λ_p)^(k-1) for k = 1..L, the last entry = 1 - the sum of the others. Shape (L,).

    Built on ``device`` itself: a copy from pageable host memory would synchronise the GPU (seen on an H100)."""
    k = torch.arange(num_layers, dtype=torch.float64, device=device)
    prior = prior_lambda * (1.0 - prior_lambda) ** k
    prior[-1] = 1.0 - prior[:-1].sum()
    return prior.float()


def kl_mask(halt_probs: torch.Tensor, mass: float) -> torch.Tensor:
    """(L, B) bool: layer i counts in the KL when the CDF before it is below ``mass``, i.e. i <= j where j is
    the first layer with CDF_j >= mass."""
    cdf_before = torch.cumsum(halt_probs, dim=0) - halt_probs
    return cdf_before < mass


def truncated_kl(
    halt_probs: torch.Tensor,
    prior: torch.Tensor,
    mass: float = 0.95,
    direction: str = "posterior_prior",
    log_halt_probs: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL between the halting distribution and the prior over the layers 1..j (see ``kl_mask``), per example.

    Args:
        halt_probs: (L, B) p(i|x).
        prior: (L,) prior p(i|λ_p).
        mass: CDF mass that ends the sum.
        direction: "posterior_prior" for Σ p log(p/prior), "prior_posterior" for Σ prior log(prior/p).
        log_halt_probs: (L, B) log p(i|x) when known more precisely than log(halt_probs) (e.g. computed in
            log space, where p may underflow to 0).

    Returns:
        (B,) truncated KL of each example.
    """
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"kl_direction must be one of {KL_DIRECTIONS}, got {direction!r}")
    if log_halt_probs is None:
        log_halt_probs = torch.log(halt_probs)
    prior = prior.to(halt_probs)[:, None]
    log_prior = torch.log(prior)
    if direction == "posterior_prior":
        terms = halt_probs * (log_halt_probs - log_prior)
    else:
        terms = prior * (log_prior - log_halt_probs)
    # torch.where (not a product with the mask) keeps gradients of the layers past j at exactly 0
    return torch.where(kl_mask(halt_probs.detach(), mass), terms, torch.zeros_like(terms)).sum(0)


def expected_depth(halt_probs) -> torch.Tensor:
    """Σ_i i·p(i|x) over dim 0 (layers numbered from 1)."""
    halt_probs = torch.as_tensor(halt_probs)
    shape = (-1,) + (1,) * (halt_probs.dim() - 1)
    layers = torch.arange(1, halt_probs.shape[0] + 1, dtype=halt_probs.dtype, device=halt_probs.device)
    return (layers.view(shape) * halt_probs).sum(0)


def sample_exit_layers(lambdas, n: int, seed: int = 0, key: int | None = None) -> np.ndarray:
    """Draw ``n`` exit layers (1..L) of the sampling criterion from one example's λ_1..λ_L.

    Uses the same draws as ``SamplingRule`` with the same seed for the example of ``key`` (its
    ``eeviz.example_keys`` key; None: a row without one, at position 0): an (n, L) block of uniforms u from that
    example's generator, exit at the first layer with u_i < λ_i, else at L. So ``n=1`` reproduces the rule's
    decision and large ``n`` shows its spread, which follows ``halting_distribution(lambdas)``.
    """
    lam = torch.as_tensor(np.asarray(lambdas), dtype=torch.float32)
    (generator,) = row_generators(int(seed), 1, None if key is None else [key])
    uniform = torch.rand(n, lam.shape[0], generator=generator)
    fires = uniform < lam
    fires[:, -1] = True
    return (fires.int().argmax(dim=1) + 1).numpy()


def lambda_head(in_features: int, hidden_blocks: int) -> nn.Sequential:
    """``hidden_blocks`` × (Linear(in, in) + tanh), then Linear(in, 1): the logit of λ."""
    layers: list[nn.Module] = []
    for _ in range(hidden_blocks):
        layers += [nn.Linear(in_features, in_features), nn.Tanh()]
    layers.append(nn.Linear(in_features, 1))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------- rules
class QExitRule(ExitRule):
    """PALBERT's Q-exit: stop at the first layer whose CDF Σ_{j<=i} p(j|x) is above q (strictly)."""

    spec = RuleSpec(
        name="q_exit",
        param="q",
        default=0.5,
        # steps of 0.05 where most examples' CDF crosses (the curve bends there), 0.1 above
        sweep=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
        label="quantile q",
        description="exit at the first layer where the CDF of the halting distribution exceeds $q$",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        title="Q-exit",
        series="cdf",
        side="above",
        series_range=(0.0, 1.05),
        symbol="q",
    )

    def step(self, state: State, i: int, sig: Signals):
        cdf = sig["cdf"]
        return cdf > float(self.threshold), {"cdf": cdf}


class SamplingRule(ExitRule):
    """PonderNet's criterion: stop at layer i when a Bernoulli(λ_i) draw fires.

    The uniforms u of every layer are drawn at ``start``, each row's from a generator seeded with ``seed`` and
    the example's key (``eeviz.example_keys``: a digest of its tokens), and layer i fires when u_i < λ_i. So an
    example's draws depend on the seed and the example only: not on its batch, its row, or when the others exit;
    Explore, the Dataset page, an upload and true early exit agree on its exit.
    """

    spec = RuleSpec(
        name="sampling",
        param="seed",
        default=0,
        sweep=(0,),
        label="random seed",
        description="exit at the first layer where the uniform draw $u_i$ falls below $\\lambda_i$: a "
        "$\\mathrm{Bernoulli}(\\lambda_i)$ coin that says halt (random: the seed picks the draws)",
        minimum=0,
        maximum=9999,
        step=1,
        integer=True,
        title="sampling (random)",
        stochastic=True,
        follows="halt_prob",
        state_title="probability",  # λ_i and the draw u_i, both in [0, 1]
        state_range=(0.0, 1.05),
    )

    def start(self, batch_size: int, device: torch.device, keys=None) -> State:
        generators = row_generators(int(self.threshold), batch_size, keys)  # CPU generators, whatever the device
        uniform = torch.stack([torch.rand(self.num_layers, generator=g) for g in generators]) if generators else \
            torch.zeros(0, self.num_layers)
        return {"uniform": uniform.to(device)}

    def step(self, state: State, i: int, sig: Signals):
        lam = sig["lambda"].float()
        uniform = state["uniform"][:, i - 1]
        return uniform < lam, {"lambda": lam, "uniform": uniform}

    def describe(self, i, info, sig, stop=None, name_of=None) -> str:
        """"draw u_i 0.12 < λ_i = 0.30: the coin says halt → exit"."""
        lam, u = float(info["lambda"]), float(info["uniform"])
        fired = u < lam
        text = f"random draw u_i {format_number(u, lam)} {'<' if fired else '≥'} λ_i = {format_number(lam, u)}"
        text += ": the coin says halt" if fired else ": the coin says go on"
        return verdict(text, stop, fired, i >= self.num_layers)


class ExpectationRule(ExitRule):
    """Reference, never exits early: reports Σ_i p(i|x)·softmax_i, accumulated over all L layers.

    It has no threshold; the interface asks for one parameter, so ``unused`` is pinned to 0.
    """

    spec = RuleSpec(
        name="expectation",
        param="unused",
        default=0,
        sweep=(0,),
        label="no threshold (runs all layers)",
        description="prediction averaged over layers with the halting distribution (reference, no early exit)",
        minimum=0,
        maximum=0,
        step=1,
        integer=True,
        early_exit=False,
        title="expectation (all layers)",
        answer="The answer is not one layer's prediction: it is every layer's probabilities averaged with the "
        "halting distribution as weights, $\\sum_i p(i\\mid x)\\,p_i$. The confidence above is that average's, "
        "not the outlined layer's own.",
    )

    def step(self, state: State, i: int, sig: Signals):
        weight = sig["halt_prob"].float()
        state["mixture"] = state.get("mixture", 0.0) + weight[:, None] * sig["probs"].float()
        return torch.zeros_like(weight, dtype=torch.bool), {"weight": weight}

    def describe(self, i, info, sig, stop=None, name_of=None) -> str:
        """The reference only accumulates: each layer's probabilities weighted by p(i|x), answered at layer L."""
        weight = format_number(float(info["weight"]))
        if i >= self.num_layers:
            text = f"adds p({i}|x) = {weight} × this layer's probabilities; the sum over all layers is the answer"
            return verdict(text, stop, True, True)
        text = f"adds p({i}|x) = {weight} × this layer's probabilities to the average; it never exits early"
        return verdict(text, stop, False, False)

    def probs(self, state: State, sig: Signals) -> torch.Tensor:
        return state["mixture"]


# --------------------------------------------------------------------------------------------- method
class PonderNetMethod(ExitMethod):
    name = "pondernet"
    listing_order = 2
    title = "PonderNet (λ, sampling)"
    Args = PonderArgs
    rules = {"sampling": SamplingRule, "q_exit": QExitRule, "expectation": ExpectationRule}
    default_rule = "sampling"
    train_defaults = TrainDefaults(
        lr=2e-5, batch_size=32, epochs=25, schedule="constant", patience_epochs=5,
        source="PALBERT paper's PonderNet baseline: Adam, fixed lr, up to 25 epochs, early stop after 5",
    )
    # demo: the geometric prior's λ_p = 0.1 was set for 12-24 layers (expected depth 10); 0.25 keeps the prior's
    # shape on 6 layers (expected depth 4) instead of piling 59% of its mass on the last layer. β = 0.1 rather
    # than 0.5: with β = 0.5 the KL term held λ at the prior for every sentence (the same exit layer for 98% of
    # dev sentences at q = 0.4); with 0.1 the expected-loss term makes λ depend on the input (dev sweeps).
    # λ_p = 0.35 rather than 0.25 (expected depth 2.9): the shared classifier is trained where p(i|x) puts its
    # mass, and more of it early makes layers 1-3 better (dev layer 3: 82.7 against 82.0) for 0.5 point at
    # layer 6; on dev, a Q-exit point within 0.5 point of the full model then saves 58% of the layers, against
    # 27% with 0.25 (and with 0.25 at 40 epochs, at β = 0.03, with a 10x λ learning rate, or with seeds 1-3)
    preset_settings = {"demo": PresetSettings(method_args=dict(prior_lambda=0.35, beta=0.1))}
    signal_docs = {
        "lambda": "$\\lambda_i$: probability of halting at layer $i$ once it is reached",
        "halt_prob": "$p(i \\mid x) = \\lambda_i \\prod_{j<i} (1 - \\lambda_j)$, the halting distribution (the last "
        "layer takes the rest)",
        "cdf": "$\\sum_{j \\le i} p(j \\mid x)$: Q-exit stops once it is above $q$",
        "log_halt_prob": "$\\log p(i \\mid x)$, computed in log space (the KL term uses it)",
    }
    signal_names = {
        "halt_prob": "p(i|x)",
        "cdf": "CDF",
        "lambda": "λ_i (halting probability)",
        "log_halt_prob": "log p(i|x)",
        "prior": "prior p(i|λ_p)",
        "uniform": "uniform draw u_i",
        "weight": "p(i|x) weight",
    }
    paper = Paper(
        "PonderNet: Learning to Ponder", "Banino et al.", "ICML 2021 workshop", "https://arxiv.org/abs/2107.05407"
    )
    panels = (
        PanelSpec(
            "Halting distribution",
            bars=("halt_prob", "prior"),
            lines=("cdf", "lambda"),
            caption="$p(i \\mid x) = \\lambda_i \\prod_{j<i} (1 - \\lambda_j)$ (bars), its CDF and $\\lambda_i$, "
            "with the geometric prior the KL term pulls toward (grey). The Q-exit rule stops where the CDF rises "
            "above $q$ (a dotted line when that rule is chosen)",
            y_range=(0.0, 1.05),
            y_title="probability",
            hides=("log_halt_prob",),
        ),
    )
    lesson = Lesson(
        summary="A λ head shared by all layers says, at every layer, how likely the model is to halt there; the "
        "exit layer is drawn at random from these probabilities.",
        blocks=(
            "Heads: one classifier and one λ head, both shared by all layers. The λ head reads layer $i$'s pooled "
            "hidden state $h_i$: $\\lambda_i = \\sigma(\\mathrm{Linear}(h_i))$ is the probability of halting at "
            "layer $i$ once it is reached. Together they give the *halting distribution*:",
            r"$$p(i \mid x) = \lambda_i \prod_{j<i} (1 - \lambda_j), \qquad \text{the last layer takes the rest}$$",
            "Training: the expected loss under the halting distribution, plus a KL term that pulls it toward a "
            "geometric prior $p_G$ (truncated to $L$ layers: its last entry takes the remaining mass):",
            r"$$\mathcal{L} = \sum_i p(i \mid x)\,\mathrm{CE}_i + \beta\,"
            r"\mathrm{KL}\big(p(\cdot \mid x)\,\|\,p_G(\cdot \mid \lambda_p)\big), \qquad "
            r"p_G(k) = \lambda_p (1-\lambda_p)^{k-1}$$",
            "Exit: at layer $i$, halt when a Bernoulli($\\lambda_i$) draw fires. The exit layer is random: over "
            "many draws it follows $p(i \\mid x)$.",
            "**Q-exit**, PALBERT's deterministic rule, works on any model with a λ head and is a rule of this "
            "method too: it stops at the first layer whose CDF of $p(i \\mid x)$ exceeds a quantile $q$, with no "
            "draw, so the same sentence always exits at the same layer:",
            r"$$\text{Q-exit: first } i \text{ with } \sum_{j \le i} p(j \mid x) > q$$",
        ),
    )

    @classmethod
    def figure_inputs(cls, args, trace, decision, gold=None) -> FigureInputs:
        """The geometric prior next to p(i|x), and the expected depth Σ i·p(i|x) in the figure's title."""
        inputs = FigureInputs(series={"prior": geometric_prior(trace.num_layers, args.prior_lambda).numpy()})
        halt = trace.signals.get("halt_prob")
        if halt is not None:
            depth = float(expected_depth(torch.as_tensor(np.asarray(halt, dtype=np.float64))))
            inputs.titles["Halting distribution"] = f"Halting distribution · expected depth Σ i·p(i|x) = {depth:.2f}"
        return inputs

    @classmethod
    def toy_knobs(cls, num_layers: int) -> tuple[Knob, ...]:
        spec = cls.rules[cls.default_rule].spec
        if spec.stochastic:
            # seed 3: a typical draw on the default toy (it exits at layer 3, the most common exit, with the
            # expected depth 2.85); seed 0 exited at layer 8, which 2.5% of draws do, and wrongly
            threshold = Knob(spec.param, spec.label, 3, 0, 99, 1, help="the seed picks the Bernoulli draws")
        else:
            threshold = Knob(spec.param, spec.label, spec.default, spec.minimum, spec.maximum, spec.step)
        return (
            Knob(
                "bias",
                "λ head bias (toy)",
                0.0,
                -3.0,
                3.0,
                0.1,
                help="in this toy, $\\lambda_i = \\sigma(6\\,(\\mathrm{confidence}_i - 0.8) + \\mathrm{bias})$",
            ),
            threshold,
            Knob("lp", "prior $\\lambda_p$", 0.1, 0.05, 0.9, 0.01),
            Knob("beta", "KL weight β", 0.5, 0.0, 2.0, 0.05),
        )

    @classmethod
    def toy(cls, p_positive, knobs) -> Toy:
        """λ_i from the toy's confidence, the halting distribution it induces, and the loss's two terms."""
        p = np.clip(np.asarray(p_positive, dtype=np.float64), 1e-4, 1 - 1e-4)
        confidence = np.maximum(p, 1 - p)
        lambdas = 1.0 / (1.0 + np.exp(-(6 * (confidence - 0.8) + float(knobs["bias"]))))
        halt = halting_distribution(torch.tensor(lambdas)).numpy()
        cdf = np.cumsum(halt)
        cdf[-1] = 1.0
        prior = geometric_prior(len(p), float(knobs["lp"])).double()
        kl = float(truncated_kl(torch.tensor(halt)[:, None], prior)[0])
        beta = float(knobs["beta"])
        spec = cls.rules[cls.default_rule].spec
        return Toy(
            rule=cls.default_rule,
            params={spec.param: knobs[spec.param]},
            signals={"lambda": lambdas, "halt_prob": halt, "cdf": cdf, "log_halt_prob": np.log(halt)},
            args=cls.Args(prior_lambda=float(knobs["lp"]), beta=beta),
            metrics={
                "$\\sum_i p(i \\mid x)\\,\\mathrm{CE}_i$": f"{float((halt * -np.log(p)).sum()):.3f}",
                "β·KL": f"{beta * kl:.3f}",
                "Expected depth": f"{float(expected_depth(torch.tensor(halt))):.2f}",
            },
        )

    def __init__(self, args: PonderArgs, hidden_size, num_layers, num_labels, dropout=0.1):
        super().__init__(args, hidden_size, num_layers, num_labels, dropout)
        if args.kl_direction not in KL_DIRECTIONS:
            raise ValueError(f"kl_direction must be one of {KL_DIRECTIONS}, got {args.kl_direction!r}")
        if not 0.0 < args.prior_lambda < 1.0:
            raise ValueError(f"prior_lambda must be in (0, 1), got {args.prior_lambda}")
        self.classifier = nn.Linear(hidden_size, num_labels)
        in_features = hidden_size * (2 if args.concat_prev else 1)
        self.lambda_head = lambda_head(in_features, int(args.lambda_layers))
        # zero at the start: the head begins as without it and learns what each position adds
        self.layer_position = nn.Parameter(torch.zeros(num_layers, in_features)) if args.layer_embedding else None

    def init_state(self, batch_size: int, device: torch.device) -> State:
        # log ∏_{j<i}(1-λ_j): the log-probability that layer i is reached
        return {"log_not_halted": torch.zeros(batch_size, device=device)}

    def lambda_logit(self, pooled: torch.Tensor, state: State, i: int) -> torch.Tensor:
        features = pooled
        if self.args.concat_prev:
            prev = state.get("prev_pooled")
            prev = torch.zeros_like(pooled) if prev is None else prev  # p_0 = 0
            features = torch.cat([pooled, prev], dim=-1)
            state["prev_pooled"] = pooled
        if self.layer_position is not None:
            features = features + self.layer_position[i - 1].to(features.dtype)
        return self.lambda_head(self.dropout(features)).squeeze(-1).float()

    def layer_signals(self, i: int, summary, pooled, state: State) -> Signals:
        logits = self.classifier(self.dropout(pooled))
        z = self.lambda_logit(pooled, state, i)
        log_reached = state["log_not_halted"]
        log_not_halted = log_reached + F.logsigmoid(-z)
        if i < self.num_layers:
            log_halt = log_reached + F.logsigmoid(z)
            cdf = -torch.expm1(log_not_halted)  # 1 - ∏_{j<=i}(1-λ_j)
        else:  # the last layer takes the remaining mass
            log_halt = log_reached
            cdf = torch.ones_like(z)
        state["log_not_halted"] = log_not_halted
        return {
            "logits": logits,
            "lambda": torch.sigmoid(z),
            "halt_prob": log_halt.exp(),
            "cdf": cdf,
            "log_halt_prob": log_halt,
        }

    def prior(self, device: torch.device | None = None) -> torch.Tensor:
        """The geometric prior over this model's L layers (on ``device``, default CPU), built once per device:
        the loss reads it every step, and a fresh CPU tensor would cost a host-to-device copy each time."""
        device = torch.device("cpu") if device is None else torch.device(device)
        cache = self.__dict__.setdefault("_priors", {})  # plain attribute: not a buffer, not in checkpoints
        if device not in cache:
            cache[device] = geometric_prior(self.num_layers, self.args.prior_lambda, device)
        return cache[device]

    def loss(self, sig: Signals, labels, phase="main", batch=None):
        per_layer = torch.stack([self.classification_loss(lg, labels) for lg in sig["logits"]])  # (L, B)
        halt = sig["halt_prob"]
        task = (halt * per_layer).sum(0).mean()
        kl = truncated_kl(
            halt,
            self.prior(halt.device),
            self.args.kl_mass,
            self.args.kl_direction,
            log_halt_probs=sig["log_halt_prob"],
        ).mean()
        loss = task + self.args.beta * kl
        # parts stay detached tensors on the device: reading them here would sync the host every step
        parts = {
            "loss": loss.detach(),
            "task": task.detach(),
            "kl": kl.detach(),
            "expected_depth": expected_depth(halt.detach()).mean(),
        }
        parts.update({f"ce_{i + 1}": v for i, v in enumerate(per_layer.detach().mean(1))})
        return loss, parts

    def lr_overrides(self) -> dict[str, float]:
        if self.args.lambda_lr is None:
            return {}
        # the layer-position embedding is part of the λ head's input (PALBERT): it learns at the head's rate
        return {"method.lambda_head.": float(self.args.lambda_lr), "method.layer_position": float(self.args.lambda_lr)}


METHOD = PonderNetMethod
