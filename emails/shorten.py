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

    The longest summaries are cut to one length, as long as it can be (water-filling), so
    short ones stay whole. Each cut adds a "read more" link, so cutting two summaries can
    save less than cutting one: every count is tried and the longest length wins, the fewest
    cuts on a tie. A summary left whole is never more than a link's worth longer than that.
    """
    ranked = sorted(
        ((len(i.summary.encode()), i.id, i.summary) for s in sections for i in s.items),
        key=lambda entry: -entry[0],
    )
    best: tuple[int, int] | None = None  # (length, count)
    total = 0
    for count, (size, _, _) in enumerate(ranked, start=1):
        total += size
        # Cutting the `count` longest to `level` saves total - count × level, less their links.
        level = (total - READ_MORE_COST * count - excess) // count
        if MIN_SUMMARY_BYTES <= level < size and (best is None or level > best[0]):
            best = (level, count)
    if best is None:
        best = (MIN_SUMMARY_BYTES, len(ranked))
        if all(size <= MIN_SUMMARY_BYTES for size, _, _ in ranked):
            raise RenderError("edition.mjml", "too large to fit the size limit even when shortened")
    level, count = best
    result = dict(current)
    for size, item_id, summary in ranked[:count]:
        if size > level:
            result[item_id] = cut_text(summary, level)
    return result
