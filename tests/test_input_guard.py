"""NUL and control characters in a path, a query or a form never reach the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from tests.factories import Factories
from webapp.db import database
from webapp.models import Delivery, Subscriber, User


@contextmanager
def counted_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = database(app).engine

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "path", ["/v/abc%00", "/o/abc%00.gif", "/c/abc%00/1", "/p/abc%00", "/u/abc%00",
             "/confirm/abc%00", "/password-reset/abc%00", "/archive/2024-07%00"],
)
def test_a_nul_in_the_path_is_refused_before_the_database(
    client: FlaskClient, path: str, backend: str
) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert "U+0000" in response.get_data(as_text=True)


@pytest.mark.postgres
def test_a_nul_in_a_query_argument_is_refused(client: FlaskClient, backend: str) -> None:
    assert client.get("/archive?page=1%00").status_code == 400
    assert client.get("/login?next=/editor/%0d%0aX:y").status_code == 400


@pytest.mark.postgres
def test_a_nul_in_the_subscribe_form_stores_nothing(
    client: FlaskClient, session: Session, backend: str
) -> None:
    response = client.post(
        "/", data={"email": "a@example.com", "name": "A\x00B", "language": "zh-CN",
                   "consent": "y", "all_topics": "y"},
    )
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login", {"email": "a\x00@example.com", "password": PASSWORD}),
        ("/password-reset", {"email": "a\x00@example.com"}),
        ("/preferences/link", {"email": "a\x00@example.com"}),
    ],
)
def test_a_nul_in_a_sign_in_or_link_form_is_a_400(
    client: FlaskClient, factories: Factories, path: str, data: dict[str, str], backend: str
) -> None:
    factories.user(email="a@example.com", password=PASSWORD)
    response = client.post(path, data=data)
    assert response.status_code == 400


def test_other_control_characters_reach_the_form_and_its_message(client: FlaskClient) -> None:
    response = client.post(
        "/", data={"email": "a@example.com", "name": "A\x0bB", "language": "en",
                   "consent": "y", "all_topics": "y"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "U+000B at character 2" in page
    assert 'value="a@example.com"' in page  # what was typed is kept


@pytest.mark.parametrize(
    "path", ["/v/short", "/o/not a token.gif", "/c/" + "x" * 65 + "/1", "/p/a.b.c",
             "/u/" + "é" * 20, "/confirm/!!", "/password-reset/<x>"],
)
def test_a_token_of_the_wrong_shape_is_not_looked_up(app: Flask, path: str) -> None:
    client = app.test_client()
    with counted_queries(app) as statements:
        response = client.get(path)
    assert response.status_code in {404, 410}
    assert statements == []


def test_a_well_formed_unknown_token_is_a_404(client: FlaskClient, session: Session) -> None:
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    token = "a" * 43
    for path in [f"/v/{token}", f"/c/{token}/1", f"/p/{token}", f"/u/{token}"]:
        assert client.get(path).status_code == 404, path
    assert client.get(f"/o/{token}.gif").status_code == 200  # a pixel is always a pixel
    assert session.scalar(select(func.count()).select_from(User)) == 0
