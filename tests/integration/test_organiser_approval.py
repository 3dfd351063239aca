"""A round waiting for approval is pointed out on the organiser's dashboard, and its own
page has the Approve button and its products."""

from sqlalchemy import update

from bulkbuy.extensions import db
from bulkbuy.models import Round
from tests import factories
from tests.pages import page


def _waiting_world():
    w = factories.world()
    db.session.execute(update(Round).where(Round.id == w.round.id)
                       .values(status="pending_approval"))
    db.session.commit()
    return w


def test_the_dashboard_lists_rounds_waiting_for_approval_with_a_link(client, auth):
    w = _waiting_world()
    auth.login(w.organiser.email)

    shown = page(client.get(f"/organise/{w.group.id}"))

    start = shown.index('id="waiting-for-approval"')
    waiting = shown[start:shown.index("</section>", start)]
    assert "Waiting for your approval" in waiting
    assert f'href="/organise/{w.group.id}/rounds/{w.round.id}"' in waiting


def test_the_round_page_of_a_waiting_round_has_approve_and_its_products(client, auth):
    w = _waiting_world()
    auth.login(w.organiser.email)

    shown = page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}"))

    assert f'action="/organise/{w.group.id}/rounds/{w.round.id}/open"' in shown
    assert "Approve and open" in shown
    assert "Tinned tomatoes" in shown and "Rice" in shown
    assert client.post(f"/organise/{w.group.id}/rounds/{w.round.id}/open").status_code == 303
    db.session.expire_all()
    assert db.session.get(Round, w.round.id).status == "open"


def test_the_dashboard_has_no_waiting_list_when_nothing_waits(client, auth):
    w = factories.world()
    auth.login(w.organiser.email)

    assert 'id="waiting-for-approval"' not in page(client.get(f"/organise/{w.group.id}"))


def test_a_closed_round_with_no_orders_offers_cancelling_not_placing_an_order(client, auth):
    from datetime import timedelta

    from bulkbuy.services import closing

    w = factories.world()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    assert db.session.get(Round, w.round.id).status == "closed"
    auth.login(w.organiser.email)

    shown = page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}"))

    assert "I have placed the order with the supplier" not in shown
    assert "Nobody ordered anything in this round, so there is nothing to order." in shown
    assert f'href="/organise/{w.group.id}/rounds/{w.round.id}/cancel-after-close"' in shown
    cancel = f"/organise/{w.group.id}/rounds/{w.round.id}/cancel-after-close"
    assert client.get(cancel).status_code == 200
    assert client.post(cancel).status_code == 303
    db.session.expire_all()
    assert db.session.get(Round, w.round.id).status == "cancelled"
