"""Training under bad settings and faults: non-finite settings and losses, strict JSON, crashes inside saves."""

import json
import math
import os
import random
import shutil

import pytest
import torch
from safetensors.torch import load_file

from eeviz.checkpoint import CheckpointLayout
from eeviz.methods import available_methods
from eeviz.train import main, resolve_args, train
from eeviz.training.optim import LossModule

METHOD = available_methods()[0]


def write_reviews(path, rows: int = 24) -> str:
    """A tiny review CSV with an explicit split column: half train, a quarter dev, a quarter test."""
    rng = random.Random(0)
    lines = ["text,label,split"]
    for i in range(rows):
        positive = i % 2 == 1
        word = rng.choice(["good", "great", "fun"] if positive else ["bad", "awful", "dull"])
        split = "train" if i < rows // 2 else ("dev" if i < 3 * rows // 4 else "test")
        lines.append(f"the movie was {word} and the plot was {word},{'pos' if positive else 'neg'},{split}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    return write_reviews(tmp_path_factory.mktemp("data") / "reviews.csv")


@pytest.fixture(scope="module")
def tiny_bert(tiny_backbones):
    return tiny_backbones["bert"]


def quick_args(tiny_bert, reviews, out, **overrides):
    flags = dict(backbone=tiny_bert, task=reviews, batch_size=4, epochs=1, lr=1e-3, warmup_ratio=0.0,
                 patience_epochs=0, device="cpu")
    flags.update(overrides)
    return resolve_args(METHOD, str(out), flags)


def strict_json(path):
    """Parse ``path`` as strict JSON: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


# ------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("name, value, message", [
    ("lr", math.nan, "--lr must be a positive finite number"),
    ("lr", math.inf, "--lr must be a positive finite number"),
    ("lr", -1e-3, "--lr must be a positive finite number"),
    ("weight_decay", -0.01, "--weight-decay must be a finite number >= 0"),
    ("weight_decay", math.nan, "--weight-decay must be a finite number >= 0"),
    ("max_grad_norm", math.inf, "--max-grad-norm must be a finite number >= 0"),
    ("warmup_ratio", math.nan, "--warmup-ratio must be in"),
    ("dropout", math.nan, "--dropout must be in"),
    ("dropout", 1.5, "--dropout must be in"),
])
def test_non_finite_or_out_of_range_settings_are_refused(name, value, message):
    with pytest.raises(ValueError, match=message):
        resolve_args(METHOD, "out", {name: value})


def test_cli_refuses_nan_settings_before_training(capsys, tmp_path):
    code = main(["--method", METHOD, "--out", str(tmp_path / "ck"), "--lr", "nan"])
    assert code == 2 and "--lr must be a positive finite number, not nan" in capsys.readouterr().err
    code = main(["--method", METHOD, "--out", str(tmp_path / "ck"), "--weight-decay", "-1"])
    assert code == 2 and "--weight-decay must be a finite number >= 0" in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()


def test_method_arguments_must_be_finite():
    from eeviz.training.args import parse_field_value

    for text in ("nan", "inf", "-Infinity"):
        with pytest.raises(ValueError, match="expected a finite number"):
            parse_field_value(text, float, "x")


# ------------------------------------------------------------------------------------------ non-finite loss
@pytest.fixture
def loss_turns_nan_at_step_5(monkeypatch):
    real, calls = LossModule.forward, {"n": 0}

    def forward(self, batch, phase):
        calls["n"] += 1
        loss = real(self, batch, phase)
        return loss * math.nan if calls["n"] >= 5 else loss

    monkeypatch.setattr(LossModule, "forward", forward)


def test_training_stops_when_the_loss_becomes_non_finite(tiny_bert, reviews, tmp_path, loss_turns_nan_at_step_5):
    out = tmp_path / "ck"
    # 12 rows / batch 4: epoch 1 (steps 1-3) is fine and saved; step 5, in epoch 2, gives a NaN loss
    with pytest.raises(ValueError, match=r"the loss became nan at step 5 .*no weights from that step were saved"):
        train(quick_args(tiny_bert, reviews, out, epochs=2))
    weights = load_file(str(CheckpointLayout(out).weights))
    assert all(torch.isfinite(t).all() for t in weights.values())  # the last good epoch's checkpoint
    metrics = strict_json(CheckpointLayout(out).metrics)
    assert metrics["stopped_by"] == "non-finite loss" and not metrics["finished"] and metrics["steps"] == 4


def test_cli_reports_a_non_finite_loss(capsys, tiny_bert, reviews, tmp_path, loss_turns_nan_at_step_5):
    code = main(["--method", METHOD, "--task", reviews, "--backbone", tiny_bert, "--out", str(tmp_path / "ck"),
                 "--batch-size", "4", "--epochs", "2", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "error: training stopped: the loss became nan" in err and "--lr" in err


def test_metrics_json_is_strict_json_when_scores_are_not_finite(tiny_bert, reviews, tmp_path, monkeypatch):
    from eeviz.training import trainer

    real = trainer.dev_scores

    def undefined_scores(*args, **kwargs):
        dev = real(*args, **kwargs)
        return {**dev, "rule_score": math.nan, "mean_exit_layer": math.inf}

    monkeypatch.setattr(trainer, "dev_scores", undefined_scores)
    out = tmp_path / "ck"
    train(quick_args(tiny_bert, reviews, out, epochs=1, max_steps=2))  # unfinished: metrics.json alone
    assert strict_json(CheckpointLayout(out).metrics)["history"][0]["dev"]["rule_score"] is None
    train(quick_args(tiny_bert, reviews, out, epochs=1, resume=True))  # finished: inside the checkpoint
    dev = strict_json(CheckpointLayout(out).metrics)["history"][-1]["dev"]
    assert dev["rule_score"] is None and dev["mean_exit_layer"] is None


# ------------------------------------------------------------------------------------------ crashes in saves
class Crash(BaseException):
    """The process dies here: nothing after it touches the disk (no cleanup, no except blocks)."""


def file_operations(monkeypatch, crash_at: int | None = None) -> list[str]:
    """Count (and log) every os.replace and shutil.rmtree; with ``crash_at``, die just before that one."""
    log, dead = [], []
    for module, name in ((os, "replace"), (shutil, "rmtree")):
        real = getattr(module, name)

        def operation(*args, real=real, name=name, **kwargs):
            if dead:
                return None
            log.append(f"{name} {os.path.basename(args[0])}")
            if crash_at is not None and len(log) == crash_at:
                dead.append(True)
                raise Crash()
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, operation)
    return log


def test_resume_recovers_from_a_crash_at_every_step_of_every_save(tiny_bert, reviews, tmp_path, monkeypatch):
    # 2 epochs of 1 step: checkpoint saves (with .resume/ parked beside OUT), resume-state saves (the old
    # state moved aside), metrics.json writes and the final cleanup, each cut at every file operation
    settings = dict(epochs=2, batch_size=12)
    with monkeypatch.context() as patch:
        operations = file_operations(patch)
        whole = train(quick_args(tiny_bert, reviews, tmp_path / "whole", **settings))
    reference = load_file(str(tmp_path / "whole" / "model.safetensors"))
    assert any(op.startswith("replace .resume") for op in operations)  # the parked / old states were reached
    assert len(operations) >= 12, operations
    for crash_at in range(1, len(operations) + 1):
        out = tmp_path / f"crash{crash_at}"
        with monkeypatch.context() as patch:
            file_operations(patch, crash_at=crash_at)
            with pytest.raises(Crash):
                train(quick_args(tiny_bert, reviews, out, **settings))
        resumed = train(quick_args(tiny_bert, reviews, out, resume=True, **settings))
        where = f"crash before operation {crash_at} ({operations[crash_at - 1]})"
        assert resumed["finished"] and resumed["dev_scores"] == whole["dev_scores"], where
        weights = load_file(str(out / "model.safetensors"))
        assert weights.keys() == reference.keys() and all(torch.equal(weights[k], reference[k]) for k in weights), where
        leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}"))
        leftovers += sorted(p.name for p in out.iterdir() if p.name.startswith("."))
        assert not leftovers, f"{where}: {leftovers}"


def test_a_fresh_run_does_not_ignore_an_interrupted_one(tiny_bert, reviews, tmp_path, monkeypatch):
    out = tmp_path / "ck"
    train(quick_args(tiny_bert, reviews, out, epochs=2, max_steps=3))
    os.replace(out, CheckpointLayout(out).old)  # the crash window of the issue: OUT moved aside, new one not in
    with pytest.raises(ValueError, match="--resume .* or --overwrite"):
        train(quick_args(tiny_bert, reviews, out, epochs=2))
    train(quick_args(tiny_bert, reviews, out, epochs=2, overwrite=True))
    assert not CheckpointLayout(out).old.exists() and not CheckpointLayout(out).resume.exists()
