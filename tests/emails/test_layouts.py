"""Layouts (full, digest, automatic), links that work in every client, the preheader and the
automatic subject — in Chinese and in English."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest

from emails import EditionContent, MailSettings, Recipient, UrlLinks, compile_variant, fill
from emails.content import DIGEST_ABOVE, resolve_layout
from emails.edition import HOOK_CHARS, SUMMARY_COLUMNS, TOC_LINES, fitting
from emails.mime import Message
from emails.teasers import clip
from tests.emails.conftest import BASE_URL, TOPICS, make_edition, make_item

LINKS = UrlLinks(BASE_URL)
LONG_SUMMARY = {
    "zh-CN": "国家数据局发布《数据资源开发利用意见》，明确公共数据授权运营的范围、程序与收益分配，"
    "并要求各地在年底前完成首批试点。",
    "en": "The National Data Administration issued its opinion on developing data resources, "
    "setting out the scope, procedure and revenue sharing of authorised public data operation.",
}
COMMENTARY = {
    "zh-CN": "我们认为，授权运营的收益分配规则将直接影响企业参与公共数据开发的意愿与方式。",
    "en": "In our view the revenue rules will decide how far companies take part in public data.",
}


def _items(count: int, topic: str = "ai") -> list[object]:
    return [
        make_item(
            n,
            [topic],
            title=f"第{n}条：数据资源开发利用意见发布",
            summary=LONG_SUMMARY["zh-CN"],
            commentary=COMMENTARY["zh-CN"] if n % 2 else None,
            title_en=f"Item {n}: data resources opinion issued",
            summary_en=LONG_SUMMARY["en"],
            commentary_en=COMMENTARY["en"] if n % 2 else None,
        )
        for n in range(1, count + 1)
    ]


def _edition(count: int = 12, **changes: str) -> EditionContent:
    items = _items(count)
    half = count // 2
    return make_edition(
        {"policy": items[:half], "industry": items[half:]},  # type: ignore[dict-item]
        subject="",
        preheader="",
        **changes,
    )


def _message(
    edition: EditionContent,
    settings: MailSettings,
    recipient: Recipient,
    topics: object = ("ai",),
    layout: str | None = None,
) -> Message:
    variant = compile_variant(
        edition, topics, recipient.language, settings=settings, layout=layout  # type: ignore[arg-type]
    )
    return fill(variant, recipient, LINKS)


def _visible(html: str) -> str:
    """The email after its hidden preheader."""
    return html.split("mso-hide:all;", 1)[1].split("</div>", 1)[1]


# --- choosing the layout ---------------------------------------------------------------------


def test_automatic_is_digest_above_ten_items_for_the_reader(settings: MailSettings) -> None:
    assert resolve_layout("auto", DIGEST_ABOVE) == "full"
    assert resolve_layout("auto", DIGEST_ABOVE + 1) == "digest"
    assert resolve_layout("full", 99) == "full" and resolve_layout("digest", 1) == "digest"
    with pytest.raises(ValueError, match="unknown layout"):
        resolve_layout("tabloid", 3)
    # Per variant: the same edition is a digest for a reader of many items, whole for a few.
    many = make_edition(
        {"policy": [*_items(11, "ai"), *[make_item(20 + n, ["data"]) for n in range(3)]]},
        subject="", preheader="",
    )
    assert compile_variant(many, ["ai"], "zh-CN", settings=settings).layout == "digest"
    assert compile_variant(many, ["data"], "zh-CN", settings=settings).layout == "full"


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_editions_choice_is_used_and_a_preview_may_override_it(
    settings: MailSettings, reader: Callable[..., Recipient], language: str
) -> None:
    few = _edition(4, layout="digest")  # automatic would be full
    variant = compile_variant(few, ["ai"], language, settings=settings)
    assert variant.layout == "digest"
    assert "#item-1" in fill(variant, reader(language), LINKS).html
    many = _edition(14, layout="full")  # automatic would be digest
    assert compile_variant(many, ["ai"], language, settings=settings).layout == "full"
    assert compile_variant(many, ["ai"], language, settings=settings, layout="digest").layout == (
        "digest"
    )
    with pytest.raises(ValueError, match="unknown layout"):
        compile_variant(many, ["ai"], language, settings=settings, layout="tabloid")


# --- the digest -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_digest_shows_teasers_and_links_each_item_to_the_web_version(
    settings: MailSettings, reader: Callable[..., Recipient], language: str
) -> None:
    recipient = reader(language, delivery_token="DTOKEN" + "d" * 30)
    message = _message(_edition(12), settings, recipient)
    html, text = _visible(message.html), message.text
    limit = fitting(LONG_SUMMARY[language], SUMMARY_COLUMNS)
    assert limit == (40 if language == "zh-CN" else 80)  # ~40 Chinese characters
    teaser = clip(LONG_SUMMARY[language], limit)
    assert teaser.endswith("…") and len(teaser) <= limit
    assert LONG_SUMMARY[language] not in html and LONG_SUMMARY[language] not in text
    assert html.count(teaser) == 12 and text.count(teaser) == 12
    read_more = "阅读全文" if language == "zh-CN" else "Read more"
    view = f"{BASE_URL}/v/DTOKEN{'d' * 30}"
    for n in range(1, 13):
        assert re.search(
            rf'<a href="{re.escape(view)}#item-{n}"[^>]*>{read_more}&nbsp;›</a>', html
        ), n
        assert f"{read_more}{': ' if language == 'en' else '：'}{view}#item-{n}" in text
    # Commentary as a one-line teaser after its label, never whole.
    label = "植德短评" if language == "zh-CN" else "Our view"
    assert COMMENTARY[language] not in html and COMMENTARY[language] not in text
    assert html.count(f"{label}{'：' if language == 'zh-CN' else ': '}</b>") == 6
    teasers = re.findall(rf"{label}[：:] ?</b><span[^>]*>([^<]+)</span>", html)
    assert len(teasers) == 6 and all(t.endswith("…") for t in teasers)
    # Titles stay whole and visibly links (underlined) to the source.
    title = "第1条：数据资源开发利用意见发布" if language == "zh-CN" else (
        "Item 1: data resources opinion issued"
    )
    underlined = rf'<a href="[^"]*/c/[^"]*"[^>]*text-decoration:underline;[^>]*>{title}</a>'
    assert re.search(underlined, html)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_test_sends_digest_links_to_the_archive_anchors(
    settings: MailSettings, reader: Callable[..., Recipient], language: str
) -> None:
    recipient = reader(language, delivery_token=None, tracking=False)
    message = _message(_edition(12), settings, recipient)
    assert "/v/" not in message.html and "/v/" not in message.text
    for n in range(1, 13):
        assert f'href="{BASE_URL}/archive/2024-07#item-{n}"' in message.html
        assert f"{BASE_URL}/archive/2024-07#item-{n}" in message.text


def test_the_full_layout_keeps_whole_summaries_and_underlined_titles(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    message = _message(_edition(12), settings, reader(), layout="full")
    assert message.html.count(LONG_SUMMARY["zh-CN"]) == 12
    assert message.html.count(COMMENTARY["zh-CN"]) == 6
    assert "阅读全文" not in message.html  # nothing was shortened
    titles = re.findall(r'<a href="[^"]*/c/[^"]*" style="([^"]*)"', message.html)
    assert len(titles) == 12 and all("text-decoration:underline" in s for s in titles)


def test_teasers_cut_at_a_character_or_word_boundary() -> None:
    assert clip("短文本", 40) == "短文本"
    assert clip("一二三四五六七八九十", 5) == "一二三四…"
    # A combining mark stays with its letter; a Latin word is not cut in half.
    assert clip("cafe\u0301 au lait", 5) == "caf…"  # never "cafe…" with the accent cut off
    assert clip("abc cafe\u0301", 5) == "abc…"
    assert clip("The National Data Administration issued", 20) == "The National Data…"
    assert clip("数据，", 2) == "数…"
    for text in ("国家数据局发布《数据资源开发利用意见》", "Interim measures for generative AI"):
        for limit in range(2, 30):
            assert len(clip(text, limit)) <= limit


# --- links that work everywhere -------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("layout", ["full", "digest"])
def test_the_table_of_contents_has_eight_lines_and_and_n_more_with_name_targets(
    settings: MailSettings, reader: Callable[..., Recipient], language: str, layout: str
) -> None:
    message = _message(_edition(14), settings, reader(language), layout=layout)
    html = _visible(message.html)
    toc = html.split("item-1", 1)[0].rsplit("<table", 1)[1] + html.split("item-1", 1)[1]
    toc_links = re.findall(r'<a href="#(item-\d+)"', html)
    assert toc_links == [f"item-{n}" for n in range(1, TOC_LINES + 1)]
    more = "还有 6 条" if language == "zh-CN" else "and 6 more"
    assert more in toc and more in message.text
    text_toc = message.text.split(more, 1)[0]
    assert len(re.findall(r"^  \[\d+\] ", text_toc, flags=re.M)) == TOC_LINES
    # Every item is a target both ways: `id` for most clients, `name` for Gmail web / Outlook.
    for n in range(1, 15):
        assert f'id="item-{n}"' in html and f'<a name="item-{n}"></a>' in html


def test_eight_items_or_fewer_have_no_more_line(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    message = _message(_edition(8), settings, reader(), layout="full")
    assert len(re.findall(r'<a href="#item-\d+"', message.html)) == 8
    assert "还有" not in message.html and "还有" not in message.text


# --- preheader and subject ------------------------------------------------------------------

PREHEADER = re.compile(
    r'<div style="(display:none;max-height:0;overflow:hidden;mso-hide:all;)">'
    r"([^<&]*)((?:&#847;&zwnj;&nbsp;)+)</div>"
)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_preheader_is_ours_hidden_without_colour_and_padded(
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
    language: str,
) -> None:
    edition = dataclasses.replace(_edition(12), preheader="三中全会专题", preheader_en="Plenum")
    html = _message(edition, settings, reader(language)).html
    found = PREHEADER.search(html)
    assert found is not None
    assert found.group(2) == ("三中全会专题" if language == "zh-CN" else "Plenum")
    assert found.group(3).count("&#847;") >= 40
    assert "color" not in found.group(1)
    # The first thing in the body, and the only hidden preview text (no mj-preview's).
    body = html.split("<body", 1)[1]
    assert body.index("display:none") < body.index("<table")
    assert html.count("display:none") == 1
    assert "#ffffff;display:none" not in html and "mj-preview" not in html


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_automatic_subject_puts_the_hook_first(
    settings: MailSettings, reader: Callable[..., Recipient], language: str
) -> None:
    long_title = {
        "zh-CN": "国家数据局等十七部门联合印发《“数据要素×”三年行动计划（2024—2026年）》"
        "并部署在工业制造、现代农业、商贸流通等十二个领域开展数据要素应用示范工作",
        "en": "Seventeen departments led by the National Data Administration issue a three-year "
        "action plan for data elements across twelve sectors",
    }[language]
    edition = make_edition(
        {"policy": [make_item(1, ["ai"], title=long_title, title_en=long_title,
                              summary_en="Summary.")]},
        subject="", preheader="",
    )
    subject = _message(edition, settings, reader(language)).subject
    report = "元宇宙与数字经济月报" if language == "zh-CN" else "植德律师事务所"
    hook, _, rest = subject.partition("｜" if language == "zh-CN" else " | ")
    assert len(hook) <= HOOK_CHARS and hook.endswith("…")
    assert long_title.startswith(hook[:-1].rstrip())
    if language == "en":
        assert long_title[len(hook) - 1] in " ,"  # cut after a whole word
        report = "Monthly report"  # the firm's name is Chinese
        assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", subject)
    assert rest.startswith(report)
    short = make_edition(
        {"policy": [make_item(1, ["ai"], title="数据新规", title_en="Data rules",
                              summary_en="Summary.")]},
        subject="", preheader="",
    )
    expected = {"zh-CN": "数据新规｜元宇宙与数字经济月报 · 2024年7月",
                "en": "Data rules | Monthly report, July 2024"}
    assert _message(short, settings, reader(language)).subject == expected[language]


def _preheader(message: Message) -> str:
    found = PREHEADER.search(message.html)
    assert found is not None
    return found.group(2)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_automatic_preheader_names_items_the_subject_does_not_and_differs_per_variant(
    settings: MailSettings, reader: Callable[..., Recipient], language: str
) -> None:
    edition = make_edition(
        {
            "policy": [
                make_item(n, ["ai"] if n < 4 else ["data"], title=f"标题{n}",
                          title_en=f"Title {n}", summary_en="Summary.")
                for n in range(1, 7)
            ],
        },
        subject="", preheader="",
    )
    ai = _message(edition, settings, reader(language), topics=["ai"])
    data = _message(edition, settings, reader(language), topics=["data"])
    both = _message(edition, settings, reader(language), topics=["ai", "data"])
    title = "标题{}" if language == "zh-CN" else "Title {}"
    for message, numbers in ((ai, [1, 2, 3]), (data, [4, 5, 6]), (both, [1, 2, 3, 4])):
        preheader = _preheader(message)
        hook = title.format(numbers[0])
        assert message.subject.startswith(hook) and hook not in preheader
        for n in numbers[1:]:
            assert title.format(n) in preheader and title.format(n) not in message.subject
    assert len({_preheader(m) for m in (ai, data, both)}) == 3
    other = "en" if language == "zh-CN" else "zh-CN"
    assert _preheader(_message(edition, settings, reader(other), topics=["ai"])) != _preheader(ai)
    # The July sample: each one-topic reader's preheader is their own.
    july = dataclasses.replace(make_july(), subject="", preheader="")
    seen = {_preheader(_message(july, settings, reader(language), topics=[t])) for t in TOPICS}
    assert len(seen) == len(TOPICS)


def make_july() -> EditionContent:
    from tests.emails.conftest import build_july

    return build_july()
