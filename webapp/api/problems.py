"""The one shape of every error under /api/v1, with stable codes a program can act on.

`{"error": {"code": "missing_scope", "message": "…", "details": {…}}}`: `code` never changes
meaning; `message` is an English sentence for the developer reading a log; `details` says
which field or scope, when there is one.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# The code for each HTTP error raised outside the API's own refusals (routing, body size, the
# rate limiter, an unexpected failure).
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

_MESSAGES = {
    400: "the request cannot be understood",
    401: "send a valid API key as Authorization: Bearer <key>",
    403: "this key may not do that",
    404: "there is nothing at this address",
    405: "this address does not take that method",
    413: "the body is too large",
    415: "send the body as application/json",
    429: "too many requests with this key; wait and try again",
    500: "something went wrong on our side; nothing was changed",
    503: "the service is not available right now; try again later",
}


class ApiError(Exception):
    """A refusal: the status, a stable code, a sentence and what it is about."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="yuebao"'
    response.headers["Cache-Control"] = "no-store"
    return response


def api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.details)


def http_error(error: HTTPException | None) -> Response:
    """An HTTP error (None: an unexpected exception, already logged) in the API's shape."""
    status = (error.code or 500) if error is not None else 500
    status = status if status in HTTP_CODES else 500
    code = HTTP_CODES[status]
    message = _MESSAGES.get(status, code.replace("_", " "))
    details: dict[str, Any] = {}
    if error is not None and status == 400 and error.description:
        message = str(error.description)
    response = error_response(status, code, message, details)
    if error is not None:
        for name, value in error.get_headers():
            if name.lower() in ("allow", "retry-after"):
                response.headers[name] = value
    return response
