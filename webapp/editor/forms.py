from __future__ import annotations

import re
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    Field,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from webapp.editions.items import MAX_PREHEADER, MAX_SUBJECT
from webapp.editions.previews import MAX_TEST_RECIPIENTS
from webapp.fields import HttpUrl, MultiCheckboxField, PlainText, listed
from webapp.models import LANGUAGES, SECTION_KEYS

MONTH = r"[0-9]{4}-(0[1-9]|1[0-2])"


def section_choices() -> list[tuple[str, Any]]:
    names = {
        "policy": _l("Policy (政策速递)"),
        "industry": _l("Industry (行业新闻)"),
        "deals": _l("Deals (交易资讯)"),
    }
    return [(key, names[key]) for key in SECTION_KEYS]


class ButtonForm(FlaskForm):  # type: ignore[misc]
    """A form that is only a button (and its CSRF token)."""


class ImportForm(FlaskForm):  # type: ignore[misc]
    report_file = FileField(_l("Report file (.pdf, .docx or .txt)"))
    report_text = TextAreaField(
        _l("…or paste the report's text"), validators=[PlainText(multiline=True)]
    )
    month = StringField(
        _l("Month"),
        validators=[
            Optional(),
            PlainText(),
            Regexp(MONTH, message=_l("Use the form YYYY-MM, like 2024-07.")),
        ],
    )
    replace = BooleanField(_l("Replace this month's edition if it is still a draft or approved"))
    incomplete_reason = StringField(
        _l("Import it anyway, because…"), validators=[Optional(), PlainText(), Length(max=500)]
    )
    submit = SubmitField(_l("Import"))

    def validate_report_text(self, field: Field) -> None:
        upload = self.report_file.data
        if not (field.data or "").strip() and not (upload and getattr(upload, "filename", "")):
            raise ValidationError(_l("Choose a file or paste the report's text."))


class EditionTextsForm(FlaskForm):  # type: ignore[misc]
    subject = StringField(
        _l("Subject"), validators=[Optional(), PlainText(), Length(max=MAX_SUBJECT)]
    )
    preheader = StringField(
        _l("Preheader"), validators=[Optional(), PlainText(), Length(max=MAX_PREHEADER)]
    )
    intro = TextAreaField(
        _l("Introduction"), validators=[Optional(), PlainText(multiline=True), Length(max=5000)]
    )
    submit = SubmitField(_l("Save"))


class EnglishTextsForm(FlaskForm):  # type: ignore[misc]
    """What English readers get: the edition's English texts, section names and the policy for
    items without English text."""

    title_en = StringField(
        _l("English title"), validators=[Optional(), PlainText(), Length(max=200)]
    )
    subject_en = StringField(
        _l("English subject"), validators=[Optional(), PlainText(), Length(max=MAX_SUBJECT)]
    )
    preheader_en = StringField(
        _l("English preheader"), validators=[Optional(), PlainText(), Length(max=MAX_PREHEADER)]
    )
    intro_en = TextAreaField(
        _l("English introduction"),
        validators=[Optional(), PlainText(multiline=True), Length(max=5000)],
    )
    section_policy = StringField(validators=[Optional(), PlainText(), Length(max=100)])
    section_industry = StringField(validators=[Optional(), PlainText(), Length(max=100)])
    section_deals = StringField(validators=[Optional(), PlainText(), Length(max=100)])
    untranslated = RadioField(
        _l("Items without English text"),
        choices=[
            ("marked", _l("Include them in Chinese, marked “(in Chinese)”")),
            ("omit", _l("Leave them out of English editions")),
        ],
        default="marked",
        validators=[PlainText()],
    )
    submit = SubmitField(_l("Save"))


class LayoutForm(FlaskForm):  # type: ignore[misc]
    """The edition's layout, chosen on the preview page."""

    layout = RadioField(
        _l("Layout"),
        choices=[
            ("auto", _l("Automatic")),
            ("full", _l("Full")),
            ("digest", _l("Digest")),
        ],
        default="auto",
        validators=[PlainText()],
    )
    submit = SubmitField(_l("Use this layout"))


class ApproveForm(FlaskForm):  # type: ignore[misc]
    """Approving; the box is the explicit confirmation untranslated items for English readers
    need (asked for only then)."""

    allow_untranslated = BooleanField(
        _l("Yes, send these items in Chinese, marked as such, to English readers")
    )
    confirming = HiddenField(validators=[PlainText()])


class TranslateForm(FlaskForm):  # type: ignore[misc]
    """Confirming a run of Amazon Translate; `characters` is the count the editor was shown
    (and the cost they agreed to): a different count now shows the figures again."""

    characters = HiddenField(validators=[DataRequired(), PlainText(), Regexp(r"^[0-9]{1,9}$")])


class AcceptDraftsForm(FlaskForm):  # type: ignore[misc]
    """Accepting machine drafts as they are: the ones the editor was shown, by item id and
    edition text name, comma-separated."""

    items = HiddenField(validators=[Optional(), PlainText(), Regexp(r"^[0-9]+(,[0-9]+)*$")])
    texts = HiddenField(validators=[Optional(), PlainText(), Regexp(r"^[a-z_:]+(,[a-z_:]+)*$")])
    back = HiddenField(validators=[Optional(), PlainText(), listed(["edition", "drafts"])])


class ItemForm(FlaskForm):  # type: ignore[misc]
    section = SelectField(_l("Section"), choices=[], validators=[PlainText()])
    # Titles are one line although long (a textarea): they may become the subject.
    title = TextAreaField(_l("Title"), validators=[DataRequired(), PlainText(), Length(max=1000)])
    title_en = TextAreaField(
        _l("English title"), validators=[Optional(), PlainText(), Length(max=1000)]
    )
    published_on = DateField(
        _l("Date"), validators=[DataRequired(message=_l("Enter the date, like 2024-07-24."))]
    )
    source = StringField(_l("Source"), validators=[Optional(), PlainText(), Length(max=200)])
    url = StringField(
        _l("Link"),
        validators=[
            DataRequired(),
            Length(max=2000),
            HttpUrl(),
        ],
    )
    summary = TextAreaField(
        _l("Summary"), validators=[Optional(), PlainText(multiline=True), Length(max=20000)]
    )
    summary_en = TextAreaField(
        _l("English summary"),
        validators=[Optional(), PlainText(multiline=True), Length(max=20000)],
    )
    # The label names the firm's own commentary label (COMMENTARY_LABEL_ZH), set by the view.
    commentary = TextAreaField(
        _l("Commentary"),
        validators=[Optional(), PlainText(multiline=True), Length(max=20000)],
    )
    commentary_en = TextAreaField(
        _l("English commentary"),
        validators=[Optional(), PlainText(multiline=True), Length(max=20000)],
    )
    topics = MultiCheckboxField(
        _l("Topics"), choices=[], validate_choice=False, validators=[PlainText()]
    )
    submit = SubmitField(_l("Save item"))
    suggest = SubmitField(_l("Suggest topics from the text"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section.choices = section_choices()

    def validate_topics(self, field: Field) -> None:
        if not self.suggest.data and not field.data:
            raise ValidationError(
                _l("Choose at least one topic: an item without topics reaches no reader.")
            )


def address_list(value: str | None) -> list[str]:
    return [part for part in re.split(r"[\s,;，；]+", value or "") if part]


class TestSendForm(FlaskForm):  # type: ignore[misc]
    __test__ = False  # not a pytest test class, despite the name

    addresses = TextAreaField(_l("Send to"), validators=[DataRequired(), PlainText(multiline=True)])
    topics = MultiCheckboxField(
        _l("Topics"), choices=[], validate_choice=False, validators=[PlainText()]
    )
    all_topics = BooleanField(_l("All topics"))
    language = StringField(
        _l("Language"), default="zh-CN", validators=[PlainText(), listed(LANGUAGES)]
    )
    submit = SubmitField(_l("Send test"))

    def validate_addresses(self, field: Field) -> None:
        addresses = address_list(field.data)
        if not addresses:
            raise ValidationError(_l("Enter at least one address."))
        if len(addresses) > MAX_TEST_RECIPIENTS:
            raise ValidationError(_l("At most %(n)s addresses at a time.", n=MAX_TEST_RECIPIENTS))
        for address in addresses:
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError:
                raise ValidationError(
                    _l("%(address)s is not a valid email address.", address=address)
                ) from None

    def validate_topics(self, field: Field) -> None:
        if not self.all_topics.data and not field.data:
            raise ValidationError(_l("Please choose at least one topic."))


class ScheduleForm(FlaskForm):  # type: ignore[misc]
    date = DateField(_l("Date"), validators=[DataRequired(message=_l("Choose a date."))])
    time = TimeField(_l("Time"), validators=[DataRequired(message=_l("Choose a time."))])
    submit = SubmitField(_l("Schedule"))


def _day(field: Field) -> date | None:
    """The field's day, or ValidationError for anything but a real YYYY-MM-DD date."""
    text = (field.data or "").strip()
    if not text:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_l("Enter a date like 2024-07-24.")) from None


class OutboxFilterForm(FlaskForm):  # type: ignore[misc]
    """The outbox search, sent by GET: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    recipient = StringField(_l("Recipient"), validators=[Optional(), PlainText(), Length(max=254)])
    subject = StringField(_l("Subject"), validators=[Optional(), PlainText(), Length(max=200)])
    # The months come from the editions (set by the view); "" is every message.
    edition = SelectField(_l("Edition"), choices=[], validate_choice=False,
                          validators=[Optional(), PlainText()])
    date_from = StringField(_l("Written from"), validators=[Optional(), PlainText()])
    date_to = StringField(_l("Written until"), validators=[Optional(), PlainText()])

    def validate_edition(self, field: Field) -> None:
        if field.data and field.data not in {value for value, _ in self.edition.choices}:
            raise ValidationError(_l("There is no edition for that month."))

    def validate_date_from(self, field: Field) -> None:
        _day(field)

    def validate_date_to(self, field: Field) -> None:
        until = _day(field)
        try:
            since = _day(self.date_from)
        except ValidationError:
            return
        if since and until and until < since:
            raise ValidationError(_l("The end date is before the start date."))

    @property
    def days(self) -> tuple[date | None, date | None]:
        """The date range asked for (after validation)."""
        return _day(self.date_from), _day(self.date_to)
