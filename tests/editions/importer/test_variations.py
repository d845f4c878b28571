"""Variations of real extractions: built from the sample by transforming its text, or written
by hand, each parsing to what the untouched sample (or the hand-written intent) says."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from webapp.editions.importer.errors import ReportFormatError
from webapp.editions.importer.parser import ParsedReport, parse_report

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_TEXT = (ROOT / "webapp" / "data" / "2024-07-report.txt").read_text(encoding="utf-8")
SAMPLE_LINES = SAMPLE_TEXT.split("\n")
HEADER = "元宇宙与数字经济月报 | 2024年 7月"
PAGE_BREAK = ["", HEADER, "", "12", ""]
FOOTER = ["https://example.com/footer/one", "https://example.org/footer/two"]
TITLE_LINE = re.compile(r"\s*([0-9]{1,2})\. (\S.*)")

Flat = list[tuple[str, str, datetime.date, str, str, str, str | None]]


def flatten(report: ParsedReport) -> Flat:
    return [(s.key, i.title, i.published_on, i.source, i.url, i.summary, i.commentary)
            for s in report.sections for i in s.items]


BASELINE = flatten(parse_report(SAMPLE_TEXT))


def title_indexes(lines: list[str]) -> list[int]:
    """0-based indexes of the item title lines (each followed by 发布日期)."""
    return [i for i, line in enumerate(lines) if TITLE_LINE.fullmatch(line)
            and any(x.startswith("发布日期") for x in lines[i + 1:i + 4])]


def after_label(lines: list[str], label: str) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip().startswith(label)]


def edit(insertions: dict[int, list[str]], lines: list[str] = SAMPLE_LINES) -> str:
    """Insert lines before the given 0-based indexes."""
    out: list[str] = []
    for i, line in enumerate(lines):
        out += insertions.get(i, [])
        out.append(line)
    return "\n".join(out)


def section_starts() -> list[int]:
    """Indexes of the first industry and first deals item (numbering restarts at 1)."""
    return [i for i in title_indexes(SAMPLE_LINES)[1:] if SAMPLE_LINES[i].strip().startswith("1.")]


# --- section headings ---------------------------------------------------------------------


@pytest.mark.parametrize("names", [("行业新闻", "交易资讯"), ("二、行业新闻", "三、交易资讯")])
def test_explicit_headings_for_every_section(names: tuple[str, str]) -> None:
    industry, deals = section_starts()
    text = edit({industry: [names[0], ""], deals: ["", names[1], ""]})
    assert flatten(parse_report(text)) == BASELINE


def test_no_headings_at_all() -> None:
    text = "\n".join(line for line in SAMPLE_LINES if line.strip() != "政策速递")
    assert flatten(parse_report(text)) == BASELINE


def test_headings_with_numbering_that_does_not_restart() -> None:
    text = report(["政策速递", item(1, "政策甲"), "行业新闻", item(2, "行业乙"), item(3, "行业丙"),
                   "交易资讯", item(4, "交易丁")])
    parsed = parse_report(text)
    assert [[i.title for i in s.items] for s in parsed.sections] == [
        ["政策甲"], ["行业乙", "行业丙"], ["交易丁"]]


def test_empty_sections_are_still_present() -> None:
    parsed = parse_report(report(["交易资讯", item(1, "只有交易")]))
    assert [(s.key, len(s.items)) for s in parsed.sections] == [
        ("policy", 0), ("industry", 0), ("deals", 1)]


def test_a_fourth_restart_of_the_numbering_is_an_error() -> None:
    text = report([item(1, "甲"), item(1, "乙"), item(1, "丙"), item(1, "丁")])
    with pytest.raises(ReportFormatError) as info:
        parse_report(text)
    assert info.value.line == text.split("\n").index("1. 丁") + 1
    assert "at most three sections" in info.value.reason


def test_headings_out_of_order_are_an_error() -> None:
    text = report(["行业新闻", item(1, "甲"), "政策速递", item(1, "乙")])
    with pytest.raises(ReportFormatError) as info:
        parse_report(text)
    assert info.value.line == text.split("\n").index("1. 乙") + 1
    assert "out of order" in info.value.reason


# --- cover and table of contents ------------------------------------------------------------


def contents(*, headings_alone: bool) -> list[str]:
    """A cover and a contents page listing every item title with a page number."""
    lines = ["元宇宙与数字经济月报", "", "2024年 7月", "", "目录", ""]
    current = ""
    for n, (key, title, *_rest) in enumerate(BASELINE):
        if key != current:
            current = key
            name = {"policy": "政策速递", "industry": "行业新闻", "deals": "交易资讯"}[key]
            lines += [name, "", str(n + 3), ""] if headings_alone else [f"{name} ...... {n + 3}"]
            number = 1
        lines += [f"{number}. {title} ...... {n + 3}", ""]
        number += 1
    return [*lines, *PAGE_BREAK]


@pytest.mark.parametrize("headings_alone", [True, False])
@pytest.mark.parametrize("body_heading", [True, False])
def test_cover_and_contents_are_not_items(headings_alone: bool, body_heading: bool) -> None:
    body = SAMPLE_LINES if body_heading else [x for x in SAMPLE_LINES if x.strip() != "政策速递"]
    text = "\n".join(contents(headings_alone=headings_alone) + body)
    assert flatten(parse_report(text)) == BASELINE


def test_contents_listing_only_section_headings() -> None:
    listing = ["目录", "", "政策速递", "", "3", "", "行业新闻", "", "9", "", "交易资讯", "", "14"]
    body = [x for x in SAMPLE_LINES if x.strip() != "政策速递"]
    assert flatten(parse_report("\n".join([*listing, *PAGE_BREAK, *body]))) == BASELINE


def test_month_from_the_cover_when_pages_have_no_header() -> None:
    body = [line for line in SAMPLE_LINES if "月报" not in line]
    lines = ["元宇宙与数字经济月报", "", "2024年 8月", "", *body]
    parsed = parse_report("\n".join(lines))
    assert (parsed.title, parsed.month) == ("元宇宙与数字经济月报", "2024-08")
    assert flatten(parsed) == BASELINE


# --- page breaks ----------------------------------------------------------------------------


def split_point(text: str) -> int:
    """A place near the middle of `text` between two Chinese characters."""
    middle = len(text) // 2
    for i in sorted(range(1, len(text)), key=lambda i: abs(i - middle)):
        if not text[i - 1].isascii() and not text[i].isascii():
            return i
    raise AssertionError(text)


def break_titles(page_break: Callable[[str], list[str]]) -> str:
    lines = list(SAMPLE_LINES)
    for i in reversed(title_indexes(lines)):
        line = lines[i].strip()
        cut = split_point(line)
        lines[i:i + 1] = [line[:cut], *page_break(line[cut:])]
    return "\n".join(lines)


def test_page_header_and_number_in_the_middle_of_titles() -> None:
    text = break_titles(lambda rest: [*PAGE_BREAK, rest])
    assert flatten(parse_report(text)) == BASELINE


def test_page_header_with_the_page_number_on_its_line() -> None:
    text = break_titles(lambda rest: ["", f"{HEADER} 7", "", rest])
    assert flatten(parse_report(text)) == BASELINE


def test_footer_urls_in_the_middle_of_titles() -> None:
    text = break_titles(lambda rest: ["", *FOOTER, " " + rest])
    assert flatten(parse_report(text)) == BASELINE


def first_text_after(lines: list[str], start: int) -> int:
    return next(i for i in range(start + 1, len(lines))
                if lines[i].strip() and "://" not in lines[i])


@pytest.mark.parametrize("label", ["摘要：", "植德短评"])
@pytest.mark.parametrize("style", ["header", "footer"])
def test_page_breaks_in_the_middle_of_summaries_and_commentary(label: str, style: str) -> None:
    breaks = [first_text_after(SAMPLE_LINES, i) + 1 for i in after_label(SAMPLE_LINES, label)]
    lines = list(SAMPLE_LINES)
    for i in sorted(breaks, reverse=True):
        if style == "header":
            lines[i:i] = PAGE_BREAK
        else:  # the way the sample shows breaks: footer URLs, next page's line indented
            lines[i:i + 2] = [*FOOTER, " " + lines[i + 1]]
    assert flatten(parse_report("\n".join(lines))) == BASELINE


# --- links ----------------------------------------------------------------------------------


def link_lines(lines: list[str]) -> list[int]:
    """Indexes of each item's own link line: the last URL line before 摘要："""
    found = []
    for i in after_label(lines, "摘要："):
        j = i - 1
        while "://" not in lines[j] and not lines[j].strip().endswith(")"):
            j -= 1
        found.append(j)
    return found


def test_link_wrapped_over_two_lines() -> None:
    lines = list(SAMPLE_LINES)
    wrapped = 0
    for i in reversed(link_lines(lines)):
        url = lines[i].strip()
        if not url.startswith("http") or lines[i + 2].strip() != "摘要：":
            continue  # display text, or already wrapped in the sample
        cut = max(url.index("://") + 6, len(url) - 12)
        lines[i:i + 1] = [" " + url[:cut], "", url[cut:]]
        wrapped += 1
    assert wrapped >= 20
    assert flatten(parse_report("\n".join(lines))) == BASELINE


def test_footer_urls_before_every_link() -> None:
    text = edit({i: ["", *FOOTER] for i in link_lines(SAMPLE_LINES)})
    assert flatten(parse_report(text)) == BASELINE


def test_javascript_debris_lines_and_tails() -> None:
    lines = list(SAMPLE_LINES)
    for i in reversed(after_label(lines, "摘要：")):
        lines.insert(i, "javascript:void(0);")  # in the link region
        j = first_text_after(lines, i + 1)
        lines[j] += "javascript:void(0);"
        lines.insert(j + 1, "javascript:void(0);")
    assert flatten(parse_report("\n".join(lines))) == BASELINE


def test_display_text_resolved_from_the_pages_footer() -> None:
    text = report([item(1, "白皮书发布", link=["report-2024.pdf (example.org)"],
                        summary=["白皮书全文见附件。", "", "https://cdn.example.com/other.pdf",
                                 "https://files.example.org/dl/report-2024.pdf?v=3",
                                 " 第二页的摘要。"])])
    [parsed] = parse_report(text).sections[0].items
    assert parsed.url == "https://files.example.org/dl/report-2024.pdf?v=3"
    assert parsed.summary == "白皮书全文见附件。\n\n第二页的摘要。"


def test_display_text_that_is_a_page_title_takes_the_one_url_on_that_host() -> None:
    text = report([item(1, "新闻", link=["某某新闻标题 (news.example.net)"]),
                   "https://news.example.net/2024/07/a.html", " " + item(2, "另一条")])
    [first, _second] = parse_report(text).sections[0].items
    assert first.url == "https://news.example.net/2024/07/a.html"


def test_display_text_without_a_matching_footer_url_is_an_error() -> None:
    text = report([item(1, "白皮书发布", link=["report-2024.pdf (example.org)"])])
    with pytest.raises(ReportFormatError) as info:
        parse_report(text)
    assert info.value.line == text.split("\n").index("report-2024.pdf (example.org)") + 1
    assert "no matching URL" in info.value.reason


def test_windows_line_ends_form_feeds_and_invisible_characters() -> None:
    text = "\r\n".join(SAMPLE_LINES).replace("元宇宙", "\f元宇宙").replace("摘要", "摘\u200b要")
    assert flatten(parse_report("\ufeff" + text)) == BASELINE


# --- month, labels, numbered lines ------------------------------------------------------------


def test_month_argument_overrides_the_header() -> None:
    parsed = parse_report(SAMPLE_TEXT, month="2024-08")
    assert parsed.month == "2024-08"
    assert flatten(parsed) == BASELINE


def test_month_and_title_from_another_reports_header() -> None:
    text = report([item(1, "甲")], header="数据合规月报｜2023年12月")
    parsed = parse_report(text)
    assert (parsed.title, parsed.month) == ("数据合规月报", "2023-12")


def test_values_on_the_label_line_or_the_next() -> None:
    text = "\n".join([HEADER, "1. 标题", "发布日期：", "2024-07-01", "来源：", "某报",
                      "链接：https://example.com/x", "摘要：第一句。", "植德短评：评论一句。"])
    [parsed] = parse_report(text).sections[0].items
    assert (parsed.published_on, parsed.source, parsed.url) == (
        datetime.date(2024, 7, 1), "某报", "https://example.com/x")
    assert (parsed.summary, parsed.commentary) == ("第一句。", "评论一句。")


def test_numbered_lines_inside_a_summary_stay_in_the_summary() -> None:
    text = report([item(1, "甲", summary=["要点如下：", "1. 第一点；", "2. 第二点。"]),
                   item(2, "乙")])
    first, second = parse_report(text).sections[0].items
    assert first.summary == "要点如下：1. 第一点；2. 第二点。"
    assert second.title == "乙"


def test_wrapped_title_and_latin_words() -> None:
    summary = ["The company raised", "money. 中文", "继续。"]
    text = report([item(1, "Cohere raises", summary=summary)])
    text = text.replace("1. Cohere raises", "1. Cohere\n\nraises 融资")
    [parsed] = parse_report(text).sections[0].items
    assert parsed.title == "Cohere raises 融资"
    assert parsed.summary == "The company raised money. 中文继续。"


def test_typed_in_text_without_wrapping_keeps_each_sentence_line_as_a_paragraph() -> None:
    sentences = [f"第{n}段{'内容' * (n * 7 % 30 + 1)}。" for n in range(12)]
    [parsed] = parse_report(report([item(1, "甲", summary=sentences)])).sections[0].items
    assert parsed.summary.split("\n\n") == sentences


# --- hand-written report helpers ------------------------------------------------------------


def item(n: int, title: str, *, link: list[str] | None = None,
         summary: list[str] | None = None) -> str:
    lines = [f"{n}. {title}", "发布日期：2024年 7月 1日", "来源：某报", "链接：",
             *(link or ["https://example.com/item"]), "摘要：", *(summary or ["摘要。"])]
    return "\n\n".join(lines)


def report(parts: list[str], header: str = HEADER) -> str:
    return "\n\n".join([header, *parts])
