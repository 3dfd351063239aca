"""My orders keeps a household's closed rounds: what it gets, what it owes or that it is
paid in full, and how to pay, until the round is finished (and the last few finished)."""


from sqlalchemy import update

from bulkbuy.extensions import db
from bulkbuy.models import Round, Statement
from tests.integration.test_cash import _closed_world
from tests.pages import page


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
