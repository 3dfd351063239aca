"""Erasure (UK GDPR): a member asks, an organiser erases once the money is settled;
names, e-mails and the PIN go, the money records stay with the same pence."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CashPayment,
    ErasureRequest,
    Household,
    HouseholdCredit,
    Membership,
    Round,
    Statement,
    User,
    utcnow,
)
from bulkbuy.services import accounts, audit, closing, household_admin, pledges, privacy, tablet
from bulkbuy.services.payments import cash
from tests import factories
from tests.pages import count, page


def closed_world():
    """r1 (Flat 1, Block A, PIN) and r2 (Flat 2) each owe £5 for a closed round."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    for household, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(item, household, 6, 0, entered_by=person, now=utcnow(),
                           max_units=999)
    w.households[0].block = "Block A"
    tablet.set_pin(w.households[0], "2580", actor=w.worker, now=utcnow())
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    mine, theirs = (db.session.scalar(select(Statement).where(Statement.household_id == h.id))
                    for h in w.households)
    return w, mine, theirs


def ask(client, household_id, confirm="yes"):
    return client.post("/my/data/erase-request",
                       data={"household_id": str(household_id), "confirm": confirm})


def erase(client, w, household_id, confirm="yes"):
    return client.post(f"/organise/{w.group.id}/erasure-requests/{household_id}/erase",
                       data={"confirm": confirm})


def test_asked_then_erased_names_go_and_the_money_stays(app, client, auth):
    w, mine, theirs = closed_world()
    h1, h2 = w.households
    cash.record_cash(mine, 500, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    assert any("not finished" in why for why in privacy.money_left(h1.id))
    # Delivered and finished (as settlement.finish_round leaves it): no bill can change.
    db.session.get(Round, w.round.id).status = "complete"
    audit.record("test.note", actor=w.worker, group_id=w.group.id, household_id=h1.id,
                 note="rang Resident 1 on r1@oak.test about Flat 1", amount_pence=500)
    db.session.commit()
    resident = app.test_client()
    resident.post("/login", data={"email": "r1@oak.test", "password": "password123"})

    assert resident.get("/my/data/erase-request").status_code == 200
    unconfirmed = ask(resident, h1.id, confirm="")
    assert unconfirmed.status_code == 400
    assert "Tick the box" in page(unconfirmed)
    assert count(ErasureRequest) == 0
    assert ask(resident, h1.id).status_code == 303
    again = ask(resident, h1.id)
    assert again.status_code == 400 and "already asked" in page(again)
    assert count(ErasureRequest) == 1
    assert "You asked on" in page(resident.get("/my/data"))

    auth.login(w.organiser.email)
    listing = page(client.get(f"/organise/{w.group.id}/erasure-requests"))
    assert "Flat 1" in listing and "Asked by Resident 1" in listing
    assert "it can be erased" in listing
    assert erase(client, w, h1.id, confirm="").status_code == 400
    response = erase(client, w, h1.id)
    assert response.status_code == 303

    db.session.expire_all()
    household = db.session.get(Household, h1.id)
    assert household.label == f"Erased household {h1.id}"
    assert (household.block, household.pin_hash) == (None, None)
    assert household.erased_at is not None
    person = db.session.get(User, w.residents[0].id)
    assert (person.name, person.email) == ("Erased", f"erased-{person.id}@invalid")
    assert person.erased_at is not None
    assert count(Membership) == 3  # organiser, worker, r2
    statement = db.session.get(Statement, mine.id)
    assert (statement.total_pence, statement.paid_pence, statement.payment_status) == (
        500, 500, "paid")
    assert [c.amount_pence for c in db.session.scalars(select(CashPayment).where(
        CashPayment.statement_id == mine.id))] == [500]
    request = db.session.scalar(select(ErasureRequest))
    assert (request.outcome, request.decided_by_id) == ("erased", w.organiser.id)

    # Nothing in the log names them any more; its figures stay.
    for entry in db.session.scalars(select(AuditEntry)):
        for secret in ("r1@oak.test", "Resident 1", '"Flat 1"', "Block A"):
            assert secret not in (entry.details or ""), (entry.action, entry.details)
    note = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "test.note"))
    assert json.loads(note.details) == {"amount_pence": 500, "note": "(erased)"}
    erased = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "household.erased"))
    assert (erased.actor_id, erased.household_id) == (w.organiser.id, h1.id)

    # Signed out everywhere, and the old address and password no longer sign in.
    assert resident.get("/my/data").status_code == 302
    auth.logout()
    assert accounts.authenticate("r1@oak.test", "password123") is None
    auth.login("r1@oak.test")
    assert client.get("/").status_code == 302

    # The other household is untouched.
    other = db.session.get(Household, h2.id)
    assert other.label == "Flat 2" and other.erased_at is None
    assert db.session.get(User, w.residents[1].id).email == "r2@oak.test"
    assert db.session.get(Statement, theirs.id).total_pence == 500


def test_erasing_is_refused_while_the_household_owes_money(client, auth):
    w, mine, _theirs = closed_world()
    h1 = w.households[0]
    auth.login("r1@oak.test")
    assert ask(client, h1.id).status_code == 303
    auth.logout()
    auth.login(w.organiser.email)

    assert "It still owes money for 1 round." in page(
        client.get(f"/organise/{w.group.id}/erasure-requests"))
    response = erase(client, w, h1.id)

    assert response.status_code == 400
    assert "Not erased: its money is not settled." in page(response)
    db.session.expire_all()
    assert db.session.get(Household, h1.id).label == "Flat 1"
    assert db.session.get(User, w.residents[0].id).email == "r1@oak.test"
    assert db.session.scalar(select(ErasureRequest)).outcome is None


def test_erasing_is_refused_while_the_group_owes_the_household(client, auth):
    w, mine, _theirs = closed_world()
    h1 = w.households[0]
    cash.record_cash(mine, 500, "R-1", actor=w.worker, now=utcnow())
    mine.owed_back_pence = 120
    db.session.commit()
    auth.login("r1@oak.test")
    assert ask(client, h1.id).status_code == 303
    auth.logout()
    auth.login(w.organiser.email)

    response = erase(client, w, h1.id)
    assert response.status_code == 400
    assert "The group still holds £1.20 to give back to it." in page(response)

    mine.owed_back_pence = 0
    db.session.add(HouseholdCredit(group_id=w.group.id, household_id=h1.id,
                                   amount_pence=120, reason="owed_back",
                                   statement_id=mine.id))
    db.session.commit()
    response = erase(client, w, h1.id)
    assert response.status_code == 400
    assert "It has £1.20 kept for its next order." in page(response)
    db.session.expire_all()
    assert db.session.get(Household, h1.id).erased_at is None


def test_a_refusal_is_recorded_and_shown_to_the_household(client, auth):
    w, _mine, _theirs = closed_world()
    h1 = w.households[0]
    auth.login("r1@oak.test")
    assert ask(client, h1.id).status_code == 303
    auth.logout()
    auth.login(w.organiser.email)
    url = f"/organise/{w.group.id}/erasure-requests/{h1.id}/refuse"

    assert client.post(url, data={"reason": ""}).status_code == 400
    assert client.post(url, data={"reason": "You still owe £5."}).status_code == 303
    assert client.post(url, data={"reason": "Twice"}).status_code == 404  # none waiting

    auth.logout()
    auth.login("r1@oak.test")
    assert "Staff said no on" in page(client.get("/my/data"))
    assert "You still owe £5." in page(client.get("/my/data"))
    assert ask(client, h1.id).status_code == 303  # they may ask again


def test_residents_get_403_and_other_groups_404_on_the_requests_page(client, auth):
    w, _mine, _theirs = closed_world()
    elm = factories.world(name="Elm Court", prefix="elm-", open_round=False)
    auth.login("r1@oak.test")
    assert ask(client, w.households[0].id).status_code == 303
    url = f"/organise/{w.group.id}/erasure-requests"

    assert client.get(url).status_code == 403
    assert erase(client, w, w.households[0].id).status_code == 403
    auth.logout()
    auth.login(w.worker.email)
    assert client.get(url).status_code == 403
    auth.logout()
    auth.login(elm.organiser.email)
    assert client.get(url).status_code == 404
    assert erase(client, w, w.households[0].id).status_code == 404
    db.session.expire_all()
    assert db.session.get(Household, w.households[0].id).erased_at is None


def test_nobody_asks_for_a_household_they_are_not_in(client, auth):
    w, _mine, _theirs = closed_world()
    auth.login("r1@oak.test")

    response = ask(client, w.households[1].id)

    assert response.status_code == 400
    assert count(ErasureRequest) == 0


def test_erasing_one_household_leaves_its_neighbours_log_alone(app):
    """The block is shared by many homes and is not personal: a neighbour's entries that
    mention it, or free text in them, stay as they were. Only a value that is exactly
    the erased household's name is taken out of other entries."""
    w = factories.world(open_round=False)
    h1, h2 = w.households
    now = utcnow()
    household_admin.edit_household(h1, "Flat 1", "A", actor=w.organiser, now=now)
    household_admin.edit_household(h2, "Flat 2", "A", actor=w.organiser, now=now)
    audit.record("test.note", actor=w.worker, group_id=w.group.id, household_id=h2.id,
                 note="Flat 1 lent Flat 2 a trolley", neighbour="Flat 1")
    db.session.commit()

    privacy.erase_household(h1, actor=w.organiser, now=utcnow())
    db.session.commit()

    db.session.expire_all()
    edited = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "household.edited", AuditEntry.household_id == h2.id))
    note = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "test.note"))
    assert json.loads(edited.details)["after"] == {"block": "A", "label": "Flat 2"}
    assert json.loads(note.details)["note"] == "Flat 1 lent Flat 2 a trolley"
    assert json.loads(note.details)["neighbour"] == "(erased)"
