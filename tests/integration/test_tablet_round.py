"""The whole round on the tablet, in the resident's language (#16): a language picked on
the list before a turn is the turn's, and ends with it; "I'll take up to N more to fill a
case" with − and +; a closed round's bill (what the household gets, what changed, what
it owes, whether it is paid); and the household's slip printed just after its turn.

The words may still be English (catalogues are compiled later): these tests check the
`lang` and `dir` attributes and what is saved, not translated words."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Statement, TabletVisit, utcnow
from bulkbuy.services import dropin, tablet
from bulkbuy.services.payments import cash
from bulkbuy.tablet.state import PENDING_LOCALE_KEY
from tests import factories
from tests.integration.test_delivery import _short_cash_world
from tests.integration.test_order_placed import ASSISTED_PIN, _closed
from tests.integration.test_tablet import (
    PINS,
    enter_pin,
    helper_confirms,
    start_tablet,
    take_turn,
    tomatoes,
    with_pins,
)
from tests.pages import lines_of, page

HTML_LANG = re.compile(r'<html lang="([^"]+)" dir="([^"]+)">')


def _lang(response) -> tuple[str, str]:
    found = HTML_LANG.search(response.get_data(as_text=True))
    assert found, "no <html lang dir>"
    return found.group(1), found.group(2)


def _pick(client, code):
    response = client.post("/tablet/language", data={"lang": code})
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
    return response


def _pending(client):
    with client.session_transaction() as kept:
        return kept.get(PENDING_LOCALE_KEY)


def _last_visit() -> TabletVisit:
    db.session.expire_all()
    return db.session.scalar(select(TabletVisit).order_by(TabletVisit.id.desc()))


# --- the language picker -------------------------------------------------------------------


def test_the_list_offers_each_language_by_its_own_name_with_lang_and_dir(client, auth):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    html = client.get("/tablet/").get_data(as_text=True)
    for code, name, direction in (("en", "English", "ltr"), ("pl", "Polski", "ltr"),
                                  ("ro", "Română", "ltr"), ("ur", "اردو", "rtl")):
        button = re.search(rf'<button type="submit" name="lang" value="{code}"[^>]*>', html)
        assert button, code
        assert f'lang="{code}"' in button.group(0) and f'dir="{direction}"' in button.group(0)
        assert f">{name}</button>" in html
    assert 'action="/tablet/language"' in html
    assert 'aria-pressed="true"' in re.search(r'value="en"[^>]*>', html).group(0)


@pytest.mark.parametrize("code, direction", [("pl", "ltr"), ("ur", "rtl")])
def test_a_turn_is_shown_in_the_language_picked_and_it_ends_with_done(
        client, auth, code, direction):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, code)
    listed = client.get("/tablet/")
    assert _lang(listed) == (code, direction)
    assert 'aria-pressed="true"' in re.search(
        rf'value="{code}"[^>]*>', listed.get_data(as_text=True)).group(0)
    client.post("/tablet/household", data={"household_id": str(w.households[0].id)})
    assert _lang(client.get("/tablet/pin")) == (code, direction)  # the PIN page too

    take_turn(client, w.households[0], PINS[0])

    assert _last_visit().locale == code
    assert _pending(client) is None  # the turn has it now
    order = client.get("/tablet/order")
    assert _lang(order) == (code, direction)
    # − stays left of the number and + right of it, whatever the direction.
    assert 'class="tablet-stepper" dir="ltr"' in order.get_data(as_text=True)

    assert client.post("/tablet/done", data={"reason": "done"}).status_code == 303
    # The thanks and what they ordered, straight after Done, in their language; once.
    assert _lang(client.get("/tablet/thanks")) == (code, direction)
    assert _lang(client.get("/tablet/thanks")) == ("en", "ltr")
    assert _lang(client.get("/tablet/")) == ("en", "ltr")
    assert _pending(client) is None


def test_the_next_person_never_gets_the_last_turns_thanks_or_its_language(client, auth):
    """Done, but the thanks page never loaded (the worker went straight to the list):
    the next person's tap on their flat forgets the last turn's summary and language."""
    w = with_pins(factories.world(residents=2))
    start_tablet(client, auth, w)
    _pick(client, "ur")
    take_turn(client, w.households[0], PINS[0])
    assert client.post("/tablet/done", data={"reason": "done"}).status_code == 303
    assert client.get("/tablet/").status_code == 200  # not the thanks: the list
    client.post("/tablet/household", data={"household_id": str(w.households[1].id)})

    thanks = client.get("/tablet/thanks")
    assert _lang(thanks) == ("en", "ltr")
    assert "What you ordered" not in thanks.get_data(as_text=True)


def test_the_language_ends_when_the_turn_goes_idle(client, auth, app):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, "ur")
    take_turn(client, w.households[0], PINS[0])
    idle = int(app.config.get("TABLET_IDLE_SECONDS", 120))
    with time_machine.travel(utcnow() + timedelta(seconds=idle + 5), tick=False):
        ended = client.get("/tablet/order")
        assert ended.status_code == 303 and ended.headers["Location"] == "/tablet/"
        assert _lang(client.get("/tablet/")) == ("en", "ltr")
    assert _last_visit().end_reason == "idle" and _pending(client) is None


def test_the_next_household_is_not_shown_the_last_ones_language(client, auth):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, "pl")
    take_turn(client, w.households[0], PINS[0])
    # No Done: the list shown ends that turn, and its language.
    assert _lang(client.get("/tablet/")) == ("en", "ltr")
    take_turn(client, w.households[1], PINS[1])
    assert _last_visit().locale is None
    assert _lang(client.get("/tablet/order")) == ("en", "ltr")


def test_a_helper_confirmed_turn_keeps_the_language_picked(client, auth):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, "ro")
    assert helper_confirms(client, w.households[0]).status_code == 303
    assert _last_visit().locale == "ro"
    assert _lang(client.get("/tablet/order")) == ("ro", "ltr")


def test_a_wrong_pin_keeps_the_language_for_the_next_try(client, auth):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, "pl")
    refused = enter_pin(client, w.households[0], "0000")
    assert refused.status_code == 400 and _lang(refused) == ("pl", "ltr")
    assert _pending(client) == "pl"
    take_turn(client, w.households[0], PINS[0])
    assert _last_visit().locale == "pl"


@pytest.mark.parametrize("sent", ["xx", "../../etc", "<script>", "p" * 200, "", "PL-pl"])
def test_an_unknown_or_malformed_language_is_english_never_an_error(client, auth, sent):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, sent)
    expected = "pl" if sent == "PL-pl" else "en"
    assert _pending(client) == expected
    assert _lang(client.get("/tablet/"))[0] == expected
    take_turn(client, w.households[0], PINS[0])
    assert (_last_visit().locale or "en") == expected


def test_the_picker_needs_the_tablet(client, auth):
    w = factories.world()
    auth.login(w.worker.email)
    response = client.post("/tablet/language", data={"lang": "pl"})
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/start"
    assert _pending(client) is None


def test_the_list_is_kept_per_language(client, auth):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    assert _lang(client.get("/tablet/")) == ("en", "ltr")  # kept in English
    _pick(client, "ur")
    assert _lang(client.get("/tablet/")) == ("ur", "rtl")  # not the English copy
    _pick(client, "en")
    assert _lang(client.get("/tablet/")) == ("en", "ltr")


def test_leaving_the_tablet_forgets_the_language(client, auth):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, "pl")
    assert client.post("/tablet/leave",
                       data={"password": factories.PASSWORD}).status_code == 303
    assert _pending(client) is None


# --- take more to fill a case --------------------------------------------------------------


def _wants(home) -> tuple[int, int]:
    """(quantity, tolerance) of the household's lines, summed (the queue may split them)."""
    found = lines_of(home.id)
    return sum(q for _p, q, _t in found), sum(t for _p, _q, t in found)


def _take_more(client, item, tolerance):
    return client.post("/tablet/take-more", data={"item_id": str(item.id),
                                                  "tolerance": tolerance})


def test_take_more_is_saved_with_the_quantity_kept(client, auth):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    _pick(client, "ur")
    take_turn(client, w.households[0], PINS[0])
    item = tomatoes(w)
    html = client.get("/tablet/order").get_data(as_text=True)
    assert "/tablet/take-more" not in html  # nothing wanted yet: nothing extra to offer

    assert client.post("/tablet/pledge", data={"item_id": str(item.id),
                                               "quantity": "3"}).status_code == 303
    html = client.get("/tablet/order").get_data(as_text=True)
    more = re.search(r'<form method="post" action="/tablet/take-more"[^>]*>(.*?)</form>',
                     html, re.S)
    assert more and 'dir="ltr"' in more.group(0)
    assert more.group(1).index("−") < more.group(1).index("+")  # − left, + right

    response = _take_more(client, item, "2")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/tablet/order#item-{item.id}"
    assert _wants(w.households[0]) == (3, 2)
    shown = page(client.get("/tablet/order"))
    assert 'name="tolerance" value="3"' in shown and 'name="tolerance" value="1"' in shown

    # − and + on the quantity keep the extra; − on the extra keeps the quantity.
    client.post("/tablet/pledge", data={"item_id": str(item.id), "quantity": "4"})
    _take_more(client, item, "1")
    assert _wants(w.households[0]) == (4, 1)


@pytest.mark.parametrize("sent", ["-1", "abc", "", "100000"])
def test_take_more_refuses_a_number_it_cannot_use_and_changes_nothing(client, auth, sent):
    w = with_pins(factories.world())
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    item = tomatoes(w)
    client.post("/tablet/pledge", data={"item_id": str(item.id), "quantity": "2"})
    before = lines_of(w.households[0].id)
    response = _take_more(client, item, sent)
    assert response.status_code == 303
    assert lines_of(w.households[0].id) == before


def test_take_more_of_another_groups_product_or_out_of_a_turn_is_refused(client, auth):
    w = with_pins(factories.world())
    other = factories.world(name="Elm Court", prefix="elm-")
    start_tablet(client, auth, w)
    # No turn: the list, and nothing written.
    response = _take_more(client, tomatoes(w), "2")
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/"
    take_turn(client, w.households[0], PINS[0])
    response = _take_more(client, tomatoes(other), "2")
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"
    assert lines_of(w.households[0].id) == []


# --- a closed round at the tablet ----------------------------------------------------------


def test_a_closed_round_shows_what_the_household_gets_and_whether_it_is_paid(client, auth):
    w = _closed()  # Flat 1 gets a case of tins; Flat 2 gets none of its rice
    flat1, flat2 = w.households[0], w.households[1]
    now = utcnow()
    tablet.set_pin(flat1, PINS[0], actor=w.organiser, now=now)
    tablet.set_pin(flat2, PINS[1], actor=w.organiser, now=now)
    db.session.commit()
    bill = db.session.scalar(select(Statement).where(Statement.household_id == flat1.id))
    start_tablet(client, auth, w)

    _pick(client, "pl")
    take_turn(client, flat1, PINS[0])
    response = client.get("/tablet/order")
    assert _lang(response) == ("pl", "ltr")
    shown = page(response)
    card = shown[shown.index(f'id="closed-{bill.id}"'):]
    assert w.round.title in card
    assert "Tinned tomatoes" in card and "<td class=\"num\">12</td>" in card  # gets
    assert 'data-paid="no"' in card  # owes
    client.post("/tablet/done", data={"reason": "done"})

    cash.record_cash(bill, bill.total_pence, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    take_turn(client, flat1, PINS[0])
    shown = page(client.get("/tablet/order"))
    card = shown[shown.index(f'id="closed-{bill.id}"'):]
    assert 'data-paid="yes"' in card and "To pay" not in shown
    client.post("/tablet/done", data={"reason": "done"})

    take_turn(client, flat2, PINS[1])
    shown = page(client.get("/tablet/order"))
    assert "You get nothing from this round, so you pay nothing." in shown
    assert "Tinned tomatoes" not in shown


def test_a_delivered_round_shows_what_changed_what_it_gets_and_that_it_is_paid(
        client, auth):
    """Flat 2 paid £5 cash; two tins came damaged: it gets 4, is owed £1.67 back."""
    w, statement_id = _short_cash_world()
    for home, pin in zip(w.households, PINS, strict=True):
        tablet.set_pin(home, pin, actor=w.organiser, now=utcnow())
    db.session.commit()
    start_tablet(client, auth, w)
    take_turn(client, w.households[1], PINS[1])
    shown = page(client.get("/tablet/order"))
    assert "Your deliveries" in shown
    assert "did not arrive or came damaged" in shown  # changed
    assert "We owe you £1.67 of the cash you paid." in shown  # owed back
    assert '<td class="num">4</td>' in shown  # gets
    assert 'data-paid="yes"' in shown  # paid
    assert shown.count(f'id="owed-back-{statement_id}"') == 1


# --- the household's slip ------------------------------------------------------------------


def _slip_links(html: str) -> list[str]:
    return re.findall(r'href="(/tablet/slip/\d+)"', html)


def test_the_worker_prints_the_households_slip_just_after_its_turn(client, auth):
    w = _closed()
    assisted = w.extra["assisted"]
    other = w.households[0]
    tablet.set_pin(other, PINS[0], actor=w.organiser, now=utcnow())
    db.session.commit()
    start_tablet(client, auth, w)
    _pick(client, "ur")
    take_turn(client, assisted, ASSISTED_PIN)
    assert client.post("/tablet/done", data={"reason": "done"}).status_code == 303
    thanks = client.get("/tablet/thanks").get_data(as_text=True)
    assert _slip_links(thanks) == [f"/tablet/slip/{w.round.id}"]

    printed = client.get(f"/tablet/slip/{w.round.id}")
    assert printed.status_code == 200
    shown = page(printed)
    assert "Flat 9" in shown and "Tinned tomatoes" in shown
    assert '/static/js/print.js' in shown
    assert "Flat 9" not in re.search(r"<title>(.*?)</title>", shown, re.S).group(1)
    assert client.get(f"/tablet/slip/{w.round.id}").status_code == 200  # printed again

    # A round the household is not in, or a huge id: 404.
    assert client.get("/tablet/slip/999999").status_code == 404
    assert client.get(f"/tablet/slip/{10**30}").status_code == 404

    # The next person: the list shows, and the last household's slip is gone.
    client.get("/tablet/")
    assert client.get(f"/tablet/slip/{w.round.id}").status_code == 404


def test_a_slip_is_only_the_turns_own_household(client, auth):
    w = _closed()
    flat1 = w.households[0]
    tablet.set_pin(flat1, PINS[0], actor=w.organiser, now=utcnow())
    db.session.commit()
    start_tablet(client, auth, w)
    # No turn yet: nothing to print.
    assert client.get(f"/tablet/slip/{w.round.id}").status_code == 404
    take_turn(client, flat1, PINS[0])
    during = page(client.get(f"/tablet/slip/{w.round.id}"))  # during the turn: its own
    assert "Flat 1" in during and "Flat 9" not in during
    # Ended as idle (nobody at the tablet): no slip.
    assert client.post("/tablet/done", data={"reason": "idle"}).status_code == 303
    assert client.get(f"/tablet/slip/{w.round.id}").status_code == 404


def test_the_slip_is_gone_some_minutes_after_done(client, auth):
    w = _closed()
    flat1 = w.households[0]
    tablet.set_pin(flat1, PINS[0], actor=w.organiser, now=utcnow())
    db.session.commit()
    start_tablet(client, auth, w)
    take_turn(client, flat1, PINS[0])
    client.post("/tablet/done", data={"reason": "done"})
    with time_machine.travel(utcnow() + dropin.SLIP_FOR + timedelta(seconds=1), tick=False):
        assert client.get(f"/tablet/slip/{w.round.id}").status_code == 404


def test_the_slip_needs_a_tablet_session(client, auth):
    w = _closed()
    auth.login(w.worker.email)
    response = client.get(f"/tablet/slip/{w.round.id}")
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/start"
