from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree  # nosec B405: builds the feed, never parses XML

from flask import Response, abort, render_template, url_for

from emails import default_preheader
from emails.edition import english_report_name, intro_for, report_title
from emails.i18n import format_month, has_cjk, strings
from emails.views import build_sections
from webapp import db
from webapp.archive import bp
from webapp.branding import brand
from webapp.config import current_settings
from webapp.editions.archive import sent_edition, sent_editions
from webapp.editions.records import get_edition
from webapp.extensions import current_language
from webapp.mailer import edition_content
from webapp.models import Edition, utcnow

ATOM = "http://www.w3.org/2005/Atom"
XML = "http://www.w3.org/XML/1998/namespace"
FEED_ENTRIES = 24


def _sent_at(edition: Edition) -> datetime:
    return edition.send_finished_at or edition.send_started_at or edition.updated_at


@bp.route("/archive")
def index() -> str:
    language = current_language()
    org_name = brand(db.session(), current_settings()).org_name(language)
    editions = [
        (edition, format_month(edition.month, language), _title(edition, language, org_name))
        for edition in sent_editions(db.session())
    ]
    return render_template("archive/index.html", editions=editions)


def _title(edition: Edition, language: str, org_name: str) -> str:
    """The edition's name in `language` (in English never Chinese unless an editor wrote it)."""
    if language != "en":
        return edition.title
    return edition.title_en or english_report_name(org_name)


@bp.route("/archive/<month>")
def edition(month: str) -> str:
    found = sent_edition(db.session(), month)
    if found is None:
        abort(404)
    language = current_language()
    content = edition_content(found)
    branded = brand(db.session(), current_settings())
    # The web page shows the whole edition: every topic it carries, and in English what the
    # edition's policy gives English readers (untranslated items left out, or marked).
    sections = build_sections(content, content.topics, language)
    intro, intro_lang = intro_for(content, language)
    return render_template(
        "archive/edition.html",
        edition=found,
        title=report_title(content, language, branded.org_name(language)),
        month_label=format_month(found.month, language),
        sections=sections,
        commentary_label=branded.commentary_label(language),
        intro=[p.strip() for p in intro.split("\n\n") if p.strip()],
        intro_lang=intro_lang,
        in_chinese=strings(language)["in_chinese"],
    )


@bp.route("/archive/feed.xml")
def feed() -> Response:
    language = current_language()
    base = current_settings().base_url
    session = db.session()
    editions = sent_editions(session)[:FEED_ENTRIES]
    ElementTree.register_namespace("", ATOM)
    root = ElementTree.Element(f"{{{ATOM}}}feed", {f"{{{XML}}}lang": language})
    org_name = brand(session, current_settings()).org_name(language)
    title = editions[0].title if editions else org_name
    ElementTree.SubElement(root, f"{{{ATOM}}}title").text = title
    ElementTree.SubElement(root, f"{{{ATOM}}}id").text = f"{base}/archive"
    ElementTree.SubElement(
        root, f"{{{ATOM}}}link", {"rel": "self", "href": f"{base}/archive/feed.xml"}
    )
    ElementTree.SubElement(root, f"{{{ATOM}}}link", {"href": f"{base}/archive"})
    ElementTree.SubElement(root, f"{{{ATOM}}}author").append(_text("name", title))
    updated = max((_sent_at(e) for e in editions), default=None)
    ElementTree.SubElement(root, f"{{{ATOM}}}updated").text = (updated or utcnow()).isoformat()
    for listed in editions:
        full = get_edition(session, listed.month) or listed
        url = base + url_for("archive.edition", month=full.month)
        content = edition_content(full)
        # In English only titles that are English: the feed, like the subject, is never
        # silently Chinese.
        titles = [
            item.title
            for section in build_sections(content, content.topics, language)
            for item in section.items
            if language != "en" or not (item.title_lang or has_cjk(item.title))
        ]
        report = report_title(content, language, org_name)
        entry = ElementTree.SubElement(root, f"{{{ATOM}}}entry")
        label = f"{report} · {format_month(full.month, language)}"
        entry.append(_text("title", label))
        entry.append(_text("id", url))
        ElementTree.SubElement(entry, f"{{{ATOM}}}link", {"href": url})
        entry.append(_text("updated", _sent_at(full).isoformat()))
        summary = default_preheader(report, full.month, titles, language)
        entry.append(_text("summary", summary))
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype="application/atom+xml")


def _text(tag: str, value: str) -> ElementTree.Element:
    element = ElementTree.Element(f"{{{ATOM}}}{tag}")
    element.text = value
    return element
