"""The cleanup: radicals and ligatures to what the author typed, extraction's spaces around
CJK characters out, Latin text and URLs left alone, and what changed kept per field."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.editions.importer.cleanup import (
    RADICALS,
    LineChange,
    clean_line,
    clean_lines,
    field_changes,
)
from webapp.editions.importer.reading import read_report


@pytest.mark.parametrize(
    ("pdf_text", "typed"),
    [
        ("元宇宙与数字经济⽉报", "元宇宙与数字经济月报"),  # U+2F49 KANGXI RADICAL MOON
        ("多部⻔", "多部门"),  # U+2ED4 C-SIMPLIFIED GATE
        ("⺠⽣项⽬", "民生项目"),  # U+2EA0 CIVILIAN
        ("⼾籍", "户籍"),  # U+2F3E is 户 for a simplified-Chinese reader, not 戶
        ("⻘年", "青年"),
        ("⿈河", "黄河"),  # KANGXI YELLOW decomposes to 黃; the everyday form is 黄
        ("⻢上", "马上"),
    ],
)
def test_radicals_become_the_characters_typed(pdf_text: str, typed: str) -> None:
    assert clean_line(pdf_text) == typed


def test_every_radical_maps_to_one_ideograph_or_a_component() -> None:
    assert len(RADICALS) > 300
    for radical, character in RADICALS.items():
        assert len(character) == 1
        assert "CJK" in unicodedata.name(character), (radical, character)


def test_ligatures_are_spelt_out_also_inside_urls() -> None:
    assert clean_line("链接：https://ﬁnance.sina.com.cn/ﬂow") == "链接：https://finance.sina.com.cn/flow"
    assert clean_line("eﬀective ﬃ ﬄ ﬆ") == "effective ffi ffl st"


def test_full_width_punctuation_stays_full_width() -> None:
    text = "来源：新华社（北京），2024年，“数字经济”；《决定》！"
    assert clean_line(text) == text


@pytest.mark.parametrize(
    ("extracted", "typed"),
    [
        ("2024年 8月 19日", "2024年8月19日"),
        ("OpenAI及 Anthropic", "OpenAI及Anthropic"),
        ("政策 》", "政策》"),
        ("《决定》 明确", "《决定》明确"),
        ("于 7月 15日至 18日", "于7月15日至18日"),
        ("数字　经济", "数字经济"),  # an ideographic space
        ("国内外的 AI 服务", "国内外的AI服务"),
        ("Sam Altman 的职务", "Sam Altman的职务"),  # Latin spacing inside stays
        ("growth of 245% in 2024", "growth of 245% in 2024"),
        ("见 https://example.com/a 及附件", "见 https://example.com/a 及附件"),  # URL's spaces
        ("提供 (TTS) 模型", "提供 (TTS) 模型"),  # ASCII brackets are Latin text
    ],
)
def test_spaces_next_to_cjk_are_removed_and_latin_spacing_kept(
    extracted: str, typed: str
) -> None:
    assert clean_line(extracted) == typed


def test_radicals_inside_a_url_are_left_for_the_editor() -> None:
    assert clean_line("https://example.cn/⽉报 ⽉报") == "https://example.cn/⽉报 月报"


# --- hypothesis: a mix of CJK, Latin, digits and URLs ---------------------------------------

_CJK = st.text(st.sampled_from("数字经济月报政策速递行业新闻交易资讯，。《》（）：“”"),
               min_size=1, max_size=6)
_LATIN = st.text(st.sampled_from("abcXYZ-'"), min_size=1, max_size=8)
_DIGITS = st.text(st.sampled_from("0123456789.%"), min_size=1, max_size=5).filter(
    lambda s: s[0].isdigit())
_URL = st.builds(lambda host, path: f"https://{host}.com/{path}",
                 st.text(st.sampled_from("abcdef"), min_size=1, max_size=6),
                 st.text(st.sampled_from("abc-_/?=&%09"), max_size=10))
_SPACES = st.sampled_from([" ", "  ", "\t", "\u3000", " \u3000"])
# CJK characters and full-width punctuation; the curly quotes are shared with English.
_WIDE_CLASS = r"[\u3001-\u303f\u4e00-\u9fff\uff01-\uff60]"
_WIDE = re.compile(_WIDE_CLASS)
_NEXT_TO_WIDE = re.compile(
    rf"{_WIDE_CLASS}\s+(?:{_WIDE_CLASS}|[0-9A-Za-z“”])|[0-9A-Za-z“”]\s+{_WIDE_CLASS}")


@st.composite
def _mixed(draw: st.DrawFn) -> list[tuple[str, str]]:
    tokens = draw(st.lists(st.tuples(st.sampled_from(["cjk", "latin", "digits", "url"]),
                                     st.booleans()), min_size=1, max_size=12))
    out = []
    for kind, spaced in tokens:
        text = draw({"cjk": _CJK, "latin": _LATIN, "digits": _DIGITS, "url": _URL}[kind])
        out.append((kind, text))
        if spaced or kind == "url":  # a URL ends at whitespace: the writer put one after it
            out.append(("space", draw(_SPACES)))
    return out


@settings(max_examples=300, deadline=None)
@given(_mixed())
def test_cleanup_only_removes_spaces_next_to_cjk(tokens: list[tuple[str, str]]) -> None:
    line = "".join(text for _, text in tokens)
    cleaned = clean_line(line)
    # Nothing but whitespace changes…
    assert "".join(cleaned.split()) == "".join(line.split())
    # …every URL is still there, as it was…
    for kind, text in tokens:
        if kind == "url":
            assert text in cleaned
    # …spaces between Latin words and digits stay exactly…
    for index, (kind, text) in enumerate(tokens):
        if kind == "space" and 0 < index < len(tokens) - 1:
            before, after = tokens[index - 1][1], tokens[index + 1][1]
            if not _WIDE.search(before[-1] + after[0]):
                assert before + text + after in cleaned
    # …and no space is left between a CJK character and a CJK character, digit or letter
    # (outside URLs, whose ends stay where they are)…
    outside = re.sub(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", "#", cleaned)  # a URL with its scheme
    assert not _NEXT_TO_WIDE.search(outside)
    # …and cleaning twice changes nothing more.
    assert clean_line(cleaned) == cleaned


# --- what changed, per field ----------------------------------------------------------------


def test_the_fields_before_the_cleanup_are_kept() -> None:
    changes = [
        LineChange(1, "1. 多部⻔发布", "1. 多部门发布"),
        LineChange(4, "链接：https://ﬁnance.example.com/a", "链接：https://finance.example.com/a"),
        LineChange(6, "于 7⽉ 15⽇至", "于7月15日至"),
        LineChange(7, "18⽇在北京", "18日在北京"),
    ]
    fields = {"title": "多部门发布", "source": "新华社", "url": "https://finance.example.com/a",
              "summary": "于7月15日至18日在北京举行。", "commentary": None}
    assert field_changes(fields, changes) == {
        "title": {"before": "多部⻔发布", "after": "多部门发布"},
        "url": {"before": "https://ﬁnance.example.com/a", "after": "https://finance.example.com/a"},
        "summary": {"before": "于 7⽉ 15⽇至18⽇在北京举行。",
                    "after": "于7月15日至18日在北京举行。"},
    }


def test_the_sample_text_records_its_spaces_per_item() -> None:
    from tests.editions.files.conftest import SAMPLE

    read = read_report(SAMPLE.read_text(encoding="utf-8"))
    first = read.report.sections[0].items[0]
    change = read.cleanups[first.line]["summary"]
    assert change["after"] == first.summary
    assert "于 7月 15日至 18日" in change["before"]
    assert "于7月15日至18日" in change["after"]
    # The cleaned lines that are no item's text (dates, headers) are in no field.
    assert set().union(*(c.keys() for c in read.cleanups.values())) <= {
        "title", "source", "url", "summary", "commentary"}


def test_clean_lines_keeps_the_line_count() -> None:
    clean = clean_lines(["a", "⽉ 报", "", "b"])
    assert clean.lines == ("a", "月报", "", "b")
    assert clean.changes == (LineChange(2, "⽉ 报", "月报"),)
