"""Wiring for the web side: blueprints, sign-in, headers on every response, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import flask_babel
from flask import Flask, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.routing import IntegerConverter
from werkzeug.security import safe_join

from bulkbuy import formatting, i18n
from bulkbuy.domain.progress import describe_fill
from bulkbuy.extensions import db, limiter, login_manager
from bulkbuy.models import User
from bulkbuy.services import accounts, residents, slips
from bulkbuy.validation import MAX_ID

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class RowIdConverter(IntegerConverter):
    """`<int:...>` in our routes: a number too large to be a row id does not match
    (404), instead of reaching the database and failing there."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Register blueprints, the user loader, response headers, error pages and filters."""
    from bulkbuy.admin import bp as admin_bp
    from bulkbuy.auth import bp as auth_bp
    from bulkbuy.media import allow_picture_uploads
    from bulkbuy.media import bp as media_bp
    from bulkbuy.ops import bp as ops_bp
    from bulkbuy.organiser import bp as organiser_bp
    from bulkbuy.payments import bp as payments_bp
    from bulkbuy.resident import bp as resident_bp
    from bulkbuy.tablet import bp as tablet_bp

    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    i18n.tablet_turn = _tablet_turn
    app.register_blueprint(auth_bp)
    app.register_blueprint(resident_bp)
    app.register_blueprint(organiser_bp, url_prefix="/organise")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(payments_bp)
    app.register_blueprint(tablet_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(media_bp)
    # First of all, before CSRFProtect reads the form: pages that take pictures allow a
    # larger request (bulkbuy.media.allow_picture_uploads).
    app.before_request_funcs.setdefault(None, []).insert(0, allow_picture_uploads)
    app.before_request(_keep_tablets_in_tablet_mode)
    app.url_defaults(_fingerprint_static_urls)

    # The only rate limits are on POSTs (sign-in, joining): skip the limiter's
    # per-request work for every other request.
    limiter.request_filter(lambda: request.method != "POST")

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Translated when it is flashed (in the request's language), and flashed as plain text.
    login_manager.login_message = _l("Sign in to see this page.")
    login_manager.localize_callback = str
    login_manager.session_protection = "strong"

    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)
    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, _error_page)

    # Drop the blank lines and indentation that block tags leave behind.
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    _install_request_cached_gettext(app)
    app.jinja_env.filters["pence"] = formatting.pence
    app.jinja_env.filters["when"] = formatting.when
    app.jinja_env.filters["clock"] = formatting.clock
    app.jinja_env.filters["day"] = formatting.day
    app.jinja_env.filters["number"] = formatting.number
    app.jinja_env.filters["pence_input"] = formatting.pence_input
    app.jinja_env.filters["input_value"] = formatting.input_value
    app.jinja_env.globals["fill_text"] = lambda fill: describe_fill(fill, _cached_ngettext)
    app.jinja_env.globals["organises_a_group"] = organises_a_group
    app.jinja_env.globals["status_words"] = status_words
    # Pages of printed slips (organisers' and the tablet's): one slip in its household's
    # language.
    app.jinja_env.globals["slip_html"] = slips.render


def _tablet_turn() -> tuple[bool, str | None]:
    """For i18n.select_locale: whether this is a tablet in tablet mode, and its turn's
    language."""
    from bulkbuy.tablet.state import in_tablet_mode, turn_locale

    return (True, turn_locale()) if in_tablet_mode() else (False, None)


def _translations():
    """The translations of the language in force, looked up once per language.

    Flask-Babel looks them up again on every `_()` call, which made translation most of
    the round page's rendering time. The language in force can change inside a request
    (`with flask_babel.force_locale(code):` for a household's slip or e-mail), so the
    kept translations are tied to the Locale object they are for, kept beside it in
    Flask-Babel's per-context state (where `get_locale` keeps the locale and
    `force_locale` swaps it): the same object (the usual case: one identity check) reuses
    them, any other asks Flask-Babel again (which keeps each catalogue per process).
    Should Flask-Babel keep its state elsewhere one day, this stays right, just slower.
    """
    state = g.get("_flask_babel")
    kept = getattr(state, "bulkbuy_translations", None)
    if kept is not None and kept[0] is getattr(state, "babel_locale", None):
        return kept[1]
    locale = flask_babel.get_locale()
    translations = flask_babel.get_translations()
    state = g.get("_flask_babel")
    if state is not None:
        state.bulkbuy_translations = (locale, translations)
    return translations


def _cached_ngettext(singular: str, plural: str, num: int, **variables) -> str:
    """flask_babel.ngettext (the same result), with the request's translations looked
    up once: fill_text calls it for every product on a page."""
    variables.setdefault("num", num)
    return _translations().ungettext(singular, plural, num) % variables


def _install_request_cached_gettext(app: Flask) -> None:
    """Make templates' `_()` and `ngettext()` use `_translations()` (same results)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The signed-in user, while their session's generation is still the account's."""
    user_id, _dot, generation = session_id.partition(".")
    if not (user_id.isdigit() and generation.isdigit()):
        return None  # a session from before generations, or a forged id: signed out
    return accounts.user_for_session(int(user_id), int(generation))


def status_words() -> dict[str, str]:
    """A round's status in plain words, for every page."""
    return {
        "draft": _("Not open yet"),
        "pending_approval": _("Waiting for an organiser"),
        "open": _("Open"),
        "closed": _("Orders closed"),
        "ordered": _("Ordered from the supplier"),
        "delivered": _("Delivered"),
        "complete": _("Finished"),
        "failed": _("Did not go ahead"),
        "cancelled": _("Cancelled"),
    }


def clear_caches() -> None:
    """Forget every in-process cached answer and page (tests; after bulk data changes)."""
    from bulkbuy import fragment_cache

    residents.forget_organiser_links()
    for cache in fragment_cache.ALL:
        cache.clear()


def organises_a_group() -> bool:
    """Whether to show the signed-in user the Organise link (residents.organises_a_group:
    kept a minute per user)."""
    return residents.organises_a_group(current_user)


#: What a browser in tablet mode may reach: the tablet's pages, its static files,
#: Stripe's webhook (which is not a browser), and product pictures (bulkbuy.media).
_TABLET_ENDPOINTS = ("static", "payments.stripe_webhook", "media.picture")


def _keep_tablets_in_tablet_mode():
    """A tablet stays on the tablet's pages until the worker leaves with their password,
    so a resident at the tablet never reaches the worker's own pages."""
    from bulkbuy.tablet.state import in_tablet_mode

    endpoint = request.endpoint
    if endpoint is None:
        return None  # no such page: a 404 (a browser's /favicon.ico must not end a turn)
    if (in_tablet_mode() and not endpoint.startswith("tablet.")
            and endpoint not in _TABLET_ENDPOINTS):
        return redirect(url_for("tablet.households"), 303)
    return None


#: Static file name → the first 12 hex digits of its content's SHA-256 (per process: the
#: files change only with a deploy, which restarts the workers).
_static_versions: dict[str, str] = {}
#: A year: the longest a cache is asked to keep a static file (its URL changes with it).
STATIC_MAX_AGE = 365 * 24 * 3600


def static_version(filename: str) -> str:
    """The fingerprint of a static file's content ("missing" for no such file); read
    afresh on every call in development, where the files are being edited."""
    version = _static_versions.get(filename)
    if version is None:
        path = safe_join(current_app.static_folder, filename)
        try:
            version = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12] if path \
                else "missing"
        except OSError:
            version = "missing"
        if current_app.config.get("BULKBUY_ENV") != "development":
            _static_versions[filename] = version
    return version


def _fingerprint_static_urls(endpoint: str, values: dict) -> None:
    """url_for("static", filename=...) carries ?v=<fingerprint>: a new file is a new URL,
    so browsers and proxies may keep each one for a year."""
    if endpoint == "static" and "filename" in values and "v" not in values:
        values["v"] = static_version(values["filename"])


def _static_cache_control(response) -> None:
    """A static file asked for by its current fingerprint is kept for a year, never
    revalidated; any other static URL is revalidated (ETag) each time."""
    filename = (request.view_args or {}).get("filename")
    if (response.status_code == 200 and filename
            and request.args.get("v") == static_version(filename)):
        response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}, immutable"


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint == "static":
        _static_cache_control(response)
    elif request.endpoint == "media.picture" and response.status_code in (200, 304):
        pass  # a product picture: its own Cache-Control (kept a year; not a secret)
    elif not request.path.startswith("/static/"):
        # Pages may show a household's orders or money: never keep a copy.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


_ERROR_TITLES = {
    400: _l("Something was wrong with that request"),
    403: _l("You cannot use this page"),
    404: _l("Page not found"),
    405: _l("Page not found"),
    413: _l("That file is too big"),
    429: _l("Too many tries"),
    500: _l("Something went wrong on our side"),
}


def _error_page(error):
    code = getattr(error, "code", 500) or 500
    if code == 500:
        db.session.rollback()
    return render_template("errors/error.html", code=code, title=_ERROR_TITLES.get(code)), code


def _csrf_error(error):
    return (
        render_template(
            "errors/error.html",
            code=400,
            title=_("We could not save that"),
            detail=_("Go back, reload the page and try again. Nothing was changed."),
        ),
        400,
    )
