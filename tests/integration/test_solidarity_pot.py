"""The solidarity pot (issue #17 point 3): donations in, help out at close as
domain.solidarity shares it, to the penny, on SQLite and PostgreSQL.

Oak Estate's round: tins (12 a case, £10) and rice (25 a case, £31.50), a £3 fee split
equally. Flat 1 and Flat 2 pledge 6 tins each (£5 of goods), Flat 1 first; Flat 3 a case
of rice. Every bill has a £1 fee.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bulkbuy.domain.solidarity import Claim, share_pot
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    Round,
    SolidarityEntry,
    SolidaritySettings,
    Statement,
    SupportedHousehold,
)
from bulkbuy.services import closing, settlement, solidarity
from tests import factories
from tests.integration.helpers.closing_checks import statements_of
from tests.integration.helpers.three_flats import AFTER, T0, oak


def pot(w, *, given: int, share: int = 0, cap: int | None = None, supported=(0, 1)) -> None:
    """Give `given` pence to the pot, set its rule, and support households by number."""
    if given:
        solidarity.record_donation(w.group, given, "Grant", actor=w.organiser, now=T0)
    solidarity.save_rule(w.group, share, cap, actor=w.organiser, now=T0)
    for number in supported:
        solidarity.set_supported(w.group, w.households[number], True, actor=w.organiser,
                                 now=T0)
    db.session.commit()


def close(w) -> dict[int, Statement]:
    closing.close_round(w.round.id, AFTER)
    db.session.commit()
    db.session.expire_all()
    return statements_of(w.round.id)


def ledger(group_id: int) -> list[int]:
    return list(db.session.scalars(
        select(SolidarityEntry.amount_pence).where(SolidarityEntry.group_id == group_id)
        .order_by(SolidarityEntry.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def assert_books_hold(w, statements: dict[int, Statement], donated: int) -> None:
    """Households pay goods + fee − pot; the pot spent what its ledger says, never
    below 0; the round's books balance with the pot counted."""
    spent = sum(s.pot_pence for s in statements.values())
    assert sum(s.total_pence - s.pot_pence for s in statements.values()) == \
        sum(s.goods_pence + s.fee_pence for s in statements.values()) - spent
    entries = ledger(w.group.id)
    assert sum(entries) == donated - spent == solidarity.balance(w.group.id) >= 0
    running = 0
    for amount in entries:
        running += amount
        assert running >= 0
    books = settlement.books(db.session.get(Round, w.round.id))
    assert books.balanced and books.pot_used_pence == spent


# --- donations, the page, who may use it -------------------------------------------


def test_a_donation_raises_the_balance_and_is_audited(app, client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    url = f"/organise/{w.group.id}/solidarity-pot"

    response = client.post(f"{url}/donations", data={"amount": "12.50",
                                                     "note": "Grant from the council"})

    assert response.status_code == 303
    assert solidarity.balance(w.group.id) == 1250
    assert solidarity.totals(w.group.id) == solidarity.PotTotals(1250, 0)
    entry = db.session.scalar(select(SolidarityEntry))
    assert (entry.reason, entry.note, entry.recorded_by_id) == (
        "donation", "Grant from the council", w.organiser.id)
    assert db.session.scalar(select(AuditEntry.action).where(
        AuditEntry.action == "solidarity.donation")) == "solidarity.donation"
    page = client.get(url).get_data(as_text=True)
    assert "£12.50" in page and "Grant from the council" in page


@pytest.mark.parametrize("amount", ["12.345", "0", "-5", "ten", ""])
def test_a_bad_amount_shows_a_message_and_changes_nothing(app, client, auth, amount):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)

    response = client.post(f"/organise/{w.group.id}/solidarity-pot/donations",
                           data={"amount": amount, "note": ""})

    assert response.status_code == 400
    assert "There is a problem" in response.get_data(as_text=True)
    assert count(SolidarityEntry) == 0


def test_the_rule_and_supported_marks_are_saved_and_audited(app, client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    url = f"/organise/{w.group.id}/solidarity-pot"
    flat1 = w.households[0]

    assert client.post(f"{url}/rule", data={"share": "50", "cap": "7.50"}).status_code == 303
    assert client.post(f"{url}/households/{flat1.id}",
                       data={"supported": "1"}).status_code == 303
    assert client.post(f"{url}/households/{flat1.id}",
                       data={"supported": "1"}).status_code == 303  # twice: no change

    settings = db.session.get(SolidaritySettings, w.group.id)
    assert (settings.goods_share_percent, settings.cap_pence) == (50, 750)
    assert solidarity.supported_ids(w.group.id) == {flat1.id}
    assert client.post(f"{url}/rule", data={"share": "101", "cap": ""}).status_code == 400
    assert db.session.get(SolidaritySettings, w.group.id).goods_share_percent == 50

    assert client.post(f"{url}/households/{flat1.id}",
                       data={"supported": "0"}).status_code == 303
    assert solidarity.supported_ids(w.group.id) == set()
    actions = list(db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.action.startswith("solidarity.")).order_by(AuditEntry.id)))
    assert actions == ["solidarity.rule_changed", "solidarity.supported",
                       "solidarity.unsupported"]


def test_a_worker_is_refused_and_nothing_is_written(app, client, auth):
    w = factories.world(open_round=False)
    auth.login(w.worker.email)
    url = f"/organise/{w.group.id}/solidarity-pot"

    assert client.get(url).status_code == 403
    assert client.post(f"{url}/donations", data={"amount": "5.00"}).status_code == 403
    assert client.post(f"{url}/rule", data={"share": "50", "cap": ""}).status_code == 403
    assert client.post(f"{url}/households/{w.households[0].id}",
                       data={"supported": "1"}).status_code == 403

    assert (count(SolidarityEntry), count(SolidaritySettings), count(SupportedHousehold)) \
        == (0, 0, 0)


def test_another_groups_organiser_gets_404(app, client, auth):
    oak_group = factories.world(open_round=False)
    elm = factories.world(name="Elm Estate", open_round=False)
    auth.login(elm.organiser.email)
    url = f"/organise/{oak_group.group.id}/solidarity-pot"

    assert client.get(url).status_code == 404
    assert client.post(f"{url}/donations", data={"amount": "5.00"}).status_code == 404
    assert client.post(f"{url}/households/{oak_group.households[0].id}",
                       data={"supported": "1"}).status_code == 404
    assert count(SolidarityEntry) == 0 and count(SupportedHousehold) == 0


def test_an_organiser_cannot_mark_another_groups_household(app, client, auth):
    w = factories.world(open_round=False)
    elm = factories.world(name="Elm Estate", open_round=False)
    auth.login(w.organiser.email)

    response = client.post(f"/organise/{w.group.id}/solidarity-pot/households/"
                           f"{elm.households[0].id}", data={"supported": "1"})

    assert response.status_code == 404
    assert count(SupportedHousehold) == 0


# --- at close ------------------------------------------------------------------------


def test_at_close_fees_are_paid_first_then_the_set_share_of_goods(app):
    w = oak()
    pot(w, given=1000, share=50)

    statements = close(w)

    flat1, flat2, flat3 = (statements[h.id] for h in w.households)
    # £1 fee + half of £5 goods each: £7 of the £10.
    assert [(s.fee_pence, s.goods_pence, s.pot_pence) for s in (flat1, flat2)] == [
        (100, 500, 350), (100, 500, 350)]
    assert (flat1.paid_pence, flat1.payment_status) == (350, "due")
    assert (flat3.pot_pence, flat3.paid_pence) == (0, 0)  # not supported: nothing
    assert ledger(w.group.id) == [1000, -350, -350]
    assert_books_hold(w, statements, 1000)


def test_the_cap_limits_each_households_help(app):
    w = oak()
    pot(w, given=1000, share=50, cap=200)

    statements = close(w)

    assert [statements[h.id].pot_pence for h in w.households] == [200, 200, 0]
    assert_books_hold(w, statements, 1000)


def test_a_pot_too_small_shares_the_fees_by_largest_remainder(app):
    w = oak()
    pot(w, given=101, share=50)

    statements = close(w)

    flat1, flat2, flat3 = (statements[h.id] for h in w.households)
    # 101p over two £1 fees: 50½p each; the odd penny to Flat 1, who pledged first.
    assert (flat1.pot_pence, flat2.pot_pence, flat3.pot_pence) == (51, 50, 0)
    expected = share_pot(101, [Claim(s.household_id, s.position, s.fee_pence, s.goods_pence)
                               for s in (flat1, flat2)], solidarity.rule(w.group.id))
    assert {h: help_.total_pence for h, help_ in expected.helps.items()} == {
        flat1.household_id: 51, flat2.household_id: 50}
    assert solidarity.balance(w.group.id) == 0
    assert_books_hold(w, statements, 101)


def test_a_bill_the_pot_covers_whole_is_paid_and_its_household_sees_the_line(
        app, client, auth):
    w = oak()
    pot(w, given=5000, share=100, supported=(0,))

    statements = close(w)

    flat1 = statements[w.households[0].id]
    assert (flat1.total_pence, flat1.pot_pence, flat1.paid_pence, flat1.payment_status) == (
        600, 600, 600, "paid")
    assert solidarity.balance(w.group.id) == 4400
    assert_books_hold(w, statements, 5000)

    auth.login(w.residents[0].email)
    own = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert "Paid by the group's solidarity pot</th><td class=\"num\">£6</td>" in own
    auth.logout()
    auth.login(w.residents[1].email)
    other = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert "solidarity pot" not in other


def test_an_empty_pot_or_nobody_supported_changes_nothing_at_close(app):
    w = oak()
    pot(w, given=0, share=50)  # supported, but nothing in the pot
    statements = close(w)
    assert all(s.pot_pence == 0 and s.paid_pence == 0 for s in statements.values())
    assert ledger(w.group.id) == []


def test_help_on_a_round_cancelled_after_close_goes_back_into_the_pot_once(app):
    from bulkbuy.services.payments import refunds

    w = oak()
    pot(w, given=1000, share=50)
    close(w)
    refunds.cancel_closed_round(db.session.get(Round, w.round.id), actor=w.organiser,
                                now=AFTER)
    db.session.commit()
    # The cancel gave it back; nothing is left to give back a second time.
    assert solidarity.give_back_help(db.session.get(Round, w.round.id), AFTER) == 0

    assert solidarity.balance(w.group.id) == 1000
    assert ledger(w.group.id) == [1000, -350, -350, 350, 350]


def test_a_short_delivery_gives_the_pots_help_back_to_the_pot_first(app):
    """Flat 2's six tins did not arrive: its bill is now nothing. The £3.50 the pot paid
    on it goes back into the pot, not to Flat 2 as cash or to anyone's card."""
    from bulkbuy.services import delivery, rounds

    w = oak()
    pot(w, given=1000, share=50)
    close(w)
    rnd = db.session.get(Round, w.round.id)
    rounds.mark_ordered(rnd, reference="PO-1", expected_on=(AFTER + timedelta(days=2)).date(),
                        actor=w.organiser, now=AFTER)
    db.session.commit()
    tins = next(i for i in rnd.items if i.name == "Tinned tomatoes")
    rice = next(i for i in rnd.items if i.name == "Rice")
    delivery.record_delivery(rnd, [delivery.Arrived(tins.id, 12, 6),
                                   delivery.Arrived(rice.id, 25, 0)], [], None,
                             drawn_version=rnd.delivery_version, actor=w.organiser, now=AFTER)
    db.session.commit()

    db.session.expire_all()
    statements = statements_of(w.round.id)
    flat2 = statements[w.households[1].id]
    assert (flat2.total_pence, flat2.pot_pence, flat2.paid_pence, flat2.owed_back_pence) == (
        0, 0, 0, 0)
    assert ledger(w.group.id)[-1] == 350
    assert solidarity.balance(w.group.id) == 1000 - statements[w.households[0].id].pot_pence
    assert settlement.books(db.session.get(Round, w.round.id)).balanced
