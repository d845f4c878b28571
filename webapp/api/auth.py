"""Who is asking: the API key in `Authorization: Bearer …`, checked before every view.

No session cookie and no CSRF token count here: the key is the only proof, so a browser
signed in to the console cannot be made to call the API.
"""

from __future__ import annotations

from flask import g, request
from flask_limiter.util import get_remote_address

from webapp import db
from webapp.accounts.api_keys import authenticate, key_prefix, note_use
from webapp.api.problems import ApiError
from webapp.models import ApiKey, utcnow


def presented_key() -> str | None:
    """The key in the Authorization header, if it names the Bearer scheme."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def rate_limit_key() -> str:
    """What the limiter counts by: the key's prefix (no query: the limiter runs before the
    key is checked), or the client's address for a request without a key."""
    presented = presented_key()
    prefix = key_prefix(presented) if presented else None
    return f"api-key:{prefix}" if prefix else f"api-ip:{get_remote_address()}"


def authenticate_request() -> ApiKey:
    """The live key of this request; 401 without one, for a wrong or a revoked one alike."""
    presented = presented_key()
    if presented is None:
        raise ApiError(401, "unauthorized", "send your API key as Authorization: Bearer <key>")
    session = db.session()
    key = authenticate(session, presented)
    if key is None:
        raise ApiError(401, "unauthorized", "the API key is not valid, or it was revoked")
    if note_use(session, key, utcnow()):
        session.commit()
    g.api_key = key
    return key


def current_key() -> ApiKey:
    key: ApiKey = g.api_key
    return key


def require_scope(scope: str) -> None:
    key = current_key()
    if not key.allows(scope):
        raise ApiError(
            403,
            "missing_scope",
            f"this API key does not have the scope {scope}",
            {"required_scope": scope, "granted_scopes": list(key.scopes)},
        )
