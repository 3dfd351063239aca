"""The round page is kept rendered between changes, and never shown out of date."""

from sqlalchemy import update

from bulkbuy.extensions import db
from bulkbuy.models import Round, utcnow
from bulkbuy.services import pledges
from tests import factories


def _tomatoes(w):
    return next(i for i in w.round.items if i.name == "Tinned tomatoes")


def test_a_neighbours_pledge_shows_at_once_on_a_reloaded_page(client, auth):
    w = factories.world()
    item = _tomatoes(w)
    auth.login("r1@oak.test")
    path = f"/rounds/{w.round.id}"
    assert "No orders yet" in client.get(path).get_data(as_text=True)
    assert "No orders yet" in client.get(path).get_data(as_text=True)  # a cached copy

    pledges.set_pledge(item, w.households[1], 5, 0, entered_by=w.residents[1], now=utcnow(),
                       max_units=999)
    db.session.commit()
    assert "5 of 12 — 7 more fill it" in client.get(path).get_data(as_text=True)


def test_each_resident_sees_their_own_order_not_a_neighbours_cached_page(client, auth):
    w = factories.world()
    item = _tomatoes(w)
    pledges.set_pledge(item, w.households[0], 4, 0, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    auth.login("r1@oak.test")
    mine = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    auth.logout()
    auth.login("r2@oak.test")
    theirs = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert f'id="quantity-{item.id}" name="quantity" value="4"' in mine
    assert f'id="quantity-{item.id}" name="quantity" value="0"' in theirs


def test_a_new_deadline_shows_at_once(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    path = f"/rounds/{w.round.id}"
    before = client.get(path).get_data(as_text=True)
    db.session.execute(
        update(Round).where(Round.id == w.round.id)
        .values(closes_at=w.round.closes_at.replace(year=w.round.closes_at.year + 1))
    )
    db.session.commit()
    after = client.get(path).get_data(as_text=True)
    assert before != after


def test_every_cached_page_carries_a_working_form_token(db_url):
    from tests.conftest import make_app

    app = make_app(db_url, WTF_CSRF_ENABLED=True)
    try:
        with app.app_context():
            w = factories.world()
            item_id, round_id = _tomatoes(w).id, w.round.id
        client = app.test_client()
        login_page = client.get("/login").get_data(as_text=True)
        token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        client.post("/login", data={"email": "r1@oak.test", "password": "password123",
                                    "csrf_token": token})
        client.get(f"/rounds/{round_id}")
        page = client.get(f"/rounds/{round_id}").get_data(as_text=True)  # cached
        assert "\x00" not in page
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        response = client.post(f"/rounds/{round_id}/items/{item_id}",
                               data={"csrf_token": token, "quantity": "2", "tolerance": "0"})
        assert response.status_code == 303
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_neighbours_pledge_leaves_each_viewers_part_and_shares_the_products(client, auth):
    """An open round's page is kept in two parts: per viewer, the page around the
    products (a neighbour's pledge does not change it), and the products, one part for
    every household per pledge_version. A reload with both kept costs one statement
    besides the signed-in user's."""
    from bulkbuy import fragment_cache
    from tests.integration.test_query_count import counted_statements

    w = factories.world(residents=3)
    item = _tomatoes(w)
    path = f"/rounds/{w.round.id}"
    entries = fragment_cache.round_pages._entries
    shared = fragment_cache.shared_parts._entries
    fragment_cache.round_pages.clear()
    fragment_cache.shared_parts.clear()
    for email in ("r1@oak.test", "r2@oak.test"):
        auth.login(email)
        client.get(path)
        auth.logout()
    assert [key[0] for key in shared] == ["shared"]  # one shared part,
    assert len(entries) == 2  # and two viewers' parts

    pledges.set_pledge(item, w.households[2], 5, 0, entered_by=w.residents[2], now=utcnow(),
                       max_units=999)
    db.session.commit()
    auth.login("r1@oak.test")
    assert "5 of 12 — 7 more fill it" in client.get(path).get_data(as_text=True)
    assert (len(shared), len(entries)) == (2, 2)  # a new shared part; r1's own part kept
    auth.logout()
    auth.login("r2@oak.test")
    db.session.remove()
    with counted_statements() as statements:
        page = client.get(path).get_data(as_text=True)
    assert (len(shared), len(entries)) == (2, 2)  # both parts kept: nothing rendered
    assert "5 of 12 — 7 more fill it" in page
    # The signed-in user's row, then the key's query (versions, drop-ins, own pledges).
    assert len([s for s in statements if "FROM users" not in s.split("WHERE")[0]]) == 1, \
        statements
