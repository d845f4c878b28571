"""The readers' forms when something is wrong, and after they succeed: an error summary the page
opens on, linking to each field, errors tied to their fields, and Post/Redirect/Get."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import BROWSER, SIGNUP, outbox
from webapp.models import BackgroundJob, SubscriberStatus


def _summary(page: str) -> str:
    found = re.search(r'<div class="error-summary".*?</div>\s*</div>', page, re.S)
    assert found, "no error summary"
    return found.group(0)


def _tag(page: str, element_id: str) -> str:
    found = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', page)
    assert found, f"no element #{element_id}"
    return found.group(0)


def test_a_refused_subscribe_opens_on_a_summary_linking_to_each_field(
    client: FlaskClient,
) -> None:
    response = client.post(
        "/?lang=en", data={"email": "not-an-address", "language": "en"}, headers=BROWSER
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    summary = _summary(page)
    # First on the page, focused as it loads, read first by a screen reader.
    assert page.index('class="error-summary"') < page.index("<form")
    assert 'tabindex="-1"' in summary and "autofocus" in summary and 'role="alert"' in summary
    links = re.findall(r'<a href="#([\w-]+)">([^<]+)</a>', summary)
    assert links == [
        ("email", "Please enter a valid email address."),
        ("topics", "Please choose at least one topic."),
        ("consent", "Please agree to receive the report."),
    ]
    # Each link leads to a control of the form, which names its error.
    for field_id, message in links:
        tag = _tag(page, field_id)
        assert tag.startswith("<input")
        error = re.search(rf'<div class="field-error" id="{field_id}-error"><p>([^<]+)</p>', page)
        assert error and error.group(1) == message
    for field_id in ("email", "consent"):
        assert 'aria-invalid="true"' in _tag(page, field_id)
        assert f'aria-describedby="{field_id}-error"' in _tag(page, field_id)
    fieldset = re.search(r'<fieldset class="topics"[^>]*>', page)
    assert fieldset and 'aria-describedby="topics-error"' in fieldset.group(0)
    # Fields without errors carry neither.
    assert "aria-invalid" not in _tag(page, "name") and "aria-describedby" not in _tag(page, "name")


def test_a_missing_address_is_named_as_such(client: FlaskClient) -> None:
    page = client.post("/?lang=en", data={**SIGNUP, "email": ""}).get_data(as_text=True)
    assert '<a href="#email">Please enter your email address.</a>' in _summary(page)


def test_a_page_without_errors_has_no_summary(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "error-summary" not in page and "aria-invalid" not in page


@pytest.mark.postgres
def test_subscribing_redirects_to_a_page_a_reload_does_not_post_again(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    response = client.post("/", data={"email": "prg@example.com", **SIGNUP}, headers=BROWSER)
    assert response.status_code == 303 and response.headers["Location"] == "/check-inbox"
    # The address is not in the URL (proxies and link previews log URLs) but on the page.
    for _ in range(2):  # a reload is a GET of that page: nothing is asked again
        page = client.get("/check-inbox").get_data(as_text=True)
        assert "prg@example.com" in page and "请查收邮件" in page
    assert session.scalar(select(func.count()).select_from(BackgroundJob)) == 1
    assert [m["To"] for m in outbox(app)] == ["prg@example.com"]


def test_the_link_form_redirects_too_and_says_the_same_for_any_address(
    client: FlaskClient, factories: Factories
) -> None:
    factories.subscriber(email="known@example.com")
    pages = []
    for address in ("known@example.com", "stranger@example.com"):
        response = client.post("/preferences/link", data={"email": address})
        assert response.status_code == 303
        assert response.headers["Location"] == "/preferences/link/sent"
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        pages.append(page.replace(address, "ADDRESS"))
    assert pages[0] == pages[1] and "ADDRESS" in pages[0]


def test_the_link_form_refused_has_a_summary(client: FlaskClient) -> None:
    response = client.post("/preferences/link?lang=en", data={"email": "nope"})
    assert response.status_code == 400
    summary = _summary(response.get_data(as_text=True))
    assert '<a href="#email">Please enter a valid email address.</a>' in summary


def test_preferences_refused_keeps_the_page_with_a_summary(
    client: FlaskClient, factories: Factories
) -> None:
    reader = factories.subscriber(email="p@example.com", topics=["ai"], language="en")
    response = client.post(f"/p/{reader.token}", data={"language": "en"}, headers=BROWSER)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert '<a href="#topics">Please choose at least one topic.</a>' in _summary(page)
    moved = client.post(f"/p/{reader.token}/email", data={"email": "x"}, headers=BROWSER)
    assert '<a href="#email">Please enter a valid email address.</a>' in _summary(
        moved.get_data(as_text=True)
    )


def test_erasing_needs_the_box_and_then_redirects(
    client: FlaskClient, factories: Factories, session: Session
) -> None:
    reader = factories.subscriber(email="e@example.com", topics=["ai"], language="en")
    refused = client.post(f"/p/{reader.token}/erase", data={}, headers=BROWSER)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert '<a href="#understood">Please tick the box to confirm.</a>' in _summary(page)
    assert 'aria-describedby="understood-error"' in _tag(page, "understood")
    done = client.post(f"/p/{reader.token}/erase", data={"understood": "y"}, headers=BROWSER)
    assert done.status_code == 303
    assert client.get(done.headers["Location"]).status_code == 200
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ERASED

