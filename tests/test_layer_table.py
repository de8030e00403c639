"""Explore's per-layer table for every method (one name and one format per quantity, the rule's yes/no state
as yes/no as its figure shows it, every column title whole), and the Compare grid's row labels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit")

from eeviz.app import figures  # noqa: E402
from eeviz.methods import available_methods, get_method  # noqa: E402
from eeviz.plots import is_flag  # noqa: E402
from eeviz.trace import replay  # noqa: E402
from eeviz.tracing import trace_all  # noqa: E402


@pytest.fixture(scope="module")
def tables(tiny_bert):
    """(table, its column config, the decision) per method, on a tiny untrained model, at each rule."""
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    out = {}
    for name in available_methods():
        cfg = ModelConfig(backbone=tiny_bert, method=name, task="toy", labels=["neg", "pos"], max_length=16)
        model = build_model(cfg).eval()
        trace = trace_all({name: model}, "a fine film")[name]
        for rule in get_method(name).rules:
            decision = replay(trace, model.make_rule(rule))
            table = figures.layer_table(("test", name, rule), rule, (), trace, decision)
            out[name, rule] = table, figures.layer_table_config(table, trace), decision
    return out


def test_the_same_quantity_has_the_same_name_and_format_in_every_method(tables):
    for (name, rule), (table, config, _) in tables.items():
        assert {"confidence", "entropy", "p(neg)", "p(pos)"} <= set(table.columns), (name, rule)
        assert "p(predicted class)" not in table.columns  # ELBERT's word for the confidence, in its table only
        for share in ("confidence", "p(neg)", "p(pos)"):
            assert config[share]["type_config"]["format"] == figures.PERCENT_FORMAT, (name, share)
        assert (table["confidence"] > 1).all()  # percent, as p(neg) and the decision box: not 0.587
        assert config["entropy"]["type_config"]["format"] == figures.SIGNAL_FORMAT


def test_the_table_holds_its_values_as_shown(tables):
    """A screen reader reads the values, not the formats: it read "51.386497497558594" where the page showed 51.4%."""
    for (name, rule), (table, config, _) in tables.items():
        for column, entry in config.items():
            shown = entry.get("type_config", {}).get("format")
            if shown in (figures.PERCENT_FORMAT, figures.SIGNAL_FORMAT):
                digits = 1 if shown == figures.PERCENT_FORMAT else figures.SIGNAL_DIGITS
                values = table[column].to_numpy(dtype=float)
                np.testing.assert_array_equal(values, np.round(values, digits), err_msg=f"{name} {column}")


def test_the_rules_yes_no_state_reads_yes_no(tables):
    flagged = 0
    for (name, rule), (table, _, decision) in tables.items():
        flags = [k for k, v in decision.info.items() if is_flag(np.asarray(v, dtype=float))]
        for column in table.columns:
            values = set(table[column].astype(str))
            if values <= {"yes", "no"}:
                flagged += 1
            else:  # no 0/1 column is left that the figure shows as yes/no
                assert not (table[column].dtype.kind == "f" and values <= {"0.0", "1.0"}
                            and column not in ("layer",) and flags), (name, rule, column)
    assert flagged  # at least one method has a yes/no state (ELBERT's window)


def test_every_title_fits_its_column(tables):
    for (name, rule), (table, config, _) in tables.items():
        for column in table.columns:
            assert config[column]["width"] >= figures.header_width(column) >= 8 * len(column), (name, column)


def test_the_compare_grid_names_rows_by_method_when_that_tells_them_apart():
    titles = {"a": "DeeBERT (entropy) · minilm", "b": "ELBERT (confidence window) · minilm"}
    assert figures.grid_titles(titles, ["a", "b"]) == {"a": "DeeBERT", "b": "ELBERT"}
    twins = {**titles, "c": "DeeBERT (entropy) · bert-base"}  # two DeeBERT checkpoints: the full titles
    assert figures.grid_titles(twins, ["a", "b", "c"]) == twins
