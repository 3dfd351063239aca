"""Every kept page is the page: after any change, each cached page is byte for byte the
page rendered with caching off (FRAGMENT_CACHE = False).

A Hypothesis state machine makes random changes — pledges on the round page and taps on
the tablet, households renamed (to labels of the same length too), group settings, round
fields edited, rounds closed — and after each one compares, with the cache on and then
off, the round page as a resident, My orders, the tablet's household list and its pledge
screen. The same clients and sessions are used for both, so only the CSRF token's
signature and the idle count could differ; both are normalised.

One world is built per database and its rows are reused by every example (a closed round
is followed by a new one), so 200 examples take seconds, not minutes.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.fragment_cache import without_indentation
from bulkbuy.models import Household, Round, utcnow
from bulkbuy.services import closing, organising, rounds, tablet
from tests import factories

PINS = ("1234", "5678", "2580")
TIMEZONES = ("Europe/London", "Europe/Paris", "America/New_York")
ROUND_FIELDS = ("title", "notes", "collection_place", "collection_time",
                "delivery_fee_pence", "min_order_pence", "closes_at")
_CSRF = re.compile(r'(name="csrf_token"(?: type="hidden")? value=")[^"]*(")')
_SEEN_AGO = re.compile(r'data-seen-ago="\d+"')


def normalised(response) -> str:
    assert response.status_code == 200, (response.status_code, response.headers)
    text = response.get_data(as_text=True)
    assert "\x00" not in text
    return _SEEN_AGO.sub('data-seen-ago="N"', _CSRF.sub(r"\1TOKEN\2", text))


def _clients(app, w):
    """Signed-in clients: a resident looking (r1, Flat 1), two residents pledging on the
    round page (r1 again, r2), and three tablet sessions of the worker: one shows the list,
    one Flat 1's pledge screen, one taps for Flat 1 (a tablet's list ends its own turn)."""
    def signed_in(email):
        client = app.test_client()
        assert client.post("/login", data={"email": email,
                                           "password": factories.PASSWORD}).status_code == 302
        return client

    def tablet_with_turn(home=None, pin=None):
        client = signed_in(w.worker.email)
        assert client.post("/tablet/start", data={"group_id": str(w.group.id)}).status_code == 303
        if home is not None:
            response = client.post("/tablet/pin", data={"household_id": str(home.id), "pin": pin})
            assert response.headers["Location"] == "/tablet/order"
        return client

    return {
        "viewer": signed_in(w.residents[0].email),
        # Flat 2 looking: its page is put together from the shared part Flat 1's made.
        "viewer2": signed_in(w.residents[1].email),
        "r1": signed_in(w.residents[0].email),
        "r2": signed_in(w.residents[1].email),
        "list": tablet_with_turn(),
        "order": tablet_with_turn(w.households[0], PINS[0]),
        "tapper": tablet_with_turn(w.households[0], PINS[0]),
    }


def _forget_messages(client) -> None:
    """Drop the "Saved." message a change left in its session (never looked at here)."""
    with client.session_transaction() as session:
        session.pop("_flashes", None)


def test_every_cached_page_equals_the_page_rendered_without_the_cache(app):
    app.config["TABLET_IDLE_SECONDS"] = 3600  # no turn ends during the run
    w = factories.world(residents=3, products=(("Tinned tomatoes", 12, 1000), ("Rice", 25, 3150),
                                               ("Oats", 6, 900)))
    for home, pin in zip(w.households, PINS, strict=True):
        tablet.set_pin(home, pin, actor=w.organiser, now=utcnow())
    db.session.commit()
    clients = _clients(app, w)
    ids = {"group": w.group.id, "organiser": w.organiser.id, "supplier": w.supplier.id,
           "products": [p.id for p in w.products], "households": [h.id for h in w.households],
           "round": w.round.id}
    #: Whether the pages were compared since the last change (an example starts where the
    #: last one ended: comparing again would show nothing new).
    compared = {"yes": False}

    class CachedPages(RuleBasedStateMachine):
        @initialize()
        def an_open_round(self):
            """The round of the last example, or a new one when that one was closed."""
            rnd = db.session.get(Round, ids["round"])
            if rnd.status != "open":
                group, organiser = w.group, w.organiser
                now = utcnow()
                new = rounds.create_round(
                    group, w.supplier, w.products,
                    rounds.RoundDetails(title="Next round", closes_at=now + timedelta(days=3)),
                    created_by=organiser, now=now)
                rounds.open_round(new, actor=organiser, now=now)
                db.session.commit()
                ids["round"] = new.id
                compared["yes"] = False
            self.item_ids = [i.id for i in db.session.get(Round, ids["round"]).items]

        @rule(who=st.sampled_from(["r1", "r2"]), item=st.integers(0, 2),
              quantity=st.integers(0, 4), tolerance=st.integers(0, 2))
        def pledge_on_the_round_page(self, who, item, quantity, tolerance):
            compared["yes"] = False
            client = clients[who]
            client.post(f"/rounds/{ids['round']}/items/{self.item_ids[item]}",
                        data={"quantity": str(quantity), "tolerance": str(tolerance)})
            _forget_messages(client)

        @rule(item=st.integers(0, 2), quantity=st.integers(0, 4))
        def tap_on_the_tablet(self, item, quantity):
            compared["yes"] = False
            client = clients["tapper"]
            client.post("/tablet/pledge", data={"item_id": str(self.item_ids[item]),
                                                "quantity": str(quantity)})
            _forget_messages(client)

        @rule(home=st.integers(0, 2), same_length=st.booleans(),
              letters=st.text(string.ascii_uppercase, min_size=1, max_size=2))
        def rename_a_household(self, home, same_length, letters):
            compared["yes"] = False
            household = db.session.get(Household, ids["households"][home])
            label = household.label
            new = (label[:-len(letters)] + letters) if same_length else f"Flat {letters}"
            taken = set(db.session.scalars(select(Household.label).where(
                Household.group_id == ids["group"], Household.id != household.id)))
            if new not in taken:
                household.label = new
                db.session.commit()

        @rule(timezone=st.sampled_from(TIMEZONES), approval=st.booleans())
        def change_group_settings(self, timezone, approval):
            compared["yes"] = False
            group = w.group
            organising.update_group_settings(group, require_round_approval=approval,
                                             actor=w.organiser)
            group.timezone = timezone
            db.session.commit()

        @rule(field=st.sampled_from(ROUND_FIELDS), number=st.integers(0, 3))
        def edit_a_round_field(self, field, number):
            compared["yes"] = False
            rnd = db.session.get(Round, ids["round"])
            if field == "closes_at":
                # As "Change the closing time" does: one guarded UPDATE.
                value = utcnow().replace(microsecond=0) + timedelta(days=2 + number)
            elif field.endswith("_pence"):
                value = 500 * number or None if field == "min_order_pence" else 250 * number
            else:
                value = f"{field} {number}"
            db.session.execute(update(Round).where(Round.id == rnd.id).values({field: value}))
            db.session.commit()

        @rule()
        def close_the_round(self):
            compared["yes"] = False
            past = utcnow() - timedelta(seconds=1)
            db.session.execute(update(Round).where(Round.id == ids["round"])
                               .values(closes_at=past))
            closing.close_round(ids["round"], utcnow())
            db.session.commit()

        @invariant()
        def cached_pages_equal_uncached_ones(self):
            if compared["yes"]:
                return
            compared["yes"] = True
            db.session.expire_all()
            pages = (("viewer", f"/rounds/{ids['round']}"),
                     ("viewer2", f"/rounds/{ids['round']}"), ("viewer", "/my-orders"),
                     ("list", "/tablet/"), ("order", "/tablet/order"))
            for name, path in pages:
                client = clients[name]
                cached = normalised(client.get(path))
                app.config["FRAGMENT_CACHE"] = False
                try:
                    plain = normalised(client.get(path))
                finally:
                    app.config["FRAGMENT_CACHE"] = True
                assert cached == plain, f"{path}: the cached page differs"

    run_state_machine_as_test(CachedPages, settings=settings(
        max_examples=200, stateful_step_count=2, deadline=None, database=None,
        # The rows outlive an example, so a failing one cannot be replayed to shrink it:
        # the first failure is reported as found.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck)))


FOUR_PRODUCTS = (("Tinned tomatoes", 12, 1000), ("Rice", 25, 3150), ("Oats", 6, 900),
                 ("Lentils", 10, 1500))


@pytest.mark.parametrize("language", ["en", "ur"])
def test_a_shared_part_made_for_one_household_gives_anothers_whole_page(
        app, language, monkeypatch):
    """A's load makes the open round's shared part; B's page, after B's and neighbours'
    pledges, is put together from it (not rendered again) and is byte for byte the page
    rendered whole with the cache off: B's quantities, "take more" numbers (an open
    "Help fill a case"), the jump list's "you asked for", in English and in Urdu."""
    from bulkbuy.resident import routes

    w = factories.world(residents=3, products=FOUR_PRODUCTS)
    items = sorted(w.round.items, key=lambda i: i.name)
    clients = {}
    for n, resident in enumerate(w.residents):
        client = app.test_client()
        assert client.post("/login", data={"email": resident.email,
                                           "password": factories.PASSWORD}).status_code == 302
        clients[n] = client
    headers = {"Accept-Language": language}
    path = f"/rounds/{w.round.id}"
    renders = []
    original = routes._render_products
    monkeypatch.setattr(routes, "_render_products", lambda *a, **k: (
        renders.append(k.get("slots")), original(*a, **k))[1])

    def pledge(n, item, quantity, tolerance, forget=True):
        response = clients[n].post(f"{path}/items/{item.id}", headers=headers,
                                   data={"quantity": str(quantity), "tolerance": str(tolerance)})
        assert response.status_code == 303
        if forget:
            _forget_messages(clients[n])

    pledge(1, items[0], 3, 2)  # B
    pledge(2, items[0], 4, 0)  # a neighbour
    pledge(2, items[2], 1, 1)
    pledge(1, items[3], 7, 0)
    normalised(clients[0].get(path, headers=headers))  # A: makes the shared part
    made = len(renders)
    assert renders[-1] is not None
    assembled = normalised(clients[1].get(path, headers=headers))  # B
    assert len(renders) == made, "B's page rendered the products again"
    app.config["FRAGMENT_CACHE"] = False
    try:
        whole = normalised(clients[1].get(path, headers=headers))
    finally:
        app.config["FRAGMENT_CACHE"] = True
    assert assembled == whole
    assert f'id="quantity-{items[0].id}" name="quantity" value="3"' in assembled
    assert f'id="tolerance-{items[0].id}" name="tolerance" value="2"' in assembled
    assert f'id="quantity-{items[2].id}" name="quantity" value="0"' in assembled
    assert "<details open>" in assembled
    asked = "آپ نے 7 مانگے" if language == "ur" else "you asked for 7"
    assert asked in assembled

    # Another neighbour's pledge: a new shared part (made on B's load), the same page.
    pledge(2, items[1], 2, 0)
    again = normalised(clients[1].get(path, headers=headers))
    app.config["FRAGMENT_CACHE"] = False
    try:
        assert again == normalised(clients[1].get(path, headers=headers))
    finally:
        app.config["FRAGMENT_CACHE"] = True
    assert again != assembled

    # B's page just after a + / − carries a message: its part around is rendered afresh
    # (the same words as the whole page), and the new shared part is kept for A.
    pledge(1, items[1], 1, 1, forget=False)
    with_message = normalised(clients[1].get(path, headers=headers))
    made = len(renders)
    a_next = normalised(clients[0].get(path, headers=headers))
    assert len(renders) == made, "A's page rendered the products again"
    pledge(1, items[1], 1, 1, forget=False)
    app.config["FRAGMENT_CACHE"] = False
    try:
        whole = normalised(clients[1].get(path, headers=headers))
        a_whole = normalised(clients[0].get(path, headers=headers))
    finally:
        app.config["FRAGMENT_CACHE"] = True
    assert without_indentation(with_message) == without_indentation(whole)
    assert 'role="status"' in with_message.split("<main")[1].split("<p class=\"caption\"")[0]
    assert a_next == a_whole
