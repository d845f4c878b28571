"""Subscribe, "send me my link" and confirmation. Thin: parse, one service call, commit (the
service queued any mail in the same transaction; the worker sends it).

Answers never depend on whether an address is known: the subscribe and "send me my link"
forms render the same page for every valid address, after the same work — they queue the
request and the worker looks the address up (webapp.delivery.form_requests).
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask import session as cookie
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from webapp import db
from webapp.config import current_settings
from webapp.extensions import current_language, limiter
from webapp.public import bp
from webapp.public.common import origin, per_address, use_reader_language
from webapp.public.forms import ButtonForm, PreferencesLinkForm, SubscribeForm
from webapp.readers.consent import CONSENT_VERSION
from webapp.readers.links import EMAIL_CHANGE, ExpiredLink, InvalidLink, SupersededLink
from webapp.readers.subscriptions import (
    AddressUnavailable,
    InvalidAddress,
    InvalidChoice,
    Signup,
    ask_for_link,
    ask_to_subscribe,
    check_confirmation,
    confirm,
)
from webapp.readers.topics import active_topics
from webapp.subscribe_wording import LANGUAGE_CHOICES, consent_text

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
# The address a form just asked us to write to, for the page the browser is sent on to (kept
# in the signed session cookie: never in a URL, which proxies and link previews log).
ASKED_FOR = "asked_for"
JUST_CONFIRMED = "just_confirmed"


# ---- subscribe ---------------------------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
@limiter.limit("10 per minute; 60 per hour", methods=["POST"])
@per_address
def subscribe_page() -> tuple[str, int] | BaseResponse:
    session = db.session()
    topics = active_topics(session)
    form = SubscribeForm()
    form.set_topics(topics)
    if not form.is_submitted():
        form.language.data = current_language()
        # Topics chosen beforehand, by the embedded form's no-JavaScript fallback (a GET from
        # the firm's site, which changes nothing: the reader still sends this page's form).
        form.topics.data = [t for t in request.args.getlist("topics") if t in form.available]
    if form.validate_on_submit():
        address = (form.email.data or "").strip()
        if form.website.data:  # the honeypot: answer like any other, do nothing
            return _sent_on(".check_inbox", address)
        signup = Signup(
            email=address,
            topics=form.chosen_topics(),
            language=form.language.data or "zh-CN",
            name=form.name.data,
            company=form.company.data,
        )
        try:
            ask_to_subscribe(session, signup, origin())
        except InvalidAddress:
            form.email.errors.append(_("Please enter a valid email address."))
        except InvalidChoice:
            form.topics.errors.append(_("Please choose at least one topic."))
        else:
            session.commit()
            return _sent_on(".check_inbox", address)
    status = 400 if form.is_submitted() else 200
    page = render_template(
        "public/subscribe.html",
        form=form,
        topics=topics,
        consent=consent_text(current_settings().org_name),
        consent_version=CONSENT_VERSION,
    )
    return page, status


def _sent_on(endpoint: str, address: str) -> BaseResponse:
    """Post/Redirect/Get: the answer is a page of its own, so reloading it sends nothing again.
    The same redirect for every address."""
    cookie[ASKED_FOR] = address
    return redirect(url_for(endpoint), code=303)


@bp.route("/check-inbox")
def check_inbox() -> str:
    return render_template("public/check_inbox.html", address=cookie.get(ASKED_FOR))


@bp.route("/preferences/link", methods=["GET", "POST"])
@limiter.limit("10 per minute; 60 per hour", methods=["POST"])
@per_address
def preferences_link() -> tuple[str, int] | BaseResponse:
    form = PreferencesLinkForm()
    if form.validate_on_submit():
        address = (form.email.data or "").strip()
        if not form.website.data:
            session = db.session()
            ask_for_link(session, address)
            session.commit()
        return _sent_on(".link_sent", address)
    status = 400 if form.is_submitted() else 200
    return render_template("public/preferences_link.html", form=form), status


@bp.route("/preferences/link/sent")
def link_sent() -> str:
    return render_template("public/link_sent.html", address=cookie.get(ASKED_FOR))


# ---- confirmation ------------------------------------------------------------------------


def _link_problem(error: Exception) -> tuple[str, int]:
    expired = isinstance(error, ExpiredLink)
    page = render_template(
        "public/link_problem.html",
        expired=expired,
        superseded=isinstance(error, SupersededLink),
        form=PreferencesLinkForm(),
    )
    return page, 410 if expired else 404


@bp.route("/confirm/<signed>", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def confirm_page(signed: str) -> tuple[str, int] | BaseResponse:
    session = db.session()
    form = ButtonForm()
    try:
        # Mail filters follow links with GET: only the button's POST changes anything.
        if form.validate_on_submit():
            result = confirm(session, current_settings(), signed, origin())
            session.commit()
            if not result.already:
                cookie[JUST_CONFIRMED] = signed
            return redirect(url_for(".confirm_page", signed=signed), code=303)
        result = check_confirmation(session, current_settings(), signed)
    except (InvalidLink, ExpiredLink) as error:
        session.rollback()
        return _link_problem(error)
    except AddressUnavailable:
        session.rollback()
        return render_template("public/address_unavailable.html"), 409
    subscriber = result.subscriber
    use_reader_language(subscriber)
    # The page the button's POST sent the browser to says "done"; a later visit "already".
    just_now = result.already and cookie.pop(JUST_CONFIRMED, None) == signed
    page = render_template(
        "public/confirm.html",
        form=form,
        subscriber=subscriber,
        email_change=result.kind == EMAIL_CHANGE,
        done=result.already,
        already=result.already and not just_now,
        language_label=dict(LANGUAGE_CHOICES).get(subscriber.language, subscriber.language),
    )
    return page, 400 if form.is_submitted() and not result.already else 200
