"""/embed.js: the script of the subscribe form the firm embeds in its own site (see the
console's Admin → Embed page for the snippet, and webapp.api.embed for what it calls)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, send_from_directory
from werkzeug.wrappers import Response

from webapp.extensions import limiter
from webapp.public import bp

# Browsers and proxies may keep it an hour, then revalidate (ETag): a fix reaches every site
# within the hour, and the firm's page never waits for us on each visit.
MAX_AGE = 3600


@bp.route("/embed.js")
@limiter.exempt
def embed_script() -> Response:
    folder = Path(current_app.static_folder or "static") / "js"
    response = send_from_directory(folder, "embed.js", max_age=MAX_AGE,
                                   mimetype="text/javascript")
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response
