"""Big price lists stay cheap (before: a 200 KB file of 100k bad rows answered a
12.5 MB error page after 8.6 s; a supplier with 90k products made a 16 MB page and
a 12 MB new-round form).

A file of more than MAX_IMPORT_ROWS products is refused before any row is checked;
at most MAX_LISTED_ERRORS problems are listed and the rest counted; the supplier's
page shows its products a page at a time with a search; the new-round form shows
at most MAX_PRODUCTS_ON_FORM, with a search for the others.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

from bulkbuy.models import Product, Round, utcnow
from bulkbuy.services import catalogue
from tests import factories
from tests.pages import count, page

HEADER = "name,unit,case_size,case_price\n"


def import_csv(client, w, text: str):
    return client.post(
        f"/organise/{w.group.id}/suppliers/{w.supplier.id}/import",
        data={"file": (io.BytesIO(text.encode()), "prices.csv")},
        content_type="multipart/form-data",
    )


def good_rows(n: int) -> str:
    return HEADER + "".join(f"Beans {i:04d},400g tin,12,7.20\n" for i in range(n))


def test_a_file_with_more_products_than_the_limit_is_refused_before_checking_rows(
        client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    huge = HEADER + "x,,,\n" * 100_000  # 100,000 bad rows
    before = count(Product)

    response = import_csv(client, w, huge)

    assert response.status_code == 400
    text = page(response)
    assert "This file has more than 5,000 products." in text
    assert len(response.data) < 30_000
    assert count(Product) == before


def test_only_the_first_fifty_problems_are_listed_and_the_rest_counted(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    bad = HEADER + "Beans,400g tin,0,7.20\n" * 300  # case size 0 on every row

    response = import_csv(client, w, bad)

    assert response.status_code == 400
    text = page(response)
    assert len(re.findall(r"Line \d+:", text)) == catalogue.MAX_LISTED_ERRORS
    assert "Line 2:" in text and "Line 51:" in text and "Line 52:" not in text
    assert "And 250 more problems after these." in text
    assert count(Product) == 2


def test_the_suppliers_page_shows_a_hundred_products_a_page_with_a_search(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    assert import_csv(client, w, good_rows(248)).status_code == 303  # 250 with the world's 2
    url = f"/organise/{w.group.id}/suppliers/{w.supplier.id}"

    first = page(client.get(url))
    assert first.count("Beans 0") == 100 and "250 products." in first
    assert "Page 1 of 3." in first and 'rel="next"' in first and 'rel="prev"' not in first
    last = page(client.get(url + "?page=3"))
    assert "Page 3 of 3." in last and 'rel="next"' not in last
    assert "Tinned tomatoes" in last  # by name: "Beans…", "Rice", "Tinned…"
    found = page(client.get(url + "?q=beans+0123"))
    assert "1 product matches." in found and "Beans 0123" in found and "Beans 0124" not in found
    assert client.get(url + "?page=999999").status_code == 200  # past the end: the last page
    assert "Page 3 of 3." in page(client.get(url + "?page=999999"))


def test_the_new_round_form_shows_at_most_two_hundred_products_and_finds_the_rest(
        client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    import_csv(client, w, good_rows(248))
    url = f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}"

    form = page(client.get(url))
    assert form.count('type="checkbox"') == catalogue.MAX_PRODUCTS_ON_FORM
    assert "Showing 200 of 250 products. Search to find the others." in form
    found = page(client.get(url + "&q=tomatoes"))
    assert found.count('type="checkbox"') == 1 and "Tinned tomatoes" in found

    tomatoes = next(p for p in w.products if p.name == "Tinned tomatoes")
    closes = (utcnow() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(url + "&q=tomatoes", data={
        "title": "Tins", "products": [str(tomatoes.id)], "closes_at": closes,
        "payment_days": "3", "fee_split": "by_value", "allocation_mode": "first_come"})
    assert response.status_code == 303
    assert count(Round) == 1
