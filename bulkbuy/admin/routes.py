from zoneinfo import available_timezones

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import ValidationError

from bulkbuy.admin import bp
from bulkbuy.forms import BaseForm, EmailAddress, Text
from bulkbuy.services import ServiceError, accounts
from bulkbuy.transactions import undone_on_error


class GroupForm(BaseForm):
    name = StringField(_l("Group name"), validators=[Text(_l("Group name"), 100)])
    timezone = StringField(_l("Time zone"), default="Europe/London",
                           validators=[Text(_l("Time zone"), 64)])
    organiser_email = EmailField(_l("Organiser's email"),
                                 validators=[Text(_l("Organiser's email"), 254),
                                             EmailAddress()])
    organiser_name = StringField(_l("Organiser's name (new accounts only)"),
                                 validators=[Text(_l("Organiser's name"), 100, required=False)])
    organiser_password = PasswordField(
        _l("Organiser's first password (new accounts only)"),
        validators=[Text(_l("Password"), 200, required=False)],
    )

    def validate_timezone(self, field):
        if field.data not in available_timezones():
            raise ValidationError("Enter a time zone like Europe/London")


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_site_admin:
        abort(403)


@bp.route("/groups", methods=["GET", "POST"])
def groups():
    form = GroupForm()
    if form.validate_on_submit():
        try:
            with undone_on_error():
                group = accounts.create_group_with_organiser(
                    form.name.data, form.timezone.data, form.organiser_email.data,
                    form.organiser_name.data, form.organiser_password.data, actor=current_user)
        except ServiceError as error:
            target = {"password": "organiser_password", "email": "organiser_email"}.get(
                error.field, error.field or "name"
            )
            getattr(form, target).errors.append(error.message)
        else:
            flash(_("Group %(name)s created.", name=group.name), "success")
            return redirect(url_for("admin.groups"), 303)
    return render_template("admin/groups.html", form=form, groups=accounts.all_groups(),
                           title=_("Groups"))
