"""Suppliers and products can be changed after they are made (#13, item 12): a product
is hidden from new rounds and shown again (rounds that have it keep it), a supplier's
name and contact are edited (names unique in the group), a supplier code already used
is refused in the form as in CSV import, and a price typed with a thousands separator
("1,200.00") is read as £1,200 and said back, while "1,20.00" and "12,50" are refused
in plain words."""

from __future__ import annotations

import pytest

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Product, Supplier
from bulkbuy.services import catalogue
from tests import factories
from tests.pages import count, page


def product_path(w, product=None) -> str:
    base = f"/organise/{w.group.id}/suppliers/{w.supplier.id}/products"
    return f"{base}/{product.id}" if product else f"{base}/new"


def product_data(**changes) -> dict:
    data = {"name": "Lentils", "unit_description": "1kg bag", "case_size": "10",
            "case_price": "12.50", "retail_price": "", "supplier_code": ""}
    data.update(changes)
    return data


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def test_a_hidden_product_is_left_off_new_rounds_marked_on_the_supplier_page_and_shown_again(
        client, auth):
    w = factories.world()  # an open round has both products
    auth.login(w.organiser.email)
    rice = next(p for p in w.products if p.name == "Rice")
    shown = f"{product_path(w, rice)}/shown"
    new_round = f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}"
    supplier_page = f"/organise/{w.group.id}/suppliers/{w.supplier.id}"
    assert "Rice (unit" in page(client.get(new_round))

    response = client.post(shown, data={"show": "0"}, follow_redirects=True)
    assert "hidden from new rounds" in page(response)
    assert fresh(Product, rice.id).active is False
    assert "Rice (unit" not in page(client.get(new_round))
    assert "Hidden" in page(client.get(supplier_page))
    assert "Rice" in [i.name for i in w.round.items]  # the open round keeps it
    assert "Show again" in page(client.get(supplier_page))
    assert "Show in new rounds again" in page(client.get(product_path(w, rice)))

    client.post(shown, data={"show": "1"})
    assert fresh(Product, rice.id).active is True
    assert "Rice (unit" in page(client.get(new_round))
    assert count(AuditEntry) >= 2


def test_hiding_another_groups_product_is_not_found(client, auth):
    w = factories.world(open_round=False)
    other = factories.world(name="Elm Court", open_round=False)
    auth.login(w.organiser.email)
    response = client.post(
        f"/organise/{w.group.id}/suppliers/{w.supplier.id}/products/{other.products[0].id}/shown",
        data={"show": "0"})
    assert response.status_code == 404
    assert fresh(Product, other.products[0].id).active is True


def test_a_supplier_is_renamed_and_its_contact_changed(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    edit = f"/organise/{w.group.id}/suppliers/{w.supplier.id}/edit"
    form = page(client.get(edit))
    assert 'value="Wholesaler"' in form
    response = client.post(edit, data={"name": "Cash and Carry", "contact": "0161 000 0000"},
                           follow_redirects=True)
    assert "Supplier saved." in page(response)
    supplier = fresh(Supplier, w.supplier.id)
    assert (supplier.name, supplier.contact) == ("Cash and Carry", "0161 000 0000")


def test_a_supplier_cannot_take_another_suppliers_name(client, auth):
    w = factories.world(open_round=False)
    catalogue.create_supplier(w.group.id, "Market", None, actor=w.organiser)
    db.session.commit()
    auth.login(w.organiser.email)
    edit = f"/organise/{w.group.id}/suppliers/{w.supplier.id}/edit"
    response = client.post(edit, data={"name": "Market", "contact": ""})
    assert "There is already a supplier with that name." in page(response)
    assert fresh(Supplier, w.supplier.id).name == "Wholesaler"


def test_a_supplier_code_already_used_is_refused_in_the_form(client, auth):
    w = factories.world(open_round=False)
    rice = next(p for p in w.products if p.name == "Rice")
    rice.supplier_code = "R25"
    db.session.commit()
    auth.login(w.organiser.email)
    before = count(Product)
    response = client.post(product_path(w), data=product_data(supplier_code="R25"))
    assert "Rice already has this code" in page(response)
    assert count(Product) == before
    tomatoes = next(p for p in w.products if p.name != "Rice")
    response = client.post(product_path(w, tomatoes),
                           data=product_data(name=tomatoes.name, supplier_code="R25"))
    assert "Rice already has this code" in page(response)
    assert fresh(Product, tomatoes.id).supplier_code is None
    # Its own code, saved again, is fine.
    response = client.post(product_path(w, rice),
                           data=product_data(name="Rice", supplier_code="R25"))
    assert response.status_code == 303


def test_a_price_with_a_thousands_separator_is_read_as_pounds_and_said_back(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    response = client.post(product_path(w), data=product_data(case_price="1,200.00"),
                           follow_redirects=True)
    assert "a case of 10 for £1,200" in page(response)
    lentils = db.session.query(Product).filter_by(name="Lentils").one()
    assert lentils.case_price_pence == 120_000


@pytest.mark.parametrize("typed, words", [
    ("1,20.00", "Enter an amount in pounds, like 12.50"),
    ("12,50", "Use a full stop for pence, like 12.50"),
])
def test_a_comma_in_the_wrong_place_is_refused_clearly(client, auth, typed, words):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    before = count(Product)
    response = client.post(product_path(w), data=product_data(case_price=typed))
    assert words in page(response)
    assert count(Product) == before

