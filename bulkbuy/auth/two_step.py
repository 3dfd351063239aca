"""Two-step sign-in pages: setting it up (or off) at /account/two-step, and the code asked
for after the password at /login/two-step.

Between the password and the code the person is not signed in: the Flask session only
holds who is waiting (`hold_sign_in`), for PENDING_SECONDS, until 10 wrong codes in a row.
"""

from __future__ import annotations

from datetime import timedelta

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user

from bulkbuy.auth import bp
from bulkbuy.extensions import limiter
from bulkbuy.models import User, utcnow
from bulkbuy.qr import qr_svg
from bulkbuy.redirects import same_site_path
from bulkbuy.services import ServiceError, accounts, two_step
from bulkbuy.transactions import undone_on_error

PENDING_KEY = "two_step_pending"
PENDING_SECONDS = 5 * 60
MAX_MISSES = 10


def _two_step_limit():
    return current_app.config["TWO_STEP_RATE_LIMIT"]


def _address_limit():
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def _person_key() -> str:
    """Code tries are counted per account: the signed-in person, or the one waiting to
    finish signing in (else the network address)."""
    if current_user.is_authenticated:
        return f"two-step:{current_user.id}"
    pending = session.get(PENDING_KEY) or {}
    if pending.get("user"):
        return f"two-step:{pending['user']}"
    return f"two-step:@{get_remote_address()}"


# --- signing in ------------------------------------------------------------------------------


def hold_sign_in(user: User, next_page: str) -> None:
    """Remember, in this browser's session only, that `user` gave the right password and
    still owes a code; `next_page` is a same-site path (already checked)."""
    session[PENDING_KEY] = {
        "user": user.id, "generation": user.session_generation or 0, "next": next_page,
        "until": (utcnow() + timedelta(seconds=PENDING_SECONDS)).timestamp(), "misses": 0,
    }


def _pending() -> tuple[dict, User] | None:
    """The sign-in waiting for a code and its person, or None (none, too old, or that
    account's sessions were ended since the password was typed)."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("until", 0) < utcnow().timestamp():
        return None
    user = accounts.user_for_session(int(pending.get("user", 0)),
                                     int(pending.get("generation", -1)))
    if user is None or not two_step.is_on(user):
        return None
    return pending, user


@bp.route("/login/two-step", methods=["GET", "POST"])
@limiter.limit(_address_limit, methods=["POST"])
@limiter.limit(_two_step_limit, methods=["POST"], key_func=_person_key)
def two_step_login():
    """The second step of signing in: a code from the app, or a recovery code."""
    found = _pending()
    if found is None:
        session.pop(PENDING_KEY, None)
        flash(_("Sign in again: it took more than 5 minutes, or it was not finished."), "info")
        return redirect(url_for("auth.login"), 303)
    pending, user = found
    error = None
    if request.method == "POST":
        try:
            with undone_on_error():
                kind = two_step.check_code(user, request.form.get("code", ""), utcnow())
        except ServiceError as refused:
            error = refused.message
            pending["misses"] = int(pending.get("misses", 0)) + 1
            if pending["misses"] >= MAX_MISSES:
                session.pop(PENDING_KEY, None)
                flash(_("That was 10 wrong codes. Sign in again with your password."), "error")
                return redirect(url_for("auth.login"), 303)
            session[PENDING_KEY] = pending
        else:
            session.clear()
            login_user(user)
            if kind == "recovery":
                flash(_("You used a recovery code. You have %(n)s left. Make new ones on "
                        "your two-step sign-in page if you are running out.",
                        n=two_step.recovery_codes_left(user)), "info")
            return redirect(pending.get("next") or url_for("resident.home"), 303)
    title = _("Enter your code")
    return render_template(
        "auth/two_step_login.html", error=error,
        title=_("Error: %(title)s", title=title) if error else title), 400 if error else 200


# --- setting it up -------------------------------------------------------------------------


def _next_page() -> str | None:
    """Where the person was going when a group's rule sent them here (same-site only)."""
    target = request.values.get("next")
    return same_site_path(target, url_for("resident.home")) if target else None


def _setup_page(errors: dict | None = None, status: int = 200):
    user = current_user._get_current_object()
    waiting = user.totp_secret is not None and not two_step.is_on(user)
    title = _("Two-step sign-in")
    return render_template(
        "auth/two_step_setup.html", user=user, is_on=two_step.is_on(user), waiting=waiting,
        qr=qr_svg(two_step.provisioning_uri(user),
                   title=_("QR code for your authenticator app"), scale=4)
        if waiting else None,
        secret=two_step.secret_in_groups(user.totp_secret) if waiting else None,
        codes_left=two_step.recovery_codes_left(user) if two_step.is_on(user) else 0,
        errors=errors or {}, next_page=_next_page(),
        title=_("Error: %(title)s", title=title) if errors else title), status


def _codes_page(codes: list[str]):
    return render_template("auth/two_step_codes.html", codes=codes, next_page=_next_page(),
                           title=_("Your recovery codes"))


@bp.route("/account/two-step", methods=["GET", "POST"])
@login_required
@limiter.limit(_two_step_limit, methods=["POST"], key_func=_person_key)
def two_step_settings():
    """See whether two-step sign-in is on; set it up, turn it off, or make new recovery
    codes (each needs a code from the app; turning off also the password)."""
    if request.method == "GET":
        return _setup_page()
    user = current_user._get_current_object()
    action = request.form.get("action")
    code, now = request.form.get("code", ""), utcnow()
    try:
        with undone_on_error():
            if action == "start":
                two_step.start_setup(user)
            elif action == "confirm":
                return _codes_page(two_step.confirm_setup(user, code, now))
            elif action == "renew":
                return _codes_page(two_step.renew_recovery_codes(user, code, now))
            elif action == "off":
                two_step.turn_off(user, request.form.get("password", ""), code, now)
                flash(_("Two-step sign-in is off. You sign in with your password only."),
                      "success")
    except ServiceError as refused:
        return _setup_page({f"{action}-{refused.field or 'code'}": refused.message}, 400)
    return redirect(url_for("auth.two_step_settings", next=_next_page()), 303)
