"""Fixtures for emails/: settings, the July 2024 edition built by the real importer, readers."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import pytest

from emails import (
    EditionContent,
    ItemContent,
    MailSettings,
    Recipient,
    SectionContent,
    default_preheader,
    default_subject,
)
from emails.edition import MAX_URL_LENGTH
from webapp.editions.importer.parser import parse_report
from webapp.editions.importer.topics import DEFAULT_TOPICS, suggest_topics

ROOT = Path(__file__).resolve().parents[2]
JULY = ROOT / "webapp" / "data" / "2024-07-report.txt"
ENGLISH = ROOT / "tests" / "fixtures" / "2024-07-english.json"  # an editor's English for July
TOPICS = tuple(t.slug for t in DEFAULT_TOPICS)
BASE_URL = "https://yuebao.example.com"
INTRO = (
    "本期月报梳理了 2024 年 7 月数字经济领域的政策动向、行业新闻与交易资讯。\n\n"
    "二十届三中全会对数字经济作出系统部署，欧盟《人工智能法》正式公布。欢迎来信交流。"
)


def make_settings(**changes: str | None) -> MailSettings:
    values: dict[str, str | None] = {
        "org_name": "植德律师事务所",
        "org_postal_address": "北京市东城区东直门南大街 1 号来福士中心办公楼 5 层",
        "mail_from": "植德月报 <report@example.com>",
        "reply_to": "contact@example.com",
        "list_id": "monthly.yuebao.example.com",
        "feedback_id": "yuebao",
        "unsubscribe_mailto": None,
        "base_url": BASE_URL,
        "commentary_label_zh": "植德短评",
        "commentary_label_en": "Our view",
    }
    values.update(changes)
    return MailSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings() -> MailSettings:
    return make_settings()


def build_july() -> EditionContent:
    report = parse_report(JULY.read_text(encoding="utf-8"))
    rules = {t.slug: t.keywords for t in DEFAULT_TOPICS}
    ids = itertools.count(101)
    numbers = itertools.count(1)
    sections = []
    for section in report.sections:
        items = tuple(
            ItemContent(
                id=next(ids),
                number=next(numbers),
                title=item.title,
                title_en=None,
                published_on=item.published_on,
                source=item.source,
                url=item.url,
                summary=item.summary,
                summary_en=None,
                commentary=item.commentary,
                topics=frozenset(
                    suggest_topics(
                        title=item.title,
                        summary=item.summary,
                        commentary=item.commentary,
                        section_key=section.key,
                        rules=rules,
                    )
                ),
            )
            for item in section.items
        )
        sections.append(SectionContent(key=section.key, items=items))
    titles = [i.title for s in sections for i in s.items]
    return EditionContent(
        month=report.month,
        title=report.title,
        subject=default_subject(report.title, report.month, titles, "zh-CN"),
        preheader=default_preheader(report.title, report.month, titles, "zh-CN"),
        intro=INTRO,
        sections=tuple(sections),
    )


def with_english(edition: EditionContent) -> EditionContent:
    """July with an editor's English for every item (ENGLISH)."""
    english = json.loads(ENGLISH.read_text(encoding="utf-8"))
    texts = english["items"]
    sections = tuple(
        dataclasses.replace(
            section,
            items=tuple(dataclasses.replace(i, **texts[str(i.number)]) for i in section.items),
        )
        for section in edition.sections
    )
    return dataclasses.replace(
        edition, sections=sections, title_en=english["title_en"], intro_en=english["intro_en"]
    )


@pytest.fixture(scope="session")
def july_edition() -> EditionContent:
    return build_july()


def make_item(
    number: int,
    topics: Iterable[str],
    *,
    title: str | None = None,
    summary: str = "这是一段摘要。\n\n这是第二段。",
    commentary: str | None = None,
    **changes: object,
) -> ItemContent:
    values: dict[str, object] = {
        "id": 1000 + number,
        "number": number,
        "title": title or f"条目{number}标题",
        "title_en": None,
        "published_on": date(2024, 7, number % 28 + 1),
        "source": "来源",
        "url": f"https://news.example.cn/{number}?a=1&b=2",
        "summary": summary,
        "summary_en": None,
        "commentary": commentary,
        "topics": frozenset(topics),
    }
    values.update(changes)
    return ItemContent(**values)  # type: ignore[arg-type]


def make_edition(
    sections: dict[str, list[ItemContent]], *, intro: str = "本期导语。", **changes: str
) -> EditionContent:
    values = {
        "month": "2024-07",
        "title": "元宇宙与数字经济月报",
        "subject": "元宇宙与数字经济月报｜2024年7月",
        "preheader": "本期要点",
    }
    values.update(changes)
    return EditionContent(
        intro=intro,
        sections=tuple(SectionContent(key=k, items=tuple(v)) for k, v in sections.items()),
        **values,
    )


def long_chinese_edition() -> EditionContent:
    """Twenty items with long titles, summaries and commentary: about 85 KB of HTML."""
    sentence = "二十届三中全会审议通过的决定对健全促进实体经济和数字经济深度融合制度作出部署。"
    items = [
        make_item(
            n, {"a"}, title=f"第{n}条：关于数据要素市场化配置改革的长标题" * 2,
            summary="\n\n".join([sentence * 6] * 3), commentary=sentence * 2,
        )
        for n in range(1, 21)
    ]
    return make_edition({"policy": items[:7], "industry": items[7:14], "deals": items[14:]})


@pytest.fixture
def reader() -> Callable[..., Recipient]:
    counter = itertools.count(1)

    def make(language: str = "zh-CN", **changes: object) -> Recipient:
        n = next(counter)
        values: dict[str, object] = {
            "email": f"reader{n}@example.org",
            "name": "王小明",
            "subscriber_token": f"sub{n:04d}" + "s" * 36,
            "delivery_token": f"dlv{n:04d}" + "d" * 36,
            "language": language,
            "tracking": True,
        }
        values.update(changes)
        return Recipient(**values)  # type: ignore[arg-type]

    return make


class LongLinks:
    """Links whose every URL is exactly MAX_URL_LENGTH long: the worst case the guard allows."""

    def _pad(self, path: str) -> str:
        url = f"{BASE_URL}/{path}?"
        return url + "x" * (MAX_URL_LENGTH - len(url))

    def unsubscribe(self, subscriber_token: str) -> str:
        return self._pad(f"u/{subscriber_token}")

    def preferences(self, subscriber_token: str) -> str:
        return self._pad(f"p/{subscriber_token}")

    def view(self, delivery_token: str) -> str:
        return self._pad(f"v/{delivery_token}")

    def open_pixel(self, delivery_token: str) -> str:
        return self._pad(f"o/{delivery_token}.gif")

    def click(self, delivery_token: str, number: int) -> str:
        return self._pad(f"c/{delivery_token}/{number}")
