"""Branding: the firm's name, logo, colours, footer text and commentary label, with a preview
of an edition and a system mail as readers would get them."""

from __future__ import annotations

from html import escape

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from emails import MailSettings, RenderError
from webapp import db
from webapp.admin import bp
from webapp.admin.forms import BrandingForm
from webapp.admin.refusals import show_on
from webapp.branding import (
    LOGO_MAX_BYTES,
    BrandingChange,
    BrandingError,
    LogoError,
    brand,
    brand_of,
    update_branding,
    with_brand,
)
from webapp.config import current_settings
from webapp.editions.brand_preview import edition_preview, system_mail_preview
from webapp.mailer import mail_settings
from webapp.models import BRANDING_ID, LANGUAGES, Branding
from webapp.security import email_document

TEXT_FIELDS = ("org_name_zh", "org_name_en", "primary_colour", "accent_colour",
               "footer_text_zh", "footer_text_en", "commentary_label_zh", "commentary_label_en")


def _change(form: BrandingForm) -> BrandingChange:
    upload = form.logo.data
    logo = upload.read(LOGO_MAX_BYTES + 1) if upload and getattr(upload, "filename", "") else None
    return BrandingChange(
        **{name: form[name].data or "" for name in TEXT_FIELDS},
        logo=logo or None,
        remove_logo=bool(form.remove_logo.data),
    )


def _language() -> str:
    wanted = request.args.get("language", "zh-CN")
    return wanted if wanted in LANGUAGES else "zh-CN"


@bp.route("/branding", methods=["GET", "POST"])
def branding() -> str | Response:
    session = db.session()
    row = session.get(Branding, BRANDING_ID)
    form = BrandingForm()
    if not form.is_submitted() and row is not None:
        for name in TEXT_FIELDS:
            form[name].data = getattr(row, name) or ""
    if form.validate_on_submit():
        try:
            changed = update_branding(session, _change(form), actor=current_user)
        except (BrandingError, LogoError) as error:
            session.rollback()
            show_on(form, error, "org_name_zh")
        else:
            session.commit()
            flash(_("Saved: the next preview and send use it.") if changed
                  else _("Nothing changed."), "ok")
            return redirect(url_for("admin.branding", language=_language()), code=303)
    settings = current_settings()
    return render_template(
        "admin/branding.html",
        form=form,
        current=brand(session, settings),
        defaults=brand_of(None, settings),
        language=_language(),
        version=row.updated_at.timestamp() if row is not None else 0,
    )


def _preview_settings() -> tuple[str, MailSettings]:
    session = db.session()
    settings = current_settings()
    # Images from the host the admin is on: the frame's policy lets it load only our own.
    return _language(), with_brand(mail_settings(settings), brand(session, settings),
                                   request.host_url)


@bp.route("/branding/preview/edition")
def branding_preview_edition() -> Response | tuple[Response, int]:
    language, mail = _preview_settings()
    try:
        message = edition_preview(db.session(), mail, language)
    except (ValueError, RenderError) as error:
        text = escape(_("The edition cannot be shown: %(reason)s", reason=str(error)))
        return email_document(f"<p>{text}</p>"), 200
    return email_document(message.html, own_images=True)


@bp.route("/branding/preview/mail")
def branding_preview_mail() -> Response:
    language, mail = _preview_settings()
    return email_document(system_mail_preview(mail, language).html)
