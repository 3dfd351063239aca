"""The shared tablet at a drop-in (docs/features.md "The shared tablet", docs/pages.md).

A worker signs in and starts the tablet for their group; residents tap their
flat, enter their PIN, order with + and −, and tap Done. Each test reads as
one rule and checks what the database and the responses say.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
import time_machine
from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CashPayment,
    Household,
    PledgeLine,
    Round,
    Statement,
    TabletSession,
    TabletVisit,
    utcnow,
)
from bulkbuy.services import accounts, closing, pledges, rounds, tablet
from bulkbuy.services.payments import cash as cash_service
from tests import factories
from tests.integration.test_query_count import counted_statements
from tests.pages import count, lines_of, page

PINS = ("1234", "5678")
TURN = "bulkbuy_turn"
TABLET = "bulkbuy_tablet"
NOT_RIGHT = "That PIN is not right. You can try 4 more times."
FOUR_NUMBERS = "Enter the 4 numbers of your PIN."
LOCKED_NOW = "That PIN was wrong 5 times, so it is locked for 15 minutes. Ask a helper."
STILL_LOCKED = re.compile(r"This PIN is locked for 1[45] more minutes after 5 wrong tries\. "
                          r"Ask a helper\.")
NOT_HELPER = "That is not the helper's password."
#: A page of a turn that is over, looked at again (GET), and a change sent from one (POST).
ENDED = "Your turn is over, and your order is saved. Tap your flat to start again."
ENDED_UNCHANGED = ("Your turn is over, so this change was not made. Your earlier order is "
                   "saved. Tap your flat to start again.")


# --- helpers ---------------------------------------------------------------------------------


def with_pins(w: factories.World) -> factories.World:
    """Flat 1 has PIN 1234, Flat 2 has 5678 (set by the organiser, as on the households page)."""
    for home, pin in zip(w.households, PINS, strict=True):
        tablet.set_pin(home, pin, actor=w.organiser, now=utcnow())
    db.session.commit()
    return w


def start_tablet(client, auth, w: factories.World) -> TabletSession:
    auth.login(w.worker.email)
    response = client.post("/tablet/start", data={"group_id": str(w.group.id)})
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
    return db.session.scalar(select(TabletSession).order_by(TabletSession.id.desc()))


def enter_pin(client, home: Household, pin: str):
    return client.post("/tablet/pin", data={"household_id": str(home.id), "pin": pin})


def helper_confirms(client, home: Household, password: str = factories.PASSWORD):
    return client.post("/tablet/pin", data={"household_id": str(home.id), "helper": "yes",
                                            "password": password})


def take_turn(client, home: Household, pin: str) -> TabletVisit:
    response = enter_pin(client, home, pin)
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"
    return db.session.scalar(select(TabletVisit).order_by(TabletVisit.id.desc()))


def tap(client, item, quantity):
    return client.post("/tablet/pledge", data={"item_id": str(item.id), "quantity": quantity})


def cookie_header(response, name: str) -> str:
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    return found[0]


def cookie_deleted(response, name: str) -> bool:
    header = cookie_header(response, name)
    return header.startswith(f"{name}=;") and "Max-Age=0" in header


def fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def written() -> dict[str, int]:
    """How many rows the tablet could write; compared before and after a refused request."""
    return {model.__name__: count(model) for model in
            (TabletSession, TabletVisit, PledgeLine, AuditEntry, CashPayment, Household)}


def tomatoes(w: factories.World):
    return next(i for i in w.round.items if i.name == "Tinned tomatoes")


def idle_limit(client) -> timedelta:
    return timedelta(seconds=int(client.application.config["TABLET_IDLE_SECONDS"]))


def title_of(response) -> str:
    found = re.search(r"<title>(.*?)</title>", page(response), re.S)
    return found.group(1) if found else ""


@pytest.fixture
def oak(client, auth):
    """Oak Estate (open round, Flat 1 PIN 1234, Flat 2 PIN 5678); Walt Worker has started
    the tablet for it. `oak.extra["session"]` is the tablet session."""
    w = with_pins(factories.world())
    w.extra["session"] = start_tablet(client, auth, w)
    return w


@pytest.fixture
def elm(app):
    """Another group, Elm Court, with its own worker and PINs."""
    return with_pins(factories.world(name="Elm Court", prefix="elm-"))


# --- starting the tablet ---------------------------------------------------------------------


def test_a_worker_starts_the_tablet_for_their_group_with_an_httponly_strict_cookie(
        client, auth):
    w = factories.world()
    auth.login(w.worker.email)
    assert client.get("/tablet/start").status_code == 200

    response = client.post("/tablet/start", data={"group_id": str(w.group.id)})

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
    header = cookie_header(response, TABLET)
    assert "HttpOnly" in header and "SameSite=Strict" in header
    started = db.session.scalar(select(TabletSession))
    assert (started.group_id, started.worker_id, started.ended_at) == (
        w.group.id, w.worker.id, None)
    assert header.split(";")[0].split("=", 1)[1] not in started.token_hash  # only its hash
    assert [(e.actor_id, e.group_id) for e in audit("tablet.started")] == [
        (w.worker.id, w.group.id)]
    assert "Flat 1" in page(client.get("/tablet/"))


def test_a_worker_of_another_group_cannot_start_the_tablet_for_this_one(client, auth, elm):
    w = factories.world()
    auth.login(elm.worker.email)
    before = written()

    response = client.post("/tablet/start", data={"group_id": str(w.group.id)})

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/start"
    assert "Choose one of your groups for this drop-in." in page(client.get("/tablet/start"))
    assert written() == before and count(TabletSession) == 0
    assert client.get("/").status_code == 200  # not in tablet mode


def test_a_resident_cannot_start_the_tablet(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    before = written()

    assert client.get("/tablet/start").status_code == 403
    assert client.post("/tablet/start", data={"group_id": str(w.group.id)}).status_code == 403
    assert written() == before and count(TabletSession) == 0
    assert client.get("/").status_code == 200


def test_starting_without_a_real_group_asks_again_and_writes_nothing(client, auth):
    factories.world()
    auth.login("worker@oak.test")
    before = written()

    for group_id in ("", "abc", "999999", "-1"):
        response = client.post("/tablet/start", data={"group_id": group_id})

        assert response.status_code == 303, group_id
        assert response.headers["Location"] == "/tablet/start", group_id
        assert "Choose one of your groups for this drop-in." in page(
            client.get("/tablet/start"))
    assert written() == before


# --- tablet mode: the worker's pages are out of reach until they leave -----------------------


NON_TABLET_PAGES = [
    ("GET", "/"),
    ("GET", "/my-orders"),
    ("GET", "/organise/"),
    ("GET", "/organise/{gid}"),
    ("GET", "/organise/{gid}/households"),
    ("GET", "/organise/{gid}/tablet-sessions"),
    ("GET", "/organise/{gid}/rounds/{rid}"),
    ("POST", "/organise/{gid}/households/assisted"),
    ("GET", "/rounds/{rid}"),
    ("GET", "/login"),
    ("POST", "/logout"),
    ("GET", "/admin/groups"),
]


def test_in_tablet_mode_every_other_page_sends_the_browser_back_to_the_tablet(client, oak):
    for method, path in NON_TABLET_PAGES:
        url = path.format(gid=oak.group.id, rid=oak.round.id)
        response = client.open(url, method=method, data={"label": "Sneaky", "pin": "1111"}
                               if method == "POST" else None)
        assert response.status_code == 303, url
        assert response.headers["Location"] == "/tablet/", url
    # No such page (a browser's /favicon.ico): a plain 404, which ends nobody's turn.
    assert client.get("/favicon.ico").status_code == 404
    assert client.get("/no-such-page").status_code == 404
    # Starting another session from the tablet only shows the list again.
    again = client.post("/tablet/start", data={"group_id": str(oak.group.id)})
    assert again.headers["Location"] == "/tablet/" and count(TabletSession) == 1
    # /logout did not sign the worker out and nothing was added.
    assert client.get("/tablet/").status_code == 200
    assert db.session.scalar(select(Household).where(Household.label == "Sneaky")) is None
    assert fresh(oak.extra["session"]).ended_at is None


def test_leaving_needs_the_workers_password_and_a_wrong_one_keeps_tablet_mode(client, oak):
    home = oak.households[0]
    visit = take_turn(client, home, PINS[0])

    assert client.get("/tablet/leave").status_code == 200
    wrong = client.post("/tablet/leave", data={"password": "not-the-password"})
    assert wrong.status_code == 400
    assert NOT_HELPER in page(wrong)
    assert fresh(oak.extra["session"]).ended_at is None
    assert fresh(visit).ended_at is None
    assert client.get("/").headers["Location"] == "/tablet/"

    assert client.post("/tablet/leave", data={"password": ""}).status_code == 400
    assert fresh(oak.extra["session"]).ended_at is None


def test_a_wrong_password_to_leave_says_error_in_the_page_title(client, oak):
    """docs/pages.md, "Errors": the <title> of a page showing a problem starts "Error: ",
    as the tablet's PIN page does."""
    response = client.post("/tablet/leave", data={"password": "not-the-password"})

    assert response.status_code == 400 and "There is a problem" in page(response)
    assert title_of(response).startswith("Error: "), title_of(response)
    assert title_of(enter_pin(client, oak.households[0], "0000")).startswith("Error: ")


def test_the_right_password_ends_the_session_and_its_open_turn_and_shows_the_sheet(
        client, oak):
    session = oak.extra["session"]
    visit = take_turn(client, oak.households[0], PINS[0])

    response = client.post("/tablet/leave", data={"password": factories.PASSWORD})

    sheet_url = f"/organise/{oak.group.id}/tablet-sessions/{session.id}"
    assert response.status_code == 303 and response.headers["Location"] == sheet_url
    assert cookie_deleted(response, TABLET) and cookie_deleted(response, TURN)
    session, visit = fresh(session), fresh(visit)
    assert session.ended_at is not None
    assert (visit.ended_at, visit.end_reason) == (session.ended_at, "session_ended")
    assert [e.actor_id for e in audit("tablet.ended")] == [oak.worker.id]
    assert client.get(sheet_url).status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/my-orders").status_code == 200
    assert client.get(f"/organise/{oak.group.id}/households").status_code == 200
    # The tablet's pages now ask for a new start.
    assert client.get("/tablet/").headers["Location"] == "/tablet/start"


def test_an_ended_tablet_session_cookie_does_not_bring_tablet_mode_back(client, oak):
    old = client.get_cookie(TABLET).value
    client.post("/tablet/leave", data={"password": factories.PASSWORD})

    client.set_cookie(TABLET, old)
    assert client.get("/tablet/").headers["Location"] == "/tablet/start"
    assert client.get("/").status_code == 200


def test_a_tablet_that_lost_its_sign_in_can_sign_in_again(client, oak):
    """Flask-Login's "strong" session protection signs the worker out when the tablet's
    address changes (say, Wi-Fi to mobile data) but keeps the tablet-mode key in the
    session. The browser must still reach the sign-in page, not bounce for ever between
    /login and /tablet/."""
    moved = {"REMOTE_ADDR": "10.9.8.7"}
    response = client.get("/tablet/", environ_base=moved)
    seen = []
    for _hop in range(6):
        if response.status_code not in (301, 302, 303):
            break
        seen.append(response.headers["Location"])
        response = client.get(response.headers["Location"], environ_base=moved)
    assert response.status_code == 200, f"redirect loop: {seen}"
    assert "Sign in" in title_of(response)


# --- the household list and choosing a household ---------------------------------------------


def test_the_list_shows_only_labels_no_money_and_no_orders(client, auth):
    w = with_pins(factories.world())
    elm = factories.world(name="Elm Court", prefix="elm-")
    tablet.create_assisted_household(elm.group, "Elm Cottage 9", None, "1357",
                                     actor=elm.worker, now=utcnow())
    item = tomatoes(w)
    pledges.set_pledge(item, w.households[1], 7, 0, entered_by=w.residents[1], now=utcnow(),
                       max_units=999)
    db.session.commit()
    start_tablet(client, auth, w)

    response = client.get("/tablet/")

    assert response.status_code == 200
    text = page(response)
    assert "Flat 1" in text and "Flat 2" in text
    assert "£" not in text
    for secret in ("Tinned tomatoes", "Rice", "owe", "r1@oak.test", "Resident 1", ">7<"):
        assert secret not in text, secret
    assert "Not on the list? Ask a helper." in text
    assert "Elm Cottage 9" not in text  # another group's households are not on it


def test_choosing_a_household_not_of_this_group_says_so_and_writes_nothing(client, oak, elm):
    before = written()

    for household_id in (str(elm.households[0].id), "abc", "", "-1", "1.5", "999999"):
        response = client.post("/tablet/household", data={"household_id": household_id})

        assert response.status_code == 303, household_id
        assert response.headers["Location"] == "/tablet/", household_id
        assert "We could not find that household. Tap your flat on the list." in page(
            client.get("/tablet/")), household_id
    assert written() == before


def test_another_groups_household_cannot_take_a_turn_even_with_its_right_pin(client, oak, elm):
    before = written()

    response = enter_pin(client, elm.households[0], PINS[0])

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
    assert client.get_cookie(TURN) is None
    assert written() == before
    assert helper_confirms(client, elm.households[0]).headers["Location"] == "/tablet/"
    assert written() == before


def test_tapping_a_flat_asks_for_its_pin_without_naming_it_in_the_address_or_title(
        client, oak):
    response = client.post("/tablet/household", data={"household_id": oak.households[0].id})

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/pin"
    shown = client.get("/tablet/pin")
    assert shown.status_code == 200
    text = page(shown)
    assert "Enter the PIN for Flat 1" in text
    assert "Flat 1" not in title_of(shown)
    assert "Not you? Back to the list" in text and "Forgotten it? Ask a helper" in text
    # The PIN form sends the chosen household; PINs go only in POST bodies.
    assert 'action="/tablet/pin"' in text and 'method="post"' in text


def test_the_pin_page_never_shows_a_flat_nobody_has_just_tapped(client, oak):
    """Going back in the tablet's history must not show the last person's flat."""
    assert client.get("/tablet/pin").headers["Location"] == "/tablet/"  # nothing tapped

    client.post("/tablet/household", data={"household_id": oak.households[0].id})
    client.get("/tablet/")  # the list again: the tap is forgotten
    assert client.get("/tablet/pin").headers["Location"] == "/tablet/"

    client.post("/tablet/household", data={"household_id": oak.households[0].id})
    client.post("/tablet/pin", data={"pin": PINS[0]})  # the tapped flat's PIN
    assert client.get("/tablet/order").status_code == 200
    assert client.get("/tablet/pin").headers["Location"] == "/tablet/"  # turn started

    client.post("/tablet/done")
    assert client.get("/tablet/pin").headers["Location"] == "/tablet/"


# --- PINs ------------------------------------------------------------------------------------


def test_the_right_pin_starts_the_turn_with_an_httponly_strict_cookie(client, oak):
    home = oak.households[0]

    response = enter_pin(client, home, PINS[0])

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"
    header = cookie_header(response, TURN)
    assert "HttpOnly" in header and "SameSite=Strict" in header
    visit = db.session.scalar(select(TabletVisit))
    assert (visit.household_id, visit.tablet_session_id, visit.verified_by, visit.ended_at) == (
        home.id, oak.extra["session"].id, "pin", None)
    token = header.split(";")[0].split("=", 1)[1]
    assert token and token not in visit.token_hash
    order = client.get("/tablet/order")
    assert order.status_code == 200 and "Flat 1" in page(order)


def test_a_wrong_pin_is_refused_counted_and_logged(client, oak):
    home = oak.households[0]

    response = enter_pin(client, home, "9999")

    assert response.status_code == 400
    assert NOT_RIGHT in page(response)
    assert fresh(home).pin_failed_attempts == 1
    assert [(e.household_id, e.actor_id) for e in audit("pin.failed")] == [(home.id, None)]
    assert count(TabletVisit) == 0 and client.get_cookie(TURN) is None
    assert "You can try 3 more times." in page(enter_pin(client, home, "0000"))
    assert fresh(home).pin_failed_attempts == 2


def test_a_pin_that_is_not_4_numbers_gets_a_message_and_is_not_counted(client, oak):
    home = oak.households[0]
    before = written()

    for typed in ("abcd", "12", "12345", "", "12 34", "١٢٣٤", "12a4"):
        response = enter_pin(client, home, typed)

        assert response.status_code == 400, typed
        assert FOUR_NUMBERS in page(response), typed
        assert NOT_RIGHT not in page(response), typed
    assert fresh(home).pin_failed_attempts == 0
    assert written() == before
    assert NOT_RIGHT in page(enter_pin(client, home, "9999"))  # the next wrong one is the 1st


def test_five_wrong_pins_lock_it_for_15_minutes_even_against_the_right_pin(client, oak):
    home = oak.households[0]
    for left in (4, 3, 2, 1):
        assert f"You can try {left} more time" in page(enter_pin(client, home, "0000"))
    before_lock = utcnow()

    fifth = enter_pin(client, home, "0000")

    assert fifth.status_code == 400 and LOCKED_NOW in page(fifth)
    locked_until = fresh(home).pin_locked_until
    assert abs(locked_until - (before_lock + timedelta(minutes=15))) < timedelta(seconds=10)
    assert len(audit("pin.failed")) == 4
    assert [e.household_id for e in audit("pin.locked")] == [home.id]

    right = enter_pin(client, home, PINS[0])
    assert right.status_code == 400 and STILL_LOCKED.search(page(right)), page(right)
    assert count(TabletVisit) == 0 and client.get_cookie(TURN) is None
    assert fresh(home).pin_locked_until == locked_until  # a try while locked changes nothing

    with time_machine.travel(locked_until + timedelta(seconds=1), tick=False):
        assert enter_pin(client, home, PINS[0]).headers["Location"] == "/tablet/order"
        home = fresh(home)
        assert (home.pin_locked_until, home.pin_failed_attempts) == (None, 0)


def test_the_helpers_password_starts_the_turn_and_unlocks_a_locked_pin(client, oak):
    home = oak.households[0]
    for _try in range(5):
        enter_pin(client, home, "0000")
    assert fresh(home).pin_locked_until is not None

    response = helper_confirms(client, home)

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"
    home = fresh(home)
    assert (home.pin_locked_until, home.pin_failed_attempts) == (None, 0)
    visit = db.session.scalar(select(TabletVisit))
    assert (visit.household_id, visit.verified_by) == (home.id, "worker")
    assert [(e.actor_id, e.household_id) for e in audit("tablet.helper_confirmed")] == [
        (oak.worker.id, home.id)]
    assert client.get("/tablet/order").status_code == 200


def test_a_wrong_helper_password_is_refused_and_writes_nothing(client, oak):
    home = oak.households[0]
    for _try in range(5):
        enter_pin(client, home, "0000")
    locked_until = fresh(home).pin_locked_until
    before = written()

    for password in ("wrong-password", "", "1234"):
        response = helper_confirms(client, home, password)
        assert response.status_code == 400
        assert NOT_HELPER in page(response)

    # Nothing written but the log of each wrong try (as for wrong PINs).
    assert written() == {**before, "AuditEntry": before["AuditEntry"] + 3}
    assert [(e.household_id, e.actor_id) for e in audit("tablet.helper_password_wrong")] == [
        (home.id, oak.worker.id)] * 3
    assert fresh(home).pin_locked_until == locked_until
    assert client.get_cookie(TURN) is None


def test_a_household_with_no_pin_is_told_to_ask_a_helper_who_can_start_its_turn(
        client, auth):
    w = factories.world()  # nobody has a PIN yet
    start_tablet(client, auth, w)
    home = w.households[0]

    response = enter_pin(client, home, "1234")

    assert response.status_code == 400
    assert "This household has no PIN yet. Ask a helper." in page(response)
    assert (count(TabletVisit), fresh(home).pin_failed_attempts) == (0, 0)
    assert helper_confirms(client, home).headers["Location"] == "/tablet/order"


def test_pins_are_stored_hashed(client, oak):
    home = fresh(oak.households[0])

    assert home.pin_hash.startswith("$argon2id$")  # a salted hash, never the digits
    assert accounts.check_secret(home.pin_hash, PINS[0])
    assert not accounts.check_secret(home.pin_hash, PINS[1])


def test_pin_tries_from_one_tablet_are_rate_limited(client, oak):
    home = oak.households[0]
    for _try in range(30):
        assert enter_pin(client, home, "x").status_code == 400

    assert enter_pin(client, home, PINS[0]).status_code == 429
    assert count(TabletVisit) == 0


def test_guessing_the_workers_password_to_leave_is_rate_limited(app_with_settings):
    """The worker's password guards their account and the end of tablet mode; a resident
    at the tablet must not be able to guess it faster than at sign-in (or than a PIN)."""
    app = app_with_settings(LOGIN_RATE_LIMIT="10 per minute;50 per hour")
    w = with_pins(factories.world())
    client = app.test_client()
    client.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD})
    client.post("/tablet/start", data={"group_id": w.group.id})

    statuses = [client.post("/tablet/leave", data={"password": "guess-1"}).status_code
                for _try in range(31)]

    assert 429 in statuses, statuses
    assert db.session.scalar(select(TabletSession)).ended_at is None


def test_guessing_the_workers_password_on_the_pin_page_is_rate_limited_like_sign_in(
        app_with_settings):
    """"Ask a helper" on the PIN page takes the worker's password: limited as at sign-in
    (10 a minute here), not by the PIN page's own 30 a minute."""
    app = app_with_settings(LOGIN_RATE_LIMIT="10 per minute;50 per hour")
    w = with_pins(factories.world())
    client = app.test_client()
    client.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD})
    client.post("/tablet/start", data={"group_id": w.group.id})

    statuses = [helper_confirms(client, w.households[0], f"guess-{n}").status_code
                for n in range(12)]

    assert statuses[:10] == [400] * 10 and statuses[10:] == [429, 429], statuses
    assert count(TabletVisit) == 0


def test_guessing_the_workers_password_when_taking_cash_is_rate_limited(app_with_settings):
    app = app_with_settings(LOGIN_RATE_LIMIT="10 per minute;50 per hour")
    w, mine, _theirs = closed_world()
    client = app.test_client()
    client.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD})
    client.post("/tablet/start", data={"group_id": w.group.id})
    take_turn(client, w.households[0], PINS[0])

    statuses = [pay(client, mine, password="guess-1", receipt=f"R-{n}").status_code
                for n in range(31)]

    assert 429 in statuses, statuses
    assert count(CashPayment) == 0


def test_in_production_the_tablets_cookies_are_secure(app_with_settings):
    app = app_with_settings(SESSION_COOKIE_SECURE=True)
    w = with_pins(factories.world())
    client = app.test_client()
    https = {"base_url": "https://localhost"}
    client.post("/login", data={"email": w.worker.email, "password": factories.PASSWORD},
                **https)

    started = client.post("/tablet/start", data={"group_id": w.group.id}, **https)
    turn = client.post("/tablet/pin", data={"household_id": w.households[0].id,
                                            "pin": PINS[0]}, **https)
    done = client.post("/tablet/done", **https)

    for response, name in ((started, TABLET), (turn, TURN), (done, TURN)):
        header = cookie_header(response, name)
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Strict" in header


# --- no household label in a URL or a title ---------------------------------------------------


def test_no_household_label_or_pin_is_in_any_url_or_title_and_nothing_is_cached(client, auth):
    w = factories.world()
    label = "Rowan House 14"
    home = tablet.create_assisted_household(w.group, label, "Rowan Block", "4826",
                                            actor=w.worker, now=utcnow())
    db.session.commit()
    item = tomatoes(w)
    seen = []

    def go(method, url, **data):
        response = client.open(url, method=method, data=data or None)
        seen.append((method, url, response))
        return response

    auth.login(w.worker.email)
    go("GET", "/tablet/start")
    go("POST", "/tablet/start", group_id=w.group.id)
    assert label in page(go("GET", "/tablet/"))
    go("POST", "/tablet/household", household_id=home.id)
    assert label in page(go("GET", "/tablet/pin"))
    go("POST", "/tablet/pin", household_id=home.id, pin="1111")
    go("POST", "/tablet/pin", household_id=home.id, pin="4826")
    go("GET", "/tablet/order")
    go("POST", "/tablet/pledge", item_id=item.id, quantity="2")
    go("POST", "/tablet/pledge", item_id=item.id, quantity="abc")
    assert label in page(go("GET", "/tablet/order"))
    go("POST", "/tablet/still-here")
    go("POST", "/tablet/done", reason="done")
    go("GET", "/tablet/thanks")
    go("POST", "/tablet/done", reason="done")
    go("POST", "/tablet/pin", household_id=home.id, helper="yes", password="nope")
    go("POST", "/tablet/pin", household_id=home.id, helper="yes",
       password=factories.PASSWORD)
    go("GET", "/tablet/order")
    go("GET", "/tablet/")
    go("GET", "/tablet/leave")
    go("POST", "/tablet/leave", password="nope")
    sheet = go("POST", "/tablet/leave", password=factories.PASSWORD)
    go("GET", sheet.headers["Location"])

    assert len(seen) == 23 and lines_of(home.id)[0][1] == 2
    for method, url, response in seen:
        where = unquote(response.headers.get("Location", ""))
        assert label not in where and "4826" not in where, (method, url, where)
        assert label not in title_of(response), (method, url)
        if url.startswith("/tablet/"):
            assert response.headers["Cache-Control"] == "no-store", (method, url)


# --- pledging on the tablet ------------------------------------------------------------------


def test_a_pledge_on_the_tablet_is_saved_as_entered_by_the_worker_and_audited(client, oak):
    home = oak.households[0]
    take_turn(client, home, PINS[0])
    item = tomatoes(oak)

    response = tap(client, item, "2")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/tablet/order#item-{item.id}"
    line = db.session.scalar(select(PledgeLine))
    assert (line.household_id, line.round_item_id, line.quantity, line.entered_by_id) == (
        home.id, item.id, 2, oak.worker.id)
    entries = audit("pledge.changed")
    assert [(e.actor_id, e.household_id, e.subject_id) for e in entries] == [
        (oak.worker.id, home.id, item.id)]
    assert json.loads(entries[0].details)["after"]["quantity"] == 2
    text = page(client.get("/tablet/order"))
    assert "You want 2 of Tinned tomatoes. Saved." in text
    # Residents tap + themselves at the tablet too, so the words name the place and helper.
    assert "Entered at the drop-in with Walt Worker." in text


def test_the_household_sees_on_its_own_phone_that_a_helper_entered_its_order(client, oak, app):
    take_turn(client, oak.households[0], PINS[0])
    tap(client, tomatoes(oak), "3")
    client.post("/tablet/done")

    phone = app.test_client()
    phone.post("/login", data={"email": "r1@oak.test", "password": factories.PASSWORD})
    assert "Walt Worker" in page(phone.get("/my-orders"))


def test_the_household_sees_every_change_a_helper_made_even_taking_an_order_away(
        client, oak, app):
    """Lowered or taken off at the drop-in, the order line is gone; the household still
    sees who changed what (from the audit log), and not its own changes."""
    phone = app.test_client()
    phone.post("/login", data={"email": "r1@oak.test", "password": factories.PASSWORD})
    item = tomatoes(oak)
    pledges.set_pledge(item, oak.households[0], 5, 0, entered_by=oak.residents[0],
                       now=utcnow(), max_units=999)  # ordered on their own phone
    db.session.commit()
    take_turn(client, oak.households[0], PINS[0])
    tap(client, item, "3")
    tap(client, item, "0")
    client.post("/tablet/done")

    text = page(phone.get("/my-orders"))

    assert "Changes a helper made for you" in text
    assert "Walt Worker set Tinned tomatoes in Test round to 3 (it was 5)." in text
    assert "Walt Worker took Tinned tomatoes off your order in Test round (you had 3)." in text
    assert text.index("took Tinned tomatoes off") < text.index("to 3 (it was 5)")  # newest first
    assert text.count("Walt Worker") == 2  # the household's own change is not listed
    other = app.test_client()
    other.post("/login", data={"email": "r2@oak.test", "password": factories.PASSWORD})
    assert "Changes a helper made for you" not in page(other.get("/my-orders"))


def test_the_pledge_screen_shows_a_neighbours_order_and_each_tap_at_once(client, oak, app):
    """Each product's card is kept rendered; whatever it shows (box fill, this flat's
    quantity, who helped) is in its key, so nothing stale is shown."""
    item = tomatoes(oak)
    take_turn(client, oak.households[0], PINS[0])
    tap(client, item, "1")
    assert "1 of 12 — 11 more fill it" in page(client.get("/tablet/order"))

    pledges.set_pledge(item, oak.households[1], 2, 0, entered_by=oak.residents[1],
                       now=utcnow(), max_units=999)  # a neighbour, on their phone
    db.session.commit()
    shown = page(client.get("/tablet/order"))
    assert "3 of 12 — 9 more fill it" in shown and "1 of 12" not in shown

    tap(client, item, "2")
    shown = page(client.get("/tablet/order"))
    assert "4 of 12 — 8 more fill it" in shown
    assert re.search(r'<span class="count"[^>]*><span class="visually-hidden">You want '
                     r'</span>2</span>', shown)
    client.post("/tablet/done")
    take_turn(client, oak.households[1], PINS[1])  # the neighbour, at the tablet now
    shown = page(client.get("/tablet/order"))
    assert "4 of 12 — 8 more fill it" in shown
    assert re.search(r'You want </span>2</span>', shown)  # their own 2, not Flat 1's
    assert "Entered at the drop-in with" not in shown  # they ordered on their phone


def test_the_pledge_screen_reads_a_rounds_products_and_totals_once_per_pledge_change(
        client, oak):
    """The products and the whole group's totals are kept per (round, pledge_version):
    loads in between read only this flat's own pledges; any pledge reads them again."""
    item = tomatoes(oak)
    take_turn(client, oak.households[0], PINS[0])
    tap(client, item, "1")
    client.get("/tablet/order")

    def products_and_totals_read() -> int:
        with counted_statements() as statements:
            shown = page(client.get("/tablet/order"))
        assert "of 12" in shown
        return sum(1 for s in statements if "FROM round_items" in s
                   or ("FROM pledge_lines" in s and "household_id" not in s))

    assert products_and_totals_read() == 0
    pledges.set_pledge(item, oak.households[1], 2, 0, entered_by=oak.residents[1],
                       now=utcnow(), max_units=999)  # a neighbour, on their phone
    db.session.commit()
    assert products_and_totals_read() == 2
    assert products_and_totals_read() == 0


def test_the_same_plus_sent_twice_changes_the_quantity_once(client, oak):
    home = oak.households[0]
    take_turn(client, home, PINS[0])
    item = tomatoes(oak)
    tap(client, item, "2")
    audits = len(audit("pledge.changed"))

    first = tap(client, item, "3")
    second = tap(client, item, "3")

    assert first.status_code == second.status_code == 303
    assert [q for _pos, q, _t in lines_of(home.id)] == [2, 1]
    assert len(audit("pledge.changed")) == audits + 1


def test_minus_takes_the_households_newest_units_off(client, oak):
    home = oak.households[0]
    take_turn(client, home, PINS[0])
    item = tomatoes(oak)
    tap(client, item, "2")

    assert tap(client, item, "1").status_code == 303
    assert sum(q for _p, q, _t in lines_of(home.id)) == 1
    assert tap(client, item, "0").status_code == 303
    assert lines_of(home.id) == []


def test_a_bad_quantity_gets_a_message_and_writes_nothing(client, oak):
    home = oak.households[0]
    take_turn(client, home, PINS[0])
    item = tomatoes(oak)
    tap(client, item, "2")
    before = written()

    for quantity in ("-1", "1000", "abc", "", "1.5", str(10**20)):
        response = tap(client, item, quantity)

        assert response.status_code == 303, quantity
        assert response.headers["Location"] == f"/tablet/order#item-{item.id}", quantity
        assert "You can have from 0 to 999." in page(client.get("/tablet/order")), quantity
    assert written() == before
    assert [q for _p, q, _t in lines_of(home.id)] == [2]


def test_a_product_of_another_group_is_refused_and_nothing_is_written(client, oak, elm):
    take_turn(client, oak.households[0], PINS[0])
    before = written()

    for item_id in (str(elm.round.items[0].id), "abc", "999999"):
        response = client.post("/tablet/pledge", data={"item_id": item_id, "quantity": "2"})
        assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"
        assert "We could not find that product." in page(client.get("/tablet/order"))
    assert written() == before
    assert lines_of(elm.households[0].id) == []


@pytest.mark.parametrize("how", ["closed", "deadline passed"])
def test_after_the_round_closed_a_tap_changes_nothing(client, oak, how):
    home = oak.households[0]
    take_turn(client, home, PINS[0])
    item = tomatoes(oak)
    tap(client, item, "2")
    if how == "closed":
        closing.close_round(oak.round.id, oak.round.closes_at + timedelta(seconds=1))
    else:
        db.session.execute(update(Round).where(Round.id == oak.round.id)
                           .values(closes_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    before = written()

    response = tap(client, item, "3")

    assert response.status_code == 303
    assert "Orders for this round have closed" in page(client.get("/tablet/order"))
    assert written() == before
    assert [q for _p, q, _t in lines_of(home.id)] == [2]


# --- Done ------------------------------------------------------------------------------------


def test_done_ends_the_turn_deletes_its_cookie_and_clears_the_browser(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])

    response = client.post("/tablet/done", data={"reason": "done"})

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/thanks"
    assert cookie_deleted(response, TURN)
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    visit = fresh(visit)
    assert visit.ended_at is not None and visit.end_reason == "done"
    thanks = client.get("/tablet/thanks")
    assert thanks.status_code == 200
    assert "Thank you. Your order is saved." in page(thanks)
    assert "Flat 1" not in page(thanks)


@pytest.mark.parametrize("then", ["done", "list", "idle"])
def test_a_residents_message_not_yet_shown_never_reaches_the_next_person(client, oak, then):
    """A tap's "You want 3 of ... Saved." waits in the session for the next page. If the
    turn ends first (Done tapped at once, the list shown, or the idle limit), the message
    is dropped, not shown to whoever holds the tablet next."""
    visit = take_turn(client, oak.households[0], PINS[0])
    assert tap(client, tomatoes(oak), "3").status_code == 303  # its page not yet shown

    if then == "done":
        client.post("/tablet/done", data={"reason": "done"})
        # Straight after Done, the same resident sees what they ordered, once; never the
        # message, and nothing of theirs on the next look.
        assert "You want" not in page(client.get("/tablet/thanks"))
        shown = page(client.get("/tablet/thanks")) + page(client.get("/tablet/"))
    elif then == "list":
        shown = page(client.get("/tablet/"))
    else:
        with time_machine.travel(fresh(visit).last_seen_at + idle_limit(client)
                                 + timedelta(seconds=5), tick=False):
            ended = client.get("/tablet/order")
            assert ended.headers["Location"] == "/tablet/"
            shown = page(client.get("/tablet/"))
            assert ENDED in shown

    assert "You want" not in shown and "Tinned tomatoes" not in shown
    assert fresh(visit).ended_at is not None


def test_after_done_the_old_turn_cookie_opens_nothing(client, oak):
    take_turn(client, oak.households[0], PINS[0])
    kept = client.get_cookie(TURN).value
    client.post("/tablet/done")

    assert client.get("/tablet/order").headers["Location"] == "/tablet/"
    client.set_cookie(TURN, kept)  # a browser that kept the cookie anyway
    response = client.get("/tablet/order")
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
    assert "Flat 1" not in page(response)


def test_a_replayed_done_changes_nothing_and_goes_to_the_list(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])
    kept = client.get_cookie(TURN).value
    client.post("/tablet/done")
    ended = fresh(visit).ended_at
    client.set_cookie(TURN, kept)

    again = client.post("/tablet/done", data={"reason": "done"})

    assert again.status_code == 303 and again.headers["Location"] == "/tablet/"
    assert "That turn was already over. Its order is saved." in page(client.get("/tablet/"))
    visit = fresh(visit)
    assert (visit.ended_at, visit.end_reason) == (ended, "done")


def test_a_pledge_sent_after_done_is_refused_and_writes_nothing(client, oak):
    take_turn(client, oak.households[0], PINS[0])
    kept = client.get_cookie(TURN).value
    client.post("/tablet/done")
    client.set_cookie(TURN, kept)
    before = written()

    response = tap(client, tomatoes(oak), "2")

    assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
    assert written() == before
    assert ENDED_UNCHANGED in page(client.get("/tablet/"))


# --- idle ------------------------------------------------------------------------------------


def test_an_idle_turn_ends_and_the_order_page_goes_back_to_the_list(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])
    idle = idle_limit(client)

    with time_machine.travel(visit.last_seen_at + idle - timedelta(seconds=1), tick=False):
        assert client.get("/tablet/order").status_code == 200  # not yet
    last_seen = fresh(visit).last_seen_at
    with time_machine.travel(last_seen + idle + timedelta(seconds=1), tick=False):
        response = client.get("/tablet/order")

        assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
        assert cookie_deleted(response, TURN)
        visit = fresh(visit)
        assert (visit.end_reason, visit.ended_at) == ("idle", last_seen + idle)
        assert ENDED in page(client.get("/tablet/"))


def test_a_tap_after_the_idle_limit_is_refused_and_writes_nothing(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])
    idle = idle_limit(client)
    before = written()

    with time_machine.travel(visit.last_seen_at + idle + timedelta(seconds=5), tick=False):
        response = tap(client, tomatoes(oak), "2")

        assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
        assert written() == before
        assert fresh(visit).end_reason == "idle"


def test_still_here_restarts_the_idle_timer_on_the_server(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])
    idle = idle_limit(client)
    started = visit.last_seen_at
    later = started + idle - timedelta(seconds=10)

    with time_machine.travel(later, tick=False):
        response = client.post("/tablet/still-here")
        assert (response.status_code, response.get_json()) == (200, {"turn": "open"})
        assert fresh(visit).last_seen_at == later
    with time_machine.travel(later + idle - timedelta(seconds=1), tick=False):
        # Past the limit counted from the start, within it counted from "still here".
        assert client.get("/tablet/order").status_code == 200
        moved = fresh(visit).last_seen_at
    with time_machine.travel(moved + idle + timedelta(seconds=1), tick=False):
        too_late = client.post("/tablet/still-here")
        assert (too_late.status_code, too_late.get_json()) == (409, {"turn": "ended"})
        assert fresh(visit).end_reason == "idle"


def test_the_page_counts_idleness_from_the_servers_last_note_of_the_resident(client, oak):
    """The server notes the resident at most every few seconds (TOUCH_EVERY); the page
    starts its idle count that far back, so "Yes, keep going" pressed just in time on the
    page is never too late for the server. Pressing it always writes."""
    visit = take_turn(client, oak.households[0], PINS[0])
    seen = fresh(visit).last_seen_at

    with time_machine.travel(seen + timedelta(seconds=3), tick=False):
        shown = page(client.get("/tablet/order"))
        assert 'data-seen-ago="3"' in shown
        assert fresh(visit).last_seen_at == seen  # within TOUCH_EVERY: not written
    with time_machine.travel(seen + timedelta(seconds=4), tick=False):
        assert client.post("/tablet/still-here").status_code == 200
        assert fresh(visit).last_seen_at == seen + timedelta(seconds=4)
        assert 'data-seen-ago="0"' in page(client.get("/tablet/order"))


def test_the_idle_timeout_post_records_the_turn_as_idle(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])

    response = client.post("/tablet/done", data={"reason": "idle"})

    assert response.headers["Location"] == "/tablet/thanks"
    assert fresh(visit).end_reason == "idle"


def test_a_turn_left_idle_is_recorded_as_idle_even_when_the_list_is_shown_next(client, oak):
    """The session sheet says how each turn ended: one nobody touched for longer than the
    idle limit was not ended by tapping Done, whichever page the tablet shows next."""
    visit = take_turn(client, oak.households[0], PINS[0])
    idle = idle_limit(client)

    with time_machine.travel(visit.last_seen_at + idle + timedelta(minutes=5), tick=False):
        assert client.get("/tablet/").status_code == 200

        visit = fresh(visit)
        assert visit.ended_at is not None
        assert visit.end_reason == "idle", visit.end_reason


# --- the next resident -----------------------------------------------------------------------


def test_showing_the_list_ends_the_turn_still_open(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])
    kept = client.get_cookie(TURN).value

    response = client.get("/tablet/")

    assert response.status_code == 200 and cookie_deleted(response, TURN)
    assert fresh(visit).ended_at is not None
    client.set_cookie(TURN, kept)
    assert client.get("/tablet/order").headers["Location"] == "/tablet/"
    assert tap(client, tomatoes(oak), "2").headers["Location"] == "/tablet/"
    assert count(PledgeLine) == 0


def test_starting_the_next_households_turn_ends_the_previous_one(client, oak):
    first = take_turn(client, oak.households[0], PINS[0])
    kept = client.get_cookie(TURN).value

    second = take_turn(client, oak.households[1], PINS[1])

    first = fresh(first)
    assert (first.end_reason, first.ended_at) == ("replaced", second.started_at)
    assert second.ended_at is None and second.household_id == oak.households[1].id
    order = page(client.get("/tablet/order"))
    assert "Flat 2" in order and "Flat 1" not in order
    client.set_cookie(TURN, kept)
    assert client.get("/tablet/order").headers["Location"] == "/tablet/"


def test_a_turn_cookie_from_another_tablet_session_opens_nothing(client, oak, app):
    take_turn(client, oak.households[0], PINS[0])
    kept = client.get_cookie(TURN).value

    other = app.test_client()
    other.post("/login", data={"email": oak.organiser.email, "password": factories.PASSWORD})
    assert other.post("/tablet/start", data={"group_id": oak.group.id}).status_code == 303
    other.set_cookie(TURN, kept)
    assert other.get("/tablet/order").headers["Location"] == "/tablet/"
    assert other.post("/tablet/pledge", data={"item_id": tomatoes(oak).id, "quantity": 2}
                      ).headers["Location"] == "/tablet/"
    assert count(PledgeLine) == 0


# --- cash on the tablet ----------------------------------------------------------------------


def closed_world(flat_3: bool = False) -> tuple[factories.World, Statement, Statement]:
    """Flats 1 and 2 pledged 6 tins each and the round closed: each owes £5. PINs set.
    With `flat_3`, Flat 3 (no PIN) took a whole box and owes £10."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),),
                        residents=3 if flat_3 else 2)
    item = w.round.items[0]
    for home, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(item, home, 12 if home.label == "Flat 3" else 6, 0,
                           entered_by=person, now=utcnow(), max_units=999)
    for home, pin in zip(w.households[:2], PINS, strict=True):  # Flat 3 has no PIN
        tablet.set_pin(home, pin, actor=w.organiser, now=utcnow())
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    owed = [db.session.scalar(select(Statement).where(Statement.household_id == h.id))
            for h in w.households]
    return w, owed[0], owed[1]


def pay(client, statement, password=factories.PASSWORD, amount="5", receipt="R-1"):
    return client.post("/tablet/cash", data={"statement_id": str(statement.id),
                                             "amount": amount, "receipt": receipt,
                                             "password": password})


def test_cash_taken_at_the_tablet_is_recorded_by_the_worker(client, auth):
    w, mine, _theirs = closed_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    assert "Test round: you owe £5." in page(client.get("/tablet/order"))

    response = pay(client, mine, amount="5", receipt="R-1")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/tablet/order#bill-{mine.id}"
    cash = db.session.scalar(select(CashPayment))
    assert (cash.statement_id, cash.amount_pence, cash.receipt_number, cash.recorded_by_id) == (
        mine.id, 500, "R-1", w.worker.id)
    assert (fresh(mine).paid_pence, fresh(mine).payment_status) == (500, "paid")
    assert [(e.actor_id, e.household_id) for e in audit("cash.recorded")] == [
        (w.worker.id, w.households[0].id)]
    assert "Cash recorded: £5." in page(client.get("/tablet/order"))


def test_a_bill_being_charged_to_a_card_is_still_shown_owed_but_takes_no_cash(client, auth):
    """The tablet and the household's own home page agree on what is owed: a statement
    whose card charge is under way is owed on both; the tablet offers no cash form for it
    (cash now could be more than is owed)."""
    w, mine, _theirs = closed_world()
    mine.payment_status = "charging"  # the payment sweep has claimed it
    db.session.commit()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])

    text = page(client.get("/tablet/order"))

    assert "Test round: you owe £5." in text
    assert "A card payment is being taken for this right now." in text
    assert f'id="amount-{mine.id}"' not in client.get("/tablet/order").get_data(as_text=True)


def test_cash_with_a_wrong_password_records_nothing(client, auth):
    w, mine, _theirs = closed_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    before = written()

    for password in ("wrong-password", "", PINS[0]):
        assert pay(client, mine, password=password).status_code == 303
        assert NOT_HELPER in page(client.get("/tablet/order"))

    assert written() == before
    assert fresh(mine).paid_pence == 0


def test_cash_for_another_households_bill_is_refused(client, auth):
    w, _mine, theirs = closed_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    before = written()

    for statement_id in (str(theirs.id), "abc", "999999"):
        response = client.post("/tablet/cash", data={
            "statement_id": statement_id, "amount": "5", "receipt": "R-9",
            "password": factories.PASSWORD})
        assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"
        assert "We could not find that bill." in page(client.get("/tablet/order"))
    assert written() == before
    assert fresh(theirs).paid_pence == 0


def test_bad_cash_gets_a_message_and_records_nothing(client, auth):
    w, mine, _theirs = closed_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    before = written()

    for amount, receipt, message in (
        ("6", "R-1", "That is more than they still owe."),
        ("0", "R-1", "Enter an amount more than £0."),
        ("abc", "R-1", "Enter an amount in pounds, like 12.50"),
        ("5", "", "Enter receipt number"),
    ):
        response = pay(client, mine, amount=amount, receipt=receipt)

        assert response.status_code == 303, message
        assert message in page(client.get("/tablet/order"))
    assert written() == before
    assert fresh(mine).paid_pence == 0


def test_cash_after_the_turn_ended_is_refused(client, auth):
    w, mine, _theirs = closed_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    client.post("/tablet/done")

    assert pay(client, mine).headers["Location"] == "/tablet/"
    assert count(CashPayment) == 0


# --- the session sheet -----------------------------------------------------------------------


def spring_round(w: factories.World):
    """A second round, open now, of the same products (the first one has closed)."""
    fresh_round = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Spring round", closes_at=utcnow() + timedelta(days=2)),
        created_by=w.organiser, now=utcnow())
    rounds.open_round(fresh_round, actor=w.organiser, now=utcnow())
    db.session.commit()
    return fresh_round


def test_the_session_sheet_lists_visits_orders_cash_taken_and_cash_still_due(client, auth):
    w, mine, _theirs = closed_world(flat_3=True)
    item = spring_round(w).items[0]
    session = start_tablet(client, auth, w)

    take_turn(client, w.households[0], PINS[0])
    tap(client, item, "2")
    tap(client, item, "3")
    assert pay(client, mine, amount="5", receipt="R-77").status_code == 303
    client.post("/tablet/done")
    client.get("/tablet/")
    helper_confirms(client, w.households[1])  # Flat 2 came but did not pay
    response = client.post("/tablet/leave", data={"password": factories.PASSWORD})

    sheet = client.get(response.headers["Location"])
    assert sheet.status_code == 200
    text = page(sheet)
    assert re.search(r"Flat 1\s*</td>\s*<td[^>]*>PIN</td>.*?Tapped Done", text, re.S)
    assert re.search(r"Flat 2\s*</td>\s*<td[^>]*>Helper knew them</td>.*?Session ended", text,
                     re.S)
    rows = re.findall(r'<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td class="num">(\d+)'
                      r'</td><td class="num">(\d+)</td></tr>', text)
    # Each order names its round (issue #13: several rounds may be open at one drop-in).
    assert rows == [("Flat 1", "Spring round", "Tinned tomatoes", "0", "2"),
                    ("Flat 1", "Spring round", "Tinned tomatoes", "2", "3")]
    assert "£5 from Flat 1, receipt R-77" in text
    assert "Total cash taken: £5" in text
    assert "Flat 2 owes £5 for Test round" in text
    assert "Total still to pay: £5" in text
    assert "Flat 1 owes" not in text
    assert "Flat 3" not in text  # owes £10 but did not come to this drop-in
    assert fresh(session).ended_at is not None


def test_cash_reversed_as_a_mistake_is_marked_on_the_sheet_and_not_counted(client, auth):
    """#13: the session sheet is the cash box's receipt; an entry later reversed as a
    mistake is shown struck through with the reason, and left out of the total."""
    w, mine, theirs = closed_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    assert pay(client, mine, amount="5", receipt="R-77").status_code == 303
    client.post("/tablet/done")
    client.get("/tablet/")
    take_turn(client, w.households[1], PINS[1])
    assert pay(client, theirs, amount="4", receipt="R-78").status_code == 303
    client.post("/tablet/done")
    response = client.post("/tablet/leave", data={"password": factories.PASSWORD})
    wrong = db.session.scalar(select(CashPayment).where(CashPayment.receipt_number == "R-78"))
    cash_service.reverse_cash(wrong, "Typed on the wrong flat", actor=w.organiser,
                              now=utcnow())
    db.session.commit()

    text = page(client.get(response.headers["Location"]))
    assert "£5 from Flat 1, receipt R-77" in text
    assert re.search(r"<s>£4 from Flat 2, receipt R-78</s> Reversed as a mistake on .*?: "
                     r"Typed on the wrong flat\. Not counted\.", text)
    assert "Total cash taken: £5" in text


def test_the_sheet_leaves_out_what_the_worker_did_on_another_device_meanwhile(client, auth):
    """The sheet is this tablet's receipt: the same worker's pledge and cash entered on
    their phone during the drop-in (another device, not this tablet) are not on it."""
    w, mine, theirs = closed_world(flat_3=True)
    item = spring_round(w).items[0]
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    tap(client, item, "2")
    assert pay(client, mine, amount="5", receipt="R-77").status_code == 303

    # Meanwhile, on the worker's phone (the services, as its pages call them):
    pledges.set_pledge(item, w.households[2], 6, 0, entered_by=w.worker, now=utcnow(),
                       max_units=999)
    cash_service.record_cash(fresh(theirs), 500, "R-PHONE", actor=w.worker, now=utcnow())
    db.session.commit()
    client.post("/tablet/done")
    response = client.post("/tablet/leave", data={"password": factories.PASSWORD})

    text = page(client.get(response.headers["Location"]))
    rows = re.findall(r'<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td class="num">(\d+)'
                      r'</td><td class="num">(\d+)</td></tr>', text)
    assert rows == [("Flat 1", "Spring round", "Tinned tomatoes", "0", "2")]
    assert "£5 from Flat 1, receipt R-77" in text and "R-PHONE" not in text
    assert "Total cash taken: £5" in text


def test_the_sheet_leaves_out_orders_residents_made_themselves(client, auth, app):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    tap(client, tomatoes(w), "1")
    pledges.set_pledge(tomatoes(w), w.households[1], 4, 0, entered_by=w.residents[1],
                       now=utcnow(), max_units=999)
    db.session.commit()
    response = client.post("/tablet/leave", data={"password": factories.PASSWORD})

    text = page(client.get(response.headers["Location"]))
    assert "Flat 1" in text and "Flat 2" not in text


def test_only_staff_of_the_group_see_a_session_sheet(client, auth, app, elm):
    w = with_pins(factories.world())
    session = start_tablet(client, auth, w)
    client.post("/tablet/leave", data={"password": factories.PASSWORD})
    url = f"/organise/{w.group.id}/tablet-sessions/{session.id}"
    assert client.get(url).status_code == 200  # the worker
    assert client.get(f"/organise/{w.group.id}/tablet-sessions").status_code == 200

    def as_user(email):
        other = app.test_client()
        other.post("/login", data={"email": email, "password": factories.PASSWORD})
        return other

    organiser = as_user(w.organiser.email)
    assert organiser.get(url).status_code == 200
    resident = as_user("r1@oak.test")
    assert resident.get(url).status_code == 403
    assert resident.get(f"/organise/{w.group.id}/tablet-sessions").status_code == 403
    outsider = as_user(elm.worker.email)
    assert outsider.get(url).status_code == 404
    # Elm's worker asking for Oak's session under Elm's own group id.
    assert outsider.get(
        f"/organise/{elm.group.id}/tablet-sessions/{session.id}").status_code == 404


def test_the_sessions_page_lists_the_groups_sessions(client, auth):
    w = with_pins(factories.world())
    session = start_tablet(client, auth, w)
    client.post("/tablet/leave", data={"password": factories.PASSWORD})
    start_tablet(client, auth, w)
    client.post("/tablet/leave", data={"password": factories.PASSWORD})

    text = page(client.get(f"/organise/{w.group.id}/tablet-sessions"))
    assert text.count("with Walt Worker") == 2
    assert f"/organise/{w.group.id}/tablet-sessions/{session.id}" in text



def test_the_kept_copy_of_the_list_shows_a_household_added_or_renamed_since(client, oak):
    first = page(client.get("/tablet/"))
    assert "Flat 1" in first and "Flat 99" not in first
    tablet.create_assisted_household(oak.group, "Flat 99", "Birch House", "2468",
                                     actor=oak.worker, now=utcnow())
    db.session.commit()
    second = page(client.get("/tablet/"))
    assert "Flat 99" in second and "Birch House" in second
    oak.households[0].label = "Flat 1A"
    db.session.commit()
    third = page(client.get("/tablet/"))
    assert "Flat 1A" in third
    # Each copy carries this browser's own CSRF token, never a placeholder.
    assert "\x00" not in third


def test_the_tablets_password_boxes_ask_the_browser_not_to_fill_a_saved_password(client, oak):
    """A browser that saved the helper's sign-in or a resident's PIN must not offer it to
    the next resident: every password box, the PIN's too, says "new-password" (browsers
    never fill a saved one there; Chromium ignores "off" on password boxes)."""
    home = oak.households[0]
    client.post("/tablet/household", data={"household_id": home.id})
    pages = {path: client.get(path).get_data(as_text=True)
             for path in ("/tablet/pin", "/tablet/leave")}

    boxes = {path: re.findall(r'<input[^>]*type="password"[^>]*>', html)
             for path, html in pages.items()}
    assert len(boxes["/tablet/pin"]) == 2 and len(boxes["/tablet/leave"]) == 1
    for path, found in boxes.items():
        for box in found:
            assert 'autocomplete="new-password"' in box, (path, box)
