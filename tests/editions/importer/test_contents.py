"""The table of contents against the body: a report cut short says what it lacks."""

from __future__ import annotations

import pytest

from tests.support.reports import (
    HALF_REPORT,
    HEADER,
    MISSING_FROM_HALF,
    SAMPLE_TEXT,
    contents_page,
    cut_in_half,
    with_contents,
)
from webapp.editions.importer.cleanup import clean_text
from webapp.editions.importer.parser import ParsedReport, parse_report

SAMPLE_LINES = SAMPLE_TEXT.split("\n")


def titles(report: ParsedReport) -> list[str]:
    return [item.title for section in report.sections for item in section.items]


@pytest.mark.parametrize("headings_alone", [True, False])
def test_a_whole_report_lacks_nothing_its_contents_lists(headings_alone: bool) -> None:
    report = parse_report(with_contents(headings_alone=headings_alone))
    assert report.missing == ()
    assert titles(report) == titles(parse_report(SAMPLE_TEXT))


@pytest.mark.parametrize("headings_alone", [True, False])
def test_the_sample_cut_in_half_lists_what_it_lacks(headings_alone: bool) -> None:
    # As the import reads it: cleaned first (MISSING_FROM_HALF names cleaned titles).
    report = parse_report(clean_text(cut_in_half(with_contents(headings_alone=headings_alone))))
    assert len(titles(report)) == 13  # it parses: half the items, nothing looks wrong
    assert [str(part) for part in report.missing] == MISSING_FROM_HALF
    whole, first = report.missing[0], report.missing[1]
    assert (whole.section, whole.number, whole.title) == ("交易资讯", None, None)
    assert (first.section, first.number) == ("行业新闻", 3)


def test_half_a_report_is_the_same_whichever_way_it_is_parsed() -> None:
    missing = parse_report(clean_text(HALF_REPORT)).missing
    assert [str(part) for part in missing] == MISSING_FROM_HALF


def test_a_contents_page_listing_only_sections() -> None:
    listing = ["目录", "", "政策速递", "", "3", "", "行业新闻", "", "9", "", "交易资讯", "", "14"]
    body = [line for line in SAMPLE_LINES if line.strip() != "政策速递"]
    assert parse_report("\n".join([*listing, "", HEADER, "", *body])).missing == ()
    deals = next(i for i, line in enumerate(body) if line.strip().startswith("1. 芯盟科技"))
    report = parse_report("\n".join([*listing, "", HEADER, "", *body[:deals]]))
    assert [str(part) for part in report.missing] == ["交易资讯 (the whole section)"]


def test_one_item_missing_in_the_middle() -> None:
    lines = SAMPLE_LINES
    start = next(i for i, line in enumerate(lines) if line.startswith("2. “数字经济”首次"))
    end = next(i for i, line in enumerate(lines) if line.startswith("3. 李强"))
    text = "\n".join([*contents_page(), *lines[:start], *lines[end:]])
    report = parse_report(text)
    assert [str(part) for part in report.missing] == ["政策速递: 2. “数字经济”首次进入三中全会公报"]


def test_contents_entries_shortened_or_wrapped_still_match() -> None:
    lines = contents_page()
    first = next(i for i, line in enumerate(lines) if line.startswith("1. 党的二十届"))
    lines[first] = "1. 党的二十届三中全会《决定》：数字经济领域…… 3"  # shortened
    second = next(i for i, line in enumerate(lines) if line.startswith("2. “数字经济”"))
    lines[second : second + 1] = ["2. “数字经济”首次进入三中", "全会公报 ........ 4"]  # wrapped
    assert parse_report("\n".join(lines) + "\n" + SAMPLE_TEXT).missing == ()


def test_without_a_contents_page_there_is_nothing_to_check() -> None:
    """The limit of the check: the sample as extracted has no contents page, so a cut is not
    seen (the importer does not guess from the numbering)."""
    assert parse_report(cut_in_half(SAMPLE_TEXT)).missing == ()


def test_a_numbered_preface_is_not_a_contents_page() -> None:
    preface = ["卷首语", "", "1. 本月政策密集出台。", "2. 数据要素市场加速建设。", ""]
    assert parse_report("\n".join(preface) + "\n" + SAMPLE_TEXT).missing == ()
