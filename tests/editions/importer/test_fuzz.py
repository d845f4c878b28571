"""Whatever the input, the importer either parses it into a well-formed report or raises
ReportFormatError, never anything else."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.editions.importer.errors import ReportFormatError
from webapp.editions.importer.parser import SECTION_TITLES, parse_report
from webapp.plain_text import check_http_url, find_unsafe

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_LINES = (ROOT / "webapp" / "data" / "2024-07-report.txt").read_text(
    encoding="utf-8").split("\n")
# Lines that steer the parser into its interesting states.
PIECES = [
    "政策速递", "行业新闻", "交易资讯", "1. 标题", "2. 标题", "1.", "发布日期：2024年 7月 1日",
    "发布日期：2024年13月40日", "发布日期：", "来源：某报", "来源：", "链接：", "链接：https://a.b/c",
    "https://example.com/x", "ftp://example.com/x", "x.pdf (example.com)", "http://[::1",
    "摘要：", "摘要：文字。", "植德短评", "javascript:void(0);", "元宇宙与数字经济月报",
    "元宇宙与数字经济月报 | 2024年 7月", "2024年 7月", "4", "", " ", "文字。", "Latin words",
]
# No example database: these tests keep no state in the tree between runs.
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def parse_or_format_error(text: str, month: str | None = None) -> None:
    """The property every test here checks."""
    try:
        report = parse_report(text, month)
    except ReportFormatError as err:
        assert 0 <= err.line <= text.count("\n") + text.count("\r") + 1
        assert err.reason
        return
    assert [s.key for s in report.sections] == list(SECTION_TITLES)
    assert re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", report.month)
    items = [item for section in report.sections for item in section.items]
    assert items
    for item in items:
        assert check_http_url(item.url)
        assert item.title and item.source and item.summary
        assert item.commentary is None or item.commentary
        # Nothing the one rule for text refuses gets through to what would be stored.
        assert find_unsafe(item.title) is None and find_unsafe(item.source) is None
        assert find_unsafe(item.summary, multiline=True) is None
        assert find_unsafe(item.commentary or "", multiline=True) is None
    assert find_unsafe(report.title) is None


@FUZZ
@given(st.text())
def test_random_text(text: str) -> None:
    parse_or_format_error(text, month="2024-07")


@FUZZ
@given(st.binary())
def test_random_bytes_decoded_as_an_importer_caller_would(data: bytes) -> None:
    parse_or_format_error(data.decode("utf-8", errors="replace"))


PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)


@FUZZ
@given(st.lists(st.sampled_from(PIECES + SAMPLE_LINES[:120]) | PRINTABLE, max_size=60),
       st.sampled_from([None, "2024-07"]) | st.text(max_size=8))
def test_report_like_lines(lines: list[str], month: str | None) -> None:
    parse_or_format_error("\n".join(lines), month)


HEADER = "元宇宙与数字经济月报 | 2024年 7月"
NOISE = st.lists(st.sampled_from(["", "4", HEADER, "javascript:void(0);",
                                  "https://example.com/footer"]), max_size=2)
FIELDS = [  # each part of an item after its title: (well-formed variants, damaged variants)
    (["发布日期：2024年 7月 1日", "发布日期：2024-07-01", "发布日期：\n2024年7月1日"],
     ["发布日期：2024年13月40日", "发布日期：", ""]),
    (["来源：某报", "来源：\n某报"], ["来源：", ""]),
    (["链接：\nhttps://example.com/a", "链接：https://example.com/a",
      "链接：\nhttps://example.com/lo\nng/path", "链接：\nx.pdf (example.com)"],
     ["链接：\nftp://example.com/a", "链接：\nhttp://[::1", "链接：", ""]),
    (["摘要：\n正文。", "摘要：正文", "摘要：\n1. 要点\n2. 要点"], ["摘要：", ""]),
    (["", "植德短评\n评论。", "植德短评：评论"], ["植德短评"]),
]


@st.composite
def reports(draw: st.DrawFn) -> str:
    """Reports built item by item, with noise between parts and a damaged part now and then."""

    def damaged() -> bool:
        return draw(st.integers(0, 9)) == 0

    lines = [draw(st.sampled_from([HEADER, "某某月报\n2024年 7月", ""]))]
    number = 0
    for _ in range(draw(st.integers(1, 5))):
        if damaged():
            lines.append(draw(st.sampled_from(["政策速递", "行业新闻", "交易资讯"])))
        number = 1 if damaged() else number + 1
        title = draw(st.sampled_from(["标题", "Title", "标题\n续行"]))
        lines += [draw(st.sampled_from(["3.", title])) if damaged() else f"{number}. {title}"]
        for good, bad in FIELDS:
            lines += [draw(st.sampled_from(bad if damaged() else good)), *draw(NOISE)]
    return "\n".join(lines)


@settings(FUZZ, max_examples=600)
@given(reports(), st.sampled_from([None, "2024-07"]))
def test_generated_reports(text: str, month: str | None) -> None:
    parse_or_format_error(text, month)


MUTATION = st.tuples(
    st.sampled_from(["delete", "duplicate", "swap", "insert"]),
    st.integers(0, len(SAMPLE_LINES) - 1),
    st.integers(0, len(SAMPLE_LINES) - 1),
    st.sampled_from(PIECES) | st.text(max_size=20),
)


@settings(FUZZ, max_examples=400)
@given(st.lists(MUTATION, min_size=1, max_size=8))
def test_mutations_of_the_sample(mutations: list[tuple[str, int, int, str]]) -> None:
    lines = list(SAMPLE_LINES)
    for operation, i, j, junk in mutations:
        i, j = i % len(lines), j % len(lines)
        if operation == "delete" and len(lines) > 1:
            del lines[i]
        elif operation == "duplicate":
            lines.insert(i, lines[i])
        elif operation == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(i, junk)
    parse_or_format_error("\n".join(lines))


@FUZZ
@given(st.integers(0, len(SAMPLE_LINES)), st.integers(1, 60))
def test_truncated_samples(start: int, length: int) -> None:
    parse_or_format_error("\n".join(SAMPLE_LINES[start:start + length]), month="2024-07")


@settings(FUZZ, max_examples=400)
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE_LINES) - 1), st.integers(0, 40),
                          st.text(max_size=4)), min_size=1, max_size=6))
def test_unicode_typed_into_the_sample(edits: list[tuple[int, int, str]]) -> None:
    """Any character typed anywhere into a real report: parsed clean, or refused by line."""
    lines = list(SAMPLE_LINES)
    for no, at, junk in edits:
        lines[no] = lines[no][:at] + junk + lines[no][at:]
    parse_or_format_error("\n".join(lines))
