"""Arbitrary Unicode in every field of every form, on both databases: never a 500, and text a
field refuses is never stored, not even in part.

Each example posts one field's value (the rest of the form filled in correctly), then reads
the whole database back: nothing anywhere holds a character webapp.plain_text refuses, and a
value its field refuses left every row exactly as it was. Lone surrogates cannot travel in
UTF-8: they are sent as their UTF-8-like bytes, which the server reads as U+FFFD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, _signed_in
from tests.factories import Factories
from webapp.accounts.password_reset import sign_reset
from webapp.db import database
from webapp.models import Role, Suppression
from webapp.models.base import Base
from webapp.plain_text import find_unsafe

# Tables a refused request may still touch, and why.
MAY_CHANGE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class World:
    edition_month: str
    item_id: int
    reader_token: str
    topic_id: int
    reader_id: int
    suppression_id: int
    user_id: int
    reset_link: str


@dataclass(frozen=True)
class Route:
    who: str  # "reader" (no sign-in), "editor" or "admin"
    url: Callable[[World], str]
    valid: dict[str, str | list[str]]
    # The fields to fuzz and whether each may span lines.
    fields: dict[str, bool] = field(default_factory=dict)
    takes_valid: bool = True  # False: `valid` is refused anyway (the fuzzed fields still count)


ONE = False
MULTI = True

ROUTES: dict[str, Route] = {
    "subscribe": Route(
        "reader", lambda w: "/",
        {"email": "new@example.com", "name": "王", "company": "植德", "language": "zh-CN",
         "consent": "y", "all_topics": "y", "topics": ["ai"]},
        {"email": ONE, "name": ONE, "company": ONE, "topics": ONE, "language": ONE,
         "website": ONE},
    ),
    "preferences link": Route(
        "reader", lambda w: "/preferences/link", {"email": "reader@example.com"},
        {"email": ONE, "website": ONE},
    ),
    "preferences": Route(
        "reader", lambda w: f"/p/{w.reader_token}",
        {"topics": ["ai"], "language": "en", "name": "Li", "company": "X", "tracking": "y"},
        {"topics": ONE, "language": ONE, "name": ONE, "company": ONE},
    ),
    "email change": Route(
        "reader", lambda w: f"/p/{w.reader_token}/email", {"email": "moved@example.com"},
        {"email": ONE},
    ),
    "pause": Route("reader", lambda w: f"/p/{w.reader_token}/pause", {"months": "1"},
                   {"months": ONE}),
    "one-click unsubscribe": Route(
        "reader", lambda w: f"/u/{w.reader_token}", {"List-Unsubscribe": "One-Click"},
        {"List-Unsubscribe": ONE, "via": ONE},
    ),
    "login": Route("reader", lambda w: "/login",
                   {"email": "editor@example.com", "password": PASSWORD},
                   {"email": ONE, "password": ONE}),
    "password reset": Route("reader", lambda w: "/password-reset",
                            {"email": "editor@example.com"}, {"email": ONE}),
    "new password": Route(
        "reader", lambda w: f"/password-reset/{w.reset_link}",
        {"password": "a new long password", "repeat": "a new long password"},
        {"password": ONE, "repeat": ONE},
    ),
    "two-factor confirm": Route("editor", lambda w: "/account/two-factor/confirm",
                                {"code": "123456"}, {"code": ONE}),
    "two-factor off": Route("editor", lambda w: "/account/two-factor/off",
                            {"code": "123456"}, {"code": ONE}),
    "edition texts": Route(
        "editor", lambda w: f"/editor/editions/{w.edition_month}",
        {"subject": "七月", "preheader": "要点", "intro": "第一段\r\n第二段"},
        {"subject": ONE, "preheader": ONE, "intro": MULTI},
    ),
    "import": Route("editor", lambda w: "/editor/editions/new",
                    {"report_text": "", "month": "2024-09"},
                    {"month": ONE, "report_text": MULTI, "incomplete_reason": ONE},
                    takes_valid=False),
    "item": Route(
        "editor", lambda w: f"/editor/editions/{w.edition_month}/items/{w.item_id}",
        {"section": "policy", "title": "新规", "title_en": "New rule",
         "published_on": "2024-07-02", "source": "网信办", "url": "https://example.com/a",
         "summary": "一\r\n二", "summary_en": "One", "commentary": "评", "topics": ["ai"]},
        {"section": ONE, "title": ONE, "title_en": ONE, "published_on": ONE, "source": ONE,
         "url": ONE, "summary": MULTI, "summary_en": MULTI, "commentary": MULTI,
         "topics": ONE},
    ),
    "new item": Route(
        "editor", lambda w: f"/editor/editions/{w.edition_month}/items/new",
        {"section": "deals", "title": "交易", "published_on": "2024-07-03",
         "url": "https://example.com/b", "topics": ["ai"]},
        {"title": ONE, "url": ONE, "summary": MULTI, "topics": ONE},
    ),
    "item move": Route("editor",
                       lambda w: f"/editor/editions/{w.edition_month}/items/{w.item_id}/move",
                       {"direction": "down"}, {"direction": ONE}),
    "test send": Route(
        "editor", lambda w: f"/editor/editions/{w.edition_month}/test-send",
        {"addresses": "me@example.com", "all_topics": "y", "language": "zh-CN"},
        {"addresses": MULTI, "topics": ONE, "language": ONE},
    ),
    "schedule": Route("editor", lambda w: f"/editor/editions/{w.edition_month}/schedule",
                      {"date": "2099-01-01", "time": "09:00"}, {"date": ONE, "time": ONE},
                      takes_valid=False),  # a draft cannot be scheduled
    "new reader": Route(
        "admin", lambda w: "/admin/subscribers/new",
        {"email": "added@example.com", "name": "N", "company": "C", "language": "en",
         "consent_note": "Asked at the fair", "topics": ["ai"]},
        {"email": ONE, "name": ONE, "company": ONE, "consent_note": MULTI, "topics": ONE,
         "language": ONE},
    ),
    "reader topics": Route("admin", lambda w: f"/admin/subscribers/{w.reader_id}/topics",
                           {"topics": ["ai"], "language": "en"},
                           {"topics": ONE, "language": ONE}),
    "suppress": Route("admin", lambda w: "/admin/suppressions",
                      {"email": "gone@example.com", "note": "asked"},
                      {"email": ONE, "note": ONE}),
    "lift suppression": Route(
        "admin", lambda w: f"/admin/suppressions/{w.suppression_id}/remove",
        {"reason": "They asked again\r\nin writing"}, {"reason": MULTI},
    ),
    "new topic": Route(
        "admin", lambda w: "/admin/topics",
        {"slug": "tax", "name_zh": "税务", "name_en": "Tax", "keywords": "税\n增值税"},
        {"slug": ONE, "name_zh": ONE, "name_en": ONE, "description_zh": MULTI,
         "description_en": MULTI, "keywords": MULTI},
    ),
    "topic": Route(
        "admin", lambda w: f"/admin/topics/{w.topic_id}",
        {"name_zh": "人工智能", "name_en": "AI", "keywords": "AI"},
        {"name_zh": ONE, "name_en": ONE, "description_en": MULTI, "keywords": MULTI},
    ),
    "topic move": Route("admin", lambda w: f"/admin/topics/{w.topic_id}/move",
                        {"direction": "up"}, {"direction": ONE}),
    "new user": Route("admin", lambda w: "/admin/users",
                      {"email": "colleague@example.com", "role": "editor", "mode": "invite"},
                      {"email": ONE, "role": ONE, "mode": ONE}),
    "user role": Route("admin", lambda w: f"/admin/users/{w.user_id}/role", {"role": "admin"},
                       {"role": ONE}),
}

# The reader CSV import's pasted text is fuzzed with the CSV reader's own tests: what the form
# lets through is the reader's to parse.

# Characters that have broken things before, mixed into arbitrary Unicode (surrogates too).
NASTY = "\x00\r\n\t\x0b\x0c\x1b\x7f\x85\u2028\u2029\ud800\udfff\ufeff"
TEXT = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=[]), st.sampled_from(NASTY)),
    max_size=24,
)


def _as_received(value: str) -> str:
    """What the server reads: a lone surrogate arrives as U+FFFD."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _body(data: dict[str, str | list[str]]) -> bytes:
    return urlencode(data, doseq=True, encoding="utf-8", errors="surrogatepass").encode()


def _snapshot(app: Flask) -> dict[str, list[str]]:
    with database(app).engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def _unsafe_stored(app: Flask) -> list[str]:
    found = []
    with database(app).engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    if isinstance(value, str) and find_unsafe(value, multiline=True):
                        found.append(f"{table.name}: {value!r}")
    return found


@pytest.fixture
def world(factories: Factories, session: Session, app: Flask) -> World:
    for slug in ("ai", "data"):
        factories.topic(slug)
    factories.user(email="editor@example.com", role=Role.EDITOR, password=PASSWORD)
    other = factories.user(email="other@example.com", role=Role.EDITOR)
    edition = factories.edition(
        "2024-07",
        items={"policy": [{"title": "AI policy", "topics": ["ai"]},
                          {"title": "Data policy", "topics": ["data"]}]},
    )
    reader = factories.subscriber(email="reader@example.com", topics=["ai"])
    suppression = Suppression(email_key="blocked@example.com", reason="manual", source="admin")
    session.add(suppression)
    session.commit()
    topic = factories.topic("data")
    return World(
        edition_month=edition.month,
        item_id=edition.sections[0].items[0].id,
        reader_token=reader.token,
        topic_id=topic.id,
        reader_id=reader.id,
        suppression_id=suppression.id,
        user_id=other.id,
        reset_link=sign_reset(app.config["SECRET_KEY"], other),
    )


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(ROUTES))
def test_any_text_in_any_field_is_answered_and_never_half_stored(
    app: Flask, world: World, name: str, backend: str
) -> None:
    route = ROUTES[name]
    clients: dict[str, FlaskClient] = {"reader": app.test_client()}
    if route.who != "reader":
        role = Role.ADMIN if route.who == "admin" else Role.EDITOR
        with database(app).sessionmaker() as own:
            user = Factories(own).user(role=role, password=PASSWORD)
        clients[route.who] = _signed_in(app, user)
    client = clients[route.who]
    url = route.url(world)
    if route.takes_valid:  # the form is reached and works: the examples below test something
        valid = client.post(url, data=_body(route.valid),
                            content_type="application/x-www-form-urlencoded")
        assert valid.status_code < 400, valid.get_data(as_text=True)[:500]

    @settings(max_examples=12, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(st.sampled_from(sorted(route.fields)), TEXT)
    def post_one(field_name: str, value: str) -> None:
        before = _snapshot(app)
        data = {**route.valid, field_name: value}
        response = client.post(url, data=_body(data),
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code < 500, (field_name, value)
        assert _unsafe_stored(app) == []
        received = _as_received(value)
        # Only white space (a form feed or a file separator counts, as for str.strip) is an
        # empty field, which an optional field takes: nothing unsafe is stored either way.
        refused = received.strip() and find_unsafe(received, multiline=route.fields[field_name])
        if refused:
            after = _snapshot(app)
            changed = {t for t in before if before[t] != after[t]} - MAY_CHANGE
            assert not changed, (field_name, value, changed)

    post_one()
