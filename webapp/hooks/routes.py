from __future__ import annotations

import http.client
import logging
import urllib.request
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, jsonify, request
from werkzeug.wrappers import Response

from emails.sns import MAX_BODY_BYTES, SigningCertificates, SnsError, SnsUnavailable
from webapp import db
from webapp.config import settings_of
from webapp.events.ses import HookSettings, receive_sns
from webapp.extensions import csrf, limiter
from webapp.hooks import bp

log = logging.getLogger(__name__)


def _confirm_subscription(url: str) -> None:
    try:
        # receive_sns calls this only with an https URL on SNS's host (or the simulator's in tests).
        with urllib.request.urlopen(url, timeout=10) as answer:  # nosec B310: checked SNS URL
            answer.read(64 * 1024)
    except (OSError, http.client.HTTPException) as error:
        raise SnsUnavailable(f"could not confirm the subscription: {error!r}") from None


def _read_body(limit: int) -> bytes | None:
    """The request body, or None past `limit` bytes: never more than limit + 1 in memory."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    while size <= limit:
        chunk = request.stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


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


@bp.route("/hooks/ses", methods=["POST"])
@limiter.exempt
def ses() -> tuple[Response, int]:
    """SNS → SES events. 200 once stored (or already stored); 503 when it cannot be checked
    now (SNS's certificate could not be fetched: SNS retries server errors only); 400 with a
    logged reason else.

    A repeat, even one arriving while the first is being stored, is answered "duplicate" by
    the receipt's INSERT … ON CONFLICT DO NOTHING; any other database error is a 500, so SNS
    retries rather than the event being lost.
    """
    body = _read_body(MAX_BODY_BYTES)
    session = db.session()
    settings = hook_settings(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        if body is None:
            raise SnsError(f"body larger than {MAX_BODY_BYTES} bytes")
        outcome = receive_sns(session, body, settings)
        session.commit()
    except SnsUnavailable as error:
        session.rollback()
        log.warning("SNS message not checked now", extra={"fields": {"reason": error.reason}})
        return jsonify(error="unavailable"), 503
    except SnsError as error:
        session.rollback()
        log.warning("SNS message refused", extra={"fields": {"reason": error.reason}})
        return jsonify(error="refused"), 400
    return jsonify(result=outcome), 200


csrf.exempt(ses)  # SNS signs its messages; it has no session or CSRF token
