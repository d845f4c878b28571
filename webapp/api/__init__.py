"""The REST API, /api/v1: API keys with scopes instead of the console session, JSON in and
out, errors in one shape (webapp.api.problems), rate-limited per key, described by an OpenAPI
3.1 document at /api/v1/openapi.json. Thin over the same domain functions as the consoles."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from webapp.errors import answer_in_json
from webapp.extensions import csrf, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # the key in the Authorization header proves who asks; cookies count for nothing

def _rate_limit() -> str:
    """API_RATE_LIMIT per key (webapp.config; default 300 a minute)."""
    return str(current_app.config["API_RATE_LIMIT"])


@bp.record_once
def _wire(state: BlueprintSetupState) -> None:
    from webapp.api.problems import ApiError, api_error, http_error

    app = state.app
    if not isinstance(app, Flask):  # a Blueprint is only ever registered on the Flask app
        raise TypeError("the API blueprint needs a Flask app")
    answer_in_json(app, "/api/v1/", http_error)
    app.register_error_handler(ApiError, api_error)
    from webapp.api.embed import init_cors
    from webapp.config import settings_of

    init_cors(app, settings_of(app))


@bp.before_request
def _limit_body() -> None:
    from webapp.api.body import MAX_BODY

    request.max_content_length = MAX_BODY


@bp.after_request
def _not_cached(response: Response) -> Response:
    """Answers hold readers' data: no shared cache keeps them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


from webapp.api import auth  # noqa: E402

limiter.limit(_rate_limit, key_func=auth.rate_limit_key)(bp)

from webapp.api import (  # noqa: E402,F401  (attach to bp)
    editions,
    embed,
    openapi,
    subscribers,
    suppressions,
    topics,
)
