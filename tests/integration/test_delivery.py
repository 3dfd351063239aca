"""Delivery day (#14): what arrived is saved, shared out again, and each statement
follows the goods with a line per change; money moves once per change.

The world: a case of 12 tins at £10 (83⅓p a tin). Flat 1 asked for 6 first, Flat 2
for 6 after it: one case, £5 each. Two tins of the case came damaged."""

from __future__ import annotations

from datetime import timedelta

import flask_babel
import pytest
from sqlalchemy import select

from bulkbuy import formatting, sweeps
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CashReturn,
    HouseholdCredit,
    ItemReceipt,
    OutboxMessage,
    Round,
    Statement,
    StatementAdjustment,
    StatementLine,
    WriteOff,
    utcnow,
)
from bulkbuy.services import ServiceError, closing, credits, delivery, rounds
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import refunds
from tests import factories
from tests.integration.helpers.closing_checks import pledge
from tests.pages import count


def ordered_world(*, fee_pence: int = 0, rice: bool = False) -> factories.World:
    """Flats 1 and 2 six tins each (Flat 1 first); with `rice`, Flat 1 also a sack of
    rice (case of 1 at £31.50). Closed and marked ordered."""
    now = utcnow()
    products = (("Tinned tomatoes", 12, 1000), ("Rice", 1, 3150))
    w = factories.world(products=products, now=now)
    w.round.delivery_fee_pence = fee_pence
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 6, now=now)
    pledge(w, 1, "Tinned tomatoes", 6, now=now)
    if rice:
        pledge(w, 0, "Rice", 1, now=now)
    assert closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    rounds.mark_ordered(w.round, reference="PO-1",
                        expected_on=(w.round.closes_at + timedelta(days=2)).date(),
                        actor=w.organiser, now=w.round.closes_at)
    db.session.commit()
    return w


def statement_of(w, flat: int) -> Statement:
    """The round's statement of the household at `flat` (0 is Flat 1)."""
    return db.session.scalar(select(Statement).where(
        Statement.round_id == w.round.id, Statement.household_id == w.households[flat].id))


def item(w, name):
    return next(i for i in w.round.items if i.name == name)


def bills(w) -> dict[str, tuple[int, int, str, int]]:
    """Each flat's (total, paid, status, owed back)."""
    db.session.expire_all()
    return {s.household.label: (s.total_pence, s.paid_pence, s.payment_status,
                                s.owed_back_pence)
            for s in db.session.scalars(select(Statement).where(Statement.round_id
                                                                == w.round.id))}


def save(w, arrived, substitutes=(), invoice=None, version=None):
    rnd = db.session.get(Round, w.round.id)
    result = delivery.record_delivery(
        rnd, [delivery.Arrived(item(w, name).id, a, d) for name, (a, d) in arrived.items()],
        list(substitutes), invoice,
        drawn_version=rnd.delivery_version if version is None else version,
        actor=w.organiser, now=utcnow())
    db.session.commit()
    return result


def news() -> int:
    """The notification sweep's part for delivery: the e-mails of changed bills."""
    queued = delivery.queue_delivery_news(utcnow())
    db.session.commit()
    return queued


def delivery_mail() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.key.startswith("delivery-changed:")).order_by(OutboxMessage.id)))


def test_everything_arriving_changes_no_bill_and_the_round_is_delivered(app):
    w = ordered_world(rice=True)
    before = bills(w)

    result = save(w, {"Tinned tomatoes": (12, 0), "Rice": (1, 0)})

    assert result.statements_changed == 0
    assert bills(w) == before
    assert db.session.get(Round, w.round.id).status == "delivered"
    assert count(StatementAdjustment) == 0
    assert news() == 0
    assert delivery_mail() == []


def test_two_damaged_tins_come_off_the_later_pledger_first_to_the_penny(app):
    w = ordered_world()

    save(w, {"Tinned tomatoes": (12, 2)})

    # 10 tins to hand over cost 1000 × 10 / 12 = 833p: Flat 1 keeps 6 (500p), Flat 2 gets 4.
    assert bills(w) == {"Flat 1": (500, 0, "due", 0), "Flat 2": (333, 0, "due", 0)}
    flat2 = statement_of(w, 1)
    assert [line.units for line in flat2.lines] == [4]
    assert delivery.changes_of(flat2) == [
        ("2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67", -167)]
    assert delivery_mail() == []  # the save leaves the e-mails to the notification sweep
    assert news() == 1
    [mail] = delivery_mail()
    assert mail.to_address == "r2@oak.test"
    assert "2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67" in mail.body
    assert "Your bill is now £3.33." in mail.body


def test_what_changed_is_told_in_the_households_own_language(app):
    w = ordered_world()
    statement_of(w, 1).household.locale = "pl"
    db.session.commit()

    save(w, {"Tinned tomatoes": (12, 2)})
    assert news() == 1

    [mail] = delivery_mail()
    with flask_babel.force_locale("pl"):
        line = flask_babel.gettext(
            "%(lost)s of %(before)s %(name)s did not arrive or came damaged: %(money)s",
            lost=2, before=6, name="Tinned tomatoes", money="−" + formatting.pence(167))
    assert "did not arrive" not in line  # the catalogue has it in Polish
    assert line in mail.body


def test_cash_paid_beyond_the_new_bill_is_held_for_the_household(app):
    w = ordered_world()
    flat2 = statement_of(w, 1)
    cash_service.record_cash(flat2, 500, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()

    save(w, {"Tinned tomatoes": (12, 2)})

    assert bills(w)["Flat 2"] == (333, 333, "paid", 167)
    sweeps.sweep_notifications(utcnow())  # the scheduler's job (no mail server in tests)
    [mail] = delivery_mail()
    assert "We owe you £1.67 of the cash you paid." in mail.body


def test_saving_the_same_delivery_again_moves_nothing_more(app):
    w, _statement_id = _short_cash_world()
    assert news() == 1
    after_first = (bills(w), count(StatementAdjustment), count(OutboxMessage))

    save(w, {"Tinned tomatoes": (12, 2)})

    assert news() == 0
    assert (bills(w), count(StatementAdjustment), count(OutboxMessage)) == after_first
    assert db.session.get(Round, w.round.id).delivery_version == 2


def test_a_later_change_moves_only_the_new_difference(app):
    w = ordered_world()
    flat2 = statement_of(w, 1)
    cash_service.record_cash(flat2, 500, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    save(w, {"Tinned tomatoes": (12, 2)})

    save(w, {"Tinned tomatoes": (12, 1)})  # one of the "damaged" tins was fine after all

    # 11 tins cost 917p (1000 × 11 / 12, rounded): Flat 1 500p, Flat 2 5 tins 417p.
    assert bills(w)["Flat 2"] == (417, 417, "paid", 83)
    flat2 = db.session.get(Statement, flat2.id)
    assert [amount for _words, amount in delivery.changes_of(flat2)] == [-167, 84]
    # Both saves came before the sweep: one e-mail tells both changes and the bill now.
    assert news() == 1
    assert news() == 0
    [mail] = delivery_mail()
    assert mail.key.startswith(f"delivery-changed:{w.round.id}:v2:")
    assert "2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67" in mail.body
    assert "Your bill is now £4.17." in mail.body


def test_each_sweep_after_a_save_tells_only_that_save(app):
    w = ordered_world()
    save(w, {"Tinned tomatoes": (12, 2)})
    news()

    save(w, {"Tinned tomatoes": (12, 1)})

    assert news() == 1
    first, second = delivery_mail()
    assert "Your bill is now £3.33." in first.body
    assert "−£1.67" not in second.body and "Your bill is now £4.17." in second.body


def test_a_substitute_goes_to_the_household_that_lost_units(app):
    w = ordered_world()
    tins = item(w, "Tinned tomatoes")

    save(w, {"Tinned tomatoes": (10, 0)}, [delivery.Substitute(
        tins.id, 2, 85, name="Plum tomatoes", unit_description="400g tin")])

    assert bills(w)["Flat 2"] == (333 + 170, 0, "due", 0)
    flat2 = statement_of(w, 1)
    assert sorted((line.item.name, line.units, line.amount_pence) for line in flat2.lines) \
        == [("Plum tomatoes", 2, 170), ("Tinned tomatoes", 4, 333)]
    assert [words for words, _a in delivery.changes_of(flat2)] == [
        "2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67",
        "2 Plum tomatoes sent instead of Tinned tomatoes: +£1.70"]
    page = delivery.receive_page(db.session.get(Round, w.round.id))
    assert [(line.item.name, line.arrived, line.substitute.name, line.substitute_units)
            for line in page.lines if line.substitute] == [
        ("Tinned tomatoes", 10, "Plum tomatoes", 2)]

    # The supplier's substitute is taken back off the record: nobody gets it any more.
    save(w, {"Tinned tomatoes": (10, 0)})
    assert bills(w)["Flat 2"] == (333, 0, "due", 0)


def test_the_fee_follows_the_goods(app):
    w = ordered_world(fee_pence=300)

    save(w, {"Tinned tomatoes": (6, 0)})  # Flat 2 gets nothing now

    assert bills(w) == {"Flat 1": (500 + 300, 0, "due", 0), "Flat 2": (0, 0, "settled", 0)}
    flat2 = statement_of(w, 1)
    assert [words for words, _a in delivery.changes_of(flat2)] == [
        "6 of 6 Tinned tomatoes did not arrive or came damaged: −£5",
        "Your share of the delivery cost changed: −£1.50"]


@pytest.mark.parametrize("arrived, substitute, field", [
    ({"Tinned tomatoes": (-1, 0)}, None, "arrived"),
    ({"Tinned tomatoes": (5, 6)}, None, "damaged"),
    ({"Tinned tomatoes": (5, -1)}, None, "damaged"),
    ({"Tinned tomatoes": (100_000, 0)}, None, "arrived"),
    ({"Tinned tomatoes": (10, 0)}, dict(units=2, unit_pence=None, name="Plum"), "sub_price"),
    ({"Tinned tomatoes": (10, 0)}, dict(units=0, unit_pence=85, name="Plum"), "sub_units"),
    ({"Tinned tomatoes": (10, 0)}, dict(units=2, unit_pence=85), "sub_product"),
])
def test_impossible_numbers_are_refused_and_nothing_is_written(app, arrived, substitute,
                                                               field):
    w = ordered_world()
    before = (bills(w), count(ItemReceipt), count(StatementLine), count(AuditEntry))
    subs = [delivery.Substitute(item(w, "Tinned tomatoes").id, **substitute)] \
        if substitute else []

    with pytest.raises(ServiceError) as refused:
        save(w, arrived, subs)
    db.session.rollback()

    assert refused.value.field.startswith(field)
    assert (bills(w), count(ItemReceipt), count(StatementLine), count(AuditEntry)) == before
    assert db.session.get(Round, w.round.id).status == "ordered"


def test_a_product_not_in_the_round_is_refused(app):
    w = ordered_world()
    other = factories.world(name="Elm Court", prefix="e")
    rnd = db.session.get(Round, w.round.id)
    with pytest.raises(ServiceError):
        delivery.record_delivery(rnd, [delivery.Arrived(other.round.items[0].id, 1, 0)], [],
                                 None, drawn_version=0, actor=w.organiser, now=utcnow())


def test_two_people_saving_from_the_same_form_get_one_result(app):
    w = ordered_world()
    save(w, {"Tinned tomatoes": (12, 2)}, version=0)

    with pytest.raises(ServiceError) as refused:
        save(w, {"Tinned tomatoes": (12, 0)}, version=0)  # drawn before the first save
    db.session.rollback()

    assert "Someone else saved what arrived" in refused.value.message
    assert bills(w)["Flat 2"][0] == 333


def test_only_an_ordered_round_can_be_received(app):
    now = utcnow()
    w = factories.world(now=now)
    pledge(w, 0, "Tinned tomatoes", 12, now=now)
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    with pytest.raises(ServiceError):
        save(w, {"Tinned tomatoes": (12, 0)})


def test_a_worker_records_the_delivery_on_the_receive_page(client, auth):
    w = ordered_world()
    tins = item(w, "Tinned tomatoes")
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/receive"
    auth.login(w.worker.email)

    shown = client.get(url)
    assert shown.status_code == 200
    text = shown.get_data(as_text=True)
    assert "Ordered: 1 case of 12, 12 items (unit)." in text
    assert f'id="arrived-{tins.id}" name="arrived-{tins.id}" value="12"' in text

    response = client.post(url, data={
        "version": "0", f"arrived-{tins.id}": "12", f"damaged-{tins.id}": "2",
        f"sub_product-{tins.id}": "new", f"sub_name-{tins.id}": "Plum tomatoes",
        f"sub_unit-{tins.id}": "400g tin", f"sub_price-{tins.id}": "0.85",
        f"sub_units-{tins.id}": "2", "invoice": "10.50"})
    assert response.status_code == 303
    assert bills(w)["Flat 2"] == (333 + 170, 0, "due", 0)
    text = client.get(url).get_data(as_text=True)
    assert "Households now pay £10.03 in all for what arrived." in text
    assert "The invoice is £0.47 more than households pay" in text
    assert f'id="sub_units-{tins.id}" name="sub_units-{tins.id}" value="2"' in text


def test_bad_numbers_on_the_receive_page_are_shown_and_nothing_is_written(client, auth):
    w = ordered_world()
    tins = item(w, "Tinned tomatoes")
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/receive"
    auth.login(w.organiser.email)
    before = (bills(w), count(ItemReceipt), count(AuditEntry))

    for form, message in [
        ({f"arrived-{tins.id}": "ten"}, "How many arrived must be a whole number, like 2"),
        ({f"arrived-{tins.id}": "5", f"damaged-{tins.id}": "6"},
         "Damaged cannot be more than arrived, or below 0."),
        ({f"arrived-{tins.id}": "10", f"sub_name-{tins.id}": "Plum", f"sub_units-{tins.id}":
          "2", f"sub_product-{tins.id}": "new"}, "Enter the price of one substitute"),
        ({f"arrived-{tins.id}": "12", "invoice": "lots"}, "pounds"),
    ]:
        response = client.post(url, data={"version": "0", **form})
        assert response.status_code == 400, form
        text = response.get_data(as_text=True)
        assert "There is a problem" in text and message in text, form
    assert (bills(w), count(ItemReceipt), count(AuditEntry)) == before


def test_residents_cannot_open_the_receive_page_and_a_closed_round_has_none(client, auth):
    w = ordered_world()
    auth.login("r1@oak.test")
    assert client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/receive").status_code \
        == 403
    now = utcnow()
    other = factories.world(name="Elm Court", prefix="e", now=now)
    pledge(other, 0, "Tinned tomatoes", 12, now=now)
    closing.close_round(other.round.id, other.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    auth.login(other.organiser.email)
    assert client.get(f"/organise/{other.group.id}/rounds/{other.round.id}/receive"
                      ).status_code == 404


def test_the_household_sees_what_changed_and_what_it_is_owed_back(client, auth):
    w = ordered_world()
    flat2 = statement_of(w, 1)
    cash_service.record_cash(flat2, 500, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    tins = item(w, "Tinned tomatoes")
    save(w, {"Tinned tomatoes": (10, 0)}, [delivery.Substitute(
        tins.id, 1, 85, name="Plum tomatoes", unit_description="400g tin")])
    auth.login("r2@oak.test")

    text = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)

    assert "What changed when the delivery came" in text
    assert "It has arrived and is ready to collect." in text
    assert "At close you were to get 6. The delivery changed this: see below." in text
    assert "2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67" in text
    assert "1 Plum tomatoes sent instead of Tinned tomatoes: +£0.85" in text
    assert "Sent by the supplier instead of Tinned tomatoes" in text
    # 333p + 85p = 418p; 500p was paid in cash: 82p is held for the household.
    assert bills(w)["Flat 2"] == (418, 418, "paid", 82)
    assert "We owe you back (cash you paid)" in text and "£0.82" in text


def _short_cash_world():
    """Flat 2 paid £5 cash; 2 tins came damaged: the group holds £1.67 for it."""
    w = ordered_world()
    flat2 = statement_of(w, 1)
    cash_service.record_cash(flat2, 500, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    save(w, {"Tinned tomatoes": (12, 2)})
    return w, flat2.id


def test_cash_held_for_a_household_is_handed_back_once(client, auth):
    w, statement_id = _short_cash_world()
    auth.login(w.worker.email)
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/payments/{statement_id}/owed-back"

    assert client.post(url, data={"choice": "cash", "back": "collection"}).status_code == 303
    second = client.post(url, data={"choice": "cash"}, follow_redirects=True)

    assert "Nothing is owed back to this household for this round." in second.get_data(
        as_text=True)
    assert [(r.amount_pence, r.statement_id) for r in db.session.scalars(
        select(CashReturn))] == [(167, statement_id)]
    assert bills(w)["Flat 2"] == (333, 333, "paid", 0)
    assert credits.balance(w.households[1].id) == 0


def test_a_credit_kept_pays_first_towards_the_next_round(client, auth):
    w, statement_id = _short_cash_world()
    auth.login(w.worker.email)
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/payments/{statement_id}/owed-back"
    assert client.post(url, data={"choice": "credit"}).status_code == 303
    assert credits.balance(w.households[1].id) == 167
    assert client.post(url, data={"choice": "bogus"}).status_code == 303  # refused
    assert credits.balance(w.households[1].id) == 167

    now = utcnow()
    later = rounds.create_round(w.group, w.supplier, w.products, rounds.RoundDetails(
        title="Next tins", closes_at=now + timedelta(days=3)), created_by=w.organiser,
        now=now)
    rounds.open_round(later, actor=w.organiser, now=now)
    db.session.commit()
    pledge(w, 1, "Tinned tomatoes", 12, now=now, rnd=later)  # a case: £10
    closing.close_round(later.id, later.closes_at + timedelta(seconds=1))
    db.session.commit()

    nxt = db.session.scalar(select(Statement).where(Statement.round_id == later.id))
    assert (nxt.total_pence, nxt.paid_pence, nxt.payment_status) == (1000, 167, "due")
    assert credits.balance(w.households[1].id) == 0
    assert sorted(c.amount_pence for c in db.session.scalars(select(HouseholdCredit))) \
        == [-167, 167]


def test_a_credit_covering_the_whole_next_bill_marks_it_paid(app):
    w, statement_id = _short_cash_world()
    credits.keep_as_credit(db.session.get(Statement, statement_id), actor=w.worker,
                           now=utcnow())
    db.session.commit()
    now = utcnow()
    later = rounds.create_round(w.group, w.supplier, w.products, rounds.RoundDetails(
        title="Rice", closes_at=now + timedelta(days=3)), created_by=w.organiser, now=now)
    rounds.open_round(later, actor=w.organiser, now=now)
    db.session.commit()
    item_of = next(i for i in later.items if i.name == "Tinned tomatoes")
    later_item = item_of
    later_item.case_size, later_item.case_price_pence = 1, 100  # one tin for £1
    db.session.commit()
    pledge(w, 1, "Tinned tomatoes", 1, now=now, rnd=later)
    closing.close_round(later.id, later.closes_at + timedelta(seconds=1))
    db.session.commit()

    nxt = db.session.scalar(select(Statement).where(Statement.round_id == later.id))
    assert (nxt.total_pence, nxt.paid_pence, nxt.payment_status) == (100, 100, "paid")
    assert credits.balance(w.households[1].id) == 67

    # The organiser cancels that round after all: the £1 used goes back to be kept.
    refunds.cancel_closed_round(db.session.get(Round, later.id), actor=w.organiser,
                                now=utcnow())
    db.session.commit()
    assert credits.balance(w.households[1].id) == 167
    with pytest.raises(ServiceError):  # cancelling twice gives nothing back twice
        refunds.cancel_closed_round(db.session.get(Round, later.id), actor=w.organiser,
                                    now=utcnow())
    db.session.rollback()
    assert credits.balance(w.households[1].id) == 167


def test_my_orders_shows_what_changed_what_is_owed_back_and_the_credit(client, auth):
    w, statement_id = _short_cash_world()
    auth.login("r2@oak.test")

    text = client.get("/my-orders").get_data(as_text=True)
    assert "2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.67" in text
    assert "We owe you £1.67 of the cash you paid." in text

    credits.keep_as_credit(db.session.get(Statement, statement_id), actor=w.worker,
                           now=utcnow())
    db.session.commit()
    text = client.get("/my-orders").get_data(as_text=True)
    assert "We owe you £1.67" not in text
    assert "You have £1.67 kept for your next order. It comes off your next bill by itself." in text


def test_surplus_units_nobody_asked_for_are_shown_as_spare(client, auth):
    w = ordered_world()
    save(w, {"Tinned tomatoes": (14, 0)})  # 2 more than the case: nobody offered to take more

    assert bills(w) == {"Flat 1": (500, 0, "due", 0), "Flat 2": (500, 0, "due", 0)}
    auth.login(w.organiser.email)
    text = client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/receive").get_data(
        as_text=True)
    assert "2 spare: more came than was ordered" in text


def test_a_write_off_follows_the_bill_and_is_undone_when_nothing_is_left_to_cover(app):
    w = ordered_world()
    flat2 = statement_of(w, 1)
    cash_service.record_cash(flat2, 200, "R-1", actor=w.worker, now=utcnow())
    cash_service.write_off(db.session.get(Statement, flat2.id), "group_covers",
                           actor=w.organiser, now=utcnow())
    db.session.commit()
    assert db.session.scalar(select(WriteOff)).amount_pence == 300

    save(w, {"Tinned tomatoes": (12, 2)})  # Flat 2's bill: £3.33
    assert bills(w)["Flat 2"] == (333, 200, "settled", 0)
    assert db.session.scalar(select(WriteOff)).amount_pence == 133

    save(w, {"Tinned tomatoes": (9, 0)})  # Flat 2 gets 3 tins: 250p; £2 was paid
    off = db.session.scalar(select(WriteOff))
    assert bills(w)["Flat 2"] == (250, 200, "settled", 0) and off.amount_pence == 50

    save(w, {"Tinned tomatoes": (8, 0)})  # 2 tins: 167p, less than the £2 paid
    assert bills(w)["Flat 2"] == (167, 167, "paid", 33)
    assert db.session.scalar(select(WriteOff)).undone_at is not None


def test_a_price_rise_is_shared_only_within_what_each_household_agreed_to(app):
    """Flat 1 asked for 6 tins and offered to take up to 6 more to fill a case; Flat 2
    asked for 6 and nothing more. The supplier charges £12 a case, not £10."""
    now = utcnow()
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),), now=now)
    pledge(w, 0, "Tinned tomatoes", 6, 6, now=now)
    pledge(w, 1, "Tinned tomatoes", 6, now=now)
    assert closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    rounds.mark_ordered(w.round, reference=None,
                        expected_on=(w.round.closes_at + timedelta(days=2)).date(),
                        actor=w.organiser, now=w.round.closes_at)
    db.session.commit()
    tins = item(w, "Tinned tomatoes")
    rnd = db.session.get(Round, w.round.id)

    delivery.record_delivery(rnd, [delivery.Arrived(tins.id, 12, 0, 1200)], [], 1200,
                             drawn_version=0, actor=w.organiser, now=utcnow())
    db.session.commit()

    # Flat 1 agreed to up to 12 tins (£10): it pays its £6 share. Flat 2 agreed to at
    # most 6 tins at the round's price (£5): the other £1 is the group's.
    assert bills(w) == {"Flat 1": (600, 0, "due", 0), "Flat 2": (500, 0, "due", 0)}
    flat1 = statement_of(w, 0)
    assert delivery.changes_of(flat1) == [
        ("The supplier's price for Tinned tomatoes changed: +£1", 100)]
    flat2 = statement_of(w, 1)
    assert delivery.changes_of(flat2) == []
