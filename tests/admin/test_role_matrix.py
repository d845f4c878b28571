"""Who may open what, generated from the URL map, so a route added later is checked without
anyone remembering to add it here (CSRF on every changing route: tests/test_csrf_routes.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from tests.factories import Factories
from tests.mailbox import run_jobs
from webapp.accounts.api_keys import create_api_key
from webapp.accounts.password_reset import reset_mail
from webapp.config import settings_of
from webapp.extensions import current_language
from webapp.mailer import queue_mail
from webapp.models import EditionStatus, Role, WebhookEndpoint, utcnow
from webapp.readers.suppressions import suppress

CONSOLES = ("/admin", "/editor")
# Editor-console pages only admins may open.
ADMINS_ONLY = {
    "/editor/outbox/<name>/raw": "the message as written holds live readers' tokens",
}


def console_rules(app: Flask, method: str) -> Iterator[Rule]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith(CONSOLES) and method in (rule.methods or ()):
            yield rule


@pytest.fixture
def values(app: Flask, factories: Factories, session: Session) -> dict[str, object]:
    """A real value for each path parameter the consoles use, by its name."""
    edition = factories.edition(
        "2024-07", status=EditionStatus.DRAFT, items={"policy": [{"topics": ["ai"]}]}
    )
    reader = factories.subscriber(topics=["ai"])
    user = factories.user(role=Role.EDITOR)
    suppression = suppress(session, "gone@example.com", reason="manual", source="admin")
    api_key = create_api_key(session, "CRM", ["stats:read"], actor="cli", now=utcnow()).row
    endpoint = WebhookEndpoint(url="https://crm.example.com/hooks", events=["edition.sent"],
                               secret_encrypted="x", created_by="cli")
    session.add(endpoint)
    session.commit()
    with app.test_request_context():  # one outbox message for the outbox viewer's routes
        job = queue_mail(session, reset_mail(settings_of(app), user, current_language()))
    session.commit()
    run_jobs(app)
    outbox = sorted(Path(settings_of(app).outbox_dir).glob("*.eml"))
    return {
        "month": edition.month,
        "item_id": edition.sections[0].items[0].id,
        "subscriber_id": reader.id,
        "topic_id": factories.topic("ai").id,
        "suppression_id": suppression.id,
        "user_id": user.id,
        "name": outbox[0].name,
        "job_id": job.id,
        "key_id": api_key.id,
        "endpoint_id": endpoint.id,
    }


def url(app: Flask, rule: Rule, values: dict[str, object]) -> str:
    missing = sorted(set(rule.arguments) - set(values))
    if missing:
        pytest.fail(
            f"{rule.rule} has path parameters {missing} the role matrix cannot fill: add a "
            "factory value for them to the `values` fixture"
        )
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


def signed_out(response_location: str) -> bool:
    return urlsplit(response_location).path == "/login"


def check(
    app: Flask,
    client: FlaskClient,
    method: str,
    values: dict[str, object],
    expect: Callable[[str, int, str], bool],
) -> list[str]:
    wrong = []
    for rule in console_rules(app, method):
        path = url(app, rule, values)
        response = client.open(path, method=method)
        location = response.headers.get("Location", "")
        if not expect(rule.rule, response.status_code, location):
            wrong.append(f"{method} {path} → {response.status_code} {location}")
    return wrong


def test_anonymous_visitors_are_sent_to_sign_in_everywhere(
    app: Flask, client: FlaskClient, values: dict[str, object]
) -> None:
    def to_login(_rule: str, status: int, location: str) -> bool:
        return status == 302 and signed_out(location)

    assert len(list(console_rules(app, "GET"))) >= 10
    wrong = check(app, client, "GET", values, to_login)
    wrong += check(app, client, "POST", values, to_login)
    assert wrong == []


def _allowed(status: int, location: str) -> bool:
    """A page, a download, or a redirect to another page (never back to sign-in)."""
    return status == 200 or (status in (302, 303) and not signed_out(location))


def test_editors_get_the_editor_console_and_403_on_the_admin_console(
    app: Flask, editor_client: FlaskClient, values: dict[str, object]
) -> None:
    def expected(rule: str, status: int, location: str) -> bool:
        if rule.startswith("/admin") or rule in ADMINS_ONLY:
            return status == 403
        return _allowed(status, location)

    wrong = check(app, editor_client, "GET", values, expected)
    admin_posts = [
        f"POST {r.rule} → {editor_client.post(url(app, r, values)).status_code}"
        for r in console_rules(app, "POST")
        if r.rule.startswith("/admin")
    ]
    assert wrong == []
    assert admin_posts and all(line.endswith("→ 403") for line in admin_posts), admin_posts


def test_admins_get_every_console_page(
    app: Flask, admin_client: FlaskClient, values: dict[str, object]
) -> None:
    assert check(app, admin_client, "GET", values, lambda _r, s, loc: _allowed(s, loc)) == []
