"""The one error the importer raises for input it cannot use."""

from __future__ import annotations


class ReportFormatError(Exception):
    """A report that cannot be imported; `line` is 1-based (0 when not about one line)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(line, reason)
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason
