"""The admin console: stats and reputation, readers (and their CSV import and export, done in
the background), suppressions, topics, users, audit log."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp.extensions import login_manager
from webapp.models import Role

bp = Blueprint("admin", __name__)


@bp.before_request
def admins_only() -> Response | None:
    """Every admin page, including any added later: sign-in first, then admins only."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    if not current_user.has_role(Role.ADMIN):
        abort(403)
    return None


from webapp.admin import (  # noqa: E402,F401  (attach to bp)
    api_keys,
    audit,
    branding,
    dashboard,
    embed,
    jobs,
    readers,
    suppressions,
    topics,
    users,
    webhooks,
)
