"""Shorten the longest summaries of a variant that would be clipped by Gmail."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from emails.compiler import RenderError
from emails.views import SectionView

MIN_SUMMARY_BYTES: Final = 300  # about a hundred Chinese characters: never cut below this
READ_MORE_COST: Final = 600  # markup of a "read more" link plus its slot budget

_SENTENCE_END = re.compile(r"[。！？；!?;](?=\s|$)|[。！？；]|\.(?=\s)")


def cut_text(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` UTF-8 bytes, at a sentence end when one is near."""
    if len(text.encode()) <= max_bytes:
        return text
    head = text.encode()[: max_bytes - len("…".encode())].decode(errors="ignore")
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= len(head) // 2:
        return head[: ends[-1]].rstrip()
    space = head.rfind(" ")
    if space >= len(head) // 2:
        head = head[:space]
    return head.rstrip() + "…"


def shorten_summaries(
    sections: Sequence[SectionView], current: Mapping[int, str], *, excess: int
) -> dict[int, str]:
    """New summary overrides that save at least `excess` bytes, cutting the longest first.

    Finds the highest cap such that cutting every summary above it saves enough (water-filling),
    so long summaries shrink and short ones stay whole.
    """
    sizes = {i.id: (i.summary, len(i.summary.encode())) for s in sections for i in s.items}
    lengths = sorted((n for _, n in sizes.values()), reverse=True)
    cap = lengths[0] if lengths else 0
    while cap > MIN_SUMMARY_BYTES:
        cap = max(MIN_SUMMARY_BYTES, int(cap * 0.9))
        over = [n for n in lengths if n > cap]
        saved = sum(n - cap for n in over) - READ_MORE_COST * len(over)
        if saved >= excess:
            break
    else:
        if not lengths or sum(n - cap for n in lengths if n > cap) <= 0:
            raise RenderError("edition.mjml", "too large to fit the size limit even when shortened")
    result = dict(current)
    for item_id, (summary, size) in sizes.items():
        if size > cap:
            result[item_id] = cut_text(summary, cap)
    return result
