"""Items of an edition: edit, add, delete, move up or down."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from webapp import db
from webapp.branding import brand
from webapp.config import current_settings
from webapp.editions.items import (
    ItemFields,
    ItemInvalid,
    ItemNotFound,
    add_item,
    delete_item,
    find_item,
    move_item,
    suggest_item_topics,
    undo_cleanup,
    update_item,
)
from webapp.editions.records import EditionError
from webapp.editor import bp
from webapp.editor.common import actor, edition_or_404, explain, note_back_to_draft, show_refusal
from webapp.editor.forms import ButtonForm, ItemForm
from webapp.models import SECTION_KEYS, Edition, EditionStatus, Item, Role, Topic
from webapp.readers.topics import active_topics
from webapp.security import role_required


def _item_or_404(edition: Edition, item_id: int) -> Item:
    try:
        return find_item(edition, item_id)
    except ItemNotFound:
        abort(404)


def _choosable(item: Item | None) -> list[Topic]:
    """Active topics, plus a retired one the item still carries (so it can be taken off)."""
    topics = active_topics(db.session())
    slugs = {t.slug for t in topics}
    extra = [t for t in (item.topics if item else []) if t.slug not in slugs]
    return topics + extra


def _fields(form: ItemForm) -> ItemFields:
    assert form.published_on.data is not None  # nosec B101: DataRequired validated the form
    return ItemFields(
        section=form.section.data,
        title=form.title.data or "",
        published_on=form.published_on.data,
        url=form.url.data or "",
        source=form.source.data or "",
        summary=form.summary.data or "",
        commentary=form.commentary.data,
        title_en=form.title_en.data,
        summary_en=form.summary_en.data,
        topics=tuple(form.topics.data or ()),
        commentary_en=form.commentary_en.data,
    )


def _suggested(form: ItemForm) -> list[str]:
    return suggest_item_topics(
        db.session(),
        section=form.section.data or "policy",
        title=form.title.data or "",
        summary=form.summary.data or "",
        commentary=form.commentary.data,
    )


@dataclass(frozen=True)
class Piece:
    kind: str  # "same", "removed", "added" or "gap" (unchanged text left out)
    text: str


_CONTEXT = 12  # characters of unchanged text shown around a change


def cleanup_diff(before: str, after: str) -> list[Piece]:
    """What the cleanup changed in one field, as removed and added pieces with a little of the
    unchanged text around them; long unchanged stretches are left out."""
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            text = before[i1:i2]
            head = text[:_CONTEXT] if index > 0 else ""
            tail = text[-_CONTEXT:] if index < len(opcodes) - 1 else ""
            if len(text) <= 2 * _CONTEXT and index not in (0, len(opcodes) - 1):
                pieces.append(Piece("same", text))
                continue
            if head:
                pieces.append(Piece("same", head))
            pieces.append(Piece("gap", "…"))
            if tail:
                pieces.append(Piece("same", tail))
            continue
        if i2 > i1:
            pieces.append(Piece("removed", before[i1:i2]))
        if j2 > j1:
            pieces.append(Piece("added", after[j1:j2]))
    return pieces


def _cleanup_view(item: Item | None) -> list[tuple[str, list[Piece]]]:
    changes: dict[str, Any] = (item.cleanup or {}) if item is not None else {}
    return [(name, cleanup_diff(change["before"], change["after"]))
            for name, change in changes.items()]


def _page(
    edition: Edition,
    form: ItemForm,
    item: Item | None,
    suggested: list[str],
    *,
    looked: bool = False,
) -> str:
    """The item form; `looked`: the keyword rules were asked and their answer is `suggested`."""
    labels = brand(db.session(), current_settings())
    form.commentary.label.text = _(
        "Commentary (%(label)s)", label=labels.commentary_label_zh
    )
    form.commentary_en.label.text = _(
        "English commentary (%(label)s)", label=labels.commentary_label_en
    )
    return render_template(
        "editor/item.html",
        edition=edition,
        item=item,
        form=form,
        topics=_choosable(item),
        suggested=set(suggested),
        cleanup=_cleanup_view(item),
        button=ButtonForm(),
        no_keyword_match=looked and not suggested,
    )


def _with_suggestions(form: ItemForm) -> list[str] | None:
    """An item saved without topics gets the suggested ones ticked, to check and save again.

    None when there is nothing to suggest (the form then says a topic is needed).
    """
    if form.topics.data:
        return None
    suggested = _suggested(form)
    if not suggested:
        return None
    form.validate()  # show every other problem at the same time
    form.topics.data = suggested
    form.topics.errors = [
        _("No topic was chosen, so the suggested ones are ticked now. Check them, then save.")
    ]
    return suggested


def _save(edition: Edition, form: ItemForm, item: Item | None) -> Response | None:
    """Store the form; None (with the error on the form or flashed) when it was refused."""
    session = db.session()
    was_approved = edition.status == EditionStatus.APPROVED
    try:
        if item is None:
            saved = add_item(session, edition, _fields(form), actor=actor())
        else:
            saved = update_item(session, edition, item.id, _fields(form), actor=actor())
    except ItemInvalid as error:
        session.rollback()
        show_refusal(form, error)
        return None
    except EditionError as error:
        session.rollback()
        flash(explain(error), "error")
        return None
    session.commit()
    flash(_("Item saved."), "ok")
    note_back_to_draft(was_approved, edition)
    return redirect(url_for(".edition", month=edition.month, _anchor=f"item-{saved.id}"))


@bp.route("/editions/<month>/items/new", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def new_item(month: str) -> str | Response | tuple[str, int]:
    edition = edition_or_404(month)
    form = ItemForm()
    if not form.is_submitted():
        section = request.args.get("section", "policy")
        form.section.data = section if section in SECTION_KEYS else "policy"
        return _page(edition, form, None, [])
    return _submit(edition, form, None)


@bp.route("/editions/<month>/items/<int:item_id>", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def edit_item(month: str, item_id: int) -> str | Response | tuple[str, int]:
    edition = edition_or_404(month)
    item = _item_or_404(edition, item_id)
    form = ItemForm(obj=item)
    if not form.is_submitted():
        form.section.data = item.section.key
        form.topics.data = [t.slug for t in item.topics]
        return _page(edition, form, item, _suggested(form), looked=not item.topics)
    return _submit(edition, form, item)


def _submit(
    edition: Edition, form: ItemForm, item: Item | None
) -> str | Response | tuple[str, int]:
    """A posted item form: suggest topics, insist on a topic, or save (new or existing)."""
    if form.suggest.data:
        suggested = _suggested(form)
        form.topics.data = sorted(set(form.topics.data or []) | set(suggested))
        return _page(edition, form, item, suggested, looked=True)
    ticked = _with_suggestions(form)
    if ticked is not None:
        return _page(edition, form, item, ticked), 400
    if form.validate():
        saved = _save(edition, form, item)
        if saved is not None:
            return saved
    # Saved without a topic and none suggested: say that the keywords found nothing.
    looked = not form.topics.data
    suggested = _suggested(form) if item is not None or looked else []
    return _page(edition, form, item, suggested, looked=looked), 400


@bp.route("/editions/<month>/items/<int:item_id>/delete", methods=["POST"])
@role_required(Role.EDITOR)
def remove_item(month: str, item_id: int) -> Response:
    edition = edition_or_404(month)
    item = _item_or_404(edition, item_id)
    session = db.session()
    was_approved = edition.status == EditionStatus.APPROVED
    try:
        delete_item(session, edition, item.id, actor=actor())
    except EditionError as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        flash(_("Item deleted."), "ok")
        note_back_to_draft(was_approved, edition)
    return redirect(url_for(".edition", month=month))


@bp.route("/editions/<month>/items/<int:item_id>/move", methods=["POST"])
@role_required(Role.EDITOR)
def reorder_item(month: str, item_id: int) -> Response:
    edition = edition_or_404(month)
    item = _item_or_404(edition, item_id)
    offset = -1 if request.form.get("direction") == "up" else 1
    session = db.session()
    was_approved = edition.status == EditionStatus.APPROVED
    try:
        move_item(session, edition, item.id, offset, actor=actor())
    except EditionError as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        note_back_to_draft(was_approved, edition)
    return redirect(url_for(".edition", month=month, _anchor=f"item-{item.id}"))


@bp.route("/editions/<month>/items/<int:item_id>/undo-cleanup", methods=["POST"])
@role_required(Role.EDITOR)
def undo_item_cleanup(month: str, item_id: int) -> Response:
    # CSRFProtect checks every POST's token before it gets here.
    edition = edition_or_404(month)
    item = _item_or_404(edition, item_id)
    session = db.session()
    was_approved = edition.status == EditionStatus.APPROVED
    try:
        restored = undo_cleanup(session, edition, item.id, actor=actor())
    except EditionError as error:
        session.rollback()
        flash(explain(error), "error")
    else:
        session.commit()
        if restored:
            flash(_("The text is back as it was in the file."), "ok")
        else:
            flash(_("Nothing to undo: the fields were edited since the import."), "info")
        note_back_to_draft(was_approved, edition)
    return redirect(url_for(".edit_item", month=month, item_id=item.id))
