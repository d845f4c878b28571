"""The audit log: who did what to which edition, topic, reader, suppression or user, when."""

from __future__ import annotations

from flask import render_template, request

from webapp import db
from webapp.admin import bp
from webapp.audit import TARGET_KINDS, AuditFilter, search_audit


@bp.route("/audit")
def audit_log() -> str:
    wanted = AuditFilter(
        kind=request.args.get("kind", ""),
        actor=request.args.get("actor", "")[:200],
        target=request.args.get("target", "")[:200],
        page=request.args.get("page", 1, type=int) or 1,
    )
    return render_template(
        "admin/audit.html",
        page=search_audit(db.session(), wanted),
        wanted=wanted,
        kinds=TARGET_KINDS,
    )
