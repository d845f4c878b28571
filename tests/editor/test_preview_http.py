"""Preview at both widths in sandboxed same-origin frames, variants with readers, test sends."""

from __future__ import annotations

import re
from html import escape

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import outbox, part_as_sent
from webapp.config import settings_of
from webapp.models import Delivery, Edition, TestSend


def test_the_preview_page_shows_the_variant_and_every_variant_with_readers(
    editor_client: FlaskClient, july: Edition, factories: Factories
) -> None:
    for _ in range(2):
        factories.subscriber(topics=["investment"])
    factories.subscriber(topics=["ai"], language="en")
    page = editor_client.get(
        "/editor/editions/2024-07/preview?topics=investment&language=zh-CN&lang=en"
    ).get_data(as_text=True)
    assert "｜元宇宙与数字经济月报 · 2024年7月" in page  # the subject, after its hook
    assert 'data-preview="preheader"' in page
    assert "/ 100.0 KB" in page
    assert page.count("<iframe") == 2
    assert 'sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"' in page
    assert escape("/editor/editions/2024-07/preview/frame?topics=investment&language=zh-CN") in page
    assert "frame-desktop" in page and "frame-phone" in page
    variants = page.split('id="variants"', 1)[1].split("</table>", 1)[0]
    assert '<td class="num">2</td>' in variants and '<td class="num">1</td>' in variants
    assert "3 readers in all" in page


def test_the_preview_shows_the_html_decoded_and_as_sent_against_the_limit(
    app: Flask, editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    from webapp.editions.previews import render_preview

    page = editor_client.get(
        "/editor/editions/2024-07/preview?topics=ai,data&language=zh-CN&lang=en"
    ).get_data(as_text=True)
    preview = render_preview(session, settings_of(app), "2024-07", topics="ai,data")
    _, body = part_as_sent(preview.message.to_bytes(), "text/html")
    decoded, sent = preview.html_bytes / 1000, len(body) / 1000
    size = page.split('data-preview="size">', 1)[1].split("</dd>", 1)[0]
    assert f"{decoded:.1f} KB of HTML, {sent:.1f} KB as sent</span> / 100.0 KB" in size
    assert decoded < sent
    hint = page.split('data-preview="size-hint">', 1)[1].split("</span>", 1)[0]
    most = preview.variant.max_sent_html_bytes / 1000
    assert "(base64)" in hint and f"at most {most:.1f} KB as sent for any reader" in hint
    assert f'optimum="0" value="{preview.variant.max_sent_html_bytes}"' in page  # the meter


def test_the_frame_serves_the_exact_email_only_to_the_consoles_own_pages(
    app: Flask, editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    from webapp.editions.previews import render_preview

    response = editor_client.get("/editor/editions/2024-07/preview/frame?topics=ai&language=en")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "script-src" not in csp
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    expected = render_preview(session, settings_of(app), "2024-07", topics="ai", language="en")
    def without_tokens(html: str) -> str:
        return re.sub(r"/([up])/test-[A-Za-z0-9_-]+", r"/\1/test-TOKEN", html)

    assert without_tokens(response.get_data(as_text=True)) == without_tokens(
        expected.message.html
    )
    # Every other page keeps refusing to be framed.
    page = editor_client.get("/editor/editions/2024-07/preview")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_previewing_a_real_reader(
    editor_client: FlaskClient, july: Edition, factories: Factories
) -> None:
    factories.subscriber(email="wang@example.com", name="王磊", topics=["data"], language="en")
    page = editor_client.get(
        "/editor/editions/2024-07/preview?reader=wang@example.com&lang=en"
    ).get_data(as_text=True)
    assert "王磊 &lt;wang@example.com&gt;" in page
    assert "preview/frame?reader=wang@example.com" in page  # the frames show that reader's email
    frame = editor_client.get("/editor/editions/2024-07/preview/frame?reader=wang@example.com")
    assert "王磊" in frame.get_data(as_text=True)
    missing = editor_client.get(
        "/editor/editions/2024-07/preview?reader=nobody@example.com&lang=en"
    ).get_data(as_text=True)
    assert "No reader has the address nobody@example.com." in missing
    assert "<iframe" not in missing


def test_a_test_send_goes_to_the_outbox_recorded_apart(
    app: Flask, editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    response = editor_client.post(
        "/editor/editions/2024-07/test-send?lang=en",
        data={"addresses": "a@example.com, b@example.com", "topics": ["ai"], "language": "en"},
        follow_redirects=True,
    )
    assert "Test sent to a@example.com, b@example.com." in response.get_data(as_text=True)
    messages = outbox(app)
    assert sorted(m["To"] for m in messages) == ["a@example.com", "b@example.com"]
    assert all(m["Subject"].startswith("[TEST] ") for m in messages)
    assert session.scalar(select(func.count(TestSend.id))) == 2
    assert session.scalar(select(func.count(Delivery.id))) == 0
    page = editor_client.get("/editor/editions/2024-07/preview?lang=en").get_data(as_text=True)
    assert "Recent test sends" in page and "a@example.com" in page


def test_a_test_send_with_a_bad_address_keeps_the_form(
    app: Flask, editor_client: FlaskClient, july: Edition
) -> None:
    response = editor_client.post(
        "/editor/editions/2024-07/test-send?lang=en",
        data={"addresses": "ok@example.com\nnot-an-address", "topics": ["data"],
              "language": "en"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "not-an-address is not a valid email address." in page
    assert "ok@example.com\nnot-an-address" in page
    assert 'value="data" data-topic checked' in page
    assert outbox(app) == []
