from __future__ import annotations

from flask import render_template

from webapp import db
from webapp.editor import bp
from webapp.models import Role
from webapp.security import role_required
from webapp.services.editions import list_editions


@bp.route("/")
@role_required(Role.EDITOR)
def home() -> str:
    return render_template("editor/home.html", editions=list_editions(db.session()))
