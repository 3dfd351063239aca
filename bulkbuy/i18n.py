"""Which language a request is shown in, and which languages there are.

The order a page's language is chosen in (`select_locale`, Flask-Babel's locale selector):
on a drop-in tablet, the language the resident picked for their turn (it ends with the
turn); signed in, the language the person chose on their account page; otherwise the
language chosen on a signed-out page (a cookie), then the browser's Accept-Language;
English when none of these names a language we have. An unknown or malformed code is
never an error: it is English.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

#: The languages we have catalogues for: code -> (its name written in itself, direction).
#: The order is the order pickers list them in. Translations other than English are
#: drafts awaiting review by a native speaker (their catalogues' headers say so).
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "ltr"),
    "pl": ("Polski", "ltr"),
    "ro": ("Română", "ltr"),
    "ur": ("اردو", "rtl"),
}
DEFAULT = "en"
#: The cookie a signed-out visitor's choice of language is kept in (a year).
COOKIE = "bulkbuy_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

def _no_tablet() -> tuple[bool, str | None]:
    return False, None


#: (whether this request is a drop-in tablet's in tablet mode, the language of its turn):
#: set by web.init_app from bulkbuy.tablet.state, so that this module, which services
#: import, imports no blueprint.
tablet_turn: Callable[[], tuple[bool, str | None]] = _no_tablet

_CODE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def normalise(code: object) -> str | None:
    """The language we have for `code` ('pl', 'pl-PL', 'PL_pl' -> 'pl'), or None for an
    empty, malformed or unknown one (never raises)."""
    if not isinstance(code, str) or len(code) > 35 or not _CODE.match(code.strip()):
        return None
    base = re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()
    return base if base in LANGUAGES else None


def or_default(code: object) -> str:
    """`normalise(code)`, or English."""
    return normalise(code) or DEFAULT


def direction(code: object) -> str:
    """'rtl' for a right-to-left language, else 'ltr'."""
    return LANGUAGES[or_default(code)][1]


def choices() -> list[tuple[str, str]]:
    """(code, name in itself) of every language, for a picker."""
    return [(code, name) for code, (name, _dir) in LANGUAGES.items()]


def select_locale() -> str:
    """The request's language (see the module's docstring); English outside a request."""
    if not has_request_context():
        return DEFAULT
    on_tablet, turn_code = tablet_turn()
    if on_tablet:
        return or_default(turn_code)
    if current_user.is_authenticated and normalise(getattr(current_user, "locale", None)):
        return normalise(current_user.locale)
    chosen = normalise(request.cookies.get(COOKIE))
    if chosen:
        return chosen
    best = request.accept_languages.best_match(list(LANGUAGES))
    return or_default(best)


def current() -> str:
    """The current request's language code ('en' outside a request)."""
    return str(get_locale() or DEFAULT) if has_request_context() else DEFAULT


def init_app(app: Flask) -> None:
    """Give templates the request's language and its direction (`<html lang dir>`)."""
    app.jinja_env.globals["current_language"] = current
    app.jinja_env.globals["text_direction"] = lambda: direction(current())
    app.jinja_env.globals["language_choices"] = choices
    app.jinja_env.globals["language_direction"] = direction
