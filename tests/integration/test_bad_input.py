"""Bad input gets a clear message or status and changes nothing (docs/pages.md, "Errors").

Each test sends what a person (or a forged form) might send, checks the words
or status they get back, and checks the database is as it was before.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    Household,
    PledgeLine,
    Product,
    Round,
    Supplier,
    User,
    utcnow,
)
from bulkbuy.services import rounds
from tests import factories
from tests.pages import count, join_as_new, lines_of, page

TEN_KB = "x" * 10_240
SCRIPT = '<script>alert("hi")</script>'


def tomatoes(w: factories.World):
    return next(i for i in w.round.items if i.name == "Tinned tomatoes")


@pytest.fixture
def oak(client, auth):
    """Oak Estate with an open round; resident 1 is signed in and wants 2 tins of tomatoes."""
    w = factories.world()
    auth.login("r1@oak.test")
    item = tomatoes(w)
    response = client.post(
        f"/rounds/{w.round.id}/items/{item.id}", data={"quantity": "2", "tolerance": "0"}
    )
    assert response.status_code == 303
    return w


def pledge(client, w, quantity, tolerance="0", item=None):
    item = item or tomatoes(w)
    return client.post(
        f"/rounds/{w.round.id}/items/{item.id}",
        data={"quantity": quantity, "tolerance": tolerance},
    )


# --- Pledge quantities and tolerances --------------------------------------------------------

BAD_COUNTS = [
    ("-1", "Enter a whole number, like 2"),
    ("1.5", "Enter a whole number, like 2"),
    ("abc", "Enter a whole number, like 2"),
    ("1e3", "Enter a whole number, like 2"),
    ("1000", "You can have up to 999"),
    (str(10**12), "You can have up to 999"),
]


@pytest.mark.parametrize("field", ["quantity", "tolerance"])
def test_a_bad_number_is_refused_with_a_message_and_the_order_is_unchanged(client, oak, field):
    household_id = oak.households[0].id
    before = lines_of(household_id)
    audit_before = count(AuditEntry)

    for typed, message in BAD_COUNTS:
        data = {"quantity": "3", "tolerance": "0", field: typed}
        response = pledge(client, oak, data["quantity"], data["tolerance"])

        assert response.status_code == 400, typed
        text = page(response)
        assert message in text, typed
        assert "<title>Error:" in text, typed
        assert lines_of(household_id) == before, typed
    assert count(AuditEntry) == audit_before


def test_zero_is_a_valid_order_that_withdraws_it(client, oak):
    response = pledge(client, oak, "0")

    assert response.status_code == 303
    assert lines_of(oak.households[0].id) == []
    shown = page(client.get(response.headers["Location"]))
    assert "You do not want any" in shown


def test_zero_from_a_household_with_no_order_is_accepted_and_writes_nothing(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    audit_before = count(AuditEntry)

    response = pledge(client, w, "0")

    assert response.status_code == 303
    assert count(PledgeLine) == 0
    assert count(AuditEntry) == audit_before


def test_the_stepper_sent_twice_changes_the_quantity_once(client, oak):
    """`+` carries the target number, so a resent tap is harmless (docs/pages.md)."""
    item = tomatoes(oak)
    url = f"/rounds/{oak.round.id}/items/{item.id}"
    plus = {"set_quantity": "3", "quantity": "2", "tolerance": "0"}
    audit_before = count(AuditEntry)

    first = client.post(url, data=plus)
    after_first = lines_of(oak.households[0].id)
    second = client.post(url, data=plus)

    assert first.status_code == second.status_code == 303
    assert sum(q for _, q, _ in after_first) == 3
    assert lines_of(oak.households[0].id) == after_first
    assert count(AuditEntry) == audit_before + 1

    minus = {"set_quantity": "2", "quantity": "3", "tolerance": "0"}
    client.post(url, data=minus)
    client.post(url, data=minus)
    assert sum(q for _, q, _ in lines_of(oak.households[0].id)) == 2


# --- Closed rounds -----------------------------------------------------------------------------

def test_a_pledge_after_the_deadline_is_refused_as_orders_closed(client, auth):
    w = factories.world(closes_in=timedelta(hours=1))
    auth.login("r1@oak.test")
    assert pledge(client, w, "2").status_code == 303
    before = lines_of(w.households[0].id)
    # The deadline passes; the scheduler has not closed the round yet.
    db.session.execute(
        update(Round)
        .where(Round.id == w.round.id)
        .values(closes_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()

    response = pledge(client, w, "5")

    assert response.status_code == 409
    text = page(response)
    assert "Orders are closed" in text
    assert "We did not change your order." in text
    assert lines_of(w.households[0].id) == before
    stepper = client.post(
        f"/rounds/{w.round.id}/items/{tomatoes(w).id}", data={"set_quantity": "0"}
    )
    assert stepper.status_code == 409
    assert lines_of(w.households[0].id) == before


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("closed", "Orders closed on"),
        ("cancelled", "This round was cancelled."),
    ],
)
def test_a_pledge_to_a_round_that_is_no_longer_open_is_refused(client, oak, status, message):
    before = lines_of(oak.households[0].id)
    db.session.execute(update(Round).where(Round.id == oak.round.id).values(status=status))
    db.session.commit()

    response = pledge(client, oak, "5")

    assert response.status_code == 409
    text = page(response)
    assert message in text
    assert "We did not change your order." in text
    assert lines_of(oak.households[0].id) == before


# --- Organiser forms: products, suppliers --------------------------------------------------------

def product_form(**changes) -> dict:
    data = {
        "name": "Chickpeas",
        "unit_description": "400g tin",
        "case_size": "12",
        "case_price": "7.20",
        "retail_price": "",
        "supplier_code": "",
    }
    data.update(changes)
    return data


@pytest.fixture
def organiser(client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    return w


def new_product_url(w) -> str:
    return f"/organise/{w.group.id}/suppliers/{w.supplier.id}/products/new"


BAD_PRODUCT_FIELDS = [
    ("case_size", "0", "Units in a case must be at least 1"),
    ("case_size", "-3", "Units in a case cannot be less than 1"),
    ("case_size", "abc", "Units in a case must be a whole number, like 2"),
    ("case_price", "-1.00", "The amount cannot be less than £0"),
    ("case_price", "abc", "Enter an amount in pounds, like 12.50"),
    ("case_price", "1.234", "Enter pence with no more than 2 digits, like 12.50"),
    ("name", TEN_KB, "Product name must be 100 characters or fewer"),
]


def test_a_bad_product_is_refused_with_a_message_and_not_saved(client, organiser):
    products_before = count(Product)

    for field, typed, message in BAD_PRODUCT_FIELDS:
        response = client.post(new_product_url(organiser), data=product_form(**{field: typed}))

        assert response.status_code == 200, (field, typed[:20])  # the form again
        text = page(response)
        assert "There is a problem" in text
        assert message in text, (field, typed[:20])
    assert count(Product) == products_before


def test_a_bad_case_size_leaves_an_existing_product_as_it_was(client, organiser):
    product = organiser.products[0]
    url = f"/organise/{organiser.group.id}/suppliers/{organiser.supplier.id}/products/{product.id}"

    response = client.post(
        url, data=product_form(name=product.name, case_size="0", case_price="99.00")
    )

    assert "Units in a case must be at least 1" in page(response)
    db.session.expire_all()
    saved = db.session.get(Product, product.id)
    assert (saved.case_size, saved.case_price_pence) == (12, 1000)


def test_a_ten_kilobyte_supplier_name_is_refused(client, organiser):
    response = client.post(
        f"/organise/{organiser.group.id}/suppliers/new", data={"name": TEN_KB, "contact": ""}
    )

    assert response.status_code == 200
    assert "Supplier name must be 100 characters or fewer" in page(response)
    assert count(Supplier) == 1


def test_a_ten_kilobyte_round_title_is_refused(client, auth):
    w = factories.world(open_round=False)
    auth.login("r1@oak.test")
    closes = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")

    response = client.post(
        f"/groups/{w.group.id}/rounds/new?supplier={w.supplier.id}",
        data={"title": TEN_KB, "products": [str(w.products[0].id)], "closes_at": closes},
    )

    assert response.status_code == 200
    assert "Name of the round must be 120 characters or fewer" in page(response)
    assert count(Round) == 0


def test_a_ten_kilobyte_household_name_at_join_is_refused(client):
    w = factories.world(open_round=False)
    users_before, homes_before = count(User), count(Household)

    response = client.post(
        f"/join/{w.group.invite_code}",
        data={
            "name": "Nia", "household": TEN_KB, "email": "nia@oak.test",
            "password": "password123",
        },
    )

    assert response.status_code == 200
    assert "Your flat or house must be 60 characters or fewer" in page(response)
    assert (count(User), count(Household)) == (users_before, homes_before)


# --- HTML in names is shown as text ------------------------------------------------------------

def test_html_in_a_product_name_is_shown_as_text_not_run(client, auth, organiser):
    response = client.post(new_product_url(organiser), data=product_form(name=SCRIPT))
    assert response.status_code == 303

    supplier_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "&lt;script&gt;" in supplier_page
    assert "<script>" not in supplier_page  # (our own tags are <script src=...>)

    product = db.session.scalar(select(Product).where(Product.name == SCRIPT))
    rnd = rounds.create_round(
        organiser.group, organiser.supplier, [product],
        rounds.RoundDetails(title="Tins", closes_at=utcnow() + timedelta(days=2)),
        created_by=organiser.organiser, now=utcnow(),
    )
    rounds.open_round(rnd, actor=organiser.organiser, now=utcnow())
    db.session.commit()
    auth.login("r1@oak.test")
    round_page = client.get(f"/rounds/{rnd.id}").get_data(as_text=True)
    assert "&lt;script&gt;" in round_page
    assert "<script>" not in round_page


def test_html_in_a_household_name_is_shown_as_text_not_run(client, auth):
    w = factories.world(open_round=False)
    response = join_as_new(client, w.group.invite_code, household=SCRIPT)
    assert response.status_code == 303

    auth.login("org@oak.test")
    households = client.get(f"/organise/{w.group.id}/households").get_data(as_text=True)
    assert "&lt;script&gt;" in households
    assert "<script>" not in households


# --- Ids from another group answer 404, never 403 -------------------------------------------------

@pytest.fixture
def two_groups():
    oak = factories.world()
    elm = factories.world(name="Elm Court")
    elm_draft = rounds.create_round(
        elm.group, elm.supplier, elm.products,
        rounds.RoundDetails(title="Elm draft", closes_at=utcnow() + timedelta(days=4)),
        created_by=elm.organiser, now=utcnow(),
    )
    db.session.commit()
    elm.extra["draft"] = elm_draft
    return oak, elm


def test_a_round_of_another_group_is_not_found(client, auth, two_groups):
    oak, elm = two_groups
    elm_item = tomatoes(elm)
    auth.login("r1@oak.test")

    assert client.get(f"/rounds/{elm.round.id}").status_code == 404
    assert client.post(
        f"/rounds/{elm.round.id}/items/{elm_item.id}", data={"quantity": "3"}
    ).status_code == 404
    assert client.post(
        f"/rounds/{elm.round.id}/extend", data={"closes_at": "2099-01-01T12:00"}
    ).status_code == 404
    assert client.post(f"/rounds/{elm.round.id}/cancel").status_code == 404
    assert count(PledgeLine) == 0
    db.session.expire_all()
    assert db.session.get(Round, elm.round.id).status == "open"


def test_a_round_item_of_another_group_is_not_found(client, auth, two_groups):
    oak, elm = two_groups
    auth.login("r1@oak.test")

    response = client.post(
        f"/rounds/{oak.round.id}/items/{tomatoes(elm).id}", data={"quantity": "3"}
    )

    assert response.status_code == 404
    assert "Page not found" in page(response)
    assert count(PledgeLine) == 0


def test_a_product_of_another_group_is_not_found(client, auth, two_groups):
    oak, elm = two_groups
    elm_product = elm.products[0]
    auth.login("org@oak.test")
    url = f"/organise/{oak.group.id}/suppliers/{oak.supplier.id}/products/{elm_product.id}"

    assert client.get(url).status_code == 404
    response = client.post(url, data=product_form(name="Stolen", case_price="0.01"))

    assert response.status_code == 404
    db.session.expire_all()
    kept = db.session.get(Product, elm_product.id)
    assert (kept.name, kept.case_price_pence) == ("Tinned tomatoes", 1000)


def test_a_supplier_of_another_group_is_not_found(client, auth, two_groups):
    oak, elm = two_groups
    auth.login("org@oak.test")
    products_before = count(Product)

    for url in (
        f"/organise/{oak.group.id}/suppliers/{elm.supplier.id}",
        f"/organise/{elm.group.id}/suppliers/{elm.supplier.id}",
    ):
        assert client.get(url).status_code == 404, url
        assert client.post(url + "/products/new", data=product_form()).status_code == 404, url
        assert client.post(url + "/import", data={}).status_code == 404, url
    assert count(Product) == products_before


def test_a_round_of_another_group_cannot_be_opened_by_an_organiser(client, auth, two_groups):
    oak, elm = two_groups
    draft = elm.extra["draft"]
    auth.login("org@oak.test")

    for group_id in (oak.group.id, elm.group.id):
        response = client.post(f"/organise/{group_id}/rounds/{draft.id}/open")
        assert response.status_code == 404

    db.session.expire_all()
    assert db.session.get(Round, draft.id).status == "draft"


def test_a_round_cannot_be_started_with_another_groups_supplier(client, auth, two_groups):
    oak, elm = two_groups
    auth.login("r1@oak.test")
    rounds_before = count(Round)
    closes = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")

    response = client.post(
        f"/groups/{oak.group.id}/rounds/new?supplier={elm.supplier.id}",
        data={"title": "Borrowed", "products": [str(p.id) for p in elm.products],
              "closes_at": closes},
    )

    assert response.status_code in (200, 404)
    assert count(Round) == rounds_before
