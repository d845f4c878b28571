"""Editing an edition before it goes out: its subject, preheader and intro, and its items.

DESIGN.md's states decide what may change: only a `draft` or `approved` edition, and a change to
an approved one returns it to `draft`, so what is sent is always what was last approved. Every
function checks first and changes nothing when refused; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.editions.importer.cleanup import CLEANED_FIELDS
from webapp.editions.importer.parser import SECTION_TITLES
from webapp.editions.importer.topics import suggest_topics
from webapp.editions.records import EditionError, EditionLocked
from webapp.models import SECTION_KEYS, Edition, EditionStatus, EnglishStatus, Item, Section, User
from webapp.readers.topics import keyword_rules, topics_by_slug

Actor = User | str

MAX_SUBJECT = 300  # the columns' sizes
MAX_PREHEADER = 300


class ItemInvalid(EditionError):
    """An item's fields (or the edition's texts) cannot be stored; `field` names the one at
    fault, and each subclass is one reason."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class UnknownSection(ItemInvalid):
    def __init__(self, section: str) -> None:
        self.section = section
        super().__init__("section", f"unknown section {section!r}")


class TitleMissing(ItemInvalid):
    def __init__(self) -> None:
        super().__init__("title", "an item needs a title")


class LinkNotWeb(ItemInvalid):
    """The link is not an http:// or https:// address."""

    def __init__(self) -> None:
        super().__init__("url", "the link must be an http:// or https:// address")


class UnknownTopic(ItemInvalid):
    """No such topic, or a retired one the item does not have already."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__("topics", f"unknown topic {slug!r}")


class TextTooLong(ItemInvalid):
    """The subject or preheader is longer than its column."""

    def __init__(self, field: str, limit: int) -> None:
        self.limit = limit
        super().__init__(field, f"at most {limit} characters")


class ItemNotFound(LookupError):
    """No item with this id belongs to the edition."""


@dataclass(frozen=True)
class ItemFields:
    """What an editor can set on an item."""

    section: str
    title: str
    published_on: date
    url: str
    source: str = ""
    summary: str = ""
    commentary: str | None = None
    title_en: str | None = None
    summary_en: str | None = None
    topics: tuple[str, ...] = ()
    commentary_en: str | None = None


def _require_editable(edition: Edition) -> None:
    if not edition.editable:
        raise EditionLocked(edition)


def _back_to_draft(edition: Edition) -> bool:
    """An approved edition that changes needs approving again; True when that happened."""
    if edition.status != EditionStatus.APPROVED:
        return False
    edition.status = EditionStatus.DRAFT
    edition.approved_at = None
    return True


def _blank_to_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _check(session: Session, fields: ItemFields, current: Item | None) -> None:
    if fields.section not in SECTION_KEYS:
        raise UnknownSection(fields.section)
    if not fields.title.strip():
        raise TitleMissing
    parts = urlsplit(fields.url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LinkNotWeb
    known = topics_by_slug(session)
    kept = {t.slug for t in current.topics} if current is not None else set()
    for slug in fields.topics:
        topic = known.get(slug)
        # A retired topic may stay on an item that has it, but is not given to new ones.
        if topic is None or (topic.retired and slug not in kept):
            raise UnknownTopic(slug)


def _section(edition: Edition, key: str) -> Section:
    for section in edition.sections:
        if section.key == key:
            return section
    section = Section(key=key, title=SECTION_TITLES[key], position=SECTION_KEYS.index(key))
    edition.sections.append(section)
    return section


def _renumber(section: Section) -> None:
    for position, item in enumerate(section.items):
        item.position = position


def _apply(session: Session, item: Item, fields: ItemFields) -> None:
    known = topics_by_slug(session)
    item.title = fields.title.strip()
    item.published_on = fields.published_on
    item.url = fields.url.strip()
    item.source = fields.source.strip()
    item.summary = fields.summary.strip()
    item.commentary = _blank_to_none(fields.commentary)
    item.title_en = _blank_to_none(fields.title_en)
    item.summary_en = _blank_to_none(fields.summary_en)
    item.commentary_en = _blank_to_none(fields.commentary_en)
    # The editor saved these English texts: theirs now, whoever drafted them.
    item.english_status = EnglishStatus.EDITOR
    item.topics = sorted(
        (known[slug] for slug in dict.fromkeys(fields.topics)), key=lambda t: (t.position, t.id)
    )


def find_item(edition: Edition, item_id: int) -> Item:
    for section in edition.sections:
        for item in section.items:
            if item.id == item_id:
                return item
    raise ItemNotFound(item_id)


def update_texts(
    session: Session,
    edition: Edition,
    *,
    subject: str,
    preheader: str,
    intro: str,
    actor: Actor,
) -> bool:
    """Set the subject, preheader and intro (empty subject or preheader: automatic per variant).

    Returns True when an approved edition went back to draft.
    """
    _require_editable(edition)
    subject, preheader, intro = subject.strip(), preheader.strip(), intro.strip()
    if len(subject) > MAX_SUBJECT:
        raise TextTooLong("subject", MAX_SUBJECT)
    if len(preheader) > MAX_PREHEADER:
        raise TextTooLong("preheader", MAX_PREHEADER)
    if (subject, preheader, intro) == (edition.subject, edition.preheader, edition.intro):
        return False
    edition.subject, edition.preheader, edition.intro = subject, preheader, intro
    record_audit(session, "edition.edit", actor=actor, target=edition.month)
    return _back_to_draft(edition)


def add_item(session: Session, edition: Edition, fields: ItemFields, *, actor: Actor) -> Item:
    """A new item at the end of its section."""
    _require_editable(edition)
    _check(session, fields, None)
    section = _section(edition, fields.section)
    item = Item(position=len(section.items))
    _apply(session, item, fields)
    section.items.append(item)
    session.flush()
    _back_to_draft(edition)
    record_audit(session, "item.add", actor=actor, target=edition.month,
                 detail={"item": item.id, "section": section.key})
    return item


def update_item(
    session: Session, edition: Edition, item_id: int, fields: ItemFields, *, actor: Actor
) -> Item:
    """Change an item; a new section puts it at the end of that section."""
    _require_editable(edition)
    item = find_item(edition, item_id)
    _check(session, fields, item)
    _apply(session, item, fields)
    old = item.section
    if old.key != fields.section:
        new = _section(edition, fields.section)
        old.items.remove(item)
        new.items.append(item)  # before the flush, so the item is never an orphan
        _renumber(old)
        _renumber(new)
    session.flush()
    _back_to_draft(edition)
    record_audit(session, "item.edit", actor=actor, target=edition.month,
                 detail={"item": item.id, "section": fields.section})
    return item


def delete_item(session: Session, edition: Edition, item_id: int, *, actor: Actor) -> None:
    _require_editable(edition)
    item = find_item(edition, item_id)
    section = item.section
    section.items.remove(item)  # delete-orphan removes the row
    _renumber(section)
    session.flush()
    _back_to_draft(edition)
    record_audit(session, "item.delete", actor=actor, target=edition.month,
                 detail={"item": item_id, "title": item.title})


def move_item(
    session: Session, edition: Edition, item_id: int, offset: int, *, actor: Actor
) -> bool:
    """Move an item `offset` places within its section; False when it is already at the end."""
    _require_editable(edition)
    item = find_item(edition, item_id)
    items = item.section.items
    index = items.index(item)
    target = min(max(index + offset, 0), len(items) - 1)
    if target == index:
        return False
    items.insert(target, items.pop(index))
    _renumber(item.section)
    session.flush()
    _back_to_draft(edition)
    record_audit(session, "item.move", actor=actor, target=edition.month,
                 detail={"item": item_id, "position": target})
    return True


def undo_cleanup(session: Session, edition: Edition, item_id: int, *, actor: Actor) -> list[str]:
    """Put back the text the import's cleanup changed, field by field, and forget the record.

    A field edited since the import keeps the edit (putting the old text back would lose it).
    Returns the fields put back.
    """
    _require_editable(edition)
    item = find_item(edition, item_id)
    restored: list[str] = []
    kept: list[str] = []
    for name, change in (item.cleanup or {}).items():
        if name not in CLEANED_FIELDS:
            continue
        if getattr(item, name) == change["after"]:
            setattr(item, name, change["before"])
            restored.append(name)
        else:
            kept.append(name)
    if item.cleanup is None:
        return restored
    item.cleanup = None
    session.flush()
    if restored:
        _back_to_draft(edition)
    record_audit(session, "item.undo_cleanup", actor=actor, target=edition.month,
                 detail={"item": item.id, "restored": restored, "kept": kept})
    return restored


def suggest_item_topics(
    session: Session, *, section: str, title: str, summary: str, commentary: str | None
) -> list[str]:
    """The topics the importer's keyword rules suggest for this text."""
    return suggest_topics(
        title=title,
        summary=summary,
        commentary=commentary,
        section_key=section,
        rules=keyword_rules(session),
    )
