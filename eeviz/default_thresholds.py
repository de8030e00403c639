"""Each rule's default threshold, chosen on a dev-split sweep (``eeviz evaluate --split dev --choose-defaults``,
``eeviz train --preset``), and a checkpoint's default rule when its method's own draws random numbers.

``eeviz.checkpoint.set_rule_defaults`` stores what is chosen in the checkpoint's config.json.
"""

from __future__ import annotations

from .eval_result import EvalResult, RuleSweep

# Choosing a checkpoint's default thresholds on the dev split: the point whose exits depend most on the input
# (largest adaptive gain), among those where no exit layer holds more than MAX_TOP_SHARE of the examples and
# the score is at most MAX_SCORE_DROP below the full model's. Both bounds keep margin for the test split.
MAX_TOP_SHARE = 0.55
MAX_SCORE_DROP = 0.03


def choose_default(sweep: RuleSweep, full_score: float) -> float | None:
    """The threshold to make a rule's default (from a dev-split sweep), or None to keep the paper's."""
    if not sweep.early_exit or sweep.stochastic:
        return None
    fits = [p for p in sweep.points if p.top_exit_share <= MAX_TOP_SHARE and p.score >= full_score - MAX_SCORE_DROP
            and p.mean_exit_layer < len(p.histogram)]
    if not fits:
        return None
    return max(fits, key=lambda p: (round(p.adaptive_gain, 6), p.score)).threshold


def choose_defaults(result: EvalResult) -> dict[str, float]:
    """Every rule's chosen default from ``result`` (which must not be a test-split sweep)."""
    if result.split == "test":
        raise ValueError("defaults are chosen on the dev split, never on test (use --split dev)")
    chosen = {name: choose_default(sweep, result.full_model.score) for name, sweep in result.rules.items()}
    return {k: v for k, v in chosen.items() if v is not None}


def choose_default_rule(result: EvalResult, method_default: str, chosen: dict[str, float]) -> str | None:
    """A checkpoint's default rule when the method's own draws random numbers (its seed is no threshold to
    choose): the rule with a chosen default whose dev point is the most adaptive. None keeps the method's."""
    if not result.rules[method_default].stochastic or not chosen:
        return None

    def gain(name: str) -> float:
        return next(p.adaptive_gain for p in result.rules[name].points if p.threshold == chosen[name])

    return max(chosen, key=gain)
