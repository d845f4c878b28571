"""Reading what a caller sends: a JSON object body or query arguments, through a schema.

Unknown fields are refused (a misspelt field must not be silently ignored), so is anything
that is not one JSON object; nothing is changed before the input has been read whole.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from flask import request
from marshmallow import Schema, ValidationError

from webapp.api.problems import ApiError

MAX_BODY = 64 * 1024  # larger bodies get 413 before they are read


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def json_object() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = request.get_data(cache=False)  # 413 past MAX_BODY (request.max_content_length)
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as error:
        message = "the body is not valid JSON"
        if isinstance(error, json.JSONDecodeError):
            details = {"line": error.lineno, "column": error.colno}
            raise ApiError(400, "invalid_json", message, details) from None
        raise ApiError(400, "invalid_json", message) from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def load_body(schema: type[Schema]) -> dict[str, Any]:
    """The body, checked against `schema`; 422 with every field's problem otherwise."""
    data = json_object()
    try:
        loaded: dict[str, Any] = schema().load(data)
    except ValidationError as error:
        raise ApiError(
            422, "validation_failed", "some fields are not valid", {"fields": error.messages}
        ) from None
    return loaded


def load_query(schema: type[Schema]) -> dict[str, Any]:
    """The query arguments (each given once), checked against `schema`; 400 otherwise."""
    args: dict[str, Any] = {}
    for name, values in request.args.lists():
        if len(values) > 1:
            raise ApiError(
                400, "validation_failed", "some query arguments are not valid",
                {"fields": {name: ["Give this argument once."]}},
            )
        args[name] = values[0]
    try:
        loaded: dict[str, Any] = schema().load(args)
    except ValidationError as error:
        raise ApiError(
            400, "validation_failed", "some query arguments are not valid",
            {"fields": error.messages},
        ) from None
    return loaded
