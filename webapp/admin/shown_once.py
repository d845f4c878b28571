"""A secret shown once: an API key or a webhook signing secret, just made.

It is kept in the signed session cookie for the one page that shows it (never in a URL, which
logs and the Referer keep), tied to the row it belongs to; that page takes it out and is
answered `no-store`, so a reload or the back button shows it no more.
"""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask import session as cookie
from werkzeug.wrappers import Response


def keep(name: str, row_id: int, secret: str) -> None:
    """Hold `secret` for the next page that takes `name` for row `row_id`."""
    cookie[name] = {"id": row_id, "secret": secret}


def take(name: str, row_id: int) -> str | None:
    """The secret kept for this row, removed from the cookie; None once taken or for another."""
    kept = cookie.pop(name, None)
    if isinstance(kept, dict) and kept.get("id") == row_id:
        secret = kept.get("secret")
        return secret if isinstance(secret, str) else None
    return None


def page(template: str, **context: Any) -> Response:
    """The page that shows it, never kept by a cache or the browser."""
    response = Response(render_template(template, **context))
    response.headers["Cache-Control"] = "no-store"
    return response
