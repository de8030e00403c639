"""Checks on user text before it reaches a tokenizer: clear messages, nothing lost."""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 20_000  # far beyond any encoder's window; longer input is refused rather than silently cut


class InputError(ValueError):
    """User input that cannot be traced, with what to do about it."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """``text`` with no surrogate code points, which no tokenizer takes: an escaped pair (a Python literal
    such as "\\ud83d\\ude00") becomes its character; a lone one (a non-UTF-8 byte of a command line, which
    Python passes as U+DC80..U+DCFF, or a JSON "\\ud800") becomes U+FFFD, the replacement character."""
    if not _SURROGATE.search(text):
        return text  # the usual case: one scan, no copy
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_text(text: str | None) -> str:
    """NFC-normalise and drop control characters (keeping newlines/tabs as spaces); lone surrogates become
    U+FFFD (``without_surrogates``); keep all other Unicode."""
    if text is None:
        return ""
    text = unicodedata.normalize("NFC", without_surrogates(str(text)))
    return "".join(" " if ch in "\n\r\t" else ch for ch in text if unicodedata.category(ch) != "Cc" or ch in "\n\r\t").strip()


def visible(text: str) -> bool:
    """Whether ``text`` has a character to read: a text of spaces and invisible format characters only (zero-width
    spaces, joiners, direction marks) reaches the model as [CLS] [SEP] alone."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def check_inputs(text: str | None, text_b: str | None = None, is_pair: bool = False) -> tuple[str, str | None]:
    """Return cleaned (text, text_b) or raise InputError saying what is wrong."""
    text = clean_text(text)
    if not visible(text):
        raise InputError("the text is empty: type a sentence")
    if len(text) > MAX_CHARS:
        raise InputError(f"the text has {len(text)} characters; the limit is {MAX_CHARS} (the model reads at most its max_length tokens anyway)")
    if is_pair:
        text_b = clean_text(text_b)
        if not visible(text_b):
            raise InputError("this checkpoint was trained on sentence pairs: give a second sentence too")
        if len(text_b) > MAX_CHARS:
            raise InputError(f"the second text has {len(text_b)} characters; the limit is {MAX_CHARS}")
        return text, text_b
    if text_b and visible(clean_text(text_b)):
        raise InputError("this checkpoint takes a single sentence, not a pair: leave the second text empty")
    return text, None
