"""Trace serialisation and derived quantities."""

import numpy as np
import pytest

from eeviz.config import ModelConfig
from eeviz.inputs import InputError, check_inputs
from eeviz.model import build_model
from eeviz.trace import Trace, replay, replay_all


def test_trace_json_round_trip_and_replay(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method="deebert")).eval()
    tr = model.trace("the movie is <script>alert(1)</script> good")
    back = Trace.from_json(tr.to_json())
    np.testing.assert_allclose(back.logits, tr.logits)
    np.testing.assert_allclose(back.attentions, tr.attentions)
    assert back.tokens == tr.tokens and "<" in "".join(back.tokens)
    assert back.input_key == tr.input_key is not None  # a random rule's draws follow it: it survives JSON
    assert replay_all(back)["entropy"].exit_layer == replay_all(tr)["entropy"].exit_layer
    np.testing.assert_allclose(tr.probs.sum(-1), 1.0, rtol=1e-6)
    assert tr.attentions.shape == (3, 4, len(tr.tokens), len(tr.tokens))
    frame = tr.to_frame()
    assert list(frame["layer"]) == [1, 2, 3] and "p(fresh)" in frame


def test_input_checks():
    with pytest.raises(InputError, match="empty"):
        check_inputs("  \n ")
    with pytest.raises(InputError, match="characters"):
        check_inputs("a" * 30_000)
    with pytest.raises(InputError, match="second sentence"):
        check_inputs("premise", "", is_pair=True)
    assert check_inputs("caf\u0065\u0301 \x00ok") == ("café ok", None)
    assert check_inputs("a", "b", is_pair=True) == ("a", "b")


def test_replay_all_starts_from_the_checkpoints_own_thresholds(tiny_bert, tmp_path):
    """A checkpoint's dev-chosen thresholds (``rule_defaults``) are what the app and evaluation use: the trace
    keeps them, through its JSON too, and ``replay_all`` (the trace CLI, the README's example) starts from them
    (it used the papers' defaults: the shipped PALBERT at q = 0.5 instead of its 0.05)."""
    from eeviz.checkpoint import load_checkpoint, save_checkpoint

    cfg = ModelConfig(backbone=tiny_bert, method="palbert", rule_defaults={"q_exit": 0.05})
    model = load_checkpoint(save_checkpoint(build_model(cfg), tmp_path / "ck"))
    tr = model.trace("the movie is good")
    assert tr.rule_defaults == {"q_exit": 0.05}
    for trace in (tr, Trace.from_json(tr.to_json())):
        decisions = replay_all(trace)
        assert decisions["q_exit"].params["q"] == 0.05 == model.make_rule("q_exit").params["q"]
        assert decisions["q_exit"].exit_layer == replay(trace, model.make_rule("q_exit")).exit_layer
        assert replay_all(trace, {"q_exit": {"q": 0.9}})["q_exit"].params["q"] == 0.9  # an override wins
    old = tr.to_dict()
    del old["rule_defaults"]  # a trace written before traces kept them: the papers' defaults
    assert replay_all(Trace.from_dict(old))["q_exit"].params["q"] == model.method.rules["q_exit"].spec.default


def test_trace_cli_csv_has_every_rule_at_the_checkpoints_thresholds(tiny_bert, tmp_path, capsys):
    """``eeviz trace --csv``: the app's "Layers as CSV" for every rule, one block of rows each, safe to open in a
    spreadsheet."""
    import io

    import pandas as pd

    from eeviz.checkpoint import save_checkpoint
    from eeviz.tools.trace_cli import main

    cfg = ModelConfig(backbone=tiny_bert, method="palbert", rule_defaults={"q_exit": 0.05})
    ck = save_checkpoint(build_model(cfg), tmp_path / "ck")
    assert main(["--checkpoint", str(ck), "--text", "=1+1 the movie is good", "--csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    rules = list(frame["rule"].unique())
    assert rules == ["q_exit", "sampling", "expectation"] and len(frame) == 3 * len(rules)
    assert set(frame["checkpoint"]) == {"ck"} and set(frame["sentence"]) == {"'=1+1 the movie is good"}
    assert frame.loc[frame["rule"] == "q_exit", "threshold"].tolist() == [0.05] * 3
    assert list(frame.loc[frame["rule"] == "q_exit", "layer"]) == [1, 2, 3]
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(ck), "--text", "good", "--no-attentions"])  # was ignored without --json
    assert "give --json too" in capsys.readouterr().err
