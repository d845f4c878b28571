from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from webapp.accounts.users import MIN_PASSWORD_LENGTH
from webapp.fields import PlainText

# Each "required" message names its field: the error summary lists them without labels.
ENTER_EMAIL = _l("Enter the email address you sign in with.")


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(message=ENTER_EMAIL), PlainText(), Length(max=320)],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")), PlainText(),
                    Length(max=200)],
    )
    submit = SubmitField(_l("Sign in"))


class CodeForm(FlaskForm):  # type: ignore[misc]
    # Long enough for a recovery code typed with its dashes and a few stray spaces.
    code = StringField(
        _l("Code from your authenticator app"),
        validators=[DataRequired(message=_l("Enter the code your app shows, or a recovery code.")),
                    PlainText(), Length(max=40)],
    )
    submit = SubmitField(_l("Continue"))


class ResetRequestForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(message=ENTER_EMAIL), PlainText(), Length(max=320)],
    )
    submit = SubmitField(_l("Send me a link"))


class NewPasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(message=_l("Choose a new password.")),
            PlainText(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l("Choose a password of %(min)d to %(max)d characters."),
            ),
        ],
    )
    repeat = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(message=_l("Enter the new password again.")),
            PlainText(),
            EqualTo("password", _l("The passwords do not match.")),
        ],
    )
    submit = SubmitField(_l("Save the new password"))


class ButtonForm(FlaskForm):  # type: ignore[misc]
    """Only a button (and its CSRF token)."""
