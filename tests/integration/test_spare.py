"""Spare units (#14): what arrived beyond what households get is sold at the drop-in (cash,
a price each, a receipt) or given away (a reason); what is left never goes below 0, and
the cash is in the round's books, which still balance to the penny.

The world (tests/integration/test_delivery.py): Flats 1 and 2 six tins each of a case of
12 at £10; 14 tins arrive, so 2 are spare."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Round, SpareDisposal, Statement, User, utcnow
from bulkbuy.services import ServiceError, settlement
from bulkbuy.services import spare as spare_service
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.transactions import undone_on_error
from tests.conftest import make_app
from tests.integration.test_delivery import item, ordered_world, save, statement_of
from tests.pages import count, page


def spare_world():
    w = ordered_world()
    save(w, {"Tinned tomatoes": (14, 0)})
    return w


def the_round(w) -> Round:
    db.session.expire_all()
    return db.session.get(Round, w.round.id)


def left(w) -> list[tuple[str, int, int, int, int]]:
    """(product, spare, sold, given away, left) per line of the spare list."""
    return [(line.item.name, line.spare, line.sold, line.given_away, line.left)
            for line in spare_service.spare_list(the_round(w))]


def figures(w) -> dict[str, int | None]:
    return {f.key: f.pence for f in settlement.books(the_round(w)).figures}


def test_selling_one_of_two_spare_leaves_one_and_the_books_show_it_and_balance(app):
    w = spare_world()
    flat1 = db.session.scalar(select(Statement).where(Statement.household_id ==
                                                      w.households[0].id))
    cash_service.record_cash(flat1, 500, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    assert left(w) == [("Tinned tomatoes", 2, 0, 0, 2)]

    sale = spare_service.sell(the_round(w), item(w, "Tinned tomatoes").id, 1, 80, "S-1",
                              "Flat 7", actor=w.worker, now=utcnow())
    db.session.commit()

    assert left(w) == [("Tinned tomatoes", 2, 1, 0, 1)]
    assert (sale.kind, sale.units, sale.unit_pence, sale.cash_pence, sale.buyer) == (
        "sold", 1, 80, 80, "Flat 7")
    books = settlement.books(the_round(w))
    found = figures(w)
    assert books.balanced and books.mismatches == []
    assert (found["cash_in"], found["spare_sold"], found["received"], found["money_in"]) \
        == (500, 80, 580, 580)
    assert (found["paid"], found["spare_kept"], found["accounted"], found["difference"]) \
        == (500, 80, 580, 0)
    # Nothing for the group to cover: the 80p is simply kept towards the invoice.
    assert (found["spare_off_deficit"], found["deficit"]) == (0, 0)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "spare.sold"))
    assert entry.actor_id == w.worker.id and '"cash_pence": 80' in entry.details

    spare_service.give_away(the_round(w), item(w, "Tinned tomatoes").id, 1,
                            "to the food bank", actor=w.worker, now=utcnow())
    db.session.commit()

    assert left(w) == [("Tinned tomatoes", 2, 1, 1, 0)]
    assert figures(w)["spare_sold"] == 80 and settlement.books(the_round(w)).balanced
    assert db.session.scalar(select(AuditEntry.details).where(
        AuditEntry.action == "spare.given_away")).count("to the food bank") == 1


def test_what_spare_sold_for_comes_off_the_groups_deficit(app):
    w = spare_world()
    rnd = the_round(w)
    rnd.invoice_total_pence = 1000 + 167  # the supplier charges for the 2 spare tins too
    db.session.commit()
    assert figures(w)["deficit"] == 167

    spare_service.sell(the_round(w), item(w, "Tinned tomatoes").id, 2, 50, "S-1", None,
                       actor=w.worker, now=utcnow())
    db.session.commit()
    found = figures(w)
    assert (found["invoice_above_bills"], found["spare_off_deficit"], found["deficit"]) == (
        167, -100, 67)

    assert settlement.books(the_round(w)).balanced


#: (units, price each, receipt) a sale is refused for, and the field the words go beside.
REFUSED_SALES = [
    (3, 80, "S-9", "units"),      # only 1 is left
    (0, 80, "S-9", "units"),
    (-1, 80, "S-9", "units"),
    (1, None, "S-9", "price"),
    (1, 0, "S-9", "price"),
    (1, 80, "  ", "receipt"),
    (1, 80, "S-1", "receipt"),    # used for a spare sale already
    (1, 80, "R-1", "receipt"),    # used for a household's cash
]


def test_a_sale_the_rules_refuse_writes_nothing(app):
    w = spare_world()
    flat1 = db.session.scalar(select(Statement).where(Statement.household_id ==
                                                      w.households[0].id))
    cash_service.record_cash(flat1, 500, "R-1", actor=w.worker, now=utcnow())
    spare_service.sell(the_round(w), item(w, "Tinned tomatoes").id, 1, 80, "S-1", None,
                       actor=w.worker, now=utcnow())
    db.session.commit()
    before = (count(SpareDisposal), count(AuditEntry))

    for units, price, receipt, field in REFUSED_SALES:
        with pytest.raises(ServiceError) as refused, undone_on_error():
            spare_service.sell(the_round(w), item(w, "Tinned tomatoes").id, units, price,
                               receipt, None, actor=w.worker, now=utcnow())
        assert refused.value.field == field, (units, price, receipt)
        db.session.commit()

    assert (count(SpareDisposal), count(AuditEntry)) == before
    assert left(w) == [("Tinned tomatoes", 2, 1, 0, 1)]


def test_giving_away_needs_a_reason_and_no_more_than_is_left_and_a_delivered_round(app):
    w = spare_world()
    tins = item(w, "Tinned tomatoes").id
    for units, reason, field in ((1, " ", "reason"), (3, "food bank", "units"),
                                 (0, "food bank", "units")):
        with pytest.raises(ServiceError) as refused, undone_on_error():
            spare_service.give_away(the_round(w), tins, units, reason, actor=w.worker,
                                    now=utcnow())
        assert refused.value.field == field
    # A product with nothing spare, and a finished round: refused, nothing written.
    with pytest.raises(ServiceError, match="no spare units"), undone_on_error():
        spare_service.give_away(the_round(w), tins + 999, 1, "food bank", actor=w.worker,
                                now=utcnow())
    db.session.execute(update(Round).where(Round.id == w.round.id).values(status="complete"))
    db.session.commit()
    with pytest.raises(ServiceError, match="finished"), undone_on_error():
        spare_service.give_away(the_round(w), tins, 1, "food bank", actor=w.worker,
                                now=utcnow())
    assert count(SpareDisposal) == 0


def test_the_spare_page_for_staff_sells_and_shows_bad_input_again(client, auth):
    w = spare_world()
    base = f"/organise/{w.group.id}/rounds/{w.round.id}"
    tins = item(w, "Tinned tomatoes").id
    auth.login(w.organiser.email)
    assert "Sell or give away the spare" in page(client.get(f"{base}/receive"))

    auth.login(w.worker.email)
    text = page(client.get(f"{base}/spare"))
    assert "2 spare left" in text and "Tinned tomatoes" in text

    refused = client.post(f"{base}/spare", data={"action": "sell", "item": tins,
                                                 "units": "1", "price": "",
                                                 "receipt": "S-7", "buyer": "Nia"})
    assert refused.status_code == 400
    text = page(refused)
    assert "Enter the price of one, like 0.50." in text
    assert 'value="S-7"' in text and 'value="Nia"' in text
    assert count(SpareDisposal) == 0

    too_many = client.post(f"{base}/spare", data={"action": "give", "item": tins,
                                                  "units": "5", "reason": "food bank"})
    assert too_many.status_code == 400
    assert "There are only 2 spare left." in page(too_many)
    assert count(SpareDisposal) == 0

    sold = client.post(f"{base}/spare", data={"action": "sell", "item": tins, "units": "1",
                                              "price": "0.80", "receipt": "S-7",
                                              "buyer": ""})
    assert sold.status_code == 303
    text = page(client.get(f"{base}/spare"))
    assert "Sold: 1 × Tinned tomatoes for £0.80 (receipt S-7)." in text
    assert "1 spare left" in text and "Sold for £0.80 (£0.80 each), receipt S-7" in text

    auth.login(w.organiser.email)
    text = page(client.get(f"{base}/settlement"))
    assert "The books balance to the penny." in text
    assert "Spare sold (cash for units nobody ordered)" in text
    assert "Spare sold (cash for units nobody ordered),80,0.80" in client.get(
        f"{base}/settlement.csv").get_data(as_text=True)


def test_residents_may_not_and_a_round_not_delivered_has_no_spare_page(client, auth):
    w = spare_world()
    base = f"/organise/{w.group.id}/rounds/{w.round.id}"
    tins = item(w, "Tinned tomatoes").id
    sale = {"action": "sell", "item": tins, "units": "1", "price": "0.80", "receipt": "S-1"}
    auth.login(w.residents[0].email)
    assert client.get(f"{base}/spare").status_code == 403
    assert client.post(f"{base}/spare", data=sale).status_code == 403

    auth.login(w.worker.email)
    db.session.execute(update(Round).where(Round.id == w.round.id).values(status="ordered"))
    db.session.commit()
    assert client.get(f"{base}/spare").status_code == 404
    assert client.post(f"{base}/spare", data=sale).status_code == 404
    assert count(SpareDisposal) == 0


@pytest.mark.postgres_only
def test_two_staff_selling_the_last_spare_at_once_sell_it_once(postgresql_url):
    app = make_app(postgresql_url)
    with app.app_context():
        w = spare_world()
        tins, round_id, worker_id = item(w, "Tinned tomatoes").id, w.round.id, w.worker.id
        # The first sells both spare tins and has not committed yet.
        spare_service.sell(db.session.get(Round, round_id), tins, 2, 80, "S-1", None,
                           actor=w.worker, now=utcnow())

        def second_sale():
            """Another member of staff at the same moment: its own session."""
            with app.app_context():
                db.session.execute(text("SET LOCAL lock_timeout = '300ms'"))
                try:
                    spare_service.sell(db.session.get(Round, round_id), tins, 1, 80, "S-2",
                                       None, actor=db.session.get(User, worker_id),
                                       now=utcnow())
                finally:
                    db.session.rollback()
                    db.session.remove()

        # It waits for the first (here: gives up waiting) rather than read 2 left.
        with pytest.raises(OperationalError, match="lock timeout"):
            second_sale()
        db.session.commit()
        with pytest.raises(ServiceError, match="no spare units of that left"):
            second_sale()
        assert left(w) == [("Tinned tomatoes", 2, 2, 0, 0)]
        db.session.remove()
    with app.app_context():
        db.engine.dispose()


def test_a_receipt_number_used_for_spare_is_not_used_again_for_a_households_cash(app):
    """One receipt book: cash for a bill cannot reuse a spare sale's receipt number."""
    w = spare_world()
    tins = item(w, "Tinned tomatoes")
    spare_service.sell(the_round(w), tins.id, 1, 90, "S-1", None, actor=w.worker,
                       now=utcnow())
    db.session.commit()
    with pytest.raises(ServiceError) as refused:
        cash_service.record_cash(statement_of(w, 0), 100, "S-1", actor=w.worker,
                                 now=utcnow())
    assert refused.value.field == "receipt"
