"""The tablet tells each household that gets something from an ordered round the day it
is expected and where to collect it, whether it has paid or not (before: only in the
"To pay" card, so a household that had paid never saw its day). A household that gets
nothing from the round is not told; the day is shown once a round."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.formatting import day as day_filter
from bulkbuy.models import Statement, utcnow
from bulkbuy.services import rounds, tablet
from bulkbuy.services.payments import cash
from tests.integration.test_order_placed import ASSISTED_PIN, _closed
from tests.integration.test_tablet import start_tablet, take_turn
from tests.pages import page

PAID_PIN, NOTHING_PIN = "1111", "2222"


def _tablet_page(client, home, pin) -> str:
    take_turn(client, home, pin)
    shown = page(client.get("/tablet/order"))
    assert client.post("/tablet/done", data={"reason": "done"}).status_code == 303
    return shown


def test_paid_and_unpaid_households_see_their_delivery_day_once_and_others_do_not(
        client, auth):
    # Flat 1 and Flat 9 (assisted) each get a case of tins; Flat 2 asked for rice and
    # gets none.
    w = _closed()
    paid, nothing, unpaid = w.households[0], w.households[1], w.extra["assisted"]
    now = utcnow()
    tablet.set_pin(paid, PAID_PIN, actor=w.organiser, now=now)
    tablet.set_pin(nothing, NOTHING_PIN, actor=w.organiser, now=now)
    w.round.collection_place, w.round.collection_time = "Oak Hall", "Saturday 10 to 12"
    day = rounds.closed_on(w.round) + timedelta(days=5)
    rounds.mark_ordered(w.round, reference="PO-1", expected_on=day, actor=w.organiser,
                        now=now)
    bill = db.session.scalar(select(Statement).where(Statement.household_id == paid.id))
    cash.record_cash(bill, bill.total_pence, "R-1", actor=w.worker, now=now)
    db.session.commit()
    assert bill.payment_status == "paid"
    expected = f"Delivery expected on {day_filter(day)}."
    collect = "Collect from: Oak Hall, Saturday 10 to 12"

    start_tablet(client, auth, w)
    paid_page = _tablet_page(client, paid, PAID_PIN)
    unpaid_page = _tablet_page(client, unpaid, ASSISTED_PIN)
    nothing_page = _tablet_page(client, nothing, NOTHING_PIN)

    for shown in (paid_page, unpaid_page):
        assert shown.count(expected) == 1 and shown.count(collect) == 1
        assert "Your deliveries" in shown and w.round.title in shown
    assert "To pay" not in paid_page
    assert "To pay" in unpaid_page  # its bill, without the day a second time
    assert expected not in nothing_page and "Your deliveries" not in nothing_page
    assert collect not in nothing_page
