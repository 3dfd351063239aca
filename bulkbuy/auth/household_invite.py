"""Following a household invite link: someone without an account makes one and is in
that household at once; a signed-in person joins it with one button. A link that no
longer works changes nothing."""

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
from bulkbuy.services import ServiceError, household_admin, invites
from bulkbuy.transactions import undone_on_error


def _gone():
    return render_template("auth/invite_household_gone.html",
                           title=_("This link does not work")), 404


def _welcome(household):
    flash(_("Welcome to %(group)s. You are part of %(household)s.",
            group=household.group.name, household=household.label), "success")
    return redirect(url_for("resident.home"), 303)


@bp.route("/invite/household/<token>", methods=["GET", "POST"])
@limiter.limit(join_limit, methods=["POST"])
def household_invite(token: str):
    """A GET only shows the page (mail scanners open links); a POST joins."""
    invite = household_admin.waiting_household_invite(token, utcnow())
    if invite is None:
        return _gone()
    page = {"invite": invite, "group": invite.group, "household": invite.household,
            "token": token, "title": _("Join %(household)s", household=invite.household.label)}
    if current_user.is_authenticated:
        error = None
        if BaseForm().validate_on_submit():  # the join button (CSRF checked)
            try:
                with undone_on_error():
                    household = household_admin.join_signed_in(
                        token, current_user._get_current_object(), now=utcnow())
            except ServiceError as refused:
                if refused.text is invites.LINK_GONE:
                    return _gone()
                error = refused.message
            else:
                return _welcome(household)
        return render_template("auth/invite_household.html", form=None, error=error,
                               **page), 400 if error else 200
    form = InviteAccountForm()
    if form.validate_on_submit():
        try:
            with undone_on_error():
                user, household = household_admin.join_with_new_account(
                    token, name=form.name.data, email=form.email.data,
                    password=form.password.data, password_again=form.password_again.data,
                    now=utcnow())
        except ServiceError as error:
            if error.text is invites.LINK_GONE:
                return _gone()
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            session.clear()
            login_user(user)
            return _welcome(household)
    return render_template("auth/invite_household.html", form=form, error=None,
                           **page), 400 if form.errors else 200
