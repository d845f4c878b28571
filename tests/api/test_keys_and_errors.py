"""The API's gate and its one error shape: no key, a wrong or revoked key, a missing scope,
bad bodies, unknown addresses and methods, a failure, the rate limit."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import Api, Contract
from tests.conftest import _signed_in, app_config
from tests.factories import Factories
from webapp import create_app
from webapp.accounts.api_keys import revoke_api_key
from webapp.api import bp
from webapp.api.spec import declared_operation
from webapp.db import database
from webapp.models import ApiKey, Subscriber, User, utcnow


def error_code(response: object) -> str:
    return response.get_json()["error"]["code"]  # type: ignore[attr-defined,no-any-return]


def test_no_key_or_a_wrong_one_is_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer yb_nope"},
                    {"Authorization": "Bearer yb_abcdefabcdef_" + "A" * 43}):
        response = api.get("/topics", key=None, headers=headers)
        assert response.status_code == 401, headers
        assert error_code(response) == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.postgres
def test_a_revoked_key_is_401(api: Api, session: Session) -> None:
    assert api.get("/topics").status_code == 200
    key = session.scalars(select(ApiKey)).one()
    revoke_api_key(session, key, actor="cli", now=utcnow())
    session.commit()
    response = api.get("/topics")
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_a_key_without_the_scope_is_403(api: Api, make_key: Callable[..., str]) -> None:
    reader = make_key("subscribers:read", name="reader")
    response = api.post("/subscribers", key=reader,
                        json={"email": "a@example.com", "topics": ["ai"]})
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "missing_scope"
    assert error["details"] == {"required_scope": "subscribers:write",
                                "granted_scopes": ["subscribers:read"]}
    writer = make_key("subscribers:read", "subscribers:write", name="writer")
    assert api.post("/subscribers/1/erase", key=writer).status_code == 403
    assert api.get("/topics", key=make_key("stats:read")).status_code == 200


def test_the_console_session_does_not_open_the_api(
    app: Flask, admin: User, contract: Contract
) -> None:
    signed_in = _signed_in(app, admin)
    response = signed_in.get("/api/v1/subscribers")
    assert response.status_code == 401
    contract.check("GET", "/api/v1/subscribers", response)
    assert "Set-Cookie" not in response.headers


@pytest.mark.postgres
def test_the_last_use_is_recorded(api: Api, session: Session) -> None:
    api.get("/topics")
    key = session.scalars(select(ApiKey)).one()
    assert key.last_used_at is not None


def test_bodies_that_are_not_a_json_object_are_refused(api: Api, session: Session) -> None:
    cases = [
        (b'{"email": "a@example.com",', "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_json"),
        (b'{"x": NaN}', "application/json", 400, "invalid_json"),
        (b"[" * 100_000, "application/json", 413, "payload_too_large"),
        (b"email=a@example.com", "application/x-www-form-urlencoded", 415,
         "unsupported_media_type"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
    ]
    for body, content_type, status, code in cases:
        response = api.post("/subscribers", data=body, content_type=content_type)
        assert (response.status_code, error_code(response)) == (status, code), body[:20]
    assert session.scalar(select(Subscriber)) is None


def test_an_oversize_body_is_413_before_it_is_read(api: Api) -> None:
    big = {"email": "a@example.com", "topics": ["ai"], "name": "x" * 70_000}
    response = api.post("/subscribers", json=big)
    assert response.status_code == 413 and error_code(response) == "payload_too_large"


def test_unknown_fields_are_refused_by_name(api: Api, session: Session) -> None:
    response = api.post(
        "/subscribers", json={"email": "a@example.com", "topics": ["ai"], "lang": "en"}
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]["fields"] == {"lang": ["Unknown field."]}
    assert api.get("/subscribers?colour=red").status_code == 400
    assert session.scalar(select(Subscriber)) is None


def test_unknown_addresses_and_methods_answer_in_the_same_shape(api: Api) -> None:
    response = api.get("/nothing-here")
    assert response.status_code == 404 and error_code(response) == "not_found"
    response = api.get("/nothing-here", key=None)
    assert response.status_code == 404
    response = api.call("DELETE", "/topics")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
    response = api.get("/subscribers/999")
    assert response.status_code == 404 and error_code(response) == "not_found"
    response = api.get("/topics?x=%01")
    assert response.status_code == 400 and error_code(response) == "bad_request"


@pytest.fixture
def failing_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(app_config(database_url, tmp_path, TESTING=False,
                                PROPAGATE_EXCEPTIONS=False))
    yield app
    database(app).engine.dispose()


def test_a_failure_is_a_500_in_the_same_shape(
    failing_app: Flask, contract: Contract, make_key: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> list[object]:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr("webapp.api.topics.active_topics", broken)
    api = Api(failing_app.test_client(), contract, make_key())
    response = api.get("/topics")
    assert response.status_code == 500
    assert error_code(response) == "internal_error"
    assert "fell over" not in response.get_data(as_text=True)


def test_requests_past_the_limit_are_429_per_key(
    database_url: str, tmp_path: Path, contract: Contract, make_key: Callable[..., str],
    factories: Factories,
) -> None:
    app = create_app(app_config(
        database_url, tmp_path, RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute",
        RATELIMIT_STORAGE_URI="memory://",
    ))
    try:
        first = Api(app.test_client(), contract, make_key(name="first"))
        second = Api(app.test_client(), contract, make_key(name="second"))
        assert [first.get("/topics").status_code for _ in range(3)] == [200] * 3
        refused = first.get("/topics")
        assert refused.status_code == 429 and error_code(refused) == "rate_limited"
        assert "Retry-After" in refused.headers
        assert second.get("/topics").status_code == 200
    finally:
        database(app).engine.dispose()


def test_every_api_route_is_exempt_from_csrf_and_under_v1(app: Flask) -> None:
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(f"{bp.name}.")]
    assert rules and all(r.rule.startswith("/api/v1/") for r in rules)


def test_every_changing_api_route_refuses_a_request_without_a_key(
    app: Flask, contract: Contract, session: Session
) -> None:
    client = app.test_client()
    changing = {"POST", "PUT", "PATCH", "DELETE"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        declared = declared_operation(app.view_functions[rule.endpoint])
        if declared is not None and declared.public:  # the embedded form: tests/api/test_embed.py
            continue
        for method in sorted((rule.methods or set()) & changing):
            path = re.sub(r"<[^>]+>", "1", rule.rule)
            response = client.open(path, method=method, json={"email": "a@example.com"})
            assert response.status_code == 401, (method, path)
            contract.check(method, path, response)
            checked += 1
    assert checked >= 4
    assert session.scalar(select(Subscriber)) is None


def test_a_rate_limit_that_does_not_parse_is_refused_at_start() -> None:
    from webapp.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="API_RATE_LIMIT"):
        load_settings({"API_RATE_LIMIT": "lots"})
    assert load_settings({"API_RATE_LIMIT": "5/second; 100/hour"}).api_rate_limit


@pytest.mark.postgres
def test_control_characters_in_text_fields_are_refused_by_field(
    api: Api, session: Session, factories: Factories
) -> None:
    """webapp.plain_text's one rule, as on the forms: NUL would end as a 500 on PostgreSQL,
    a line break in a name could reach a mail header."""
    cases = [
        ({"email": "a\x00@example.com", "topics": ["ai"]}, "email"),
        ({"email": "a@example.com", "topics": ["ai"], "name": "Li\nLei"}, "name"),
        ({"email": "a@example.com", "topics": ["a\x00i"]}, "topics"),
        ({"email": "a@example.com", "topics": ["ai"], "company": "\ud800"}, "company"),
        ({"email": "a@example.com", "topics": ["ai"], "consent_attestation": "form\x00"},
         "consent_attestation"),
    ]
    for body, field in cases:
        response = api.post("/subscribers", json=body)
        assert response.status_code == 422, body
        assert field in response.get_json()["error"]["details"]["fields"], body
    statement = {"email": "a@example.com", "topics": ["ai"],
                 "consent_attestation": "Intake form,\r\nticked the box"}
    assert api.post("/subscribers", json=statement).status_code == 201  # line breaks are fine
    refused = api.post("/suppressions", json={"email": "b@example.com", "note": "x\ny"})
    assert refused.status_code == 422
    assert session.scalars(select(Subscriber.email)).all() == ["a@example.com"]


def test_json_nested_too_deep_is_invalid_json(api: Api) -> None:
    response = api.post("/subscribers", data=b"[" * 60_000, content_type="application/json")
    assert response.status_code == 400 and error_code(response) == "invalid_json"
    huge = b'{"email": "a@example.com", "topics": ["ai"], "x": ' + b"9" * 5000 + b"}"
    response = api.post("/subscribers", data=huge, content_type="application/json")
    assert response.status_code == 400 and error_code(response) == "invalid_json"


def test_answers_are_never_cached(api: Api) -> None:
    assert api.get("/topics").headers["Cache-Control"] == "no-store"
    assert api.get("/topics", key=None).headers["Cache-Control"] == "no-store"


def test_a_form_labelled_body_is_not_parsed_as_a_form(api: Api) -> None:
    response = api.post("/subscribers", data=b"email=a%00@example.com&topics=ai",
                        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and error_code(response) == "unsupported_media_type"
