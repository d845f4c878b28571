"""HTTP answers, built once and written by the handler."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from tests.tools.ses_simulator.content import SesError


@dataclass
class Reply:
    """What to do with one request: answer it, hang then drop it, or drop it at once."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: Literal["answer", "hang", "close"] = "answer"
    hang: float = 0.0
    recipients: int = 0


def json_reply(status: int, payload: object, recipients: int = 0) -> Reply:
    body = json.dumps(payload).encode("utf-8")
    return Reply(status, body, {"Content-Type": "application/json"}, recipients=recipients)


def error_reply(error: SesError) -> Reply:
    """rest-json errors as AWS sends them: the code in x-amzn-ErrorType, `message` in the body."""
    reply = json_reply(error.status, {"message": error.message})
    reply.headers["x-amzn-ErrorType"] = error.code
    return reply
