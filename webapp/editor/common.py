"""What the editor console's views share: finding the edition, framed email documents, and
saying in the page's language why a service refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, abort, flash
from flask_babel import gettext as _
from flask_login import current_user

from webapp import db
from webapp.delivery.sending import (
    EditionHasNoItems,
    EditionNotFound,
    ItemsWithoutTopic,
    MachineDraftsPending,
    NoItemHasTopic,
    NotScheduled,
    ScheduleInPast,
    UntranslatedForEnglishReaders,
    WrongEditionState,
)
from webapp.editions.drafting_job import DraftingUnderway
from webapp.editions.drafts import NothingToTranslate, TranslationOff
from webapp.editions.importer.errors import (
    DamagedFile,
    NotAReportFile,
    PdfNeedsPassword,
    PdfWithoutText,
    ReportIncomplete,
    ReportTooLarge,
    WordWithMacros,
)
from webapp.editions.items import (
    ContentProblem,
    ItemInvalid,
    LinkNotWeb,
    TextTooLong,
    TextUnsafe,
    TitleMissing,
    UnknownLayout,
    UnknownSection,
    UnknownTopic,
    UnsafeContent,
)
from webapp.editions.records import EditionExists, EditionLocked, get_edition
from webapp.fields import unsafe_text_message
from webapp.labels import status_labels
from webapp.models import Edition, EditionStatus, User
from webapp.plain_text import UnsafeText
from webapp.reasons import Reason, say
from webapp.security import email_document


def actor() -> User:
    user: User = current_user._get_current_object()
    return user


def edition_or_404(month: str) -> Edition:
    edition = get_edition(db.session(), month)
    if edition is None:
        abort(404)
    return edition


def framed_email(html: str) -> Response:
    """An email's HTML for a sandboxed same-origin iframe of the console (no images fetched)."""
    return email_document(html)


def status_label(status: EditionStatus) -> str:
    return str(status_labels()[status.value])


def _locked(error: EditionLocked) -> str:
    return str(_(
        "The %(month)s edition is %(status)s: its content can no longer be changed.",
        month=error.month,
        status=status_label(error.status),
    ))


def _exists(error: EditionExists) -> str:
    return str(_(
        "An edition for %(month)s already exists (%(status)s). Tick “Replace” to replace it.",
        month=error.month,
        status=status_label(error.status),
    ))


def _unknown_section(error: UnknownSection) -> str:
    return str(_("There is no section “%(section)s”.", section=error.section))


def _no_edition(error: EditionNotFound) -> str:
    return str(_("There is no edition for %(month)s.", month=error.month))


def _unknown_layout(error: UnknownLayout) -> str:
    return str(_("Choose one of the listed options."))


def _title_missing(error: TitleMissing) -> str:
    return str(_("An item needs a title."))


def _link_not_web(error: LinkNotWeb) -> str:
    return str(_("The link must be an address starting with http:// or https://."))


def _unknown_topic(error: UnknownTopic) -> str:
    return str(_("There is no topic “%(topic)s” to choose.", topic=error.slug))


def _too_long(error: TextTooLong) -> str:
    return str(_("At most %(limit)d characters.", limit=error.limit))


def _field_label(field: str, *, item: bool) -> str:
    labels = {
        "title": _("Title") if item else _("Edition title"),
        "subject": _("Subject"),
        "preheader": _("Preheader"),
        "intro": _("Introduction"),
        "title_en": _("English title"),
        "source": _("Source"),
        "url": _("Link"),
        "summary": _("Summary"),
        "summary_en": _("English summary"),
        "commentary": _("Commentary"),
        "commentary_en": _("English commentary"),
        "subject_en": _("English subject"),
        "preheader_en": _("English preheader"),
        "intro_en": _("English introduction"),
        "section_title": _("Section"),
        "section_title_en": _("Section"),
        "topics": _("Topics"),
    }
    return str(labels.get(field, field))


def _text_unsafe(error: TextUnsafe) -> str:
    return str(_("%(field)s: %(problem)s", field=_field_label(error.field, item=True),
                 problem=unsafe_text_message(error.problem)))


def _content_problem(problem: ContentProblem) -> str:
    if isinstance(problem.problem, UnsafeText):
        reason = unsafe_text_message(problem.problem)
    else:
        reason = str(_("The link must be an address starting with http:// or https://."))
    field = _field_label(problem.field, item=problem.item_number is not None)
    if problem.item_number is None:
        return str(_("%(field)s: %(problem)s", field=field, problem=reason))
    return str(_(
        "Item %(number)d “%(title)s”, %(field)s: %(problem)s",
        number=problem.item_number,
        title=problem.item_title[:40],
        field=field,
        problem=reason,
    ))


def _unsafe_content(error: UnsafeContent) -> str:
    listed = " ".join(_content_problem(problem) for problem in error.problems)
    return str(_("This edition cannot go out until this is fixed: %(problems)s",
                 problems=listed))


def _wrong_state(error: WrongEditionState) -> str:
    return str(_("This cannot be done while the edition is %(status)s.",
                 status=status_label(error.status)))


def _not_scheduled(error: NotScheduled) -> str:
    return str(_("Only a scheduled edition can be unscheduled; this one is %(status)s.",
                 status=status_label(error.status)))


def _no_items(error: EditionHasNoItems) -> str:
    return str(_("The edition has no items yet."))


def _no_topic(error: NoItemHasTopic) -> str:
    return str(_("No item has a topic, so no reader would get this edition."))


def _items_without_topic(error: ItemsWithoutTopic) -> str:
    return str(_(
        "%(count)s items have no topic, so no reader would get them: choose topics for them "
        "first (they are marked below).",
        count=error.count,
    ))


def _untranslated(error: UntranslatedForEnglishReaders) -> str:
    return str(_(
        "%(readers)s English readers would get %(items)s items without English text, shown in "
        "Chinese. Confirm that this is what you want, add the English text, or leave such items "
        "out of English editions.",
        readers=error.readers,
        items=error.items,
    ))


def _drafts_pending(error: MachineDraftsPending) -> str:
    return str(_(
        "The edition has machine-drafted English no editor has accepted yet (%(items)s items, "
        "%(texts)s edition texts): review the drafts and accept or edit each first.",
        items=error.items,
        texts=error.texts,
    ))


def _translation_off(error: TranslationOff) -> str:
    return str(_(
        "Drafting English is off. To draft through Amazon Translate, set TRANSLATE=aws (and "
        "TRANSLATE_REGION, and TRANSLATE_TERMINOLOGY for the firm's glossary) and restart."
    ))


def _nothing_to_translate(error: NothingToTranslate) -> str:
    return str(_("Every text of this edition has English text or a machine draft already."))


def _drafting_underway(error: DraftingUnderway) -> str:
    return str(_("English for this edition is being drafted already."))


def _in_past(error: ScheduleInPast) -> str:
    return str(_("Choose a time in the future."))


def _incomplete(error: ReportIncomplete) -> str:
    return str(_(
        "The report's table of contents lists %(count)d sections or items that are not in its "
        "text: the file may have been cut short. Import the whole report, or give the reason "
        "to import it as it is.",
        count=len(error.missing),
    ))


def _not_a_report(error: NotAReportFile) -> str:
    return str(_("This file is not a PDF, a Word file (.docx) or a text file."))


def _too_large(error: ReportTooLarge) -> str:
    return str(_("The file is larger than %(mb)d MB.", mb=error.limit_mb))


def _needs_password(error: PdfNeedsPassword) -> str:
    return str(_("This PDF needs a password to open. Export it again without a password."))


def _no_text(error: PdfWithoutText) -> str:
    return str(_("This PDF has no text (it is a scan or a picture); export it from Word again."))


def _damaged(error: DamagedFile) -> str:
    if error.kind == "pdf":
        return str(_("This PDF is damaged or incomplete and cannot be read."))
    if error.kind == "docx":
        return str(_("This Word file is damaged or incomplete and cannot be read."))
    return str(_("This text file is damaged and cannot be read."))


def _macros(error: WordWithMacros) -> str:
    return str(_("This Word file contains macros (.docm). Save it as a Word document (.docx) "
                 "and import that."))


# The one place a refusal becomes the editor's words, keyed by the service's exception class.
# Refusals only the CLI can meet (no such month, a schedule rule) are not here: explain() falls
# back to their English sentence.
_REFUSALS: dict[type[Exception], Callable[[Any], str]] = {
    EditionLocked: _locked,
    EditionNotFound: _no_edition,
    UnknownLayout: _unknown_layout,
    EditionExists: _exists,
    UnknownSection: _unknown_section,
    TitleMissing: _title_missing,
    LinkNotWeb: _link_not_web,
    UnknownTopic: _unknown_topic,
    TextTooLong: _too_long,
    TextUnsafe: _text_unsafe,
    UnsafeContent: _unsafe_content,
    NotScheduled: _not_scheduled,
    WrongEditionState: _wrong_state,
    EditionHasNoItems: _no_items,
    NoItemHasTopic: _no_topic,
    ItemsWithoutTopic: _items_without_topic,
    UntranslatedForEnglishReaders: _untranslated,
    MachineDraftsPending: _drafts_pending,
    TranslationOff: _translation_off,
    NothingToTranslate: _nothing_to_translate,
    DraftingUnderway: _drafting_underway,
    ScheduleInPast: _in_past,
    ReportIncomplete: _incomplete,
    NotAReportFile: _not_a_report,
    ReportTooLarge: _too_large,
    PdfNeedsPassword: _needs_password,
    PdfWithoutText: _no_text,
    DamagedFile: _damaged,
    WordWithMacros: _macros,
}


def show_refusal(form: Any, error: ItemInvalid) -> None:
    """A refused field's reason on that field of the form, or as a message when the form has
    no field of that name."""
    field = getattr(form, error.field, None)
    if field is not None:
        field.errors = [*field.errors, explain(error)]
    else:
        flash(explain(error), "error")


def explain(error: Exception) -> str:
    """A refusal from a service, as the editor should read it; what it says comes from the
    exception alone, never from looking at the edition again."""
    for kind in type(error).__mro__:
        if kind in _REFUSALS:
            return _REFUSALS[kind](error)
    reasons = [arg for arg in error.args if isinstance(arg, Reason)]
    return say(reasons[0]) if reasons else str(error)


def note_back_to_draft(was_approved: bool, edition: Edition) -> None:
    """Tell the editor when a change sent an approved edition back to draft (DESIGN.md)."""
    if was_approved and edition.status == EditionStatus.DRAFT:
        flash(_("The edition is a draft again: approve it once more when it is ready."), "info")
