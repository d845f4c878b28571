"""The one error the importer raises for input it cannot use, and where in a file it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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

    def __init__(self, line: int, reason: str, origin: Origin | None = None) -> None:
        super().__init__(line, reason)
        self.line = line
        self.reason = reason
        self.origin = origin

    def __str__(self) -> str:
        if not self.line:
            return self.reason
        where = f" ({self.origin})" if self.origin else ""
        return f"line {self.line}{where}: {self.reason}"
