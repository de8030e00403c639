"""A backbone with a real model's shape and random weights, and sentences for it: device checks with no download.

``python -m eeviz.tools.random_backbone OUT [--shape minilm] [--sentences 96]`` writes ``OUT/backbone`` (the
config, random weights and a small WordPiece vocabulary) and ``OUT/texts.txt`` (sentences of that vocabulary,
one per line, 6 to 40 words: about as many tokens as the rotten_tomatoes reviews). A layer costs the same
whatever its weights, so timings on it are those of the real backbone of that shape (the embedding table
keeps the real vocabulary size); its heads are untrained, so benchmarks force exits (``FixedExitRule``).
"""

from __future__ import annotations

import argparse
import os
import random
import string
from pathlib import Path

# transformers.BertConfig sizes; "minilm" is the shape of the default backbone (all-MiniLM-L6-v2)
SHAPES = {
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
                   max_position_embeddings=512, type_vocab_size=2, vocab_size=30522),
    "tiny": dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37,
                 max_position_embeddings=64),
}
WORDS = (
    "the a movie film good bad great awful fun boring not very is was it this and but plot acting story love "
    "hate best worst funny dull script cast scene ending music director long short smart silly warm cold"
).split()


def vocabulary() -> list[str]:
    """Special tokens, letters (any word can be spelled), punctuation, and whole words."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.punctuation]
    tokens += [f"##{c}" for c in string.ascii_lowercase] + WORDS
    return list(dict.fromkeys(tokens))


def write_backbone(folder: str | os.PathLike, shape: str = "minilm", seed: int = 0, dropout: float = 0.1) -> str:
    """Save a randomly initialised BERT of ``shape`` (see ``SHAPES``) and a WordPiece tokenizer to ``folder``."""
    import torch
    from transformers import AutoModel, BertConfig, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = vocabulary()
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    sizes = dict(SHAPES[shape])
    sizes["vocab_size"] = max(sizes.get("vocab_size", 0), tokenizer.vocab_size)
    config = BertConfig(**sizes, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=0)
    torch.manual_seed(seed)
    AutoModel.from_config(config, attn_implementation="eager").save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def sentences(count: int, seed: int = 0, words: tuple[int, int] = (6, 40)) -> list[str]:
    """``count`` random sentences of ``WORDS``, each of ``words`` (min, max) words."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(*words))) + rng.choice(".!") for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eeviz.tools.random_backbone", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write backbone/ and texts.txt into")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="minilm")
    parser.add_argument("--sentences", type=int, default=96, help="how many sentences texts.txt holds [96]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    path = write_backbone(out / "backbone", args.shape, args.seed)
    (out / "texts.txt").write_text("\n".join(sentences(args.sentences, args.seed)) + "\n")
    print(f"{args.shape}-shaped random backbone in {path}, {args.sentences} sentences in {out / 'texts.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
