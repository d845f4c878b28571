"""The outbox viewer's search: recipient, subject, edition and days written, combined, paged by
keyset (every match exactly once, newest first), on both databases."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import Factories
from webapp.config import settings_of
from webapp.models import EditionStatus

START = datetime(2024, 7, 31, 12, 0, tzinfo=UTC)
_ENTRY = re.compile(r'href="/editor/outbox/([A-Za-z0-9._-]+\.eml)[?"]')


def _write(directory: Path, at: datetime, marker: str, to: str, subject: str) -> str:
    name = f"{at:%Y%m%dT%H%M%S%fZ}-{marker}{at.timestamp():.0f}_news.example.com.eml"
    (directory / name).write_text(
        f"From: news@example.com\nTo: {to}\nSubject: {subject}\n\nbody\n", encoding="utf-8"
    )
    return name


@pytest.fixture
def outbox(app: Flask, factories: Factories) -> dict[str, list[str]]:
    """360 messages, ten minutes apart from START: 150 of July's edition (one reader in three
    named Zhang), 150 of August's, 60 confirmation mails with no delivery."""
    directory = Path(settings_of(app).outbox_dir)
    directory.mkdir(parents=True)
    july = factories.edition("2024-07", status=EditionStatus.SENT)
    august = factories.edition("2024-08", status=EditionStatus.SENT)
    factories.edition("2024-09")  # nothing sent yet
    made: dict[str, list[str]] = {"2024-07": [], "2024-08": [], "system": []}
    deliveries = [("2024-07", d) for d in factories.sent_to(july, 150)]
    deliveries += [("2024-08", d) for d in factories.sent_to(august, 150)]
    at = START
    for n, (month, delivery) in enumerate(deliveries):
        to = f"Zhang.{n}@Example.com" if n % 3 == 0 else f"li{n}@example.org"
        made[month].append(_write(directory, at, f"d{delivery}-", to, f"{month} 月报：数字经济"))
        at += timedelta(minutes=10)
        if n % 5 == 0:
            made["system"].append(_write(directory, at, "", f"new{n}@example.net", "请确认订阅"))
            at += timedelta(minutes=10)
    return made


def _names(page: str) -> list[str]:
    return list(dict.fromkeys(_ENTRY.findall(page)))  # each message once (link per row)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'href="([^"]+)" rel="{rel}"', page)
    return html.unescape(found.group(1)) if found else None


def _walk(client: FlaskClient, url: str) -> tuple[list[list[str]], str]:
    """Every page from `url` on through the "Older" links; and the last page's URL."""
    pages = []
    while True:
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        pages.append(_names(page))
        older = _link(page, "next")
        if older is None:
            return pages, url
        assert "page=" not in older and "offset" not in older
        url = older


@pytest.mark.postgres
def test_paging_shows_every_message_once_newest_first_and_back(
    editor_client: FlaskClient, outbox: dict[str, list[str]]
) -> None:
    everything = sorted((n for names in outbox.values() for n in names), reverse=True)
    pages, last = _walk(editor_client, "/editor/outbox?lang=en")
    assert [len(p) for p in pages] == [50] * 7 + [10]
    assert [n for p in pages for n in p] == everything
    # A message written while someone pages shifts nothing on the pages after the first.
    back = []
    page = editor_client.get(last).get_data(as_text=True)
    while (newer := _link(page, "prev")) is not None:
        page = editor_client.get(newer).get_data(as_text=True)
        back.append(_names(page))
    assert back == pages[-2::-1]
    assert _link(page, "prev") is None


@pytest.mark.postgres
def test_filters_combine_and_stay_in_the_paging_links(
    editor_client: FlaskClient, outbox: dict[str, list[str]]
) -> None:
    li_in_july = [n for i, n in enumerate(outbox["2024-07"]) if i % 3 != 0]
    url = "/editor/outbox?recipient=Example.ORG&edition=2024-07&subject=%E6%95%B0%E5%AD%97&lang=en"
    pages, _ = _walk(editor_client, url)
    assert [len(p) for p in pages] == [50, 50]
    assert [n for p in pages for n in p] == sorted(li_in_july, reverse=True)
    first = editor_client.get(url).get_data(as_text=True)
    older = _link(first, "next")
    assert older is not None
    for kept in ("recipient=Example.ORG", "edition=2024-07", "subject=", "before="):
        assert kept in older
    # An address, whatever its case; the subject alone.
    assert len(_walk(editor_client, "/editor/outbox?recipient=ZHANG.3%40EXAMPLE")[0][0]) == 1
    pages, _ = _walk(editor_client, "/editor/outbox?subject=%E7%A1%AE%E8%AE%A4")
    assert sorted(n for p in pages for n in p) == sorted(outbox["system"])


@pytest.mark.postgres
def test_days_are_the_configured_zones_both_ends_included(
    editor_client: FlaskClient, outbox: dict[str, list[str]]
) -> None:
    # Shanghai's 2024-08-01 is 2024-07-31 16:00 to 2024-08-01 16:00 UTC.
    wanted = sorted(
        (n for names in outbox.values() for n in names
         if "20240731T160000" <= n[:15] < "20240801T160000"),
        reverse=True,
    )
    assert wanted
    pages, _ = _walk(editor_client, "/editor/outbox?date_from=2024-08-01&date_to=2024-08-01")
    assert [n for p in pages for n in p] == wanted
    pages, _ = _walk(editor_client, "/editor/outbox?date_to=2024-07-31")
    assert all(n[:15] < "20240731T160000" for p in pages for n in p) and pages[0]


def test_no_match_and_bad_filters_are_said_plainly(
    editor_client: FlaskClient, outbox: dict[str, list[str]]
) -> None:
    page = editor_client.get("/editor/outbox?recipient=nobody&lang=en").get_data(as_text=True)
    assert "No message matches" in page and 'value="nobody"' in page
    page = editor_client.get("/editor/outbox?edition=2024-09&lang=en").get_data(as_text=True)
    assert "No message matches" in page  # an edition not sent yet
    for query, message, field in (
        ("date_from=2024-13-01", "Enter a date like 2024-07-24.", "date_from"),
        ("date_from=yesterday", "Enter a date like 2024-07-24.", "date_from"),
        ("date_from=2024-08-02&date_to=2024-08-01", "The end date is before the start date.",
         "date_to"),
        ("edition=2031-01", "There is no edition for that month.", "edition"),
        ("edition=%3Cscript%3E", "There is no edition for that month.", "edition"),
    ):
        response = editor_client.get(f"/editor/outbox?{query}&lang=en")
        assert response.status_code == 200, query
        page = response.get_data(as_text=True)
        assert 'class="error-summary"' in page and message in page, query
        assert f'href="#{field}"' in page, query
        assert f'aria-describedby="{field}-error"' in page, query
        assert not _names(page), query
    for cursor in ("before=..%2Fsecret.eml", "after=x", "before=2024%2F07.eml"):
        response = editor_client.get(f"/editor/outbox?{cursor}&lang=en")
        assert response.status_code == 200, cursor
        page = response.get_data(as_text=True)
        assert "This page link is not valid" in page, cursor
        assert len(_names(page)) == 50, cursor


def test_a_message_opened_from_a_search_leads_back_to_it(
    editor_client: FlaskClient, outbox: dict[str, list[str]]
) -> None:
    listing = editor_client.get("/editor/outbox?recipient=zhang&lang=en").get_data(as_text=True)
    older = _link(listing, "next")
    assert older is not None
    page = editor_client.get(older).get_data(as_text=True)
    opened = html.unescape(re.findall(r'href="(/editor/outbox/[^"]+\.eml\?[^"]+)"', page)[0])
    message = editor_client.get(opened).get_data(as_text=True)
    back = html.unescape(re.search(r'href="([^"]+)">← Outbox', message).group(1))  # type: ignore[union-attr]
    assert "recipient=zhang" in back and "before=" in back
    assert _names(editor_client.get(back).get_data(as_text=True)) == _names(page)
