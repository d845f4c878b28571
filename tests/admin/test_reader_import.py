"""The readers' CSV import as an admin uses it, over HTTP: topics by name, rows without topics,
the attestation of consent, language aliases, the preview, and files refused whole."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, _signed_in
from tests.factories import Factories
from tests.mailbox import run_jobs
from webapp.admin import import_reasons
from webapp.admin import readers as reader_views
from webapp.models import (
    BackgroundJob,
    ConsentRecord,
    ConsentSource,
    Role,
    Subscriber,
    SubscriberStatus,
    Suppression,
    User,
)
from webapp.readers.suppressions import address_hash, suppress
from webapp.readers.topics import active_topics

URL = "/admin/subscribers/import?lang=en"
ERASURE_KEY = "test-erasure-key"  # the test app's
ASKED = {"consent_basis": "asked"}


@pytest.fixture
def topics(factories: Factories, session: Session) -> None:
    for slug, zh, en in (("ai", "人工智能", "Artificial intelligence"),
                         ("data", "数据合规", "Data compliance"),
                         ("fintech", "金融科技", "Fintech")):
        topic = factories.topic(slug)
        topic.name_zh, topic.name_en = zh, en
    session.commit()


def preview(client: FlaskClient, text: str, **form: Any) -> str:
    response = client.post(URL, data={"text": text, **ASKED, **form})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def confirm(app: Flask, client: FlaskClient, text: str, **form: Any) -> str:
    response = client.post(URL, data={"text": text, **ASKED, "confirm": "1", **form})
    assert response.status_code == 303, response.get_data(as_text=True)
    run_jobs(app)
    return client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)


def reader(session: Session, address: str) -> Subscriber | None:
    session.expire_all()
    return session.scalar(select(Subscriber).where(Subscriber.email_key == address))


def slugs(session: Session, address: str) -> list[str]:
    found = reader(session, address)
    assert found is not None
    return sorted(t.slug for t in found.topics)


def nothing_queued(session: Session) -> bool:
    return session.scalar(select(func.count(BackgroundJob.id))) == 0


def errors_of(page: str) -> list[tuple[str, str, str]]:
    """(line, column, reason) of every row in the page's errors table."""
    table = page.split('class="errors-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", table)


# --- 1. topics by name or short name ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
def test_topics_are_named_by_chinese_or_english_name_or_short_name_with_any_separator(
    app: Flask, admin_client: FlaskClient, session: Session
) -> None:
    form = admin_client.get(URL).get_data(as_text=True)
    for name in ("人工智能", "Artificial intelligence", "<code>ai</code>", "数据合规",
                 "<code>fintech</code>"):
        assert name in form  # the page lists what a file may name
    text = ("email,topics\n"
            "a@example.com,人工智能、数据合规\n"
            'b@example.com,"artificial intelligence, Fintech"\n'
            "c@example.com,data|ai\n"
            "d@example.com,FINTECH; 人工智能\n"
            "e@example.com,robots\n")
    page = preview(admin_client, text)
    assert errors_of(page) == [("6", "Topics", "Unknown topic “robots”: use a name or short "
                                               "name from the list on the import page.")]
    confirm(app, admin_client, text, skip_invalid="y")
    assert slugs(session, "a@example.com") == ["ai", "data"]
    assert slugs(session, "b@example.com") == ["ai", "fintech"]
    assert slugs(session, "c@example.com") == ["ai", "data"]
    assert slugs(session, "d@example.com") == ["ai", "fintech"]
    assert reader(session, "e@example.com") is None


# --- 2. rows without topics ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
def test_a_row_without_topics_is_refused_unless_the_admin_gives_such_readers_every_topic(
    app: Flask, admin_client: FlaskClient, session: Session
) -> None:
    text = "email,name,topics\nbare@example.com,Bare,\nok@example.com,Ok,ai\n"
    page = preview(admin_client, text)
    assert errors_of(page) == [("2", "Topics", "No topics: name at least one, or choose to "
                                               "give readers without topics every topic.")]
    refused = admin_client.post(URL, data={"text": text, **ASKED, "confirm": "1"})
    assert refused.status_code == 200 and nothing_queued(session)

    page = preview(admin_client, text, all_topics="y")
    assert 'class="errors-table"' not in page
    assert '<input type="hidden" name="all_topics" value="y">' in page  # kept to the confirmation
    confirm(app, admin_client, text, all_topics="y")
    assert slugs(session, "bare@example.com") == sorted(t.slug for t in active_topics(session))
    assert slugs(session, "ok@example.com") == ["ai"]  # named topics are kept as they are


# --- 3. the attestation of consent -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
def test_the_import_says_how_readers_agreed_and_each_consent_record_keeps_it(
    app: Flask, admin: User, admin_client: FlaskClient, session: Session
) -> None:
    text = "email,topics\nnew@example.com,ai\n"
    for form, field, message in (
        ({}, "consent_basis", "Say how these readers agreed to receive the report."),
        ({"consent_basis": "bought"}, "consent_basis",
         "Say how these readers agreed to receive the report."),
        ({"consent_basis": "other", "consent_note": "  "}, "consent_note",
         "Describe in your words how these readers agreed."),
    ):
        for step in ({}, {"confirm": "1"}):
            response = admin_client.post(URL, data={"text": text, **form, **step})
            page = response.get_data(as_text=True)
            assert response.status_code == 200
            assert f'id="{field}-error"><p>{message}</p>' in page
            assert 'class="error-summary"' in page and f'href="#{field}"' in page
    assert nothing_queued(session) and reader(session, "new@example.com") is None

    note = "Asked at the 2031 seminar, sign-up sheets kept"
    page = preview(admin_client, text, consent_basis="other", consent_note=note)
    assert note in page
    confirm(app, admin_client, text, consent_basis="other", consent_note=note)
    found = reader(session, "new@example.com")
    assert found is not None
    [record] = session.scalars(select(ConsentRecord).where(
        ConsentRecord.subscriber_id == found.id))
    assert record.source == ConsentSource.CSV and record.action == "import"
    assert record.detail is not None
    assert record.detail["attestation"] == {"basis": "other", "note": note}
    assert (record.detail["imported_by"], record.detail["imported_by_id"]) == (admin.email,
                                                                               admin.id)


# --- 4. languages ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
def test_languages_are_understood_by_their_usual_names_and_others_refused(
    app: Flask, admin_client: FlaskClient, session: Session
) -> None:
    chinese = ["zh", "zh-cn", "zh_CN", "zh-Hans", "中文", "简体中文", "cn", "ZH-CN", ""]
    english = ["en", "en-US", "en-GB", "English", "英文", "EN"]
    rows = [f"zh{n}@example.com,ai,{v}" for n, v in enumerate(chinese)]
    rows += [f"en{n}@example.com,ai,{v}" for n, v in enumerate(english)]
    rows += ["fr@example.com,ai,fr", "de@example.com,ai,Deutsch"]
    text = "email,topics,language\n" + "\n".join(rows) + "\n"
    page = preview(admin_client, text)
    first = len(chinese) + len(english) + 2
    assert errors_of(page) == [
        (str(first), "Language", "Unknown language “fr”: write zh-CN or en (or 中文, zh, "
                                 "English, en-US…)."),
        (str(first + 1), "Language", "Unknown language “Deutsch”: write zh-CN or en (or 中文, "
                                     "zh, English, en-US…)."),
    ]
    confirm(app, admin_client, text, skip_invalid="y")
    session.expire_all()
    languages = {key: language for key, language in
                 session.execute(select(Subscriber.email_key, Subscriber.language))}
    assert {languages[f"zh{n}@example.com"] for n in range(len(chinese))} == {"zh-CN"}
    assert {languages[f"en{n}@example.com"] for n in range(len(english))} == {"en"}
    assert "fr@example.com" not in languages


# --- 5. the preview --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
def test_the_preview_counts_everything_lists_fifty_rows_and_every_error_translated(
    admin_client: FlaskClient, factories: Factories, session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every reason and column name goes through the catalogue (whatever it holds yet).
    monkeypatch.setattr(import_reasons, "_", lambda text, **values: "译:" + text % values)
    factories.subscriber(email="known0@example.com", name="Known", topics=["ai"])
    factories.subscriber(email="same1@example.com", name="Same", topics=["ai"],
                         language="zh-CN", status=SubscriberStatus.ACTIVE)
    suppress(session, "blocked@example.com", reason="manual", source="admin")
    session.commit()
    rows = [f"reader{n}@example.com,R{n},ai,zh,active" for n in range(120)]
    rows += ["known0@example.com,Known Li,ai,zh,active", "same1@example.com,Same,ai,zh,active",
             "blocked@example.com,,ai,,", "broken,,ai,,", "reader5@example.com,,ai,,",
             "x@example.com,,ai,xx,"]
    text = "email,name,topics,language,status\n" + "\n".join(rows) + "\n"
    page = preview(admin_client, text)
    figures = [int(f) for f in re.findall(r'<span class="figure[^"]*">(\d+)</span>', page)]
    assert figures == [120, 1, 1, 4]  # new, changed, already there, errors
    assert page.count("@example.com</td>") == 50  # the first 50 rows, not the file
    assert "reader49@example.com" in page and "reader50@example.com</td>" not in page
    lines = [line for line, _, _ in errors_of(page)]
    assert lines == ["124", "125", "126", "127"]  # every error, by line
    assert errors_of(page) == [
        ("124", "译:Email", "译:blocked@example.com is on the suppression list and cannot be "
                           "imported."),
        ("125", "译:Email", "译:“broken” is not a valid email address."),
        ("126", "译:Email", "译:reader5@example.com is already on line 7."),
        ("127", "译:Language", "译:Unknown language “xx”: write zh-CN or en (or 中文, zh, "
                              "English, en-US…)."),
    ]


# --- 7. files refused whole ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
@pytest.mark.parametrize(
    ("upload", "message"),
    [
        ("姓名,邮箱\n".encode("gb18030"), "The file is not UTF-8 text"),
        (b"name,topics\nAnn,ai\n", "The first line must be the header naming the columns"),
        (b"email,phone\na@example.com,1\n", "Unknown column(s): phone."),
        (b"email,name\nok@example.com,\"Ann\nb@example.com,B\n", "A quote (&#34;) opens"),
        (b"email,name\nok@example.com,A\x00n\n", "A control character (U+0000"),
    ],
    ids=["encoding", "no email column", "unknown column", "open quote", "NUL"],
)
def test_a_file_refused_whole_says_why_and_offers_no_skipping(
    admin_client: FlaskClient, session: Session, upload: bytes, message: str
) -> None:
    for step in ({}, {"confirm": "1", "skip_invalid": "y"}):
        data = {**ASKED, **step, "file": (io.BytesIO(upload), "readers.csv")}
        response = admin_client.post(URL, data=data, content_type="multipart/form-data")
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert message in page
        assert "skip" not in page.lower()  # neither the flash nor a box offers it
    assert nothing_queued(session)


def test_a_file_too_large_is_refused_before_it_is_read(
    admin_client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_views, "MAX_CSV_BYTES", 1024 * 1024)
    big = b"email\n" + b"a@example.com\n" * 80_000  # over 1 MB
    data = {**ASKED, "file": (io.BytesIO(big), "readers.csv")}
    response = admin_client.post(URL, data=data, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The file is larger than 1 MB: split it into smaller files." in page
    assert "skip" not in page.lower() and nothing_queued(session)
    pasted = admin_client.post(URL, data={**ASKED, "text": big.decode()})
    assert "The file is larger than 1 MB" in pasted.get_data(as_text=True)


def test_a_request_over_the_limit_gets_the_import_page_with_the_reason(
    admin_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_views, "_IMPORT_REQUEST_BYTES", 64 * 1024)
    data = {**ASKED, "file": (io.BytesIO(b"email\n" + b"a@example.com\n" * 10_000), "r.csv")}
    response = admin_client.post(URL, data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "split it into smaller files" in page and "skip" not in page.lower()


# --- the guarantees kept ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
def test_suppressed_and_departed_readers_are_not_subscribed_again(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.subscriber(email="left@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    factories.subscriber(email="erased@example.com", status=SubscriberStatus.ERASED)
    suppress(session, "blocked@example.com", reason="complaint", source="ses")
    session.commit()
    text = ("email,topics,status\nleft@example.com,ai,active\nerased@example.com,ai,active\n"
            "blocked@example.com,ai,active\nfine@example.com,ai,active\n")
    page = preview(admin_client, text)
    assert [line for line, _, _ in errors_of(page)] == ["2", "3", "4"]
    done = confirm(app, admin_client, text, skip_invalid="y")
    assert re.search(r'<span class="figure over">3</span> rows skipped', done)
    statuses = {a: (r.status if (r := reader(session, a)) else None)
                for a in ("left@example.com", "erased@example.com", "blocked@example.com",
                          "fine@example.com")}
    assert statuses == {"left@example.com": SubscriberStatus.UNSUBSCRIBED,
                        "erased@example.com": SubscriberStatus.ERASED,
                        "blocked@example.com": None,
                        "fine@example.com": SubscriberStatus.ACTIVE}


# --- the confirmation names the previewed file kept on the server ---------------------------


def staged_token(page: str) -> str:
    found = re.search(r'name="staged" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def confirm_staged(app: Flask, client: FlaskClient, token: str, **form: Any) -> str:
    response = client.post(URL, data={"staged": token, **ASKED, "confirm": "1", **form})
    assert response.status_code == 303, response.get_data(as_text=True)
    run_jobs(app)
    return client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)


@pytest.mark.usefixtures("topics")
def test_the_confirmation_imports_the_previewed_rows_without_the_file_posted_back(
    app: Flask, admin_client: FlaskClient, session: Session
) -> None:
    text = "email,name,topics\nnew@example.com,New,ai;data\n"
    page = preview(admin_client, text)
    assert "new@example.com,New" not in page  # the file is not in the page
    token = staged_token(page)
    confirm_staged(app, admin_client, token)
    assert slugs(session, "new@example.com") == ["ai", "data"]
    # Confirmed once: the kept rows are gone, and the same token imports nothing again.
    again = admin_client.post(URL, data={"staged": token, **ASKED, "confirm": "1"})
    assert again.status_code == 200
    assert "This preview is no longer kept" in again.get_data(as_text=True)
    assert session.scalar(select(func.count(BackgroundJob.id))) == 1


@pytest.mark.usefixtures("topics")
def test_a_preview_with_errors_is_not_confirmed_unless_they_are_skipped(
    app: Flask, admin_client: FlaskClient, session: Session
) -> None:
    text = "email,topics\nok@example.com,ai\nnot-an-address,ai\n"
    token = staged_token(preview(admin_client, text))
    refused = admin_client.post(URL, data={"staged": token, **ASKED, "confirm": "1"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Nothing was imported" in page
    assert errors_of(page) and nothing_queued(session)
    confirm_staged(app, admin_client, staged_token(page), skip_invalid="y")
    assert reader(session, "ok@example.com") is not None


@pytest.mark.usefixtures("topics")
def test_a_kept_preview_serves_only_its_admin_and_its_choice_of_topics(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    token = staged_token(preview(admin_client, "email,topics\na@example.com,\n", all_topics="y"))
    # The other choice would have refused the row: the kept rows do not stand for it.
    other_choice = admin_client.post(URL, data={"staged": token, **ASKED, "confirm": "1"})
    assert "This preview is no longer kept" in other_choice.get_data(as_text=True)
    other = factories.user(role=Role.ADMIN, password=PASSWORD)
    session.commit()
    client = _signed_in(app, other)
    someone_else = client.post(URL, data={"staged": token, **ASKED, "confirm": "1",
                                          "all_topics": "y"})
    assert "This preview is no longer kept" in someone_else.get_data(as_text=True)
    assert nothing_queued(session)
    confirm_staged(app, admin_client, token, all_topics="y")
    assert {"ai", "data", "fintech"} <= set(slugs(session, "a@example.com"))  # every topic


@pytest.mark.postgres
@pytest.mark.usefixtures("topics")
def test_readers_suppressed_erased_or_gone_after_the_preview_are_still_refused(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.subscriber(email="bounces@example.com", topics=["ai"])
    session.commit()
    text = ("email,topics,status\nbounces@example.com,ai,active\nblocked@example.com,ai,active\n"
            "erased@example.com,ai,active\nfine@example.com,ai,active\n")
    token = staged_token(preview(admin_client, text))
    assert nothing_queued(session)
    # Between the preview and the import: a bounce, a suppression, an erasure (its hash).
    found = reader(session, "bounces@example.com")
    assert found is not None
    found.status = SubscriberStatus.BOUNCED
    suppress(session, "blocked@example.com", reason="complaint", source="ses")
    session.add(Suppression(address_hash=address_hash(ERASURE_KEY, "erased@example.com"),
                            reason="erased", source="reader"))
    session.commit()
    done = confirm_staged(app, admin_client, token, skip_invalid="y")
    assert re.search(r'<span class="figure over">3</span> rows skipped', done)
    assert "bounces@example.com has left the list" in done
    assert "blocked@example.com is on the suppression list" in done
    assert "erased@example.com is on the suppression list" in done
    found = reader(session, "bounces@example.com")
    assert found is not None and found.status == SubscriberStatus.BOUNCED
    assert reader(session, "blocked@example.com") is None
    assert reader(session, "erased@example.com") is None
    assert slugs(session, "fine@example.com") == ["ai"]
    # Nothing half-written: a consent record only for the reader imported.
    assert session.scalar(select(func.count(ConsentRecord.id)).where(
        ConsentRecord.source == ConsentSource.CSV)) == 1
