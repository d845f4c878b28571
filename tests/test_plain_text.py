"""The one rule for text that comes in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.plain_text import (
    UnsafeText,
    UnsafeUrl,
    check_http_url,
    check_text,
    find_unsafe,
)


@pytest.mark.parametrize(
    "bad", ["A\x00B", "Hi\r\nBcc: x", "a\nb", "tab\x0bv", "del\x7f", "\ud800", "x\u2028y", "c1\x85"]
)
def test_single_line_fields_refuse_controls_and_line_breaks(bad: str) -> None:
    with pytest.raises(UnsafeText):
        check_text(bad)


def test_multi_line_fields_keep_line_breaks_and_tabs_but_not_nul() -> None:
    assert check_text("第一段\r\n第二段\n\t缩进", multiline=True)
    with pytest.raises(UnsafeText) as refused:
        check_text("第一段\x00", multiline=True)
    assert refused.value.index == 3
    assert refused.value.codepoint == 0
    assert "U+0000" in str(refused.value)


def test_the_message_names_a_line_break() -> None:
    problem = find_unsafe("Hi\r\nBcc: x")
    assert problem is not None
    assert problem.line_break
    assert "line break at character 3" in str(problem)


def test_ordinary_text_passes() -> None:
    for text in ["元宇宙与数字经济月报｜2024年7月", "O'Brien – “quoted” ✓", "tab\there", ""]:
        assert check_text(text) == text


@given(st.text())
def test_anything_that_passes_has_no_refused_character(text: str) -> None:
    problem = find_unsafe(text)
    if problem is None:
        assert not any(ord(c) < 32 and c != "\t" for c in text)
        assert "\x7f" not in text
        text.encode("utf-8")  # no lone surrogate
    else:
        assert text[problem.index] == chr(problem.codepoint)


@pytest.mark.parametrize(
    "url",
    ["https://www.mofcom.gov.cn/article/zcfb/202407/20240703520000.shtml", "http://example.com"],
)
def test_http_urls_with_a_host_pass(url: str) -> None:
    assert check_http_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://",
        "ftp://example.com/x",
        "https://example.com/a\r\nb",
        "https://exa mple.com",
        "https://[::1",
        "example.com/path",
    ],
)
def test_other_links_are_refused(url: str) -> None:
    with pytest.raises((UnsafeUrl, UnsafeText)):
        check_http_url(url)
