"""Every console form: a refused submit lists its errors at the top, each a link to its field,
the summary focused first, and each field tied to its message (`aria-describedby`); a
successful submit is redirected (Post/Redirect/Get), so a reload never submits again."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, _signed_in
from tests.editor.conftest import SAMPLE
from tests.factories import Factories
from webapp.accounts.invitations import sign_invitation
from webapp.accounts.password_reset import sign_reset
from webapp.config import settings_of
from webapp.models import Edition, Role, Suppression, User

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MOMENT = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
NEW_PASSWORD = "a new long password"


def assert_summarised(response: object, *fields: str, says: str | None = None) -> str:
    """The page lists an error for each of `fields`, linked to it, and ties each field to its
    message; returns the page."""
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</ul>', page, re.S)
    assert summary is not None, page[:3000]
    assert 'tabindex="-1"' in summary.group(0) and "autofocus" in summary.group(0)
    links = re.findall(r'<a href="#([^"]+)">', summary.group(1))
    for field in fields:
        assert field in links, (field, links)
        tag = re.search(rf'<[^>]*\bid="{field}"[^>]*>', page)
        assert tag is not None, field
        # Tied to its message: the field itself, or the group of boxes it opens.
        by = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
        group = re.search(rf'<fieldset[^>]*aria-describedby="[^"]*\b{field}-error', page)
        assert by is not None or group is not None, tag.group(0)
        described = by.group(1).split() if by else [f"{field}-error"]
        assert any(f'id="{d}"' in page for d in described if not d.endswith("-hint")), field
    for link in links:
        assert f'id="{link}"' in page, f"the summary links #{link}, which is not on the page"
    if says is not None:
        assert says in summary.group(1)
    # The summary comes before the first field of the page.
    assert page.index('class="error-summary"') < page.index(f'id="{fields[0]}"')
    return page


def described_by(page: str, field: str) -> list[str]:
    tag = re.search(rf'<[^>]*\bid="{field}"[^>]*>', page)
    assert tag is not None, field
    found = re.search(r'aria-describedby="([^"]+)"', tag.group(0))
    return found.group(1).split() if found else []


def assert_redirected(response: object) -> None:
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]  # type: ignore[attr-defined]


# ---- signing in ---------------------------------------------------------------------------


def test_login(app: Flask, factories: Factories) -> None:
    user = factories.user(role=Role.EDITOR, password=PASSWORD)
    client = app.test_client()
    assert_summarised(client.post("/login?lang=en", data={}), "email", "password",
                      says="Enter your password.")
    wrong = client.post("/login?lang=en", data={"email": user.email, "password": "wrong" * 3})
    page = assert_summarised(wrong, "email", says="The email or password is not correct.")
    assert f'value="{user.email}"' in page
    assert_redirected(client.post("/login", data={"email": user.email, "password": PASSWORD}))


def test_two_factor_code(app: Flask, factories: Factories) -> None:
    user = factories.user(role=Role.EDITOR, password=PASSWORD, totp_secret=SECRET,
                          totp_enabled_at=MOMENT)
    with time_machine.travel(MOMENT + timedelta(days=1), tick=False):
        client = app.test_client()
        assert_redirected(client.post("/login", data={"email": user.email, "password": PASSWORD}))
        page = assert_summarised(client.post("/login/code?lang=en", data={"code": ""}), "code")
        assert described_by(page, "code") == ["code-hint", "code-error"]
        right = pyotp.TOTP(SECRET).now()
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        assert_summarised(client.post("/login/code?lang=en", data={"code": wrong}), "code",
                          says="The code is not correct.")
        assert_redirected(client.post("/login/code", data={"code": right}))


def test_password_reset_request_then_a_page_of_its_own(app: Flask, factories: Factories) -> None:
    user = factories.user(role=Role.EDITOR, password=PASSWORD)
    client = app.test_client()
    assert_summarised(client.post("/password-reset?lang=en", data={"email": ""}), "email",
                      says="Enter the email address you sign in with.")
    done = client.post("/password-reset", data={"email": user.email})
    assert done.status_code == 303 and done.headers["Location"].endswith("/password-reset/sent")
    page = client.get("/password-reset/sent?lang=en").get_data(as_text=True)
    assert "Check your inbox" in page and user.email in page
    # Without a request just made, the page leads back to the form.
    assert app.test_client().get("/password-reset/sent").status_code == 302


def test_new_password_from_a_reset_link(app: Flask, factories: Factories) -> None:
    user = factories.user(role=Role.EDITOR, password=PASSWORD)
    path = f"/password-reset/{sign_reset(settings_of(app).secret_key, user)}"
    client = app.test_client()
    page = assert_summarised(
        client.post(f"{path}?lang=en", data={"password": "short", "repeat": "other"}),
        "password", "repeat",
    )
    assert described_by(page, "password") == ["password-hint", "password-error"]
    assert_redirected(client.post(path, data={"password": NEW_PASSWORD, "repeat": NEW_PASSWORD}))


def test_new_password_from_an_invitation(app: Flask, session: Session, admin: User) -> None:
    user = User(email="new@example.com", role=Role.EDITOR, password_hash="unknown")
    session.add(user)
    session.commit()
    path = f"/invitation/{sign_invitation(settings_of(app).secret_key, user, admin)}"
    client = app.test_client()
    assert_summarised(client.post(f"{path}?lang=en", data={}), "password", "repeat",
                      says="Choose a new password.")
    assert_redirected(client.post(path, data={"password": NEW_PASSWORD, "repeat": NEW_PASSWORD}))


def test_two_factor_page(app: Flask, factories: Factories, session: Session) -> None:
    user = factories.user(role=Role.EDITOR, password=PASSWORD)
    with time_machine.travel(MOMENT, tick=False) as traveller:
        client = _signed_in(app, user)
        assert_redirected(client.post("/account/two-factor/start"))
        page = assert_summarised(client.post("/account/two-factor/confirm?lang=en",
                                             data={"code": "000000"}),
                                 "code", says="The code is not correct.")
        assert "<svg" in page  # still the enrolment step, its QR code shown again
        session.refresh(user)
        assert user.totp_secret is not None
        totp = pyotp.TOTP(user.totp_secret)
        shown = client.post("/account/two-factor/confirm", data={"code": totp.now()})
        # The recovery codes: shown once, on the answer itself, never cached.
        assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
        traveller.shift(timedelta(minutes=5))
        assert_summarised(client.post("/account/two-factor/recovery-codes?lang=en",
                                      data={"renew-code": ""}), "renew-code")
        assert_summarised(client.post("/account/two-factor/off?lang=en", data={"code": "1"}),
                          "code", says="Two-factor sign-in stays on")
        assert_redirected(client.post("/account/two-factor/off", data={"code": totp.now()}))


# ---- the admin console --------------------------------------------------------------------


def test_users(admin_client: FlaskClient) -> None:
    assert_summarised(
        admin_client.post("/admin/users?lang=en",
                          data={"email": "", "role": "boss", "mode": "keys"}),
        "email", "role", "mode",
    )
    assert_redirected(admin_client.post(
        "/admin/users", data={"email": "colleague@example.com", "role": "editor",
                              "mode": "invite"}))
    shown = admin_client.post("/admin/users", data={"email": "other@example.com",
                                                    "role": "admin", "mode": "password"})
    # The one-time password is the one page answered on POST, and never cached.
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"


def test_changing_a_role(admin_client: FlaskClient, factories: Factories) -> None:
    user = factories.user(role=Role.EDITOR)
    refused = admin_client.post(f"/admin/users/{user.id}/role?lang=en", data={"role": "boss"})
    assert_redirected(refused)
    assert "Choose a role" in admin_client.get("/admin/users?lang=en").get_data(as_text=True)
    assert_redirected(admin_client.post(f"/admin/users/{user.id}/role", data={"role": "admin"}))


def test_new_topic(admin_client: FlaskClient) -> None:
    assert_summarised(admin_client.post("/admin/topics?lang=en", data={}),
                      "slug", "name_zh", "name_en")
    assert_redirected(admin_client.post(
        "/admin/topics", data={"slug": "green-finance", "name_zh": "绿色金融",
                               "name_en": "Green finance"}))


def test_topic_edit(admin_client: FlaskClient, factories: Factories) -> None:
    topic = factories.topic("ai")
    assert_summarised(admin_client.post(f"/admin/topics/{topic.id}?lang=en",
                                        data={"name_zh": "", "name_en": ""}),
                      "name_zh", "name_en")
    assert_redirected(admin_client.post(f"/admin/topics/{topic.id}",
                                        data={"name_zh": "人工智能", "name_en": "AI"}))


def test_branding(admin_client: FlaskClient) -> None:
    assert_summarised(admin_client.post("/admin/branding?lang=en",
                                        data={"primary_colour": "#ffff00"}),
                      "primary_colour")
    assert_redirected(admin_client.post("/admin/branding", data={"org_name_en": "Example LLP"}))


def test_suppressions(admin_client: FlaskClient, session: Session) -> None:
    assert_summarised(admin_client.post("/admin/suppressions?lang=en", data={"email": ""}),
                      "email")
    assert_redirected(admin_client.post("/admin/suppressions",
                                        data={"email": "gone@example.com", "note": "asked"}))
    row = session.query(Suppression).one()
    path = f"/admin/suppressions/{row.id}/remove"
    assert_summarised(admin_client.post(f"{path}?lang=en", data={"reason": ""}), "reason")
    assert_redirected(admin_client.post(path, data={"reason": "They asked to come back."}))


def test_new_reader(admin_client: FlaskClient, factories: Factories) -> None:
    factories.topic("ai")
    assert_summarised(admin_client.post("/admin/subscribers/new?lang=en", data={}),
                      "email", "consent_note")
    assert_redirected(admin_client.post(
        "/admin/subscribers/new",
        data={"email": "new@example.com", "topics": ["ai"], "language": "zh-CN",
              "consent_note": "Signed up at the June seminar."}))


# ---- the editor console -------------------------------------------------------------------


def test_import(editor_client: FlaskClient) -> None:
    assert_summarised(
        editor_client.post("/editor/editions/new?lang=en",
                           data={"report_text": "hello", "month": "2024-13"}),
        "month",
    )
    broken = editor_client.post(
        "/editor/editions/new?lang=en",
        data={"report_file": (io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(200)), "report.pdf")},
    )
    page = assert_summarised(broken, "report_file")
    assert "import-error" in described_by(page, "report_file")
    lines = SAMPLE.read_text(encoding="utf-8").split("\n")
    at = next(n for n, line in enumerate(lines) if line.startswith("发布日期"))
    lines[at] = "发布日期：某天"
    page = assert_summarised(
        editor_client.post("/editor/editions/new?lang=en", data={"report_text": "\n".join(lines)}),
        "report_text",
    )
    assert "import-error" in described_by(page, "report_text")
    assert_redirected(editor_client.post(
        "/editor/editions/new", data={"report_text": SAMPLE.read_text(encoding="utf-8")}))


def test_edition_texts(editor_client: FlaskClient, approved: Edition) -> None:
    path = f"/editor/editions/{approved.month}"
    assert_summarised(editor_client.post(f"{path}?lang=en", data={"subject": "长" * 400}),
                      "subject")
    assert_summarised(
        editor_client.post(f"{path}/english?lang=en",
                           data={"untranslated": "sometimes", "title_en": "x" * 300}),
        "untranslated", "title_en",
    )
    assert_redirected(editor_client.post(path, data={"subject": "七月月报"}))
    assert_redirected(editor_client.post(f"{path}/english",
                                         data={"untranslated": "marked",
                                               "title_en": "July report"}))


def test_item_edit(editor_client: FlaskClient, approved: Edition) -> None:
    item = approved.sections[0].items[0]
    path = f"/editor/editions/{approved.month}/items/{item.id}"
    assert_summarised(editor_client.post(f"{path}?lang=en",
                                         data={"section": "policy", "title": "",
                                               "published_on": "", "url": "nowhere"}),
                      "title", "published_on", "url", "topics")
    assert_redirected(editor_client.post(
        path, data={"section": "policy", "title": "新标题", "published_on": "2024-07-02",
                    "url": "https://example.com/a", "topics": ["ai"]}))


def test_schedule_and_test_send(
    editor_client: FlaskClient, approved: Edition, factories: Factories
) -> None:
    month = approved.month
    assert_summarised(editor_client.post(f"/editor/editions/{month}/schedule?lang=en",
                                         data={"date": "", "time": "25:99"}),
                      "date", "time")
    assert_summarised(editor_client.post(f"/editor/editions/{month}/test-send?lang=en",
                                         data={"addresses": "not an address",
                                               "language": "zh-CN"}),
                      "addresses", "topics")
    assert_redirected(editor_client.post(f"/editor/editions/{month}/test-send",
                                         data={"addresses": "me@example.com", "all_topics": "y",
                                               "language": "zh-CN"}))
    with time_machine.travel(MOMENT, tick=False):
        assert_redirected(editor_client.post(f"/editor/editions/{month}/schedule",
                                             data={"date": "2026-07-04", "time": "09:00"}))


def test_every_console_template_with_a_form_has_a_summary() -> None:
    """A new console form page comes with the summary. Exempt: pages whose forms are buttons
    or answer with a redirect and a message, and the admin CSV import pages."""
    root = Path(__file__).resolve().parents[1] / "webapp" / "templates"
    exempt = {"admin/import.html", "admin/import_preview.html", "admin/job.html",
              "admin/reader.html", "admin/readers.html", "admin/dashboard.html",
              "editor/_progress.html", "editor/drafts.html", "editor/translate.html",
              "auth/_new_password_form.html", "admin/api_key_revoke.html",
              "admin/webhook.html", "admin/webhook_delete.html"}
    lacking = [
        str(path.relative_to(root))
        for folder in ("admin", "editor", "auth")
        for path in sorted((root / folder).glob("*.html"))
        if 'method="post"' in path.read_text(encoding="utf-8")
        and "error_summary(" not in path.read_text(encoding="utf-8")
        and str(path.relative_to(root)) not in exempt
    ]
    assert lacking == []

