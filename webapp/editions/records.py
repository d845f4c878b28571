"""Editions: importing a month's report, and reading editions back for the consoles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from webapp.audit import record_audit
from webapp.editions.importer.errors import ReportIncomplete
from webapp.editions.importer.parser import ParsedItem, ParsedReport
from webapp.editions.importer.topics import suggest_topics
from webapp.models import Edition, EditionStatus, Item, Section, User
from webapp.plain_text import check_text
from webapp.readers.topics import keyword_rules, topics_by_slug

DEFAULT_TITLE = "月报"


class EditionError(ValueError):
    """An edition operation refused; the message says why and nothing was changed."""


class EditionLocked(EditionError):
    """The edition is scheduled, sending, sent, paused or cancelled: its content is final."""

    def __init__(self, edition: Edition, *, change: Literal["edit", "replace"] = "edit") -> None:
        self.month = edition.month
        self.status = edition.status
        self.change = change
        super().__init__(
            f"the {edition.month} edition is {edition.status.value}; only a draft or approved "
            f"edition can be {change}d"
        )


class EditionExists(EditionError):
    """The month already has an edition and the caller did not ask to replace it."""

    def __init__(self, month: str, status: EditionStatus) -> None:
        self.month = month
        self.status = status
        super().__init__(f"an edition for {month} already exists ({status.value})")


@dataclass(frozen=True)
class SuggestedReport:
    """A parsed report with the topics suggested for each item, before anything is stored."""

    report: ParsedReport
    # Aligned with report.sections[i].items[j]: the slugs suggested for that item.
    topics: tuple[tuple[tuple[str, ...], ...], ...]

    def items(self) -> list[tuple[str, ParsedItem, list[str]]]:
        """(section key, item, topics) for every item in report order."""
        return [
            (section.key, item, list(topics))
            for section, section_topics in zip(self.report.sections, self.topics, strict=True)
            for item, topics in zip(section.items, section_topics, strict=True)
        ]

    def as_json(self) -> dict[str, Any]:
        """The importer's `--json` shape."""
        return {
            "title": self.report.title,
            "month": self.report.month,
            "sections": [
                {
                    "key": section.key,
                    "title": section.title,
                    "items": [
                        {
                            "title": item.title,
                            "published_on": item.published_on.isoformat(),
                            "source": item.source,
                            "url": item.url,
                            "summary": item.summary,
                            "commentary": item.commentary,
                            "topics": list(topics),
                        }
                        for item, topics in zip(section.items, section_topics, strict=True)
                    ],
                }
                for section, section_topics in zip(self.report.sections, self.topics, strict=True)
            ],
        }


def suggest_report_topics(session: Session, report: ParsedReport) -> SuggestedReport:
    """Suggest topics for every item from the topics' current keyword rules."""
    rules = keyword_rules(session)
    topics = tuple(
        tuple(
            tuple(
                suggest_topics(
                    title=item.title,
                    summary=item.summary,
                    commentary=item.commentary,
                    section_key=section.key,
                    rules=rules,
                )
            )
            for item in section.items
        )
        for section in report.sections
    )
    return SuggestedReport(report=report, topics=topics)


def import_report(
    session: Session,
    suggested: SuggestedReport,
    *,
    replace: bool = False,
    allow_incomplete: str | None = None,
    actor: User | str = "cli",
    cleanups: Mapping[int, dict[str, Any]] | None = None,
) -> Edition:
    """Store the report as a `draft` edition; the caller commits, so it is all or nothing.

    `cleanups` (by the item's title line) are what the cleanup changed in each item, kept on
    the item for the editor to see and undo.

    A month's edition past approval is never replaced (EditionLocked: what was scheduled or
    sent stays as is); a draft or approved one only when `replace` (else EditionExists). A
    report missing parts its table of contents lists is refused (ReportIncomplete) unless
    `allow_incomplete` gives the reason to import it anyway, audited as
    `edition.import_incomplete`.
    """
    report = suggested.report
    reason = check_text(allow_incomplete or "").strip()
    if report.missing and not reason:
        raise ReportIncomplete(report.missing)
    existing = session.scalar(select(Edition).where(Edition.month == report.month))
    if existing is not None:
        if not existing.editable:
            raise EditionLocked(existing, change="replace")
        if not replace:
            raise EditionExists(existing.month, existing.status)
        session.delete(existing)
        session.flush()

    topics = topics_by_slug(session)
    edition = Edition(
        month=report.month,
        title=report.title or _previous_title(session),
        subject="",  # automatic until an editor writes one: see Edition.subject
        preheader="",
        intro="",
        status=EditionStatus.DRAFT,
    )
    for position, (parsed_section, section_topics) in enumerate(
        zip(report.sections, suggested.topics, strict=True)
    ):
        section = Section(key=parsed_section.key, title=parsed_section.title, position=position)
        for index, (parsed, slugs) in enumerate(
            zip(parsed_section.items, section_topics, strict=True)
        ):
            item = Item(
                position=index,
                title=parsed.title,
                published_on=parsed.published_on,
                source=parsed.source,
                url=parsed.url,
                summary=parsed.summary,
                commentary=parsed.commentary,
                cleanup=(cleanups or {}).get(parsed.line),
            )
            item.topics = [topics[slug] for slug in slugs]
            section.items.append(item)
        edition.sections.append(section)
    session.add(edition)
    session.flush()
    record_audit(
        session,
        "edition.replace" if existing is not None else "edition.import",
        actor=actor,
        target=report.month,
        detail={"items": sum(len(s.items) for s in report.sections)},
    )
    if report.missing:
        record_audit(
            session,
            "edition.import_incomplete",
            actor=actor,
            target=report.month,
            detail={"reason": reason, "missing": [str(part) for part in report.missing]},
        )
    return edition


def _previous_title(session: Session) -> str:
    """For a typed-in report with no page header: the name the last edition went out under."""
    stmt = select(Edition.title).where(Edition.title != "").order_by(Edition.month.desc())
    return session.scalars(stmt.limit(1)).first() or DEFAULT_TITLE


def get_edition(session: Session, month: str) -> Edition | None:
    """An edition with its sections, items and their topics loaded in a few queries."""
    stmt = (
        select(Edition)
        .where(Edition.month == month)
        .options(
            selectinload(Edition.sections).selectinload(Section.items).selectinload(Item.topics)
        )
    )
    return session.scalar(stmt)


def list_editions(session: Session) -> list[tuple[Edition, int]]:
    """Every edition, newest month first, with its item count (one grouped query)."""
    stmt = (
        select(Edition, func.count(Item.id))
        .outerjoin(Section, Section.edition_id == Edition.id)
        .outerjoin(Item, Item.section_id == Section.id)
        .group_by(Edition.id)
        .order_by(Edition.month.desc())
    )
    return [(edition, count) for edition, count in session.execute(stmt).tuples()]
