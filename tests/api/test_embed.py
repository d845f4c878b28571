"""The embeddable subscribe form's endpoints, /api/v1/public/…, as a page on the firm's site
calls them: CORS for EMBED_ORIGINS only, double opt-in through the subscribe page's own
request, one answer for every address, the honeypot, the rate limits, the consent ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import Api, Contract
from tests.conftest import app_config
from tests.factories import Factories
from tests.mailbox import link_in, outbox
from tests.test_config import PRODUCTION
from webapp import create_app
from webapp.config import ConfigError, load_settings
from webapp.db import database
from webapp.models import BackgroundJob, ConsentRecord, ConsentSource, Subscriber
from webapp.readers.consent import CONSENT_VERSION

FIRM = "https://www.firm.example"
ELSEWHERE = "https://evil.example"
SUBSCRIPTIONS = "/public/subscriptions"


def signup(email: str = "reader@example.com", **fields: Any) -> dict[str, Any]:
    return {"email": email, "topics": ["ai"], "language": "zh-CN",
            "consent_version": CONSENT_VERSION, **fields}


def _app(database_url: str, tmp_path: Path, **extra: Any) -> Flask:
    origins = f"{FIRM}, http://127.0.0.1:8123"
    return create_app(app_config(database_url, tmp_path, EMBED_ORIGINS=origins, **extra))


@pytest.fixture
def embed_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = _app(database_url, tmp_path)
    yield app
    database(app).engine.dispose()


@pytest.fixture
def site(embed_app: Flask, contract: Contract) -> Api:
    """A browser on a page of the firm's site: no key, no cookie, its Origin."""
    return Api(embed_app.test_client(use_cookies=False), contract, None)


@pytest.fixture
def own(embed_app: Flask) -> Iterator[Session]:
    with database(embed_app).sessionmaker() as session:
        yield session


def _queued(session: Session) -> int:
    return len(session.scalars(select(BackgroundJob)).all())


def test_an_allowed_origin_gets_cors_headers_and_202(site: Api, own: Session) -> None:
    response = site.post(SUBSCRIPTIONS, json=signup(), headers={"Origin": FIRM})
    assert response.status_code == 202
    assert response.get_json() == {"status": "accepted"}
    assert response.headers["Access-Control-Allow-Origin"] == FIRM
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert _queued(own) == 1


def test_the_preflight_allows_json_posts_from_listed_origins_only(embed_app: Flask) -> None:
    client = embed_app.test_client()
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}
    allowed = client.options("/api/v1" + SUBSCRIPTIONS, headers={"Origin": FIRM, **asked})
    assert allowed.headers["Access-Control-Allow-Origin"] == FIRM
    assert "content-type" in allowed.headers["Access-Control-Allow-Headers"].lower()
    refused = client.options("/api/v1" + SUBSCRIPTIONS, headers={"Origin": ELSEWHERE, **asked})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_an_unlisted_origin_is_refused_by_the_server(site: Api, own: Session) -> None:
    response = site.post(SUBSCRIPTIONS, json=signup(), headers={"Origin": ELSEWHERE})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert _queued(own) == 0
    form = site.get("/public/form", headers={"Origin": ELSEWHERE})
    assert form.status_code == 403


def test_the_same_answer_for_new_pending_and_existing_addresses(
    embed_app: Flask, site: Api, own: Session
) -> None:
    factories = Factories(own)
    factories.subscriber(email="member@example.com", topics=["ai"])
    pending = factories.subscriber(email="waiting@example.com", topics=["ai"])
    pending.status = "pending"  # type: ignore[assignment]
    own.commit()
    answers = [
        site.post(SUBSCRIPTIONS, json=signup(address), headers={"Origin": FIRM})
        for address in ("new@example.com", "waiting@example.com", "member@example.com")
    ]
    assert {(a.status_code, a.get_data()) for a in answers} == {
        (202, answers[0].get_data())
    }
    assert {frozenset(a.headers.keys()) for a in answers} == {frozenset(answers[0].headers.keys())}
    sent = {str(m["To"]): m for m in outbox(embed_app)}
    assert set(sent) == {"new@example.com", "waiting@example.com", "member@example.com"}
    assert link_in(sent["new@example.com"], "/confirm/")


def test_double_opt_in_is_always_asked_and_the_ledger_says_embed_and_the_origin(
    embed_app: Flask, site: Api, own: Session
) -> None:
    site.post(SUBSCRIPTIONS, json=signup(name="Li Lei"),
              headers={"Origin": FIRM, "User-Agent": "Firm site/1"})
    (mail,) = outbox(embed_app)
    reader = own.scalars(select(Subscriber)).one()
    assert reader.status == "pending"
    assert reader.name == "Li Lei"
    assert link_in(mail, "/confirm/")
    record = own.scalars(select(ConsentRecord)).one()
    assert record.source == ConsentSource.EMBED
    assert record.action == "subscribe"
    assert record.text_version == CONSENT_VERSION
    assert record.user_agent == "Firm site/1"
    assert record.detail == {"topics": ["ai"], "language": "zh-CN", "site": FIRM}


def test_the_honeypot_gets_the_same_answer_and_nothing_happens(
    site: Api, own: Session
) -> None:
    caught = site.post(SUBSCRIPTIONS, json=signup(website="http://spam.example"),
                       headers={"Origin": FIRM})
    person = site.post(SUBSCRIPTIONS, json=signup("person@example.com"),
                       headers={"Origin": FIRM})
    assert (caught.status_code, caught.get_data()) == (person.status_code, person.get_data())
    assert _queued(own) == 1


def test_an_old_consent_text_is_refused(site: Api, own: Session) -> None:
    response = site.post(SUBSCRIPTIONS, json=signup(consent_version="2001-01"),
                         headers={"Origin": FIRM})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "consent_outdated"
    assert _queued(own) == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (signup("not an address"), 422, "invalid_email"),
        (signup(topics=["no-such-topic"]), 422, "no_topics"),
        ({"email": "a@example.com"}, 422, "validation_failed"),
        (signup(extra="field"), 422, "validation_failed"),
    ],
)
def test_bad_input_is_refused_in_the_error_shape(
    site: Api, own: Session, body: dict[str, Any], status: int, code: str
) -> None:
    response = site.post(SUBSCRIPTIONS, json=body, headers={"Origin": FIRM})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert response.headers["Access-Control-Allow-Origin"] == FIRM  # the page can say why
    assert _queued(own) == 0


def test_bad_json_and_oversize_bodies_are_refused_in_the_error_shape(
    site: Api, own: Session
) -> None:
    broken = site.post(SUBSCRIPTIONS, data='{"email": ', content_type="application/json",
                       headers={"Origin": FIRM})
    assert broken.status_code == 400
    assert broken.get_json()["error"]["code"] == "invalid_json"
    huge = site.post(SUBSCRIPTIONS, data='{"email": "' + "a" * 70_000 + '"}',
                     content_type="application/json", headers={"Origin": FIRM})
    assert huge.status_code == 413
    assert huge.get_json()["error"]["code"] == "payload_too_large"
    form_encoded = site.post(SUBSCRIPTIONS, data="email=a%40example.com",
                             content_type="application/x-www-form-urlencoded",
                             headers={"Origin": FIRM})
    assert form_encoded.status_code == 415
    assert _queued(own) == 0


def test_rate_limits_per_client_and_per_address(
    database_url: str, tmp_path: Path, contract: Contract
) -> None:
    app = _app(database_url, tmp_path, RATELIMIT_ENABLED=True)
    client = app.test_client(use_cookies=False)

    def post(address: str, ip: str) -> int:
        response = client.post("/api/v1" + SUBSCRIPTIONS, json=signup(address),
                               headers={"Origin": FIRM}, environ_base={"REMOTE_ADDR": ip})
        contract.check("POST", "/api/v1" + SUBSCRIPTIONS, response)
        if response.status_code == 429:
            assert response.get_json()["error"]["code"] == "rate_limited"
            assert response.headers["Access-Control-Allow-Origin"] == FIRM
        return response.status_code

    try:
        # One address: five requests an hour, whoever sends them.
        assert [post("same@example.com", f"198.51.100.{n}") for n in range(6)] == (
            [202] * 5 + [429]
        )
        # The subscribe page and the embedded form count one address together.
        for n in range(3):
            page = client.post("/", data={"email": "both@example.com", "topics": ["ai"],
                                          "language": "en", "consent": "y"},
                               environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
            assert page.status_code == 303
        assert [post("both@example.com", f"192.0.2.{n}") for n in range(10, 13)] == (
            [202] * 2 + [429]
        )
        # One client: ten requests a minute, whatever the addresses.
        assert [post(f"r{n}@example.com", "203.0.113.7") for n in range(11)] == (
            [202] * 10 + [429]
        )
    finally:
        database(app).engine.dispose()


def test_the_form_speaks_the_chosen_language_and_sets_no_cookie(site: Api) -> None:
    response = site.get("/public/form?lang=en", headers={"Origin": FIRM})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FIRM
    assert "Set-Cookie" not in response.headers
    form = response.get_json()
    assert form["consent"]["version"] == CONSENT_VERSION
    assert form["labels"]["submit"] == "Subscribe"
    assert "ai" in {t["slug"] for t in form["topics"]}
    assert form["colours"]["primary"].startswith("#")
    chinese = site.get("/public/form?lang=zh-CN", headers={"Origin": FIRM}).get_json()
    assert chinese["consent"]["text"] != form["consent"]["text"]
    assert site.get("/public/form?lang=fr").status_code == 400


def test_embed_origins_must_be_origins_and_not_a_wildcard_in_production() -> None:
    assert load_settings({"EMBED_ORIGINS": "https://a.example/, http://b.example:8080"}
                         ).embed_origins == ("https://a.example", "http://b.example:8080")
    with pytest.raises(ConfigError, match="EMBED_ORIGINS"):
        load_settings({"EMBED_ORIGINS": "https://a.example/subscribe"})
    with pytest.raises(ConfigError, match="EMBED_ORIGINS"):
        load_settings({"EMBED_ORIGINS": "www.example.com"})
    assert load_settings({"EMBED_ORIGINS": "*"}).embed_origins == ("*",)
    with pytest.raises(ConfigError, match="EMBED_ORIGINS"):
        load_settings({**PRODUCTION, "EMBED_ORIGINS": "*"})
    assert load_settings({**PRODUCTION, "EMBED_ORIGINS": FIRM}).embed_origins == (FIRM,)


def test_no_origins_no_cors(app: Flask, contract: Contract) -> None:
    site = Api(app.test_client(), contract, None)
    response = site.post(SUBSCRIPTIONS, json=signup(), headers={"Origin": FIRM})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
