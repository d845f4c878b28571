"""The July sample report as a whole PDF's text would be: a cover and a table of contents
before it (the sample is the extraction of the report's pages after them), and cut short."""

from __future__ import annotations

from pathlib import Path

from webapp.editions.importer.cleanup import clean_text
from webapp.editions.importer.parser import parse_report

SAMPLE = Path(__file__).resolve().parents[2] / "webapp" / "data" / "2024-07-report.txt"
SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
HEADER = "元宇宙与数字经济月报 | 2024年 7月"


def contents_page(*, headings_alone: bool = False) -> list[str]:
    """A cover and a contents page listing every section and item of the sample, with page
    numbers: dot leaders, and section headings with their page on the next line or not."""
    lines = ["元宇宙与数字经济月报", "", "2024年 7月", "", "目录", ""]
    page = 3
    for section in parse_report(SAMPLE_TEXT).sections:
        lines += (
            [section.title, "", str(page), ""]
            if headings_alone
            else [f"{section.title} ...... {page}", ""]
        )
        for number, item in enumerate(section.items, 1):
            lines += [f"{number}. {item.title} ...... {page}", ""]
            page += 1
    return [*lines, "", HEADER, "", "2", ""]


def with_contents(text: str = SAMPLE_TEXT, *, headings_alone: bool = False) -> str:
    return "\n".join(contents_page(headings_alone=headings_alone)) + "\n" + text


def cut_in_half(text: str) -> str:
    """The first half of the text, as a failed upload or half an extraction leaves it."""
    return text[: len(text) // 2]


HALF_REPORT = cut_in_half(with_contents())
# What the contents lists and the half report lacks: the industry items from the third on and
# the whole deals section (the cut falls in the second industry item, which stays). Named as
# the import names them: after the cleanup of the text (no space in "微软与 OpenAI").
_CLEANED = parse_report(clean_text(SAMPLE_TEXT))
MISSING_FROM_HALF = [
    "交易资讯 (the whole section)",
    *[
        f"行业新闻: {n}. {item.title}"
        for n, item in enumerate(_CLEANED.sections[1].items, 1)
        if n >= 3
    ],
    *[
        f"交易资讯: {n}. {item.title}"
        for n, item in enumerate(_CLEANED.sections[2].items, 1)
    ],
]
