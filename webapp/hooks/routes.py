from __future__ import annotations

import logging
import urllib.request
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, jsonify, request
from werkzeug.wrappers import Response

from emails.sns import MAX_BODY_BYTES, CachedCertificates, SnsError
from webapp import db
from webapp.events.ses import HookSettings, receive_sns
from webapp.extensions import csrf, limiter
from webapp.hooks import bp

log = logging.getLogger(__name__)


def _confirm_subscription(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as answer:  # the URL was checked first
        answer.read(64 * 1024)


def hook_settings(app: Flask) -> HookSettings:
    """Built once per app: the certificate cache must outlive a request."""
    settings: HookSettings | None = app.extensions.get("yuebao.hooks")
    if settings is None:
        config = app.config
        test_cert = Path(config["SNS_TEST_CERT"]).read_bytes() if config["SNS_TEST_CERT"] else None
        settings = HookSettings(
            topic_arns=tuple(config["SNS_TOPIC_ARNS"]),
            fetch_certificate=CachedCertificates(),
            confirm_subscription=_confirm_subscription,
            test_certificate=test_cert,
            max_age=timedelta(hours=config["SNS_MAX_AGE_HOURS"]),
            bounce_suppress_after=config["BOUNCE_SUPPRESS_AFTER"],
        )
        app.extensions["yuebao.hooks"] = settings
    return settings


@bp.route("/hooks/ses", methods=["POST"])
@limiter.exempt
def ses() -> tuple[Response, int]:
    """SNS → SES events. 200 once stored (or already stored); 400 with a logged reason else.

    A repeat, even one arriving while the first is being stored, is answered "duplicate" by
    the receipt's INSERT … ON CONFLICT DO NOTHING; any other database error is a 500, so SNS
    retries rather than the event being lost.
    """
    body = request.get_data(cache=False)
    session = db.session()
    settings = hook_settings(current_app._get_current_object())  # type: ignore[attr-defined]
    try:
        if len(body) > MAX_BODY_BYTES:
            raise SnsError(f"body larger than {MAX_BODY_BYTES} bytes")
        outcome = receive_sns(session, body, settings)
        session.commit()
    except SnsError as error:
        session.rollback()
        log.warning("SNS message refused", extra={"fields": {"reason": error.reason}})
        return jsonify(error="refused"), 400
    return jsonify(result=outcome), 200


csrf.exempt(ses)  # SNS signs its messages; it has no session or CSRF token
