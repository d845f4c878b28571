"""Short forms of an edition's texts: teasers of summaries and commentary, the subject's hook."""

from __future__ import annotations

import unicodedata
from typing import Final

ELLIPSIS: Final = "…"
# A cut may not fall between these and what follows (a combining mark, a variation selector,
# a zero-width joiner): the reader would see half a character.
_JOINING: Final = ("\u200d", "\u034f")


def _breaks_character(text: str, at: int) -> bool:
    """Whether cutting `text` before index `at` would split one visible character."""
    if at <= 0 or at >= len(text):
        return False
    following, preceding = text[at], text[at - 1]
    return (
        unicodedata.combining(following) != 0
        or unicodedata.category(following) == "Mn"
        or "\ufe00" <= following <= "\ufe0f"
        or following in _JOINING
        or preceding in _JOINING
    )


def _in_word(text: str, at: int) -> bool:
    """Whether index `at` falls inside a run of Latin letters or digits (a word)."""
    return 0 < at < len(text) and _word_char(text[at - 1]) and _word_char(text[at])


def _word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "'-")


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: whole if it fits, else cut with '…'.

    The cut never splits a character (a base and its combining marks stay together) nor a
    Latin word when a space comes late enough to cut there instead; Chinese is cut between any
    two characters.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    at = max(1, limit - len(ELLIPSIS))
    while at > 1 and _breaks_character(text, at):
        at -= 1
    if _in_word(text, at):
        space = text.rfind(" ", 0, at)
        if space >= at // 2:
            at = space
    head = text[:at].rstrip(" ,.;:，。；：、·-–—([（《“‘")
    return (head or text[:at]) + ELLIPSIS
