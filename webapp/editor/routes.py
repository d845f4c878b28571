from __future__ import annotations

from flask import render_template

from webapp.editor import bp
from webapp.models import Role
from webapp.security import role_required


@bp.route("/")
@role_required(Role.EDITOR)
def home() -> str:
    return render_template("editor/home.html")
