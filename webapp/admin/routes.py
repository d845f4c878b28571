from __future__ import annotations

from flask import render_template

from webapp import db
from webapp.admin import bp
from webapp.models import Role
from webapp.security import role_required
from webapp.services.subscribers import count_by_status
from webapp.services.users import list_users


@bp.route("/")
@role_required(Role.ADMIN)
def home() -> str:
    session = db.session()
    return render_template(
        "admin/home.html", readers=count_by_status(session), users=list_users(session)
    )
