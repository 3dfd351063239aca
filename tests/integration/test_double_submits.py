"""The same form sent several times at the same moment (a double click, a retry on a
bad connection) gives no 500 and makes one thing (PostgreSQL, real threads, each
request in its own transaction as under a real server).

Before, both requests passed the "is there one already?" check and the second
insert's IntegrityError became a 500: join with a new e-mail, new supplier, new
product, new assisted household, new group; and ten "start a round" posts made ten
identical rounds (the round form now carries a one-time token).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import (
    CardConsent,
    Group,
    Household,
    Invite,
    Product,
    Round,
    SavedCard,
    Supplier,
    User,
    utcnow,
)
from bulkbuy.services import pledges
from tests import factories
from tests.conftest import make_app
from tests.integration.helpers.live_server import pg_card_app
from tests.pages import join_link_for

pytestmark = pytest.mark.postgres_only

AT_ONCE = 10


@pytest.fixture
def pg_app(postgresql_url):
    app = make_app(postgresql_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": AT_ONCE + 5, "max_overflow": 0,
        "connect_args": {"options": "-c lock_timeout=20s"}})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def signed_in_cookies(app, email: str | None) -> dict[str, str]:
    if email is None:
        return {}
    client = app.test_client()
    client.post("/login", data={"email": email, "password": factories.PASSWORD})
    return {"session": client.get_cookie("session").value}


def all_at_once(app, cookies: dict[str, str], url: str, data: dict) -> list[int]:
    """POST `data` to `url` AT_ONCE times together; the status codes."""
    start = threading.Barrier(AT_ONCE)
    answers: list[int] = []

    def send() -> None:
        client = app.test_client()
        for key, value in cookies.items():
            client.set_cookie(key, value)
        start.wait(timeout=30)
        answers.append(client.post(url, data=data).status_code)

    threads = [threading.Thread(target=send) for _ in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return answers


def how_many(app, model, *where) -> int:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(model).where(*where))
        db.session.remove()
        return found


@pytest.fixture
def oak(pg_app):
    with pg_app.app_context():
        w = factories.world(open_round=False)
        ids = {"group": w.group.id, "supplier": w.supplier.id, "invite": w.group.invite_code,
               "organiser": w.organiser.email, "resident": w.residents[0].email,
               "product": w.products[0].id}
        factories.user("admin@site.test", "Site Admin", admin=True)
        db.session.commit()
        db.session.remove()
    return ids


def test_joining_twice_at_once_with_a_new_email_makes_one_account(pg_app, oak):
    answers = all_at_once(pg_app, {}, f"/join/{oak['invite']}", {
        "name": "Nia", "household": "Flat 9", "email": "nia@oak.test",
        "password": "password123"})
    assert answers == [303] * AT_ONCE, answers  # each: "check your e-mail"

    with pg_app.app_context():
        link = join_link_for("nia@oak.test")
        db.session.remove()
    assert all_at_once(pg_app, {}, link, {}).count(303) == 1  # its button, ten times at once

    assert how_many(pg_app, User, User.email == "nia@oak.test") == 1
    assert how_many(pg_app, Household, Household.label == "Flat 9") == 1


def test_a_new_supplier_sent_twice_at_once_is_made_once(pg_app, oak):
    cookies = signed_in_cookies(pg_app, oak["organiser"])
    answers = all_at_once(pg_app, cookies, f"/organise/{oak['group']}/suppliers/new",
                          {"name": "Greengrocer", "contact": ""})

    assert 500 not in answers and answers.count(303) == 1, answers
    assert how_many(pg_app, Supplier, Supplier.name == "Greengrocer") == 1


def test_a_new_product_sent_twice_at_once_is_made_once(pg_app, oak):
    cookies = signed_in_cookies(pg_app, oak["organiser"])
    answers = all_at_once(
        pg_app, cookies, f"/organise/{oak['group']}/suppliers/{oak['supplier']}/products/new",
        {"name": "Chickpeas", "unit_description": "400g tin", "case_size": "12",
         "case_price": "7.20", "retail_price": "", "supplier_code": ""})

    assert 500 not in answers and answers.count(303) == 1, answers
    assert how_many(pg_app, Product, Product.name == "Chickpeas") == 1


def test_a_new_assisted_household_sent_twice_at_once_is_made_once(pg_app, oak):
    cookies = signed_in_cookies(pg_app, oak["organiser"])
    answers = all_at_once(pg_app, cookies, f"/organise/{oak['group']}/households/assisted",
                          {"label": "Flat 40", "block": "", "pin": "2468"})

    assert 500 not in answers and answers.count(303) == 1, answers
    assert how_many(pg_app, Household, Household.label == "Flat 40") == 1


def test_a_new_group_sent_twice_at_once_is_made_once(pg_app, oak):
    cookies = signed_in_cookies(pg_app, "admin@site.test")
    answers = all_at_once(pg_app, cookies, "/admin/groups", {
        "name": "Birch Court", "timezone": "Europe/London",
        "organiser_email": "ada@birch.test"})

    assert 500 not in answers and answers.count(303) + answers.count(302) == 1, answers
    assert how_many(pg_app, Group, Group.name == "Birch Court") == 1
    assert how_many(pg_app, Invite, Invite.email == "ada@birch.test") == 1


def round_form(oak, token: str) -> dict:
    return {"title": "Rice and tins", "products": [str(oak["product"])],
            "closes_at": (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
            "payment_days": "3", "fee_split": "by_value", "allocation_mode": "first_come",
            "submission": token}


@pytest.mark.parametrize("who, url", [
    ("organiser", "/organise/{group}/rounds/new?supplier={supplier}"),
    ("resident", "/groups/{group}/rounds/new?supplier={supplier}"),
])
def test_one_round_form_sent_ten_times_at_once_makes_one_round(pg_app, oak, who, url):
    cookies = signed_in_cookies(pg_app, oak[who])
    answers = all_at_once(pg_app, cookies, url.format(**oak), round_form(oak, "one-form-1"))

    assert answers == [303] * AT_ONCE, answers
    assert how_many(pg_app, Round) == 1


def test_two_forms_make_two_rounds(pg_app, oak):
    cookies = signed_in_cookies(pg_app, oak["organiser"])
    url = "/organise/{group}/rounds/new?supplier={supplier}".format(**oak)
    client = pg_app.test_client()
    client.set_cookie("session", cookies["session"])

    assert client.post(url, data=round_form(oak, "form-a")).status_code == 303
    assert client.post(url, data=round_form(oak, "form-a")).status_code == 303
    assert client.post(url, data=round_form(oak, "form-b")).status_code == 303

    assert how_many(pg_app, Round) == 2


@pytest.fixture
def pg_cards_app(postgresql_url, stripe_config, localstripe):
    """An app on PostgreSQL with card payments on (localstripe)."""
    with pg_card_app(postgresql_url, localstripe) as app:
        yield app


def test_pay_by_card_pressed_ten_times_at_once_gives_no_500_and_one_consent(pg_cards_app):
    app = pg_cards_app
    w = factories.world()
    pledges.set_pledge(w.round.items[0], w.households[0], 3, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=999)
    db.session.commit()
    round_id, household_id = w.round.id, w.households[0].id
    cookies = signed_in_cookies(app, w.residents[0].email)
    db.session.remove()

    answers = all_at_once(app, cookies, f"/rounds/{round_id}/pay-by-card", {"agree": "yes"})

    assert 500 not in answers and set(answers) <= {200, 303}, answers
    assert how_many(app, CardConsent, CardConsent.round_id == round_id) == 1
    assert how_many(app, SavedCard, SavedCard.household_id == household_id) == 1
