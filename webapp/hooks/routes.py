"""POST /hooks/ses: SNS → SES events, answered in front of Flask.

SES reports every send and every delivery, so this path takes thousands of requests a second
during a send: it verifies the signature, checks topic and age, stores the notification with
one INSERT and answers. It is a plain WSGI application placed before Flask's (`SesHook`):
Flask's request pipeline — limiter, session and login loading, security headers meant for
pages, the input guard, the ORM session — cost several times what the work itself does, and
an answer to SNS needs none of it.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.request
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import Engine, event

from emails.sns import MAX_BODY_BYTES, SigningCertificates, SnsError, SnsUnavailable
from webapp import db
from webapp.config import settings_of
from webapp.db import make_engine
from webapp.events.inbox import ConnectionInbox, PsycopgInbox
from webapp.events.ses import HookSettings, receive_sns

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

PATH = "/hooks/ses"


def _confirm_subscription(url: str) -> None:
    try:
        # receive_sns calls this only with an https URL on SNS's host (or the simulator's in tests).
        with urllib.request.urlopen(url, timeout=10) as answer:  # nosec B310: checked SNS URL
            answer.read(64 * 1024)
    except (OSError, http.client.HTTPException) as error:
        raise SnsUnavailable(f"could not confirm the subscription: {error!r}") from None


def hook_settings(app: Flask) -> HookSettings:
    """Built once per app: the certificate cache must outlive a request."""
    hook: HookSettings | None = app.extensions.get("yuebao.hooks")
    if hook is None:
        settings = settings_of(app)
        cert = settings.sns_test_cert
        hook = HookSettings(
            topic_arns=settings.sns_topic_arns,
            signing_keys=SigningCertificates(),
            confirm_subscription=_confirm_subscription,
            test_certificate=Path(cert).read_bytes() if cert else None,
            max_age=timedelta(hours=settings.sns_max_age_hours),
            bounce_suppress_after=settings.bounce_suppress_after,
        )
        app.extensions["yuebao.hooks"] = hook
    return hook


def hook_engine(app: Flask) -> Engine:
    """The engine the hook stores with, built once per app.

    On PostgreSQL a request costs one round trip: no ping when a connection is checked out (a
    connection that died fails its request with a 500, which SNS retries, and the pool is
    replaced), and autocommit, since the request's one INSERT is a transaction of its own. On
    SQLite the app's engine: its writes must queue on webapp.sqlite_writes' lock.
    """
    engine: Engine | None = app.extensions.get("yuebao.hooks.engine")
    if engine is None:
        engine = db.database(app).engine
        if engine.dialect.name == "postgresql":
            engine = make_engine(settings_of(app).database_url, pre_ping=False)
            event.listen(engine, "connect", _autocommit)
        app.extensions["yuebao.hooks.engine"] = engine
    return engine


def _autocommit(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.autocommit = True


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """The request body, or None past `limit` bytes: never more than limit + 1 in memory."""
    length = environ.get("CONTENT_LENGTH") or ""
    declared = int(length) if length.isdigit() else None
    if declared is not None and declared > limit:
        return None
    stream = environ["wsgi.input"]
    # Never read past a declared length: the server's stream may not end there.
    wanted = declared if declared is not None else limit + 1
    chunks, size = [], 0
    while size < wanted:
        chunk = stream.read(wanted - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff")]


def _answer(start_response: StartResponse, status: str, body: dict[str, str],
            extra: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [*_HEADERS, *extra, ("Content-Length", str(len(data)))])
    return [data]


def answer_sns(app: Flask, body: bytes | None) -> tuple[str, dict[str, str]]:
    """Status line and JSON answer for one SNS POST: 200 once stored (or already stored);
    503 when it cannot be checked now (SNS's certificate could not be fetched: SNS retries
    server errors only); 400 with a logged reason else.

    A repeat, even one arriving while the first is being stored, is answered "duplicate" by
    the receipt's INSERT … ON CONFLICT DO NOTHING; a database error is raised (SesHook answers
    500), so SNS retries rather than the event being lost.
    """
    settings = hook_settings(app)
    try:
        if body is None:
            raise SnsError(f"body larger than {MAX_BODY_BYTES} bytes")
        engine = hook_engine(app)
        if engine.dialect.name == "postgresql":
            dbapi = engine.raw_connection()
            try:
                outcome = receive_sns(PsycopgInbox(dbapi.driver_connection), body, settings)
            except (SnsError, SnsUnavailable):
                dbapi.close()  # refused before anything was written: back to the pool
                raise
            except BaseException:
                dbapi.invalidate()  # a connection that failed never goes back to the pool
                raise
            dbapi.close()
        else:
            with engine.begin() as connection:
                outcome = receive_sns(ConnectionInbox(connection), body, settings)
    except SnsUnavailable as error:
        log.warning("SNS message not checked now", extra={"fields": {"reason": error.reason}})
        return "503 SERVICE UNAVAILABLE", {"error": "unavailable"}
    except SnsError as error:
        log.warning("SNS message refused", extra={"fields": {"reason": error.reason}})
        return "400 BAD REQUEST", {"error": "refused"}
    return "200 OK", {"result": outcome}


class SesHook:
    """WSGI middleware: POST /hooks/ses is answered here, everything else goes to Flask."""

    def __init__(self, app: Flask, inner: WSGIApplication) -> None:
        self.app = app
        self.inner = inner

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.inner(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 METHOD NOT ALLOWED", {"error": "method"},
                           [("Allow", "POST")])
        try:
            status, answer = answer_sns(self.app, _read_body(environ, MAX_BODY_BYTES))
        except Exception:  # the database's (SQLAlchemy's or the driver's) or a bug: SNS retries
            log.exception("SNS message not stored")
            return _answer(start_response, "500 INTERNAL SERVER ERROR", {"error": "internal"})
        return _answer(start_response, status, answer)


def init_app(app: Flask) -> None:
    """Put the hook in front of the app (outside any other WSGI middleware)."""
    app.wsgi_app = SesHook(app, app.wsgi_app)  # type: ignore[method-assign]

