from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import Edition, EditionStatus, UntranslatedPolicy

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def editions(factories: Factories) -> None:
    factories.edition(
        "2024-06",
        status=EditionStatus.SENT,
        title="数字经济月报",
        intro="六月要点。\n\n欢迎来信。",
        send_finished_at=datetime(2024, 7, 2, 3, tzinfo=UTC),
        items={
            "policy": [{"topics": ["ai"], "title": "人工智能新规", "title_en": "New AI rules",
                        "source": "网信办", "summary": "摘要一", "commentary": "我们的看法"}],
            "deals": [{"topics": ["investment"], "title": "某公司完成融资", "url": "https://deal.example/1"}],
        },
    )
    factories.edition("2024-07", status=EditionStatus.SENT, title="数字经济月报",
                      items={"industry": [{"topics": ["data"], "title": "数据交易"}]})
    factories.edition("2024-08", status=EditionStatus.APPROVED, title="未发送月报",
                      items={"policy": [{"topics": ["ai"], "title": "尚未发送的条目"}]})
    factories.edition("2024-09", status=EditionStatus.CANCELLED, title="已取消月报")


@pytest.mark.usefixtures("editions")
def test_the_archive_lists_sent_editions_newest_first(client: FlaskClient) -> None:
    page = client.get("/archive").get_data(as_text=True)
    assert page.index("2024年7月") < page.index("2024年6月")
    assert "未发送月报" not in page and "已取消月报" not in page and "2024年8月" not in page
    english = client.get("/archive?lang=en").get_data(as_text=True)
    assert "July 2024" in english
    # Its name in English: never the Chinese title unmarked.
    assert "数字经济月报" not in english and "yuebao monthly report" in english


@pytest.mark.usefixtures("editions")
def test_an_edition_is_shown_in_full_in_the_pages_language(client: FlaskClient) -> None:
    page = client.get("/archive/2024-06").get_data(as_text=True)
    for text in ("数字经济月报", "2024年6月", "政策速递", "交易资讯", "人工智能新规",
                 "网信办", "摘要一", "我们的看法", "植德短评", "六月要点。", "欢迎来信。",
                 'href="https://deal.example/1"'):
        assert text in page, text
    english = client.get("/archive/2024-06?lang=en").get_data(as_text=True)
    assert "New AI rules" in english and "Policy updates" in english and "June 2024" in english


@pytest.mark.usefixtures("editions")
@pytest.mark.parametrize("month", ["2024-08", "2024-09", "2023-01", "2024-13", "x", "2024-6"])
def test_unsent_and_unknown_months_are_not_found(client: FlaskClient, month: str) -> None:
    assert client.get(f"/archive/{month}").status_code == 404


@pytest.mark.usefixtures("editions")
def test_the_atom_feed_lists_sent_editions(client: FlaskClient) -> None:
    response = client.get("/archive/feed.xml")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = ElementTree.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    links = [e.find(f"{ATOM}link").get("href") for e in entries]  # type: ignore[union-attr]
    assert links == [
        "https://news.example.com/archive/2024-07",
        "https://news.example.com/archive/2024-06",
    ]
    june = entries[1]
    assert june.findtext(f"{ATOM}title") == "数字经济月报 · 2024年6月"
    assert june.findtext(f"{ATOM}updated") == "2024-07-02T03:00:00+00:00"
    assert "人工智能新规" in (june.findtext(f"{ATOM}summary") or "")
    assert feed.findtext(f"{ATOM}id") == "https://news.example.com/archive"


def test_an_empty_archive_says_so(client: FlaskClient) -> None:
    assert "尚未发布任何一期月报。" in client.get("/archive").get_data(as_text=True)
    feed = ElementTree.fromstring(client.get("/archive/feed.xml").data)
    assert feed.findall(f"{ATOM}entry") == []


@pytest.mark.usefixtures("editions")
def test_the_english_archive_marks_chinese_text_or_leaves_it_out(
    client: FlaskClient, session: Session
) -> None:
    english = client.get("/archive/2024-06?lang=en").get_data(as_text=True)
    assert '<a href="https://deal.example/1" rel="noopener noreferrer" target="_blank" ' \
        'lang="zh-CN">某公司完成融资</a> <span class="marker">(in Chinese)</span>' in english
    assert '<p lang="zh-CN">摘要一</p>' in english and "(partly in Chinese)" in english
    assert '<p class="edition-intro" lang="zh-CN">六月要点。</p>' in english
    assert "数字经济月报</h1>" not in english and "yuebao monthly report</h1>" in english
    assert "Our view" in english and "植德短评" not in english

    edition = session.scalar(select(Edition).where(Edition.month == "2024-06"))
    assert edition is not None
    edition.untranslated = UntranslatedPolicy.OMIT
    session.commit()
    english = client.get("/archive/2024-06?lang=en").get_data(as_text=True)
    assert "某公司完成融资" not in english and "New AI rules" not in english
    assert "(in Chinese)" not in english and "六月要点" not in english
    chinese = client.get("/archive/2024-06?lang=zh-CN").get_data(as_text=True)
    assert "某公司完成融资" in chinese and "（中文）" not in chinese and "marker" not in chinese


@pytest.mark.usefixtures("editions")
def test_chinese_sources_on_an_english_page_are_marked_for_screen_readers(
    client: FlaskClient,
) -> None:
    english = client.get("/archive/2024-06?lang=en").get_data(as_text=True)
    assert '<span lang="zh-CN">网信办</span>' in english
    chinese = client.get("/archive/2024-06?lang=zh_CN").get_data(as_text=True)
    assert "<span>网信办</span>" in chinese and 'lang="zh-CN">网信办' not in chinese
