"""What a model does not read of a long input: it reads at most ``max_length`` tokens and cuts the rest
silently, which can drop a review's last, decisive sentence."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cut:
    """How much of an input lies past the model's ``max_length`` tokens."""

    max_length: int
    total_tokens: int  # the input's length uncut, special tokens included
    unread_text: str = ""  # the words cut off (single sentences; empty for pairs, where both sides are cut)

    @property
    def unread_tokens(self) -> int:
        return max(0, self.total_tokens - self.max_length)


def shortest_max_length(tokenizer, pair: bool) -> int:
    """The smallest ``max_length`` that holds the tokenizer's special tokens and one token of each sentence.

    Below it transformers does not cut at all (it warns and reads the whole input), and what the app calls
    unread would begin with ``[CLS]``: such a ``max_length`` is refused (``check_max_length``).
    """
    return tokenizer.num_special_tokens_to_add(pair=pair) + (2 if pair else 1)


def check_max_length(tokenizer, max_length: int, pair: bool) -> None:
    """ValueError, saying the least it may be, when ``max_length`` cannot hold a word of each sentence."""
    least = shortest_max_length(tokenizer, pair)
    if max_length < least:
        what = "a token of each sentence of a pair" if pair else "a token of the sentence"
        raise ValueError(
            f"max_length {max_length} is too small: the tokenizer adds {least - (2 if pair else 1)} special tokens, "
            f"so reading {what} takes at least {least}"
        )


def find_cut(tokenizer, text: str, text_b: str | None, max_length: int) -> Cut:
    """The input's uncut length and, for a single sentence, the text past the ``max_length`` tokens.

    The tokenizer's state is shared (see ``eeviz.model.TOKENIZER_LOCK``), so the call holds that lock.
    """
    from .model import TOKENIZER_LOCK

    with TOKENIZER_LOCK:
        ids = tokenizer(text, text_pair=text_b, truncation=False)["input_ids"]
    total = len(ids)
    if total <= max_length or text_b is not None:
        return Cut(max_length, total)
    # a single sentence keeps [CLS] + its first max_length - 2 tokens + [SEP]; the rest, up to the final
    # special token, is unread
    start = max_length - 1
    enders = {getattr(tokenizer, name, None) for name in ("sep_token_id", "eos_token_id", "pad_token_id")}
    unread = list(ids[start:])
    while unread and unread[-1] in enders - {None}:  # the closing special token is no word of the text
        unread.pop()
    with TOKENIZER_LOCK:
        unread_text = tokenizer.decode(unread).strip()
    return Cut(max_length, total, unread_text)
