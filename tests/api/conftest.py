"""Calling /api/v1 as a client would, with every answer checked against the OpenAPI document:
its status must be documented for that operation and its body must match the schema."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from webapp.accounts.api_keys import create_api_key
from webapp.api.openapi import PREFIX, build_document
from webapp.models import SCOPES, utcnow

ALL_SCOPES = tuple(SCOPES)


def _matcher(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(template)) + r"\Z")


@dataclass
class Contract:
    """The OpenAPI document every answer is checked against."""

    document: dict[str, Any]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        relative = path.split("?", 1)[0][len(PREFIX):]
        for template, operations in self.document["paths"].items():
            if _matcher(template).match(relative) and method.lower() in operations:
                return template, operations[method.lower()]
        return None

    def validate(self, schema: dict[str, Any], body: Any) -> None:
        rooted = {**schema, "components": self.document["components"]}
        OAS31Validator(rooted).validate(body)

    def check(self, method: str, path: str, response: TestResponse) -> None:
        assert response.mimetype == "application/json", (path, response.mimetype)
        body = response.get_json()
        found = self.operation(method, path)
        if found is None:  # an address no route has: only the error shape fits
            assert response.status_code in (404, 405), (method, path, response.status_code)
            self.validate({"$ref": "#/components/schemas/Error"}, body)
            return
        template, operation = found
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method} {template} answered {status}, which its OpenAPI operation does not list"
        )
        content = operation["responses"][status].get("content")
        if content is not None:
            self.validate(content["application/json"]["schema"], body)


@pytest.fixture(scope="session")
def contract_document(sqlite_template: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import app_config
    from webapp import create_app
    from webapp.db import database

    path = tmp_path_factory.mktemp("openapi")
    app = create_app(app_config(f"sqlite:///{sqlite_template}", path))
    try:
        return build_document(app)
    finally:
        database(app).engine.dispose()


@pytest.fixture
def contract(contract_document: dict[str, Any]) -> Contract:
    return Contract(contract_document)


class Api:
    """A test client for /api/v1 that sends a key and checks every answer against the contract."""

    def __init__(self, client: FlaskClient, contract: Contract, key: str | None) -> None:
        self.client = client
        self.contract = contract
        self.key = key

    def call(
        self, method: str, path: str, *, key: str | None = "default", json: Any = None,
        data: bytes | str | None = None, headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> TestResponse:
        sent = dict(headers or {})
        chosen = self.key if key == "default" else key
        if chosen is not None:
            sent.setdefault("Authorization", f"Bearer {chosen}")
        url = path if path.startswith(PREFIX) else PREFIX + path
        response = self.client.open(
            url, method=method, json=json, data=data, headers=sent, content_type=content_type
        )
        self.contract.check(method, url, response)
        return response

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> TestResponse:
        return self.call("PATCH", path, **kw)


@pytest.fixture
def make_key(session: Session) -> Callable[..., str]:
    def make(*scopes: str, name: str = "CRM") -> str:
        made = create_api_key(session, name, scopes or ALL_SCOPES, actor="cli", now=utcnow())
        session.commit()
        return made.key

    return make


@pytest.fixture
def api(app: Flask, contract: Contract, make_key: Callable[..., str]) -> Iterator[Api]:
    yield Api(app.test_client(), contract, make_key(*ALL_SCOPES))
