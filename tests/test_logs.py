"""Log lines as a log reader sees them: one JSON object per line, with the request's id and
nothing a reader or a user typed in secret."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from tests.conftest import PASSWORD
from tests.factories import Factories
from webapp.logs import JsonFormatter, configure_logging
from webapp.models import User

AT = datetime(2024, 7, 1, 8, 30, 15, 250000, tzinfo=UTC)


def _record(
    msg: str, *args: object, level: int = logging.INFO, name: str = "webapp.test",
    exc_info: object = None, fields: dict[str, object] | None = None,
) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]
    record.created = AT.timestamp()
    if fields is not None:
        record.fields = fields
    return record


def test_a_line_outside_a_request_has_time_level_logger_and_message() -> None:
    line = JsonFormatter().format(_record("sent %d of %s", 3, "2024-07", level=logging.WARNING))
    assert json.loads(line) == {
        "time": "2024-07-01T08:30:15.250+00:00",
        "level": "warning",
        "logger": "webapp.test",
        "message": "sent 3 of 2024-07",
    }


def test_log_lines_are_json_with_the_request_id(app: Flask) -> None:
    formatter = JsonFormatter()
    record = _record("hello %s", "世界")
    with app.test_request_context("/x", method="POST", headers={"X-Request-ID": "rid-1"}):
        g.request_id = "rid-1"
        line = formatter.format(record)
    entry = json.loads(line)
    assert entry["message"] == "hello 世界"
    assert "世界" in line  # readable, not \\u-escaped
    assert (entry["request_id"], entry["method"], entry["path"]) == ("rid-1", "POST", "/x")
    assert "\n" not in line


def test_fields_join_the_line_and_values_json_cannot_hold_are_written_as_text() -> None:
    fields = {"edition": "2024-07", "sent": 3, "rate": Decimal("1.5"), "at": AT, "ok": True}
    entry = json.loads(JsonFormatter().format(_record("batch", fields=fields)))
    assert {k: entry[k] for k in fields} == {
        "edition": "2024-07", "sent": 3, "rate": "1.5", "at": "2024-07-01 08:30:15.250000+00:00",
        "ok": True,
    }


def test_an_exception_is_one_line_with_its_traceback() -> None:
    try:
        raise RuntimeError("SES said no\nsecond line")
    except RuntimeError:
        exc_info = sys.exc_info()
    line = JsonFormatter().format(_record("send failed", level=logging.ERROR, exc_info=exc_info))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "error" and entry["message"] == "send failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("RuntimeError: SES said no\nsecond line")


@pytest.fixture
def request_log() -> Iterator[io.StringIO]:
    """What the request logger writes, as the JSON lines production writes to stderr."""
    logger = logging.getLogger("webapp.request")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_is_one_line_with_its_id_status_and_address(
    client: FlaskClient, request_log: io.StringIO
) -> None:
    given = client.get("/archive", headers={"X-Request-ID": "lb-7f3a.9"})
    made = client.get("/no-such-page", headers={"X-Request-ID": "not a valid id!"})
    client.get("/healthz")  # the load balancer's probe is not worth a line
    first, second = _lines(request_log)
    assert given.headers["X-Request-ID"] == "lb-7f3a.9"
    assert {k: first[k] for k in ("message", "request_id", "method", "path", "status", "ip")} == {
        "message": "request", "request_id": "lb-7f3a.9", "method": "GET", "path": "/archive",
        "status": 200, "ip": "127.0.0.1",
    }
    generated = made.headers["X-Request-ID"]
    assert len(generated) == 32 and generated != "not a valid id!"
    assert (second["request_id"], second["status"]) == (generated, 404)


def test_a_request_id_longer_than_64_characters_is_replaced(
    client: FlaskClient, request_log: io.StringIO
) -> None:
    assert client.get("/", headers={"X-Request-ID": "a" * 64}).headers["X-Request-ID"] == "a" * 64
    assert client.get("/", headers={"X-Request-ID": "a" * 65}).headers["X-Request-ID"] != "a" * 65


def test_a_sign_in_leaves_no_password_cookie_or_query_in_the_log(
    client: FlaskClient, editor: User, request_log: io.StringIO
) -> None:
    client.set_cookie("session", "cookie-secret-value")
    client.post("/login?next=/editor/&hint=query-secret",
                data={"email": editor.email, "password": PASSWORD},
                headers={"Authorization": "Bearer header-secret"})
    [entry] = _lines(request_log)
    assert (entry["method"], entry["path"]) == ("POST", "/login")
    text = request_log.getvalue()
    for secret in (PASSWORD, "cookie-secret-value", "query-secret", "header-secret",
                   editor.email):
        assert secret not in text, secret


def test_a_readers_token_or_a_signed_link_never_reaches_the_log(
    client: FlaskClient, factories: Factories, request_log: io.StringIO
) -> None:
    # These URLs act for a reader (preferences, one-click unsubscribe) or set a password.
    reader = factories.subscriber()
    client.get(f"/p/{reader.token}")
    client.post(f"/u/{reader.token}", data={"List-Unsubscribe": "One-Click"})
    client.get("/password-reset/signed-link-secret")
    paths = [entry["path"] for entry in _lines(request_log)]
    assert paths == ["/p/…", "/u/…", "/password-reset/…"]
    assert reader.token not in request_log.getvalue()


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger without JSON handlers (the worker's CLI, run by another test, may have
    added one), and the root and alembic loggers as they were afterwards."""
    root = logging.getLogger()
    alembic = logging.getLogger("alembic")
    migration = logging.getLogger("alembic.runtime.migration")
    saved = (root.handlers[:], root.level, alembic.level, migration.level)
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, JsonFormatter)]
    try:
        yield root
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        alembic.setLevel(saved[2])
        migration.setLevel(saved[3])


def test_configure_logging_sends_json_lines_to_stderr_once(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(root_logger.handlers)
    configure_logging()
    configure_logging()  # the web app and the worker may both call it in one process
    assert len(root_logger.handlers) == before + 1
    assert root_logger.level == logging.INFO
    logging.getLogger("webapp.delivery").info("batch %s", "sent", extra={"fields": {"n": 2}})
    logging.getLogger("webapp.delivery").debug("not at INFO")
    [line] = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("{")]
    entry = json.loads(line)
    assert (entry["logger"], entry["message"], entry["n"]) == ("webapp.delivery", "batch sent", 2)


def test_alembic_says_only_which_migrations_it_runs(root_logger: logging.Logger) -> None:
    configure_logging()
    assert not logging.getLogger("alembic").isEnabledFor(logging.INFO)
    assert logging.getLogger("alembic.runtime.plugins").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
