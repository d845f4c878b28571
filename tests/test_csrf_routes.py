"""Every route that changes something checks its CSRF token, or is on the list below on purpose.

The app's URL map is walked, not a list of known paths: a POST route added tomorrow is posted
to without a token here, and this test fails unless CSRFProtect refuses it or it is added to
ALLOWED_WITHOUT_CSRF with the reason it needs no token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_wtf.csrf import CSRFError
from werkzeug.routing import IntegerConverter, Rule

from tests.conftest import app_config
from webapp import create_app
from webapp.extensions import csrf

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Endpoints that accept a change without a CSRF token. Each is `csrf.exempt` where it is
# defined and proves who is asking some other way.
ALLOWED_WITHOUT_CSRF = {
    # (SNS posts SES events to /hooks/ses, which is answered before Flask's routing: the
    # message's signature, topic and age are checked instead; webapp.events.ses.receive_sns.)
    # RFC 8058 one-click unsubscribe: mail clients post `List-Unsubscribe=One-Click` without
    # cookies or a token; the reader's unguessable token in the URL is the proof, and the only
    # thing it can do is stop mail.
    "public.one_click_unsubscribe": "POST",
}
# Whole blueprints that take no CSRF token. The REST API (/api/v1) reads no cookie at all: the
# API key in the Authorization header, which a browser never adds by itself, is the proof; every
# changing API route refuses a request without one (tests/api/test_keys_and_errors.py).
ALLOWED_BLUEPRINTS_WITHOUT_CSRF = ("api.",)


def _csrf_app(database_url: str, tmp_path: Path) -> Flask:
    app = create_app(app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))
    # A refusal by CSRFProtect answers this, so it cannot pass for another 400.
    app.register_error_handler(CSRFError, lambda error: ("refused: no CSRF token", 400))
    return app


def _example_path(app: Flask, rule: Rule) -> str:
    values: dict[str, Any] = {
        name: 1 if isinstance(rule._converters[name], IntegerConverter) else "x"
        for name in rule.arguments
    }
    return app.url_map.bind("localhost").build(rule.endpoint, values, method=None)


def accepted_without_csrf(app: Flask) -> dict[str, set[str]]:
    """Endpoint → the changing methods whose view ran on a request without a CSRF token.

    Each view is swapped for a stand-in that records the call (keeping its module and name,
    which is how CSRFProtect knows exempt views); a refused request never reaches it.
    """
    reached: dict[str, set[str]] = {}

    def stand_in(endpoint: str, view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def record(**_: Any) -> tuple[str, int]:
            reached.setdefault(endpoint, set()).add(request.method)
            return "reached", 200

        return record

    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = stand_in(endpoint, view)
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & CHANGING):
            response = client.open(_example_path(app, rule), method=method, data={"x": "1"})
            if rule.endpoint not in reached or method not in reached[rule.endpoint]:
                assert response.status_code == 400, (rule.rule, method, response.status_code)
                assert response.get_data(as_text=True) == "refused: no CSRF token", rule.rule
    return reached


def test_every_changing_route_checks_csrf_or_is_allowed_on_purpose(
    database_url: str, tmp_path: Path
) -> None:
    app = _csrf_app(database_url, tmp_path)
    changing = {r.endpoint for r in app.url_map.iter_rules() if (r.methods or set()) & CHANGING}
    assert len(changing) > 40  # the walk found the consoles' routes, not just a few
    reached = accepted_without_csrf(app)
    reached = {
        endpoint: methods for endpoint, methods in reached.items()
        if not endpoint.startswith(ALLOWED_BLUEPRINTS_WITHOUT_CSRF)
    }
    assert reached == {endpoint: {method} for endpoint, method in ALLOWED_WITHOUT_CSRF.items()}


def test_a_new_route_without_csrf_is_caught(database_url: str, tmp_path: Path) -> None:
    app = _csrf_app(database_url, tmp_path)

    @app.route("/new-unprotected", methods=["POST"])
    @csrf.exempt
    def new_unprotected() -> str:
        return "changed"

    @app.route("/new-protected", methods=["POST"])
    def new_protected() -> str:
        return "changed"

    reached = accepted_without_csrf(app)
    assert reached["new_unprotected"] == {"POST"}
    assert "new_protected" not in reached
