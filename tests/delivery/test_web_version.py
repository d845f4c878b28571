"""The reader's web version (`/v/<token>`): a page of the site, every item whole at the anchor
the digest email links to, and no "read online" link."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.delivery.conftest import refresh
from tests.factories import Factories
from webapp.config import settings_of
from webapp.delivery.deliveries import delivery_message
from webapp.models import Edition, EditionLayout, EditionStatus

SUMMARY = {
    "zh-CN": "国家数据局发布《数据资源开发利用意见》，明确公共数据授权运营的范围、程序与收益分配，"
    "并要求各地在年底前完成首批试点。",
    "en": "The National Data Administration issued its opinion on developing data resources, "
    "setting out the scope, procedure and revenue sharing of authorised public data operation.",
}
COMMENTARY = "我们认为，授权运营的收益分配规则将直接影响企业参与公共数据开发的意愿与方式。"


def _edition(factories: Factories, **kw: object) -> Edition:
    """Twelve `ai` items (a digest for their reader) and one `data` item."""
    items = [
        {
            "title": f"第{n}条数据新规", "title_en": f"Data rule {n}", "topics": ["ai"],
            "summary": SUMMARY["zh-CN"], "summary_en": SUMMARY["en"],
            "commentary": COMMENTARY if n == 2 else None,
            "commentary_en": "Our reading." if n == 2 else None,
            "url": f"https://example.com/{n}",
        }
        for n in range(1, 13)
    ]
    items.append({"title": "别的主题", "title_en": "Another topic", "topics": ["data"],
                  "summary_en": "Other."})
    return factories.edition(
        "2024-07", status=EditionStatus.SENDING,
        items={"policy": items[:6], "industry": items[6:]}, **kw,
    )


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_read_more_link_of_the_digest_lands_on_its_item_in_the_web_version(
    app: Flask, client: FlaskClient, session: Session, factories: Factories, language: str
) -> None:
    edition = _edition(factories)
    reader = factories.subscriber(topics=["ai"], name="Ann", language=language)
    row = factories.delivery(edition, reader, variant_key=f"{language}:ai")

    message = delivery_message(refresh(session), settings_of(app), row)
    assert SUMMARY[language] not in message.html  # the email is the digest …
    targets = re.findall(rf'href="[^"]*/v/{row.token}#(item-\d+)"', message.html)
    assert sorted(set(targets), key=lambda a: int(a[5:])) == [f"item-{n}" for n in range(1, 13)]

    response = client.get(f"/v/{row.token}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for anchor in targets:  # … and each of its links has a real anchor here, with the whole item
        assert re.search(rf'<div class="item" id="{anchor}">\s*<h3>', page), anchor
    assert page.count(SUMMARY[language]) == 12
    assert (COMMENTARY if language == "zh-CN" else "Our reading.") in page
    assert "别的主题" not in page and "Another topic" not in page  # only the reader's items
    assert "Ann" in page


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_web_version_has_the_sites_navigation_and_no_read_online_link(
    client: FlaskClient, factories: Factories, language: str
) -> None:
    edition = _edition(factories)
    reader = factories.subscriber(topics=["ai"], language=language)
    row = factories.delivery(edition, reader, variant_key=f"{language}:ai")

    response = client.get(f"/v/{row.token}")
    page = response.get_data(as_text=True)
    assert '<nav class="topnav">' in page and 'href="/archive"' in page  # the public pages'
    assert 'class="sitefoot"' in page
    assert "在线阅读" not in page and "View online" not in page
    assert f'<html lang="{language}">' in page
    assert f'<article class="edition" lang="{language}">' in page
    assert f'href="/p/{reader.token}"' in page and f'href="/u/{reader.token}"' in page
    # A page holding a reader's links runs nothing, is not indexed and sends no referrer.
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "<script" not in page
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_layout_stored_on_the_edition_is_the_one_readers_get(
    app: Flask, session: Session, factories: Factories
) -> None:
    edition = _edition(factories, layout=EditionLayout.FULL)  # automatic would be the digest
    row = factories.delivery(edition, factories.subscriber(topics=["ai"]), variant_key="zh-CN:ai")
    full = delivery_message(refresh(session), settings_of(app), row)
    assert full.html.count(SUMMARY["zh-CN"]) == 12 and f"/v/{row.token}#item" not in full.html

    edition.layout = EditionLayout.DIGEST
    session.commit()
    digest = delivery_message(refresh(session), settings_of(app), row)
    assert SUMMARY["zh-CN"] not in digest.html and f"/v/{row.token}#item-1" in digest.html
