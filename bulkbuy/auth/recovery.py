"""Account recovery: a forgotten password, and a signed-in person's own account page
(changing their password or e-mail address). The rules are in services/recovery.py."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import EmailField, PasswordField

from bulkbuy.auth import bp
from bulkbuy.extensions import account_key, limiter
from bulkbuy.forms import BaseForm, EmailAddress, Text
from bulkbuy.models import utcnow
from bulkbuy.services import ServiceError, accounts, recovery
from bulkbuy.transactions import undone_on_error


class ForgotForm(BaseForm):
    # Named "email": the per-address limit reads it (extensions.account_key).
    email = EmailField(_l("Email address"),
                       validators=[Text(_l("Email address"), 254), EmailAddress()])


class ResetForm(BaseForm):
    password = PasswordField(_l("New password"), validators=[Text(_l("New password"), 200)])
    password_again = PasswordField(_l("New password again"),
                                   validators=[Text(_l("New password again"), 200)])


class PasswordChangeForm(BaseForm):
    current_password = PasswordField(_l("Your password now"),
                                     validators=[Text(_l("Your password now"), 200)])
    new_password = PasswordField(_l("New password"), validators=[Text(_l("New password"), 200)])
    new_password_again = PasswordField(_l("New password again"),
                                       validators=[Text(_l("New password again"), 200)])


class EmailChangeForm(BaseForm):
    new_email = EmailField(_l("New email address"),
                           validators=[Text(_l("New email address"), 254)])
    email_password = PasswordField(_l("Your password"),
                                   validators=[Text(_l("Your password"), 200)])


def _reset_limit():
    """"Forgot password" forms sent for one e-mail address (each sends an e-mail)."""
    return current_app.config["RESET_RATE_LIMIT"]


def _reset_address_limit():
    """"Forgot password" forms sent from one network address (a hall's shared wifi)."""
    return current_app.config["RESET_ADDRESS_RATE_LIMIT"]


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _user_key() -> str:
    """The limit's key for a signed-in person's own account forms: their account."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"user:@{get_remote_address()}"


# --- A forgotten password ---------------------------------------------------------------------

@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_address_limit, methods=["POST"])
@limiter.limit(_reset_limit, methods=["POST"], key_func=account_key)
def forgot_password():
    if current_user.is_authenticated:
        return redirect(url_for("auth.account"))
    form = ForgotForm()
    if form.validate_on_submit():
        with undone_on_error():
            recovery.ask_password_reset(form.email.data, utcnow())
        # The same answer for every address (services/recovery.py).
        return redirect(url_for("auth.forgot_sent"), 303)
    return render_template("auth/forgot.html", form=form,
                           title=_("Forgot your password?")), 400 if form.errors else 200


@bp.route("/password/forgot/sent")
def forgot_sent():
    """What everyone who asked for a new password is told, whatever their address."""
    return render_template("auth/forgot_sent.html", title=_("Check your e-mail"))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """The e-mailed link: choose a new password (a GET alone changes nothing)."""
    if recovery.user_for_reset(token) is None:
        return _reset_gone()
    form = ResetForm()
    if form.validate_on_submit():
        try:
            with undone_on_error():
                user = recovery.reset_password(token, form.password.data,
                                               form.password_again.data, utcnow())
        except ServiceError as error:
            if error.field is None:
                return _reset_gone()
            getattr(form, error.field).errors.append(error.message)
        else:
            if current_user.is_authenticated and current_user.id == user.id:
                logout_user()
                session.clear()
            flash(_("Your password is changed. Sign in with your new password."), "success")
            return redirect(url_for("auth.login"), 303)
    return render_template("auth/reset.html", form=form,
                           title=_("Choose a new password")), 400 if form.errors else 200


def _reset_gone():
    return render_template("auth/reset_gone.html", title=_("This link does not work")), 404


# --- Your account -----------------------------------------------------------------------------

def _account_page(password_form=None, email_form=None, status=200):
    password_form = password_form or PasswordChangeForm(formdata=None)
    email_form = email_form or EmailChangeForm(formdata=None)
    failed = password_form if password_form.errors else email_form
    return render_template("auth/account.html", password_form=password_form,
                           email_form=email_form, form=failed,
                           households=accounts.own_households(current_user),
                           title=_("Your account")), status


@bp.route("/account")
@login_required
def account():
    return _account_page()


@bp.route("/account/password", methods=["POST"])
@limiter.limit(_login_limit, key_func=_user_key)
@login_required
def change_password():
    """Change the password, giving the current one: every other session ends, this one
    stays signed in."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            with undone_on_error():
                recovery.change_password(user, form.current_password.data,
                                         form.new_password.data,
                                         form.new_password_again.data, utcnow())
        except ServiceError as error:
            getattr(form, error.field or "new_password").errors.append(error.message)
        else:
            login_user(user)  # this session, under the account's new session generation
            flash(_("Your password is changed. Anywhere else you were signed in, you are "
                    "now signed out."), "success")
            return redirect(url_for("auth.account"), 303)
    return _account_page(password_form=form, status=400)


@bp.route("/account/email", methods=["POST"])
@limiter.limit(_reset_limit, key_func=_user_key)
@login_required
def change_email():
    """Ask to use a new e-mail address: it changes once the link sent there is opened."""
    form = EmailChangeForm()
    if form.validate_on_submit():
        try:
            with undone_on_error():
                recovery.ask_email_change(current_user._get_current_object(),
                                          form.email_password.data, form.new_email.data,
                                          utcnow())
        except ServiceError as error:
            getattr(form, error.field or "new_email").errors.append(error.message)
        else:
            flash(_("We sent a link to your new address. Open it within 24 hours to finish "
                    "the change. Until then, keep using your old address."), "success")
            return redirect(url_for("auth.account"), 303)
    return _account_page(email_form=form, status=400)


@bp.route("/account/household/<int:household_id>", methods=["POST"])
@login_required
def household_language(household_id: int):
    """A member sets their household's language (its e-mails and slips) and whether it
    wants its news on paper too. Not their household: 404."""
    try:
        with undone_on_error():
            accounts.set_household_language(
                current_user._get_current_object(), household_id,
                request.form.get("locale"), request.form.get("paper_slips") == "y")
    except ServiceError:
        abort(404)
    flash(_("Saved: your household's e-mails and slips are in that language."), "success")
    return redirect(url_for("auth.account", _anchor="household"), 303)


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """The link sent to the new address: a button makes the change (a GET alone changes
    nothing, as mail scanners open links)."""
    change = recovery.email_change_for(token)
    if change is None:
        return render_template("auth/email_gone.html", title=_("This link does not work")), 404
    error = None
    if request.method == "POST":
        try:
            with undone_on_error():
                user = recovery.confirm_email_change(token, utcnow())
        except ServiceError as refused:
            error = refused.message
        else:
            flash(_("Your e-mail address is now %(email)s.", email=user.email), "success")
            signed_in = current_user.is_authenticated and current_user.id == user.id
            return redirect(url_for("auth.account" if signed_in else "auth.login"), 303)
    return render_template("auth/email_confirm.html", new_email=change.new_email, error=error,
                           title=_("Confirm your new e-mail address")), 400 if error else 200
