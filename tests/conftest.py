"""Fixtures: the app on SQLite (and PostgreSQL for tests marked `postgres`), clients, factories.

Each test gets its own database cloned from one migrated at the start of the session: a file
copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL. So every test starts from exactly
what `yuebao db upgrade` makes, without paying for the migrations each time.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask import session as flask_session
from flask.testing import FlaskClient, FlaskCliRunner
from flask_login import login_user
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.tools.postgres import PostgresServer
from webapp import create_app, migrate
from webapp.db import database
from webapp.models import Edition, EditionStatus, Role, User

PASSWORD = "correct horse battery staple"
_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rehearsal-size", type=int, default=400,
        help="readers in tests/rehearsal (default 400, within `make test`'s budget; the long "
        "run is 5000)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Database-sensitive tests (marked `postgres`) run on both backends; the rest on SQLite.
    if "backend" in metafunc.fixturenames:
        marked = metafunc.definition.get_closest_marker("postgres") is not None
        backends = ["sqlite", "postgresql"] if marked else ["sqlite"]
        metafunc.parametrize("backend", backends, scope="function")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    with psycopg.connect(postgres_server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE DATABASE yuebao_template")
    migrate.upgrade(postgres_server.url("yuebao_template"))
    return "yuebao_template"


def new_postgres_database(server: PostgresServer, template: str | None) -> str:
    name = f"yuebao_test_{next(_counter)}"
    clause = f" TEMPLATE {template}" if template else ""
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}{clause}")
    return server.url(name)


def drop_postgres_database(server: PostgresServer, url: str) -> None:
    """Drop a test's database (closing what is still connected), so the server's data stays
    the size of the tests running, not of all that ran."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        template: str = request.getfixturevalue("postgres_template")
        url = new_postgres_database(server, template)
        yield url
        drop_postgres_database(server, url)
        return
    path = tmp_path / "yuebao.sqlite3"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    yield f"sqlite:///{path}"


def app_config(database_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "ERASURE_KEY": "test-erasure-key",
        "YUEBAO_VAR_DIR": str(tmp_path / "var"),
        "OUTBOX_DIR": str(tmp_path / "var" / "outbox"),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "BASE_URL": "https://news.example.com",
        # Reader figures counted on every request, so a test sees what it has just changed
        # (tests/admin/test_dashboard.py tests the snapshot).
        "READER_FIGURES_MAX_AGE_SECONDS": "0",
    }
    config.update(extra)
    return config


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    # No application context stays pushed: a request would reuse it (and its `g`), which no
    # real request does.
    application = create_app(app_config(database_url, tmp_path))
    yield application
    database(application).engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """The test's own session, apart from the ones requests and commands open."""
    with database(app).sessionmaker() as own:
        yield own


@pytest.fixture
def factories(session: Session) -> Factories:
    return Factories(session)


def _signed_in(app: Flask, user: User) -> FlaskClient:
    """A client whose session is what a sign-in leaves (Flask-Login's own `login_user`), without
    paying for a scrypt check per test; the sign-in form has tests of its own (test_auth.py,
    admin/test_sign_in.py)."""
    client = app.test_client()
    with app.test_request_context(environ_base=client.environ_base):  # the same address and agent
        login_user(user)
        signed_in = dict(flask_session)
    with client.session_transaction() as cookie_session:
        cookie_session.update(signed_in)
    assert client.get("/editor/").status_code == 200, "the session did not sign in"
    return client


@pytest.fixture
def editor(factories: Factories) -> User:
    return factories.user(role=Role.EDITOR, password=PASSWORD)


@pytest.fixture
def admin(factories: Factories) -> User:
    return factories.user(role=Role.ADMIN, password=PASSWORD)


@pytest.fixture
def editor_client(app: Flask, editor: User) -> FlaskClient:
    return _signed_in(app, editor)


@pytest.fixture
def admin_client(app: Flask, admin: User) -> FlaskClient:
    return _signed_in(app, admin)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """One Playwright for the whole run: its sync API runs an event loop of its own, and a
    second one started while the first is open fails ("inside the asyncio loop"), so the
    module-scoped browsers of the browser tests and the session-scoped one that prints the
    report's PDFs all launch from this one. Imported here only when a test asks for it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    from webapp.i18n import TRANSLATIONS_DIR, compile_catalogs

    # Under pytest-xdist every worker runs this: one at a time, so none reads a catalogue
    # another is writing (the same temporary file for both).
    lock = os.open(TRANSLATIONS_DIR, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        compile_catalogs()
    finally:
        os.close(lock)  # and with it the lock


@pytest.fixture
def july_items() -> dict[str, list[dict[str, object]]]:
    return {
        "policy": [
            {"title": "AI policy", "topics": ["ai"], "summary": "Say {{name}} and {{{x}}}."},
            {"title": "Data policy", "topics": ["data"]},
        ],
        "industry": [{"title": "Fintech news", "topics": ["fintech", "ai"]}],
        "deals": [{"title": "A deal", "topics": ["investment"]}],
    }


@pytest.fixture
def approved(factories: Factories, july_items: dict[str, list[dict[str, object]]]) -> Edition:
    return factories.edition(
        "2024-07", status=EditionStatus.APPROVED, items=july_items  # type: ignore[arg-type]
    )
