"""Save/load round trips give identical outputs; broken checkpoints give clear errors."""

import json
import subprocess
import sys

import pytest
import torch

from eeviz.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from eeviz.config import ModelConfig
from eeviz.model import build_model

TEXTS = ["the movie is good", "bad plot and awful acting"]


def perturb(model):
    # move every trainable weight away from its initial value so a round trip that drops one shows
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("kind", ["bert", "roberta", "albert"])
@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_round_trip_identical(tiny_backbones, tmp_path, kind, finetune):
    cfg = ModelConfig(backbone=tiny_backbones[kind], method="deebert", finetune=finetune, lora_rank=2)
    model = perturb(build_model(cfg)).eval()
    save_checkpoint(model, tmp_path / "ck")
    loaded = load_checkpoint(tmp_path / "ck", merge=False)
    batch = model.tokenize(TEXTS)
    with torch.no_grad():
        a, _ = model.forward_all(batch)
        b, _ = loaded.forward_all(loaded.tokenize(TEXTS))
    assert torch.equal(a["logits"], b["logits"])
    merged = load_checkpoint(tmp_path / "ck", merge=True)
    with torch.no_grad():
        c, _ = merged.forward_all(merged.tokenize(TEXTS))
    torch.testing.assert_close(a["logits"], c["logits"], atol=1e-5, rtol=1e-5)


def test_full_checkpoint_is_self_contained(tiny_bert, tmp_path):
    import shutil

    backbone = tmp_path / "bb"
    shutil.copytree(tiny_bert, backbone)
    model = perturb(build_model(ModelConfig(backbone=str(backbone), method="pabee"))).eval()
    save_checkpoint(model, tmp_path / "ck")
    shutil.rmtree(backbone)  # the original backbone folder is gone: the checkpoint still loads
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.trace("the movie is good").num_layers == model.num_layers


def test_lora_checkpoint_stores_only_trained_weights(tiny_bert, tmp_path):
    from safetensors.torch import load_file

    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee", finetune="lora", lora_rank=2))
    save_checkpoint(model, tmp_path / "ck")
    names = load_file(str(tmp_path / "ck" / "model.safetensors")).keys()
    assert not any("word_embeddings" in n or n.endswith("query.weight") for n in names)
    assert any("lora_A" in n for n in names) and any(n.startswith("method.") for n in names)


def test_missing_and_corrupt_checkpoints(tiny_bert, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(tmp_path / "file.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint(empty)
    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee"))
    ck = save_checkpoint(model, tmp_path / "ck")
    (ck / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(ck)
    save_checkpoint(model, ck)
    (ck / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(ck)
    (ck / "config.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not an eeviz checkpoint config"):
        load_checkpoint(ck)


def test_wrong_model_pair_is_reported(tiny_backbones, tmp_path):
    pabee = save_checkpoint(build_model(ModelConfig(backbone=tiny_backbones["bert"], method="pabee")), tmp_path / "a")
    deebert = save_checkpoint(build_model(ModelConfig(backbone=tiny_backbones["bert"], method="deebert")), tmp_path / "b")
    # weights of one method under the config of another
    (pabee / "model.safetensors").write_bytes((deebert / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(pabee)


def test_trace_cli_text_and_json(tiny_bert, tmp_path):
    ck = save_checkpoint(build_model(ModelConfig(backbone=tiny_bert, method="pabee")), tmp_path / "ck")
    run = lambda *a: subprocess.run([sys.executable, "-m", "eeviz.trace", "--checkpoint", str(ck), *a],
                                    capture_output=True, text=True, timeout=120)
    out = run("--text", "the movie is <b>good</b>")
    assert out.returncode == 0, out.stderr
    assert "rule patience" in out.stdout and "exit at layer" in out.stdout
    js = run("--text", "the movie is good", "--json", "--set", "patience.patience=0")
    data = json.loads(js.stdout)
    assert len(data["logits"]) == 3 and data["decisions"]["patience"]["exit_layer"] == 3
    bad = run("--text", "   ")
    assert bad.returncode == 2 and "empty" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "eeviz.trace", "--checkpoint", str(tmp_path / "x"), "--text", "hi"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_a_saved_checkpoint_has_the_permissions_the_umask_gives(tiny_bert, tmp_path):
    """Another user on the machine (the app's) can read a checkpoint trained under umask 022: its folder was
    mkdtemp's owner-only 0700."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        ck = save_checkpoint(build_model(ModelConfig(backbone=tiny_bert, method="pabee", finetune="full")),
                             tmp_path / "ck", extra_files={"metrics.json": {}})
    finally:
        os.umask(old)
    assert stat.S_IMODE(ck.stat().st_mode) == 0o755
    entries = list(ck.rglob("*"))
    assert len(entries) > 3  # weights, config, metrics, the tokenizer folder and its files
    for entry in entries:
        assert stat.S_IMODE(entry.stat().st_mode) == (0o755 if entry.is_dir() else 0o644), entry
