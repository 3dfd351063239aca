"""What the round's payments page says of each household: cash handed back after a
cancel, and a "Not paid" that is not yet late."""

from datetime import timedelta

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import CashPayment, Round, Statement, utcnow
from bulkbuy.services import closing, pledges
from tests import factories
from tests.pages import page


def _closed_world(close_at=None):
    """r1 owes £5 for 6 of 12 tins at £10 a box (r2 takes the other 6)."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    for household, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(item, household, 6, 0, entered_by=person, now=utcnow(),
                           max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, close_at or w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    statement = db.session.scalar(
        select(Statement).where(Statement.household_id == w.households[0].id))
    return w, statement


def _url(w) -> str:
    return f"/organise/{w.group.id}/rounds/{w.round.id}/payments"


def _card_of(text: str, household: str) -> str:
    start = text.index(f"<h2>{household}</h2>")
    return text[start:text.index("</li>", start)]


def test_cash_handed_back_shows_as_handed_back_and_nothing_owed(client, auth):
    w, statement = _closed_world()
    auth.login(w.organiser.email)
    assert client.post(f"{_url(w)}/{statement.id}/cash",
                       data={"amount": "5", "receipt": "R-1"}).status_code == 303
    assert client.post(f"/organise/{w.group.id}/rounds/{w.round.id}/cancel-after-close"
                       ).status_code == 303
    cash = db.session.scalar(select(CashPayment))
    before = _card_of(page(client.get(_url(w))), "Flat 1")
    assert "Still to hand back: £5." in before

    assert client.post(f"{_url(w)}/cash/{cash.id}/returned").status_code == 303

    card = _card_of(page(client.get(_url(w))), "Flat 1")
    assert "Handed back: £5." in card
    assert "Owes nothing: the round was cancelled." in card
    assert "Owes £5" not in card
    assert "Still to hand back" not in card


def test_not_paid_is_neutral_inside_the_payment_window_and_red_once_it_has_passed(client, auth):
    w, statement = _closed_world()
    auth.login(w.worker.email)

    card = _card_of(page(client.get(_url(w))), "Flat 1")
    assert '<span class="tag">Not paid: £5</span>' in card
    assert "tag-failed" not in card

    db.session.execute(
        Round.__table__.update().where(Round.id == w.round.id)
        .values(closed_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    card = _card_of(page(client.get(_url(w))), "Flat 1")
    assert '<span class="tag tag-failed">Not paid: £5</span>' in card
