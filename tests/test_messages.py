"""Values quoted in messages stay short (eeviz.messages), whoever quotes them."""

from eeviz.messages import LIMIT, short_repr, shorten


def test_long_values_are_cut_to_the_limit_and_short_ones_kept():
    assert shorten("nan") == "nan" and short_repr([1, 2]) == "[1, 2]"
    cut = shorten("x" * 500)
    assert len(cut) == LIMIT and cut.endswith("…")
    cut = short_repr(list(range(500)))
    assert len(cut) == LIMIT and cut.startswith("[0, 1, 2") and cut.endswith("...")
