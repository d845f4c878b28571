"""The embeddable subscribe form: the snippet an admin copies into the firm's site, in each
language, and which sites may use it (EMBED_ORIGINS)."""

from __future__ import annotations

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import escape

from webapp import db
from webapp.admin import bp
from webapp.config import current_settings
from webapp.models import LANGUAGES, Topic
from webapp.readers.topics import active_topics


def snippet(base_url: str, language: str, topics: list[Topic]) -> str:
    """The script tag, and for browsers without JavaScript a form that opens our subscribe
    page with the ticked topics chosen. It GETs the page rather than posting the
    subscription: our page's form needs its CSRF token, which no other site can have, and
    the reader still agrees to the consent text and sends the form on our own page."""
    base = base_url.rstrip("/")
    with force_locale(language.replace("-", "_")):
        legend, button = _("Topics"), _("Subscribe")
        boxes = "\n".join(
            f'    <label><input type="checkbox" name="topics" value="{escape(t.slug)}"> '
            f"{escape(t.name(language))}</label><br>"
            for t in topics
        )
    return (
        f'<script src="{escape(base)}/embed.js" data-lang="{language}" async></script>\n'
        "<noscript>\n"
        f'  <form method="get" action="{escape(base)}/">\n'
        f'    <input type="hidden" name="lang" value="{language}">\n'
        f"    <fieldset><legend>{escape(legend)}</legend>\n{boxes}\n    </fieldset>\n"
        f'    <button type="submit">{escape(button)}</button>\n'
        "  </form>\n"
        "</noscript>\n"
    )


@bp.route("/embed")
def embed() -> str:
    settings = current_settings()
    topics = active_topics(db.session())
    snippets = [(language, snippet(settings.base_url, language, topics)) for language in LANGUAGES]
    return render_template(
        "admin/embed.html", snippets=snippets, origins=settings.embed_origins
    )
