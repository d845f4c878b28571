"""The outbox transport: each message becomes an RFC 5322 `.eml` file under a directory."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from emails.mime import Message, new_message_id
from emails.transports import SendResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxTransport:
    """Writes `<UTC timestamp>-<message id>.eml`; readers never see a half-written file."""

    def __init__(self, directory: str | os.PathLike[str] = "var/outbox") -> None:
        self.directory = Path(directory)

    def send(self, message: Message) -> SendResult:
        message_id = new_message_id(message.sender)
        now = datetime.now(UTC)
        data = message.to_bytes(message_id=message_id, date=now)
        bare_id = message_id.strip("<>")
        # The delivery id in the name lets a crashed send be settled from the file alone.
        delivery = message.tags.get("delivery", "")
        marker = f"d{delivery}-" if delivery.isdigit() else ""
        name = f"{now:%Y%m%dT%H%M%S%fZ}-{marker}{_UNSAFE.sub('_', bare_id)[:120]}.eml"
        self.directory.mkdir(parents=True, exist_ok=True)
        # Temp file in the same directory, then os.replace: atomic on POSIX and Windows.
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.directory / name)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return SendResult(message_id=bare_id, file=name)
