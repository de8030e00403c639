"""The shipped checkpoints' exits really depend on the input (from each checkpoint's test-split eval.json).

Targets: every full model >= 80% test accuracy; every method has a sweep point within 0.5 point of its own
full model with >= 35% of layers saved; every method with learned exit machinery, at its default rule and
threshold (chosen on dev), beats cutting the network at the same mean depth by >= 1 point (adaptive gain)
and sends no more than 60% of test sentences to one exit layer.
"""

import pytest

from eeviz.catalog import DEFAULT_ROOT, find_checkpoints
from eeviz.checkpoint import CheckpointLayout
from eeviz.eval_result import EvalResult
from eeviz.methods import get_method
from eeviz.tools.report import layers_saved_near_full

pytestmark = pytest.mark.slow


def shipped():
    infos, _ = find_checkpoints(DEFAULT_ROOT)
    return [i for i in infos if CheckpointLayout(i.path).eval.is_file()]


# Targets the shipped checkpoints still miss (measured, see checkpoints/README.md): strict, so a retrained
# checkpoint that meets one fails here until it is taken off this list.
SHORTFALLS: dict[tuple[str, str], str] = {}  # (method, target) -> why; none now


def check(info, target: str, ok: bool, message: str) -> None:
    known = SHORTFALLS.get((info.name, target))
    if known is not None:
        assert not ok, f"{info.name} now meets '{target}': remove it from SHORTFALLS"
        pytest.xfail(known)
    assert ok, message


@pytest.mark.parametrize("info", shipped(), ids=lambda i: i.name)
def test_shipped_full_models_and_defaults(info):
    result = EvalResult.load(CheckpointLayout(info.path).eval)
    assert result.split == "test" and result.full_model.score >= 0.80
    rule = result.rules[info.cfg.default_rule or get_method(info.cfg.method).default_rule]
    point = rule.default_point
    assert point is not None and point.threshold == rule.default
    assert rule.default == info.cfg.rule_defaults.get(rule_name(info), rule.default)


@pytest.mark.parametrize("info", shipped(), ids=lambda i: i.name)
def test_a_sweep_point_near_the_full_model_saves_35_percent(info):
    saved = layers_saved_near_full(EvalResult.load(CheckpointLayout(info.path).eval))
    check(info, "near_full", saved >= 0.35, f"{info.name}: {saved:.0%} of layers saved within 0.5 point")


@pytest.mark.parametrize("info", [i for i in shipped() if get_method(i.cfg.method).exit_is_learned],
                         ids=lambda i: i.name)
def test_learned_exits_beat_a_static_cut_and_spread_out(info):
    result = EvalResult.load(CheckpointLayout(info.path).eval)
    point = result.rules[rule_name(info)].default_point
    assert point.top_exit_share <= 0.60, f"{info.name}: {point.top_exit_share:.0%} at one exit layer"
    check(info, "adaptive", point.adaptive_gain >= 1.0, f"{info.name}: adaptive gain {point.adaptive_gain:+.2f}")


def rule_name(info) -> str:
    return info.cfg.default_rule or get_method(info.cfg.method).default_rule
