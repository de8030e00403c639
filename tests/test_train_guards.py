"""The training command line guards what --out holds: --overwrite loses nothing until the new run saved,
flags that contradict each other or point elsewhere are refused, resume after --max-steps, inputs longer
than the backbone's positions."""

import hashlib
import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file

from eeviz.checkpoint import CheckpointLayout
from eeviz.methods import available_methods
from eeviz.train import main, resolve_args, train
from eeviz.training.optim import LossModule
from eeviz.training.resume import overwritten, recover_run_folder
from eeviz.training.trainer import Trainer

from test_train import write_reviews
from test_train_reliability import Crash, file_operations

METHOD = available_methods()[0]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    return write_reviews(tmp_path_factory.mktemp("data") / "reviews.csv")


def quick_args(tiny_bert, reviews, out, **overrides):
    flags = dict(backbone=tiny_bert, task=reviews, batch_size=4, epochs=1, lr=1e-3, warmup_ratio=0.0,
                 patience_epochs=0, device="cpu")
    flags.update(overrides)
    return resolve_args(METHOD, str(out), flags)


def cli(tiny_bert, reviews, out, *extra) -> list[str]:
    return ["--method", METHOD, "--backbone", tiny_bert, "--task", reviews, "--out", str(out), "--batch-size", "4",
            "--epochs", "1", "--device", "cpu", *extra]


def folder_digest(folder) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256): equal digests, equal folders."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tiny_bert, reviews, tmp_path_factory):
    """A finished run (seed 1) with an eval.json beside it: what --overwrite must not lose by failing."""
    out = tmp_path_factory.mktemp("old") / "ck"
    train(quick_args(tiny_bert, reviews, out, seed=1))
    (out / "eval.json").write_text("{}")
    return out


@pytest.fixture
def old_run(finished_run, tmp_path):
    out = tmp_path / "ck"
    shutil.copytree(finished_run, out)
    return out


# ------------------------------------------------------------------------------------------ --overwrite
@pytest.mark.parametrize("bad", ["backbone", "init_from", "no_dev"])
def test_overwrite_that_fails_to_start_keeps_the_old_run(bad, tiny_bert, reviews, old_run, tmp_path, capsys):
    before = folder_digest(old_run)
    argv = cli(tiny_bert, reviews, old_run, "--overwrite")
    if bad == "backbone":
        argv += ["--backbone", "minlm"]  # a typo: neither an alias, a folder nor reachable on the hub
    elif bad == "init_from":
        argv += ["--init-from", str(tmp_path / "nope")]
    else:
        lines = open(reviews).read().splitlines()
        no_dev = tmp_path / "small.csv"
        no_dev.write_text("\n".join(line for line in lines if not line.endswith(",dev")) + "\n")
        argv += ["--task", str(no_dev)]
    assert main(argv) == 2 and "error:" in capsys.readouterr().err
    assert folder_digest(old_run) == before
    assert not overwritten(old_run).exists()


def test_overwrite_whose_training_fails_keeps_the_old_run(tiny_bert, reviews, old_run, monkeypatch, capsys):
    before = folder_digest(old_run)
    monkeypatch.setattr(LossModule, "forward", lambda self, batch, phase: torch.tensor(math.nan))
    with pytest.raises(ValueError, match="the loss became nan at step 1"):
        train(quick_args(tiny_bert, reviews, old_run, seed=2, overwrite=True))
    assert "the earlier run there is kept as it was" in capsys.readouterr().out
    assert folder_digest(old_run) == before and not overwritten(old_run).exists()


def test_overwrite_replaces_the_old_run_once_the_new_one_saved(tiny_bert, reviews, old_run, monkeypatch):
    saves = []
    real = Trainer.save_checkpoint

    def save(self, finished):
        real(self, finished)
        saves.append(overwritten(old_run).exists())  # after the first save the old run is gone

    monkeypatch.setattr(Trainer, "save_checkpoint", save)
    metrics = train(quick_args(tiny_bert, reviews, old_run, seed=2, epochs=2, overwrite=True))
    assert saves and not any(saves)
    assert metrics["finished"] and metrics["train_args"]["seed"] == 2
    assert not (old_run / "eval.json").exists()  # the new run starts from an empty folder


def test_a_crash_inside_an_overwrite_leaves_the_old_run_or_the_new_one(tiny_bert, reviews, finished_run,
                                                                       tmp_path, monkeypatch):
    # cut the overwriting run at every file operation (the process dies there); the next command finds the
    # old run back in place (the new one had not saved) or the new run's checkpoint, never an empty --out
    old_weights = load_file(str(CheckpointLayout(finished_run).weights))
    settings = dict(seed=2, epochs=2, batch_size=12, overwrite=True)
    reference = tmp_path / "reference"
    shutil.copytree(finished_run, reference)
    with monkeypatch.context() as patch:
        operations = file_operations(patch)
        train(quick_args(tiny_bert, reviews, reference, **settings))
    assert operations[0] == f"replace {reference.name}"  # moved aside first, after everything loaded
    outcomes = set()
    for crash_at in range(1, len(operations) + 1):
        out = tmp_path / f"crash{crash_at}"
        shutil.copytree(finished_run, out)
        with monkeypatch.context() as patch:
            file_operations(patch, crash_at=crash_at)
            with pytest.raises(Crash):
                train(quick_args(tiny_bert, reviews, out, **settings))
        with pytest.raises(ValueError, match="--resume .* or --overwrite"):
            train(quick_args(tiny_bert, reviews, out, seed=2, epochs=2, batch_size=12))
        where = f"crash before operation {crash_at} ({operations[crash_at - 1]})"
        assert not overwritten(out).exists(), where
        recover_run_folder(out)  # what --resume does first: a later save of the new run may have been cut too
        seed = json.loads(CheckpointLayout(out).metrics.read_text())["train_args"]["seed"]
        if seed == 1:
            weights = load_file(str(CheckpointLayout(out).weights))
            assert all(torch.equal(weights[k], old_weights[k]) for k in old_weights), where
            assert (out / "eval.json").exists(), where
        outcomes.add(seed)
    assert outcomes == {1, 2}


# ------------------------------------------------------------------------------------------ flags
def test_out_and_preset_exclude_each_other(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where the preset's default --out-dir (checkpoints) would be
    missing = str(tmp_path / "no-such-task.csv")  # should a run start after all, it stops at once
    with pytest.raises(SystemExit) as exit_:
        main(["--preset", "demo", "--method", METHOD, "--out", str(tmp_path / "x"), "--task", missing])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--out names one run's folder" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as exit_:
        main(["--method", METHOD, "--out", str(tmp_path / "x"), "--out-dir", str(tmp_path / "y"), "--task", missing])
    assert exit_.value.code == 2 and "--out-dir is the parent folder of a --preset's runs" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_resume_and_overwrite_contradict_each_other(tiny_bert, reviews, old_run, capsys):
    before = folder_digest(old_run)
    assert main(cli(tiny_bert, reviews, old_run, "--resume", "--overwrite")) == 2
    assert "--resume and --overwrite contradict each other" in capsys.readouterr().err
    assert folder_digest(old_run) == before


def test_lora_rank_needs_lora_fine_tuning(tiny_bert, reviews, tmp_path, capsys):
    for extra in (["--finetune", "full", "--lora-rank", "4"], ["--lora-rank", "4"]):
        assert main(cli(tiny_bert, reviews, tmp_path / "ck", *extra)) == 2
        assert "--lora-rank sets the rank of LoRA adapters" in capsys.readouterr().err
    assert not (tmp_path / "ck").exists()
    assert resolve_args(METHOD, "x", {"finetune": "lora", "lora_rank": 4}).lora_rank == 4
    # a preset's rank under an explicit --finetune full is harmless: the run just has no adapters
    assert resolve_args(METHOD, "x", {"finetune": "full"}, {"finetune": "lora", "lora_rank": 8}).finetune == "full"


def test_cached_features_without_init_from_train_on_the_pretrained_encoder(tiny_bert, reviews, tmp_path, capsys):
    metrics = train(quick_args(tiny_bert, reviews, tmp_path / "ck", cached_features=True, finetune="lora"))
    assert metrics["finished"]
    assert "--cached-features without --init-from" in capsys.readouterr().out


def test_resume_refuses_a_folder_that_holds_no_run(tiny_bert, reviews, tmp_path):
    stranger = tmp_path / "photos"
    (stranger / "album").mkdir(parents=True)
    (stranger / "album" / "cat.jpg").write_text("meow")
    with pytest.raises(ValueError, match="not an eeviz training folder: --resume has no run there"):
        train(quick_args(tiny_bert, reviews, stranger, resume=True))
    assert (stranger / "album" / "cat.jpg").read_text() == "meow"


# ------------------------------------------------------------------------------------------ --max-steps, --resume
def test_a_run_cut_inside_its_first_epoch_resumes_to_the_uninterrupted_result(tiny_bert, reviews, tmp_path, capsys):
    settings = dict(epochs=2)  # 12 rows, batch 4: 3 steps per epoch
    whole = train(quick_args(tiny_bert, reviews, tmp_path / "whole", **settings))
    cut = tmp_path / "cut"
    first = train(quick_args(tiny_bert, reviews, cut, max_steps=1, **settings))
    assert first["stopped_by"] == "max_steps" and not first["finished"]
    assert "continues it from step 1 (no epoch finished)" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"--resume needs the interrupted run's settings; .*lr: 0\.001 -> 0\.002"):
        train(quick_args(tiny_bert, reviews, cut, resume=True, **{**settings, "lr": 2e-3}))
    resumed = train(quick_args(tiny_bert, reviews, cut, resume=True, **settings))
    out = capsys.readouterr().out
    assert "starting it again from step 1" in out and "no resume state found" not in out
    assert resumed["finished"] and resumed["dev_scores"] == whole["dev_scores"]
    a, b = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(cut / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_max_steps_message_says_where_resume_continues(tiny_bert, reviews, tmp_path, capsys):
    train(quick_args(tiny_bert, reviews, tmp_path / "ck", epochs=2, max_steps=4))  # one step into epoch 2
    assert "continues it after epoch 1 (the last finished one" in capsys.readouterr().out
    resumed = train(quick_args(tiny_bert, reviews, tmp_path / "ck", epochs=2, resume=True))
    assert "resuming" in capsys.readouterr().out and resumed["finished"] and resumed["steps"] == 6


# ------------------------------------------------------------------------------------------ --max-length
def test_max_length_is_cut_at_the_backbones_positions(tiny_bert, tmp_path, capsys):
    # the tiny backbone has 64 positions; the default --max-length is 128 and these reviews are longer
    lines = ["text,label,split"]
    for i in range(24):
        word = "good" if i % 2 else "bad"
        split = "train" if i < 12 else ("dev" if i < 18 else "test")
        lines.append(f"{' '.join(['the movie was', word] * 30)},{'pos' if i % 2 else 'neg'},{split}")
    data = tmp_path / "long.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "ck"
    assert main(cli(tiny_bert, str(data), out)) == 0
    printed = capsys.readouterr().out
    # --max-length not given: the default is no request of the user's, so no warning about it, only the fact
    assert "--max-length" not in printed and "the backbone reads at most 64 tokens: inputs are cut there" in printed
    assert json.loads(CheckpointLayout(out).config.read_text())["model"]["max_length"] == 64
    assert main(cli(tiny_bert, str(data), tmp_path / "asked", "--max-length", "100")) == 0
    assert "--max-length 100 is more than the backbone's 64 positions: inputs are cut at 64 tokens" in \
        capsys.readouterr().out
