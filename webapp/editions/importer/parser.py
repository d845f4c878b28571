"""Parse a monthly report's text, as extracted from its PDF, into sections and items.

The text is read in three passes: classify every line (page noise, URL, label, title…),
walk the classified lines as a small state machine that collects each item's raw lines,
then join wrapped lines into titles and paragraphs. Every error names the line.
"""

from __future__ import annotations

import datetime
import enum
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from webapp.editions.importer.contents import MissingPart, missing_parts
from webapp.editions.importer.errors import ReportFormatError
from webapp.plain_text import UnsafeText, UnsafeUrl, check_http_url, find_unsafe
from webapp.reasons import N_, Reason

SECTION_TITLES: dict[str, str] = {"policy": "政策速递", "industry": "行业新闻", "deals": "交易资讯"}
_SECTION_KEYS = tuple(SECTION_TITLES)
_KEY_OF_TITLE = {title: key for key, title in SECTION_TITLES.items()}


@dataclass(frozen=True)
class ParsedItem:
    title: str
    published_on: datetime.date
    source: str
    url: str
    summary: str
    commentary: str | None
    line: int


@dataclass(frozen=True)
class ParsedSection:
    key: str
    title: str
    items: tuple[ParsedItem, ...]


@dataclass(frozen=True)
class ParsedReport:
    title: str
    month: str
    sections: tuple[ParsedSection, ...]
    # What the report's table of contents lists and its body lacks: a report cut short.
    missing: tuple[MissingPart, ...] = ()


class _Kind(enum.Enum):
    BLANK = "blank"
    NOISE = "noise"  # page header, page number, the report's title or month alone
    URL = "url"  # a line that is one URL: a footer URL, or a link in the 链接 region
    HEADING = "heading"
    TITLE = "title"  # starts with "N." — an item title only if labels follow (see _item_titles)
    DATE = "发布日期："
    SOURCE = "来源："
    LINK = "链接："
    SUMMARY = "摘要："
    COMMENTARY = "植德短评"
    TEXT = "text"


class _Line(NamedTuple):
    no: int
    kind: _Kind
    text: str  # the stripped line, or a label's value, or a heading's section key
    number: int = 0  # item number for TITLE


_LABELS = (_Kind.DATE, _Kind.SOURCE, _Kind.LINK, _Kind.SUMMARY)
# What an item's part follows, as the refusals name it.
_ITEM_TITLE = Reason(N_("the item title"))
_DATE_TEXT = Reason(N_("the date"))
_SOURCE_TEXT = Reason(N_("the source"))
_LINK_TEXT = Reason(N_("the link"))
_SKIPPED = frozenset((_Kind.BLANK, _Kind.NOISE))
_SKIPPED_WITH_URLS = _SKIPPED | {_Kind.URL}  # footer URLs are noise outside the 链接 region
_HEADER = re.compile(
    r"(?P<title>\S.{0,40}?月报)\s*[|｜]?\s*(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月"
    r"(?:\s+[0-9]{1,3})?"  # some extractions put the page number on the header's line
)
_COVER_TITLE = re.compile(r"[^\s，。、《》“”：:]{2,40}月报")
_COVER_MONTH = re.compile(r"(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月")
_PAGE_NUMBER = re.compile(
    r"(第\s*)?[0-9]{1,3}(\s*页)?|[-—–]\s*[0-9]{1,3}\s*[-—–]|[0-9]{1,3}\s*/\s*[0-9]{1,3}"
)
# pdftotext's page breaks, and a typed-in line break inside a line: the importer drops them
# (see _INVISIBLE), so the one rule for text does not count them against the line; checked
# as spaces, so a position named is still right.
_PAGE_BREAKS = str.maketrans("\f\v", "  ")
_UNDECODED = "\ufffd"  # what a decoder leaves for bytes it could not read
_LISTED_LINES = 20  # a refusal names this many faulty lines at most
# Form feeds (pdftotext's page breaks), byte order marks, zero-width spaces, soft hyphens.
_INVISIBLE = str.maketrans("", "", "\f\v\ufeff\u200b\u200c\u200d\u2060\u00ad")
_DEBRIS = re.compile(r"javascript:\s*void\(0\);?|javascript:;", re.IGNORECASE)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_LABEL = re.compile(r"(发布日期|发布时间|来源|原文链接|链接|摘要)\s*[：:]\s*(.*)")
_LABEL_KINDS = {"发布日期": _Kind.DATE, "发布时间": _Kind.DATE, "来源": _Kind.SOURCE,
                "原文链接": _Kind.LINK, "链接": _Kind.LINK, "摘要": _Kind.SUMMARY}
_COMMENTARY = re.compile(r"植德短评\s*[：:]?\s*(.*)")
_HEADING = re.compile(
    r"(?:[一二三四五六七八九十]{1,3}\s*[、.．]|[0-9]{1,2}\s*[、.．]|第.{1,3}(?:部分|章)\s*[：:、]?)?"
    r"\s*(政策速递|行业新闻|交易资讯)"
)
_TITLE = re.compile(r"([0-9]{1,3})\s*[.．、](?![0-9])\s*(\S.*)")
_DATE = re.compile(
    r"([0-9]{4})\s*(?:年|[-/.])\s*([0-9]{1,2})\s*(?:月|[-/.])\s*([0-9]{1,2})\s*日?"
)
_DISPLAY_LINK = re.compile(
    r"(?P<name>.+?)\s*[(（]\s*(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\s*[)）]"
)
_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_LATIN_END = re.compile(r"[A-Za-z0-9,.;:!?)%]$")  # an English word or clause ends the line
_LATIN_START = re.compile(r"[A-Za-z0-9(]")
_SENTENCE_END = "。！？!?…."
_CLOSERS = "”’\"'）)」』"
_MAX_TITLE_LINES = 4  # a title wraps over a few lines at most; more means it is body text
_PARAGRAPH_RATIO = 0.9  # "clearly shorter than the page width"


@dataclass
class _RawItem:
    """An item's lines as found, before joining."""

    line: int
    section: int
    title: list[str]
    date: _Line
    source: str
    link: list[_Line]
    link_line: int
    summary: list[str] = field(default_factory=list)
    commentary: list[str] | None = None


def parse_report(
    text: str, month: str | None = None, *, paragraph_lines: bool = False
) -> ParsedReport:
    """Parse the report's text; `month` ("YYYY-MM") overrides the month in its header.

    `paragraph_lines`: each line is a whole paragraph (text read from a PDF's text blocks or
    a Word file's paragraphs), so there is no page width to guess paragraph ends from.
    """
    if month is not None and not _MONTH.fullmatch(month):
        raise ReportFormatError(0, Reason(N_("invalid month %(month)s; expected YYYY-MM, like "
                                                 "2024-07"), month=repr(month)))
    if not text.strip():
        raise ReportFormatError(0, Reason(N_("the report is empty; expected the text of a monthly "
                                              "report")))
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    _check_is_text(raw_lines)
    cleaned = [_clean(raw) for raw in raw_lines]
    title, header_month = _find_header(cleaned)
    month = month or header_month
    if month is None:
        raise ReportFormatError(0, Reason(N_(
            "no page header with the month (like '元宇宙与数字经济月报 | 2024年 7月') found; "
            "give the month explicitly")))
    lines = [_classify(no, line, title) for no, line in enumerate(cleaned, 1)]
    raw_items = _find_items(lines)
    footer_urls = [(line.no, line.text) for line in lines if line.kind is _Kind.URL]
    width = math.inf if paragraph_lines else _page_width(
        [t for item in raw_items for t in item.summary + (item.commentary or [])])
    grouped: list[list[ParsedItem]] = [[] for _ in _SECTION_KEYS]
    for raw in raw_items:
        grouped[raw.section].append(_build_item(raw, footer_urls, width))
    sections = tuple(ParsedSection(key, SECTION_TITLES[key], tuple(items))
                     for key, items in zip(_SECTION_KEYS, grouped, strict=True))
    front = [cleaned[line.no - 1] for line in lines[:raw_items[0].line - 1]
             if line.kind not in _SKIPPED_WITH_URLS]
    missing = missing_parts(front, sections, _heading_key)
    return ParsedReport(title=title, month=month, sections=sections, missing=missing)


# --- pass 1: classify lines -------------------------------------------------------------


def _check_is_text(raw_lines: list[str]) -> None:
    """Refuse binary or damaged input: every line is single-line plain text (webapp.plain_text's
    rule) without undecodable bytes. The refusal names the first faulty line and lists the
    others, so a damaged extraction is fixed in one go."""
    faulty: list[tuple[int, Reason]] = []
    for no, raw in enumerate(raw_lines, 1):
        if (problem := find_unsafe(raw)) is not None and raw[problem.index] in "\f\v":
            problem = find_unsafe(raw.translate(_PAGE_BREAKS))
        if problem is not None and problem.line_break:
            faulty.append((no, Reason(N_("line break at character %(position)d is not allowed "
                                         "here"), position=problem.index + 1)))
        elif problem is not None:
            faulty.append((no, Reason(N_("control character U+%(code)s at character "
                                         "%(position)d"), code=f"{problem.codepoint:04X}",
                                      position=problem.index + 1)))
        elif _UNDECODED in raw:
            faulty.append((no, Reason(N_("undecodable bytes (U+FFFD) at character %(position)d"),
                                      position=raw.index(_UNDECODED) + 1)))
    if not faulty:
        return
    (first, what), others = faulty[0], [str(no) for no, _ in faulty[1:_LISTED_LINES]]
    more = len(faulty) - 1 - len(others)
    if more:
        what = Reason(N_("%(problem)s; also on lines %(lines)s and %(count)d more"),
                      problem=what, lines=", ".join(others), count=more)
    elif len(others) > 1:
        what = Reason(N_("%(problem)s; also on lines %(lines)s"), problem=what,
                      lines=", ".join(others))
    elif others:
        what = Reason(N_("%(problem)s; also on line %(lines)s"), problem=what, lines=others[0])
    raise ReportFormatError(first, Reason(N_("binary or damaged text: %(problem)s; expected the "
                                             "report's plain text"), problem=what))


def _find_header(cleaned: list[str]) -> tuple[str, str | None]:
    """The report's title and month from its first page header, or else from a cover."""
    for line in cleaned:
        if match := _HEADER.fullmatch(line):
            return match["title"].strip(), _month_of(match["y"], match["m"])
    for i, line in enumerate(cleaned):
        if _COVER_TITLE.fullmatch(line):
            # A cover prints the month on its own line just below the title.
            for below in cleaned[i + 1:i + 5]:
                if match := _COVER_MONTH.fullmatch(below):
                    return line, _month_of(match["y"], match["m"])
    return "", None


def _month_of(year: str, month: str) -> str | None:
    return f"{year}-{int(month):02d}" if 1 <= int(month) <= 12 else None


def _clean(raw: str) -> str:
    """The line without link debris, invisible characters and surrounding whitespace."""
    return _DEBRIS.sub("", raw.translate(_INVISIBLE)).strip()


def _classify(no: int, line: str, title: str) -> _Line:
    """Say what one (cleaned) line is; page noise is recognised here so later passes skip it."""
    if not line:
        return _Line(no, _Kind.BLANK, "")
    if (_HEADER.fullmatch(line) or (title and line == title)
            or _PAGE_NUMBER.fullmatch(line) or _COVER_MONTH.fullmatch(line)):
        return _Line(no, _Kind.NOISE, line)
    if _URL.fullmatch(line):
        return _Line(no, _Kind.URL, line)
    if match := _LABEL.fullmatch(line):
        return _Line(no, _LABEL_KINDS[match[1]], match[2].strip())
    if match := _COMMENTARY.fullmatch(line):
        return _Line(no, _Kind.COMMENTARY, match[1].strip())
    if match := _HEADING.fullmatch(line):
        return _Line(no, _Kind.HEADING, _KEY_OF_TITLE[match[1]])
    if match := _TITLE.fullmatch(line):
        return _Line(no, _Kind.TITLE, line, int(match[1]))
    return _Line(no, _Kind.TEXT, line)


# --- pass 2: find items -----------------------------------------------------------------


def _item_titles(lines: list[_Line]) -> set[int]:
    """Indexes of numbered lines that are item titles: the item's labels follow the (wrapped)
    title. Contents entries and numbered lines inside a summary have none. One backward pass."""
    titles: set[int] = set()
    text_run, next_kind = 0, _Kind.BLANK  # TEXT lines before the next structural line
    for i in range(len(lines) - 1, -1, -1):
        kind = lines[i].kind
        if kind is _Kind.TITLE and next_kind in _LABELS and text_run < _MAX_TITLE_LINES:
            titles.add(i)
        if kind is _Kind.TEXT:
            text_run += 1
        elif kind not in _SKIPPED_WITH_URLS:
            text_run, next_kind = 0, kind
    return titles


class _Cursor:
    """Walks the classified lines, skipping blanks and page noise."""

    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.i = 0
        self.item_titles = _item_titles(lines)

    def peek(self, *, keep_urls: bool = False) -> _Line | None:
        """The next meaningful line; footer URLs are noise unless `keep_urls`."""
        skip = _SKIPPED if keep_urls else _SKIPPED_WITH_URLS
        while self.i < len(self.lines) and self.lines[self.i].kind in skip:
            self.i += 1
        return self.lines[self.i] if self.i < len(self.lines) else None

    def take(self) -> _Line:
        line = self.lines[self.i]
        self.i += 1
        return line

    def at_item_title(self) -> bool:
        return self.i in self.item_titles


def _find_items(lines: list[_Line]) -> list[_RawItem]:
    """Collect every item's raw lines, assigning sections by headings or restarted numbering."""
    cursor = _Cursor(lines)
    items: list[_RawItem] = []
    section, heading = 0, -1  # heading: a heading seen since the last item, or -1
    front_headings: list[int] = []  # headings before the first item (a contents list has all)
    while (line := cursor.peek()) is not None:
        if line.kind is _Kind.HEADING:
            heading = _SECTION_KEYS.index(line.text)
            if not items:
                front_headings.append(heading)
            cursor.take()
        elif cursor.at_item_title():
            if not items and len(set(front_headings)) > 1 and front_headings.count(heading) < 2:
                heading = -1  # the last heading of a contents list, not the body's own heading
            section = _section_for(line, heading, section, items)
            items.append(_read_item(cursor, section))
            heading = -1
        elif line.kind in _LABELS or line.kind is _Kind.COMMENTARY:
            raise ReportFormatError(line.no, Reason(N_(
                "'%(label)s' without an item title before it; expected a numbered title like "
                "'1. 标题'"), label=line.kind.value))
        else:  # cover, contents, preface: not items
            cursor.take()
    if not items:
        first = next((line.no for line in lines if line.kind is not _Kind.BLANK), 0)
        raise ReportFormatError(first, Reason(N_(
            "no items found; expected numbered item titles, each followed by '发布日期：', "
            "'来源：', '链接：' and '摘要：'")))
    return items


def _section_for(title: _Line, heading: int, section: int, items: list[_RawItem]) -> int:
    """The section of the item starting at `title`: its heading, or the next one when the
    numbering restarts at 1 (reports often lose their section headings)."""
    if heading >= 0:
        if heading < section:
            name = SECTION_TITLES[_SECTION_KEYS[heading]]
            raise ReportFormatError(title.no, Reason(N_("section '%(section)s' out of order; "
                                                        "expected 政策速递 → 行业新闻 → 交易资讯"),
                                                     section=name))
        return heading
    if title.number == 1 and items and items[-1].section == section:
        if section == len(_SECTION_KEYS) - 1:
            raise ReportFormatError(title.no, Reason(N_(
                "numbering restarts at 1 after the last section (交易资讯); expected at most "
                "three sections")))
        return section + 1
    return section


def _expect(cursor: _Cursor, kind: _Kind, after: Reason) -> _Line:
    line = cursor.peek()
    if line is None:
        raise ReportFormatError(cursor.lines[-1].no, Reason(
            N_("expected '%(label)s' after %(after)s, found the end of the report"),
            label=kind.value, after=after))
    if line.kind is not kind:
        raise ReportFormatError(line.no, Reason(
            N_("expected '%(label)s' after %(after)s, found '%(found)s'"),
            label=kind.value, after=after, found=_describe(line)))
    return cursor.take()


def _heading_key(text: str) -> str | None:
    """The key of the section `text` is the heading of, or None."""
    match = _HEADING.fullmatch(text)
    return _KEY_OF_TITLE[match[1]] if match else None


def _describe(line: _Line) -> str:
    if line.kind is _Kind.HEADING:
        return SECTION_TITLES[line.text]
    return line.kind.value if line.kind in (*_LABELS, _Kind.COMMENTARY) else line.text[:30]


def _label_value(cursor: _Cursor, label: _Line, what: Reason) -> _Line:
    """A label's value: on the label's line, or alone on the next line."""
    if label.text:
        return label
    line = cursor.peek()
    if line is None or line.kind is not _Kind.TEXT:
        raise ReportFormatError(label.no, Reason(N_("expected %(what)s after '%(label)s'"),
                                                 what=what, label=label.kind.value))
    return cursor.take()


def _read_item(cursor: _Cursor, section: int) -> _RawItem:
    title_line = cursor.take()
    numbered = _TITLE.fullmatch(title_line.text)
    assert numbered is not None  # nosec B101: only TITLE lines are item titles
    title = [numbered[2].strip()]
    while (line := cursor.peek()) is not None and line.kind is _Kind.TEXT:
        title.append(cursor.take().text)
    date = _label_value(cursor, _expect(cursor, _Kind.DATE, _ITEM_TITLE), _DATE_TEXT)
    source = _label_value(cursor, _expect(cursor, _Kind.SOURCE, _DATE_TEXT), _SOURCE_TEXT)
    link_label = _expect(cursor, _Kind.LINK, _SOURCE_TEXT)
    link = [link_label] if link_label.text else []
    while (line := cursor.peek(keep_urls=True)) is not None and line.kind in (
            _Kind.URL, _Kind.TEXT, _Kind.TITLE):  # a wrapped URL's tail may look numbered
        link.append(cursor.take())
    summary_label = _expect(cursor, _Kind.SUMMARY, _LINK_TEXT)
    item = _RawItem(title_line.no, section, title, date, source.text, link, link_label.no)
    item.summary = _read_body(cursor, summary_label, item)
    if (line := cursor.peek()) is not None and line.kind is _Kind.COMMENTARY:
        item.commentary = _read_body(cursor, cursor.take(), item)
    return item


def _read_body(cursor: _Cursor, label: _Line, item: _RawItem) -> list[str]:
    """Summary or commentary lines up to the next part, item or heading."""
    body = [label.text] if label.text else []
    while (line := cursor.peek()) is not None:
        if line.kind in (_Kind.HEADING, _Kind.COMMENTARY) or cursor.at_item_title():
            break
        if line.kind in _LABELS:
            raise ReportFormatError(line.no, Reason(
                N_("unexpected '%(label)s' in the item that starts at line %(line)d; expected a "
                   "numbered title before it"), label=line.kind.value, line=item.line))
        body.append(cursor.take().text)
    if not body:
        raise ReportFormatError(label.no, Reason(N_("expected text after '%(label)s'"),
                                                 label=label.kind.value))
    return body


# --- pass 3: build items ----------------------------------------------------------------


def _build_item(raw: _RawItem, footer_urls: list[tuple[int, str]], width: float) -> ParsedItem:
    return ParsedItem(
        title=_join_lines(raw.title),
        published_on=_parse_date(raw.date),
        source=raw.source,
        url=_resolve_link(raw, footer_urls),
        summary=_paragraphs(raw.summary, width),
        commentary=None if raw.commentary is None else _paragraphs(raw.commentary, width),
        line=raw.line,
    )


def _parse_date(line: _Line) -> datetime.date:
    match = _DATE.fullmatch(line.text)
    try:
        if match:
            return datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        pass
    raise ReportFormatError(line.no, Reason(N_("invalid date '%(date)s'; expected a date like "
                                               "2024年 7月 24日"), date=line.text))


def _resolve_link(raw: _RawItem, footer_urls: list[tuple[int, str]]) -> str:
    """The item's URL: the last URL before '摘要：', wrapped lines joined."""
    groups: list[list[_Line]] = []
    for line in raw.link:
        starts = (_URL.match(line.text) is not None or _DISPLAY_LINK.fullmatch(line.text)
                  is not None or not groups)
        if starts:
            groups.append([line])
        else:
            groups[-1].append(line)
    if not groups:
        raise ReportFormatError(raw.link_line, Reason(N_("expected a link after '链接：'")))
    last = groups[-1]
    value = "".join(line.text for line in last)
    if not _URL.fullmatch(value) and (display := _DISPLAY_LINK.fullmatch(value)):
        value = _url_for_display(display["name"], display["host"], last[0].no, footer_urls)
    try:
        return check_http_url(value)
    except (UnsafeText, UnsafeUrl):
        raise ReportFormatError(last[0].no, Reason(N_("link '%(link)s' is not an http(s) URL "
                                                      "with a host"), link=value[:80])) from None


def _url_for_display(name: str, host: str, no: int, footer_urls: list[tuple[int, str]]) -> str:
    """Resolve link text like 'X.pdf (host)' from that page's footer URL lines."""
    host = host.lower()

    def on_host(url: str) -> bool:
        parts = _split_url(url)
        netloc = (parts.hostname or "") if parts else ""
        return netloc == host or netloc.endswith("." + host)

    # The page's footer follows the link; earlier footers are a fallback.
    after = [(line_no, url) for line_no, url in footer_urls if line_no > no]
    before = [url for line_no, url in reversed(footer_urls) if line_no < no and on_host(url)]
    for url in [url for _, url in after if on_host(url)] + before:
        if name.strip() in unquote(url):
            return url
    # Link text that is a page title, not a file name: take the one URL on that host in the
    # footer block right after the link.
    block = [url for i, (line_no, url) in enumerate(after) if line_no - i == after[0][0]]
    candidates = {url for url in block if on_host(url)}
    if len(candidates) == 1:
        return candidates.pop()
    raise ReportFormatError(no, Reason(N_("link text '%(name)s (%(host)s)' has no matching URL "
                                          "in the page's footer; expected a full http(s) URL"),
                                       name=name, host=host))


def _split_url(value: str) -> SplitResult | None:
    """The URL's parts, or None when it is not one URL (urlsplit raises on bad brackets)."""
    try:
        return urlsplit(value) if _URL.fullmatch(value) else None
    except ValueError:
        return None


def _page_width(lines: list[str]) -> float:
    """The page width: a high percentile of line widths, as a few lines run long.

    Text wrapped at a page width has many lines close to it; text typed in without wrapping
    (or too little text to tell) has no page width, and every sentence ends a paragraph.
    """
    widths = sorted(_width(line) for line in lines)
    width = widths[int(len(widths) * 0.9)] if widths else 0
    full = sum(1 for w in widths if w >= width * _PARAGRAPH_RATIO)
    return width if len(widths) >= 10 and full >= len(widths) / 3 else math.inf


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _ends_sentence(text: str) -> bool:
    stripped = text.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _SENTENCE_END


def _paragraphs(lines: list[str], width: float) -> str:
    """Join wrapped lines; a sentence-ending line clearly shorter than the page ends a paragraph."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        paragraphs[-1].append(line)
        if _ends_sentence(line) and _width(line) < width * _PARAGRAPH_RATIO:
            paragraphs.append([])
    return "\n\n".join(_join_lines(p) for p in paragraphs if p)


def _join_lines(lines: list[str]) -> str:
    """Join wrapped lines: one space between two Latin words, nothing otherwise."""
    joined = ""
    for line in lines:
        if joined and _LATIN_END.search(joined) and _LATIN_START.match(line):
            joined += " "
        joined += line
    return joined
