"""Every threshold a user meets is a position of its slider, and the slider shows it exactly.

A slider moves by ``RuleSpec.step`` from ``minimum``: a sweep value or a checkpoint's dev-chosen default off that
grid is shown rounded (BERxiT's 0.075 read "0.07" with a 0.01 step) and one step away and back lands elsewhere.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from eeviz.methods import available_methods, get_method
from eeviz.methods.base import step_format
from eeviz.methods.berxit import BerxitMethod, LteRule
from eeviz.trace import Trace, replay

ROOT = Path(__file__).resolve().parents[1]
RULES = [(m, name, rule) for m in available_methods() for name, rule in get_method(m).rules.items()]


def on_grid(value: float, start: float, step: float) -> bool:
    k = (value - start) / step
    return abs(k - round(k)) < 1e-6


def shown(value: float, fmt: str) -> float:
    return float(fmt % value)


@pytest.mark.parametrize("method,name,rule", RULES, ids=[f"{m}-{n}" for m, n, _ in RULES])
def test_sweep_and_default_are_slider_positions_shown_exactly(method, name, rule):
    spec = rule.spec
    if spec.minimum == spec.maximum:
        return  # a reference rule without a threshold: no slider
    for value in (*spec.sweep, spec.default):
        assert on_grid(value, spec.minimum, spec.step), (value, spec.step)
        assert shown(value, spec.number_format) == pytest.approx(value), (value, spec.number_format)


def shipped_defaults():
    out = []
    for config in sorted((ROOT / "checkpoints").glob("*/config.json")):
        model = json.loads(config.read_text())["model"]
        out += [(config.parent.name, model["method"], rule, value) for rule, value in model["rule_defaults"].items()]
    return out


@pytest.mark.parametrize("ckpt,method,rule,value", shipped_defaults())
def test_shipped_checkpoint_defaults_are_slider_positions(ckpt, method, rule, value):
    spec = get_method(method).rules[rule].spec
    assert on_grid(value, spec.minimum, spec.step), (ckpt, rule, value, spec.step)
    assert shown(value, spec.number_format) == pytest.approx(value)


def test_berxit_shipped_default_was_off_the_old_grid():
    """The case that broke: 0.075 with a 0.01 step shows as 0.07; the rule's step now holds it."""
    assert shown(0.075, step_format(0.01)) != pytest.approx(0.075)
    assert on_grid(0.075, 0.0, LteRule.spec.step) and LteRule.spec.number_format == "%0.3f"


def test_step_format_counts_the_steps_decimals():
    assert [step_format(s) for s in (1.0, 0.1, 0.01, 0.005, 0.025)] == ["%0.2f", "%0.2f", "%0.2f", "%0.3f", "%0.3f"]
    assert step_format(1, integer=True) == "%d"


def learn_toys() -> dict[str, list[float]]:
    """The Learn page's toy examples, read from the page's source (importing it would run the page)."""
    tree = ast.parse((ROOT / "pages" / "4_Learn.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "TOYS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("pages/4_Learn.py defines no TOYS")


def test_berxit_learn_toy_exits_early_at_its_defaults():
    """At the toy's starting knobs the default (overthinking) toy shows an early exit, off the threshold's line
    (a score exactly on it does not exit: u_i < τ is strict)."""
    toys = learn_toys()
    p = np.asarray(toys["overthinking"])
    knobs = {k.key: k.default for k in BerxitMethod.toy_knobs(len(p))}
    toy = BerxitMethod.toy(p, knobs)
    trace = Trace(method="berxit", text="toy", tokens=[], labels=["negative", "positive"], gold=1,
                  logits=np.log(np.stack([1 - p, p], 1)).astype(np.float32), signals=toy.signals)
    decision = replay(trace, LteRule(len(p), **toy.params))
    assert decision.exit_layer < len(p) and decision.label == "positive"
    tau = toy.params["threshold"]
    assert np.abs(np.asarray(toy.signals["lte"]) - tau).min() > 0.01  # no score on (or a hair from) the line
    assert on_grid(knobs["tau"], 0.0, LteRule.spec.step)


def test_the_app_slider_shows_a_checkpoint_default_between_hundredths(tiny_bert, tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from apptest import run_app

    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    cfg = ModelConfig(backbone=tiny_bert, method="berxit", task="toy", labels=["neg", "pos"], max_length=32,
                      rule_defaults={"lte": 0.075})
    save_checkpoint(build_model(cfg), tmp_path / "berxit-tiny")
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path))
    slider = run_app(ckpt="berxit-tiny").slider(key="t_berxit_lte")
    assert slider.value == 0.075 and slider.proto.format % slider.value == "0.075"  # Streamlit's own: "0.07"
