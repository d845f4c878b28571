"""RFC 8058 one-click unsubscribe at /u/<token>, and the page around it."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from webapp import db
from webapp.config import current_settings
from webapp.extensions import csrf, limiter
from webapp.models import ConsentSource
from webapp.public import bp
from webapp.public.common import origin, resubscribe_with_message, use_reader_language
from webapp.public.forms import ButtonForm
from webapp.readers.links import find_by_unsubscribe_token
from webapp.readers.subscriptions import unsubscribe

ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"


@bp.route("/u/<token>", methods=["GET"])
def unsubscribe_page(token: str) -> tuple[str, int]:
    subscriber = find_by_unsubscribe_token(db.session(), token)
    if subscriber is None:
        return render_template("public/invalid_token.html"), 404
    use_reader_language(subscriber)
    return render_template(
        "public/unsubscribe.html",
        subscriber=subscriber,
        form=ButtonForm(formdata=None),
        one_click=(ONE_CLICK_FIELD, ONE_CLICK_VALUE),
        preferences_open=subscriber.token == token,
    ), 200


@bp.route("/u/<token>", methods=["POST"])
@limiter.exempt
def one_click_unsubscribe(token: str) -> tuple[str, int] | BaseResponse:
    """RFC 8058: a POST with `List-Unsubscribe=One-Click` unsubscribes at once, no cookie, no
    CSRF token, no confirmation. Our own page's button posts the same, marked `via=page`."""
    session = db.session()
    subscriber = find_by_unsubscribe_token(session, token)
    if subscriber is None:
        return render_template("public/invalid_token.html"), 404
    if request.form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
        return render_template("errors/error.html", code=400), 400
    from_page = request.form.get("via") == "page"
    source = ConsentSource.FORM if from_page else ConsentSource.ONE_CLICK
    unsubscribe(session, current_settings(), subscriber, origin(source))
    session.commit()  # before answering: nothing more goes out to this reader
    if from_page:
        return redirect(url_for(".unsubscribe_page", token=token), code=303)
    use_reader_language(subscriber)
    return render_template("public/unsubscribed.html"), 200


csrf.exempt(one_click_unsubscribe)  # mail clients post without cookies or a CSRF token


@bp.route("/u/<token>/resubscribe", methods=["POST"])
@limiter.limit("30 per minute")
def resubscribe_page(token: str) -> BaseResponse:
    subscriber = find_by_unsubscribe_token(db.session(), token)
    if subscriber is None:
        return redirect(url_for(".unsubscribe_page", token=token), code=303)
    if ButtonForm().validate_on_submit():
        resubscribe_with_message(subscriber)
    return redirect(url_for(".unsubscribe_page", token=token), code=303)
