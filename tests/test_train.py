"""Training: every method trains, saves and reloads; resume is exact; settings and errors are clear."""

import dataclasses
import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from eeviz.checkpoint import load_checkpoint
from eeviz.methods import available_methods, get_method
from eeviz.presets import PRESETS, method_defaults
from eeviz.train import (
    METRICS_FILE,
    RESUME_DIR,
    TrainArgs,
    epoch_batches,
    flatten_optimizer,
    lr_factor,
    main,
    method_args_dict,
    parse_field_value,
    resolve_args,
    run_preset,
    train,
    unflatten_optimizer,
)

POSITIVE = ["good", "great", "fun", "best", "funny"]
NEGATIVE = ["bad", "awful", "boring", "worst", "dull"]


def write_reviews(path, rows: int = 24, regression: bool = False) -> str:
    """A tiny review CSV with an explicit split column: half train, a quarter dev, a quarter test."""
    rng = random.Random(0)
    lines = ["text,label,split"]
    for i in range(rows):
        positive = i % 2 == 1
        word = rng.choice(POSITIVE if positive else NEGATIVE)
        label = f"{rng.uniform(3, 5) if positive else rng.uniform(0, 2):.2f}" if regression else ("pos" if positive else "neg")
        split = "train" if i < rows // 2 else ("dev" if i < 3 * rows // 4 else "test")
        lines.append(f"the movie was {word} and the plot {rng.choice(['is', 'was'])} {word},{label},{split}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    return write_reviews(tmp_path_factory.mktemp("data") / "reviews.csv")


def quick_args(tiny_bert, reviews, out, method="pabee", **overrides) -> TrainArgs:
    flags = dict(backbone=tiny_bert, task=reviews, batch_size=4, epochs=1, lr=1e-3, warmup_ratio=0.0,
                 patience_epochs=0, device="cpu")
    flags.update(overrides)
    return resolve_args(method, str(out), flags)


# ------------------------------------------------------------------------------------------ every method
@pytest.mark.parametrize("method", available_methods())
def test_method_trains_saves_and_reloads(tiny_bert, reviews, tmp_path, method):
    out = tmp_path / method
    metrics = train(quick_args(tiny_bert, reviews, out, method))
    model = load_checkpoint(out)
    num_phases = len(model.method.phases())
    assert metrics["finished"] and metrics["stopped_by"] == "completed"
    # one epoch per phase unless the phase fixes its own count
    expected_epochs = sum(p.epochs or 1 for p in model.method.phases())
    assert metrics["epochs_run"] == expected_epochs == len(metrics["history"]) == len(metrics["dev_scores"])
    assert len(metrics["phase_best_epochs"]) == num_phases
    assert metrics["steps"] == 3 * expected_epochs  # 12 training rows, batch 4
    assert metrics["best_epoch"] == metrics["phase_best_epochs"][-1]["best_epoch"]
    saved = json.loads((out / METRICS_FILE).read_text())
    assert saved["history"] == metrics["history"] and saved["train_args"]["method"] == method
    assert not (out / RESUME_DIR).exists()  # a finished run leaves no resume state
    # the reloaded model is the trained one: its dev predictions reproduce the recorded full-model score
    dev = [line.split(",") for line in open(reviews).read().splitlines()[1:] if line.endswith(",dev")]
    batch = model.tokenize([d[0] for d in dev])
    with torch.no_grad():
        signals, _ = model.forward_all(batch)
    gold = np.array([1 if d[1] == "pos" else 0 for d in dev])
    accuracy = float((signals["logits"][-1].argmax(-1).numpy() == gold).mean())
    best = next(h for h in metrics["history"] if h["epoch"] == metrics["best_epoch"])
    assert accuracy == pytest.approx(best["dev"]["score"])


def test_resume_reproduces_an_uninterrupted_run(tiny_bert, reviews, tmp_path):
    # DeeBERT has two phases: the run is cut at the end of phase 1's first epoch (step 3), then in the middle
    # of phase 2's first epoch (step 7), then resumed to the end; 12 rows / batch 4 = 3 steps per epoch.
    settings = dict(epochs=2, schedule="linear", warmup_ratio=0.2, weight_decay=0.01)
    whole = train(quick_args(tiny_bert, reviews, tmp_path / "whole", "deebert", **settings))
    cut = tmp_path / "cut"
    first = train(quick_args(tiny_bert, reviews, cut, "deebert", max_steps=3, **settings))
    assert not first["finished"] and first["stopped_by"] == "max_steps" and (cut / RESUME_DIR).is_dir()
    second = train(quick_args(tiny_bert, reviews, cut, "deebert", max_steps=7, resume=True, **settings))
    assert second["steps"] == 7 and not second["finished"]
    resumed = train(quick_args(tiny_bert, reviews, cut, "deebert", resume=True, **settings))
    assert resumed["finished"] and resumed["epochs_run"] == whole["epochs_run"] == 4
    assert resumed["dev_scores"] == whole["dev_scores"]
    assert resumed["best_epoch"] == whole["best_epoch"]
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(cut / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    again = train(quick_args(tiny_bert, reviews, cut, "deebert", resume=True, **settings))
    assert again["epochs_run"] == 4  # a finished run is not trained again


def test_resume_refuses_changed_settings(tiny_bert, reviews, tmp_path):
    train(quick_args(tiny_bert, reviews, tmp_path / "ck", epochs=2, max_steps=3))
    with pytest.raises(ValueError, match=r"lr: 0\.001 -> 0\.002"):
        train(quick_args(tiny_bert, reviews, tmp_path / "ck", epochs=2, lr=2e-3, resume=True))


def test_existing_out_needs_resume_or_overwrite(tiny_bert, reviews, tmp_path, capsys):
    out = tmp_path / "ck"
    train(quick_args(tiny_bert, reviews, out))
    with pytest.raises(ValueError, match="--resume .* or --overwrite"):
        train(quick_args(tiny_bert, reviews, out))
    (out / "eval.json").write_text("{}")
    train(quick_args(tiny_bert, reviews, out, overwrite=True))
    assert not (out / "eval.json").exists()  # overwrite starts from an empty folder
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "cat.jpg").write_text("meow")
    with pytest.raises(ValueError, match="not an eeviz training folder"):
        train(quick_args(tiny_bert, reviews, stranger, overwrite=True))
    assert (stranger / "cat.jpg").exists()


# ------------------------------------------------------------------------------------------ pieces
def test_epoch_batches_order_and_sharding():
    one = epoch_batches(10, 4, seed=1, phase=0, epoch=0)
    assert [len(b) for b in one] == [4, 4, 2] and sorted(sum(one, [])) == list(range(10))
    assert epoch_batches(10, 4, 1, 0, 0) == one  # a function of (seed, phase, epoch)
    assert epoch_batches(10, 4, 1, 0, 1) != one
    ranks = [epoch_batches(10, 4, 1, 0, 0, rank=r, world=2) for r in (0, 1)]
    assert [len(b) for b in ranks[0]] == [4, 4] == [len(b) for b in ranks[1]]  # padded to 16: equal steps
    flat = sum((ranks[0][s] + ranks[1][s] for s in range(2)), [])
    order = np.random.default_rng([1, 0, 0]).permutation(10).tolist()
    assert flat == order + order[:6]  # global batches split between ranks, wrapped around at the end


def test_lr_factor_schedules():
    # 10 steps, 2 of warmup: 0, .5, then linear decay from 1 to 0 over the remaining 8
    assert [lr_factor(s, 10, 2, "linear") for s in (0, 1, 2, 6, 10)] == [0.0, 0.5, 1.0, 0.5, 0.0]
    assert [lr_factor(s, 10, 2, "constant") for s in (1, 2, 9)] == [0.5, 1.0, 1.0]


def test_optimizer_state_round_trip():
    params = [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2, 2))]
    opt = torch.optim.AdamW([{"params": params[:1], "lr": 0.1}, {"params": params[1:], "lr": 0.2}])
    sum(p.sum() ** 2 for p in params).backward()
    opt.step()
    tensors, meta = flatten_optimizer(opt.state_dict())
    json.dumps(meta)  # the non-tensor part is plain JSON
    restored = unflatten_optimizer(tensors, json.loads(json.dumps(meta)))
    fresh = torch.optim.AdamW([{"params": params[:1], "lr": 0.1}, {"params": params[1:], "lr": 0.2}])
    fresh.load_state_dict(restored)
    for key in ("exp_avg", "exp_avg_sq", "step"):
        for p in params:
            assert torch.equal(fresh.state[p][key], opt.state[p][key])


def test_parse_field_value_by_type():
    assert parse_field_value("0.25", float, "x") == 0.25
    assert parse_field_value("3", int, "x") == 3
    assert parse_field_value("True", bool, "x") is True and parse_field_value("no", bool, "x") is False
    assert parse_field_value("none", float | None, "x") is None
    assert parse_field_value("1e-4", float | None, "x") == 1e-4
    assert parse_field_value("sampling", str, "x") == "sampling"
    assert parse_field_value("[1, 2]", tuple[int, ...], "x") == [1, 2]
    with pytest.raises(ValueError, match="--method-arg n: expected int, got 'many'"):
        parse_field_value("many", int, "n")
    with pytest.raises(ValueError, match="expected bool"):
        parse_field_value("maybe", bool, "flag")


@pytest.mark.parametrize("method", available_methods())
def test_method_args_round_trip_every_field(method):
    args_cls = get_method(method).Args
    defaults = dataclasses.asdict(args_cls())
    pairs = [f"{k}={'none' if v is None else (json.dumps(v) if isinstance(v, (list, tuple)) else v)}"
             for k, v in defaults.items()]
    assert method_args_dict(method, {}, pairs) == json.loads(json.dumps(defaults))
    with pytest.raises(ValueError, match=f"method '{method}' has no argument 'no_such_arg'"):
        method_args_dict(method, {}, ["no_such_arg=1"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        method_args_dict(method, {}, ["novalue"])


def test_defaults_come_from_the_table_and_flags_win(tiny_bert, reviews):
    args = resolve_args("pabee", "x", {"backbone": tiny_bert, "task": reviews, "lr": 5e-5})
    table = method_defaults("pabee")
    assert args.lr == 5e-5 and args.batch_size == table.batch_size and args.schedule == table.schedule
    assert args.patience_epochs == table.patience_epochs


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("method", available_methods())
def test_presets_resolve_for_every_method(preset, method):
    train_values, method_values = PRESETS[preset].settings(method)
    args = resolve_args(method, f"out/{method}", {}, train_values, [], method_values)
    assert args.finetune == train_values.get("finetune", args.finetune)


def test_demo_preset_trains_then_evaluates(tiny_bert, reviews, tmp_path):
    # flags win over the preset: the tiny backbone and data stand in for minilm and rotten_tomatoes
    flags = dict(backbone=tiny_bert, task=reviews, max_steps=2, device="cpu", batch_size=4)
    outs = run_preset("demo", str(tmp_path), flags, [], methods=["pabee"])
    assert outs == [tmp_path / "pabee"]
    config = json.loads((tmp_path / "pabee" / "config.json").read_text())["model"]
    assert config["finetune"] == "lora" and config["max_length"] == PRESETS["demo"].train["max_length"]
    evaluation = json.loads((tmp_path / "pabee" / "eval.json").read_text())
    assert evaluation["split"] == "test" and evaluation["num_examples"] == 6


def test_a_limited_preset_run_prints_its_sweeps_and_stores_none(tiny_bert, reviews, tmp_path, capsys):
    """The README's smoke test (``--limit 64``) stored defaults chosen on 64 dev rows and a 64-row eval.json,
    which ``eeviz report`` then refused for every checkpoint; like ``eeviz evaluate --limit``, it prints only."""
    flags = dict(backbone=tiny_bert, task=reviews, max_steps=2, device="cpu", batch_size=4, limit=3)
    run_preset("demo", str(tmp_path), flags, [], methods=["pabee"])
    out = tmp_path / "pabee"
    assert (out / "config.json").is_file() and not (out / "eval.json").exists()
    assert not (out / "eval-dev.json").exists()
    model = json.loads((out / "config.json").read_text())["model"]
    assert not model.get("rule_defaults") and model.get("default_rule") is None, model
    printed = capsys.readouterr().out
    assert "the first 3 dev rows would choose (not stored)" in printed and "not written: a --limit run" in printed


def test_a_preset_evaluates_every_method_at_one_batch_size(tiny_bert, reviews, tmp_path):
    # wall speed-ups compare only at one batch size and thread count: the evaluation's, never the method's
    # training batch size (PABEE's demo run trains at 32, the others at 128)
    preset = PRESETS["demo"]
    start = preset.warm_start(available_methods())
    other = next(m for m in available_methods() if m != start)
    trained = {start: 4, other: 2}  # training batch sizes, both unlike the evaluation's
    for method, batch_size in trained.items():
        flags = dict(backbone=tiny_bert, task=reviews, max_steps=2, device="cpu", batch_size=batch_size, epochs=1)
        run_preset("demo", str(tmp_path), flags, [], methods=[method])
    for method in trained:
        evaluation = json.loads((tmp_path / method / "eval.json").read_text())
        assert evaluation["batch_size"] == preset.eval_batch_size == 128
        threads = preset.eval_cpu_threads
        assert evaluation["device"] == f"cpu ({threads} thread{'s' if threads != 1 else ''})"


def test_a_partial_preset_run_starts_from_the_warm_start_checkpoint(tiny_bert, reviews, tmp_path):
    # `--preset demo --method X` alone must not silently train X from the bare backbone
    preset = PRESETS["demo"]
    start = preset.warm_start(available_methods())
    other = next(m for m in available_methods() if m != start)
    flags = dict(backbone=tiny_bert, task=reviews, max_steps=2, device="cpu", batch_size=4, epochs=1)
    with pytest.raises(ValueError, match=f"starts every method from {start}'s backbone"):
        run_preset("demo", str(tmp_path), flags, [], methods=[other])
    run_preset("demo", str(tmp_path), flags, [], methods=[start])
    run_preset("demo", str(tmp_path), flags, [], methods=[other])
    metrics = json.loads((tmp_path / other / METRICS_FILE).read_text())
    assert metrics["train_args"]["init_from"] == str(tmp_path / start)


# ------------------------------------------------------------------------------------------ CLI errors
def run_cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_cli_unknown_method_and_task(capsys, tmp_path, tiny_bert, reviews):
    code, err = run_cli(capsys, "--method", "bogus", "--out", str(tmp_path / "a"))
    assert code == 2 and "unknown method 'bogus'" in err
    code, err = run_cli(capsys, "--method", "pabee", "--task", "no_such_task", "--backbone", tiny_bert,
                        "--out", str(tmp_path / "b"), "--device", "cpu")
    assert code == 2 and "Unknown task or file 'no_such_task'" in err
    code, err = run_cli(capsys, "--method", "pabee", "--task", reviews, "--backbone", tiny_bert,
                        "--out", str(tmp_path / "c"), "--method-arg", "alpha=1")
    assert code == 2 and "has no argument 'alpha'" in err


def test_cli_unwritable_out(capsys, tmp_path, tiny_bert, reviews):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run_cli(capsys, "--method", "pabee", "--task", reviews, "--backbone", tiny_bert,
                        "--out", str(blocker / "ck"), "--device", "cpu")
    assert code == 2 and "cannot write the checkpoint" in err


def test_regression_needs_a_method_that_supports_it(capsys, tmp_path, tiny_bert):
    unsupported = [m for m in available_methods() if not get_method(m).supports_regression]
    if not unsupported:
        pytest.skip("every available method supports regression")
    data = write_reviews(tmp_path / "scores.csv", regression=True)
    code, err = run_cli(capsys, "--method", unsupported[0], "--task", data, "--backbone", tiny_bert,
                        "--out", str(tmp_path / "ck"), "--device", "cpu")
    assert code == 2 and "regression task" in err and f"method '{unsupported[0]}' cannot" in err


def test_cli_trains_with_max_steps(capsys, tmp_path, tiny_bert, reviews):
    out = tmp_path / "ck"
    code, _ = run_cli(capsys, "--method", "pabee", "--task", reviews, "--backbone", tiny_bert, "--out", str(out),
                      "--batch-size", "4", "--epochs", "3", "--max-steps", "2", "--device", "cpu")
    metrics = json.loads((out / METRICS_FILE).read_text())
    assert code == 0 and metrics["steps"] == 2 and metrics["stopped_by"] == "max_steps"
    assert metrics["history"][0]["complete"] is False  # cut inside the first epoch (3 steps)


# ------------------------------------------------------------------------------------------ cached features
@pytest.fixture(scope="module")
def lora_start(tiny_bert, reviews, tmp_path_factory):
    """A LoRA checkpoint whose backbone the cached-feature runs start from (and must leave unchanged)."""
    start = tmp_path_factory.mktemp("start") / "pabee"
    train(quick_args(tiny_bert, reviews, start, "pabee", finetune="lora"))
    return start


@pytest.mark.parametrize("method", available_methods())
def test_cached_features_train_heads_on_a_frozen_encoder(tiny_bert, reviews, lora_start, tmp_path, method):
    # every method's loss runs on cached features; only the heads (and pooler) change, the encoder does not
    out = tmp_path / method
    metrics = train(quick_args(tiny_bert, reviews, out, method, finetune="lora", init_from=str(lora_start),
                               cached_features=True, epochs=3))
    assert metrics["finished"] and metrics["train_args"]["cached_features"]
    before, after = load_file(str(lora_start / "model.safetensors")), load_file(str(out / "model.safetensors"))
    encoder = [n for n in after if n.startswith("runner.") and "pooler" not in n]
    assert encoder and all(torch.equal(before[n], after[n]) for n in encoder)
    heads = [n for n in after if n.startswith("method.")]
    assert heads and load_checkpoint(out).trace("the movie was good").num_layers > 0


def test_cached_features_lower_the_loss(tiny_bert, reviews, lora_start, tmp_path):
    metrics = train(quick_args(tiny_bert, reviews, tmp_path / "heads", "deebert", finetune="lora",
                               init_from=str(lora_start), cached_features=True, epochs=8, dropout=0.0))
    losses = [h["train_loss"] for h in metrics["history"] if h["phase"] == metrics["history"][-1]["phase"]]
    assert losses[-1] < losses[0]
