from zoneinfo import available_timezones

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import EmailField, StringField
from wtforms.validators import StopValidation, ValidationError

from bulkbuy.admin import bp
from bulkbuy.forms import BaseForm, EmailAddress, Text
from bulkbuy.models import utcnow
from bulkbuy.qr import qr_svg
from bulkbuy.services import ServiceError, accounts, staff
from bulkbuy.transactions import undone_on_error


class OptionalEmailAddress(EmailAddress):
    """Nothing, or one e-mail address."""

    def __call__(self, form, field):
        if not field.data:
            field.data = None
            raise StopValidation()
        super().__call__(form, field)


class GroupForm(BaseForm):
    name = StringField(_l("Group name"), validators=[Text(_l("Group name"), 100)])
    timezone = StringField(_l("Time zone"), default="Europe/London",
                           validators=[Text(_l("Time zone"), 64)])
    organiser_email = EmailField(_l("First organiser's e-mail (optional)"),
                                 validators=[Text(_l("Organiser's email"), 254,
                                                  required=False), OptionalEmailAddress()])

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
    """The site's groups; a new group is made with no organiser and an invite link for
    its first one (e-mailed, or shown here once with a QR code): nobody types a password
    for someone else."""
    form = GroupForm()
    if form.validate_on_submit():
        try:
            with undone_on_error():
                group, invite, url = staff.create_group_with_invite(
                    form.name.data, form.timezone.data, form.organiser_email.data or None,
                    actor=current_user, now=utcnow())
        except ServiceError as error:
            target = {"email": "organiser_email"}.get(error.field, error.field or "name")
            getattr(form, target, form.name).errors.append(error.message)
        else:
            if invite.email:
                flash(_("Group %(name)s created. The invite for its first organiser was "
                        "sent to %(email)s.", name=group.name, email=invite.email), "success")
                return redirect(url_for("admin.groups"), 303)
            return render_template("organiser/staff_invite_link.html", group=group,
                                   invite=invite, url=url,
                                   qr=qr_svg(url, title=_("QR code of the invite link")),
                                   back=url_for("admin.groups"), title=_("Invite link"))
    return render_template("admin/groups.html", form=form, groups=accounts.all_groups(),
                           title=_("Groups"))
