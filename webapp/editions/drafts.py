"""Machine drafts of an edition's missing English, and an editor accepting them.

What is drafted: every item without (accepted) English text — its missing English title,
summary and commentary — and the edition's own texts an editor has not written in English
(title, and subject, preheader and intro where the Chinese is set; a section's name only when
it is not the usual one, whose English name is known). A *unit* (one item, or the edition's
texts together) is drafted whole or not at all: its texts are translated outside any
transaction, then stored in one short transaction, and only if its Chinese is still what was
translated and its English still missing. An item's drafts carry `english_status = machine`,
the edition's are listed in `editions.english_drafts`; readers get neither, and the edition
cannot be approved, until an editor accepts or edits each.

The console queues a `translate` job (webapp.editions.drafting_job); `yuebao translate` runs
`draft_english` in its own process. Both first show the characters and the estimated cost,
and the run drafts only what was shown (`scope`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from webapp.audit import record_audit
from webapp.editions.english import MAX_SECTION_NAME, MAX_TITLE, untranslated_item_ids
from webapp.editions.importer.parser import SECTION_TITLES
from webapp.editions.items import MAX_PREHEADER, MAX_SUBJECT, Actor, find_item
from webapp.editions.items import _back_to_draft as back_to_draft
from webapp.editions.items import _require_editable as require_editable
from webapp.editions.machine_translation import (
    TextRefused,
    TranslationStopped,
    Translator,
    estimated_cost_usd,
)
from webapp.editions.records import EditionError, get_edition
from webapp.models import Edition, EnglishStatus, Item, User
from webapp.plain_text import UnsafeText, check_text

EDITION_FIELDS = {"title_en": "title", "subject_en": "subject", "preheader_en": "preheader",
                  "intro_en": "intro"}
ITEM_FIELDS = {"title_en": "title", "summary_en": "summary", "commentary_en": "commentary"}
# How long each drafted text may be (the columns'); items' are unbounded text.
LIMITS = {"title_en": MAX_TITLE, "subject_en": MAX_SUBJECT, "preheader_en": MAX_PREHEADER,
          "section": MAX_SECTION_NAME}
MULTILINE = frozenset({"intro_en", "summary_en", "commentary_en"})
EDITION_UNIT = "edition"


class TranslationOff(EditionError):
    """TRANSLATE is not `aws`: nothing is sent anywhere."""

    def __init__(self) -> None:
        super().__init__(
            "drafting English is off: set TRANSLATE=aws (and TRANSLATE_REGION, and "
            "TRANSLATE_TERMINOLOGY for the firm's glossary) to draft through Amazon Translate"
        )


class NothingToTranslate(EditionError):
    def __init__(self, month: str) -> None:
        self.month = month
        super().__init__(f"every text of the {month} edition has English text or a draft")


@dataclass(frozen=True)
class DraftUnit:
    """Drafted whole or not at all: one item's missing English, or the edition's texts."""

    key: str  # "item:<id>" or "edition"
    label: str  # what the editor knows it by: the item's title
    texts: dict[str, str]  # English field ("section:<key>" for a section) → Chinese text

    @property
    def characters(self) -> int:
        return sum(len(text) for text in self.texts.values())


@dataclass(frozen=True)
class DraftPlan:
    month: str
    units: tuple[DraftUnit, ...]

    @property
    def characters(self) -> int:
        return sum(unit.characters for unit in self.units)

    @property
    def cost_usd(self) -> Decimal:
        return estimated_cost_usd(self.characters)

    @property
    def items(self) -> int:
        return sum(1 for unit in self.units if unit.key != EDITION_UNIT)

    @property
    def edition_texts(self) -> int:
        return sum(len(u.texts) for u in self.units if u.key == EDITION_UNIT)

    @property
    def scope(self) -> list[str]:
        return [unit.key for unit in self.units]


def _item_unit(item: Item) -> DraftUnit:
    texts = {
        english: str(getattr(item, chinese))
        for english, chinese in ITEM_FIELDS.items()
        if (getattr(item, chinese) or "").strip() and not getattr(item, english)
    }
    return DraftUnit(f"item:{item.id}", item.title, texts)


def _edition_unit(edition: Edition) -> DraftUnit:
    drafts = set(edition.english_drafts or ())
    texts = {
        english: str(getattr(edition, chinese))
        for english, chinese in EDITION_FIELDS.items()
        if english not in drafts and getattr(edition, chinese).strip()
        and not getattr(edition, english)
    }
    for section in edition.sections:
        name = f"section:{section.key}"
        # The usual names have their usual English (Policy updates …): no machine needed.
        if (name not in drafts and not section.title_en and section.title.strip()
                and section.title != SECTION_TITLES.get(section.key)):
            texts[name] = section.title
    return DraftUnit(EDITION_UNIT, edition.title, texts)


def plan_drafts(edition: Edition, scope: Collection[str] | None = None) -> DraftPlan:
    """What a run would translate now (within `scope`, the keys an editor confirmed)."""
    untranslated = untranslated_item_ids(edition)
    units = [_edition_unit(edition)]
    units += [
        _item_unit(item)
        for section in edition.sections
        for item in section.items
        if item.id in untranslated and item.english_status != EnglishStatus.MACHINE
    ]
    return DraftPlan(edition.month, tuple(
        u for u in units if u.texts and (scope is None or u.key in scope)
    ))


def pending_drafts(edition: Edition) -> tuple[list[Item], list[str]]:
    """The items whose English is an unaccepted machine draft, and the edition's drafted
    texts."""
    items = [i for s in edition.sections for i in s.items
             if i.english_status == EnglishStatus.MACHINE]
    return items, list(edition.english_drafts or ())


# --- running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftFailure:
    key: str
    label: str
    reason: str


@dataclass
class DraftRun:
    drafted: list[str] = field(default_factory=list)  # unit keys stored
    failed: list[DraftFailure] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # edited meanwhile: left as it is
    edition_texts: int = 0  # of the edition's own texts (and section names) drafted
    characters: int = 0  # sent to Amazon Translate
    stopped: str | None = None  # why the run ended before its last unit

    def as_json(self) -> dict[str, Any]:
        return {
            "drafted": self.drafted,
            "failed": [{"key": f.key, "label": f.label, "reason": f.reason} for f in self.failed],
            "changed": self.changed, "edition_texts": self.edition_texts,
            "characters": self.characters, "stopped": self.stopped,
        }

    @property
    def items(self) -> int:
        return sum(1 for key in self.drafted if key != EDITION_UNIT)


# Called in each unit's transaction with (session, units done, units in all): the worker
# records its progress there (and renews its claim, which may raise to stop the run).
Progress = Callable[[Session, int, int], None]


def _checked(name: str, english: str) -> str:
    english = english.strip()
    if name not in MULTILINE:
        english = " ".join(english.split())  # a one-line field: no line break from the machine
    try:
        check_text(english, multiline=name in MULTILINE)
    except UnsafeText as problem:
        raise TextRefused("UnsafeText", str(problem)) from None
    limit = LIMITS.get(name.split(":")[0])
    if limit is not None and len(english) > limit:
        raise TextRefused("TooLong", f"the English is longer than {limit} characters")
    if not english:
        raise TextRefused("Empty", "the translation came back empty")
    return english


def _store(edition: Edition, unit: DraftUnit, english: dict[str, str]) -> None:
    if unit.key == EDITION_UNIT:
        sections = {section.key: section for section in edition.sections}
        for name, text in english.items():
            if name.startswith("section:"):
                sections[name.removeprefix("section:")].title_en = text
            else:
                setattr(edition, name, text)
        edition.english_drafts = sorted({*(edition.english_drafts or ()), *english})
        return
    item = find_item(edition, int(unit.key.removeprefix("item:")))
    for name, text in english.items():
        setattr(item, name, text)
    item.english_status = EnglishStatus.MACHINE


def _current(edition: Edition, key: str) -> DraftUnit | None:
    for unit in plan_drafts(edition, [key]).units:
        return unit
    return None


def draft_english(
    sessions: sessionmaker[Session],
    month: str,
    translator: Translator,
    *,
    actor: Actor | int,
    scope: Collection[str] | None = None,
    progress: Progress | None = None,
    announce: Callable[[DraftUnit, str | None], None] | None = None,
) -> DraftRun:
    """Draft the edition's missing English, unit by unit, and audit the run.

    No transaction is open while Amazon Translate answers (or while a retry waits). A unit
    whose Chinese or English changed meanwhile is left as it is; one that fails is reported
    with its reason and left untranslated; an edition that is no longer editable stops the
    run. `announce(unit, failure reason or None)` follows along (the CLI's output).
    """
    with sessions() as session:
        edition = get_edition(session, month)
        if edition is None:
            raise EditionError(f"there is no edition for {month}")
        require_editable(edition)
        plan = plan_drafts(edition, scope)
        session.rollback()
    run = DraftRun()
    total = len(plan.units)
    for done, unit in enumerate(plan.units, start=1):
        try:
            english = {name: _checked(name, translator.translate(text))
                       for name, text in unit.texts.items()}
        except TranslationStopped as error:
            run.stopped = str(error)
            break
        except TextRefused as error:
            english = {}
            run.failed.append(DraftFailure(unit.key, unit.label, str(error)))
        finally:
            run.characters += unit.characters
        with sessions() as session:
            edition = get_edition(session, month)
            if edition is None or not edition.editable:
                run.stopped = "the edition can no longer be changed"
                break
            if english:
                if _current(edition, unit.key) != unit:
                    run.changed.append(unit.key)
                else:
                    _store(edition, unit, english)
                    back_to_draft(edition)
                    run.drafted.append(unit.key)
                    if unit.key == EDITION_UNIT:
                        run.edition_texts = len(english)
            if progress is not None:
                progress(session, done, total)
            session.commit()
        if announce is not None:
            announce(unit, None if english else run.failed[-1].reason)
    with sessions() as session:
        who: Actor = actor if not isinstance(actor, int) else (
            session.get(User, actor) or "console")
        record_audit(session, "edition.translate", actor=who, target=month, detail={
            "items": run.items, "edition_texts": run.edition_texts,
            "failed": len(run.failed), "changed": len(run.changed),
            "characters": run.characters, "stopped": run.stopped,
        })
        session.commit()
    return run


# --- accepting -------------------------------------------------------------------------------


def accept_drafts(
    session: Session,
    edition: Edition,
    *,
    items: Iterable[int] = (),
    texts: Iterable[str] = (),
    actor: Actor,
) -> int:
    """The editor accepts these machine drafts as they are (the ones they saw); returns how
    many were still drafts. The caller commits."""
    require_editable(edition)
    accepted_items = []
    for item_id in dict.fromkeys(items):
        item = find_item(edition, item_id)
        if item.english_status == EnglishStatus.MACHINE:
            item.english_status = EnglishStatus.EDITOR
            accepted_items.append(item_id)
    drafts = list(edition.english_drafts or ())
    accepted_texts = [name for name in dict.fromkeys(texts) if name in drafts]
    if accepted_texts:
        left = [name for name in drafts if name not in accepted_texts]
        edition.english_drafts = left or None
    if accepted_items or accepted_texts:
        record_audit(session, "edition.accept_english", actor=actor, target=edition.month,
                     detail={"items": accepted_items, "texts": accepted_texts})
    return len(accepted_items) + len(accepted_texts)
