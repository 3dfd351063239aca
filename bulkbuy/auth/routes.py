from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from bulkbuy import i18n
from bulkbuy.auth import bp
from bulkbuy.auth.forms import InviteCodeForm, JoinForm, LoginForm
from bulkbuy.auth.two_step import hold_sign_in
from bulkbuy.extensions import account_key, limiter
from bulkbuy.models import utcnow
from bulkbuy.redirects import same_site_path
from bulkbuy.services import ServiceError, accounts, joining, two_step
from bulkbuy.transactions import undone_on_error


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_address_limit():
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def join_limit():
    """Join forms sent per network address, counted apart from sign-in tries (neighbours
    joining on one hall's wifi share an address)."""
    return current_app.config["JOIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in."""
    return same_site_path(target, url_for("resident.home"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_address_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=account_key)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is not None:
            session.clear()
            if two_step.is_on(user):  # not signed in until the code is right as well
                hold_sign_in(user, _safe_next(request.args.get("next")))
                return redirect(url_for("auth.two_step_login"), 303)
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(_("That email and password do not match. Try again."))
    return render_template("auth/login.html", form=form, title=_("Sign in"))


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out here and everywhere: a copy of this session's cookie stops working."""
    if current_user.is_authenticated:
        accounts.end_sessions(current_user, reason="signed_out")
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
def choose_language():
    """The footer's language picker: remembered in a cookie (a year) for this browser,
    and on the account of a signed-in person; back to the page it was chosen on. An
    unknown or malformed code is English."""
    code = i18n.or_default(request.form.get("language"))
    if current_user.is_authenticated:
        accounts.set_language(current_user, code)
    response = redirect(same_site_path(request.form.get("next"), url_for("resident.home")),
                        303)
    response.set_cookie(i18n.COOKIE, code, max_age=i18n.COOKIE_MAX_AGE, httponly=True,
                        samesite="Lax", secure=bool(current_app.config.get(
                            "SESSION_COOKIE_SECURE")))
    return response


@bp.route("/join", methods=["GET", "POST"])
def join():
    form = InviteCodeForm()
    if form.validate_on_submit():
        group = accounts.group_for_invite(form.code.data)
        if group is not None:
            return redirect(url_for("auth.join_group", code=group.invite_code))
        form.code.errors.append(_("We do not know that code. Check it with your organiser."))
    return render_template("auth/join.html", form=form, title=_("Join your group"))


@bp.route("/join/<code>", methods=["GET", "POST"])
@limiter.limit(join_limit, methods=["POST"])
def join_group(code: str):
    group = accounts.group_for_invite(code)
    if group is None:
        abort(404)
    form = JoinForm()
    if current_user.is_authenticated:
        form.email.validators = form.password.validators = form.name.validators = []
    if form.validate_on_submit():
        signed_in = current_user.is_authenticated
        try:
            with undone_on_error():
                if signed_in:
                    accounts.join_with_household(
                        group, current_user._get_current_object(), form.household.data)
                else:
                    joining.ask_to_join(
                        group, email=form.email.data, name=form.name.data,
                        household_label=form.household.data, password=form.password.data,
                        now=utcnow())
        except ServiceError as error:
            getattr(form, error.field or "household").errors.append(error.message)
        else:
            if not signed_in:  # the same answer for every address (services/joining.py)
                return redirect(url_for("auth.join_sent", code=group.invite_code), 303)
            flash(_("Welcome to %(group)s.", group=group.name), "success")
            return redirect(url_for("resident.home"))
    return render_template(
        "auth/join_group.html", form=form, group=group,
        title=_("Join %(group)s", group=group.name),
    )


@bp.route("/join/<code>/sent")
def join_sent(code: str):
    """What everyone who asked to join is told, whatever their address."""
    group = accounts.group_for_invite(code)
    if group is None:
        abort(404)
    return render_template("auth/join_sent.html", group=group, title=_("Check your e-mail"))


@bp.route("/join/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(join_limit, methods=["POST"])
def join_confirm(token: str):
    """The link we e-mailed: a button makes the account (a GET alone changes nothing,
    as mail scanners open links)."""
    pending = joining.waiting_join(token, utcnow())
    if pending is None:
        return render_template("auth/join_gone.html", title=_("This link does not work")), 404
    error = None
    if request.method == "POST":
        try:
            with undone_on_error():
                user, group = joining.finish_joining(token, utcnow())
        except ServiceError as refused:
            error = refused.message
        else:
            session.clear()
            login_user(user)
            flash(_("Welcome to %(group)s.", group=group.name), "success")
            return redirect(url_for("resident.home"), 303)
    return render_template("auth/join_confirm.html", pending=pending, group=pending.group,
                           error=error, title=_("Finish joining")), 400 if error else 200
