"""What a new user tripped over at the drop-in (issue #13): flats in number order on every
list, a typed quantity on the tablet, a footer and a Done that say what applies, and a
session sheet that names the round."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from bulkbuy.extensions import db
from bulkbuy.models import utcnow
from bulkbuy.services import closing, pledges
from tests import factories
from tests.integration.test_tablet import (
    ENDED,
    PINS,
    closed_world,
    fresh,
    idle_limit,
    start_tablet,
    take_turn,
    tap,
    title_of,
    tomatoes,
    with_pins,
    written,
)
from tests.pages import lines_of, page


@pytest.fixture
def oak(client, auth):
    """As test_tablet's: Oak Estate, an open round, PINs set, the tablet started."""
    w = with_pins(factories.world())
    w.extra["session"] = start_tablet(client, auth, w)
    return w


NUMBER_ORDER = ["Flat 1", "Flat 2", "Flat 3", "Flat 9", "Flat 10", "Flat 11"]


def order_of(text: str, names=NUMBER_ORDER) -> list[str]:
    """The names as they first appear in the page, each once (whole names only)."""
    found = [(m.start(), name) for name in names
             for m in [re.search(re.escape(name) + r"(?!\d)", text)] if m]
    return [name for _at, name in sorted(found)]


def eleven_flats_closed() -> factories.World:
    """Flats 1 to 11 each ordered a whole box of tomatoes, and the round closed."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),), residents=11)
    item = w.round.items[0]
    for home, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(item, home, 12, 0, entered_by=person, now=utcnow(), max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    return w


def test_flats_are_listed_in_number_order_on_the_tablet_households_payments_and_packing(
        client, auth):
    w = eleven_flats_closed()
    gid, rid = w.group.id, w.round.id
    auth.login(w.organiser.email)
    for path in (f"/organise/{gid}/households", f"/organise/{gid}/rounds/{rid}/payments",
                 f"/organise/{gid}/rounds/{rid}/order-sheet"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert order_of(page(response)) == NUMBER_ORDER, path
    auth.logout()
    start_tablet(client, auth, w)
    assert order_of(page(client.get("/tablet/"))) == NUMBER_ORDER


# --- a typed quantity on the tablet ------------------------------------------------------------


def typed(client, item, text):
    return client.post("/tablet/pledge", data={"item_id": str(item.id), "quantity": text,
                                               "typed": "yes"})


def test_each_product_on_the_tablet_has_a_number_box_beside_minus_and_plus(client, oak):
    take_turn(client, oak.households[0], PINS[0])
    item = tomatoes(oak)
    html = client.get("/tablet/order").get_data(as_text=True)

    card = html[html.index(f'id="item-{item.id}"'):]
    card = card[:card.index("</li>")]
    box = re.search(rf'<input[^>]*id="typed-{item.id}"[^>]*>', card).group(0)
    assert 'name="quantity"' in box and 'inputmode="numeric"' in box
    assert re.search(rf'<label for="typed-{item.id}">Or type how many you want</label>', card)
    form = card[card.rindex("<form", 0, card.index(box)):]
    assert 'action="/tablet/pledge"' in form and 'name="typed" value="yes"' in form
    assert re.search(r"<button[^>]*>Save</button>", form)
    assert card.index("One more") < card.index(box)  # beside the − and + buttons
    assert "Flat 1" not in card  # still nothing of the household in a URL or a form


def test_a_number_typed_on_the_tablet_is_saved_at_once(client, oak):
    take_turn(client, oak.households[0], PINS[0])
    item = tomatoes(oak)

    response = typed(client, item, "20")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/tablet/order#item-{item.id}"
    assert sum(q for _pos, q, _t in lines_of(oak.households[0].id)) == 20
    shown = page(client.get("/tablet/order"))
    assert "You want 20 of Tinned tomatoes. Saved." in shown
    assert typed(client, item, " 5 ").status_code == 303
    assert sum(q for _pos, q, _t in lines_of(oak.households[0].id)) == 5


@pytest.mark.parametrize(("text", "message"), [
    ("", "Enter how many you want, like 2"),
    ("lots", "Enter a whole number, like 2"),
    ("-3", "Enter a whole number, like 2"),
    ("2.5", "Enter a whole number, like 2"),
    ("100000", "You can have up to 999"),
])
def test_a_bad_typed_number_is_shown_plainly_in_its_card_and_changes_nothing(
        client, oak, text, message):
    take_turn(client, oak.households[0], PINS[0])
    item = tomatoes(oak)
    client.application.config["MAX_UNITS_PER_PLEDGE"] = 999
    before = written()

    response = typed(client, item, text)

    assert response.status_code == 400
    assert title_of(response).startswith("Error: ")
    shown = page(response)
    assert "There is a problem" in shown
    assert f'<a href="#typed-{item.id}">{message}</a>' in shown  # the summary links to it
    card = shown[shown.index(f'id="item-{item.id}"'):]
    card = card[:card.index("</li>")]
    # and the same words above the box
    assert re.search(rf'<p class="error-message" id="typed-{item.id}-error">.*?Error:.*?</span> '
                     rf'{re.escape(message)}</p>', card)
    assert f'value="{text}"' in card  # what was typed stays, to put right
    assert written() == before
    # The kept copy of the page never holds the error.
    assert message not in page(client.get("/tablet/order"))


# --- what the footer and Done say -------------------------------------------------------------


def done_bar(response) -> str:
    found = re.search(r'<div class="done-bar">\s*<p>(.*?)</p>', page(response), re.S)
    return " ".join(found.group(1).split())


def test_the_footer_of_a_household_owing_for_a_closed_round_says_what_it_owes(client, auth):
    w, _mine, _theirs = closed_world()
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])

    footer = done_bar(client.get("/tablet/order"))

    assert footer == "Flat 1 · you owe £5"
    assert "0 items" not in footer and "up to £0" not in footer


def test_the_footer_says_nothing_is_ordered_yet_rather_than_0_items(client, oak):
    take_turn(client, oak.households[0], PINS[0])
    assert done_bar(client.get("/tablet/order")) == "Flat 1 · nothing ordered yet"
    tap(client, tomatoes(oak), "2")
    assert re.fullmatch(r"Flat 1 · 1 item · up to £\S+", done_bar(client.get("/tablet/order")))


def test_done_shows_once_what_the_household_ordered_and_owes_without_naming_it(client, auth):
    w, _mine, _theirs = closed_world()
    spring = factories_spring_round(w)
    start_tablet(client, auth, w)
    take_turn(client, w.households[0], PINS[0])
    tap(client, spring.items[0], "3")

    assert client.post("/tablet/done", data={"reason": "done"}).headers["Location"] == \
        "/tablet/thanks"
    thanks = page(client.get("/tablet/thanks"))

    assert "Thank you. Your order is saved." in thanks
    assert "What you ordered" in thanks and "Spring round" in thanks
    assert "3 × Tinned tomatoes" in thanks
    assert "The most you will pay for these: £" in thanks
    assert "Test round: you owe £5." in thanks
    assert "Flat 1" not in thanks
    again = page(client.get("/tablet/thanks"))  # a reload, or back to it later: only thanks
    assert "Thank you. Your order is saved." in again
    assert "Tinned tomatoes" not in again and "you owe" not in again


def factories_spring_round(w):
    from tests.integration.test_tablet import spring_round
    return spring_round(w)


def test_a_turn_ended_idle_shows_no_summary_to_whoever_comes_next(client, oak):
    visit = take_turn(client, oak.households[0], PINS[0])
    tap(client, tomatoes(oak), "3")

    with time_machine.travel(fresh(visit).last_seen_at + idle_limit(client) + timedelta(
            seconds=1), tick=False):
        client.post("/tablet/done", data={"reason": "idle"})
        thanks = page(client.get("/tablet/thanks"))

    assert "Thank you" in thanks and "Tinned tomatoes" not in thanks


def test_going_back_after_done_says_the_order_was_saved_and_the_turn_is_over(client, oak):
    take_turn(client, oak.households[0], PINS[0])
    tap(client, tomatoes(oak), "2")
    client.post("/tablet/done", data={"reason": "done"})

    back = client.get("/tablet/order")  # the browser's back button, to the order page

    assert back.status_code == 303 and back.headers["Location"] == "/tablet/"
    shown = page(client.get("/tablet/"))
    assert ENDED in shown
    assert "your order is saved" in ENDED and "nothing was changed" not in shown
