"""The reader's preferences page (/p/<token>) and their own data: export and erasure."""

from __future__ import annotations

from datetime import date, datetime

from flask import Response, flash, redirect, render_template, request, url_for
from flask import session as cookie
from flask_babel import format_date
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from webapp import db
from webapp.config import current_settings
from webapp.extensions import limiter
from webapp.models import Subscriber, SubscriberStatus, email_key
from webapp.public import bp
from webapp.public.common import (
    origin,
    reader_by_token,
    resubscribe_with_message,
    use_reader_language,
)
from webapp.public.forms import ButtonForm, EmailChangeForm, EraseForm, PauseForm, PreferencesForm
from webapp.readers.own_data import erase, export_json
from webapp.readers.preferences import (
    Preferences,
    ask_to_change_email,
    pause,
    resume,
    update_preferences,
)
from webapp.readers.subscriptions import (
    InvalidAddress,
    InvalidChoice,
    NotSubscribed,
    unsubscribe,
)
from webapp.readers.topics import active_topics


def _preferences_page(
    subscriber: Subscriber,
    *,
    form: PreferencesForm | None = None,
    email_form: EmailChangeForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    topics = active_topics(db.session())
    if form is None:
        form = PreferencesForm(
            formdata=None,
            topics=[t.slug for t in subscriber.topics],
            language=subscriber.language,
            name=subscriber.name,
            company=subscriber.company,
            tracking=subscriber.tracking,
        )
        form.set_topics(topics)
    page = render_template(
        "public/preferences.html",
        subscriber=subscriber,
        form=form,
        topics=topics,
        email_form=email_form or EmailChangeForm(formdata=None),
        pause_form=PauseForm(formdata=None),
        button=ButtonForm(formdata=None),
        tracking_enabled=current_settings().tracking,
    )
    return page, status


@bp.route("/p/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def preferences(token: str) -> tuple[str, int] | BaseResponse:
    subscriber = reader_by_token(token)
    if subscriber.status == SubscriberStatus.ERASED:
        return render_template("public/erased.html"), 410
    if request.method == "GET":
        return _preferences_page(subscriber)
    session = db.session()
    tracking_on = current_settings().tracking
    form = PreferencesForm()
    form.set_topics(active_topics(session))
    if form.validate_on_submit():
        wanted = Preferences(
            topics=form.chosen_topics(),
            language=form.language.data or subscriber.language,
            name=form.name.data,
            company=form.company.data,
            # Without our own tracking there is no box to tick: keep what the reader had.
            tracking=bool(form.tracking.data) if tracking_on else subscriber.tracking,
        )
        try:
            changes = update_preferences(session, subscriber, wanted, origin())
        except InvalidChoice:
            form.topics.errors.append(_("Please choose at least one topic."))
        else:
            session.commit()
            use_reader_language(subscriber)  # the next page speaks the language just chosen
            flash(_("Your preferences are saved.") if changes else _("Nothing to change."), "ok")
            return redirect(url_for(".preferences", token=token), code=303)
    return _preferences_page(subscriber, form=form, status=400)


@bp.route("/p/<token>/email", methods=["POST"])
@limiter.limit("10 per hour")
def change_email(token: str) -> tuple[str, int] | BaseResponse:
    subscriber = reader_by_token(token)
    form = EmailChangeForm()
    if subscriber.status == SubscriberStatus.ERASED or not form.validate_on_submit():
        return _preferences_page(subscriber, email_form=form, status=400)
    if email_key(form.email.data or "") == subscriber.email_key:
        flash(_("Nothing to change."), "ok")
        return redirect(url_for(".preferences", token=token), code=303)
    session = db.session()
    try:
        ask_to_change_email(session, subscriber, form.email.data or "", origin())
    except InvalidAddress:
        form.email.errors.append(_("Please enter a valid email address."))
        return _preferences_page(subscriber, email_form=form, status=400)
    session.commit()
    flash(
        _(
            "We have sent a confirmation link to %(address)s. The change takes effect once "
            "you open it.",
            address=(form.email.data or "").strip(),
        ),
        "ok",
    )
    return redirect(url_for(".preferences", token=token), code=303)


@bp.route("/p/<token>/pause", methods=["POST"])
@limiter.limit("30 per minute")
def pause_page(token: str) -> BaseResponse:
    subscriber = reader_by_token(token)
    form = PauseForm()
    if form.validate_on_submit():
        session = db.session()
        try:
            until = pause(session, subscriber, int(form.months.data or 0), origin())
        except (InvalidChoice, NotSubscribed, ValueError):
            flash(_("The subscription could not be paused."), "error")
        else:
            session.commit()
            flash(
                _("Paused. We will write again after %(date)s.", date=_local_date(until)), "ok"
            )
    return redirect(url_for(".preferences", token=token), code=303)


def _local_date(moment: datetime) -> str:
    return str(format_date(moment, "long"))


@bp.route("/p/<token>/resume", methods=["POST"])
@limiter.limit("30 per minute")
def resume_page(token: str) -> BaseResponse:
    subscriber = reader_by_token(token)
    if ButtonForm().validate_on_submit():
        session = db.session()
        if resume(session, subscriber, origin()):
            session.commit()
            flash(_("Welcome back: your subscription is active again."), "ok")
    return redirect(url_for(".preferences", token=token), code=303)


@bp.route("/p/<token>/unsubscribe", methods=["POST"])
@limiter.limit("30 per minute")
def unsubscribe_from_preferences(token: str) -> BaseResponse:
    subscriber = reader_by_token(token)
    if ButtonForm().validate_on_submit():
        session = db.session()
        unsubscribe(session, current_settings(), subscriber, origin())
        session.commit()  # at once: nothing more goes out to this reader
        flash(
            _(
                "You have unsubscribed. We will not send you the report any more, and no "
                "email will follow."
            ),
            "ok",
        )
    return redirect(url_for(".preferences", token=token), code=303)


@bp.route("/p/<token>/resubscribe", methods=["POST"])
@limiter.limit("30 per minute")
def resubscribe_from_preferences(token: str) -> BaseResponse:
    subscriber = reader_by_token(token)
    if ButtonForm().validate_on_submit():
        resubscribe_with_message(subscriber)
    return redirect(url_for(".preferences", token=token), code=303)


# ---- own data ----------------------------------------------------------------------------


@bp.route("/p/<token>/export")
@limiter.limit("10 per minute")
def export(token: str) -> BaseResponse:
    subscriber = reader_by_token(token)
    body = export_json(db.session(), subscriber)
    name = f"yuebao-my-data-{date.today().isoformat()}.json"
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


JUST_ERASED = "just_erased"


@bp.route("/p/<token>/erase", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def erase_page(token: str) -> tuple[str, int] | BaseResponse:
    subscriber = reader_by_token(token)
    if subscriber.status == SubscriberStatus.ERASED:
        # The page the erasure's POST sent the browser to is a success; any later visit, gone.
        just_now = cookie.pop(JUST_ERASED, None) == subscriber.id
        return render_template("public/erased.html"), 200 if just_now else 410
    form = EraseForm()
    if form.validate_on_submit():
        session = db.session()
        erase(session, current_settings(), subscriber, origin())
        session.commit()
        cookie[JUST_ERASED] = subscriber.id
        return redirect(url_for(".erase_page", token=token), code=303)
    status = 400 if form.is_submitted() else 200
    return render_template("public/erase.html", form=form, subscriber=subscriber), status
