"""webapp.stats.export: the stats as CSV text for spreadsheets, one row per edition or per item,
with text that a spreadsheet would run as a formula neutralised."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.orm import Session

from tests.admin.conftest import make_send
from tests.factories import Factories
from webapp.models import Edition, EditionStatus
from webapp.stats.export import EDITION_COLUMNS, ITEM_COLUMNS, editions_csv, items_csv

FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]


def read(text: str) -> list[dict[str, str]]:
    """The rows as a spreadsheet would split them, each a dict by the header's names."""
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert all(len(row) == len(header) for row in rows), rows
    return [dict(zip(header, row, strict=True)) for row in rows]


def july(factories: Factories, session: Session) -> Edition:
    """Four readers: ann opens and clicks, bob complains, cat bounces for good, dan's failed."""
    send = make_send(factories, session, {
        "ann": {"topics": ["ai"]}, "bob": {"topics": ["data"]},
        "cat": {"topics": ["ai", "fintech"]}, "dan": {"topics": ["investment"]},
    }, failed=("dan",))
    send.deliver("ann")
    send.deliver("bob")
    send.bounce("cat", "Permanent")
    send.complain("bob")
    send.open("ann")
    send.click("ann", 1)
    return send.edition


def test_one_row_per_edition_whose_send_started_newest_first(
    factories: Factories, session: Session
) -> None:
    july(factories, session)
    make_send(factories, session, {}, month="2024-06")  # started, nobody to send to
    factories.edition("2024-08", status=EditionStatus.APPROVED)  # not started: not a row

    text = editions_csv(session)

    assert text.splitlines()[0] == ",".join(EDITION_COLUMNS)
    assert read(text) == [
        {
            "month": "2024-07", "status": "sent", "planned": "4", "sent": "3", "failed": "1",
            "skipped": "0", "delivered": "2", "bounced": "1", "hard_bounced": "1",
            "soft_bounced": "0", "complained": "1", "unique_opens_approx": "1",
            "unique_clicks": "1", "unsubscribed": "0",
            "delivery_rate": "0.6667", "hard_bounce_rate": "0.3333", "complaint_rate": "0.3333",
            "open_rate_approx": "0.5000",  # engagement is of the two that were not bounced
            "click_rate": "0.5000", "unsubscribe_rate": "0.0000",
        },
        {
            "month": "2024-06", "status": "sent", **dict.fromkeys(EDITION_COLUMNS[2:14], "0"),
            **dict.fromkeys(EDITION_COLUMNS[14:], ""),  # no rate of nothing: empty, not 0
        },
    ]


def test_without_a_started_send_there_is_only_the_header(
    factories: Factories, session: Session
) -> None:
    factories.edition("2024-07", status=EditionStatus.APPROVED)
    assert editions_csv(session).splitlines() == [",".join(EDITION_COLUMNS)]


def test_one_row_per_item_numbered_as_the_email_numbers_its_links(
    factories: Factories, session: Session
) -> None:
    edition = july(factories, session)

    rows = read(items_csv(session, edition))

    assert [tuple(r) for r in rows] == [ITEM_COLUMNS] * 4
    assert [tuple(r.values()) for r in rows] == [
        ("2024-07", "1", "政策速递", "AI rules", "https://example.com/1", "ai", "2", "1", "1",
         "0.5000"),
        ("2024-07", "2", "政策速递", "Data rules", "https://example.com/2", "data", "1", "0", "0",
         "0.0000"),
        ("2024-07", "3", "行业新闻", "Fintech news", "https://example.com/3", "fintech;ai", "2",
         "0", "0", "0.0000"),
        ("2024-07", "4", "交易资讯", "'=HYPERLINK(\"x\")", "https://example.com/4", "investment",
         "0", "0", "0", ""),  # dan's delivery failed: nobody received it, no rate
    ]


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_text_a_spreadsheet_would_run_is_neutralised_in_every_text_cell(
    factories: Factories, session: Session, start: str
) -> None:
    formula = f"{start}cmd|' /C calc'!A0"
    edition = factories.edition("2024-07", items={
        "policy": [{"title": formula, "url": f"{start}HYPERLINK(\"https://evil.example\")"}],
    })
    edition.sections[0].title = formula
    session.commit()

    (row,) = read(items_csv(session, edition))

    assert (row["section"], row["title"]) == ("'" + formula, "'" + formula)
    assert row["url"] == f"'{start}HYPERLINK(\"https://evil.example\")"


def test_a_line_break_inside_a_title_stays_inside_its_cell(
    factories: Factories, session: Session
) -> None:
    title = "Fintech news\r=cmd|' /C calc'!A0"  # no quote or comma to get the cell quoted
    edition = factories.edition("2024-07", items={"policy": [{"title": title}]})

    header, *rows = csv.reader(io.StringIO(items_csv(session, edition), newline=""))

    assert [row[header.index("title")] for row in rows] == [title]


def test_text_that_only_contains_a_formula_sign_and_numbers_are_left_alone(
    factories: Factories, session: Session
) -> None:
    edition = factories.edition("2024-07", items={
        "policy": [{"title": "1+1=2, said @ann", "url": "https://example.com/?a=-1"}],
    })

    (row,) = read(items_csv(session, edition))

    assert (row["title"], row["url"], row["recipients"]) == (
        "1+1=2, said @ann", "https://example.com/?a=-1", "0"
    )


def test_any_text_survives_the_round_trip_and_stays_unicode(
    factories: Factories, session: Session
) -> None:
    title = '数字人民币 "e-CNY", pilots\nin 26 cities 🚀'
    edition = factories.edition("2024-07", items={"policy": [{"title": title}]})

    text = items_csv(session, edition)

    assert not text.startswith("\ufeff")  # the download adds the BOM, once
    assert "政策速递" in text and "🚀" in text  # characters, not escapes
    assert text.endswith("\n")
    (row,) = read(text)
    assert row["title"] == title
