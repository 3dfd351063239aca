"""The tablet's pages. Household ids and PINs travel only in POST bodies; no household
label is ever in a URL or a page title (history keeps both).

Each page parses its form, calls one use case (services.dropin, or services.tablet for
sessions, turns and PINs) and renders or redirects; the request is the transaction
(bulkbuy.transactions), and a refused use case runs inside `undone_on_error`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from bulkbuy import access, fragment_cache, i18n, validation
from bulkbuy.domain.money import format_pence
from bulkbuy.extensions import limiter
from bulkbuy.models import utcnow
from bulkbuy.services import ServiceError, dropin, pledges, solidarity, tablet
from bulkbuy.tablet import bp
from bulkbuy.tablet.state import (
    SESSION_KEY,
    TABLET_COOKIE,
    TURN_COOKIE,
    current_turn,
    delete_cookie,
    forget_locale,
    idle_limit,
    pending_locale,
    pick_locale,
    set_cookie,
    tablet_session,
)
from bulkbuy.transactions import undone_on_error


def _password_limit():
    """Guessing the helper's password at the tablet is limited as signing in is."""
    return current_app.config["LOGIN_RATE_LIMIT"]


def _pin_limit():
    """PINs sent per tablet session (each one checked costs a slow hash)."""
    return current_app.config["PIN_RATE_LIMIT"]


def _pin_address_limit():
    """PINs sent per network address, over all its tablets: as sign-in tries are (a hall's
    tablets share its wifi's address)."""
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def _tablet_key() -> str:
    """The PIN limit's key: this browser's tablet session (its id, from the signed Flask
    session), or its network address when it has none."""
    found = session.get(SESSION_KEY)
    return f"tablet:{found}" if found is not None else f"tablet:@{get_remote_address()}"


#: A page of a turn that is over, looked at again (back after Done, a reload): every tap
#: was saved when it was made.
ENDED = _l("Your turn is over, and your order is saved. Tap your flat to start again.")
#: A tap or cash sent from such a page.
ENDED_UNCHANGED = _l("Your turn is over, so this change was not made. Your earlier "
                     "order is saved. Tap your flat to start again.")
SUMMARY_KEY = "tablet_done_visit_id"
#: The turn that just ended on Done, whose slip the worker may still print (dropin.turn_slip);
#: forgotten when the next person starts (the list shows, or the tablet is left).
SLIP_KEY = "tablet_slip_visit_id"
#: The language of the turn that just ended on Done: its thanks and summary are shown in
#: it, once (a reload of the thanks, like the rest of the tablet between turns, is English).
THANKS_LOCALE_KEY = "tablet_thanks_locale"


def _session_or_start():
    found = tablet_session()
    if found is None:
        return None, redirect(url_for("tablet.start"), 303)
    return found, None


#: The idle warning shows at least this long before the turn ends (WCAG 2.2.1 asks for
#: at least 20 seconds to answer it).
WARNING_LEAD_SECONDS = 30


def idle_timing(config) -> tuple[int, int]:
    """(idle seconds, seconds idle before the warning shows): the configured warning
    time, but never later than WARNING_LEAD_SECONDS before the end (nor below 0)."""
    idle = int(config.get("TABLET_IDLE_SECONDS", 120))
    warn = int(config.get("TABLET_WARN_SECONDS", 90))
    return idle, max(0, min(warn, idle - WARNING_LEAD_SECONDS))


def _page(template: str, status: int = 200, **context):
    idle, warn = idle_timing(current_app.config)
    return render_template(template, tablet_mode=True, idle_seconds=idle,
                           warn_seconds=warn, **context), status


# --- the worker starts and leaves ----------------------------------------------------------


@bp.route("/start", methods=["GET", "POST"])
@login_required
def start():
    """A worker (or organiser) starts a tablet session for one of their groups."""
    if tablet_session() is not None:
        return redirect(url_for("tablet.households"), 303)
    session.pop(SESSION_KEY, None)  # a session ended elsewhere: this browser is free again
    screen = dropin.start_screen(current_user, utcnow())
    groups = screen.groups
    if not groups:
        abort(403)  # only a group's workers and organisers start its tablet
    if request.method == "POST":
        mine = {group.id: group for group in groups}
        group = mine.get(validation.record_id(request.form.get("group_id")))
        if group is None:  # none, not a number, no such group, or not one of theirs
            flash(_("Choose one of your groups for this drop-in."), "error")
            return redirect(url_for("tablet.start"), 303)
        access.require_role(group.id, *access.STAFF_ROLES)  # the group's two-step rule
        started, token = tablet.start_session(group, current_user, utcnow())
        session[SESSION_KEY] = started.id
        response = make_response(redirect(url_for("tablet.households"), 303))
        set_cookie(response, TABLET_COOKIE, token)
        return response
    return render_template("tablet/start.html", groups=groups, last_calls=screen.last_calls,
                           drop_ins=screen.drop_ins, title=_("Start the tablet"))


@bp.route("/leave", methods=["GET", "POST"])
@login_required
@limiter.limit(_password_limit, methods=["POST"])
def leave():
    """Leaving tablet mode needs the worker's password."""
    found, away = _session_or_start()
    if away:
        return away
    error = None
    if request.method == "POST":
        group_id, session_id = found.group_id, found.id
        try:
            with undone_on_error():
                dropin.leave_tablet(found, request.form.get("password", ""), utcnow())
        except ServiceError as refused:
            error = refused.message
        else:
            session.pop(SESSION_KEY, None)
            _forget_the_last_turn()
            forget_locale()
            response = make_response(redirect(
                url_for("organiser.tablet_sheet", group_id=group_id, session_id=session_id),
                303))
            for name in (TABLET_COOKIE, TURN_COOKIE):
                delete_cookie(response, name)
            return response
    title = _("Helper: leave tablet mode")
    return _page("tablet/leave.html", 400 if error else 200, error=error,
                 title=_("Error: %(title)s", title=title) if error else title)


# --- the household list and choosing one ---------------------------------------------------


@bp.route("/")
@login_required
def households():
    """The list residents tap. Showing it ends any resident's turn still open.

    The page depends only on the group's households (labels and blocks), so a
    rendered copy is kept per group and checked against one cheap query.
    """
    found, away = _session_or_start()
    if away:
        return away
    group_id = found.group_id
    ended = tablet.end_turns_for_next_person(found, utcnow(), idle_limit())
    if ended:
        _forget_the_resident()  # their turn was still open: nothing of it is shown
    session.pop(CHOSEN_KEY, None)
    _forget_the_last_turn()
    html = _household_list(group_id)
    response = make_response(html)
    if ended or request.cookies.get(TURN_COOKIE):
        delete_cookie(response, TURN_COOKIE)
    return response


def _household_list(group_id: int) -> str:
    if session.get("_flashes"):  # messages to show: render this one afresh
        return _render_household_list(group_id, generate_csrf())
    key = (group_id, tablet.households_version(group_id), str(get_locale()),
           current_app.config.get("TABLET_IDLE_SECONDS"),
           current_app.config.get("TABLET_WARN_SECONDS"))
    html = fragment_cache.tablet_lists.get(key)
    if html is None:
        html = fragment_cache.without_indentation(
            _render_household_list(group_id, fragment_cache.CSRF_PLACEHOLDER))
        fragment_cache.tablet_lists.put(key, html)
    return html.replace(fragment_cache.CSRF_PLACEHOLDER, generate_csrf())


def _render_household_list(group_id: int, csrf: str) -> str:
    blocks: dict[str, list] = {}
    other = _("Other homes")
    for home in tablet.households(group_id):
        blocks.setdefault(home.block or other, []).append(home)
    languages = [(code, name, i18n.direction(code)) for code, name in i18n.choices()]
    html, _status = _page("tablet/households.html", blocks=blocks, csrf_token=lambda: csrf,
                          languages=languages, title=_("Tap your flat"))
    return html


CHOSEN_KEY = "tablet_household_id"


def _forget_the_last_turn() -> None:
    """The next person is here: the last household's slip, summary and the language of
    its thanks are gone (a thanks page that never loaded must not show them later)."""
    session.pop(SLIP_KEY, None)
    session.pop(SUMMARY_KEY, None)
    session.pop(THANKS_LOCALE_KEY, None)


def _forget_the_resident() -> None:
    """Drop what the session holds of the resident whose turn ends: the flat they tapped,
    and any message not yet shown ("You want 3 of ... Saved.", cash taken), which would
    otherwise appear on the next page, in front of the next person."""
    session.pop(CHOSEN_KEY, None)
    session.pop(SUMMARY_KEY, None)
    session.pop(THANKS_LOCALE_KEY, None)
    session.pop("_flashes", None)
    forget_locale()  # the turn's language ends with it


@bp.route("/language", methods=["POST"])
@login_required
def language():
    """A language tapped on the list: the next turn is shown in it, from the PIN page on,
    and it ends with that turn. An unknown or malformed code is English, not an error."""
    _found, away = _session_or_start()
    if away:
        return away
    pick_locale(request.form.get("lang"))
    return redirect(url_for("tablet.households"), 303)


@bp.route("/household", methods=["POST"])
@login_required
def choose():
    """A tile was tapped: remember which, and show its PIN page by GET (so going back
    in history never re-sends this form, and no household is in the address)."""
    found, away = _session_or_start()
    if away:
        return away
    try:
        with undone_on_error():
            household = tablet.household_in(found, request.form.get("household_id"))
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("tablet.households"), 303)
    session[CHOSEN_KEY] = household.id
    _forget_the_last_turn()
    return redirect(url_for("tablet.pin"), 303)


def _not_the_helper_password() -> bool:
    return request.form.get("helper") != "yes"


@bp.route("/pin", methods=["GET", "POST"])
@login_required
# A PIN checked costs a slow hash: limited per tablet and per address, so the page
# cannot be used to burn CPU (a locked PIN is refused before any hash).
@limiter.limit(_pin_limit, methods=["POST"], key_func=_tablet_key)
@limiter.limit(_pin_address_limit, methods=["POST"])
# The helper's password is the worker's sign-in password: never guessable here faster
# than at sign-in.
@limiter.limit(_password_limit, methods=["POST"], exempt_when=_not_the_helper_password)
def pin():
    found, away = _session_or_start()
    if away:
        return away
    try:
        with undone_on_error():
            household = tablet.household_in(
                found, request.form.get("household_id") or session.get(CHOSEN_KEY))
    except ServiceError as error:
        if request.method == "POST":
            flash(error.message, "error")
        return redirect(url_for("tablet.households"), 303)
    if request.method == "GET":
        return _page("tablet/pin.html", household=household, error=None,
                     title=_("Enter your PIN"))
    now = utcnow()
    if request.form.get("helper") == "yes":
        try:
            with undone_on_error():
                _visit, token = tablet.helper_confirms(found, household,
                                                       request.form.get("password", ""), now,
                                                       locale=pending_locale())
        except ServiceError as error:
            tablet.helper_password_refused(found, household)  # kept: the request commits
            return _page("tablet/pin.html", 400, household=household, error=None,
                         helper_error=error.message, title=_("Error: Enter your PIN"))
    else:
        # Failures and lockouts are kept: the request commits, whatever the answer.
        result = tablet.check_pin(found, household, request.form.get("pin", ""), now,
                                  locale=pending_locale())
        if result.visit is None:
            return _page("tablet/pin.html", 400, household=household, error=result.message,
                         title=_("Error: Enter your PIN"))
        token = result.token
    session.pop(CHOSEN_KEY, None)
    forget_locale()  # the turn has it now (TabletVisit.locale), and ends with it
    response = make_response(redirect(url_for("tablet.order"), 303))
    set_cookie(response, TURN_COOKIE, token)
    return response


# --- a resident's turn ---------------------------------------------------------------------


def _turn_or_list():
    turn = current_turn()
    if turn is None:  # ended (an idle one just now: the request commits that)
        _forget_the_resident()
        flash(str(ENDED if request.method == "GET" else ENDED_UNCHANGED), "error")
        response = make_response(redirect(url_for("tablet.households"), 303))
        delete_cookie(response, TURN_COOKIE)
        return None, response
    return turn, None


@bp.route("/order")
@login_required
def order():
    turn, away = _turn_or_list()
    if away:
        return away
    return _order_page(turn)


@dataclass(frozen=True)
class TypedError:
    """A number typed into a product's box and refused: shown in that card."""

    item_id: int
    message: str
    value: str


def _order_page(turn, error: TypedError | None = None):
    """The pledge screen; with `error`, afresh (never kept) with the refused number in its
    card, an error summary at the top and status 400."""
    screen = dropin.pledge_screen(turn, utcnow())
    # The open rounds' part (every product's card, the item count and the most) is kept
    # per household and the versions of the group and its open rounds (screen.key); the
    # bills and the done bar are put round it on every load.
    key = (*screen.key, str(get_locale()))
    kept = None if error else fragment_cache.tablet_orders.get(key)
    if kept is None:
        open_rounds = screen.open_rounds()
        kept = (fragment_cache.without_indentation(render_template(
            "tablet/_open_rounds.html", rounds=open_rounds.rounds, helpers=open_rounds.helpers,
            csrf=fragment_cache.CSRF_PLACEHOLDER, error=error)), bool(open_rounds.rounds),
            open_rounds.item_count, open_rounds.most_pence)
        if error is None:
            fragment_cache.tablet_orders.put(key, kept)
    rounds_html, any_rounds, item_count, most_pence = kept
    title = _("Your order")
    html, status = _page("tablet/order.html", 400 if error else 200,
                         household=screen.household,
                         rounds_html=Markup(rounds_html),  # noqa: S704 - autoescaped above
                         any_rounds=any_rounds, owed=screen.owed,
                         deliveries=screen.deliveries, held=screen.held_apart,
                         changes=screen.changes, credit_pence=screen.credit_pence,
                         closed_apart=screen.closed_apart, closed_by_id=screen.closed_by_id,
                         savings=screen.savings,
                         item_count=item_count,
                         most_pence=most_pence, owed_pence=screen.owed_pence,
                         seen_ago=screen.seen_ago, error=error,
                         title=_("Error: %(title)s", title=title) if error else title)
    # Once for the whole page, not once a card (the token is URL-safe).
    return html.replace(fragment_cache.CSRF_PLACEHOLDER, generate_csrf()), status


@bp.route("/pledge", methods=["POST"])
@login_required
def pledge():
    """A + or − tap: set the household's quantity to the number the button carries. Or
    a number typed in a product's box (`typed`): a number refused is shown in its card."""
    turn, away = _turn_or_list()
    if away:
        return away
    item_id = validation.record_id(request.form.get("item_id")) or 0
    if request.form.get("typed") == "yes":
        text = request.form.get("quantity") or ""
        try:
            quantity = _count(text)
        except ValueError as error:
            return _order_page(turn, TypedError(item_id, str(error), text.strip()[:20]))
    else:
        quantity = _typed_quantity(request.form.get("quantity"))
    try:
        with undone_on_error():
            item = dropin.pledge_at_tablet(
                turn, item_id, quantity, max_units=current_app.config["MAX_UNITS_PER_PLEDGE"],
                now=utcnow())
    except ServiceError as error:
        return _refused_at_the_card(error, item_id)
    flash(_("You want %(n)s of %(name)s. Saved.", n=quantity, name=item.name), "success")
    return redirect(url_for("tablet.order") + f"#item-{item_id}", 303)


def _refused_at_the_card(error: ServiceError, item_id: int):
    """A + / − or a typed number refused: say why, back at the product's card (or the
    top of the page for a product not in this round, or a round now closed)."""
    if isinstance(error, pledges.RoundNotOpenError):
        flash(_("Orders for this round have closed, so nothing was changed."), "error")
        return redirect(url_for("tablet.order"), 303)
    flash(error.message, "error")
    if error.field == "item_id":  # no such product here: no card to go back to
        return redirect(url_for("tablet.order"), 303)
    return redirect(url_for("tablet.order") + f"#item-{item_id}", 303)


@bp.route("/take-more", methods=["POST"])
@login_required
def take_more():
    """A − or + tap on "I'll take up to N more to fill a case": set the household's extra
    to the number the button carries (its quantity kept)."""
    turn, away = _turn_or_list()
    if away:
        return away
    item_id = validation.record_id(request.form.get("item_id")) or 0
    tolerance = _typed_quantity(request.form.get("tolerance"))
    try:
        with undone_on_error():
            item = dropin.take_more_at_tablet(
                turn, item_id, tolerance,
                max_units=current_app.config["MAX_UNITS_PER_PLEDGE"], now=utcnow())
    except ServiceError as error:
        return _refused_at_the_card(error, item_id)
    flash(_("If it fills a case, you will take up to %(n)s more %(name)s. Saved.",
            n=tolerance, name=item.name), "success")
    return redirect(url_for("tablet.order") + f"#item-{item_id}", 303)


def _typed_quantity(text: str | None) -> int | None:
    """The quantity sent, read by the same parser as the round page's (digits of any
    script, no signs or separators), or None, which the use case refuses plainly."""
    try:
        return validation.whole_number(text, _("Number"),
                                       maximum=current_app.config["MAX_UNITS_PER_PLEDGE"])
    except ValueError:
        return None


def _count(text: str) -> int:
    """A number typed in a product's box, with the round page's words for what is wrong."""
    maximum = current_app.config["MAX_UNITS_PER_PLEDGE"]
    try:
        return validation.whole_number(text, _("Number"), maximum=maximum)
    except ValueError:
        stripped = (text or "").strip()
        if not stripped:
            raise ValueError(_("Enter how many you want, like 2")) from None
        if stripped.isdigit():
            raise ValueError(_("You can have up to %(n)s", n=maximum)) from None
        raise ValueError(_("Enter a whole number, like 2")) from None


@bp.route("/cash", methods=["POST"])
@login_required
@limiter.limit(_password_limit)
def cash():
    """The helper takes cash for the resident at the tablet (their password confirms it)."""
    turn, away = _turn_or_list()
    if away:
        return away
    statement_id = validation.record_id(request.form.get("statement_id")) or 0
    try:
        with undone_on_error():
            payment = dropin.cash_at_tablet(
                turn, statement_id, request.form.get("password", ""),
                request.form.get("amount", ""), request.form.get("receipt", ""), utcnow(),
                gift=request.form.get("gift", ""))
    except ServiceError as error:
        flash(error.message, "error")
        if error.field == "statement_id":  # not one of this household's bills
            return redirect(url_for("tablet.order"), 303)
        return redirect(url_for("tablet.order") + f"#bill-{statement_id}", 303)
    flash(_("Cash recorded: %(amount)s.", amount=format_pence(payment.amount_pence)),
          "success")
    gift = solidarity.cash_gift_pence(payment.id)
    if gift:
        flash(_("And %(gift)s for the solidarity pot. Thank you!", gift=format_pence(gift)),
              "success")
    return redirect(url_for("tablet.order") + f"#bill-{statement_id}", 303)


@bp.route("/owed-back", methods=["POST"])
@login_required
@limiter.limit(_password_limit)
def owed_back():
    """Cash the group holds for the household after a short delivery: handed back now, or
    kept for its next order, as the household chooses (the helper's password confirms)."""
    turn, away = _turn_or_list()
    if away:
        return away
    statement_id = validation.record_id(request.form.get("statement_id")) or 0
    choice = request.form.get("choice", "")
    try:
        with undone_on_error():
            done = dropin.owed_back_at_tablet(turn, statement_id, choice,
                                              request.form.get("password", ""), utcnow())
    except ServiceError as error:
        flash(error.message, "error")
        if error.field == "statement_id":  # not one of this household's bills
            return redirect(url_for("tablet.order"), 303)
        return redirect(url_for("tablet.order") + f"#owed-back-{statement_id}", 303)
    amount = format_pence(done.amount_pence)
    if choice == "cash":
        flash(_("Recorded: %(amount)s handed back in cash.", amount=amount), "success")
    else:
        flash(_("Kept for your next order: %(amount)s.", amount=amount), "success")
    return redirect(url_for("tablet.order"), 303)


@bp.route("/still-here", methods=["POST"])
@login_required
def still_here():
    """"Yes, keep going": the idle timer starts again (on the server too)."""
    turn = current_turn()
    if turn is None:  # ended (an idle one just now: the request commits that)
        return {"turn": "ended"}, 409
    tablet.touch(turn, utcnow(), always=True)  # the page restarts its count now too
    return {"turn": "open"}, 200


@bp.route("/done", methods=["POST"])
@login_required
def done():
    """End the resident's turn: delete its cookie and the browser's copies, then thank them.

    A replayed Done (the turn already ended) changes nothing and goes to the list.
    """
    found, away = _session_or_start()
    if away:
        return away
    turn = current_turn()
    _forget_the_resident()
    reason = "idle" if request.form.get("reason") == "idle" else "done"
    if turn is None:
        target = url_for("tablet.households")
        if reason == "done":
            flash(_("That turn was already over. Its order is saved."), "error")
    else:
        tablet.end_visit(turn, reason, utcnow())
        if reason == "done":  # the resident is here: show what they ordered, once
            session[SUMMARY_KEY] = turn.id
            session[SLIP_KEY] = turn.id  # and the worker may print their slip
            session[THANKS_LOCALE_KEY] = i18n.or_default(turn.locale)
        else:
            session.pop(SLIP_KEY, None)
            session.pop(THANKS_LOCALE_KEY, None)
        target = url_for("tablet.thanks")
    response = make_response(redirect(target, 303))
    delete_cookie(response, TURN_COOKIE)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.route("/thanks")
@login_required
def thanks():
    """Thanks; straight after Done, once, a short summary of what the household ordered
    and owes (no name of theirs: a reload or going back shows only the thanks)."""
    found, away = _session_or_start()
    if away:
        return away
    summary = dropin.turn_summary(found, session.pop(SUMMARY_KEY, None), utcnow())
    code = session.pop(THANKS_LOCALE_KEY, None)
    with force_locale(i18n.or_default(code) if summary is not None else i18n.DEFAULT):
        return _page("tablet/thanks.html", summary=summary, title=_("Thank you"))


@bp.route("/slip/<int:round_id>")
@login_required
def slip(round_id: int):
    """The worker prints the slip (slips/print.html) of the household whose turn it is, or
    whose turn just ended on Done, for one of its rounds; anything else is 404."""
    found, away = _session_or_start()
    if away:
        return away
    try:
        with undone_on_error():
            printed = dropin.turn_slip(found, current_turn(), session.get(SLIP_KEY),
                                       round_id, utcnow())
    except ServiceError:
        abort(404)
    return render_template("slips/print.html", slips=[printed.slip],
                           timezone=printed.timezone, title=_("This household's slip"),
                           back_url=url_for("tablet.households"))
