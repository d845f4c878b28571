"""Webhook endpoints: list with the worker's notices, add (the secret shown once, after a
redirect), rotate the secret, turn on and off, send a test event, delete, delivery log."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.admin import bp, shown_once
from webapp.admin.forms import ButtonForm, WebhookForm
from webapp.admin.refusals import show_on
from webapp.config import current_settings
from webapp.events import webhooks as service
from webapp.events.webhook_sender import disabled_endpoints
from webapp.events.webhook_urls import UnsafeWebhookUrl
from webapp.models import WEBHOOK_EVENTS, WebhookEndpoint

# The secret just made or rotated, for the one page that shows it (webapp.admin.shown_once).
JUST_MADE = "webhook_secret_just_made"


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = service.get_endpoint(db.session(), endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


def _button() -> None:
    """The action buttons post only a CSRF token; a stale one never reaches the view."""
    if not ButtonForm().validate_on_submit():
        abort(400)


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks() -> str | Response:
    session = db.session()
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            endpoint, secret = service.create_endpoint(
                session, current_settings(), form.url.data or "", form.events.data or [],
                actor=current_user,
            )
        except (UnsafeWebhookUrl, service.WebhookRefused) as error:
            session.rollback()
            show_on(form, error, "url")
        else:
            session.commit()
            shown_once.keep(JUST_MADE, endpoint.id, secret)
            return redirect(url_for("admin.webhook_secret", endpoint_id=endpoint.id), code=303)
    return render_template(
        "admin/webhooks.html", endpoints=service.list_endpoints(session), form=form,
        events=WEBHOOK_EVENTS, button=ButtonForm(), disabled=disabled_endpoints(session),
        log=service.delivery_log(session, limit=20),
    )


@bp.route("/webhooks/<int:endpoint_id>")
def webhook(endpoint_id: int) -> str:
    endpoint = _endpoint(endpoint_id)
    return render_template(
        "admin/webhook.html", endpoint=endpoint, button=ButtonForm(),
        log=service.delivery_log(db.session(), endpoint.id),
    )


@bp.route("/webhooks/<int:endpoint_id>/secret")
def webhook_secret(endpoint_id: int) -> Response:
    endpoint = _endpoint(endpoint_id)
    return shown_once.page("admin/webhook_secret.html", endpoint=endpoint,
                           secret=shown_once.take(JUST_MADE, endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/rotate")
def webhook_rotate(endpoint_id: int) -> Response:
    _button()
    endpoint = _endpoint(endpoint_id)
    session = db.session()
    secret = service.rotate_secret(session, current_settings(), endpoint, actor=current_user)
    session.commit()
    shown_once.keep(JUST_MADE, endpoint.id, secret)
    return redirect(url_for("admin.webhook_secret", endpoint_id=endpoint.id), code=303)


@bp.post("/webhooks/<int:endpoint_id>/enable")
def webhook_enable(endpoint_id: int) -> Response:
    _button()
    session = db.session()
    service.enable(session, _endpoint(endpoint_id), actor=current_user)
    session.commit()
    flash(_("The endpoint is on: waiting events are sent again."), "ok")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id), code=303)


@bp.post("/webhooks/<int:endpoint_id>/disable")
def webhook_disable(endpoint_id: int) -> Response:
    _button()
    session = db.session()
    service.disable(session, _endpoint(endpoint_id), actor=current_user)
    session.commit()
    flash(_("The endpoint is off: events wait until it is turned on again."), "ok")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id), code=303)


@bp.post("/webhooks/<int:endpoint_id>/test")
def webhook_test(endpoint_id: int) -> Response:
    _button()
    session = db.session()
    service.send_test_event(session, _endpoint(endpoint_id), actor=current_user)
    session.commit()
    flash(_("A test event is queued; the worker sends it within seconds. Its result appears "
            "in the delivery log below."), "ok")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id), code=303)


@bp.route("/webhooks/<int:endpoint_id>/delete", methods=["GET", "POST"])
def webhook_delete(endpoint_id: int) -> str | Response:
    endpoint = _endpoint(endpoint_id)
    form = ButtonForm()
    if form.validate_on_submit():
        session = db.session()
        service.delete_endpoint(session, endpoint, actor=current_user)
        session.commit()
        flash(_("The endpoint and its delivery log are deleted."), "ok")
        return redirect(url_for("admin.webhooks"), code=303)
    return render_template("admin/webhook_delete.html", endpoint=endpoint, form=form)
