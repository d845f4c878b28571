"""Editing an edition before it goes out: its subject, preheader and intro, and its items.

DESIGN.md's states decide what may change: only a `draft` or `approved` edition, and a change to
an approved one returns it to `draft`, so what is sent is always what was last approved. Every
function checks first and changes nothing when refused; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.editions.importer.cleanup import CLEANED_FIELDS
from webapp.editions.importer.parser import SECTION_TITLES
from webapp.editions.importer.topics import suggest_topics
from webapp.editions.records import EditionError, EditionLocked
from webapp.models import (
    SECTION_KEYS,
    Edition,
    EditionLayout,
    EditionStatus,
    EnglishStatus,
    Item,
    Section,
    User,
)
from webapp.plain_text import UnsafeText, UnsafeUrl, check_http_url, find_unsafe
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


class TextUnsafe(ItemInvalid):
    """A field holds a character webapp.plain_text refuses: a control character, or a line
    break in a one-line field (one that may end up in a header, like the subject)."""

    def __init__(self, field: str, problem: UnsafeText) -> None:
        self.problem = problem
        super().__init__(field, str(problem))


# The edition's and the items' text fields: one line (may reach a header or a link) or several.
EDITION_ONE_LINE = ("title", "subject", "preheader", "title_en", "subject_en", "preheader_en")
EDITION_MULTILINE = ("intro", "intro_en")
SECTION_ONE_LINE = ("title", "title_en")
ITEM_ONE_LINE = ("title", "title_en", "source")
ITEM_MULTILINE = ("summary", "summary_en", "commentary", "commentary_en")


@dataclass(frozen=True)
class ContentProblem:
    """One field of an edition that cannot go out as it is."""

    field: str  # a name from the tuples above, or "url"
    problem: UnsafeText | UnsafeUrl
    item_number: int | None = None  # 1-based in reading order (as /c/<token>/<n>); None: the
    item_title: str = ""  # edition's own texts

    def __str__(self) -> str:
        where = f"item {self.item_number} {self.item_title[:40]!r}, " if self.item_number else ""
        return f"{where}{self.field}: {self.problem}"


class UnsafeContent(EditionError):
    """The edition holds text that no message may carry (stored before the rule, or written
    around the forms); approving it or sending a test is refused until it is fixed."""

    def __init__(self, month: str, problems: list[ContentProblem]) -> None:
        self.month = month
        self.problems = tuple(problems)
        listed = "; ".join(str(problem) for problem in problems)
        super().__init__(f"the {month} edition cannot go out as it is: {listed}")


def _text_problem(
    field: str, value: str | None, *, multiline: bool, number: int | None = None,
    title: str = "",
) -> ContentProblem | None:
    problem = find_unsafe(value or "", multiline=multiline)
    if problem is None:
        return None
    return ContentProblem(field, problem, number, title)


def content_problems(edition: Edition) -> list[ContentProblem]:
    """Everything in the edition's texts and items that a message could not carry, in reading
    order; empty when it may go out."""
    found: list[ContentProblem | None] = [
        _text_problem(name, getattr(edition, name), multiline=False) for name in EDITION_ONE_LINE
    ]
    found += [
        _text_problem(name, getattr(edition, name), multiline=True) for name in EDITION_MULTILINE
    ]
    found += [
        _text_problem(f"section_{name}", getattr(section, name), multiline=False)
        for section in edition.sections
        for name in SECTION_ONE_LINE
    ]
    items = [item for section in edition.sections for item in section.items]
    for number, item in enumerate(items, start=1):
        title = "".join(c if c.isprintable() else "?" for c in item.title)
        for name in ITEM_ONE_LINE:
            found.append(_text_problem(name, getattr(item, name), multiline=False,
                                       number=number, title=title))
        try:
            check_http_url(item.url)
        except (UnsafeText, UnsafeUrl) as problem:
            found.append(ContentProblem("url", problem, number, title))
        for name in ITEM_MULTILINE:
            found.append(_text_problem(name, getattr(item, name), multiline=True,
                                       number=number, title=title))
    return [problem for problem in found if problem is not None]


def require_safe_content(edition: Edition) -> None:
    """Raise UnsafeContent listing every problem, if there is one."""
    problems = content_problems(edition)
    if problems:
        raise UnsafeContent(edition.month, problems)


def _check_text(field: str, value: str | None, *, multiline: bool = False) -> None:
    problem = find_unsafe(value or "", multiline=multiline)
    if problem is not None:
        raise TextUnsafe(field, problem)


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
    for name in ITEM_ONE_LINE:
        _check_text(name, getattr(fields, name))
    for name in ITEM_MULTILINE:
        _check_text(name, getattr(fields, name), multiline=True)
    try:
        check_http_url(fields.url.strip())
    except (UnsafeText, UnsafeUrl):
        raise LinkNotWeb from None
    for slug in fields.topics:
        _check_text("topics", slug)
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
    _check_text("subject", subject)
    _check_text("preheader", preheader)
    _check_text("intro", intro, multiline=True)
    if len(subject) > MAX_SUBJECT:
        raise TextTooLong("subject", MAX_SUBJECT)
    if len(preheader) > MAX_PREHEADER:
        raise TextTooLong("preheader", MAX_PREHEADER)
    if (subject, preheader, intro) == (edition.subject, edition.preheader, edition.intro):
        return False
    edition.subject, edition.preheader, edition.intro = subject, preheader, intro
    record_audit(session, "edition.edit", actor=actor, target=edition.month)
    return _back_to_draft(edition)


class UnknownLayout(EditionError):
    """A layout that is not one of EditionLayout's."""

    def __init__(self, layout: str) -> None:
        self.layout = layout
        choices = ", ".join(member.value for member in EditionLayout)
        super().__init__(f"unknown layout {layout!r}; use one of {choices}")


def set_layout(session: Session, edition: Edition, layout: str, *, actor: Actor) -> bool:
    """Choose the edition's layout (full, digest, or automatic by each reader's item count).

    What readers get changes, so an approved edition goes back to draft as after any edit;
    returns True when that happened.
    """
    _require_editable(edition)
    try:
        chosen = EditionLayout(layout)
    except ValueError:
        raise UnknownLayout(layout) from None
    if chosen == edition.layout:
        return False
    before = edition.layout
    edition.layout = chosen
    record_audit(session, "edition.layout", actor=actor, target=edition.month,
                 detail={"from": before.value, "to": chosen.value})
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
