"""Savings on every bill (#17 point 1): each household's statement, packing slip, My orders
and the tablet's bills say what it saved compared with shop prices, in exact pence, from
the shop prices its round's products had when the round opened; organisers see the
round's total, the sum of the households'."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Statement, utcnow
from bulkbuy.services import catalogue, closing, pledges, rounds, statements, tablet
from tests import factories
from tests.pages import page

FLAT1_SAVED = "You saved £4.40 compared with shop prices."
FLAT2_SAVED = "You saved £5.80 compared with shop prices."
NOTE = "Some products have no shop price, so the saving may be more."
PINS = ("1234", "5678")


def _set_shop_price(w, product, pence: int | None) -> None:
    """The organiser sets a product's shop price for one unit (the catalogue's service)."""
    fields = catalogue.ProductFields(product.name, product.unit_description, product.case_size,
                                     product.case_price_pence, retail_price_pence=pence,
                                     supplier_code=product.supplier_code)
    catalogue.save_product(w.supplier, fields, actor=w.organiser, product=product)
    db.session.commit()


def _saving_world(*, close: bool = True):
    """Tins (100p a unit, 135p in the shop), rice (150p a unit, 210p in the shop) and oil
    (200p a unit, no shop price); delivery £3. Flat 1 gets 4 tins and 5 rice: 540p + 1050p
    in the shop for 400p + 750p, so it saves 440p. Flat 2 gets 8 tins, 5 rice and 6 oil:
    it saves 280p + 300p = 580p, and its oil is left out."""
    w = factories.world(products=(("Tins", 12, 1200), ("Rice", 10, 1500), ("Oil", 6, 1200)),
                        open_round=False)
    tins, rice, oil = w.products
    _set_shop_price(w, tins, 135)
    _set_shop_price(w, rice, 210)
    now = utcnow()
    w.round = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Savings round", closes_at=now + timedelta(days=3),
                            delivery_fee_pence=300),
        created_by=w.organiser, now=now)
    rounds.open_round(w.round, actor=w.organiser, now=now)
    db.session.commit()
    items = {i.name: i for i in w.round.items}
    flat1, flat2 = w.households
    for home, person, wanted in ((flat1, w.residents[0], {"Tins": 4, "Rice": 5}),
                                 (flat2, w.residents[1], {"Tins": 8, "Rice": 5, "Oil": 6})):
        for name, units in wanted.items():
            pledges.set_pledge(items[name], home, units, 0, entered_by=person, now=now,
                               max_units=999)
    db.session.commit()
    if close:
        _close(w)
    return w


def _close(w) -> None:
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _login(client, email: str) -> None:
    client.post("/logout")
    response = client.post("/login", data={"email": email, "password": factories.PASSWORD})
    assert response.status_code == 302


def test_the_residents_round_page_and_my_orders_show_the_exact_saving(client):
    w = _saving_world()

    _login(client, "r1@oak.test")
    round_page = _words(page(client.get(f"/rounds/{w.round.id}")))
    my_orders = _words(page(client.get("/my-orders")))
    for shown in (round_page, my_orders):
        assert FLAT1_SAVED in shown
        assert NOTE not in shown  # both of Flat 1's products have a shop price
        assert "credit" not in shown.lower()

    _login(client, "r2@oak.test")
    for shown in (_words(page(client.get(f"/rounds/{w.round.id}"))),
                  _words(page(client.get("/my-orders")))):
        assert FLAT2_SAVED + " " + NOTE in shown  # the oil has none: left out, and said so
        assert shown.count("You saved") == 1


def test_each_packing_slip_shows_its_households_saving(client, auth):
    w = _saving_world()
    auth.login(w.organiser.email)

    shown = page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/packing-slips"))

    slips = {re.search(r'<h2 class="slip-household"[^>]*>(.*?)</h2>', s).group(1): _words(s)
             for s in re.findall(r'<article class="slip".*?</article>', shown, re.S)}
    assert FLAT1_SAVED in slips["Flat 1"] and NOTE not in slips["Flat 1"]
    assert FLAT2_SAVED in slips["Flat 2"] and NOTE in slips["Flat 2"]


def test_the_tablet_shows_the_saving_on_each_bill_once(client, auth):
    w = _saving_world()
    for home, pin in zip(w.households, PINS, strict=True):
        tablet.set_pin(home, pin, actor=w.organiser, now=utcnow())
    rounds.mark_ordered(w.round, reference=None,
                        expected_on=w.round.closes_at.date() + timedelta(days=2),
                        actor=w.organiser, now=w.round.closes_at + timedelta(hours=1))
    db.session.commit()
    auth.login(w.worker.email)
    assert client.post("/tablet/start", data={"group_id": str(w.group.id)}).status_code == 303

    response = client.post("/tablet/pin", data={"household_id": str(w.households[1].id),
                                                "pin": PINS[1]})
    assert response.headers["Location"] == "/tablet/order"
    shown = _words(page(client.get("/tablet/order")))

    # The bill is both owed and on its way: its saving is said once, on the delivery card.
    assert "To pay" in shown and "Your deliveries" in shown
    assert shown.count(FLAT2_SAVED) == 1 and NOTE in shown
    assert "credit" not in shown.lower()


def test_the_organiser_sees_the_rounds_saving_the_sum_of_the_households(client, auth):
    w = _saving_world()
    auth.login(w.organiser.email)

    round_page = _words(page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}")))
    statements_page = _words(page(client.get(
        f"/organise/{w.group.id}/rounds/{w.round.id}/statements")))

    ids = list(db.session.scalars(select(Statement.id).where(Statement.round_id == w.round.id)))
    each = statements.savings_of(ids)
    assert sorted(s.saved_pence for s in each.values()) == [440, 580]
    assert statements.round_saving_of(w.round).saved_pence == 440 + 580
    for shown in (round_page, statements_page):
        assert "Households saved £10.20 in all compared with shop prices. " + NOTE in shown
    assert FLAT1_SAVED in statements_page and FLAT2_SAVED in statements_page


def test_a_shop_price_changed_after_the_round_opened_does_not_change_its_saving(client, auth):
    w = _saving_world(close=False)
    tins, rice, oil = w.products
    _set_shop_price(w, tins, 999)  # while the round is open
    _set_shop_price(w, oil, 500)
    _close(w)
    _set_shop_price(w, rice, None)  # after the close

    assert statements.round_saving_of(w.round).saved_pence == 1020
    auth.login("r1@oak.test")
    assert FLAT1_SAVED in _words(page(client.get(f"/rounds/{w.round.id}")))


def test_the_price_the_round_keeps_is_the_one_when_it_opened(app):
    """A draft copies the catalogue again when it opens: a price set in between counts."""
    w = factories.world(products=(("Tins", 12, 1200),), open_round=False)
    now = utcnow()
    draft = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Draft", closes_at=now + timedelta(days=3)),
        created_by=w.organiser, now=now)
    db.session.commit()
    assert draft.items[0].retail_price_pence is None
    _set_shop_price(w, w.products[0], 120)

    rounds.open_round(draft, actor=w.organiser, now=now)
    db.session.commit()
    db.session.expire_all()

    assert draft.items[0].retail_price_pence == 120


def test_a_bill_dearer_than_the_shops_never_says_saved(client):
    w = _saving_world(close=False)
    tins, rice, _oil = w.products
    # Set the round's own copy as if the shop had been cheaper when it opened.
    for item in w.round.items:
        item.retail_price_pence = {"Tins": 90, "Rice": 150}.get(item.name)
    db.session.commit()
    _close(w)

    _login(client, "r1@oak.test")
    shown = _words(page(client.get(f"/rounds/{w.round.id}")))
    # 4 tins: 360p at the shop for 400p; rice the same: 40p more.
    assert "This cost £0.40 more than shop prices." in shown
    assert "You saved" not in shown


def test_without_any_shop_price_nothing_is_said_to_residents(client, auth):
    w = factories.world(residents=1)
    item = next(i for i in w.round.items if i.name == "Tinned tomatoes")  # a box of 12
    pledges.set_pledge(item, w.households[0], 12, 0, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    _close(w)

    _login(client, "r1@oak.test")
    for path in (f"/rounds/{w.round.id}", "/my-orders"):
        shown = _words(page(client.get(path)))
        assert "shop price" not in shown
    _login(client, w.organiser.email)
    shown = _words(page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}")))
    assert "No product in this round had a shop price when it opened" in shown
