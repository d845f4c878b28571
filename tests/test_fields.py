"""Every form field holds webapp.plain_text's rule, and says so in the page's language."""

from __future__ import annotations

import importlib
import inspect

import pytest
from flask import Flask
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    Form,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.core import UnboundField

from webapp.fields import HttpUrl, PlainText

FORM_MODULES = ["webapp.public.forms", "webapp.auth.forms", "webapp.editor.forms",
                "webapp.admin.forms"]
# Fields whose value is parsed into something that cannot hold text (or is only a button).
NOT_TEXT = (BooleanField, SubmitField, DateField, TimeField, FileField)


def _forms() -> list[type[FlaskForm]]:
    found: dict[str, type[FlaskForm]] = {}
    for name in FORM_MODULES:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FlaskForm) and cls.__module__ == name:
                found[f"{name}.{cls.__name__}"] = cls
    return [found[key] for key in sorted(found)]


def _unbound_fields(form: type[Form]) -> list[tuple[str, UnboundField]]:
    return [(name, value) for name in dir(form)
            if isinstance(value := getattr(form, name), UnboundField)]


def test_the_walk_finds_the_forms() -> None:
    names = {form.__name__ for form in _forms()}
    assert {"SubscribeForm", "LoginForm", "EditionTextsForm", "ItemForm", "TopicForm",
            "NewUserForm"} <= names


@pytest.mark.parametrize("form", _forms(), ids=lambda form: form.__name__)
def test_every_text_field_holds_the_plain_text_rule(form: type[FlaskForm]) -> None:
    for name, unbound in _unbound_fields(form):
        if issubclass(unbound.field_class, NOT_TEXT):
            continue
        assert issubclass(unbound.field_class, StringField | SelectField | SelectMultipleField)
        validators = unbound.kwargs.get("validators") or []
        rules = [v for v in validators if isinstance(v, PlainText | HttpUrl)]
        assert rules, f"{form.__name__}.{name} takes text without the plain-text rule"
        if isinstance(rules[0], PlainText) and rules[0].multiline:
            assert issubclass(unbound.field_class, TextAreaField), (
                f"{form.__name__}.{name} is one line but allows line breaks"
            )


def _errors(app: Flask, form_class: type[FlaskForm], data: dict[str, str]) -> dict[str, list[str]]:
    with app.test_request_context(method="POST", headers={"Accept-Language": "en"}):
        form = form_class(formdata=MultiDict(data), meta={"csrf": False})
        form.validate()
        return dict(form.errors)


def test_a_subject_with_a_line_break_is_refused_with_its_position(app: Flask) -> None:
    from webapp.editor.forms import EditionTextsForm

    errors = _errors(app, EditionTextsForm, {"subject": "Hi\r\nBcc: x", "intro": "a\r\nb"})
    assert errors == {"subject": ["Line breaks are not allowed here (character 3)."]}


def test_a_control_character_is_named(app: Flask) -> None:
    from webapp.public.forms import SubscribeForm

    errors = _errors(app, SubscribeForm, {"email": "a@example.com", "name": "A\x1bB",
                                          "language": "en", "consent": "y"})
    assert errors["name"] == [
        "This contains a control character (U+001B at character 2) that cannot be stored. "
        "Please remove it."
    ]


def test_an_item_link_must_be_http_with_a_host(app: Flask) -> None:
    from webapp.editor.forms import ItemForm

    for bad in ["https://example.com/\r\nX: y", "javascript:alert(1)", "https://", "ftp://x/"]:
        errors = _errors(app, ItemForm, {"url": bad})
        assert errors.get("url"), bad
    assert "url" not in _errors(app, ItemForm, {"url": "https://example.com/a?b=c"})
