"""Logs as one JSON line per event, each carrying the request id."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Path parts that open a reader's pages or a console account: never written to a log.
SECRET_ARGS = ("token", "signed")


def loggable_path() -> str:
    """The request's path with its token or signed link replaced by "…": those URLs act for
    a reader (preferences, unsubscribe, erase) or set a password, like a password would."""
    path = request.path
    for name in SECRET_ARGS:
        value = (request.view_args or {}).get(name)
        if isinstance(value, str) and value:
            path = path.replace(value, "…")
    return path


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            entry["method"] = request.method
            entry["path"] = loggable_path()
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the root logger's records to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces every plugin it loads; only the migrations it runs are worth a line.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)


def init_app(app: Flask) -> None:
    if not app.testing:
        configure_logging()
    log = logging.getLogger("webapp.request")

    @app.before_request
    def assign_request_id() -> None:
        # A trusted proxy's id is kept so one request can be followed across hops.
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def log_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.path != "/healthz":
            log.info(
                "request",
                extra={"fields": {"status": response.status_code, "ip": request.remote_addr}},
            )
        return response
