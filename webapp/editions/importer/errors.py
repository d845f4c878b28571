"""The errors the importer raises: input it cannot use, and a report that is not whole."""

from __future__ import annotations

from webapp.editions.importer.contents import MissingPart


class ReportFormatError(Exception):
    """A report that cannot be imported; `line` is 1-based (0 when not about one line)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(line, reason)
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


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
