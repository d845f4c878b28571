"""The report's table of contents, checked against its body.

A report file cut short (a failed upload, half a PDF extracted) still parses: its items end
early. Its contents page, before the first item, still lists everything, so what it lists and
the body lacks is what went missing. Entries are matched by title, not by number, as numbering
restarts in every section: ignoring spaces, dot leaders and the page number, one title must
begin with the other (a contents page may shorten a long title).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webapp.editions.importer.parser import ParsedSection

_MARK = re.compile(r"目\s*[录次]|(?:table\s+of\s+)?contents", re.IGNORECASE)
# A page number ending a contents line: after dot leaders, or after a space.
_PAGE = re.compile(r"(?:\s*[.·…⋯．_]{2,}\s*|\s+)(?:第\s*)?[0-9]{1,3}(?:\s*页)?$")
_LEADERS = re.compile(r"[.·…⋯．_]{2,}\s*(?:第\s*)?[0-9]{1,3}(?:\s*页)?$")
_ENTRY = re.compile(r"([0-9]{1,3})\s*[.．、](?![0-9])\s*(\S.*)")
_IGNORED = re.compile(r"[\s.·…⋯．_]+")
_MAX_WRAPPED = 2  # lines an entry's title may wrap onto before its page number


@dataclass(frozen=True)
class MissingPart:
    """A section, or one item, the contents lists and the body lacks."""

    section: str  # the section's title, as printed
    number: int | None = None  # the item's number in the contents; None for a whole section
    title: str | None = None  # the item's title in the contents; None for a whole section

    def __str__(self) -> str:
        if self.title is None:
            return f"{self.section} (the whole section)"
        number = f"{self.number}. " if self.number is not None else ""
        return f"{self.section}: {number}{self.title}"


@dataclass
class _Entry:
    section: int
    number: int | None
    title: str
    paged: bool  # its page number was seen: the entry is complete
    wrapped: int = 0


def missing_parts(
    front: Sequence[str], sections: Sequence[ParsedSection], heading: Callable[[str], str | None]
) -> tuple[MissingPart, ...]:
    """What the contents among `front` (the lines before the first item, page noise left out)
    lists and `sections` lack; () when there is no contents page or nothing is missing.
    `heading` gives the key of the section a line is the heading of, or None."""
    keys = [section.key for section in sections]
    found = _contents(front, keys, heading)
    if found is None:
        return ()
    headings, entries = found
    missing = [
        MissingPart(sections[index].title)
        for index in dict.fromkeys(headings)
        if not sections[index].items
    ]
    found_in = _Titles(_key(item.title) for section in sections for item in section.items)
    for entry in entries:
        key = _key(entry.title)
        if key and not found_in.match(key):
            missing.append(MissingPart(sections[entry.section].title, entry.number, entry.title))
    return tuple(missing)


class _Titles:
    """The body's titles, to find one that begins with a listed title or that a listed title
    begins with, in about log n steps (not by comparing every entry with every item)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = set(keys)
        self.sorted = sorted(self.keys)
        self.lengths = sorted({len(key) for key in self.keys})

    def match(self, listed: str) -> bool:
        at = bisect.bisect_left(self.sorted, listed)
        if at < len(self.sorted) and self.sorted[at].startswith(listed):
            return True  # the contents shortened the title
        return any(listed[:n] in self.keys for n in self.lengths if n <= len(listed))


def _contents(
    front: Sequence[str], keys: list[str], heading: Callable[[str], str | None]
) -> tuple[list[int], list[_Entry]] | None:
    """The section headings and item entries of the contents page, or None when there is none:
    no '目录' line, fewer than two different section headings and no entry with a page number."""
    mark = next((i for i, line in enumerate(front) if _MARK.fullmatch(line)), None)
    headings: list[int] = []
    entries: list[_Entry] = []
    section, in_section = 0, 0  # in_section: entries since the section began
    open_entry: _Entry | None = None  # an entry whose page number is still to come
    for line in front[mark + 1 :] if mark is not None else front:
        text = _PAGE.sub("", line).strip()
        paged = text != line
        if (key := heading(text)) in keys:
            section, in_section, open_entry = keys.index(key), 0, None
            headings.append(section)
        elif match := _ENTRY.fullmatch(text):
            number = int(match[1])
            if number == 1 and in_section and section < len(keys) - 1:
                section, in_section = section + 1, 0  # numbering restarts: the next section
            entries.append(_Entry(section, number, match[2], paged))
            in_section += 1
            open_entry = None if paged else entries[-1]
        elif open_entry is not None and open_entry.wrapped < _MAX_WRAPPED:
            open_entry.title += text  # a long title wrapped onto the next line
            open_entry.wrapped += 1
            open_entry.paged = paged
            open_entry = None if paged else open_entry
        elif _LEADERS.search(line):
            entries.append(_Entry(section, None, text, True))  # an entry without a number
            in_section += 1
            open_entry = None
        else:
            open_entry = None
    if mark is None and len(set(headings)) < 2 and not any(e.paged for e in entries):
        return None
    return headings, entries


def _key(title: str) -> str:
    return _IGNORED.sub("", unicodedata.normalize("NFKC", title)).casefold()
