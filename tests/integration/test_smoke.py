"""The first journey: a resident signs in, sees the open round and pledges."""

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import PledgeLine
from tests import factories


def test_resident_pledges_and_sees_the_box_fill(client, auth):
    w = factories.world()
    item = next(i for i in w.round.items if i.name == "Tinned tomatoes")
    auth.login("r1@oak.test")
    page = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert "No orders yet" in page

    response = client.post(
        f"/rounds/{w.round.id}/items/{item.id}", data={"quantity": "9", "tolerance": "0"}
    )
    assert response.status_code == 303
    page = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert "You want 9 of" in page
    assert "9 of 12 — 3 more fill it" in page
    lines = db.session.scalars(select(PledgeLine)).all()
    assert [(line.quantity, line.tolerance) for line in lines] == [(9, 0)]
