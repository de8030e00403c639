"""The Learn page's display formulas may break into lines on a phone only between equations and between the
terms of a long one (``eeviz.app.learn.breakable_formula``); the browser test checks they then fit."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("streamlit")
from eeviz.app.learn import LONG_EQUATION, breakable_formula  # noqa: E402
from eeviz.methods import available_methods, get_method  # noqa: E402


def unbraced(latex: str) -> str:
    """The formula without what breakable_formula adds (braces, \\allowbreak) and without spaces."""
    return re.sub(r"\s|\\allowbreak|[{}]", "", latex)


def test_equations_side_by_side_may_break_between_them_only():
    out = breakable_formula(r"a = b \qquad c = \frac{d}{e}")
    assert out == r"{a = b} \qquad\allowbreak {c = \frac{d}{e}}"
    # a \qquad inside braces, brackets or an environment is no place to break
    for inner in (r"x_{a \qquad b}", r"\left( a \qquad b \right)", r"\begin{matrix} a \qquad b \end{matrix}",
                  r"(a \qquad b)"):
        assert "allowbreak" not in breakable_formula(inner)
    # one equation is one unbreakable box: KaTeX would otherwise break after its "=" or inside its brackets
    assert breakable_formula(r"r = \log p(y \mid x) - \alpha") == r"{r = \log p(y \mid x) - \alpha}"


def test_a_long_equation_may_also_break_between_its_terms():
    long_term = r"\mathrm{KL}\big(p(\cdot \mid x)\,\|\,p_G(\cdot \mid \lambda_p)\big) + \beta"
    latex = r"\mathcal{L} = -\sum_i p(i \mid x)\,\mathrm{CE}_i + " + long_term + r"\qquad t = 1 - s"
    assert len(latex.split(r"\qquad")[0]) > LONG_EQUATION
    out = breakable_formula(latex)
    equation, short = out.split(r"\qquad\allowbreak")
    # after the terms' "+" (not the sign after "=", nothing inside the brackets); the short one stays whole
    assert equation.count("} + {") == 2 and "= -" in equation and "{t = 1 - s}" in short
    assert r"{\mathcal{L} = -\sum_i p(i \mid x)\,\mathrm{CE}_i} + {\mathrm{KL}" in equation


def test_formulas_that_lay_out_their_own_lines_or_do_not_pair_up_stay_as_they_are():
    for latex in (r"a \\ b \qquad c", r"a &= b \qquad c", r"a \qquad b}", r"\left( a \qquad b"):
        assert breakable_formula(latex) == latex


def test_every_lesson_formula_keeps_its_symbols_and_its_equations_may_stack():
    stacked = 0
    for name in available_methods():
        lesson = get_method(name).lesson
        for block in lesson.blocks if lesson else []:
            if not (block.startswith("$$") and block.endswith("$$")):
                continue
            latex = block[2:-2]
            out = breakable_formula(latex)
            assert unbraced(out) == unbraced(latex)  # only braces and break points added
            assert out.count("{") == out.count("}")
            stacked += r"\qquad\allowbreak" in out
    assert stacked >= 5  # the lessons do write equations side by side
