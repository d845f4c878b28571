from __future__ import annotations

import base64

from flask import abort, g, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import db
from webapp.config import current_settings
from webapp.delivery.deliveries import ReaderErased, delivery_page, find_delivery
from webapp.events.tracking import is_web_link, record_click, record_open
from webapp.models import utcnow
from webapp.models.base import looks_like_token
from webapp.tracking import bp

WEB_VERSION_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

# The smallest transparent GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@bp.route("/v/<token>")
def view(token: str) -> Response | tuple[str, int]:
    session = db.session()
    delivery = find_delivery(session, token)
    if delivery is None:
        abort(404)
    try:
        page = delivery_page(session, current_settings(), delivery)
    except ReaderErased:
        # What their preferences link says too: nothing of them, or of the email, is shown.
        return render_template("public/erased.html"), 410
    # A page of the site, with its navigation, in the reader's language unless they chose
    # another; every item whole at its anchor, where the digest's "read more" links lead.
    g.reader_language = page.language
    response = make_response(render_template("public/web_version.html", page=page))
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    # The site's policy without scripts: nothing runs on a page that holds a reader's links.
    response.headers["Content-Security-Policy"] = WEB_VERSION_POLICY
    return response


@bp.route("/o/<token>.gif")
def open_pixel(token: str) -> Response:
    if not looks_like_token(token):
        abort(404)  # no email of ours holds it; a well-formed unknown one still gets the pixel
    session = db.session()
    if record_open(
        session,
        token,
        now=utcnow(),
        enabled=current_settings().tracking,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
    ):
        session.commit()
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/c/<token>/<int:number>")
def click(token: str, number: int) -> Response:
    session = db.session()
    target = record_click(
        session,
        token,
        number,
        now=utcnow(),
        enabled=current_settings().tracking,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
    )
    if target is None:
        abort(404)
    session.commit()
    if not is_web_link(target):
        # A link stored before the rule (a line break, no host): the reader lands on their
        # email as a web page, with every item, rather than on an error.
        target = url_for(".view", token=token)
    response = redirect(target, code=302)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
