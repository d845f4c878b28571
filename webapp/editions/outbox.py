"""Reading the outbox transport's `.eml` files back, for the editor console's outbox viewer
(and once, after the upgrade that added the index of outbox files, to index older files).

Only names the outbox itself writes are accepted (no separators, no leading dot), and the file
must sit directly in the outbox directory: a crafted name can never reach another file.

A message holds links that act for someone: a reader's preferences and unsubscribe pages, a
delivery's web view, pixel and clicks, signed confirmation and password-reset (invitation)
links. Whoever reads them can change or erase that reader, or take over that account, so the
viewer shows messages with those tokens masked (`masked`); the file as written (`raw_message`)
is for admins only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.eml")
_STAMP = re.compile(r"([0-9]{8}T[0-9]{12}Z)-")
# The token of a link on any host and under any path (a message may have been written under
# another BASE_URL): readers' and deliveries' tokens (URL-safe base64), and signed links (with
# dots). Sixteen characters at least: ours have 27 or more; a short segment elsewhere stays.
_TOKEN_LINK = re.compile(
    r"(https?://[^\s\"'<>]*?/(?:p|u|v|o|c)/)[A-Za-z0-9_-]{16,}"
    r"|(https?://[^\s\"'<>]*?/(?:confirm|password-reset)/)[A-Za-z0-9_.-]{16,}"
)
MASK = "••••••••"


class OutboxNotFound(LookupError):
    """No such message in the outbox (or a name the outbox would never write)."""


@dataclass(frozen=True)
class OutboxEntry:
    name: str
    written_at: datetime
    to: str
    subject: str
    size: int


@dataclass(frozen=True)
class OutboxMessage:
    name: str
    written_at: datetime
    size: int
    subject: str
    headers: list[tuple[str, str]]
    html: str | None
    text: str | None


def _written_at(path: Path) -> datetime:
    """From the name's UTC stamp (the outbox writes one), else the file's modification time."""
    found = _STAMP.match(path.name)
    if found:
        return datetime.strptime(found.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def written_at_of(path: Path) -> datetime | None:
    """When the file was written (UTC); None when it is gone."""
    try:
        return _written_at(path)
    except FileNotFoundError:
        return None


def is_message_name(name: str) -> bool:
    """Whether `name` is one the outbox writes (and so may name a file or a page's edge)."""
    return _NAME.fullmatch(name) is not None


def _names(directory: Path) -> list[str]:
    """Message file names, newest first (names start with a UTC timestamp)."""
    if not directory.is_dir():
        return []
    with os.scandir(directory) as entries:
        names = [e.name for e in entries if _NAME.fullmatch(e.name) and e.is_file()]
    return sorted(names, reverse=True)


def message_names(directory: str | Path) -> list[str]:
    """Every message file name in the outbox, newest first."""
    return _names(Path(directory))


_DELIVERY = re.compile(r"[0-9]{8}T[0-9]{12}Z-d([0-9]+)-")


def delivery_of(name: str) -> int | None:
    """The delivery whose message the file holds, from the name the outbox gave it."""
    found = _DELIVERY.match(name)
    return int(found.group(1)) if found else None


def recipient_of(directory: str | Path, name: str) -> str | None:
    """The `To` address of one message (its headers only are read); None if it is gone."""
    try:
        with open(message_path(directory, name), "rb") as handle:
            headers = BytesHeaderParser(policy=policy.default).parse(handle)
    except (OutboxNotFound, OSError):
        return None
    to = headers.get("To")
    addresses = getattr(to, "addresses", ())
    return str(addresses[0].addr_spec) if addresses else (str(to) if to else None)


def message_path(directory: str | Path, name: str) -> Path:
    """The file of message `name`, or OutboxNotFound; never a path outside the outbox."""
    if not _NAME.fullmatch(name):
        raise OutboxNotFound(name)
    root = Path(directory).resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise OutboxNotFound(name)
    return path


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        return None
    return str(body.get_content())


def mask_tokens(text: str) -> str:
    """`text` with the token of every link that acts for someone replaced by MASK."""
    return _TOKEN_LINK.sub(lambda found: (found.group(1) or found.group(2)) + MASK, text)


def masked(message: OutboxMessage) -> OutboxMessage:
    """The message as the viewer shows it: no token in its headers or parts."""
    return replace(
        message,
        headers=[(key, mask_tokens(value)) for key, value in message.headers],
        html=mask_tokens(message.html) if message.html is not None else None,
        text=mask_tokens(message.text) if message.text is not None else None,
    )


def raw_message(directory: str | Path, name: str) -> bytes:
    """The file as the outbox wrote it, tokens and all."""
    return message_path(directory, name).read_bytes()


def read_message(directory: str | Path, name: str) -> OutboxMessage:
    path = message_path(directory, name)
    data = path.read_bytes()
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)  # nosec B101: policy.default parses to EmailMessage
    return OutboxMessage(
        name=name,
        written_at=_written_at(path),
        size=len(data),
        subject=str(message.get("Subject", "")),
        headers=[(key, str(value)) for key, value in message.items()],
        html=_part(message, "html"),
        text=_part(message, "plain"),
    )
