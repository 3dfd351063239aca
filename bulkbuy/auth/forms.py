from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, StringField

from bulkbuy.forms import BaseForm, EmailAddress, Text


class LoginForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[Text(_l("Email address"), 254)])
    password = PasswordField(_l("Password"), validators=[Text(_l("Password"), 200)])


class InviteCodeForm(BaseForm):
    code = StringField(_l("Invite code"), validators=[Text(_l("Invite code"), 32)])


class JoinForm(BaseForm):
    name = StringField(_l("Your name"), validators=[Text(_l("Your name"), 100)])
    household = StringField(
        _l("Your flat or house"), validators=[Text(_l("Your flat or house"), 60)]
    )
    # (A signed-in person joining another group does not see the field: the view
    # empties its validators.)
    email = EmailField(_l("Email address"),
                       validators=[Text(_l("Email address"), 254), EmailAddress()])
    password = PasswordField(_l("Choose a password"), validators=[Text(_l("Password"), 200)])


class InviteAccountForm(BaseForm):
    """A new account made from an invite link (staff, or into one household): the
    invitee chooses their own password."""

    name = StringField(_l("Your name"), validators=[Text(_l("Your name"), 100)])
    email = EmailField(_l("Email address"), validators=[Text(_l("Email address"), 254)])
    password = PasswordField(_l("Choose a password"), validators=[Text(_l("Password"), 200)])
    password_again = PasswordField(_l("Type the password again"),
                                   validators=[Text(_l("Password"), 200)])
