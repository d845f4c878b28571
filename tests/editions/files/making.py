"""Report files made from the sample's parsed text, as the firm's editors would have them: a
PDF printed by headless Chromium (page header and numbers, Noto CJK, its own wrapping) and a
Word file written by python-docx (header, automatic table of contents, a table)."""

from __future__ import annotations

import html
import io
import zipfile
from collections.abc import Iterator

import docx
from docx.enum.text import WD_BREAK
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docx.shared import Pt
from playwright.sync_api import Browser

from webapp.editions.importer.parser import ParsedItem, ParsedReport

HEADER = "元宇宙与数字经济月报 | 2024年 7月"
_NUMERALS = "一二三"


def _date(item: ParsedItem) -> str:
    day = item.published_on
    return f"{day.year}年{day.month}月{day.day}日"


def _paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def report_html(report: ParsedReport, *, body: str = "") -> str:
    """The report as one HTML page, in the layout of the firm's report."""
    parts = [f"<h1>{html.escape(report.title)}</h1><p class=month>2024年7月</p>"
             "<div class=break></div>"]
    for n, section in enumerate(report.sections):
        parts.append(f"<h2>{_NUMERALS[n]}、{section.title}</h2>")
        for number, item in enumerate(section.items, 1):
            parts.append(f"<h3>{number}. {html.escape(item.title)}</h3>")
            parts.append(f"<p>发布日期：{_date(item)}</p><p>来源：{html.escape(item.source)}</p>")
            parts.append(f"<p>链接：<a class=url href='{html.escape(item.url)}'>"
                         f"{html.escape(item.url)}</a></p><p>摘要：</p>")
            parts.extend(f"<p>{html.escape(p)}</p>" for p in _paragraphs(item.summary))
            if item.commentary:
                parts.append("<p><b>植德短评</b></p>")
                parts.extend(f"<p>{html.escape(p)}</p>" for p in _paragraphs(item.commentary))
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><style>"
        "body{font-family:'Noto Sans CJK SC',sans-serif;font-size:10.5pt;line-height:1.6}"
        "h1{font-size:24pt;margin-top:40%;text-align:center}.month{text-align:center}"
        "p{text-indent:2em;margin:.5em 0}.break{page-break-after:always}.url{word-break:break-all}"
        "</style></head><body>" + (body or "".join(parts)) + "</body></html>"
    )


def print_pdf(browser: Browser, page_html: str) -> bytes:
    """Chromium's print of the page: A4, the report's page header, page numbers."""
    page = browser.new_page()
    try:
        page.set_content(page_html)
        return page.pdf(
            format="A4",
            display_header_footer=True,
            header_template=(
                "<div style=\"font-family:'Noto Sans CJK SC';font-size:9px;width:100%;"
                f"text-align:center\">{HEADER}</div>"
            ),
            footer_template=(
                "<div style='font-size:9px;width:100%;text-align:center'>"
                "<span class=pageNumber></span></div>"
            ),
            margin={"top": "25mm", "bottom": "20mm", "left": "22mm", "right": "22mm"},
        )
    finally:
        page.close()


def report_pdf(browser: Browser, report: ParsedReport) -> bytes:
    return print_pdf(browser, report_html(report))


def scanned_pdf(browser: Browser, report: ParsedReport) -> bytes:
    """A 'scan': the first page of the report as a picture, with no text layer."""
    page = browser.new_page(viewport={"width": 794, "height": 1123})
    try:
        page.set_content(report_html(report))
        picture = page.screenshot(type="png")
    finally:
        page.close()
    import base64

    image = base64.b64encode(picture).decode()
    blank = "<html><body style='margin:0'><img style='width:100%' src='data:image/png;base64,"
    page = browser.new_page()
    try:
        page.set_content(blank + image + "'></body></html>")
        return page.pdf(format="A4")
    finally:
        page.close()


# --- Word ---------------------------------------------------------------------------------


def _toc(report: ParsedReport) -> object:
    """Word's automatic table of contents: a `w:sdt` block python-docx's paragraphs skip."""
    entries = []
    for n, section in enumerate(report.sections):
        entries.append(f"{_NUMERALS[n]}、{section.title}\t1")
        entries.extend(f"{number}. {item.title}\t{number + 1}"
                       for number, item in enumerate(section.items, 1))
    paragraphs = "".join(
        f"<w:p><w:pPr><w:pStyle w:val='TOC1'/></w:pPr><w:r><w:t xml:space='preserve'>"
        f"{html.escape(text.split(chr(9))[0])}</w:t></w:r><w:r><w:tab/></w:r>"
        f"<w:r><w:fldChar w:fldCharType='begin'/></w:r>"
        f"<w:r><w:instrText xml:space='preserve'> PAGEREF _Toc{i} \\h </w:instrText></w:r>"
        f"<w:r><w:fldChar w:fldCharType='separate'/></w:r>"
        f"<w:r><w:t>{text.split(chr(9))[1]}</w:t></w:r>"
        f"<w:r><w:fldChar w:fldCharType='end'/></w:r></w:p>"
        for i, text in enumerate(entries)
    )
    sdt = parse_xml(
        f"<w:sdt {nsdecls('w')}><w:sdtPr><w:docPartObj><w:docPartGallery "
        "w:val='Table of Contents'/><w:docPartUnique/></w:docPartObj></w:sdtPr>"
        "<w:sdtContent><w:p><w:r><w:t>目录</w:t></w:r></w:p>"
        f"{paragraphs}</w:sdtContent></w:sdt>"
    )
    return sdt


def report_docx(report: ParsedReport, *, numbered_titles: bool = False) -> bytes:
    """The report as a Word file: header, cover, table of contents, the items; each item's
    date and source in a small table, as some editors lay them out. `numbered_titles`: the
    titles' numbers are Word's automatic list numbering, not typed."""
    document = docx.Document()
    document.styles["Normal"].font.size = Pt(11)
    document.sections[0].header.paragraphs[0].text = HEADER
    document.add_heading(report.title, level=0)
    month = document.add_paragraph("2024年7月")
    month.runs[0].add_break(WD_BREAK.PAGE)
    month._p.addnext(_toc(report))
    for n, section in enumerate(report.sections):
        document.add_heading(f"{_NUMERALS[n]}、{section.title}", level=1)
        for number, item in enumerate(section.items, 1):
            if numbered_titles:
                document.add_paragraph(item.title, style="List Number")
            else:
                document.add_heading(f"{number}. {item.title}", level=2)
            table = document.add_table(rows=2, cols=1)
            table.cell(0, 0).text = f"发布日期：{_date(item)}"
            table.cell(1, 0).text = f"来源：{item.source}"
            document.add_paragraph(f"链接：{item.url}")
            document.add_paragraph("摘要：")
            for paragraph in _paragraphs(item.summary):
                document.add_paragraph(paragraph)
            if item.commentary:
                document.add_paragraph().add_run("植德短评").bold = True
                for paragraph in _paragraphs(item.commentary):
                    document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def with_macros(docx_bytes: bytes) -> bytes:
    """The Word file as a macro-enabled one (.docm): a VBA project and its content type."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.wordprocessingml."
                    b"document.main+xml",
                    b"application/vnd.ms-word.document.macroEnabled.main+xml",
                )
            target.writestr(entry, data)
        target.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0" + b"\0" * 508)
    return out.getvalue()


def _pdf_objects(objects: list[bytes], trailer: bytes) -> bytes:
    """A PDF file around the numbered objects (1-based), with a correct cross-reference."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n" + trailer + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def password_pdf() -> bytes:
    """A one-page PDF under the standard security handler with a user password (not the empty
    one), as Word writes when 'Encrypt with password' is chosen."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Filter /Standard /V 1 /R 2 /P -44 /O <" + b"ab" * 32 + b"> /U <"
        + b"cd" * 32 + b"> >>",
    ]
    trailer = b"<< /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<" + b"01" * 16 + b"> <" \
        + b"01" * 16 + b">] >>"
    return _pdf_objects(objects, trailer)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]
