"""A packing slip follows the delivery (issue #14): the goods the household gets now,
a substitute with what it came instead of, what changed in plain words, and, where the
group now holds some of the cash it paid, what it is owed back, never "Still to pay".

The world (test_delivery.ordered_world): Flats 1 and 2 six tins each (£5 each); Flat 2
paid £5 cash, Flat 1 nothing yet. Two tins came damaged and the supplier sent 2 jars of
passata at 50p instead, which go to Flat 2 (whose tins were short): its bill is now
£3.33 + £1 = £4.33, so the group owes it 67p back."""

from __future__ import annotations

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Statement, utcnow
from bulkbuy.services import delivery
from bulkbuy.services.payments import cash as cash_service
from tests.integration.test_delivery import item, ordered_world, save
from tests.integration.test_packing import _slips
from tests.pages import page


def test_a_slip_shows_the_substitute_what_changed_and_the_cash_owed_back(client, auth):
    w = ordered_world()
    flat2 = db.session.scalar(select(Statement).where(Statement.household_id ==
                                                      w.households[1].id))
    cash_service.record_cash(flat2, 500, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    tins = item(w, "Tinned tomatoes")
    save(w, {"Tinned tomatoes": (12, 2)}, [delivery.Substitute(
        tins.id, 2, 50, name="Passata", unit_description="jar")])
    auth.login(w.worker.email)

    slips = _slips(page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}"
                                   "/packing-slips")))

    mine, theirs = slips["Flat 2"], slips["Flat 1"]
    assert "4 × Tinned tomatoes (unit)" in mine
    assert "2 × Passata (jar) instead of Tinned tomatoes" in mine
    assert "What changed 2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67" in mine
    assert "2 Passata sent instead of Tinned tomatoes: +£1" in mine
    assert "We owe you £0.67: cash back now, or kept for your next order. You choose." in mine
    assert "Paid" not in mine and "to pay" not in mine
    # Flat 1 got all it asked for: no changes, and it still has its £5 to pay.
    assert "6 × Tinned tomatoes (unit)" in theirs and "Passata" not in theirs
    assert "What changed" not in theirs and "We owe you" not in theirs
    assert "Still to pay: £5" in theirs
