"""The OpenAPI 3.1 document of /api/v1, built from the routes and their declarations
(webapp.api.spec) with apispec's marshmallow plugin: a route added without a declaration is
missing from it, which tests/api/test_openapi.py catches."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response, current_app, jsonify

from webapp.api import bp
from webapp.api.schemas import Error
from webapp.api.spec import Operation, declared_operation, operation
from webapp.models import SCOPES

TITLE = "yuebao REST API"
VERSION = "1"
PREFIX = "/api/v1"
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_TYPES = {"int": {"type": "integer", "minimum": 1}}

_DESCRIPTION = (
    "Read and change subscribers and suppressions, and read editions, their send progress "
    "and stats, from the firm's own systems. Every request but this "
    "document's and the embeddable subscribe form's (/public/…, tag embed) carries an API "
    "key made by an admin (console: Admin → API keys; CLI: "
    "`yuebao api-keys create`) as `Authorization: Bearer <key>`; each operation names the "
    "scope it needs. Every error has one shape, `{\"error\": {\"code\", \"message\", "
    "\"details\"}}`, with a stable `code`: unauthorized (401), missing_scope (403), "
    "not_found (404), method_not_allowed (405), conflict, address_suppressed, address_erased, "
    "subscriber_erased, consent_outdated, edition_state, edition_not_ready, untranslated_items, "
    "report_incomplete, edition_exists (409), report_unreadable, invalid_email, no_topics "
    "(422), origin_not_allowed (403), "
    "payload_too_large (413), unsupported_media_type (415), "
    "invalid_json (400), validation_failed (400 for query arguments, 422 for bodies), "
    "rate_limited (429), internal_error (500)."
)


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """A Flask rule as an OpenAPI path, with its path parameters."""
    parameters = []
    for converter, name in _CONVERTER.findall(rule):
        schema = _TYPES.get(converter, {"type": "string"})
        parameters.append({"in": "path", "name": name, "required": True, "schema": schema})
    return _CONVERTER.sub(r"{\2}", rule), parameters


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": Error}}}


def _operation(declared: Operation, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in sorted(declared.responses.items()):
        if schema is None:
            responses[str(status)] = {"description": str(status)}
        elif schema is Error:
            responses[str(status)] = _error("Refused; see the error's code.")
        else:
            responses[str(status)] = {
                "description": "OK" if status < 300 else str(status),
                "content": {"application/json": {"schema": schema}},
            }
    if not declared.public:
        responses.setdefault("401", _error("No key, a wrong key or a revoked key."))
        responses.setdefault("429", _error("Too many requests with this key."))
    if declared.scope is not None:
        responses.setdefault("403", _error(f"The key lacks the scope {declared.scope}."))
    if parameters:
        responses.setdefault("404", _error("Nothing with this id."))
    responses.setdefault("400", _error(
        "The request cannot be read: a control character in the path or query, a query "
        "argument that is not valid or not known, or a body that is not one JSON object."
    ))
    if declared.file_body:
        responses.setdefault("413", _error("The file is larger than the importer takes."))
        responses.setdefault("415", _error("The file is not one the importer reads."))
        responses.setdefault("422", _error("The file cannot be read as a report."))
    if declared.body is not None:
        responses.setdefault("413", _error("The body is larger than 64 KB."))
        responses.setdefault("415", _error("The body is not application/json."))
        responses.setdefault("422", _error("A field is not valid, or not known."))
    responses.setdefault("500", _error("Something went wrong on our side."))
    found: dict[str, Any] = {
        "summary": declared.summary,
        "responses": dict(sorted(responses.items())),
    }
    if declared.description:
        found["description"] = declared.description
    if declared.tags:
        found["tags"] = list(declared.tags)
    if parameters or declared.query is not None:
        found["parameters"] = [*parameters]
        if declared.query is not None:
            found["parameters"].append({"in": "query", "schema": declared.query})
    if declared.file_body:
        found["requestBody"] = {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "contentMediaType": media}}
                for media in declared.file_body
            },
        }
    if declared.body is not None:
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": declared.body}},
        }
    if declared.public:
        found["security"] = []
    else:
        found["security"] = [{"apiKey": [declared.scope] if declared.scope else []}]
        if declared.scope:
            found["x-scope"] = declared.scope
    return found


def build_document(app: Flask) -> dict[str, Any]:
    """Every /api/v1 route with a declaration, as OpenAPI 3.1."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": _DESCRIPTION},
        servers=[{"url": PREFIX}],
    )
    spec.components.security_scheme(
        "apiKey",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key, yb_…; scopes: " + ", ".join(SCOPES),
        },
    )
    spec.components.schema("Error", schema=Error)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        declared = declared_operation(app.view_functions[rule.endpoint])
        if declared is None:
            continue
        path, parameters = openapi_path(rule.rule[len(PREFIX):])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(declared, parameters)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
@operation(
    "This document",
    scope=None,
    public=True,
    responses={200: None},
    description="OpenAPI 3.1, generated from the code. No key needed.",
    tags=("meta",),
)
def openapi_document() -> Response:
    document = current_app.extensions.get("yuebao.openapi")
    if document is None:
        document = current_app.extensions["yuebao.openapi"] = build_document(current_app)
    return jsonify(document)
