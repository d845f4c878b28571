"""Each reader gets exactly the items on their topics, in their language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from emails import (
    EditionContent,
    MailSettings,
    Recipient,
    UrlLinks,
    compile_variant,
    fill,
    variant_key,
)
from emails.i18n import CATALOGUE
from tests.emails.conftest import BASE_URL, make_edition, make_item

LINKS = UrlLinks(BASE_URL)


def body(html: str) -> str:
    """The visible email after the hidden preheader (the edition's, not the reader's)."""
    return html.split("mso-hide:all;", 1)[1].split("</div>", 1)[1]


def _titles(edition: EditionContent) -> list[tuple[str, frozenset[str]]]:
    return [(i.title, i.topics) for s in edition.sections for i in s.items]


@pytest.mark.parametrize(
    "topics",
    [{"fintech"}, {"data"}, {"ai", "investment"}, {"cross-border", "data", "fintech"}],
)
def test_reader_gets_exactly_the_matching_items(
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
    topics: set[str],
) -> None:
    message = fill(
        compile_variant(july_edition, topics, "zh-CN", settings=settings), reader(), LINKS
    )
    expected = [title for title, item_topics in _titles(july_edition) if item_topics & topics]
    assert expected  # the sample has items on every one of these sets
    for title, item_topics in _titles(july_edition):
        wanted = bool(item_topics & topics)
        assert (title in body(message.html)) is wanted, title
        assert (title in message.text) is wanted, title


def test_items_keep_report_order_and_sections_their_fixed_order(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    edition = make_edition(
        {
            "deals": [make_item(3, {"a"}, title="交易甲")],
            "policy": [make_item(1, {"a"}, title="政策甲"), make_item(2, {"a"}, title="政策乙")],
        }
    )
    message = fill(compile_variant(edition, {"a"}, "zh-CN", settings=settings), reader(), LINKS)
    positions = [
        message.html.index(s) for s in ("政策速递", "政策甲", "政策乙", "交易资讯", "交易甲")
    ]
    assert positions == sorted(positions)
    text_positions = [message.text.index(s) for s in ("政策速递", "政策甲", "交易资讯", "交易甲")]
    assert text_positions == sorted(text_positions)


def test_sections_without_matching_items_are_left_out(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    # fintech items: one industry news item, one deal; no policy item.
    message = fill(
        compile_variant(july_edition, {"fintech"}, "zh-CN", settings=settings), reader(), LINKS
    )
    assert "行业新闻" in message.html and "交易资讯" in message.html
    assert "政策速递" not in message.html and "政策速递" not in message.text


def test_table_of_contents_only_above_six_items(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    items = [make_item(n, {"x"} if n <= 6 else {"y"}) for n in range(1, 8)]
    edition = make_edition({"policy": items})
    toc = CATALOGUE["zh-CN"]["toc"]
    six = fill(compile_variant(edition, {"x"}, "zh-CN", settings=settings), reader(), LINKS)
    seven = fill(compile_variant(edition, {"x", "y"}, "zh-CN", settings=settings), reader(), LINKS)
    assert toc not in six.html and toc not in six.text
    assert toc in seven.html and toc in seven.text
    assert 'href="#item-7"' in seven.html


def test_english_reader_gets_english_chrome_and_english_text_when_present(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    translated = make_item(
        1, {"a"}, title="中文标题一", title_en="English title one", summary_en="English summary."
    )
    untranslated = make_item(2, {"a"}, title="中文标题二", commentary="短评内容")
    edition = make_edition({"policy": [translated], "industry": [untranslated]})
    message = fill(compile_variant(edition, {"a"}, "en", settings=settings), reader("en"), LINKS)
    for part in (message.html, message.text):
        assert "English title one" in part and "English summary." in part
        assert "中文标题一" not in part
        assert "中文标题二" in part  # no translation: the Chinese text
        assert "Policy updates" in part and "Industry news" in part and "Our view" in part
        assert "政策速递" not in part and "植德短评" not in part
    assert 'lang="en"' in message.html


def test_links_are_tracked_only_for_tracked_deliveries(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    edition = make_edition({"policy": [make_item(4, {"a"})]})
    variant = compile_variant(edition, {"a"}, "zh-CN", settings=settings)

    tracked = fill(variant, reader(delivery_token="DTOKEN"), LINKS)
    assert f'href="{BASE_URL}/c/DTOKEN/4"' in tracked.html
    assert f"{BASE_URL}/o/DTOKEN.gif" in tracked.html
    assert f"{BASE_URL}/v/DTOKEN" in tracked.html and f"{BASE_URL}/c/DTOKEN/4" in tracked.text

    untracked = fill(variant, reader(delivery_token="DTOKEN", tracking=False), LINKS)
    assert 'href="https://news.example.cn/4?a=1&amp;b=2"' in untracked.html
    assert "/o/" not in untracked.html and "/c/" not in untracked.html
    assert f"{BASE_URL}/v/DTOKEN" in untracked.html  # the web version is not tracking

    test_send = fill(variant, reader(delivery_token=None), LINKS)
    assert "/o/" not in test_send.html and "/c/" not in test_send.html
    assert "/v/" not in test_send.html and f"{BASE_URL}/archive/2024-07" in test_send.html
    assert "https://news.example.cn/4?a=1&b=2" in test_send.text


def test_reader_tokens_and_greeting_are_filled(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    variant = compile_variant(july_edition, {"data"}, "zh-CN", settings=settings)
    ann = fill(variant, reader(name="安娜", subscriber_token="SUBANN"), LINKS)
    anonymous = fill(variant, reader(name=None, subscriber_token="SUBX"), LINKS)
    assert "尊敬的安娜：" in ann.html and "尊敬的安娜：" in ann.text
    assert f"{BASE_URL}/u/SUBANN" in ann.html and f"{BASE_URL}/p/SUBANN" in ann.html
    assert "安娜" not in anonymous.html and "尊敬的读者：" in anonymous.html
    assert f"{BASE_URL}/u/SUBX" in anonymous.text and "SUBANN" not in anonymous.html


def test_variant_key_is_the_documented_format() -> None:
    edition_topics = {"ai", "data", "fintech"}
    assert variant_key(["fintech", "ai", "other"], "zh-CN", edition_topics) == "zh-CN:ai,fintech"
    assert variant_key([], "en", edition_topics) == "en:"


def test_readers_with_the_same_effective_topics_share_a_variant(
    july_edition: EditionContent, settings: MailSettings
) -> None:
    one = compile_variant(july_edition, {"fintech", "not-in-edition"}, "en", settings=settings)
    assert one.key == "en:fintech"
    assert one.key == variant_key({"fintech"}, "en", july_edition.topics)


def test_a_topic_set_with_no_items_is_refused(
    july_edition: EditionContent, settings: MailSettings
) -> None:
    with pytest.raises(ValueError, match="no items"):
        compile_variant(july_edition, {"gardening"}, "zh-CN", settings=settings)


def test_a_variant_is_filled_only_for_its_language(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    variant = compile_variant(july_edition, {"data"}, "zh-CN", settings=settings)
    with pytest.raises(ValueError, match="en"):
        fill(variant, reader("en"), LINKS)


def test_intro_and_commentary_appear(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    edition = replace(july_edition, intro="导语第一段。\n\n导语第二段。")
    message = fill(compile_variant(edition, {"data"}, "zh-CN", settings=settings), reader(), LINKS)
    assert "<p" in message.html and "导语第一段。</p>" in message.html
    assert "植德短评" in message.html and "> 植德短评" in message.text
