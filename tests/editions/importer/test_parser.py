"""The July 2024 sample parses field for field, and damaged reports fail with a useful line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from webapp.editions.importer.errors import ReportFormatError
from webapp.editions.importer.parser import SECTION_TITLES, ParsedItem, ParsedReport, parse_report

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_TEXT = (ROOT / "webapp" / "data" / "2024-07-report.txt").read_text(encoding="utf-8")
EXPECTED: dict[str, Any] = json.loads(
    (ROOT / "tests" / "fixtures" / "2024-07-report.expected.json").read_text(encoding="utf-8")
)


def _no_space(text: str) -> str:
    return "".join(text.split())


def _items(report: ParsedReport) -> list[tuple[str, ParsedItem]]:
    return [(section.key, item) for section in report.sections for item in section.items]


def _sample_with(replace: dict[int, str | None]) -> str:
    """The sample with some 1-based lines replaced (None deletes the line)."""
    lines = SAMPLE_TEXT.split("\n")
    for no in sorted(replace, reverse=True):
        new = replace[no]
        if new is None:
            del lines[no - 1]
        else:
            lines[no - 1] = new
    return "\n".join(lines)


@pytest.fixture(scope="module")
def report() -> ParsedReport:
    return parse_report(SAMPLE_TEXT)


def test_sample_title_and_month_come_from_the_page_header(report: ParsedReport) -> None:
    assert report.title == EXPECTED["title"]
    assert report.month == EXPECTED["month"]


def test_sections_are_policy_industry_deals(report: ParsedReport) -> None:
    assert [(s.key, s.title) for s in report.sections] == list(SECTION_TITLES.items())
    assert list(SECTION_TITLES) == ["policy", "industry", "deals"]


def test_sample_has_26_items_in_the_right_sections(report: ParsedReport) -> None:
    assert [key for key, _ in _items(report)] == [e["section"] for e in EXPECTED["items"]]
    assert len(_items(report)) == 26


@pytest.mark.parametrize("index", range(len(EXPECTED["items"])))
def test_sample_item_matches_the_hand_checked_fields(report: ParsedReport, index: int) -> None:
    expected = EXPECTED["items"][index]
    _, item = _items(report)[index]
    assert _no_space(item.title) == _no_space(expected["title"])
    assert _no_space(item.source) == _no_space(expected["source"])
    assert item.published_on.isoformat() == expected["published_on"]
    assert item.url == expected["url"]
    assert (item.commentary is not None) == expected["has_commentary"]
    for fragment in expected.get("summary_contains", []):
        assert fragment in item.summary


def test_no_page_noise_in_summaries_or_commentary(report: ParsedReport) -> None:
    for _, item in _items(report):
        for text in (item.summary, item.commentary or ""):
            assert "元宇宙与数字经济月报" not in text
            assert "http" not in text
            assert "植德短评" not in text
            assert "javascript" not in text
            assert not re.search(r"(^|\n)\s*[0-9]{1,3}\s*(\n|$)", text), text[:40]


def test_wrapped_lines_join_into_paragraphs(report: ParsedReport) -> None:
    first = _items(report)[0][1]
    paragraphs = first.summary.split("\n\n")
    assert paragraphs[0] == (
        "中国共产党第二十届中央委员会第三次全体会议，于 7月 15日至 18日在北京举行。全会最重要的"
        "成果是审议通过《中共中央关于进一步全面深化改革、推进中国式现代化的决定》（下称《决定》）。"
    )
    assert paragraphs[-1].startswith("值得关注的是，多部门正围绕《决定》部署加快贯彻落实。")
    assert len(paragraphs) == 6
    assert all("\n" not in p for p in paragraphs)


def test_latin_words_wrapped_over_lines_keep_one_space(report: ParsedReport) -> None:
    items = [item for _, item in _items(report)]
    assert "首席执行官 Sam Altman的职务" in items[20].summary
    assert "Andreessen Horowitz 等投资者" in items[25].summary


def test_commentary_is_the_text_after_植德短评(report: ParsedReport) -> None:
    first = _items(report)[0][1]
    assert first.commentary is not None
    assert first.commentary.startswith("二十届三中全会《决定》明确了数据工作")
    assert first.commentary.endswith("得到更好的发展。")
    assert "值得关注的是" in first.summary and "值得关注的是" not in first.commentary


def test_items_remember_the_line_they_start_on(report: ParsedReport) -> None:
    lines = [item.line for _, item in _items(report)]
    assert lines[:3] == [3, 88, 127]
    assert lines[11] == 474  # first industry item, right after a page's footer URLs
    assert lines[-1] == 1002


# --- errors ------------------------------------------------------------------------------


def _error(text: str, month: str | None = None) -> ReportFormatError:
    with pytest.raises(ReportFormatError) as info:
        parse_report(text, month)
    return info.value


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(text: str) -> None:
    err = _error(text)
    assert (err.line, "empty" in err.reason) == (0, True)


def test_binary_junk() -> None:
    err = _error(bytes(range(256)).decode("latin-1"))
    assert err.line == 1
    assert "binary" in err.reason


def test_binary_junk_inside_a_report_names_its_line() -> None:
    err = _error(_sample_with({15: "中国共产党\x00\x01\x02"}))
    assert err.line == 15
    assert "binary" in err.reason


def test_every_faulty_line_is_listed() -> None:
    lines = SAMPLE_TEXT.split("\n")
    faulty = {15: lines[14] + "\x1b[0m", 40: lines[39] + "\x85", 61: lines[60] + "\u2028x"}
    err = _error(_sample_with(faulty))
    assert err.line == 15
    assert "control character U+001B at character" in err.reason
    assert "also on lines 40, 61" in err.reason


def test_many_faulty_lines_are_counted_past_twenty() -> None:
    err = _error(_sample_with({no: f"文字\x00{no}" for no in range(100, 130)}))
    assert err.line == 100
    assert "also on lines 101, 102," in err.reason and "119 and 10 more" in err.reason


def test_page_breaks_from_pdftotext_are_not_control_characters() -> None:
    lines = SAMPLE_TEXT.split("\n")
    with_breaks = _sample_with({180: "\f" + lines[179], 181: "\v"})
    assert parse_report(with_breaks) == parse_report(SAMPLE_TEXT)


def test_missing_source() -> None:
    err = _error(_sample_with({7: ""}))  # 来源：新华社
    assert err.line == 9  # where 链接： stands instead
    assert "expected '来源：' after the date" in err.reason
    assert str(err).startswith("line 9: expected '来源：' after the date")


def test_missing_date() -> None:
    err = _error(_sample_with({90: ""}))  # 发布日期 of item 2
    assert err.line == 92
    assert "expected '发布日期：' after the item title" in err.reason


def test_invalid_date() -> None:
    err = _error(_sample_with({5: "发布日期：2024年13月40日"}))
    assert err.line == 5
    assert "invalid date '2024年13月40日'" in err.reason


@pytest.mark.parametrize("link", ["ftp://www.jjckb.cn/2024-07/24/c_1310782482.htm",
                                  "http://[::1", "mailto:news@example.com", "www.jjckb.cn/a.htm",
                                  "javascript:alert(1)"])
def test_only_http_links_are_accepted(link: str) -> None:
    err = _error(_sample_with({11: " " + link}))
    assert err.line == 11
    assert "not an http(s) URL" in err.reason


def test_item_without_summary() -> None:
    err = _error(_sample_with(dict.fromkeys(range(196, 203))))  # item 4's summary text
    assert err.line == 194
    assert "expected text after '摘要：'" in err.reason


def test_item_without_link() -> None:
    err = _error(_sample_with({11: ""}))
    assert err.line == 9
    assert "expected a link after '链接：'" in err.reason


def test_labels_without_a_numbered_title() -> None:
    err = _error(_sample_with({88: "“数字经济”首次进入三中全会公报"}))  # number lost
    assert err.line == 90
    assert "'发布日期：'" in err.reason and "expected a numbered title" in err.reason


def test_text_that_is_not_a_report() -> None:
    err = _error("Dear team,\n\nplease find the minutes attached.\n", month="2024-07")
    assert err.line == 1
    assert "no items found" in err.reason


def test_report_header_without_items() -> None:
    err = _error("元宇宙与数字经济月报 | 2024年 7月\n\n政策速递\n\n本月无更新。\n")
    assert err.line == 1
    assert "no items found" in err.reason


def test_no_header_and_no_month() -> None:
    text = "\n".join(line for line in SAMPLE_TEXT.split("\n") if "月报" not in line)
    err = _error(text)
    assert err.line == 0
    assert "give the month explicitly" in err.reason
    assert parse_report(text, month="2024-07").month == "2024-07"


@pytest.mark.parametrize("month", ["2024-13", "2024-7", "July", ""])
def test_invalid_month_argument(month: str) -> None:
    err = _error(SAMPLE_TEXT, month=month)
    assert err.line == 0
    assert "invalid month" in err.reason
    assert str(err) == err.reason  # no "line 0:" prefix for errors about no line
