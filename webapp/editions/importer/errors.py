"""The errors the importer raises: input it cannot use (and where in a file it is), and a
report that is not whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from webapp.editions.importer.contents import MissingPart
from webapp.reasons import Reason

MAX_REPORT_BYTES = 20 * 1024 * 1024
MAX_REPORT_MB = MAX_REPORT_BYTES // (1024 * 1024)

Kind = Literal["pdf", "docx", "text"]


@dataclass(frozen=True)
class Origin:
    """Where a line of the report's text is in the file it came from."""

    page: int | None = None  # a PDF's page, 1-based
    paragraph: int | None = None  # a Word file's paragraph in reading order, 1-based
    part: Literal["body", "header"] = "body"

    def __str__(self) -> str:
        if self.part == "header":
            return "page header"
        if self.page is not None:
            return f"page {self.page}"
        return f"paragraph {self.paragraph}"


class ReportFormatError(Exception):
    """A report that cannot be imported; `line` is 1-based (0 when not about one line), and
    `origin` the page or paragraph of a PDF or Word file that line came from."""

    def __init__(self, line: int, reason: str | Reason, origin: Origin | None = None) -> None:
        super().__init__(line, reason)
        self.line = line
        self.reason = reason
        self.origin = origin

    def __str__(self) -> str:
        if not self.line:
            return str(self.reason)
        where = f" ({self.origin})" if self.origin else ""
        return f"line {self.line}{where}: {self.reason}"


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


class ReportIncomplete(Exception):
    """The report's table of contents lists sections or items its body lacks (a file cut
    short); importing it anyway takes a reason, which the audit log keeps."""

    def __init__(self, missing: tuple[MissingPart, ...]) -> None:
        super().__init__(missing)
        self.missing = missing

    def __str__(self) -> str:
        return (
            f"the table of contents lists {len(self.missing)} part(s) the report lacks, so it "
            "may have been cut short: " + "; ".join(str(part) for part in self.missing)
        )
