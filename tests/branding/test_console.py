"""Admins set the branding in the console; the next preview, send and public page use it."""

from __future__ import annotations

import email
import io
import re
from email.message import Message as EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import runner, sending
from webapp.editions.previews import send_test
from webapp.models import AuditEntry, Branding, EditionStatus, User
from webapp.readers.mail import reader_mail

pytestmark = pytest.mark.postgres

ITEMS = {"policy": [{"title": "AI rules", "topics": ["ai"], "commentary": "Worth a look."}]}


def png(size: tuple[int, int] = (960, 240)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 40, 90)).save(out, format="PNG")
    return out.getvalue()


def save(client: FlaskClient, **fields: object) -> str:
    response = client.post("/admin/branding", data=fields, content_type="multipart/form-data",
                           follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def rows(session: Session) -> int:
    return session.scalar(select(func.count(Branding.id))) or 0


def audits(session: Session) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == "branding.update").order_by(AuditEntry.id)
    return list(session.scalars(stmt))


def outbox_messages(app: Flask) -> list[EmailMessage]:
    folder = Path(settings_of(app).outbox_dir)
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def html_of(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no HTML part")


def test_an_editor_may_neither_see_nor_change_the_branding(
    editor_client: FlaskClient, session: Session
) -> None:
    assert editor_client.get("/admin/branding").status_code == 403
    refused = editor_client.post("/admin/branding", data={"primary_colour": "#000000"})
    assert refused.status_code == 403
    assert editor_client.get("/admin/branding/preview/edition").status_code == 403
    assert rows(session) == 0


def test_a_saved_branding_is_stored_and_audited_with_before_and_after(
    admin_client: FlaskClient, session: Session, admin: User
) -> None:
    page = save(admin_client, org_name_zh="植德律师事务所", org_name_en="MWE China",
                primary_colour="#0B3D2E", accent_colour="#7a4a00",
                commentary_label_zh="律师点评", commentary_label_en="Lawyer's view",
                footer_text_en="Not legal advice.")
    assert "已保存" in page or "Saved" in page
    row = session.scalars(select(Branding)).one()
    assert (row.org_name_zh, row.primary_colour, row.accent_colour) == (
        "植德律师事务所", "#0b3d2e", "#7a4a00")
    [entry] = audits(session)
    assert entry.actor == admin.email and entry.target == "branding"
    assert entry.detail is not None
    assert entry.detail["before"]["primary_colour"] is None
    assert entry.detail["after"]["primary_colour"] == "#0b3d2e"
    assert entry.detail["after"]["commentary_label_en"] == "Lawyer's view"
    assert "logo" not in entry.detail["after"]  # unchanged: not in the entry

    save(admin_client, org_name_zh="植德律师事务所", org_name_en="MWE China",
         primary_colour="#0b3d2e", accent_colour="#7a4a00",
         commentary_label_zh="律师点评", commentary_label_en="Lawyer's view",
         footer_text_en="Not legal advice.")
    assert len(audits(session)) == 1  # saving the same values again changes nothing


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        # Gold on white: the old email's "read more" (the issue measured 3.62, rounded).
        ({"accent_colour": "#a7803f"}, "3.61"),  # 3.619…, rounded down
        # Readable on white, but white text on it is not (buttons).
        ({"primary_colour": "#ffd700"}, "1.40"),
        ({"primary_colour": "#777777"}, "4.47"),  # 4.478…: shown rounded down, never 4.50
    ],
)
def test_a_colour_below_aa_is_refused_with_its_ratio_and_nothing_is_stored(
    admin_client: FlaskClient, session: Session, fields: dict[str, str], shown: str
) -> None:
    page = save(admin_client, org_name_zh="新名字", **fields)
    assert f"{shown}:1" in page
    assert "4.5:1" in page
    assert rows(session) == 0 and audits(session) == []


def test_a_colour_that_is_not_hex_is_refused(admin_client: FlaskClient, session: Session) -> None:
    page = save(admin_client, primary_colour="navy")
    assert "#1f2d44" in page and rows(session) == 0


def test_a_refused_logo_leaves_everything_as_it_was(
    admin_client: FlaskClient, session: Session
) -> None:
    page = save(admin_client, org_name_zh="新名字",
                logo=(io.BytesIO(b"<html>not a picture</html>"), "logo.png"))
    assert "PNG" in page and rows(session) == 0
    page = save(admin_client, logo=(io.BytesIO(b"\x89PNG" + b"\0" * 210_000), "big.png"))
    assert "200 KB" in page and rows(session) == 0


def test_the_logo_is_served_from_our_domain_under_its_hash(
    admin_client: FlaskClient, client: FlaskClient, session: Session
) -> None:
    save(admin_client, logo=(io.BytesIO(png()), "logo.png"))
    row = session.scalars(select(Branding)).one()
    assert (row.logo_width, row.logo_height) == (480, 120) and row.logo_hash
    url = f"/brand/logo-{row.logo_hash[:16]}.png"
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data == row.logo
    assert "immutable" in served.headers["Cache-Control"]
    assert client.get("/brand/logo-not-a-hash.png").status_code == 404
    [entry] = audits(session)
    assert entry.detail is not None and entry.detail["after"]["logo"] == row.logo_hash

    # A new logo: emails sent with the old URL show it too, but nobody keeps it as the old one.
    save(admin_client, logo=(io.BytesIO(png((400, 100))), "logo.png"))
    session.expire_all()
    old = client.get(url)
    assert old.status_code == 200 and old.headers["Cache-Control"] == "no-cache"
    assert old.data == session.scalars(select(Branding)).one().logo

    save(admin_client, remove_logo="y")
    assert client.get(url).status_code == 404


def test_the_next_preview_shows_the_new_branding(
    admin_client: FlaskClient, factories: Factories
) -> None:
    factories.edition("2024-07", items=ITEMS)
    before = admin_client.get("/admin/branding/preview/edition").get_data(as_text=True)
    assert "#0b3d2e" not in before and "AI rules" in before
    save(admin_client, primary_colour="#0b3d2e", commentary_label_zh="律师点评",
         logo=(io.BytesIO(png()), "logo.png"))
    edition = admin_client.get("/admin/branding/preview/edition")
    html = edition.get_data(as_text=True)
    assert "#0b3d2e" in html and "律师点评" in html
    logo = re.search(r'<img src="([^"]+)" alt="([^"]+)" width="(\d+)" height="(\d+)"', html)
    assert logo is not None
    assert logo.group(1).startswith("http://localhost/brand/logo-")
    assert logo.group(3, 4) == ("240", "60")
    assert "img-src 'self'" in edition.headers["Content-Security-Policy"]
    mail = admin_client.get("/admin/branding/preview/mail").get_data(as_text=True)
    assert "#0b3d2e" in mail and "<img" not in mail  # a short mail stays without images


def test_the_preview_falls_back_to_the_july_sample(admin_client: FlaskClient) -> None:
    html = admin_client.get("/admin/branding/preview/edition?language=en").get_data(as_text=True)
    assert "2024" in html and "数字经济" in html


def test_public_pages_take_their_palette_from_the_branding(
    admin_client: FlaskClient, client: FlaskClient
) -> None:
    save(admin_client, primary_colour="#0b3d2e", org_name_zh="植德")
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/brand/palette.css">' in page and "植德" in page
    css = client.get("/brand/palette.css")
    assert css.mimetype == "text/css" and css.headers["Cache-Control"] == "no-cache"
    text = css.get_data(as_text=True)
    assert "--brand-primary: #0b3d2e;" in text and "--accent: var(--brand-primary);" in text
    assert css.headers["ETag"]
    unchanged = client.get("/brand/palette.css", headers={"If-None-Match": css.headers["ETag"]})
    assert unchanged.status_code == 304

    save(admin_client, primary_colour="#3b0b2e", org_name_zh="植德")
    changed = client.get("/brand/palette.css", headers={"If-None-Match": css.headers["ETag"]})
    assert changed.status_code == 200 and "#3b0b2e" in changed.get_data(as_text=True)


def test_a_sent_edition_and_a_system_mail_carry_the_branding(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session, admin: User
) -> None:
    save(admin_client, primary_colour="#0b3d2e", accent_colour="#7a4a00",
         org_name_zh="植德律师事务所", footer_text_zh="本刊不构成法律意见。",
         logo=(io.BytesIO(png()), "logo.png"))
    factories.edition("2024-07", status=EditionStatus.APPROVED, items=ITEMS)
    reader = factories.subscriber(topics=["ai"], language="zh-CN")
    settings = settings_of(app)

    edition = sending.load_edition(session, "2024-07")
    sending.start_send(session, edition, actor="test")
    session.commit()
    runner.build_engine(settings, database(app).sessionmaker).run(edition.id)
    [sent] = outbox_messages(app)
    html = html_of(sent)
    assert "#0b3d2e" in html and "#7a4a00" in html and "#1f2d44" not in html
    assert "本刊不构成法律意见。" in html and "植德律师事务所" in html
    assert re.search(r'<img src="https://news\.example\.com/brand/logo-[0-9a-f]{16}\.png" '
                     r'alt="植德律师事务所" width="240" height="60"', html)

    welcome = reader_mail(settings, "welcome", session.merge(reader), "https://x.example/p")
    assert "#0b3d2e" in welcome.html and "<img" not in welcome.html
    assert "本刊不构成法律意见。" in welcome.text

    send_test(session, settings, "2024-07", ["test@example.com"], actor=admin)
    session.commit()
    assert "#0b3d2e" in html_of(outbox_messages(app)[-1])


def test_the_consoles_and_the_archive_use_the_branded_names(
    app: Flask, admin_client: FlaskClient, client: FlaskClient, factories: Factories
) -> None:
    save(admin_client, commentary_label_zh="律师点评", org_name_en="Example Law")
    factories.edition("2024-07", items=ITEMS)
    item_form = admin_client.get("/editor/editions/2024-07/items/new").get_data(as_text=True)
    assert "律师点评" in item_form
    edition_page = admin_client.get("/editor/editions/2024-07").get_data(as_text=True)
    assert "Example Law" in edition_page  # the automatic English title names the firm so
    assert "Example Law" in client.get("/archive?lang=en").get_data(as_text=True)
