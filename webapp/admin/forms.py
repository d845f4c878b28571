from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from webapp.fields import MultiCheckboxField, PlainText, listed
from webapp.models import LANGUAGES, SCOPES, WEBHOOK_EVENTS, Role

# Select and radio fields are drawn in the templates (as on the readers' forms); the fields
# here only check the value.
ROLES = [role.value for role in Role]


class ButtonForm(FlaskForm):  # type: ignore[misc]
    """Only a button (and its CSRF token)."""


class ReaderTopicsForm(FlaskForm):  # type: ignore[misc]
    topics = MultiCheckboxField(
        _l("Topics"), choices=[], validate_choice=False, validators=[PlainText()]
    )
    language = StringField(
        _l("Language of the emails"), validators=[PlainText(), listed(LANGUAGES)]
    )
    submit = SubmitField(_l("Save"))


class NewReaderForm(ReaderTopicsForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), PlainText(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Optional(), PlainText(), Length(max=200)])
    company = StringField(_l("Company"), validators=[Optional(), PlainText(), Length(max=200)])
    consent_note = TextAreaField(
        _l("How did the reader agree to receive the report?"),
        validators=[DataRequired(), PlainText(multiline=True), Length(max=500)],
    )
    submit = SubmitField(_l("Add reader"))


class ImportForm(FlaskForm):  # type: ignore[misc]
    file = FileField(_l("CSV file"))
    text = TextAreaField(
        _l("or paste the CSV here"), validators=[Optional(), PlainText(multiline=True)]
    )
    # One of webapp.readers.csv_values.ConsentBasis, drawn as radio buttons; the service says
    # when it is missing.
    consent_basis = StringField(
        _l("How did these readers agree to receive the report?"), validators=[PlainText()]
    )
    consent_note = TextAreaField(
        _l("How they agreed, in your words"),
        validators=[Optional(), PlainText(multiline=True), Length(max=500)],
    )
    all_topics = BooleanField(_l("Give readers without topics every topic"))
    skip_invalid = BooleanField(_l("Import the valid rows and skip the others"))
    submit = SubmitField(_l("Preview"))


class SuppressionForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), PlainText(), Length(max=254)])
    note = StringField(_l("Note"), validators=[Optional(), PlainText(), Length(max=500)])
    submit = SubmitField(_l("Suppress"))


class RemoveSuppressionForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(
        _l("Why may this address be mailed again?"),
        validators=[DataRequired(), PlainText(multiline=True), Length(max=500)],
    )
    submit = SubmitField(_l("Lift the suppression"))


class TopicForm(FlaskForm):  # type: ignore[misc]
    name_zh = StringField(
        _l("Name (Chinese)"), validators=[DataRequired(), PlainText(), Length(max=120)]
    )
    name_en = StringField(
        _l("Name (English)"), validators=[DataRequired(), PlainText(), Length(max=120)]
    )
    description_zh = TextAreaField(
        _l("Description (Chinese)"), validators=[PlainText(multiline=True), Length(max=1000)]
    )
    description_en = TextAreaField(
        _l("Description (English)"), validators=[PlainText(multiline=True), Length(max=1000)]
    )
    keywords = TextAreaField(
        _l("Keywords"), validators=[PlainText(multiline=True), Length(max=5000)]
    )
    submit = SubmitField(_l("Save"))


class NewTopicForm(TopicForm):
    slug = StringField(_l("Short name"), validators=[DataRequired(), PlainText(), Length(max=64)])
    submit = SubmitField(_l("Add topic"))


class MoveForm(FlaskForm):  # type: ignore[misc]
    direction = StringField(validators=[PlainText(), listed(["up", "down"])])


class NewUserForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("Email"), validators=[DataRequired(), PlainText(), Length(max=320)])
    role = StringField(
        _l("Role"), default=Role.EDITOR.value, validators=[PlainText(), listed(ROLES)]
    )
    mode = StringField(
        _l("How they get in"),
        default="invite",
        validators=[PlainText(), listed(["invite", "password"])],
    )
    submit = SubmitField(_l("Add user"))


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = StringField(_l("Role"), validators=[PlainText(), listed(ROLES)])


class BrandingForm(FlaskForm):  # type: ignore[misc]
    """The firm's branding; an empty field means the default (shown as its placeholder)."""

    org_name_zh = StringField(
        _l("Firm's name (Chinese)"), validators=[Optional(), PlainText(), Length(max=120)]
    )
    org_name_en = StringField(
        _l("Firm's name (English)"), validators=[Optional(), PlainText(), Length(max=120)]
    )
    primary_colour = StringField(
        _l("Primary colour"), validators=[Optional(), PlainText(), Length(max=20)]
    )
    accent_colour = StringField(
        _l("Accent colour"), validators=[Optional(), PlainText(), Length(max=20)]
    )
    footer_text_zh = TextAreaField(
        _l("Footer text (Chinese)"),
        validators=[Optional(), PlainText(multiline=True), Length(max=500)],
    )
    footer_text_en = TextAreaField(
        _l("Footer text (English)"),
        validators=[Optional(), PlainText(multiline=True), Length(max=500)],
    )
    commentary_label_zh = StringField(
        _l("Commentary label (Chinese)"), validators=[Optional(), PlainText(), Length(max=60)]
    )
    commentary_label_en = StringField(
        _l("Commentary label (English)"), validators=[Optional(), PlainText(), Length(max=60)]
    )
    logo = FileField(_l("Logo (PNG or JPEG, at most 200 KB)"))
    remove_logo = BooleanField(_l("Remove the logo"))
    submit = SubmitField(_l("Save"))


class ApiKeyForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        _l("Name"), validators=[DataRequired(), PlainText(), Length(max=100)]
    )
    scopes = MultiCheckboxField(
        _l("Scopes"), choices=list(SCOPES), validators=[DataRequired(), PlainText()]
    )
    submit = SubmitField(_l("Create key"))


class WebhookForm(FlaskForm):  # type: ignore[misc]
    # The URL's own rules (https, no private address) are the service's (webapp.events).
    url = StringField(_l("URL"), validators=[DataRequired(), PlainText(), Length(max=2000)])
    events = MultiCheckboxField(
        _l("Events"), choices=list(WEBHOOK_EVENTS), validators=[DataRequired(), PlainText()]
    )
    submit = SubmitField(_l("Add endpoint"))
