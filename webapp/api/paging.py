"""Opaque cursors for keyset paging: the last row's id, in a form callers do not build."""

from __future__ import annotations

import base64
import binascii

from webapp.api.problems import ApiError


def encode_cursor(kind: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The id a cursor of `kind` carries; 400 for anything this API did not give."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    found, _, number = text.partition(":")
    if found != kind or not (number.isascii() and number.isdigit()) or len(number) > 18:
        raise ApiError(400, "validation_failed", "some query arguments are not valid",
                       {"fields": {"after": ["Not a cursor this API gave."]}})
    return int(number)
