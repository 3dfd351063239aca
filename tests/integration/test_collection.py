"""Collection day: a worker ticks each household's bag collected (by the household or a
named neighbour), takes cash still owed in the same step, keeps or gives away bags nobody
came for; every step once, audited, and refused in plain words with nothing written."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, BagHandover, CashPayment, Statement, utcnow
from bulkbuy.services import ServiceError, closing, pledges
from bulkbuy.services import collection as collection_service
from bulkbuy.transactions import undone_on_error
from tests import factories
from tests.pages import count, page


def _delivered_world(residents: int = 3, status: str = "delivered"):
    """Flat 1 owes £5 for 6 of 12 tins at £10 a box, Flat 2 £5 for the other 6; Flat 3
    ordered nothing (no bag). The round is then marked `status` directly: in the app,
    recording the delivery (receiving) sets it delivered."""
    w = factories.world(residents=residents, products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    for household, person in zip(w.households[:2], w.residents[:2], strict=True):
        pledges.set_pledge(item, household, 6, 0, entered_by=person, now=utcnow(),
                           max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    w.round.status = status
    db.session.commit()
    return w


def _url(w, tail: str = "") -> str:
    return f"/organise/{w.group.id}/rounds/{w.round.id}/collection{tail}"


def _collect(client, w, household, **form):
    data = {"by": "household", **form}
    return client.post(_url(w, f"/{household.id}/collect"), data=data)


def _statement(household) -> Statement:
    db.session.expire_all()
    return db.session.scalar(select(Statement).where(Statement.household_id == household.id))


def _bags() -> list[tuple[int, str, str | None, str | None]]:
    db.session.expire_all()
    return [(b.household_id, b.status, b.collected_by_name, b.reason)
            for b in db.session.scalars(select(BagHandover).order_by(BagHandover.id))]


def _actions() -> list[tuple[str, int | None, int | None]]:
    db.session.expire_all()
    return [(e.action, e.actor_id, e.household_id) for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action.like("bag.%")
                                 | (AuditEntry.action == "cash.recorded"))
        .order_by(AuditEntry.id))]


def test_a_worker_ticks_a_bag_collected_by_the_household_who_still_owes(client, auth):
    w = _delivered_world()
    flat1 = w.households[0]
    auth.login(w.worker.email)
    board = page(client.get(_url(w)))
    assert "Still to pay: £5" in board and "6 × Tinned tomatoes" in board
    response = _collect(client, w, flat1)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"#bag-{flat1.id}")
    assert _bags() == [(flat1.id, "collected", None, None)]
    assert _actions() == [("bag.collected", w.worker.id, flat1.id)]
    # Goods are not withheld: the bag is collected and what is owed still shows.
    assert _statement(flat1).payment_status == "due"
    after = page(client.get(_url(w)))
    assert "Collected: Flat 1's bag." in after
    assert "Collected by the household" in after and "Ticked by Walt Worker." in after


def test_a_named_neighbour_collects_for_a_household_and_a_name_is_required(client, auth):
    w = _delivered_world()
    flat2 = w.households[1]
    auth.login(w.organiser.email)
    nameless = _collect(client, w, flat2, by="neighbour", neighbour_name="  ")
    assert nameless.status_code == 400
    assert "Enter the neighbour's name" in page(nameless)
    assert _bags() == []
    assert _collect(client, w, flat2, by="neighbour",
                    neighbour_name="Mrs Patel, Flat 9").status_code == 303
    assert _bags() == [(flat2.id, "collected", "Mrs Patel, Flat 9", None)]
    assert "Collected by Mrs Patel, Flat 9 for them" in page(client.get(_url(w)))


def test_cash_taken_in_the_same_step_pays_the_statement(client, auth):
    w = _delivered_world()
    flat1 = w.households[0]
    auth.login(w.worker.email)
    response = _collect(client, w, flat1, amount="5.00", receipt="R-100")
    assert response.status_code == 303
    statement = _statement(flat1)
    assert (statement.paid_pence, statement.payment_status) == (500, "paid")
    cash = db.session.scalar(select(CashPayment))
    assert (cash.amount_pence, cash.receipt_number, cash.recorded_by_id) == (
        500, "R-100", w.worker.id)
    assert _bags() == [(flat1.id, "collected", None, None)]
    assert sorted(_actions()) == [("bag.collected", w.worker.id, flat1.id),
                                  ("cash.recorded", w.worker.id, flat1.id)]
    assert "Cash taken: £5 (receipt R-100)" in page(client.get(_url(w)))


@pytest.mark.parametrize("amount, receipt, message", [
    ("5.01", "R-1", "That is more than they still owe."),
    ("abc", "R-1", None),
    ("0", "R-1", "Enter an amount more than £0."),
    ("2", "", "Enter receipt number"),
])
def test_cash_refused_means_the_bag_is_not_ticked(client, auth, amount, receipt, message):
    w = _delivered_world()
    flat1 = w.households[0]
    auth.login(w.worker.email)
    response = _collect(client, w, flat1, amount=amount, receipt=receipt)
    assert response.status_code == 400
    text = page(response)
    assert "There is a problem" in text
    if message:
        assert message in text
    # The typed values are shown again.
    assert f'value="{amount}"' in response.get_data(as_text=True)
    assert _bags() == [] and count(CashPayment) == 0 and _actions() == []
    assert _statement(flat1).paid_pence == 0


def test_a_second_tick_is_refused_saying_who_and_when(client, auth):
    w = _delivered_world()
    flat1 = w.households[0]
    auth.login(w.worker.email)
    assert _collect(client, w, flat1, by="neighbour", neighbour_name="Ann").status_code == 303
    auth.logout()
    auth.login(w.organiser.email)
    again = _collect(client, w, flat1, amount="5", receipt="R-2")
    assert again.status_code == 303
    text = page(client.get(_url(w)))
    assert "Already collected by Ann for Flat 1 at " in text
    assert "(ticked by Walt Worker). Nothing was changed." in text
    assert _bags() == [(flat1.id, "collected", "Ann", None)]
    assert count(CashPayment) == 0
    assert _actions() == [("bag.collected", w.worker.id, flat1.id)]


def test_a_bag_kept_for_later_is_collected_later(app):
    w = _delivered_world()
    flat1 = w.households[0]
    now = utcnow()
    kept = collection_service.keep(w.round, flat1.id, " Away until Monday ", actor=w.worker,
                                   now=now)
    assert (kept.status, kept.reason, kept.kept_at) == ("kept", "Away until Monday", now)
    with pytest.raises(ServiceError, match="already kept for later by Walt Worker"):
        collection_service.keep(w.round, flat1.id, "again", actor=w.worker, now=now)
    board = collection_service.board(w.round)
    assert [b.household.label for b in board.kept] == ["Flat 1"]
    assert (board.total, board.left) == (2, 2)
    later = now + timedelta(days=3)
    done = collection_service.collect(w.round, flat1.id, neighbour_name=None,
                                      cash=(500, "R-9"), actor=w.organiser, now=later)
    db.session.commit()
    assert _bags() == [(flat1.id, "collected", None, "Away until Monday")]
    assert (done.handover.handled_by_id, done.handover.handled_at) == (w.organiser.id, later)
    assert _statement(flat1).payment_status == "paid"
    assert _actions() == [("bag.kept", w.worker.id, flat1.id),
                          ("cash.recorded", w.organiser.id, flat1.id),
                          ("bag.collected", w.organiser.id, flat1.id)]
    with pytest.raises(ServiceError, match="Already collected by Flat 1"):
        collection_service.give_away(w.round, flat1.id, "food bank", actor=w.worker, now=later)


def test_a_kept_bag_refused_cash_stays_kept(app):
    w = _delivered_world()
    flat1 = w.households[0]
    collection_service.keep(w.round, flat1.id, "Away", actor=w.worker, now=utcnow())
    db.session.commit()
    with pytest.raises(ServiceError, match="more than they still owe"), undone_on_error():
        collection_service.collect(w.round, flat1.id, neighbour_name=None, cash=(501, "R-1"),
                                   actor=w.worker, now=utcnow())
    assert _bags() == [(flat1.id, "kept", None, "Away")]


def test_a_bag_is_given_away_with_a_reason_and_no_reason_is_refused(client, auth):
    w = _delivered_world()
    flat2 = w.households[1]
    auth.login(w.worker.email)
    for action in ("keep", "give-away"):
        refused = client.post(_url(w, f"/{flat2.id}/{action}"), data={"reason": " "})
        assert refused.status_code == 400
        assert "Enter the reason" in page(refused)
    assert _bags() == [] and _actions() == []
    reason = "Not collected after 2 weeks: given to the food bank"
    response = client.post(_url(w, f"/{flat2.id}/give-away"), data={"reason": reason})
    assert response.status_code == 303
    assert _bags() == [(flat2.id, "given_away", None, reason)]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "bag.given_away"))
    assert (entry.actor_id, entry.household_id) == (w.worker.id, flat2.id)
    assert reason in entry.details
    text = page(client.get(_url(w)))
    assert "Given away by Walt Worker, " in text and reason in text
    # Final: it cannot be collected afterwards.
    assert _collect(client, w, flat2).status_code == 303
    assert "Flat 2's bag was already given away by Walt Worker" in page(client.get(_url(w)))
    assert _bags() == [(flat2.id, "given_away", None, reason)]


def test_the_board_lists_waiting_households_first_in_natural_order(client, auth):
    w = _delivered_world(residents=4)
    # Relabelled so that text order and number order differ.
    for household, label in zip(w.households, ("Flat 10", "Flat 2", "Flat 9", "Flat 1"),
                                strict=True):
        household.label = label
    db.session.commit()
    flat10, flat2 = w.households[0], w.households[1]
    collection_service.collect(w.round, flat2.id, neighbour_name=None, cash=None,
                               actor=w.worker, now=utcnow())
    db.session.commit()
    board = collection_service.board(w.round)
    # "Flat 9" and "Flat 1" ordered nothing: they have no bag.
    assert [b.household.label for b in board.waiting] == ["Flat 10"]
    assert [b.household.label for b in board.collected] == ["Flat 2"]
    auth.login(w.worker.email)
    text = page(client.get(_url(w)))
    assert text.index("Still to collect") < text.index("Flat 10") < text.index(
        "Collected (1)") < text.index("Flat 2")
    assert "2 bags in all. 1 still to collect." in text
    assert "Flat 9" not in text
    assert [b.household.id for b in collection_service.board(w.round, "flat 1").waiting] == [
        flat10.id]
    assert collection_service.board(w.round, "FLAT 2").waiting == []


def test_many_flats_are_natural_sorted_and_found_by_name(app):
    w = factories.world(residents=3, products=(("Rice", 3, 300),))
    item = w.round.items[0]
    for household, label in zip(w.households, ("Flat 10", "Flat 2", "Block B 1"),
                                strict=True):
        household.label = label
        pledges.set_pledge(item, household, 1, 0, entered_by=w.organiser, now=utcnow(),
                           max_units=9)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    w.round.status = "delivered"
    db.session.commit()
    assert [b.household.label for b in collection_service.board(w.round).waiting] == [
        "Block B 1", "Flat 2", "Flat 10"]
    assert [b.household.label for b in collection_service.board(w.round, "flat").waiting] == [
        "Flat 2", "Flat 10"]


def test_residents_are_forbidden_and_other_groups_get_404(client, auth):
    w = _delivered_world()
    flat1 = w.households[0]
    other = factories.world(name="Elm Court", prefix="elm-")
    auth.login("r1@oak.test")
    assert client.get(_url(w)).status_code == 403
    assert _collect(client, w, flat1).status_code == 403
    auth.logout()
    auth.login(other.worker.email)
    assert client.get(_url(w)).status_code == 404
    assert _collect(client, w, flat1).status_code == 404
    assert _bags() == []


@pytest.mark.parametrize("status", ["closed", "ordered", "cancelled"])
def test_a_round_not_delivered_has_no_collection_page(client, auth, status):
    w = _delivered_world(status=status)
    auth.login(w.worker.email)
    assert client.get(_url(w)).status_code == 404
    assert _collect(client, w, w.households[0]).status_code == 404
    assert client.post(_url(w, f"/{w.households[0].id}/keep"),
                       data={"reason": "x"}).status_code == 404
    assert _bags() == []
    with pytest.raises(ServiceError, match="once the delivery has come in"):
        collection_service.collect(w.round, w.households[0].id, neighbour_name=None,
                                   cash=None, actor=w.worker, now=utcnow())


def test_a_complete_round_is_shown_read_only(client, auth):
    w = _delivered_world()
    flat1 = w.households[0]
    collection_service.collect(w.round, flat1.id, neighbour_name=None, cash=None,
                               actor=w.worker, now=utcnow())
    w.round.status = "complete"
    db.session.commit()
    auth.login(w.worker.email)
    shown = client.get(_url(w))
    assert shown.status_code == 200
    assert "nothing here can be changed now" in page(shown)
    assert f"/{w.households[1].id}/collect" not in page(shown)
    assert _collect(client, w, w.households[1]).status_code == 303
    assert "This round is complete" in page(client.get(_url(w)))
    assert _bags() == [(flat1.id, "collected", None, None)]


def test_a_household_without_a_bag_is_refused(client, auth):
    w = _delivered_world()
    auth.login(w.worker.email)
    flat3 = w.households[2]  # ordered nothing
    assert _collect(client, w, flat3).status_code == 303
    assert "That household has no bag in this round." in page(client.get(_url(w)))
    assert _collect(client, w, flat3).status_code == 303
    assert client.post(_url(w, "/999999/give-away"), data={"reason": "x"}).status_code == 303
    assert _bags() == [] and _actions() == []
