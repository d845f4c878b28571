"""A PDF's text, through pdfminer.six: the page furniture (running header and footer, page
numbers) left out but for the first header, which names the report and the month, and each
paragraph's wrapped lines joined into one line, told by where the lines sit on the page."""

from __future__ import annotations

import io
import itertools
import logging
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from webapp.editions.importer.errors import (
    DamagedFile,
    Origin,
    PdfNeedsPassword,
    PdfWithoutText,
)

log = logging.getLogger(__name__)

_PAGE_BAND = 0.09  # headers and footers sit in the top and bottom 9% of a page
_PAGE_NUMBER = re.compile(
    r"[-—–(（]?\s*(第\s*)?[0-9]{1,4}\s*(页|/\s*[0-9]{1,4}|of\s+[0-9]{1,4})?\s*[-—–)）]?"
    r"|(page|p\.)\s*[0-9]{1,4}(\s*(/|of)\s*[0-9]{1,4})?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _PdfLine:
    page: int
    text: str
    band: Literal["top", "body", "bottom"]
    block: int  # pdfminer's text box: lines of one box belong together
    left: float  # where the line starts and ends, and its height: a line that reaches the
    right: float  # right margin wrapped, and a line that starts indented starts a paragraph
    height: float
    top: float  # pdfminer's y, upwards from the page's foot
    bottom: float


def read_pdf(data: bytes) -> list[tuple[str, Origin]]:
    """The PDF's text lines, a paragraph to a line, each with its page."""
    # A file cut off in transfer loses its cross-reference table and `%%EOF`; pdfminer would
    # still read the pages it finds, and a report missing its last pages must not import.
    if b"%%EOF" not in data[-2048:]:
        raise DamagedFile("pdf")
    pdf_lines = list(_pdf_lines(data))
    if not any(line.text.strip() for line in pdf_lines):
        raise PdfWithoutText
    kept = _without_page_furniture(pdf_lines)
    body = [line for line in kept if line.band == "body"]
    # Most body lines are wrapped ones, ending at the right margin; a high percentile rather
    # than the maximum, as a long URL or a line of narrow Latin letters may run past it.
    rights = sorted(line.right for line in body)
    margins = (min((line.left for line in body), default=0.0),
               rights[int(len(rights) * 0.9)] if rights else 0.0)
    # Lines inside a paragraph outnumber paragraph breaks: the median gap is the line spacing.
    gaps = sorted(a.bottom - b.top for a, b in itertools.pairwise(body)
                  if a.page == b.page and a.bottom > b.top)
    line_gap = gaps[len(gaps) // 2] if gaps else 0.0
    indented = sum(1 for line in body if _indented(line, margins[0]))
    layout = _Layout(margins, line_gap, indents=indented >= len(body) / 20)
    lines: list[tuple[str, Origin]] = []
    previous: _PdfLine | None = None
    for line in kept:
        if previous is not None and _continues(previous, line, layout):
            lines[-1] = (_join(lines[-1][0], line.text.strip()), lines[-1][1])
        else:
            lines.append((line.text.strip(), Origin(page=line.page)))
        previous = line
    return lines


@dataclass(frozen=True)
class _Layout:
    margins: tuple[float, float]  # the body text's left and right edges
    line_gap: float  # the space between two lines of a paragraph
    indents: bool  # paragraphs start with an indented line


def _indented(line: _PdfLine, left: float) -> bool:
    return line.left > left + line.height


def _continues(previous: _PdfLine, line: _PdfLine, layout: _Layout) -> bool:
    """The line goes on from the previous one, so a paragraph becomes one line, as in Word:
    the previous line was wrapped at the right margin, this one is not indented, and it
    follows at the usual line spacing (in the same text box, or pdfminer split the paragraph)
    or at the top of the next page. Without indents, a full line that ends a sentence may end
    its paragraph too; it is taken to, as joining a paragraph to a label would lose the label."""
    if previous.band != "body" or line.band != "body" or not previous.text.strip():
        return False
    left, right = layout.margins
    # Left-aligned CJK text stops up to a character or two short of the margin.
    if previous.right < right - 2 * previous.height or _indented(line, left):
        return False
    if not layout.indents and previous.text.rstrip().rstrip(_CLOSERS)[-1:] in _SENTENCE_END:
        return False
    if line.page == previous.page + 1:
        return True
    if line.page != previous.page:
        return False
    return (previous.page, previous.block) == (line.page, line.block) or (
        previous.bottom - line.top <= layout.line_gap + 0.25 * previous.height)


_SENTENCE_END = "。！？!?…"
_CLOSERS = "”’\"'）)」』"
_LATIN_END = re.compile(r"[A-Za-z0-9,.;:!?)%™®©'\"]$")
_LATIN_START = re.compile(r"[A-Za-z0-9(]")
_URL_END = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*$")


def _join(text: str, more: str) -> str:
    """The parser's rule for wrapped lines: a space between two Latin words, none otherwise
    (and none inside a URL that wrapped). A PDF drops the space a line wrapped at."""
    latin = _LATIN_END.search(text) and _LATIN_START.match(more)
    return text + (" " if latin and not _URL_END.search(text) else "") + more


def _pdf_lines(data: bytes) -> Iterator[_PdfLine]:
    """Every text line of every page, in pdfminer's reading order, with its place on the page."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextBox, LTTextLine
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfminer.psexceptions import PSException

    # pdfminer warns about every CJK font without a bounding box: noise, not news.
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    try:
        for number, page in enumerate(extract_pages(io.BytesIO(data), laparams=LAParams()), 1):
            top, bottom = page.height * (1 - _PAGE_BAND), page.height * _PAGE_BAND
            for block, box in enumerate(page):
                if not isinstance(box, LTTextBox):
                    continue
                for line in box:
                    if not isinstance(line, LTTextLine):
                        continue
                    text = line.get_text().rstrip("\r\n")
                    band: Literal["top", "body", "bottom"] = (
                        "top" if line.y0 >= top else "bottom" if line.y1 <= bottom else "body"
                    )
                    yield _PdfLine(number, text, band, block, line.x0, line.x1, line.height,
                                   line.y1, line.y0)
    except PDFPasswordIncorrect:
        raise PdfNeedsPassword from None
    except (PSException, RecursionError, MemoryError) as error:
        log.info("unreadable PDF: %r", error)
        raise DamagedFile("pdf") from None
    except Exception as error:
        # pdfminer meets broken files with whatever its code runs into (KeyError, TypeError,
        # zlib errors…); any of them means the file cannot be read, never a server error.
        log.info("unreadable PDF: %r", error, exc_info=True)
        raise DamagedFile("pdf") from None


def _furniture_key(text: str) -> str:
    """A header or footer's text with its page number taken out, to find it on every page."""
    return re.sub(r"[0-9]+", "#", " ".join(text.split()))


def _without_page_furniture(lines: list[_PdfLine]) -> list[_PdfLine]:
    """Drop page numbers and the running header and footer (the same text at the top or bottom
    of most pages); the header's first occurrence stays, as it names the report and month."""
    pages = len({line.page for line in lines})
    on_pages: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[int, str, str]] = set()
    for line in lines:
        if line.band != "body":
            key = (line.band, _furniture_key(line.text))
            if (line.page, *key) not in seen:
                seen.add((line.page, *key))
                on_pages[key] += 1
    running = {key for key, count in on_pages.items()
               if count >= max(2, math.ceil(pages / 2)) and key[1].strip()}
    kept: list[_PdfLine] = []
    kept_once: set[tuple[str, str]] = set()
    for line in lines:
        if line.band == "body":
            kept.append(line)
            continue
        key = (line.band, _furniture_key(line.text))
        if _PAGE_NUMBER.fullmatch(line.text.strip()):
            continue
        if key in running:
            if line.band == "top" and key not in kept_once:
                kept_once.add(key)
                kept.append(line)
            continue
        kept.append(line)
    return kept
