from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, StringField

from bulkbuy.forms import BaseForm, Text


class LoginForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[Text("Email address", 254)])
    password = PasswordField(_l("Password"), validators=[Text("Password", 200)])


class InviteCodeForm(BaseForm):
    code = StringField(_l("Invite code"), validators=[Text("Invite code", 32)])


class JoinForm(BaseForm):
    name = StringField(_l("Your name"), validators=[Text("Your name", 100)])
    household = StringField(
        _l("Your flat or house"), validators=[Text("Your flat or house", 60)]
    )
    email = EmailField(_l("Email address"), validators=[Text("Email address", 254)])
    password = PasswordField(_l("Choose a password"), validators=[Text("Password", 200)])

    def validate_email(self, field):
        from wtforms.validators import ValidationError

        if not field.validators:  # signed in already: the field is not on the page
            return
        if "@" not in (field.data or "") or " " in field.data:
            raise ValidationError("Enter an email address, like name@example.com")
