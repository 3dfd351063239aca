"""Which tablet session and which resident's turn a request belongs to.

Two cookies, both HttpOnly and SameSite=Strict, holding random tokens whose
hashes the server keeps: `bulkbuy_tablet` (the worker's tablet session) and
`bulkbuy_turn` (the resident's turn). Flask's own session also remembers the
tablet session id, so the worker's sign-in and tablet mode go together.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, request, session
from flask_login import current_user

from bulkbuy.models import TabletSession, TabletVisit, utcnow
from bulkbuy.services import tablet

TABLET_COOKIE = "bulkbuy_tablet"
TURN_COOKIE = "bulkbuy_turn"
SESSION_KEY = "tablet_session_id"


def idle_limit() -> timedelta:
    return timedelta(seconds=int(current_app.config.get("TABLET_IDLE_SECONDS", 120)))


def in_tablet_mode() -> bool:
    """True when this browser is a worker's signed-in tablet (cheap: no database).

    Signed out (the sign-in was lost), it is not: the worker must be able to sign
    in again, and then the tablet carries on.
    """
    return session.get(SESSION_KEY) is not None and current_user.is_authenticated


def _look_up(turn_token: str | None) -> TabletVisit | None:
    """Find this browser's tablet session (kept on `g` for the request) and, with a turn
    token, its open turn with that token, in one query."""
    found = visit = None
    if current_user.is_authenticated:
        found, visit = tablet.session_and_visit(request.cookies.get(TABLET_COOKIE),
                                                current_user.id, turn_token)
        if found is not None and found.id != session.get(SESSION_KEY):
            found = visit = None
    g.bulkbuy_tablet_session = found
    return visit


def tablet_session() -> TabletSession | None:
    """The open tablet session of this browser, or None (looked up once per request)."""
    if "bulkbuy_tablet_session" not in g:
        _look_up(None)
    return g.bulkbuy_tablet_session


def current_turn() -> TabletVisit | None:
    """The resident's open turn on this tablet, or None (an idle one is ended)."""
    token = request.cookies.get(TURN_COOKIE)
    if "bulkbuy_tablet_session" not in g:  # the first look this request: both at once
        return tablet.live_visit(_look_up(token) if token else _look_up(None), utcnow(),
                                 idle_limit())
    return tablet.current_visit(tablet_session(), token, utcnow(), idle_limit())


def set_cookie(response, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", path="/",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))


def delete_cookie(response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="Strict",
                           secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))


#: The language a resident picked on the tablet before their turn began (Flask's session);
#: moved onto the turn (TabletVisit.locale) when it starts, and forgotten when it ends.
PENDING_LOCALE_KEY = "tablet_turn_locale"
#: When it was picked (seconds since the epoch): a pick nobody started a turn with is
#: forgotten after the tablet's idle limit, so it never greets the next person.
PENDING_LOCALE_AT = "tablet_turn_locale_at"


def _fresh_pick() -> str | None:
    picked_at = session.get(PENDING_LOCALE_AT)
    if not isinstance(picked_at, int | float):
        return None
    if utcnow().timestamp() - picked_at > idle_limit().total_seconds():
        return None
    return session.get(PENDING_LOCALE_KEY)


def turn_locale() -> str | None:
    """The language of the resident at the tablet: their open turn's, else the one picked
    for the turn about to start; None (English) between residents."""
    visit = current_turn()
    if visit is not None:
        return visit.locale
    return _fresh_pick()


def pick_locale(code: object) -> str:
    """Keep the language a resident picked for the turn about to start (i18n.normalise:
    an unknown or malformed code is English, never an error); returns the code kept."""
    from bulkbuy import i18n  # (appended to this module: i18n imports it lazily too)

    chosen = i18n.or_default(code)
    session[PENDING_LOCALE_KEY] = chosen
    session[PENDING_LOCALE_AT] = int(utcnow().timestamp())
    return chosen


def pending_locale() -> str | None:
    """The language picked for the turn about to start, or None (English). Once the turn
    has started it keeps it (TabletVisit.locale): then forget_locale()."""
    from bulkbuy import i18n

    return i18n.normalise(_fresh_pick())


def forget_locale() -> None:
    """Forget the language picked: the turn has started with it (and keeps it), or the
    turn is over (Done, idle, left, the next person) and its language ends with it."""
    session.pop(PENDING_LOCALE_KEY, None)
    session.pop(PENDING_LOCALE_AT, None)
