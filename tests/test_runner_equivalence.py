"""The runner against the model's own forward where the shared fixtures do not reach: a byte-level BPE RoBERTa
(pad id 1, so positions start at 2; no token types) with sentence pairs, ALBERT with several groups of several
layers, true early exit checked layer by layer while rows leave and padding columns are trimmed, and a backbone
whose tokenizer pads on the left."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, RobertaConfig, RobertaTokenizerFast
from transformers.convert_slow_tokenizer import bytes_to_unicode

from tiny_backbones import WORDS, make_tiny_backbone
from eeviz.config import ModelConfig
from eeviz.model import build_model, row_lengths

TEXTS = ["the movie is good and the plot is great fun", "bad", "great acting",
         "not very funny and a dull story , the worst film"]
SECOND = ["the film", "a dull and boring story", "good", "it was"]
LONG = " ".join(["the movie is good"] * 20)


@pytest.fixture(scope="module")
def bpe_roberta(tmp_path_factory):
    """A tiny RoBERTa as the hub ships them: byte-level BPE, <s>=0 <pad>=1 </s>=2, one token type."""
    folder = tmp_path_factory.mktemp("bpe_roberta")
    byte_chars = bytes_to_unicode()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab.setdefault(byte_chars[b], len(vocab))
    merges = []
    for word in WORDS:  # whole words (with their leading space mark) as merges of their letters
        piece = "Ġ"
        for ch in word:
            merges.append((piece, ch))
            piece += ch
            vocab.setdefault(piece, len(vocab))
    vocab["<mask>"] = len(vocab)
    tokenizer = RobertaTokenizerFast(vocab=vocab, merges=list(dict.fromkeys(merges)), add_prefix_space=True)
    config = RobertaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                           intermediate_size=37, max_position_embeddings=24, pad_token_id=1, bos_token_id=0,
                           eos_token_id=2, type_vocab_size=1)
    torch.manual_seed(0)
    AutoModel.from_config(config, attn_implementation="eager").save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def grouped_albert(tmp_path_factory):
    """ALBERT with 2 layer groups of 2 inner layers each, applied over 4 layers (groups 0, 0, 1, 1)."""
    folder = make_tiny_backbone(tmp_path_factory.mktemp("grouped_albert"), "albert", num_layers=4)
    config = AutoConfig.from_pretrained(folder)
    config.num_hidden_groups, config.inner_group_num = 2, 2
    torch.manual_seed(1)
    AutoModel.from_config(config, attn_implementation="eager").save_pretrained(folder)
    return folder


def runner_layers(model, batch):
    """Every layer's hidden states and attention weights, walked by the runner."""
    hidden, mask = model._embed(batch)
    states, attentions = [hidden], []
    for i in range(model.num_layers):
        hidden, att = model.runner.layer(i, hidden, mask, output_attentions=True)
        states.append(hidden)
        attentions.append(att)
    return states, attentions


def test_bpe_roberta_pairs_and_cut_inputs_match_its_own_forward(bpe_roberta):
    model = build_model(ModelConfig(backbone=bpe_roberta, method="pabee", is_pair=True)).eval()
    assert model.cfg.max_length == 22  # 24 position embeddings, less the padding id's and the one below it
    for texts, seconds in [(TEXTS, SECOND), ([LONG, "bad"], [LONG, "good"]), ([LONG, "bad"], None)]:
        batch = model.tokenize(texts, seconds)
        assert "token_type_ids" not in batch and batch["input_ids"].shape[1] <= 22
        assert not batch["attention_mask"].all()  # padding, so position ids skip it
        with torch.no_grad():
            ref = model.runner.model(**batch, output_hidden_states=True, output_attentions=True)
            states, attentions = runner_layers(model, batch)
        for i, (ours, theirs) in enumerate(zip(states, ref.hidden_states)):
            assert torch.equal(ours, theirs), f"hidden states after layer {i} differ"
        for i, (ours, theirs) in enumerate(zip(attentions, ref.attentions)):
            assert torch.equal(ours, theirs), f"attention of layer {i + 1} differs"


def test_albert_groups_of_several_layers_match_its_own_forward(grouped_albert):
    model = build_model(ModelConfig(backbone=grouped_albert, method="pabee", is_pair=True)).eval()
    batch = model.tokenize(TEXTS, SECOND)
    with torch.no_grad():
        ref = model.runner.model(**batch, output_hidden_states=True, output_attentions=True)
        states, attentions = runner_layers(model, batch)
    inner = 2  # the model records every inner layer: layer i ends at its 2i-th record, its last attention is 2i-1
    assert len(ref.hidden_states) == 1 + inner * model.num_layers
    assert torch.equal(states[0], ref.hidden_states[0])
    for i in range(1, model.num_layers + 1):
        assert torch.equal(states[i], ref.hidden_states[inner * i]), f"layer {i} differs"
        assert torch.equal(attentions[i - 1], ref.attentions[inner * i - 1]), f"attention of layer {i} differs"


class PlannedExits:
    """A rule that stops row r at layer ``plan[r]`` (kept in the rule state, so it follows the rows that stay)."""

    def __init__(self, plan):
        self.plan = torch.tensor(plan)

    def start(self, batch_size, device):
        return {"plan": self.plan.clone()}

    def step(self, state, i, sig):
        return state["plan"] <= i, {}

    def probs(self, state, sig):
        return sig["probs"]


@pytest.mark.parametrize("kind,pairs", [("bert", True), ("roberta", False), ("roberta", True), ("albert", True)])
def test_true_early_exit_keeps_every_live_row_equal_to_the_full_pass_at_every_layer(
        tiny_backbones, bpe_roberta, grouped_albert, monkeypatch, kind, pairs):
    folder = {"bert": tiny_backbones["bert"], "roberta": bpe_roberta, "albert": grouped_albert}[kind]
    model = build_model(ModelConfig(backbone=folder, method="pabee", pooling="mean", is_pair=pairs)).eval()
    batch = model.tokenize(TEXTS, SECOND if pairs else None)
    lengths = batch["attention_mask"].sum(1)
    plan = [2, 1, model.num_layers, 1]  # the longest rows leave first: the padding gets trimmed twice
    assert lengths[3] == lengths.max() > lengths[0] > lengths[2]
    with torch.no_grad():
        full, _ = runner_layers(model, batch)
        signals, _ = model.forward_all(batch)
    seen = []
    walk = model.runner.layer

    def spy(i, hidden, mask, output_attentions=False):
        out = walk(i, hidden, mask, output_attentions)
        seen.append((i, out[0]))
        return out

    monkeypatch.setattr(model.runner, "layer", spy)
    result = model.early_exit(batch, PlannedExits(plan))
    assert result.exit_layer.tolist() == plan
    assert [tuple(h.shape[:2]) for _, h in seen] == (
        [(4, lengths[3]), (2, lengths[0])] + [(1, lengths[2])] * (model.num_layers - 2))
    for i, hidden in seen:
        live = [r for r, last in enumerate(plan) if last > i]  # rows that run layer i + 1
        real = batch["attention_mask"][live, : hidden.shape[1]].bool()
        torch.testing.assert_close(hidden[real], full[i + 1][live, : hidden.shape[1]][real], atol=1e-5, rtol=1e-5)
    at_exit = signals["probs"][torch.tensor(plan) - 1, torch.arange(len(plan))]
    torch.testing.assert_close(result.probs, at_exit, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_a_tokenizer_that_pads_on_the_left_still_gives_batches_that_read_as_single_sentences(
        tiny_bert, tmp_path, pooling):
    # [CLS] is read at column 0 and BERT's positions count from column 0: a left-padded row read a [PAD] as its
    # [CLS], at shifted positions, so a sentence's prediction depended on the longest sentence beside it
    folder = make_tiny_backbone(tmp_path / "left", "bert")
    AutoTokenizer.from_pretrained(folder, padding_side="left").save_pretrained(folder)  # in tokenizer_config.json
    model = build_model(ModelConfig(backbone=folder, method="pabee", pooling=pooling)).eval()
    assert model.tokenizer.padding_side == "left"
    batch = model.tokenize(TEXTS)
    assert row_lengths(batch["attention_mask"]) is not None  # right-padded: trimmed as rows leave
    assert model.tokenizer.padding_side == "left"  # the shared tokenizer is left as it was
    with torch.no_grad():
        together, _ = model.forward_all(batch)
        for r, text in enumerate(TEXTS):
            alone, _ = model.forward_all(model.tokenize([text]))
            torch.testing.assert_close(together["probs"][:, r], alone["probs"][:, 0], atol=1e-5, rtol=1e-4)
