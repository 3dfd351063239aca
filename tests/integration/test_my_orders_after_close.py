"""My orders keeps a household's closed rounds: what it gets, what it owes or that it is
paid in full, and how to pay, until the round is finished (and the last few finished)."""

from datetime import timedelta

from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import Round, Statement, utcnow
from bulkbuy.services import closing, pledges
from tests import factories
from tests.pages import page


def _closed_world():
    """r1 gets 6 of 12 tins at £10 a box and owes £5 (r2 takes the other 6)."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    for household, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(item, household, 6, 0, entered_by=person, now=utcnow(),
                           max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statement = db.session.scalar(
        select(Statement).where(Statement.household_id == w.households[0].id))
    return w, statement


def test_my_orders_shows_a_closed_round_what_it_gets_what_it_owes_and_how_to_pay(client, auth):
    w, statement = _closed_world()
    auth.login("r1@oak.test")

    shown = page(client.get("/my-orders"))

    assert "You have not ordered anything in an open round." not in shown
    assert "Test round" in shown and f'href="/rounds/{w.round.id}"' in shown
    assert "Tinned tomatoes" in shown
    assert "You owe £5." in shown
    assert f'href="/pay/{statement.id}"' in shown


def test_my_orders_says_paid_in_full_and_keeps_the_last_finished_rounds(client, auth):
    w, statement = _closed_world()
    db.session.execute(update(Statement).where(Statement.id == statement.id)
                       .values(paid_pence=500, payment_status="paid"))
    db.session.commit()
    auth.login("r1@oak.test")

    shown = page(client.get("/my-orders"))
    assert "Paid in full" in shown and f'href="/pay/{statement.id}"' not in shown

    db.session.execute(update(Round).where(Round.id == w.round.id).values(status="complete"))
    db.session.commit()
    shown = page(client.get("/my-orders"))
    assert "Test round" in shown and "Paid in full" in shown
