"""Default topics and the keyword rule, measured against hand-checked topics for the sample."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from webapp.editions.importer.parser import parse_report
from webapp.editions.importer.topics import BODY_MENTIONS, DEFAULT_TOPICS, TopicSpec, suggest_topics

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_TEXT = (ROOT / "webapp" / "data" / "2024-07-report.txt").read_text(encoding="utf-8")
EXPECTED_TOPICS = json.loads(
    (ROOT / "tests" / "fixtures" / "2024-07-topics.json").read_text(encoding="utf-8")
)
RULES = {topic.slug: topic.keywords for topic in DEFAULT_TOPICS}


def suggest(title: str = "", summary: str = "", commentary: str | None = None,
            section_key: str = "policy", rules: Mapping[str, Sequence[str]] = RULES) -> list[str]:
    return suggest_topics(title=title, summary=summary, commentary=commentary,
                          section_key=section_key, rules=rules)


def test_the_six_default_topics_in_order() -> None:
    assert [(t.slug, t.name_zh, t.name_en) for t in DEFAULT_TOPICS] == [
        ("ai", "人工智能", "AI"),
        ("data", "数据要素与数据合规", "Data & data compliance"),
        ("digital-economy", "数字经济与产业政策", "Digital economy & industry policy"),
        ("cross-border", "跨境与国际监管", "Cross-border & international regulation"),
        ("fintech", "金融科技与数字货币", "Fintech & digital currency"),
        ("investment", "投融资与并购", "Investment & M&A"),
    ]
    assert [t.position for t in DEFAULT_TOPICS] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("topic", DEFAULT_TOPICS, ids=lambda t: t.slug)
def test_descriptions_are_one_short_sentence_and_keywords_are_clean(topic: TopicSpec) -> None:
    assert topic.description_zh.endswith("。") and topic.description_zh.count("。") == 1
    assert topic.description_en.endswith(".") and topic.description_en.count(". ") == 0
    assert len(topic.description_zh) <= 40 and len(topic.description_en) <= 120
    assert topic.keywords and all(k == k.strip() and k for k in topic.keywords)
    assert len(set(topic.keywords)) == len(topic.keywords)


def test_a_keyword_in_the_title_is_enough() -> None:
    assert suggest(title="欧盟官方公报正式公布《人工智能法》") == ["ai", "cross-border"]


def test_the_body_needs_several_mentions() -> None:
    once = "会议提到人工智能。" + "其他内容。" * 5
    assert suggest(summary=once) == []
    many = "人工智能" * BODY_MENTIONS
    assert suggest(summary=many[: -len("人工智能")], commentary="人工智能") == ["ai"]
    assert suggest(summary=many[: -len("人工智能")]) == []


def test_latin_keywords_ignore_case_and_match_whole_words() -> None:
    assert suggest(title="openai 发布新模型") == ["ai"]
    assert suggest(title="Open AI收紧区域限制") == ["ai", "cross-border"]
    assert suggest(title="AI芯片量产") == ["ai"]
    assert suggest(title="Said and done: the maid's detail") == []


def test_deals_always_include_investment_when_it_is_a_rule() -> None:
    assert suggest(title="某公司完成新一轮", section_key="deals") == ["investment"]
    assert suggest(title="某公司完成新一轮", section_key="industry") == []
    no_investment = {slug: kw for slug, kw in RULES.items() if slug != "investment"}
    assert suggest(title="某公司", section_key="deals", rules=no_investment) == []


def test_slugs_follow_the_order_of_the_rules() -> None:
    rules = {"b": ("融资",), "a": ("人工智能",), "empty": ("", "  ")}
    assert suggest(title="人工智能公司融资", rules=rules) == ["b", "a"]
    assert suggest(title="人工智能公司融资", rules=dict(reversed(rules.items()))) == ["a", "b"]


def test_keywords_with_regex_characters_are_plain_text() -> None:
    rules = {"x": ("a+b", "(c)")}
    assert suggest(title="a+b", rules=rules) == ["x"]
    assert suggest(title="aab c", rules=rules) == []


def test_agreement_with_hand_checked_topics_for_the_sample() -> None:
    report = parse_report(SAMPLE_TEXT)
    items = [(s.key, i) for s in report.sections for i in s.items]
    assert [e["title"] for e in EXPECTED_TOPICS] == [i.title for _, i in items]
    decisions = right = exact = 0
    for (key, item), expected in zip(items, EXPECTED_TOPICS, strict=True):
        got = suggest(item.title, item.summary, item.commentary, key)
        exact += set(got) == set(expected["topics"])
        for slug in RULES:
            decisions += 1
            right += (slug in got) == (slug in expected["topics"])
    agreement, exact_share = right / decisions, exact / len(items)
    print(f"\ntopic agreement: {right}/{decisions} decisions = {agreement:.1%}; "
          f"exact sets {exact}/{len(items)} = {exact_share:.1%}")
    assert decisions == 156
    assert agreement >= 0.90
