"""A Word file's text, through python-docx: the header, then the body in reading order
(paragraphs, headings, tables, and the content controls that hold Word's automatic table of
contents), with Word's automatic list numbers written out as the reader sees them."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator

from webapp.editions.importer.errors import (
    DamagedFile,
    NotAReportFile,
    Origin,
    ReportFileError,
    WordWithMacros,
)

log = logging.getLogger(__name__)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def read_docx(data: bytes) -> list[tuple[str, Origin]]:
    """The Word file's lines (a paragraph to a line), each with its paragraph or the header."""
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


def _docx_lines(data: bytes) -> list[tuple[str, Origin]]:
    """The header, then the body in reading order: paragraphs, tables cell by cell, and content
    controls (`w:sdt`, where Word keeps its automatic table of contents), which python-docx's
    own paragraph list skips."""
    import docx

    document = docx.Document(io.BytesIO(data))
    lines: list[tuple[str, Origin]] = []
    header_seen: set[str] = set()
    for section in document.sections:
        for part in (section.first_page_header, section.header):
            if part.is_linked_to_previous:
                continue
            for paragraph in part._element.iter(f"{_W}p"):
                text = _paragraph_text(paragraph)
                if text.strip() and text not in header_seen:
                    header_seen.add(text)
                    lines.extend((piece, Origin(part="header")) for piece in text.split("\n"))
    numbering = _Numbering(document)
    for number, paragraph in enumerate(_body_paragraphs(document.element.body), 1):
        text = numbering.label(paragraph) + _paragraph_text(paragraph)
        lines.extend((piece, Origin(paragraph=number)) for piece in text.split("\n"))
    return lines


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
