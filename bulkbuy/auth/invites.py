"""Following a staff invite link: a signed-in person accepts with one button; someone
without an account makes one (choosing their own password) and is staff at once."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from bulkbuy.auth import bp
from bulkbuy.auth.forms import InviteAccountForm
from bulkbuy.auth.routes import join_limit
from bulkbuy.extensions import limiter
from bulkbuy.forms import BaseForm
from bulkbuy.models import utcnow
from bulkbuy.services import ServiceError, invites, staff
from bulkbuy.transactions import undone_on_error


def _gone():
    return render_template("auth/invite_staff_gone.html",
                           title=_("This link does not work")), 404


def _welcome(membership):
    flash(_("Welcome to %(group)s.", group=membership.group.name), "success")
    if membership.role == "organiser":
        return redirect(url_for("organiser.dashboard", group_id=membership.group_id), 303)
    return redirect(url_for("resident.home"), 303)


@bp.route("/invite/staff/<token>", methods=["GET", "POST"])
@limiter.limit(join_limit, methods=["POST"])
def staff_invite(token: str):
    """A GET only shows the page (mail scanners open links); a POST accepts."""
    invite = invites.waiting(token, utcnow(), kind="staff")
    if invite is None:
        return _gone()
    if current_user.is_authenticated:
        if BaseForm().validate_on_submit():  # the accept button (CSRF checked)
            try:
                with undone_on_error():
                    membership = staff.accept(token, current_user._get_current_object(),
                                              utcnow())
            except ServiceError:
                return _gone()
            return _welcome(membership)
        return render_template("auth/invite_staff.html", invite=invite, group=invite.group,
                               form=None, token=token,
                               title=_("Join %(group)s", group=invite.group.name))
    form = InviteAccountForm()
    sign_in_first = False
    if form.validate_on_submit():
        try:
            with undone_on_error():
                user, membership = staff.join_with_new_account(
                    token, name=form.name.data, email=form.email.data,
                    password=form.password.data, password_again=form.password_again.data,
                    now=utcnow())
        except ServiceError as error:
            if error.text is invites.LINK_GONE:
                return _gone()
            sign_in_first = error.text is staff.SIGN_IN_FIRST
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            session.clear()
            login_user(user)
            return _welcome(membership)
    return render_template(
        "auth/invite_staff.html", invite=invite, group=invite.group, form=form,
        sign_in_first=sign_in_first, token=token,
        title=_("Join %(group)s", group=invite.group.name)), 400 if form.error_list() else 200
