"""POST /hooks/ses: SNS → SES events, answered in front of Flask.

SES reports every send and every delivery, so this path takes thousands of requests a second
during a send: it verifies the signature, checks topic and age, stores the notification with
one INSERT and answers. It is a plain WSGI application placed before Flask's (`SesHook`):
Flask's request pipeline — limiter, session and login loading, security headers meant for
pages, the input guard, the ORM session — cost several times what the work itself does, and
an answer to SNS needs none of it.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import logging
import os
import threading
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

    On PostgreSQL its connections are taken out of the pool, one per serving thread, and kept
    (`ThreadConnections`); autocommit, since the request's one INSERT is a transaction of its
    own, and no ping (a connection that died fails its request with a 500, which SNS retries,
    and is replaced). On SQLite the app's engine: its writes must queue on
    webapp.sqlite_writes' lock.
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


class ThreadConnections:
    """One psycopg connection per serving thread, kept from request to request.

    A request on PostgreSQL is one INSERT; checking a connection out of SQLAlchemy's pool and
    back in (the reset on return, the bookkeeping) cost a fifth of the hook's CPU. A kept
    connection also keeps its prepared statement. Each is detached from the pool, so gunicorn
    may run more threads than the pool holds; one that failed is closed and replaced on the
    thread's next request; one inherited across a fork is left alone (its socket is the
    parent's).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()

    def connection(self) -> Any:
        """This thread's psycopg connection, opened now if it has none (or a dead one)."""
        kept: tuple[int, Any] | None = getattr(self._local, "kept", None)
        if kept is not None and kept[0] == os.getpid() and not kept[1].closed:
            return kept[1]
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # ours now: closing it closes it, and the pool has room for another
        self._local.kept = (os.getpid(), connection)
        return connection

    def discard(self) -> None:
        """Close this thread's connection (after it failed): the next request opens another."""
        kept: tuple[int, Any] | None = self._local.__dict__.pop("kept", None)
        if kept is not None and kept[0] == os.getpid():
            with contextlib.suppress(Exception):  # already broken: closing must not raise
                kept[1].close()


def thread_connections(app: Flask) -> ThreadConnections:
    connections: ThreadConnections | None = app.extensions.get("yuebao.hooks.connections")
    if connections is None:
        connections = ThreadConnections(hook_engine(app))
        app.extensions["yuebao.hooks.connections"] = connections
    return connections


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


@functools.lru_cache(maxsize=32)
def _encoded(body: tuple[tuple[str, str], ...]) -> tuple[bytes, str]:
    """An answer's JSON and its length, encoded once: there are a handful of answers."""
    data = json.dumps(dict(body)).encode()
    return data, str(len(data))


def _answer(start_response: StartResponse, status: str, body: dict[str, str],
            extra: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data, length = _encoded(tuple(body.items()))
    start_response(status, [*_HEADERS, *extra, ("Content-Length", length)])
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
            connections = thread_connections(app)
            try:
                outcome = receive_sns(PsycopgInbox(connections.connection()), body, settings)
            except (SnsError, SnsUnavailable):
                raise  # refused before anything was written: the connection is fine
            except BaseException:
                connections.discard()  # a connection that failed is never used again
                raise
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

