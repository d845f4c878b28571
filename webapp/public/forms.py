from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from webapp.fields import MultiCheckboxField, PlainText, listed
from webapp.models import Topic
from webapp.subscribe_wording import LANGUAGE_CHOICES

PAUSE_CHOICES = ("1", "2", "3")


def valid_address(_form: FlaskForm, field: Field) -> None:
    try:
        validate_email((field.data or "").strip(), check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(_l("Please enter a valid email address.")) from None


# Said in the error summary too, where "This field is required." would not say which.
_address_required = DataRequired(_l("Please enter your email address."))


class TopicChoiceMixin:
    """Topics and the "all topics" box, which works without JavaScript too."""

    topics: MultiCheckboxField
    all_topics: BooleanField

    available: list[str]

    def set_topics(self, topics: list[Topic]) -> None:
        # The template draws the boxes and the service checks the slugs, so the field holds
        # no choices of its own.
        self.available = [t.slug for t in topics]

    def chosen_topics(self) -> list[str]:
        if self.all_topics.data:
            return list(self.available)
        return list(self.topics.data or [])

    def validate_topics(self, field: Field) -> None:
        if not self.all_topics.data and not field.data:
            raise ValidationError(_l("Please choose at least one topic."))


class SubscribeForm(TopicChoiceMixin, FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("Email"), validators=[_address_required, PlainText(), Length(max=254), valid_address]
    )
    name = StringField(_l("Name"), validators=[Optional(), PlainText(), Length(max=200)])
    company = StringField(_l("Company"), validators=[Optional(), PlainText(), Length(max=200)])
    topics = MultiCheckboxField(
        _l("Topics"), choices=[], validate_choice=False, validators=[PlainText()]
    )
    all_topics = BooleanField(_l("All topics"))
    language = StringField(
        _l("Language of the emails"),
        validators=[PlainText(), listed([code for code, _ in LANGUAGE_CHOICES])],
    )
    consent = BooleanField(validators=[DataRequired(_l("Please agree to receive the report."))])
    # Honeypot: hidden from people by CSS; bots that fill in every field give themselves away.
    website = StringField(_l("Leave this field empty"), validators=[PlainText()])
    submit = SubmitField(_l("Subscribe"))


class PreferencesLinkForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("Email"), validators=[_address_required, PlainText(), Length(max=254), valid_address]
    )
    website = StringField(_l("Leave this field empty"), validators=[PlainText()])
    submit = SubmitField(_l("Send me the link"))


class PreferencesForm(TopicChoiceMixin, FlaskForm):  # type: ignore[misc]
    topics = MultiCheckboxField(
        _l("Topics"), choices=[], validate_choice=False, validators=[PlainText()]
    )
    all_topics = BooleanField(_l("All topics"))
    language = StringField(
        _l("Language of the emails"),
        validators=[PlainText(), listed([code for code, _ in LANGUAGE_CHOICES])],
    )
    name = StringField(_l("Name"), validators=[Optional(), PlainText(), Length(max=200)])
    company = StringField(_l("Company"), validators=[Optional(), PlainText(), Length(max=200)])
    tracking = BooleanField(_l("Let us count opens and clicks of my emails"))
    submit = SubmitField(_l("Save preferences"))


class EmailChangeForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("New email address"),
        validators=[_address_required, PlainText(), Length(max=254), valid_address],
    )
    submit = SubmitField(_l("Change address"))


class PauseForm(FlaskForm):  # type: ignore[misc]
    months = StringField(
        _l("Pause for"), default="1", validators=[PlainText(), listed(PAUSE_CHOICES)]
    )
    submit = SubmitField(_l("Pause"))


class ButtonForm(FlaskForm):  # type: ignore[misc]
    """A form that is only a button (and its CSRF token)."""


class EraseForm(FlaskForm):  # type: ignore[misc]
    understood = BooleanField(
        _l("I understand that this deletes my data and cannot be undone."),
        validators=[DataRequired(_l("Please tick the box to confirm."))],
    )
    submit = SubmitField(_l("Erase my data"))
