"""English drafts through Amazon Translate: the figures and the confirmation before a run,
the run's progress and failures, and reviewing and accepting the machine drafts.

The run itself is a background job done by the worker (webapp.editions.drafts): a whole
report is a hundred or more requests, longer than a request to the console should last.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from webapp import db
from webapp.config import current_settings
from webapp.editions.drafting_job import CostChanged, queue_drafts, translation_jobs
from webapp.editions.drafts import accept_drafts, pending_drafts, plan_drafts
from webapp.editions.machine_translation import PRICE_PER_MILLION_CHARACTERS_USD
from webapp.editions.records import EditionError
from webapp.editor import bp
from webapp.editor.common import actor, edition_or_404, explain
from webapp.editor.forms import AcceptDraftsForm, TranslateForm
from webapp.models import Edition, JobStatus, Role
from webapp.readers.csv_jobs import Progress
from webapp.security import role_required


def translation_enabled() -> bool:
    return current_settings().translate == "aws"


def _confirm_page(edition: Edition, form: TranslateForm, changed: bool = False) -> str:
    plan = plan_drafts(edition)
    form.characters.data = str(plan.characters)
    jobs = translation_jobs(db.session(), edition.month)
    return render_template(
        "editor/translate.html",
        edition=edition,
        plan=plan,
        form=form,
        enabled=translation_enabled(),
        running=any(job.status == JobStatus.PENDING for job in jobs),
        price=PRICE_PER_MILLION_CHARACTERS_USD,
        changed=changed,
    )


@bp.route("/editions/<month>/translate", methods=["GET", "POST"])
@role_required(Role.EDITOR)
def translate(month: str) -> str | Response | tuple[str, int]:
    edition = edition_or_404(month)
    form = TranslateForm()
    if not form.is_submitted():
        return _confirm_page(edition, form)
    if not form.validate():
        return _confirm_page(edition, form), 400
    session = db.session()
    try:
        queue_drafts(session, edition, enabled=translation_enabled(),
                     characters=int(form.characters.data), actor=actor())
    except CostChanged:
        session.rollback()
        return _confirm_page(edition, TranslateForm(formdata=None), changed=True), 409
    except EditionError as error:
        session.rollback()
        flash(explain(error), "error")
        return redirect(url_for(".edition", month=month))
    session.commit()
    flash(_("English is being drafted in the background; follow it here."), "ok")
    return redirect(url_for(".drafts", month=month))


@bp.route("/editions/<month>/drafts")
@role_required(Role.EDITOR)
def drafts(month: str) -> str:
    edition = edition_or_404(month)
    items, texts = pending_drafts(edition)
    jobs = translation_jobs(db.session(), month, limit=20)
    last = jobs[0] if jobs else None
    sections = {section.key: section for section in edition.sections}
    shown_texts = [
        (name, sections[name.removeprefix("section:")].title,
         sections[name.removeprefix("section:")].title_en)
        if name.startswith("section:")
        else (name, getattr(edition, name.removesuffix("_en")), getattr(edition, name))
        for name in texts
        if not name.startswith("section:") or name.removeprefix("section:") in sections
    ]
    all_form = AcceptDraftsForm(formdata=None)
    all_form.items.data = ",".join(str(item.id) for item in items)
    all_form.texts.data = ",".join(name for name, *_ in shown_texts)
    return render_template(
        "editor/drafts.html",
        edition=edition,
        items=items,
        texts=shown_texts,
        job=last,
        progress=Progress.of(last) if last is not None else None,
        running=last is not None and last.status == JobStatus.PENDING,
        result=(last.result or {}) if last is not None else {},
        all_form=all_form,
        one_form=AcceptDraftsForm(formdata=None),
    )


def _ids(value: str | None) -> list[int]:
    return [int(part) for part in (value or "").split(",") if part]


def _names(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


@bp.route("/editions/<month>/drafts/accept", methods=["POST"])
@role_required(Role.EDITOR)
def accept(month: str) -> Response | tuple[str, int]:
    edition = edition_or_404(month)
    form = AcceptDraftsForm()
    if not form.validate():
        return render_template("errors/error.html", code=400), 400
    session = db.session()
    try:
        count = accept_drafts(session, edition, items=_ids(form.items.data),
                              texts=_names(form.texts.data), actor=actor())
    except (EditionError, LookupError) as error:
        session.rollback()
        flash(explain(error) if isinstance(error, EditionError) else
              _("That item is not in this edition."), "error")
        return redirect(url_for(".drafts", month=month))
    session.commit()
    flash(_("Accepted %(count)s machine drafts as the English text.", count=count), "ok")
    if form.back.data == "edition":
        return redirect(url_for(".edition", month=month, _anchor=f"item-{form.items.data}"))
    return redirect(url_for(".drafts", month=month))
