"""English variants: English text where an editor wrote it, and for an item without it the
edition's policy — left out, or shown in Chinese, marked visibly and with lang="zh-CN"."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from emails import EditionContent, MailSettings, Recipient, UrlLinks, compile_variant, fill
from emails.edition import english_subject
from tests.emails.conftest import BASE_URL, make_edition, make_item, make_settings

TRANSLATED = {
    "title_en": "EU AI Act published",
    "summary_en": "The AI Act enters into force on 1 August.",
}


def _edition(untranslated: str, **changes: str) -> EditionContent:
    return make_edition(
        {
            "policy": [
                make_item(1, ["ai"], title="欧盟《人工智能法》正式公布", **TRANSLATED),
                make_item(2, ["ai"], title="网信办发布数据出境新规", summary="数据出境摘要。",
                          commentary="植德认为此规定影响深远。"),
            ],
            "deals": [make_item(3, ["investment"], title="某基金完成募资", summary="交易摘要。")],
        },
        untranslated=untranslated,
        **changes,
    )


def _message(edition: EditionContent, topics: list[str], reader: Callable[..., Recipient],
             settings: MailSettings | None = None) -> tuple[str, str, str]:
    variant = compile_variant(edition, topics, "en", settings=settings or make_settings())
    message = fill(variant, reader("en"), UrlLinks(BASE_URL))
    return message.subject, message.html, message.text


def test_marked_items_are_in_chinese_visibly_and_for_screen_readers(
    reader: Callable[..., Recipient],
) -> None:
    edition = _edition("marked")
    variant = compile_variant(edition, ["ai"], "en", settings=make_settings())
    assert variant.in_chinese == (1002,) and variant.omitted == ()
    _subject, html, text = _message(edition, ["ai"], reader)

    assert re.search(r'<a [^>]*lang="zh-CN"[^>]*>网信办发布数据出境新规</a>', html)
    assert re.search(r'<p [^>]*lang="zh-CN"[^>]*>数据出境摘要。</p>', html)
    assert re.search(r'<p [^>]*lang="zh-CN"[^>]*>植德认为此规定影响深远。</p>', html)
    assert "网信办发布数据出境新规</a> <span" in html and "(in Chinese)</span>" in html
    # The translated item is English and carries no language switch.
    assert re.search(r'<a [^>]*>EU AI Act published</a>', html)
    assert not re.search(r'lang="zh-CN"[^>]*>EU AI Act', html)
    assert "欧盟《人工智能法》" not in html
    assert "] 网信办发布数据出境新规 (in Chinese)" in text
    assert "] EU AI Act published\n" in text
    # One marker for the item and one for the Chinese intro (no table of contents here).
    assert html.count("(in Chinese)") == 2


def test_omitted_items_are_left_out_of_english_editions_only(
    reader: Callable[..., Recipient],
) -> None:
    edition = _edition("omit")
    variant = compile_variant(edition, ["ai"], "en", settings=make_settings())
    assert variant.item_ids == (1001,) and variant.omitted == (1002,)
    _subject, html, text = _message(edition, ["ai"], reader)
    assert "网信办" not in html and "网信办" not in text
    assert "(in Chinese)" not in html and "(in Chinese)" not in text
    chinese = compile_variant(edition, ["ai"], "zh-CN", settings=make_settings())
    assert chinese.item_ids == (1001, 1002)


def test_an_english_reader_whose_items_are_all_omitted_gets_no_email() -> None:
    edition = _edition("omit")
    assert edition.topics_in("en") == {"ai"}
    with pytest.raises(ValueError, match="no items"):
        compile_variant(edition, ["investment"], "en", settings=make_settings())
    marked = _edition("marked")
    assert compile_variant(marked, ["investment"], "en", settings=make_settings()).item_ids == (
        1003,
    )


def test_a_partly_translated_item_marks_only_its_chinese_parts(
    reader: Callable[..., Recipient],
) -> None:
    edition = make_edition(
        {"policy": [make_item(1, ["ai"], title="中文标题", title_en="English title",
                              summary="中文摘要。")]},
        untranslated="marked",
    )
    _subject, html, text = _message(edition, ["ai"], reader)
    assert re.search(r'<a [^>]*>English title</a> <span[^>]*>\(partly in Chinese\)</span>', html)
    assert not re.search(r'lang="zh-CN"[^>]*>English title', html)
    assert re.search(r'<p [^>]*lang="zh-CN"[^>]*>中文摘要。</p>', html)
    assert "] English title (partly in Chinese)" in text


def test_english_texts_of_the_edition_and_its_sections(reader: Callable[..., Recipient]) -> None:
    edition = dataclasses.replace(
        _edition("marked", title_en="Digital Economy Monthly", intro_en="Welcome to July."),
        sections=tuple(
            dataclasses.replace(s, title="政策速递", title_en="Policy watch")
            for s in _edition("marked").sections
        ),
    )
    subject, html, text = _message(edition, ["ai"], reader)
    assert subject == "EU AI Act published | Digital Economy Monthly, July 2024"
    assert "Digital Economy Monthly" in html and "元宇宙与数字经济月报" not in html
    assert "Welcome to July." in html and "本期导语" not in html
    assert "Policy watch" in html and "Policy watch\n" in text


def test_a_chinese_intro_without_english_is_marked_or_left_out(
    reader: Callable[..., Recipient],
) -> None:
    _subject, html, text = _message(_edition("marked"), ["ai"], reader)
    assert re.search(r'<div lang="zh-CN"><p [^>]*>\(in Chinese\)</p>\s*<p [^>]*>本期导语。', html)
    assert "(in Chinese)\n本期导语。" in text
    _subject, html, _text = _message(_edition("omit"), ["ai"], reader)
    assert "本期导语" not in html


def test_the_commentary_label_comes_from_the_settings(reader: Callable[..., Recipient]) -> None:
    custom = make_settings(commentary_label_zh="律所观点", commentary_label_en="Firm's take")
    edition = _edition("marked")
    _subject, html, text = _message(edition, ["ai"], reader, custom)
    assert "Firm&#39;s take</p>" in html and "> Firm's take" in text
    variant = compile_variant(edition, ["ai"], "zh-CN", settings=custom)
    chinese = fill(variant, reader("zh-CN"), UrlLinks(BASE_URL))
    assert "律所观点</p>" in chinese.html and "> 律所观点" in chinese.text
    assert "植德短评" not in chinese.html and "Our view" not in html


def _is_chinese(char: str) -> bool:
    """Judged by Unicode's own names, apart from the rule under test."""
    name = unicodedata.name(char, "")
    return any(word in name for word in ("CJK", "IDEOGRAPH", "FULLWIDTH", "KANGXI", "HIRAGANA",
                                         "KATAKANA", "BOPOMOFO", "IDEOGRAPHIC"))


_chinese_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0x3000, max_codepoint=0x303F),
        st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
        st.sampled_from("《》“”（）：，。 AI 2024"),
    ),
    min_size=1,
    max_size=40,
)


@hypothesis_settings(max_examples=200, deadline=None)
@given(title=_chinese_text, item_titles=st.lists(_chinese_text, min_size=1, max_size=4),
       org=st.one_of(_chinese_text, st.just("Zhide Law")), english=st.booleans())
def test_the_automatic_english_subject_never_holds_chinese(
    title: str, item_titles: list[str], org: str, english: bool
) -> None:
    items = [make_item(n, ["ai"], title=t) for n, t in enumerate(item_titles, start=1)]
    if english:  # an English title of its own on the first item, and the rest in Chinese
        items[0] = dataclasses.replace(items[0], title_en=f"Item {item_titles[0][:3]}")
    edition = make_edition({"policy": items}, title=title, subject="", preheader="")
    variant = compile_variant(edition, ["ai"], "en", settings=make_settings(org_name=org))
    assert variant.subject and not any(_is_chinese(c) for c in variant.subject)
    assert not any(_is_chinese(c) for c in english_subject(title, org, "2024-07", item_titles))


def test_the_english_subject_keeps_the_firm_name_and_month() -> None:
    assert english_subject("", "Zhide Law", "2024-08", ["澳大利亚发布…"]) == (
        "Zhide Law monthly report, August 2024"
    )
    assert english_subject("", "植德律师事务所", "2024-08", []) == "Monthly report, August 2024"
