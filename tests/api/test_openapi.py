"""The OpenAPI 3.1 document: valid, served without a key, and describing every /api/v1 route
(the tests' answers are checked against it by tests/api/conftest.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from openapi_spec_validator import validate

from tests.api.conftest import Api
from webapp.api.openapi import PREFIX, build_document, openapi_path


def undescribed(app: Flask, document: dict[str, Any]) -> list[str]:
    """`METHOD path` of every /api/v1 route the document leaves out."""
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path, _ = openapi_path(rule.rule[len(PREFIX):])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {rule.rule}")
    return missing


def test_the_document_is_valid_openapi_3_1_and_needs_no_key(api: Api) -> None:
    response = api.get("/openapi.json", key=None)
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on anything OpenAPI 3.1 does not allow


def test_every_route_is_described_with_its_scope(app: Flask) -> None:
    document = build_document(app)
    assert undescribed(app, document) == []
    operations = {
        (path, method): op for path, ops in document["paths"].items() for method, op in ops.items()
    }
    assert operations[("/subscribers/{subscriber_id}/erase", "post")]["x-scope"] == (
        "subscribers:erase"
    )
    assert operations[("/subscribers", "get")]["security"] == [{"apiKey": ["subscribers:read"]}]
    assert operations[("/openapi.json", "get")]["security"] == []
    for (path, method), op in operations.items():
        for status, answer in op["responses"].items():
            if status != "200" or path != "/openapi.json":
                assert "content" in answer, (path, method, status)


def test_a_route_without_a_declaration_is_caught(app: Flask) -> None:
    @app.get("/api/v1/undeclared")
    def undeclared() -> str:
        return "{}"

    assert undescribed(app, build_document(app)) == ["GET /api/v1/undeclared"]
