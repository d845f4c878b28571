"""Preview a variant (a topic set and language, or a real reader's own email) at desktop and
phone widths, list every variant with its readers, and send tests."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response

from emails import MAX_HTML_BYTES
from emails.content import DIGEST_ABOVE, LAYOUTS
from webapp import db
from webapp.config import current_settings
from webapp.delivery.variant_previews import (
    ReaderGetsNothing,
    ReaderNotFound,
    ReaderPreview,
    preheader_of,
    preview_for_reader,
    recent_test_sends,
    shortened_items,
    variant_readers,
)
from webapp.editions.items import set_layout
from webapp.editions.previews import Preview, PreviewError, render_preview, send_test
from webapp.editions.records import EditionError
from webapp.editor import bp
from webapp.editor.common import (
    actor,
    edition_or_404,
    explain,
    framed_email,
    note_back_to_draft,
)
from webapp.editor.forms import LayoutForm, TestSendForm, address_list
from webapp.models import LANGUAGES, Edition, EditionStatus, Role, Topic
from webapp.readers.topics import active_topics, topics_by_slug
from webapp.security import role_required


@dataclass(frozen=True)
class PreviewChoice:
    """What the preview form asks for: a topic set and language, or a reader's address.

    The query parameter is `language`, not `lang`: `?lang=` switches the console's own language.
    """

    topics: tuple[str, ...]
    language: str
    reader: str
    layout: str = ""  # a layout to preview instead of the edition's own; empty: the edition's

    @classmethod
    def from_args(cls, edition_topics: list[str]) -> PreviewChoice:
        # Checkboxes send topics=a&topics=b; links to a variant send topics=a,b.
        chosen = {slug for value in request.args.getlist("topics") for slug in value.split(",")}
        topics = tuple(t for t in edition_topics if t in chosen) or tuple(edition_topics)
        language = request.args.get("language", "zh-CN")
        layout = request.args.get("layout", "")
        return cls(
            topics=topics,
            language=language if language in LANGUAGES else "zh-CN",
            reader=request.args.get("reader", "").strip(),
            layout=layout if layout in LAYOUTS else "",
        )

    def args(self) -> dict[str, str]:
        shown = {"layout": self.layout} if self.layout else {}
        if self.reader:
            return {"reader": self.reader, **shown}
        return {"topics": ",".join(self.topics), "language": self.language, **shown}


def _edition_topics(edition: Edition) -> list[Topic]:
    """Topics that items of this edition carry, in display order."""
    carried = {t.slug for s in edition.sections for i in s.items for t in i.topics}
    by_slug = {t.slug: t for s in edition.sections for i in s.items for t in i.topics}
    ordered = [t for t in active_topics(db.session()) if t.slug in carried]
    return ordered + [by_slug[s] for s in sorted(carried - {t.slug for t in ordered})]


def _render(
    edition: Edition, choice: PreviewChoice
) -> tuple[Preview | None, ReaderPreview | None, str | None]:
    """The preview asked for, or the reason there is none."""
    session, config = db.session(), current_settings()
    try:
        if choice.reader:
            reader = preview_for_reader(
                session, config, edition, choice.reader, layout=choice.layout or None
            )
            return reader.preview, reader, None
        preview = render_preview(
            session, config, edition.month, topics=",".join(choice.topics),
            language=choice.language, layout=choice.layout or None,
        )
        return preview, None, None
    except ReaderNotFound:
        return None, None, _("No reader has the address %(address)s.", address=choice.reader)
    except ReaderGetsNothing:
        return None, None, _(
            "%(address)s gets no email for this edition: none of their topics has an item.",
            address=choice.reader,
        )
    except PreviewError as error:
        return None, None, _("There is nothing to preview: %(reason)s", reason=explain(error))


def render_preview_page(
    edition: Edition,
    test_form: TestSendForm | None = None,
    layout_form: LayoutForm | None = None,
) -> str:
    topics = _edition_topics(edition)
    choice = PreviewChoice.from_args([t.slug for t in topics])
    if layout_form is None:
        layout_form = LayoutForm(formdata=None)
        layout_form.layout.data = choice.layout or edition.layout.value
    preview, reader, problem = _render(edition, choice)
    if test_form is None:
        test_form = TestSendForm(formdata=None)
        test_form.addresses.data = actor().email
        test_form.topics.data = list(choice.topics)
        test_form.all_topics.data = len(choice.topics) == len(topics)
        test_form.language.data = reader.subscriber.language if reader else choice.language
    session = db.session()
    variants = variant_readers(session, edition)
    return render_template(
        "editor/preview.html",
        edition=edition,
        topics=topics,
        topic_names=topics_by_slug(session),
        choice=choice,
        preview=preview,
        reader=reader,
        problem=problem,
        preheader=preheader_of(preview) if preview else "",
        shortened=shortened_items(preview) if preview else [],
        max_bytes=MAX_HTML_BYTES,
        frame_url=url_for(".preview_frame", month=edition.month, **choice.args()),  # type: ignore[arg-type]
        variants=variants,
        total_readers=sum(v.readers for v in variants),
        test_form=test_form,
        test_sends=recent_test_sends(session, edition),
        layout_form=layout_form,
        layout_action=url_for(".edition_layout", month=edition.month, **choice.args()),  # type: ignore[arg-type]
        digest_above=DIGEST_ABOVE,
    )


@bp.route("/editions/<month>/preview")
@role_required(Role.EDITOR)
def preview(month: str) -> str:
    return render_preview_page(edition_or_404(month))


@bp.route("/editions/<month>/preview/frame")
@role_required(Role.EDITOR)
def preview_frame(month: str) -> Response | tuple[Response, int]:
    edition = edition_or_404(month)
    choice = PreviewChoice.from_args([t.slug for t in _edition_topics(edition)])
    preview, _reader, problem = _render(edition, choice)
    if preview is None:
        return framed_email(str(Markup("<p>{}</p>").format(problem or ""))), 404
    return framed_email(preview.message.html)


@bp.route("/editions/<month>/layout", methods=["POST"])
@role_required(Role.EDITOR)
def edition_layout(month: str) -> str | Response | tuple[str, int]:
    """Store the layout chosen on the preview page, and preview the edition in it."""
    edition = edition_or_404(month)
    form = LayoutForm()
    if not form.validate_on_submit():
        return render_preview_page(edition, layout_form=form), 400
    session = db.session()
    was_approved = edition.status == EditionStatus.APPROVED
    try:
        set_layout(session, edition, form.layout.data or "", actor=actor())
    except EditionError as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        flash(_("Layout saved."), "ok")
        note_back_to_draft(was_approved, edition)
    # The preview's own choices, minus a layout to try: the page now shows the edition's.
    back = {k: v for k, v in request.args.items() if k in ("topics", "language", "reader")}
    return redirect(url_for(".preview", month=month, **back))  # type: ignore[arg-type]


@bp.route("/editions/<month>/test-send", methods=["POST"])
@role_required(Role.EDITOR)
def test_send(month: str) -> str | Response | tuple[str, int]:
    edition = edition_or_404(month)
    form = TestSendForm()
    edition_topics = [t.slug for t in _edition_topics(edition)]
    if form.validate_on_submit():
        topics = edition_topics if form.all_topics.data else list(form.topics.data or [])
        session = db.session()
        try:
            records = send_test(
                session,
                current_settings(),
                month,
                address_list(form.addresses.data),
                topics=",".join(topics),
                language=form.language.data or "zh-CN",
                actor=actor(),
            )
        except PreviewError as error:
            session.rollback()
            form.addresses.errors = [*form.addresses.errors, explain(error)]
        except EditionError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            failed = [r for r in records if r.error]
            if failed:
                flash(_("%(failed)s of %(count)s test messages could not be sent: %(error)s",
                        failed=len(failed), count=len(records), error=failed[0].error), "error")
            else:
                flash(_("Test sent to %(addresses)s.",
                        addresses=", ".join(r.to_address for r in records)), "ok")
            return redirect(url_for(".preview", month=month, topics=",".join(topics),
                                    language=form.language.data, _anchor="test-send"))
    return render_preview_page(edition, form), 400
