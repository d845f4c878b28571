"""The one rule for text that comes in: forms, CSV cells, API fields and imported lines.

Control characters have no place in a name, a subject or a summary. NUL makes PostgreSQL refuse
the row (a 500 instead of an answer), CR/LF in a header-bound field (subject, preheader, names,
From, List-Id) would either be refused by the mail library mid-send or split a header, and lone
surrogates cannot be encoded to UTF-8 at all. So they are refused where text enters, with the
position and the character named, and nothing is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# C0 controls except tab, LF and CR; DEL; C1 controls; lone surrogates. Tab, LF and CR are
# allowed in multi-line fields (browsers send a textarea's line breaks as CRLF).
_MULTILINE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Single-line fields refuse line breaks too; also the Unicode line and paragraph separators,
# which some mail clients and spreadsheets break on. Tab is allowed (pasted from a table).
_SINGLE_LINE_REFUSED = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


@dataclass(frozen=True)
class UnsafeText(ValueError):
    """A value holds a character that may not be stored; `index` is 0-based in the value."""

    index: int
    codepoint: int

    @property
    def line_break(self) -> bool:
        return chr(self.codepoint) in "\r\n\u2028\u2029"

    def __str__(self) -> str:
        if self.line_break:
            return f"line break at character {self.index + 1} is not allowed here"
        return f"control character U+{self.codepoint:04X} at character {self.index + 1}"


@dataclass(frozen=True)
class UnsafeUrl(ValueError):
    """A link that is not an http(s) URL with a host."""

    url: str

    def __str__(self) -> str:
        return f"{self.url[:80]!r} is not an http:// or https:// address with a host"


def find_unsafe(value: str, *, multiline: bool = False) -> UnsafeText | None:
    """The first refused character in `value`, or None when it may be stored."""
    pattern = _MULTILINE_REFUSED if multiline else _SINGLE_LINE_REFUSED
    found = pattern.search(value)
    if found is None:
        return None
    return UnsafeText(index=found.start(), codepoint=ord(found.group()))


def check_text(value: str, *, multiline: bool = False) -> str:
    """Return `value` unchanged, or raise UnsafeText."""
    problem = find_unsafe(value, multiline=multiline)
    if problem is not None:
        raise problem
    return value


def check_http_url(value: str) -> str:
    """Return `value` unchanged when it is a single-line http(s) URL with a host."""
    check_text(value)
    if any(c.isspace() for c in value):
        raise UnsafeUrl(value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise UnsafeUrl(value) from None
    if parts.scheme not in {"http", "https"} or not host:
        raise UnsafeUrl(value)
    return value
