"""Console invitations: their own mail (who invites whom, as what, for how long), their own
set-password page in the console's look, and pages that explain an expired or used link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.mailbox import link_in, outbox, text_of
from webapp.accounts.invitations import (
    MAX_AGE,
    InvitationBroken,
    InvitationExpired,
    InvitationUsed,
    read_invitation,
    sign_invitation,
)
from webapp.config import settings_of
from webapp.models import AuditEntry, Role, User

SENT_AT = datetime(2030, 3, 1, 9, tzinfo=UTC)
NEW_PASSWORD = "a brand new long passphrase"
# What only the reader-facing pages carry.
READER_CHROME = ('href="/archive"', 'href="/preferences/link"', 'href="/"')


def invite(admin_client: FlaskClient, email: str, role: str, lang: str) -> None:
    answer = admin_client.post(
        f"/admin/users?lang={lang}", data={"email": email, "role": role, "mode": "invite"}
    )
    assert answer.status_code == 302


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def the_invitation(app: Flask) -> EmailMessage:
    (mail,) = outbox(app)
    return mail


# ---- the mail -----------------------------------------------------------------------------


def test_the_invitation_mail_says_who_invites_whom_as_what_and_for_how_long_in_chinese(
    app: Flask, admin_client: FlaskClient, admin: User
) -> None:
    invite(admin_client, "new.colleague@example.com", "editor", "zh_CN")
    mail = the_invitation(app)
    org = settings_of(app).org_name

    assert mail["Subject"] == f"{admin.email} 邀请您使用{org}月报后台"
    assert mail["To"] == "new.colleague@example.com"
    for part in (text_of(mail), html_of(mail)):
        assert "new.colleague@example.com，您好：" in part  # addressed by address
        assert "尊敬的读者" not in part and "重置" not in part
        assert f"{admin.email} 邀请您以“编辑”身份使用{org}的月报后台" in part
        assert f"yuebao 是{org}编写和发送月报的系统" in part
        assert "此链接在 3 天内有效" in part
        assert f"请直接联系 {admin.email}" in part  # whom to ask, not "ignore this"
        assert "忽略" not in part
    assert link_in(mail, "/invitation/")


def test_the_invitation_mail_in_english_names_the_admin_role(
    app: Flask, admin_client: FlaskClient, admin: User
) -> None:
    invite(admin_client, "boss@example.com", "admin", "en")
    mail = the_invitation(app)
    org = settings_of(app).org_name

    assert mail["Subject"] == f"{admin.email} invited you to the {org} report console"
    for part in (text_of(mail), html_of(mail)):
        assert "Hello boss@example.com," in part
        assert "Dear reader" not in part and "Reset" not in part
        assert f"{admin.email} has invited you to yuebao" in part and "as an admin." in part
        assert f"yuebao is where {org} writes and sends its monthly report" in part
        assert "The link works for 3 days and only once" in part
        assert f"ask {admin.email} directly" in part
        assert "ignore" not in part.lower()
    assert mail["Feedback-ID"].startswith("system:")


# ---- the link -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_link_works_for_three_days_then_says_expired_naming_the_inviter(
    factories: object, session: Session, admin: User
) -> None:
    user = User(email="new@example.com", role=Role.EDITOR, password_hash="unknown")
    session.add(user)
    session.commit()
    with time_machine.travel(SENT_AT, tick=False):
        signed = sign_invitation("key", user, admin)

    with time_machine.travel(SENT_AT + MAX_AGE, tick=False):
        found = read_invitation(session, "key", signed)
    assert (found.user, found.inviter) == (user, admin.email)
    later = SENT_AT + MAX_AGE + timedelta(seconds=1)
    with time_machine.travel(later, tick=False), pytest.raises(InvitationExpired) as expired:
        read_invitation(session, "key", signed)
    assert expired.value.inviter == admin.email
    with pytest.raises(InvitationBroken):
        read_invitation(session, "another key", signed)
    user.password_hash = "chosen since"
    session.commit()
    with time_machine.travel(SENT_AT, tick=False), pytest.raises(InvitationUsed):
        read_invitation(session, "key", signed)


# ---- the pages ----------------------------------------------------------------------------


def test_the_set_password_page_is_the_consoles_and_sets_the_password_once(
    app: Flask, admin_client: FlaskClient, admin: User, session: Session
) -> None:
    invite(admin_client, "new@example.com", "editor", "en")
    path = link_in(the_invitation(app), "/invitation/")
    guest = app.test_client()

    page = guest.get(f"{path}?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="console console-guest"' in html and "Report console" in html
    assert not [chrome for chrome in READER_CHROME if chrome in html]
    assert f"{admin.email} invited you as Editor." in html and "new@example.com" in html

    done = guest.post(path, data={"password": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    signed_in = app.test_client().post(
        "/login", data={"email": "new@example.com", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 302
    assert list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))) == [
        "user.create", "user.invite", "user.password_reset",
    ]

    used = guest.get(f"{path}?lang=en")
    html = used.get_data(as_text=True)
    assert used.status_code == 410 and "This invitation has been used" in html
    assert f"tell {admin.email} or another admin" in html and "/password-reset" in html
    assert not [chrome for chrome in READER_CHROME if chrome in html]


def test_an_expired_invitation_has_its_own_page_saying_whom_to_ask(
    app: Flask, admin_client: FlaskClient, admin: User
) -> None:
    invite(admin_client, "late@example.com", "editor", "en")
    path = link_in(the_invitation(app), "/invitation/")
    sent = datetime.now(UTC)  # the link's age is all that counts, not the date
    with time_machine.travel(sent + MAX_AGE + timedelta(minutes=1), tick=False):
        page = app.test_client().get(f"{path}?lang=en")
        posted = app.test_client().post(path, data={"password": NEW_PASSWORD,
                                                    "repeat": NEW_PASSWORD})
    html = page.get_data(as_text=True)
    assert page.status_code == posted.status_code == 410
    assert "This invitation has expired" in html and "works for 3 days" in html
    assert f"Ask {admin.email}, or another admin, to send you a new invitation." in html
    assert not [chrome for chrome in READER_CHROME if chrome in html]
    fresh = app.test_client().post("/login", data={"email": "late@example.com",
                                                   "password": NEW_PASSWORD})
    assert fresh.status_code == 200  # nothing changed


def test_an_admin_sends_a_new_invitation_to_someone_who_never_signed_in(
    app: Flask, admin_client: FlaskClient, admin: User, editor: User, session: Session
) -> None:
    invite(admin_client, "slow@example.com", "editor", "en")
    invited = session.scalar(select(User).where(User.email == "slow@example.com"))
    assert invited is not None
    users = admin_client.get("/admin/users?lang=en").get_data(as_text=True)
    assert f"/admin/users/{invited.id}/invite-again" in users

    again = admin_client.post(f"/admin/users/{invited.id}/invite-again?lang=en")
    assert again.status_code == 302
    mails = outbox(app)
    assert [m["To"] for m in mails] == ["slow@example.com", "slow@example.com"]
    assert admin.email in text_of(mails[1])

    editor.last_login_at = datetime.now(UTC)  # has signed in: nothing to invite to
    session.commit()
    refused = admin_client.post(f"/admin/users/{editor.id}/invite-again?lang=en",
                                follow_redirects=True)
    assert "can be invited again" in refused.get_data(as_text=True)
    assert len(outbox(app)) == 2
    details = list(session.scalars(
        select(AuditEntry.detail).where(AuditEntry.action == "user.invite")
    ))
    assert details == [None, {"again": True}]


def test_a_broken_invitation_link_and_chinese_pages(
    app: Flask, admin_client: FlaskClient
) -> None:
    broken = app.test_client().get("/invitation/forged.token.value?lang=en")
    assert broken.status_code == 410
    assert "This invitation link does not work" in broken.get_data(as_text=True)

    invite(admin_client, "zh@example.com", "admin", "zh_CN")
    path = link_in(the_invitation(app), "/invitation/")
    page = app.test_client().get(f"{path}?lang=zh_CN").get_data(as_text=True)
    assert 'lang="zh-CN"' in page or 'lang="zh_CN"' in page


def test_a_reset_link_still_opens_the_reset_page(
    app: Flask, client: FlaskClient, editor: User
) -> None:
    client.post("/password-reset", data={"email": editor.email})
    (mail,) = outbox(app)
    assert mail["Subject"] == f"重置{settings_of(app).org_name}月报后台密码"
    page = client.get(link_in(mail, "/password-reset/") + "?lang=en").get_data(as_text=True)
    assert "Choose a new password" in page and "console-guest" not in page
