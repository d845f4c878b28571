"""Why a CSV row (or the whole file) was refused, in the page's language.

The service names each reason by a code with its values (webapp.readers.subscribers_csv); this
is the one place they become the admin's words. A job imported before reasons had codes kept
only the English message: it is shown as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from webapp.labels import status_labels
from webapp.readers.subscribers_csv import RowError


def _status(value: object) -> str:
    return str(status_labels().get(str(value), value))


_REASONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "email_empty": lambda p: _("The email is empty."),
    "email_invalid": lambda p: _("“%(value)s” is not a valid email address.", value=p["value"]),
    "name_too_long": lambda p: _("The name is longer than %(limit)s characters.",
                                 limit=p["limit"]),
    "topic_unknown": lambda p: _(
        "Unknown topic “%(value)s”: use a name or short name from the list on the import page.",
        value=p["value"]),
    "topic_retired": lambda p: _("The topic “%(value)s” is retired.", value=p["value"]),
    "topics_missing": lambda p: _(
        "No topics: name at least one, or choose to give readers without topics every topic."),
    "topic_gone": lambda p: _("A topic of this row was retired or deleted after the preview."),
    "language_unknown": lambda p: _(
        "Unknown language “%(value)s”: write zh-CN or en (or 中文, zh, English, en-US…).",
        value=p["value"]),
    "status_unknown": lambda p: _(
        "Unknown status “%(value)s”: write pending, active, paused or unsubscribed.",
        value=p["value"]),
    "duplicate": lambda p: _("%(email)s is already on line %(line)s.", email=p["email"],
                             line=p["first"]),
    "too_many_cells": lambda p: _("This row has more cells than the header has columns."),
    "suppressed": lambda p: _(
        "%(email)s is on the suppression list and cannot be imported.", email=p["email"]),
    "left": lambda p: _(
        "%(email)s has left the list (%(status)s): only the reader can subscribe again.",
        email=p["email"], status=_status(p["status"])),
    "unsafe_char": lambda p: _(
        "A control character (U+%(code)s at character %(position)s) that cannot be stored.",
        code=p["code"], position=p["position"]),
    "line_break": lambda p: _("A line break at character %(position)s.",
                              position=p["position"]),
    "unclosed_quote": lambda p: _(
        "A quote (\") opens the cell and is not closed on the same line: quote a whole cell, "
        "and write a quote inside it twice (\"\")."),
    "after_quote": lambda p: _(
        "Text after a closing quote: a quoted cell ends at its closing quote, and a quote "
        "inside it is written twice (\"\")."),
    "cell_too_long": lambda p: _("A cell is longer than %(limit)s characters.",
                                 limit=p["limit"]),
    "no_email_column": lambda p: _(
        "The first line must be the header naming the columns, with at least email "
        "(email,name,topics,language,status)."),
    "unknown_columns": lambda p: _(
        "Unknown column(s): %(columns)s. The columns are email, name, topics, language and "
        "status.", columns=p["columns"]),
}


def _columns() -> dict[str, str]:
    return {
        "email": _("Email"),
        "name": _("Name"),
        "topics": _("Topics"),
        "language": _("Language"),
        "status": _("Status"),
    }


def row_reason(error: RowError | dict[str, Any]) -> str:
    """The reason, translated; an old job's stored English as it was."""
    if isinstance(error, dict):
        if "code" not in error:
            return str(error.get("message", ""))
        error = RowError.from_fields(error)
    try:
        return str(_REASONS[error.code](error.params))
    except KeyError:
        return error.message


def row_column(error: RowError | dict[str, Any]) -> str:
    """The column a reason is about: its name when the header names it, else its number."""
    if isinstance(error, dict):
        if "code" not in error:
            return ""
        error = RowError.from_fields(error)
    name = error.column.split(" (", 1)[0]
    known = _columns()
    if name in known:
        return known[name]
    number = error.params.get("number")
    return _("column %(number)s", number=number) if number else ""


def row_line(error: RowError | dict[str, Any]) -> int:
    return int(error["line"]) if isinstance(error, dict) else error.line
