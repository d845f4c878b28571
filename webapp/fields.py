"""Form fields and validators shared by the public pages and the consoles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext, lazy_gettext
from wtforms import Field, SelectMultipleField
from wtforms.validators import AnyOf, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.plain_text import UnsafeText, UnsafeUrl, check_http_url, check_text


def listed(values: Iterable[str]) -> AnyOf:
    """A value must be one of `values`; the refusal names no code (only a tampered form sends
    a value the page does not list)."""
    return AnyOf(list(values), message=lazy_gettext("Choose one of the listed options."))


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    """A multiple choice shown as a list of checkboxes (topics, sections)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def unsafe_text_message(problem: UnsafeText) -> str:
    """What a form says about a refused character, in the page's language."""
    if problem.line_break:
        return str(
            gettext(
                "Line breaks are not allowed here (character %(position)d).",
                position=problem.index + 1,
            )
        )
    return str(
        gettext(
            "This contains a control character (U+%(code)s at character %(position)d) "
            "that cannot be stored. Please remove it.",
            code=f"{problem.codepoint:04X}",
            position=problem.index + 1,
        )
    )


class PlainText:
    """webapp.plain_text's rule for a field: `multiline` only for textareas whose text may
    span lines (summaries, commentary, notes); everything else, header-bound or not, is one
    line. Checks each value of a multiple choice too.

    Every text-bearing field of every form carries it (tests/test_fields.py walks the forms).
    """

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, _form: Any, field: Field) -> None:
        values = field.data if isinstance(field.data, list | tuple) else [field.data]
        for value in values:
            if not isinstance(value, str):
                continue
            try:
                check_text(value, multiline=self.multiline)
            except UnsafeText as problem:
                raise ValidationError(unsafe_text_message(problem)) from None


class HttpUrl:
    """An http:// or https:// address with a host (webapp.plain_text.check_http_url)."""

    def __call__(self, _form: Any, field: Field) -> None:
        value = (field.data or "").strip()
        if not value:
            return
        try:
            check_http_url(value)
        except UnsafeText as problem:
            raise ValidationError(unsafe_text_message(problem)) from None
        except UnsafeUrl:
            raise ValidationError(gettext("Enter an http:// or https:// address.")) from None
