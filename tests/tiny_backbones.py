"""Tiny random backbones (BERT, RoBERTa, ALBERT) with a WordPiece tokenizer, saved to a folder: what the
fixtures in conftest.py build, importable by a test module that needs another shape (``from tiny_backbones
import ...``; ``from conftest import`` may find tests/browser/conftest.py first when the whole suite runs)."""

from __future__ import annotations

import os
import string

import torch

WORDS = (
    "the a movie film good bad great awful fun boring not very is was it this and but plot acting "
    "story love hate best worst funny dull"
).split()


def write_tiny_vocab(folder) -> str:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.punctuation]
    tokens += [f"##{c}" for c in string.ascii_lowercase] + WORDS
    path = os.path.join(folder, "vocab.txt")
    with open(path, "w") as f:
        f.write("\n".join(dict.fromkeys(tokens)) + "\n")
    return path


def tiny_hf_config(kind: str, vocab_size: int, num_layers: int = 3):
    from transformers import AlbertConfig, BertConfig, RobertaConfig

    common = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    if kind == "bert":
        return BertConfig(**common)
    if kind == "roberta":
        # pad id 0 to match the tiny WordPiece tokenizer used for every kind here
        return RobertaConfig(**common, pad_token_id=0, bos_token_id=2, eos_token_id=3, type_vocab_size=1)
    if kind == "albert":
        return AlbertConfig(**common, embedding_size=16, num_hidden_groups=1, inner_group_num=1, pad_token_id=0)
    raise ValueError(kind)


def make_tiny_backbone(folder, kind: str = "bert", num_layers: int = 3, seed: int = 0) -> str:
    """Save a random tiny ``kind`` encoder plus a WordPiece tokenizer to ``folder``; return the path."""
    from transformers import AutoModel, BertTokenizerFast

    os.makedirs(folder, exist_ok=True)
    vocab = write_tiny_vocab(folder)
    with open(vocab) as f:
        words = f.read().split()
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    cfg = tiny_hf_config(kind, tok.vocab_size, num_layers)
    torch.manual_seed(seed)
    model = AutoModel.from_config(cfg, attn_implementation="eager")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)
