"""The Learn page's starting knobs show each method working on the default toy: an early exit with the right
answer (DeeBERT's S = 0.30 never exited; PonderNet's seed 0 drew layer 8, 2.5% of draws, and was wrong), a
random rule's seed a typical draw, said as such; and the toys' captions match their numbers."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")

from eeviz.app.learn import toy_trace, typical_draw  # noqa: E402
from eeviz.app.rules import sampled_exits  # noqa: E402
from eeviz.methods import available_methods, get_method  # noqa: E402
from eeviz.trace import replay  # noqa: E402

PAGE = Path(__file__).resolve().parent.parent / "pages" / "4_Learn.py"


def page_constant(name: str):
    """A constant of the Learn page, read from its source (importing it would run the page)."""
    for node in ast.parse(PAGE.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"pages/4_Learn.py defines no {name}")


def default_toy_decisions():
    p = page_constant("TOYS")["overthinking"]  # the page's default toy
    for name in available_methods():
        method = get_method(name)
        knobs = {k.key: k.default for k in method.toy_knobs(len(p))}
        toy = method.toy(p, knobs)
        if toy is None:
            continue
        trace = toy_trace(name, p, toy.signals)
        rule_cls = method.rules[toy.rule]
        yield name, trace, rule_cls, replay(trace, rule_cls(len(p), **toy.params))


def test_every_method_exits_early_and_right_on_the_default_toy():
    seen = 0
    for name, trace, rule_cls, decision in default_toy_decisions():
        if not rule_cls.spec.early_exit:
            continue
        seen += 1
        assert decision.exit_layer < trace.num_layers, name
        assert decision.label == "positive", name
    assert seen >= 5


def test_a_random_rules_default_seed_is_a_typical_draw():
    random = [(n, t, r, d) for n, t, r, d in default_toy_decisions() if r.spec.stochastic]
    assert random  # PonderNet's sampling
    for name, trace, rule_cls, decision in random:
        exits = sampled_exits(trace, rule_cls, decision.params)
        share = np.mean(exits == decision.exit_layer)
        assert share >= 0.8 * max(np.mean(exits == k) for k in set(exits)), name  # about the most common exit
        words = typical_draw(exits, decision.exit_layer)
        assert f"{share:.0%} of {len(exits)} draws exit at layer {decision.exit_layer}" in words


def test_the_toy_captions_match_the_numbers():
    toys, words = page_constant("TOYS"), page_constant("TOY_HELP")
    over = np.asarray(toys["overthinking"]) > 0.5  # right (gold: positive) per layer
    assert not over[0] and over[1:-1].all() and not over[-1]
    assert "wrong again at the last layer" in words["overthinking"] and "layers" not in words["overthinking"]
    assert np.argmax(toys["overthinking"]) + 1 == 5 and "most confident at layer 5" in words["overthinking"]
    hard = np.asarray(toys["hard"])
    assert (hard[1:4] < 0.5).all() and (hard[4:] > 0.5).all() and "right from layer 5" in words["hard"]
    assert (np.asarray(toys["easy"]) > 0.5).all() and "Right from layer 1" in words["easy"]
