"""A report file's lines, whatever it came as: PDF, Word (.docx) or plain text.

The kind is told from the bytes, never from the file's name: `%PDF-` opens a PDF, a ZIP holding
`word/document.xml` is a Word file, anything else must decode as UTF-8 (with or without a byte
order mark), UTF-16 with a byte order mark, or GB18030. Every line keeps where it came from (a
PDF's page, a Word file's paragraph), so an error in the text can name the place in the file.
Files the importer cannot use are refused with a `ReportFileError` saying why.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Literal

from webapp.editions.importer.errors import Origin, ReportFormatError

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 20 * 1024 * 1024
MAX_REPORT_MB = MAX_REPORT_BYTES // (1024 * 1024)

Kind = Literal["pdf", "docx", "text"]


class ReportFileError(ReportFormatError):
    """A file the importer cannot read at all; each subclass is one reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, reason)


class NotAReportFile(ReportFileError):
    def __init__(self) -> None:
        super().__init__("the file is not a PDF, a Word file (.docx) or a text file")


class ReportTooLarge(ReportFileError):
    def __init__(self) -> None:
        self.limit_mb = MAX_REPORT_MB
        super().__init__(f"the file is larger than {MAX_REPORT_MB} MB")


class PdfNeedsPassword(ReportFileError):
    def __init__(self) -> None:
        super().__init__("this PDF needs a password to open; export it again without one")


class PdfWithoutText(ReportFileError):
    def __init__(self) -> None:
        super().__init__("this PDF has no text (it is a scan or a picture); "
                         "export it from Word again")


class DamagedFile(ReportFileError):
    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        name = {"pdf": "PDF", "docx": "Word file", "text": "text file"}[kind]
        super().__init__(f"this {name} is damaged or incomplete and cannot be read")


class WordWithMacros(ReportFileError):
    def __init__(self) -> None:
        super().__init__("this Word file contains macros (.docm); save it as a plain Word "
                         "document (.docx) and import that")


@dataclass(frozen=True)
class ReportSource:
    """The report's text, line by line, with where each line came from (None for text files)."""

    kind: Kind
    lines: tuple[str, ...]
    origins: tuple[Origin | None, ...]
    encoding: str = ""  # the text file's encoding; "" for PDF and Word

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def origin(self, line: int) -> Origin | None:
        """Where 1-based `line` came from; None for a text file or line 0."""
        return self.origins[line - 1] if 0 < line <= len(self.origins) else None


def read_limited(stream: IO[bytes], limit: int = MAX_REPORT_BYTES) -> bytes:
    """At most `limit` bytes of an upload; ReportTooLarge without reading further."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ReportTooLarge
    return data


def read_report_file(data: bytes) -> ReportSource:
    """The report's lines from a file's bytes; ReportFileError when it cannot be read."""
    if len(data) > MAX_REPORT_BYTES:
        raise ReportTooLarge
    if b"%PDF-" in data[:1024]:  # the PDF header may follow a little junk
        return _read_pdf(data)
    if data.startswith(b"PK\x03\x04"):
        return _read_docx(data)
    return _read_text(data)


# --- text ---------------------------------------------------------------------------------

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Binary formats that decode as GB18030 by chance are caught by their NUL bytes; these are
# refused by their signature (the old .doc and .xls, images) for a clearer reason.
_BINARY_SIGNATURES = (b"\xd0\xcf\x11\xe0", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")


def _read_text(data: bytes) -> ReportSource:
    if data.startswith(_BINARY_SIGNATURES):
        raise NotAReportFile
    text, encoding = _decode(data)
    if "\x00" in text:
        raise NotAReportFile
    lines = tuple(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return ReportSource("text", lines, (None,) * len(lines), encoding=encoding)


def _decode(data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                raise DamagedFile("text") from None
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise NotAReportFile


# --- PDF ----------------------------------------------------------------------------------

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


def _read_pdf(data: bytes) -> ReportSource:
    # A file cut off in transfer loses its cross-reference table and `%%EOF`; pdfminer would
    # still read the pages it finds, and a report missing its last pages must not import.
    if b"%%EOF" not in data[-2048:]:
        raise DamagedFile("pdf")
    pdf_lines = list(_pdf_lines(data))
    if not any(line.text.strip() for line in pdf_lines):
        raise PdfWithoutText
    kept = _without_page_furniture(pdf_lines)
    body = [line for line in kept if line.band == "body"]
    margins = (min((line.left for line in body), default=0.0),
               max((line.right for line in body), default=0.0))
    # Lines inside a paragraph outnumber paragraph breaks: the median gap is the line spacing.
    gaps = sorted(a.bottom - b.top for a, b in itertools.pairwise(body)
                  if a.page == b.page and a.bottom > b.top)
    line_gap = gaps[len(gaps) // 2] if gaps else 0.0
    lines: list[str] = []
    origins: list[Origin | None] = []
    previous: _PdfLine | None = None
    for line in kept:
        if previous is not None and _continues(previous, line, margins, line_gap):
            lines[-1] = _join(lines[-1], line.text.strip())
        else:
            lines.append(line.text.strip())
            origins.append(Origin(page=line.page))
        previous = line
    return ReportSource("pdf", tuple(lines), tuple(origins))


def _continues(
    previous: _PdfLine, line: _PdfLine, margins: tuple[float, float], line_gap: float
) -> bool:
    """The line goes on from the previous one, so a paragraph becomes one line, as in Word:
    the previous line was wrapped at the right margin, this one is not indented, and it
    follows at the usual line spacing (in the same text box, or pdfminer split the paragraph)
    or at the top of the next page."""
    if previous.band != "body" or line.band != "body" or not previous.text.strip():
        return False
    left, right = margins
    if previous.right < right - 1.5 * previous.height or line.left > left + previous.height:
        return False
    if line.page == previous.page + 1:
        return True
    if line.page != previous.page:
        return False
    return (previous.page, previous.block) == (line.page, line.block) or (
        previous.bottom - line.top <= line_gap + 0.25 * previous.height)


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


# --- Word ---------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def _read_docx(data: bytes) -> ReportSource:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        content_types = (archive.read("[Content_Types].xml")
                         if "[Content_Types].xml" in names else b"")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
        raise DamagedFile("docx") from None
    if "word/vbaProject.bin" in names or b"macroEnabled" in content_types:
        raise WordWithMacros
    if "word/document.xml" not in names:
        raise NotAReportFile  # another ZIP: a spreadsheet, a presentation, an archive
    try:
        return _docx_lines(data)
    except ReportFileError:
        raise
    except Exception as error:
        # python-docx and lxml meet a broken package with KeyError, XMLSyntaxError, ValueError…
        log.info("unreadable Word file: %r", error, exc_info=True)
        raise DamagedFile("docx") from None


def _docx_lines(data: bytes) -> ReportSource:
    """The header, then the body in reading order: paragraphs, tables cell by cell, and content
    controls (`w:sdt`, where Word keeps its automatic table of contents), which python-docx's
    own paragraph list skips."""
    import docx

    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    origins: list[Origin | None] = []
    header_seen: set[str] = set()
    for section in document.sections:
        for part in (section.first_page_header, section.header):
            if part.is_linked_to_previous:
                continue
            for paragraph in part._element.iter(f"{_W}p"):
                text = _paragraph_text(paragraph)
                if text.strip() and text not in header_seen:
                    header_seen.add(text)
                    for piece in text.split("\n"):
                        lines.append(piece)
                        origins.append(Origin(part="header"))
    numbering = _Numbering(document)
    for number, paragraph in enumerate(_body_paragraphs(document.element.body), 1):
        text = numbering.label(paragraph) + _paragraph_text(paragraph)
        for piece in text.split("\n"):
            lines.append(piece)
            origins.append(Origin(paragraph=number))
    return ReportSource("docx", tuple(lines), tuple(origins))


def _body_paragraphs(element: object) -> Iterator[object]:
    """`w:p` elements in reading order, inside tables and content controls too."""
    for child in element:  # type: ignore[attr-defined]
        tag = child.tag
        if tag == f"{_W}p":
            yield child
        elif tag in (f"{_W}tbl", f"{_W}tr", f"{_W}tc", f"{_W}sdt", f"{_W}sdtContent",
                     f"{_W}customXml", f"{_W}smartTag"):
            yield from _body_paragraphs(child)


def _paragraph_text(paragraph: object) -> str:
    """A paragraph's visible text: runs, hyperlinks, fields' results and inline content
    controls; tabs and line breaks kept; field codes, deleted text and fallbacks left out."""
    parts: list[str] = []

    def walk(element: object) -> None:
        for child in element:  # type: ignore[attr-defined]
            tag = child.tag
            if tag == f"{_W}t":
                parts.append(child.text or "")
            elif tag == f"{_W}tab":
                parts.append("\t")
            elif tag in (f"{_W}br", f"{_W}cr"):
                parts.append("\n")
            elif tag == f"{_W}noBreakHyphen":
                parts.append("-")
            elif tag in (f"{_W}p", f"{_W}pPr", f"{_W}rPr", _MC_FALLBACK, f"{_W}del"):
                continue  # a nested paragraph is a text box's: not part of this line
            elif isinstance(tag, str):
                walk(child)

    walk(paragraph)
    return "".join(parts)


_CHINESE_DIGITS = "零一二三四五六七八九"


def _chinese(n: int) -> str:
    """1–99 as Chinese numerals (一, 十, 十一, 二十三): how Word counts `chineseCounting`."""
    if n < 10:
        return _CHINESE_DIGITS[n]
    tens, ones = divmod(n, 10)
    return (_CHINESE_DIGITS[tens] if tens > 1 else "") + "十" + (
        _CHINESE_DIGITS[ones] if ones else "")


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"),
                           (90, "xc"), (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"),
                           (4, "iv"), (1, "i")):
        count, n = divmod(n, value)
        out += letters * count
    return out


def _letters(n: int) -> str:
    return chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)


_FORMATS: dict[str, Callable[[int], str]] = {
    "decimal": str,
    "decimalZero": lambda n: f"{n:02d}",
    "decimalFullWidth": lambda n: "".join(chr(ord(c) + 0xFEE0) for c in str(n)),
    "chineseCounting": _chinese,
    "chineseCountingThousand": _chinese,
    "ideographTraditional": lambda n: "甲乙丙丁戊己庚辛壬癸"[(n - 1) % 10],
    "lowerLetter": _letters,
    "upperLetter": lambda n: _letters(n).upper(),
    "lowerRoman": _roman,
    "upperRoman": lambda n: _roman(n).upper(),
}


class _Numbering:
    """Word's automatic numbers ("1.", "一、"), which are not in a paragraph's text but are what
    the report's numbered item titles and headings start with. Lists are counted per list
    (numId), a level restarting under a new number of the level above; bullets give nothing."""

    def __init__(self, document: object) -> None:
        self.levels: dict[str, dict[int, tuple[int, str, str, str]]] = {}
        self.styles: dict[str, tuple[str, int]] = {}
        self.counters: dict[str, list[int]] = {}
        try:
            root = document.part.numbering_part.element  # type: ignore[attr-defined]
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract: dict[str, dict[int, tuple[int, str, str, str]]] = {}
        for definition in root.iter(f"{_W}abstractNum"):
            levels: dict[int, tuple[int, str, str, str]] = {}
            for level in definition.iter(f"{_W}lvl"):
                levels[int(level.get(f"{_W}ilvl", "0"))] = (
                    int(_val(level, "start") or "1"), _val(level, "numFmt") or "decimal",
                    _val(level, "lvlText") or "", _val(level, "suff") or "tab")
            abstract[definition.get(f"{_W}abstractNumId", "")] = levels
        for num in root.iter(f"{_W}num"):
            levels = dict(abstract.get(_val(num, "abstractNumId") or "", {}))
            for override in num.iter(f"{_W}lvlOverride"):
                start = _val(override, "startOverride")
                ilvl = int(override.get(f"{_W}ilvl", "0"))
                if start and ilvl in levels:
                    levels[ilvl] = (int(start), *levels[ilvl][1:])
            self.levels[num.get(f"{_W}numId", "")] = levels
        for style in document.styles.element.iter(f"{_W}style"):  # type: ignore[attr-defined]
            numbered = _num_pr(style)
            if numbered is not None:
                self.styles[style.get(f"{_W}styleId", "")] = numbered

    def label(self, paragraph: object) -> str:
        """The paragraph's number as Word shows it, with the space after it; "" for none."""
        numbered = _num_pr(paragraph)
        if numbered is None:
            style = paragraph.find(f"{_W}pPr/{_W}pStyle")  # type: ignore[attr-defined]
            numbered = self.styles.get(style.get(f"{_W}val", "")) if style is not None else None
        if numbered is None or numbered[0] not in self.levels:
            return ""
        num_id, ilvl = numbered
        levels = self.levels[num_id]
        if ilvl not in levels:
            return ""
        counts = self.counters.setdefault(num_id, [0] * 9)
        counts[ilvl] += 1
        for deeper in range(ilvl + 1, 9):
            counts[deeper] = 0
        _, fmt, text, suffix = levels[ilvl]
        if fmt not in _FORMATS:  # bullets, none, formats we do not know
            return ""
        for level in range(ilvl + 1):
            start, level_fmt = levels.get(level, (1, "decimal", "", ""))[:2]
            shown = _FORMATS.get(level_fmt, str)(start - 1 + max(counts[level], 1))
            text = text.replace(f"%{level + 1}", shown)
        return text + ("" if suffix == "nothing" else " ")


def _val(element: object, tag: str) -> str | None:
    child = element.find(f"{_W}{tag}")  # type: ignore[attr-defined]
    return None if child is None else child.get(f"{_W}val")


def _num_pr(element: object) -> tuple[str, int] | None:
    """(numId, level) of a paragraph's or style's own numbering; None without (or numId 0)."""
    num_pr = element.find(f"{_W}pPr/{_W}numPr")  # type: ignore[attr-defined]
    if num_pr is None:
        return None
    num_id = _val(num_pr, "numId")
    if not num_id or num_id == "0":
        return None
    return num_id, int(_val(num_pr, "ilvl") or "0")
