"""ConsistentEE: consistent, hardness-guided early exit by reinforcement learning (Zeng et al., 2024).

Heads: one Linear(H, C) classifier per layer on the shared pooled [CLS] (as PABEE), and one policy network per
layer, Linear(H, 32) → GELU → Linear(32, 1) → σ, giving π_i = P(exit at layer i | continued so far).

Hardness: the *memorized layer* m of a training example is the smallest l such that classifiers l..L are all
correct (m = L when layer L is wrong); hardness = m / L.

Reward for exiting at layer e: r = log p_e(y|x) − α·e·(1 − m/L) (hardness-guided: easy examples pay more for
depth, the hardest pay nothing) or r = log p_e(y|x) − α·e (vanilla).

Policy objective (REINFORCE): K trajectories per example ("sampling": exit at layer j with probability π_j;
"epsilon_greedy": the greedy action π_j > 0.5, replaced by a coin flip with probability ε), baseline = the mean
reward over the K, loss = −mean((r − b)·log P) with log P = Σ_{j<e} log(1 − π_j) + log π_e. The last layer
always exits (the engine forces it), so a trajectory ending at L has no log π_L term: the policy at L never
chooses anything, and its network receives no gradient.

Schedule (``phases``): "warmup" trains backbone + classifiers with PABEE's weighted CE; then, ``rounds`` times,
"policy" (memorized layers are recomputed first; only the policies train) and "classifiers" (backbone +
classifiers, CE only at the layer where the frozen policy exits *greedily*, i.e. where inference with the default
threshold exits, so each classifier trains on exactly the examples it will serve: the paper's consistency).

Exit: the first layer with π_i > threshold (0.5 default), else L.
The paper's Eq. 3-7 are missing from its text; the forms above follow eeviz's METHODS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .base import (
    ExitMethod, ExitRule, MethodArgs, Phase, PresetSettings, RuleSpec, Signals, State, TrainDefaults,
)
from .base import FigureInputs, Knob, LayerMarker, Lesson, PanelSpec, Paper, Toy
from .pabee import layer_weighted_loss

POLICY_WIDTH = 32
# π is clamped to [EPS, 1 - EPS] before taking logs so a saturated policy gives a finite log-probability
EPS = 1e-6
SAMPLING_MODES = ("sampling", "epsilon_greedy")


@dataclass
class ConsistentEEArgs(MethodArgs):
    alpha: float = 0.05  # depth cost per layer in the reward (METHODS.md: 0.01..0.1)
    hardness_guided: bool = True  # False: the vanilla reward log p_e − α·e
    num_trajectories: int = 4  # K trajectories per example
    mode: str = "sampling"  # how trajectories are drawn: "sampling" or "epsilon_greedy"
    epsilon: float = 0.1  # exploration rate of "epsilon_greedy"
    rounds: int = 2  # repetitions of (memorized layers, policy, classifiers) after the warm-up
    policy_epochs: int = 1  # epochs of each "policy" phase
    classifier_epochs: int = 1  # epochs of each "classifiers" phase
    policy_lr: float = 1e-3  # fresh 32-unit heads learn far too slowly at a backbone's fine-tuning rate


# --------------------------------------------------------------------------------------------- pure parts
def gold_log_likelihood(logits_per_layer, label) -> torch.Tensor:
    """log p_i(y|x) of the gold label at every layer.

    Args:
        logits_per_layer: (L, C) for one example or (L, B, C) for a batch (tensor or array).
        label: the gold class index, or (B,) indices for a batch.

    Returns:
        (L,) or (L, B) float tensor of log-probabilities.
    """
    logits = torch.as_tensor(logits_per_layer).float()
    labels = torch.as_tensor(label, device=logits.device).long().expand(logits.shape[:-1])
    return F.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def memorized_layers(correct: torch.Tensor) -> torch.Tensor:
    """Memorized layer per example: the smallest 1-based l with layers l..L all correct; L if layer L is wrong.

    Args:
        correct: (N, L) bool, whether each layer's classifier predicts the example's label.

    Returns:
        (N,) long in 1..L.
    """
    num_layers = correct.shape[-1]
    # suffix_ok[:, l] = all(correct[:, l:]); it is False up to some layer and True after it
    suffix_ok = correct.long().flip(-1).cumprod(-1).flip(-1)
    return (num_layers + 1 - suffix_ok.sum(-1)).clamp(max=num_layers)


def depth_penalty(num_layers: int, memorized: torch.Tensor, alpha: float, hardness_guided: bool = True) -> torch.Tensor:
    """The depth part of the reward for exiting at each layer e: α·e·(1 − m/L), or α·e when not hardness-guided.

    Args:
        num_layers: L.
        memorized: (...) memorized layers m in 1..L.
        alpha: depth cost per layer.
        hardness_guided: scale the cost by 1 − m/L (easy examples, small m, pay the most).

    Returns:
        (..., L) float tensor; entry e-1 is the penalty for exiting at layer e.
    """
    memorized = torch.as_tensor(memorized)
    depth = torch.arange(1, num_layers + 1, device=memorized.device, dtype=torch.float32)
    if hardness_guided:
        weight = 1.0 - memorized.float() / num_layers
    else:
        weight = torch.ones_like(memorized, dtype=torch.float32)
    return alpha * depth * weight.unsqueeze(-1)


def exit_rewards(
    gold_ll: torch.Tensor, memorized: torch.Tensor, alpha: float, hardness_guided: bool = True
) -> torch.Tensor:
    """Reward for exiting at each layer: log p_e(y|x) − depth_penalty. ``gold_ll`` is (..., L)."""
    return gold_ll - depth_penalty(gold_ll.shape[-1], memorized, alpha, hardness_guided)


def first_exit(exit_action: torch.Tensor) -> torch.Tensor:
    """1-based first layer whose action is "exit" (bool (..., L)); the last layer always exits."""
    forced = exit_action.clone()
    forced[..., -1] = True
    return forced.long().argmax(-1) + 1  # argmax returns the first of tied maxima


def sample_exits(pi: torch.Tensor, num_samples: int, mode: str = "sampling", epsilon: float = 0.1) -> torch.Tensor:
    """Draw ``num_samples`` exit layers per row from the exit probabilities ``pi`` (B, L).

    "sampling" exits at layer j with probability π_j; "epsilon_greedy" takes the greedy action π_j > 0.5 except,
    with probability ε, a fair coin flip. Uses torch's global random generator. Returns (K, B) long in 1..L.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown trajectory mode '{mode}' (known: {', '.join(SAMPLING_MODES)})")
    pi = pi.detach().unsqueeze(0).expand(num_samples, *pi.shape)
    if mode == "sampling":
        exit_action = torch.rand_like(pi) < pi
    else:
        explore = torch.rand_like(pi) < epsilon
        exit_action = torch.where(explore, torch.rand_like(pi) < 0.5, pi > 0.5)
    return first_exit(exit_action)


def trajectory_log_prob(pi: torch.Tensor, exits: torch.Tensor) -> torch.Tensor:
    """log P of continuing through layers j < e and exiting at e: Σ_{j<e} log(1 − π_j) + log π_e.

    The last layer's exit is forced, not chosen, so a trajectory ending at L has no log π_L term.

    Args:
        pi: (..., L) exit probabilities.
        exits: (...) 1-based exit layers.

    Returns:
        (...) log-probabilities, differentiable in ``pi``.
    """
    return trajectory_log_prob_from_logits(torch.logit(pi.float().clamp(EPS, 1.0 - EPS)), exits)


def trajectory_log_prob_from_logits(z: torch.Tensor, exits: torch.Tensor) -> torch.Tensor:
    """``trajectory_log_prob`` from the policies' logits z (π = σ(z)), in float32 and log space.

    log π = logsigmoid(z) and log(1 − π) = logsigmoid(−z): exact for any logit. Going through π instead
    rounds π to 1.0 for logits above ~6 under bf16 autocast, and the gradient there is exactly zero.
    """
    z = z.float()
    num_layers = z.shape[-1]
    layers = torch.arange(1, num_layers + 1, device=z.device)
    exits = exits.unsqueeze(-1)
    continued = layers < exits
    chose_exit = (layers == exits) & (layers < num_layers)
    zero = torch.zeros_like(z)
    return (torch.where(continued, F.logsigmoid(-z), zero).sum(-1)
            + torch.where(chose_exit, F.logsigmoid(z), zero).sum(-1))


@dataclass
class RewardParts:
    """One example's reward, layer by layer (index 0 = layer 1), for the app."""

    gold_log_likelihood: np.ndarray  # (L,) log p_i(y|x)
    correct: np.ndarray  # (L,) bool, layer i predicts y
    memorized_layer: int  # 1..L, from this example's own per-layer correctness
    hardness: float  # m / L
    depth_penalty: np.ndarray  # (L,) α·e·(1 − m/L) or α·e
    reward: np.ndarray  # (L,) reward for exiting at each layer


def reward_parts(trace_logits, label: int, alpha: float = 0.05, hardness_guided: bool = True) -> RewardParts:
    """Reward parts of one example from its per-layer logits (L, C), e.g. a ``Trace.logits``, and gold label."""
    logits = torch.as_tensor(np.asarray(trace_logits, dtype=np.float32))
    gold = gold_log_likelihood(logits, label)
    correct = logits.argmax(-1) == int(label)
    memorized = memorized_layers(correct.unsqueeze(0))[0]
    penalty = depth_penalty(logits.shape[0], memorized, alpha, hardness_guided)
    return RewardParts(
        gold_log_likelihood=gold.numpy(),
        correct=correct.numpy(),
        memorized_layer=int(memorized),
        hardness=float(memorized) / logits.shape[0],
        depth_penalty=penalty.numpy(),
        reward=(gold - penalty).numpy(),
    )


# --------------------------------------------------------------------------------------------- exit rule
class PolicyRule(ExitRule):
    spec = RuleSpec(
        name="policy",
        param="threshold",
        default=0.5,
        sweep=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
        label="exit probability threshold",
        description="exit at the first layer whose policy gives exit probability $\\pi_i$ above the threshold",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        title="policy",
        series="policy",
        side="above",
        series_range=(0.0, 1.05),
        symbol="threshold",
    )

    def step(self, state: State, i: int, sig: Signals):
        pi = sig["policy"].float()
        return pi > float(self.threshold), {"policy": pi}


# --------------------------------------------------------------------------------------------- method
def _is_policy(name: str) -> bool:
    return name.startswith("method.policies.")


def _not_policy(name: str) -> bool:
    return not _is_policy(name)


class ConsistentEEMethod(ExitMethod):
    name = "consistentee"
    listing_order = 5
    title = "ConsistentEE (RL policy)"
    Args = ConsistentEEArgs
    rules = {"policy": PolicyRule}
    default_rule = "policy"
    train_defaults = TrainDefaults(
        lr=2e-5, batch_size=32, epochs=3, warmup_ratio=0.1, weight_decay=0.01,
        source="ConsistentEE: BERT-base fine-tuning defaults (the paper gives none); epochs per training phase",
    )
    # demo: on cached features, 10 epochs per policy phase (REINFORCE needs many samples) and one epoch per
    # classifier phase (longer ones trained the last classifier on hard examples only: its dev accuracy fell
    # from 83.6 to 80.7)
    preset_settings = {"demo": PresetSettings(method_args=dict(rounds=2, policy_epochs=10, classifier_epochs=1))}
    signal_docs = {
        "policy": "$\\pi_i$: the policy's probability of exiting at layer $i$",
        "policy_logit": "$z_i$, with $\\pi_i = \\sigma(z_i)$: the loss takes $\\log \\pi_i$ and $\\log(1 - \\pi_i)$ from it",
    }
    internal_signals = ("policy_logit",)
    signal_names = {
        "policy": "exit probability π_i",
        "policy_logit": "policy logit z_i",
        "reward": "reward r(e)",
        "gold_log_likelihood": "log p_e(y|x)",
        "neg_depth_penalty": "− depth penalty",
    }
    paper = Paper(
        "ConsistentEE: A Consistent and Hardness-Guided Early Exiting Method for Accelerating Language Models "
        "Inference",
        "Zeng et al.",
        "AAAI 2024",
        "https://arxiv.org/abs/2312.11882",
    )
    figures_need_gold = True  # the reward is for predicting the gold label
    panels = (
        PanelSpec(
            "Reward",
            bars=("reward",),
            lines=("gold_log_likelihood", "neg_depth_penalty"),
            caption="what training rewards for exiting at each layer $e$, for the chosen gold label: "
            "$r(e) = \\log p_e(y \\mid x) - \\text{depth penalty}(e)$",
            y_title="reward",
        ),
    )
    lesson = Lesson(
        summary="A small policy network per layer learns, by reinforcement learning, when to exit; easy examples are "
        "pushed to exit early.",
        blocks=(
            "The *memorized layer* $m$ is the first layer from which every classifier is right ($L$ if the last is "
            "wrong). Exiting at layer $e$ earns",
            r"$$r(e) = \log p_e(y \mid x) - \alpha\, e \left(1 - \frac{m}{L}\right)$$",
            "and the policies follow REINFORCE over $K$ sampled exits with the mean reward $b$ as baseline:",
            r"$$\mathcal{L} = -\big(r - b\big) \log P(e), \qquad \log P(e) = \sum_{j<e} \log(1 - \pi_j) + \log \pi_e$$",
            "At inference: exit at the first layer with $\\pi_i > 0.5$.",
        ),
    )

    @classmethod
    def figure_inputs(cls, args, trace, decision, gold=None) -> FigureInputs:
        """The reward for exiting at each layer and its two parts, and the memorized layer (needs the gold label)."""
        if gold is None or trace.is_regression:
            return FigureInputs()
        guided = bool(args.hardness_guided)
        parts = reward_parts(trace.logits, int(gold), alpha=float(args.alpha), hardness_guided=guided)
        best = int(np.argmax(parts.reward)) + 1
        m, num_layers = parts.memorized_layer, trace.num_layers
        hardest = guided and m == num_layers
        return FigureInputs(
            series={
                "reward": parts.reward,
                "gold_log_likelihood": parts.gold_log_likelihood,
                "neg_depth_penalty": -parts.depth_penalty,
            },
            markers=[LayerMarker("Reward", m, f"memorized layer m = {m}", name="memorized")],
            highlight={"reward": [best]},
            titles={"Reward": f"Reward for exiting at each layer (best: layer {best})"},
            notes=[
                f"Memorized layer $m = {m}$, hardness $m/L = {parts.hardness:.2f}$"
                + (": the hardest examples pay nothing for depth." if hardest else ".")
            ],
        )

    @classmethod
    def toy_knobs(cls, num_layers: int) -> tuple[Knob, ...]:
        return (
            Knob("pi", "exit probability threshold", 0.5, 0.0, 1.0, 0.01),
            Knob(
                "pibias",
                "policy bias (toy)",
                0.0,
                -3.0,
                3.0,
                0.1,
                help="in this toy, π_i = σ(8·(confidence_i − 0.85) + bias)",
            ),
            Knob("alpha", "depth cost α", 0.05, 0.0, 0.3, 0.01),
            Knob("guided", "hardness-guided", True),
        )

    @classmethod
    def toy(cls, p_positive, knobs) -> Toy:
        """π_i from the toy's confidence; the reward comes from ``figure_inputs`` with the toy's α."""
        p = np.clip(np.asarray(p_positive, dtype=np.float64), 1e-4, 1 - 1e-4)
        confidence = np.maximum(p, 1 - p)
        pi = 1.0 / (1.0 + np.exp(-(8 * (confidence - 0.85) + float(knobs["pibias"]))))
        return Toy(
            rule="policy",
            params={"threshold": knobs["pi"]},
            signals={"policy": pi},
            args=cls.Args(alpha=float(knobs["alpha"]), hardness_guided=bool(knobs["guided"])),
        )

    def __init__(self, args, hidden_size, num_layers, num_labels, dropout=0.1):
        super().__init__(args, hidden_size, num_layers, num_labels, dropout)
        if args.mode not in SAMPLING_MODES:
            raise ValueError(f"consistentee mode must be one of {SAMPLING_MODES}, got '{args.mode}'")
        self.classifiers = nn.ModuleList(nn.Linear(hidden_size, num_labels) for _ in range(num_layers))
        self.policies = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_size, POLICY_WIDTH), nn.GELU(), nn.Linear(POLICY_WIDTH, 1))
            for _ in range(num_layers)
        )
        # memorized layer per training example, indexed by the batch's ``index``; 0 = not computed. Training
        # state of one dataset, so a plain attribute rather than a buffer: checkpoints do not carry it.
        self.memorized: torch.Tensor | None = None

    def layer_signals(self, i: int, summary, pooled, state: State) -> Signals:
        # the policy reads the pooled state without dropout: π is the distribution REINFORCE samples from, and
        # dropout would add randomness its log-probabilities do not account for
        # the logit in float32: the loss takes log π and log(1 − π) from it (see trajectory_log_prob_from_logits)
        z = self.policies[i - 1](pooled).squeeze(-1).float()
        return {"logits": self.classifiers[i - 1](self.dropout(pooled)), "policy": torch.sigmoid(z), "policy_logit": z}

    def phases(self) -> list[Phase]:
        schedule = [Phase("warmup", trainable=_not_policy)]
        for _ in range(self.args.rounds):
            schedule.append(
                Phase(
                    "policy",
                    trainable=_is_policy,
                    prepare=self.compute_memorized,
                    epochs=self.args.policy_epochs,
                    lr=self.args.policy_lr,
                    selects_by="rule",  # the full model is frozen here: only the exits can improve
                )
            )
            schedule.append(Phase("classifiers", trainable=_not_policy, epochs=self.args.classifier_epochs))
        return schedule

    @torch.no_grad()
    def compute_memorized(self, model, loader) -> None:
        """Store every training example's memorized layer (eval mode, no dropout), keyed by ``batch["index"]``."""
        was_training = model.training
        model.eval()
        indices, layers = [], []
        for batch in loader:
            batch = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            sig, _ = model.forward_all(batch)
            correct = (sig["logits"].argmax(-1) == batch["labels"]).transpose(0, 1)
            indices.append(batch["index"].cpu())
            layers.append(memorized_layers(correct).cpu())
        model.train(was_training)
        if not indices:
            raise ValueError("cannot compute memorized layers: the training loader is empty")
        index = torch.cat(indices).long()
        table = torch.zeros(int(index.max()) + 1, dtype=torch.long)
        table[index] = torch.cat(layers)
        self.memorized = table.to(model.device)  # on the device: the loss looks batches up without a sync

    def _batch_memorized(self, logits: torch.Tensor, labels: torch.Tensor, batch: dict | None) -> torch.Tensor:
        """Memorized layers (B,) of the batch: stored by ``compute_memorized``, else from this very forward pass.

        The fallback (no prepare run, no ``index`` in the batch, or an index not seen by prepare) uses the batch's
        own per-layer correctness, which in train mode includes dropout noise; prepare's eval-mode values are the
        intended ones.
        """
        own = memorized_layers((logits.detach().argmax(-1) == labels).transpose(0, 1))
        if self.memorized is None or batch is None or "index" not in batch:
            return own
        if self.memorized.device != own.device:
            self.memorized = self.memorized.to(own.device)
        # looked up on the device, without boolean indexing (that would sync): unknown indices read 0
        index = batch["index"].long().to(own.device)
        known = index < self.memorized.numel()
        stored = torch.where(known, self.memorized[index.clamp(max=self.memorized.numel() - 1)], 0)
        return torch.where(stored > 0, stored, own)

    def loss(self, sig: Signals, labels, phase="main", batch=None):
        logits = sig["logits"]  # (L, B, C)
        if phase in ("warmup", "main"):  # a single-phase run is the warm-up: all classifiers, weighted CE
            per_layer = torch.stack([self.classification_loss(lg, labels).mean() for lg in logits])
            loss = layer_weighted_loss(per_layer)
            # parts stay detached tensors on the device: reading them here would sync the host every step
            return loss, {"loss": loss.detach(), **{f"ce_{i + 1}": v for i, v in enumerate(per_layer.detach())}}
        if phase == "policy":
            return self._policy_loss(sig, labels, batch)
        if phase == "classifiers":
            return self._exit_layer_loss(sig, labels)
        raise ValueError(f"consistentee has no training phase '{phase}'")

    def _policy_loss(self, sig: Signals, labels, batch):
        logits = sig["logits"].detach()  # rewards are sampled returns, never differentiated
        pi = sig["policy"].transpose(0, 1).float()  # (B, L)
        # the logit when the signals carry it (the model's do), else recovered from π
        z = sig["policy_logit"] if "policy_logit" in sig else torch.logit(sig["policy"].float().clamp(EPS, 1 - EPS))
        z = z.transpose(0, 1).float()
        memorized = self._batch_memorized(logits, labels, batch)
        rewards_per_exit = exit_rewards(
            gold_log_likelihood(logits, labels).transpose(0, 1), memorized, self.args.alpha, self.args.hardness_guided
        )  # (B, L)
        k = self.args.num_trajectories
        exits = sample_exits(pi, k, self.args.mode, self.args.epsilon)  # (K, B)
        rewards = rewards_per_exit.unsqueeze(0).expand(k, -1, -1).gather(-1, (exits - 1).unsqueeze(-1)).squeeze(-1)
        advantage = rewards - rewards.mean(0, keepdim=True)
        log_prob = trajectory_log_prob_from_logits(z.unsqueeze(0).expand(k, -1, -1), exits)  # (K, B)
        loss = -(advantage * log_prob).mean()
        return loss, {
            "loss": loss.detach(),
            "reward": rewards.mean(),
            "exit_layer": exits.float().mean(),
            "memorized_layer": memorized.float().mean(),
        }

    def _exit_layer_loss(self, sig: Signals, labels):
        logits = sig["logits"]  # (L, B, C)
        exits = first_exit(sig["policy"].detach().transpose(0, 1) > PolicyRule.spec.default)  # (B,)
        index = (exits - 1).view(1, -1, 1).expand(1, -1, logits.shape[-1])
        at_exit = logits.gather(0, index).squeeze(0)  # (B, C)
        loss = self.classification_loss(at_exit, labels).mean()
        return loss, {"loss": loss.detach(), "exit_layer": exits.float().mean()}


METHOD = ConsistentEEMethod
