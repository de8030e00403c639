"""Evaluation sweeps: replay over cached signals equals trace replay and true early exit; the JSON schema."""

import json
import types

import numpy as np
import pytest
import torch

from eeviz.checkpoint import read_config, save_checkpoint
from eeviz.config import ModelConfig
from eeviz.eval_result import EvalFileError
from eeviz.evaluate import evaluate_checkpoint, load_eval, sweep_values
from eeviz.evaluate_cli import main
from eeviz.methods import available_methods, get_method
from eeviz.metrics import compute_metrics
from eeviz.example_keys import example_keys
from eeviz.model import build_model
from eeviz.trace import replay, replay_signals

TEXTS = ["the movie is good", "bad plot and awful acting", "not very funny", "great fun", "the worst dull story",
         "it was a film"]

SCHEMA_KEYS = {"checkpoint", "method", "task", "split", "metric", "num_layers", "num_examples", "labels",
               "batch_size", "device", "full_model", "per_layer", "rules", "examples", "precision", "timing",
               "default_rule", "timing_repeats"}
POINT_KEYS = {"threshold", "score", "metrics", "mean_exit_layer", "layer_speedup", "wall_speedup", "histogram",
              "static_score", "adaptive_gain", "top_exit_share", "exit_layers"}


def random_model(backbone, method, seed=0):
    """A tiny model whose heads are pushed far from their init, so exits spread over the layers."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(backbone=backbone, method=method, labels=["neg", "pos"])).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("method."):
                param.add_(0.5 * torch.randn_like(param))
    return model


def rule_cases(method):
    """(rule name, threshold) for every rule point of ``method`` (a random rule: its first seeds)."""
    for name, rule_cls in get_method(method).rules.items():
        for value in sweep_values(rule_cls.spec):
            yield name, value


def stack_traces(traces):
    """The signals of several traces as one batch, built with the very tensors ``replay`` reads."""
    num_layers = traces[0].num_layers
    per_layer = []
    for layer in range(1, num_layers + 1):
        sigs = [t.layer_signals(layer) for t in traces]
        per_layer.append({k: torch.cat([s[k] for s in sigs]) for k in sigs[0]})
    return {k: torch.stack([p[k] for p in per_layer]) for k in per_layer[0]}


@pytest.mark.parametrize("method", available_methods())
def test_replay_signals_matches_trace_replay(tiny_bert, method):
    model = random_model(tiny_bert, method)
    traces = [model.trace(t, attentions=False) for t in TEXTS]
    signals = stack_traces(traces)
    exits_seen = set()
    for name, value in rule_cases(method):
        param = get_method(method).rules[name].spec.param
        keys = [t.input_key for t in traces]
        exit_layer, probs, _ = replay_signals(signals, model.make_rule(name, **{param: value}), keys)
        for row, trace in enumerate(traces):
            decision = replay(trace, model.make_rule(name, **{param: value}))
            assert int(exit_layer[row]) == decision.exit_layer, (name, value, row)
            np.testing.assert_allclose(probs[row].numpy(), decision.probs, rtol=1e-5, atol=1e-6)
            exits_seen.add(decision.exit_layer)
    assert len(exits_seen) > 1  # the sweep really moves exits (the comparison is not vacuous)


@pytest.mark.parametrize("method", available_methods())
def test_replay_signals_matches_true_early_exit(tiny_bert, method):
    exits_seen = set()
    for seed in (0, 2):  # two pushes of the heads: seed 0 alone sends every row of PALBERT out at layer 1
        model = random_model(tiny_bert, method, seed=seed)
        batch = model.tokenize(TEXTS)
        with torch.no_grad():
            signals, _ = model.forward_all(batch)
        for name, value in rule_cases(method):
            param = get_method(method).rules[name].spec.param
            if not get_method(method).rules[name].spec.early_exit:
                continue
            exit_layer, probs, _ = replay_signals(signals, model.make_rule(name, **{param: value}),
                                                  example_keys(batch))
            result = model.early_exit(batch, model.make_rule(name, **{param: value}))
            assert exit_layer.tolist() == result.exit_layer.tolist(), (seed, name, value)
            torch.testing.assert_close(probs, result.probs, rtol=1e-4, atol=1e-5)
            exits_seen.update(exit_layer.tolist())
    assert len(exits_seen) > 1  # rows leave at different layers: the batch really shrinks on the way


def test_replay_signals_by_hand():
    # a rule that stops where the first class's probability exceeds 0.6; rows exit at 2, 3 (forced) and 1
    class Above(types.SimpleNamespace):
        def start(self, batch_size, device):
            return {}

        def step(self, state, i, sig):
            return sig["probs"][:, 0] > 0.6, {}

        def probs(self, state, sig):
            return sig["probs"]

    p = torch.tensor([[[0.5, 0.5], [0.2, 0.8], [0.7, 0.3]],
                      [[0.9, 0.1], [0.4, 0.6], [0.1, 0.9]],
                      [[0.8, 0.2], [0.3, 0.7], [0.2, 0.8]]])  # (L=3, B=3, C=2)
    exit_layer, probs, _ = replay_signals({"logits": p.log(), "probs": p}, Above())
    assert exit_layer.tolist() == [2, 3, 1]
    assert torch.equal(probs, torch.stack([p[1, 0], p[2, 1], p[0, 2]]))


def test_sweep_values_inserts_the_default_in_order():
    spec = types.SimpleNamespace(sweep=(1.0, 0.5, 0.0), default=0.3)
    assert sweep_values(spec) == [1.0, 0.5, 0.3, 0.0]
    spec = types.SimpleNamespace(sweep=(1, 2, 3), default=2.5)
    assert sweep_values(spec) == [1, 2, 2.5, 3]
    spec = types.SimpleNamespace(sweep=(1, 2, 3), default=2)
    assert sweep_values(spec) == [1, 2, 3]


# ------------------------------------------------------------------------------------------ the JSON
@pytest.fixture(scope="module")
def eval_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("evaldata") / "eval.csv"
    rows = [(t, "pos" if i % 2 else "neg") for i, t in enumerate(TEXTS * 2)]
    path.write_text("text,label\n" + "\n".join(f"{t},{y}" for t, y in rows) + "\n")
    return str(path), [1 if y == "pos" else 0 for _, y in rows]


def test_a_random_rule_sweep_gives_each_example_its_explore_exit(tiny_bert, tmp_path, eval_data):
    """Each example of an evaluation (batches of 5, the file's rows in order) exits at every seed where a trace of
    it alone exits, as Explore replays it: the Dataset page's "open in Explore" shows the same exit."""
    data, _ = eval_data
    model = random_model(tiny_bert, "pondernet", seed=2)
    save_checkpoint(model, tmp_path / "ck")
    result = evaluate_checkpoint(tmp_path / "ck", data=data, batch_size=5, device="cpu", timing="none", write=False)
    sweep = result.rules["sampling"]
    texts = [e.text for e in result.examples]
    seen = set()
    for point in sweep.points:
        alone = [replay(model.trace(t), model.make_rule("sampling", seed=int(point.threshold))).exit_layer
                 for t in texts]
        assert point.exit_layers == alone, point.threshold
        seen.update(alone)
    assert len(sweep.points) >= 5 and len(seen) > 1


@pytest.mark.parametrize("method", available_methods())
def test_evaluate_checkpoint_schema_and_sweeps(tiny_bert, tmp_path, eval_data, method):
    data, gold = eval_data
    model = random_model(tiny_bert, method)
    save_checkpoint(model, tmp_path / "ck")
    result = evaluate_checkpoint(tmp_path / "ck", data=data, batch_size=5, device="cpu").to_dict()
    assert load_eval(tmp_path / "ck" / "eval.json").to_dict() == json.loads(json.dumps(result))
    assert set(result) == SCHEMA_KEYS
    num_layers, n = result["num_layers"], len(gold)
    assert (result["method"], result["split"], result["num_examples"], result["batch_size"]) == (method, "file", n, 5)
    assert result["timing_repeats"] == 1  # recorded: "fastest of N timings" must be checkable
    assert [p["layer"] for p in result["per_layer"]] == list(range(1, num_layers + 1))
    assert result["full_model"]["score"] == result["per_layer"][-1]["score"]
    assert set(result["rules"]) == set(get_method(method).rules)
    examples = result["examples"]
    assert [e["gold"] for e in examples] == gold
    # the per-layer scores are those of the stored per-layer predictions
    for layer in range(num_layers):
        preds = [e["layer_preds"][layer] for e in examples]
        assert result["per_layer"][layer]["score"] == pytest.approx(compute_metrics("accuracy", preds, gold)["score"])
    for name, entry in result["rules"].items():
        rule_cls = get_method(method).rules[name]
        spec = rule_cls.spec
        assert entry["param"] == spec.param and entry["default"] == spec.default
        points = entry["points"]
        assert [p["threshold"] for p in points] == sweep_values(spec, rule_cls.sweep_for(num_layers))
        for p in points:
            assert set(p) == POINT_KEYS
            assert len(p["histogram"]) == num_layers and sum(p["histogram"]) == n
            mean = sum((i + 1) * c for i, c in enumerate(p["histogram"])) / n
            assert p["mean_exit_layer"] == pytest.approx(mean)
            assert p["layer_speedup"] == pytest.approx(num_layers / mean)
        if not spec.stochastic:
            means = [p["mean_exit_layer"] for p in points]
            assert means == sorted(means), f"{name}: a stricter threshold exits earlier"
        default = next(p for p in points if p["threshold"] == spec.default)
        assert (default["wall_speedup"] is not None) == spec.early_exit
        # the examples' exits at the default threshold are the default point's
        layers = [e["exit"][name]["layer"] for e in examples]
        assert np.bincount(layers, minlength=num_layers + 1)[1:].tolist() == default["histogram"]
        preds = [e["exit"][name]["pred"] for e in examples]
        assert default["score"] == pytest.approx(compute_metrics("accuracy", preds, gold)["score"])
        assert [e["exit"][name]["correct"] for e in examples] == [p == g for p, g in zip(preds, gold)]


def test_cli_writes_json_and_table(tiny_bert, tmp_path, eval_data, capsys):
    save_checkpoint(random_model(tiny_bert, "pabee"), tmp_path / "ck")
    out = tmp_path / "results" / "pabee.json"
    code = main(["--checkpoint", str(tmp_path / "ck"), "--data", eval_data[0], "--json", str(out), "--limit", "4",
                 "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0 and load_eval(out).num_examples == 4
    assert "rule patience" in printed and "layer speed-up = L / mean exit layer" in printed


def test_cli_keeps_eval_json_for_the_whole_test_split(tiny_bert, tmp_path, eval_data, capsys):
    """eval.json is what the Dataset page and ``eeviz report`` show as a checkpoint's test scores: without
    --json, a sweep of a file, of --limit examples or of another task is printed, not written over it (a
    ``--limit 16`` sweep replaced the shipped file, and the report then showed its 16 examples as test accuracy)."""
    import argparse

    from eeviz.evaluate_cli import default_json

    ck = save_checkpoint(random_model(tiny_bert, "pabee"), tmp_path / "ck")
    (ck / "eval.json").write_text("the shipped sweep")
    code = main(["--checkpoint", str(ck), "--data", eval_data[0], "--limit", "4", "--device", "cpu", "--timing", "none"])
    printed = capsys.readouterr().out
    assert code == 0 and "rule patience" in printed and "not written" in printed and "--json FILE" in printed
    assert (ck / "eval.json").read_text() == "the shipped sweep"
    assert not (ck / "eval-dev.json").exists()

    def where(**given):
        args = dict(checkpoint=str(ck), data=None, task=None, split="test", limit=None)
        return default_json(argparse.Namespace(**{**args, **given}))

    task = read_config(ck)[0].task
    assert where() == where(task=task) == ck / "eval.json"
    assert where(split="dev") == ck / "eval-dev.json"
    assert where(limit=16) is None and where(split="train") is None and where(task="another_task") is None
    assert where(data=eval_data[0]) is None


def test_cli_errors(tiny_bert, tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    save_checkpoint(random_model(tiny_bert, "pabee"), tmp_path / "ck")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("text,text_b,label\na movie,a film,pos\nbad,good,neg\n")
    assert main(["--checkpoint", str(tmp_path / "ck"), "--data", str(pairs), "--device", "cpu"]) == 2
    assert "single sentences" in capsys.readouterr().err
    for args, match in [(["--data", str(pairs), "--split", "dev"], "a --data file is read whole"),  # was ignored
                        (["--device", "cud"], "--device takes auto, cpu, cuda or cuda:N, not 'cud'")]:  # torch's list
        with pytest.raises(SystemExit):
            main(["--checkpoint", str(tmp_path / "ck"), *args])
        assert match in capsys.readouterr().err


def test_cli_refuses_a_json_path_it_cannot_write_before_the_sweep(tiny_bert, tmp_path, eval_data, capsys,
                                                                   monkeypatch):
    import eeviz.evaluate as evaluate

    save_checkpoint(random_model(tiny_bert, "pabee"), tmp_path / "ck")
    swept = []
    real = evaluate.evaluate_model
    monkeypatch.setattr(evaluate, "evaluate_model", lambda *a, **k: swept.append(1) or real(*a, **k))
    (tmp_path / "afile").write_text("x")
    run = lambda out: main(["--checkpoint", str(tmp_path / "ck"), "--data", eval_data[0], "--json", str(out),
                            "--limit", "4", "--device", "cpu"])
    for out, why in [(tmp_path, f"it is a folder; give a file name such as {tmp_path / 'eval.json'}"),
                     (tmp_path / "afile" / "x.json", f"{tmp_path / 'afile'} is a file, not a folder")]:
        assert run(out) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
        assert errors == [f"error: cannot write the results to {out}: {why}"]
    assert swept == [] and sorted(p.name for p in tmp_path.iterdir()) == ["afile", "ck"]  # nothing left behind
    assert run(tmp_path / "new" / "deeper" / "e.json") == 0 and swept == [1]  # missing folders are made
    assert load_eval(tmp_path / "new" / "deeper" / "e.json").num_examples == 4
    assert [p.name for p in (tmp_path / "new" / "deeper").iterdir()] == ["e.json"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    from pathlib import Path

    from eeviz.files import write_atomically  # eval.json's and training's JSON files

    out = tmp_path / "eval.json"
    out.write_text("old")
    monkeypatch.setattr(Path, "replace", lambda self, target: (_ for _ in ()).throw(OSError(21, "Is a directory")))
    with pytest.raises(OSError):
        write_atomically(out, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"] and out.read_text() == "old"
    monkeypatch.undo()
    write_atomically(out, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"] and out.read_text() == "new"


def test_load_eval_rejects_bad_files(tmp_path):
    with pytest.raises(EvalFileError, match="no evaluation file"):
        load_eval(tmp_path / "nothing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EvalFileError, match="not valid JSON"):
        load_eval(bad)
    bad.write_text(json.dumps({"checkpoint": "x"}))
    with pytest.raises(EvalFileError, match="key 'method' is missing"):
        load_eval(bad)


def test_adaptive_gain_compares_with_a_static_cut_at_the_same_depth():
    # per-layer accuracies 0.5, 0.7, 0.9: a rule exiting at mean depth 1.5 is compared with 0.6 (interpolated)
    from eeviz.evaluate import sweep_point

    exit_layer = torch.tensor([1, 2, 1, 2])  # mean 1.5, half the examples at each of two layers
    preds, golds = np.array([1, 1, 0, 0]), np.array([1, 1, 0, 1])
    point = sweep_point(0.3, exit_layer, preds, golds, "accuracy", [0.5, 0.7, 0.9])
    assert point.score == pytest.approx(0.75) and point.static_score == pytest.approx(0.6)
    assert point.adaptive_gain == pytest.approx(15.0)  # points
    assert point.top_exit_share == pytest.approx(0.5)
    assert point.layer_speedup == pytest.approx(3 / 1.5)


def test_timing_none_measures_nothing(tiny_bert, tmp_path, eval_data):
    data, _ = eval_data
    save_checkpoint(random_model(tiny_bert, "pabee"), tmp_path / "ck")
    result = evaluate_checkpoint(tmp_path / "ck", data=data, batch_size=5, device="cpu", timing="none")
    assert result.full_model.time_s is None and result.timing == "none" and result.timing_repeats is None
    assert all(p.wall_speedup is None for r in result.rules.values() for p in r.points)
    assert load_eval(tmp_path / "ck").to_dict() == result.to_dict()


def test_choose_default_prefers_the_most_adaptive_point_within_bounds():
    from eeviz.eval_result import RuleSweep, SweepPoint
    from eeviz.default_thresholds import choose_default

    def point(threshold, score, gain, share, mean=2.0):
        return SweepPoint(threshold=threshold, score=score, metrics={}, mean_exit_layer=mean, layer_speedup=3 / mean,
                          wall_speedup=None, histogram=[1, 1, 1], static_score=score - gain / 100,
                          adaptive_gain=gain, top_exit_share=share)

    sweep = RuleSweep(param="t", label="t", default=0.5, early_exit=True, points=[
        point(0.9, 0.70, 5.0, 0.40),  # most adaptive, but 10 points below the full model
        point(0.7, 0.79, 3.0, 0.80),  # one exit layer holds 80% of the examples
        point(0.5, 0.79, 2.0, 0.50),  # the choice
        point(0.3, 0.80, 1.0, 0.45),
        point(0.0, 0.80, 0.0, 1.00, mean=3.0),  # the full model
    ])
    assert choose_default(sweep, full_score=0.80) == 0.5
    sweep.stochastic = True
    assert choose_default(sweep, full_score=0.80) is None  # a seed is no threshold


def test_choose_defaults_on_dev_are_stored_and_used(tiny_bert, tmp_path, eval_data, capsys):
    from eeviz.checkpoint import load_checkpoint, read_config

    save_checkpoint(random_model(tiny_bert, "deebert"), tmp_path / "ck")
    with pytest.raises(SystemExit):  # never on the test split, nor on a file with no dev split
        main(["--checkpoint", str(tmp_path / "ck"), "--data", eval_data[0], "--choose-defaults"])
    assert "--split dev" in capsys.readouterr().err
    cfg, _ = read_config(tmp_path / "ck")
    cfg.rule_defaults = {"entropy": 0.15}
    model = build_model(cfg)
    assert model.make_rule().threshold == 0.15 and model.method.default_threshold() == 0.15
    assert model.make_rule(entropy=0.4).threshold == 0.4  # an explicit value still wins


def test_a_random_default_rule_gives_way_to_the_most_adaptive_chosen_one(tiny_bert):
    from eeviz.eval_result import EvalResult
    from eeviz.default_thresholds import choose_default_rule

    def sweep(stochastic, gain):
        point = {"threshold": 0.5, "score": 0.8, "metrics": {}, "mean_exit_layer": 2.0, "layer_speedup": 1.5,
                 "wall_speedup": None, "histogram": [1, 1, 0], "static_score": 0.8, "adaptive_gain": gain,
                 "top_exit_share": 0.5}
        return {"param": "t", "label": "t", "default": 0.5, "early_exit": True, "points": [point],
                "stochastic": stochastic}

    data = {"checkpoint": "x", "method": "m", "task": "t", "split": "dev", "metric": "accuracy", "num_layers": 3,
            "num_examples": 2, "labels": ["a", "b"], "batch_size": 2, "device": "cpu",
            "full_model": {"score": 0.8, "metrics": {}, "time_s": None},
            "per_layer": [{"layer": i, "score": 0.8, "metrics": {}} for i in (1, 2, 3)],
            "rules": {"coin": sweep(True, -1.0), "steady": sweep(False, 0.5), "sharp": sweep(False, 2.0)},
            "examples": []}
    result = EvalResult.from_dict(data)
    assert choose_default_rule(result, "coin", {"steady": 0.5, "sharp": 0.5}) == "sharp"
    assert choose_default_rule(result, "steady", {"steady": 0.5, "sharp": 0.5}) is None  # not random: kept
    assert choose_default_rule(result, "coin", {}) is None

    cfg = ModelConfig(backbone=tiny_bert, method="pondernet", labels=["neg", "pos"], default_rule="q_exit",
                      rule_defaults={"q_exit": 0.2})
    model = build_model(cfg)
    assert model.make_rule().spec.name == "q_exit" and model.make_rule().threshold == 0.2
    with pytest.raises(ValueError, match="not a rule"):
        build_model(ModelConfig(backbone=tiny_bert, method="pondernet", labels=["a", "b"], default_rule="nope"))


def test_the_table_flags_a_wall_speed_up_that_timing_noise_made(tiny_bert, tmp_path, eval_data):
    """A wall speed-up of 13.86 at a layer speed-up of 1.00 (a busy machine) is no property of the rule: the
    table marks it and says why, and leaves plausible ones as they are."""
    import dataclasses

    from eeviz.evaluate_cli import format_table

    save_checkpoint(random_model(tiny_bert, "pabee"), tmp_path / "ck")
    result = evaluate_checkpoint(tmp_path / "ck", data=eval_data[0], batch_size=5, device="cpu", write=False)
    entry = result.rules["patience"]
    calm = [dataclasses.replace(p, wall_speedup=None if p.wall_speedup is None else p.layer_speedup * 1.1)
            for p in entry.points]
    result.rules["patience"] = dataclasses.replace(entry, points=calm)
    assert "?" not in format_table(result)
    noisy = [dataclasses.replace(p, wall_speedup=p.layer_speedup * 13.86) for p in entry.points]
    result.rules["patience"] = dataclasses.replace(entry, points=noisy)
    table = format_table(result)
    assert f"{noisy[0].wall_speedup:.2f}?" in table and "timing noise" in table and "--timing-repeats 3" in table


def test_a_sweep_over_signals_the_caller_has_equals_one_over_its_own_pass(tiny_bert):
    # Your sentences runs one network pass for its own replay and the Dataset page's sweep
    from eeviz.data import Example
    from eeviz.evaluate import evaluate_model
    from eeviz.passes import collect_signals, index_batches, make_batch

    model = random_model(tiny_bert, "pondernet")  # a random rule too: its draws follow each example's tokens
    examples = [Example(t, i % 2) for i, t in enumerate(TEXTS)]
    own = evaluate_model(model, examples, task="t", split="s", batch_size=4, timing="none")
    batches = [make_batch(model.tokenizer, examples, idx, model.cfg.max_length, False)
               for idx in index_batches(len(examples), 3)]  # another batching: signals are in example order
    signals = collect_signals(model, batches)
    given = evaluate_model(model, examples, task="t", split="s", batch_size=4, timing="none", signals=signals)
    assert given.to_dict() == own.to_dict()
    with pytest.raises(ValueError, match="signals of 3 examples for 6 examples"):
        evaluate_model(model, examples, task="t", split="s", timing="none",
                       signals={k: v[:, :3] for k, v in signals.items()})
