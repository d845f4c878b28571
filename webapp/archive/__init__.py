"""The public archive of sent editions and its Atom feed."""

from flask import Blueprint

bp = Blueprint("archive", __name__)

from webapp.archive import routes  # noqa: E402,F401  (routes attach to bp)
