"""The English side of an edition: its English texts, section names and what English readers
get for an item without English text (the untranslated policy).

Like every edit, only a `draft` or `approved` edition changes, and an approved one returns to
draft; refusals change nothing; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from emails import EditionContent
from webapp.audit import record_audit
from webapp.editions.items import (
    MAX_PREHEADER,
    MAX_SUBJECT,
    Actor,
    TextTooLong,
    TextUnsafe,
    UnknownSection,
)
from webapp.editions.items import _back_to_draft as back_to_draft
from webapp.editions.items import _require_editable as require_editable
from webapp.mailer import edition_content
from webapp.models import SECTION_KEYS, Edition, UntranslatedPolicy
from webapp.plain_text import UnsafeText, check_text

MAX_TITLE = 200  # the columns' sizes
MAX_SECTION_NAME = 100


@dataclass(frozen=True)
class EnglishTexts:
    """What an editor sets for English readers; empty title, subject and preheader are
    automatic (never Chinese), an empty intro is the Chinese one under the policy."""

    title: str = ""
    subject: str = ""
    preheader: str = ""
    intro: str = ""
    sections: Mapping[str, str] = field(default_factory=dict)  # key → English name
    untranslated: UntranslatedPolicy = UntranslatedPolicy.MARKED


def _checked(name: str, value: str, limit: int, *, multiline: bool = False) -> str:
    value = value.strip()
    try:
        check_text(value, multiline=multiline)
    except UnsafeText as problem:
        raise TextUnsafe(name, problem) from None
    if len(value) > limit:
        raise TextTooLong(name, limit)
    return value


def update_english(
    session: Session, edition: Edition, texts: EnglishTexts, *, actor: Actor
) -> bool:
    """Store the edition's English texts and policy (machine drafts among them become the
    editor's); True when an approved edition went back to draft."""
    require_editable(edition)
    for key in texts.sections:
        if key not in SECTION_KEYS:
            raise UnknownSection(key)
    values = {
        "title_en": _checked("title_en", texts.title, MAX_TITLE),
        "subject_en": _checked("subject_en", texts.subject, MAX_SUBJECT),
        "preheader_en": _checked("preheader_en", texts.preheader, MAX_PREHEADER),
        "intro_en": _checked("intro_en", texts.intro, 5000, multiline=True),
    }
    names = {
        key: _checked(f"section_{key}", name, MAX_SECTION_NAME)
        for key, name in texts.sections.items()
    }
    changed = [name for name, value in values.items() if getattr(edition, name) != value]
    for name in changed:
        setattr(edition, name, values[name])
    for section in edition.sections:
        if section.key in names and section.title_en != names[section.key]:
            section.title_en = names[section.key]
            changed.append(f"section_{section.key}")
    if edition.untranslated != texts.untranslated:
        edition.untranslated = texts.untranslated
        changed.append("untranslated")
    if edition.english_drafts:
        # The editor saved the form that showed the machine drafts: theirs now.
        edition.english_drafts = None
        changed.append("accepted_drafts")
    if not changed:
        return False
    record_audit(session, "edition.edit_english", actor=actor, target=edition.month,
                 detail={"fields": changed, "untranslated": edition.untranslated.value})
    return back_to_draft(edition)


def untranslated_item_ids(edition: Edition) -> set[int]:
    """Items without (accepted) English text for every text they have in Chinese."""
    content: EditionContent = edition_content(edition)
    return {i.id for s in content.sections for i in s.items if not i.translated}
