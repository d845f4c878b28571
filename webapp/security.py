"""Who may do what: the user loader, the role guard and the security headers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, Response, abort, request
from flask_login import current_user

from webapp import db
from webapp.config import current_settings
from webapp.extensions import login_manager
from webapp.models import Role, User

P = ParamSpec("P")
R = TypeVar("R")

# Pages whose URL holds a reader's token or a signed link: the URL must not leak through a
# Referer header to the sites the page links to, nor sit in a shared cache.
TOKEN_PATHS = ("/p/", "/u/", "/confirm/", "/v/", "/c/", "/o/")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def load_user(session_id: str) -> User | None:
    """The user a session cookie names (`User.get_id`: `<user id>:<session version>`), if they
    are active and the version is still theirs; once their sessions end (webapp.accounts.sessions)
    every cookie made before stops here, a copied one too."""
    user_id, sep, version = session_id.partition(":")
    if not sep or not (user_id.isascii() and user_id.isdigit()):
        return None  # also a cookie from before session versions: sign in again
    if not (version.isascii() and version.isdigit()):
        return None
    user = db.session().get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def role_required(role: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Let through signed-in users with `role` (admins pass every guard); others get 403."""

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()  # type: ignore[no-any-return]
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorator


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_user)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith(TOKEN_PATHS):
            headers["Referrer-Policy"] = "no-referrer"
            headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("Referrer-Policy", "same-origin")
        if current_settings().yuebao_env == "production":
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response


def email_document(html: str, *, own_images: bool = False) -> Response:
    """An email's HTML served as a page of its own (the web version, a console preview frame).

    Its inline styles are allowed and nothing else runs; it may only be framed by our own pages.
    The console's frames fetch no images at all, so looking at a reader's email never fires
    their open pixel; the reader's web version may load our own.
    """
    images = "'self' data:" if own_images else "data:"
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # the default elsewhere is DENY
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
