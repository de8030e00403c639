"""Broken or hostile checkpoint folders: one clear CheckpointError naming the folder, never anything else.

A checkpoint file is data: it may not make the app download from the hub or read folders outside the backbone
root, and one bad folder must leave the other checkpoints of a listing usable.
"""

import json
import pickle
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from eeviz.backbone import BackboneError, checkpoint_backbone
from eeviz.catalog import find_checkpoints
from eeviz.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from eeviz.config import ModelConfig
from eeviz.model import build_model, encode_texts


@pytest.fixture(scope="module")
def saved(tiny_bert, tmp_path_factory):
    """A good full and a good LoRA checkpoint (copied by each test that breaks one)."""
    root = tmp_path_factory.mktemp("good")
    full = save_checkpoint(build_model(ModelConfig(backbone=tiny_bert, method="pabee")), root / "full")
    lora = save_checkpoint(
        build_model(ModelConfig(backbone=tiny_bert, method="pabee", finetune="lora", lora_rank=2)), root / "lora"
    )
    return {"full": full, "lora": lora}


def copy_of(saved, kind, dest):
    shutil.copytree(saved[kind], dest)
    return dest


def edit_config(folder, change):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config).replace('"<1e309>"', "1e309"))  # a literal JSON parses to inf


def set_model_field(name, value):
    return lambda config: config["model"].__setitem__(name, value)


def expect_clear_error(folder, match, **kwargs):
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(folder, **kwargs)
    assert str(folder) in str(info.value) or folder.name in str(info.value)
    return str(info.value)


# ------------------------------------------------------------------------------------ config schema (item 3)
BAD_CONFIGS = {
    "version_x": (lambda c: c.__setitem__("version", "x"), "'version' is 'x'"),
    "model_abc": (lambda c: c.__setitem__("model", "abc"), "must be a JSON object"),
    "lora_rank_negative": (set_model_field("lora_rank", -1), "'lora_rank' is -1"),
    "max_length_abc": (set_model_field("max_length", "abc"), "'max_length' is 'abc'"),
    "max_length_overflow": (set_model_field("max_length", "<1e309>"), "'max_length' is inf"),
    "nan_constant": (set_model_field("lora_alpha", float("nan")), "NaN is not valid JSON"),
    "dropout_too_high": (set_model_field("classifier_dropout", 1.5), "'classifier_dropout' is 1.5"),
    "pooling_max": (set_model_field("pooling", "max"), "'pooling' is 'max'"),
    "method_unknown": (set_model_field("method", "nosuchmethod"), "nosuchmethod"),
    "labels_number": (set_model_field("labels", 5), "'labels' is 5"),
    "labels_repeated": (set_model_field("labels", ["x", "y", "x"]), "'labels' repeats 'x': each name must be"),
    "no_model": (lambda c: c.pop("model"), 'has no "model" object'),
    # below the tokenizer's special tokens + one word the tokenizer cuts nothing ([CLS] quoted as unread)
    "max_length_1": (set_model_field("max_length", 1), "max_length 1 is too small: .* at least 3"),
    "max_length_2": (set_model_field("max_length", 2), "max_length 2 is too small"),
    "no_model_type": (lambda c: c["backbone_config"].pop("model_type"), "model_type"),
    # the values a default rule then runs with: refused as typed ones are, not clamped or truncated silently
    "rule_default_out_of_range": (set_model_field("rule_defaults", {"patience": 999}),
                                  r"rule_defaults: patience.patience=999 is out of range; .* from 0 to 24"),
    "rule_default_fraction": (set_model_field("rule_defaults", {"patience": 2.5}), "not a whole number"),
    "rule_default_object": (set_model_field("rule_defaults", {"patience": {"a": 1}}), "not a finite number"),
}


# problems found when the model is built, not when the folder is listed
LOAD_TIME = {"no_model_type", "rule_default_out_of_range", "rule_default_fraction", "rule_default_object",
             "max_length_1", "max_length_2"}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_values_give_one_clear_error(saved, tmp_path, case):
    change, match = BAD_CONFIGS[case]
    folder = copy_of(saved, "full", tmp_path / case)
    edit_config(folder, change)
    expect_clear_error(folder, match)


def test_a_max_length_past_the_backbones_positions_reads_as_many_as_it_has(saved, tmp_path):
    folder = copy_of(saved, "full", tmp_path / "long")
    edit_config(folder, set_model_field("max_length", 100000))
    model = load_checkpoint(folder)
    positions = model.runner.config.max_position_embeddings
    assert model.cfg.max_length == positions  # what the app's "the input was cut" notice reads
    trace = model.trace("word " * (2 * positions))  # failed inside the embeddings: more positions than it has
    assert len(trace.tokens) == positions


def test_the_shortest_max_length_reads_one_word_and_says_what_it_cut(saved, tmp_path):
    from eeviz.truncation import find_cut, shortest_max_length

    folder = copy_of(saved, "full", tmp_path / "short")
    least = shortest_max_length(load_checkpoint(saved["full"]).tokenizer, pair=False)
    edit_config(folder, set_model_field("max_length", least))
    model = load_checkpoint(folder)
    assert len(model.trace("the acting was good").tokens) == least
    cut = find_cut(model.tokenizer, "the acting was good", None, least)
    assert cut.unread_text == "acting was good"
    with pytest.raises(ValueError, match="too small"):  # the same check wherever a batch is encoded
        encode_texts(model.tokenizer, ["the film"], ["a pair"], least)


def test_non_utf8_config(saved, tmp_path):
    folder = copy_of(saved, "full", tmp_path / "latin1")
    (folder / "config.json").write_bytes(b'{"format": "eeviz-checkpoint", "model": {"task": "caf\xe9"}}')
    expect_clear_error(folder, "not UTF-8")


def test_unknown_model_type(saved, tmp_path):
    folder = copy_of(saved, "full", tmp_path / "unknown_type")
    edit_config(folder, lambda c: c["backbone_config"].__setitem__("model_type", "no-such-architecture"))
    expect_clear_error(folder, "backbone_config")


def test_method_args_of_the_wrong_type(saved, tmp_path):
    folder = copy_of(saved, "full", tmp_path / "args")
    edit_config(folder, lambda c: c["model"].update(method="elbert", method_args={"weight_init": "abc"}))
    expect_clear_error(folder, "checkpoint")


# ------------------------------------------------------------------------------------ backbones (items 3, 4)
def test_lora_backbone_that_is_not_a_model(saved, tmp_path):
    junk = tmp_path / "junk_backbone"
    junk.mkdir()
    (junk / "config.json").write_text('{"hello": 1}')
    folder = copy_of(saved, "lora", tmp_path / "ck")
    edit_config(folder, set_model_field("backbone", str(junk)))
    expect_clear_error(folder, "needs backbone")


def test_backbone_pickle_refused_by_weights_only(saved, tiny_bert, tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    backbone = tmp_path / "pickled"
    shutil.copytree(tiny_bert, backbone)
    for weights in backbone.glob("*.safetensors"):
        weights.unlink()
    with open(backbone / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"x": Payload()}, fh)
    folder = copy_of(saved, "lora", tmp_path / "ck")
    edit_config(folder, set_model_field("backbone", str(backbone)))
    expect_clear_error(folder, "needs backbone")


def test_backbone_folder_outside_the_root_is_refused(saved, tiny_bert, tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(tiny_bert, root / "tiny")
    monkeypatch.setenv("EEVIZ_BACKBONE_ROOT", str(root))
    folder = copy_of(saved, "lora", tmp_path / "ck")
    # the tiny backbone's own folder is outside this root now
    message = expect_clear_error(folder, "not a folder inside the backbone root")
    assert "EEVIZ_BACKBONE_ROOT" in message
    for escape in (str(root / ".." / "ck"), "../ck", "~", "/etc"):
        with pytest.raises(BackboneError):
            checkpoint_backbone(escape)
    # inside the root: by a relative name or an absolute path
    for name in ("tiny", str(root / "tiny")):
        edit_config(folder, set_model_field("backbone", name))
        assert load_checkpoint(folder).trace("the movie is good").num_layers == 3


def test_hub_names_never_download_by_default(saved, tmp_path, monkeypatch):
    import transformers

    calls = []

    def fake(*args, **kwargs):
        calls.append(kwargs.get("local_files_only"))
        raise OSError("not cached")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake)
    monkeypatch.delenv("EEVIZ_ALLOW_HUB", raising=False)
    folder = copy_of(saved, "lora", tmp_path / "ck")
    edit_config(folder, set_model_field("backbone", "bert-base-uncased"))
    message = expect_clear_error(folder, "EEVIZ_ALLOW_HUB=1")
    assert calls == [True] and "not in the local Hugging Face cache" in message
    monkeypatch.setenv("EEVIZ_ALLOW_HUB", "1")
    expect_clear_error(folder, "needs backbone")
    assert calls == [True, False]
    expect_clear_error(folder, "needs backbone", allow_hub=False)
    assert calls[-1] is True


# ------------------------------------------------------------------------------------ weights, tokenizer (5, 6)
def test_non_finite_weights_are_refused(saved, tmp_path):
    folder = copy_of(saved, "full", tmp_path / "nan")
    tensors = load_file(str(folder / "model.safetensors"))
    name = next(n for n in tensors if n.startswith("method."))
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, str(folder / "model.safetensors"))
    expect_clear_error(folder, "NaN or infinite")


@pytest.mark.parametrize("broken", ["no_folder", "no_vocab_file"])
def test_full_checkpoint_without_its_tokenizer_is_refused(saved, tmp_path, broken):
    folder = copy_of(saved, "full", tmp_path / broken)
    if broken == "no_folder":
        shutil.rmtree(folder / "tokenizer")
    else:
        (folder / "tokenizer" / "tokenizer.json").unlink()
    expect_clear_error(folder, "tokenizer vocabulary")


def test_tokenizer_of_another_model_is_refused(saved, tmp_path):
    from transformers import BertTokenizerFast

    folder = copy_of(saved, "full", tmp_path / "small_vocab")
    small = BertTokenizerFast(vocab={"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "the": 5})
    shutil.rmtree(folder / "tokenizer")
    small.save_pretrained(str(folder / "tokenizer"))
    expect_clear_error(folder, "tokenizer knows 6 tokens")


# ------------------------------------------------------------------------------------ listing (item 3)
def test_listing_skips_bad_folders_and_keeps_the_good_ones(saved, tmp_path):
    root = tmp_path / "checkpoints"
    root.mkdir()
    copy_of(saved, "full", root / "good")
    copy_of(saved, "lora", root / "good_metrics_broken")
    (root / "good_metrics_broken" / "metrics.json").write_bytes(b"\xff\xfe not utf-8")
    copy_of(saved, "full", root / "metrics_is_a_list")
    (root / "metrics_is_a_list" / "metrics.json").write_text("[1, 2]")
    for case, (change, _) in BAD_CONFIGS.items():
        if case not in LOAD_TIME:  # a load-time problem: listed, refused when loaded
            edit_config(copy_of(saved, "full", root / case), change)
    (root / "latin1").mkdir()
    (root / "latin1" / "config.json").write_bytes(b"\xe9\xe9")
    (root / "latin1" / "model.safetensors").write_bytes(b"")
    infos, problems = find_checkpoints(root)
    assert sorted(i.name for i in infos) == ["good", "good_metrics_broken", "metrics_is_a_list"]
    assert all(i.metrics == {} for i in infos if i.name != "good")
    named = {case for case in [*BAD_CONFIGS, "latin1", "good_metrics_broken", "metrics_is_a_list"]
             if any(f"{root / case}" in p for p in problems)}
    assert named == {*BAD_CONFIGS, "latin1", "good_metrics_broken", "metrics_is_a_list"} - LOAD_TIME
    for info in infos:
        assert load_checkpoint(info.path).trace("the movie is good").num_layers == 3
