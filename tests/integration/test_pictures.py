"""Product pictures end to end: the product form's upload (with real CSRF), the price
list's picture column, serving /pictures/<name>, the round page and tablet showing
them, and another group's organiser kept out."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from bulkbuy.extensions import db
from bulkbuy.models import Product, Round
from bulkbuy.services import pictures
from tests import factories
from tests.conftest import make_app
from tests.pages import csrf_token_in, page


def photo(colour=(200, 40, 40), size=(900, 600), fmt="JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


@pytest.fixture
def site(db_url, tmp_path):
    """An app with real CSRF checks, its instance folder in tmp_path, and Oak Estate."""
    app = make_app(db_url, WTF_CSRF_ENABLED=True)
    app.instance_path = str(tmp_path)
    with app.app_context():
        w = factories.world()
        factories.world(name="Elm Court")
        ids = {"group": w.group.id, "supplier": w.supplier.id,
               "product": w.products[0].id, "round": w.round.id}
    yield app, ids
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def signed_in(app, email: str):
    client = app.test_client()
    token = csrf_token_in(client.get("/login"))
    assert client.post("/login", data={"email": email, "password": "password123",
                                       "csrf_token": token}).status_code == 302
    return client


def product_url(ids) -> str:
    return (f"/organise/{ids['group']}/suppliers/{ids['supplier']}"
            f"/products/{ids['product']}")


def post_multipart(client, url: str, fields: dict, files: list[tuple[str, str, bytes]]):
    """POST a multipart form encoded in memory (the test client spools a large body to a
    temporary file it never closes)."""
    values = MultiDict(fields)
    for key, filename, data in files:
        values.add(key, FileStorage(io.BytesIO(data), filename=filename))
    boundary, body = encode_multipart(values)
    return client.post(url, data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def product_form(client, ids, picture: bytes | None, filename="tomatoes.jpg"):
    url = product_url(ids)
    form = client.get(url)
    data = {"csrf_token": csrf_token_in(form), "name": "Tinned tomatoes",
            "unit_description": "unit", "case_size": "12", "case_price": "10.00",
            "retail_price": "", "supplier_code": ""}
    files = [("picture", filename, picture)] if picture is not None else []
    return post_multipart(client, url, data, files)


def stored(app, product_id: int) -> str | None:
    with app.app_context():
        return db.session.get(Product, product_id).picture


def round_version(app, round_id: int) -> int:
    with app.app_context():
        return db.session.get(Round, round_id).version


def test_an_organiser_adds_a_picture_and_the_round_page_shows_it_at_once(site):
    app, ids = site
    organiser = signed_in(app, "org@oak.test")
    resident = signed_in(app, "r1@oak.test")
    before = page(resident.get(f"/rounds/{ids['round']}"))  # kept in the page cache
    assert "/pictures/" not in before
    version = round_version(app, ids["round"])

    saved = product_form(organiser, ids, photo())

    assert saved.status_code == 303
    name = stored(app, ids["product"])
    assert pictures.is_picture_name(name)
    assert round_version(app, ids["round"]) == version + 1
    shown = resident.get(f"/rounds/{ids['round']}").get_data(as_text=True)
    img = re.search(r'<img class="product-picture" src="/pictures/([^"]+)"[^>]*>', shown)
    assert img and img.group(1) == name
    assert 'alt="Tinned tomatoes"' in img.group(0)
    assert 'width="96" height="96"' in img.group(0)
    # The product form shows it, with a way to take it away.
    form = page(organiser.get(product_url(ids)))
    assert f"/pictures/{name}" in form and "Take the picture away" in form


def test_a_picture_is_served_to_anyone_with_a_long_cache_and_a_bad_name_is_404(site):
    app, ids = site
    organiser = signed_in(app, "org@oak.test")
    product_form(organiser, ids, photo())
    name = stored(app, ids["product"])

    anyone = app.test_client()
    served = anyone.get(f"/pictures/{name}")

    assert served.status_code == 200
    assert served.mimetype == "image/webp"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Pragma" not in served.headers
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(served.data)).format == "WEBP"
    served.close()
    for bad in ("../secret_key", "..%2Fsecret_key", "secret_key", name.upper(),
                name.replace(".webp", ".png"), "0" * 20 + ".webp", "x" * 5000):
        answer = anyone.get(f"/pictures/{bad}")
        assert answer.status_code == 404, bad
        assert "no-store" in answer.headers["Cache-Control"]


def test_a_file_that_is_not_a_picture_is_refused_and_nothing_changes(site):
    app, ids = site
    organiser = signed_in(app, "org@oak.test")
    product_form(organiser, ids, photo())
    kept = stored(app, ids["product"])
    version = round_version(app, ids["round"])

    for bad, words in ((b"<svg><script>alert(1)</script></svg>", "SVG drawings"),
                       (b"just some text\n" * 40, "not a picture we can use")):
        refused = product_form(organiser, ids, bad, filename="evil.png")
        assert refused.status_code == 200
        assert words in page(refused)

    assert stored(app, ids["product"]) == kept
    assert round_version(app, ids["round"]) == version
    assert sorted(p.name for p in pictures.directory(app.instance_path).iterdir()) == [kept]


def test_a_phone_photo_larger_than_other_forms_allow_is_taken_from_an_organiser(site):
    app, ids = site
    # 3 MB: more than MAX_CONTENT_LENGTH (2 MB), less than PICTURE_MAX_BYTES (5 MB).
    big = photo() + b"\x00" * 3_000_000
    organiser = signed_in(app, "org@oak.test")

    assert product_form(organiser, ids, big).status_code == 303
    assert stored(app, ids["product"])

    # Someone not signed in is held to the usual limit.
    stranger = app.test_client()
    answer = post_multipart(stranger, product_url(ids), {}, [("picture", "a.jpg", big)])
    assert answer.status_code == 413


def test_a_picture_too_large_is_refused_with_the_limit_in_words(site):
    app, ids = site
    organiser = signed_in(app, "org@oak.test")
    refused = product_form(organiser, ids, photo() + b"\x00" * 5_100_000)
    assert refused.status_code == 200
    assert "smaller than 5 MB" in page(refused)
    assert stored(app, ids["product"]) is None


def test_an_organiser_takes_a_picture_away(site):
    app, ids = site
    organiser = signed_in(app, "org@oak.test")
    product_form(organiser, ids, photo())
    version = round_version(app, ids["round"])
    form = organiser.get(product_url(ids))

    taken = organiser.post(product_url(ids) + "/picture",
                           data={"csrf_token": csrf_token_in(form), "remove": "1"})

    assert taken.status_code == 303
    assert stored(app, ids["product"]) is None
    assert round_version(app, ids["round"]) == version + 1
    assert "/pictures/" not in page(signed_in(app, "r1@oak.test").get(f"/rounds/{ids['round']}"))


def test_another_groups_organiser_cannot_set_or_take_away_our_picture(site):
    app, ids = site
    signed_in(app, "org@oak.test")
    product_form(signed_in(app, "org@oak.test"), ids, photo())
    kept = stored(app, ids["product"])
    elm = signed_in(app, "org@elm.test")
    token = csrf_token_in(elm.get("/"))

    sent = post_multipart(elm, product_url(ids), {
        "csrf_token": token, "name": "Tinned tomatoes", "unit_description": "unit",
        "case_size": "12", "case_price": "10.00"}, [("picture", "mine.jpg", photo((0, 0, 255)))])
    removed = elm.post(product_url(ids) + "/picture", data={"csrf_token": token, "remove": "1"})

    assert (sent.status_code, removed.status_code) == (404, 404)
    assert stored(app, ids["product"]) == kept
    assert len(list(pictures.directory(app.instance_path).iterdir())) == 1


def import_list(client, ids, csv_text: str, files: dict[str, bytes]):
    url = f"/organise/{ids['group']}/suppliers/{ids['supplier']}/import"
    return post_multipart(
        client, url, {"csrf_token": csrf_token_in(client.get(url))},
        [("file", "prices.csv", csv_text.encode())]
        + [("pictures", name, data) for name, data in files.items()])


def test_a_price_list_names_pictures_chosen_with_it(site):
    app, ids = site
    organiser = signed_in(app, "org@oak.test")
    version = round_version(app, ids["round"])
    csv_text = ("name,unit,case_size,case_price,picture\n"
                "Tinned tomatoes,unit,12,10.00,Tomatoes.JPG\n"
                "Rice,unit,25,31.50,\n"
                "Lentils,1kg,10,15.00,lentils.png\n")

    done = import_list(organiser, ids, csv_text, {
        "tomatoes.jpg": photo(), "lentils.png": photo((0, 120, 0), fmt="PNG")})

    assert done.status_code == 303
    with app.app_context():
        by_name = {p.name: p.picture for p in db.session.query(Product)
                   .filter_by(supplier_id=ids["supplier"])}
    assert pictures.is_picture_name(by_name["Tinned tomatoes"])
    assert pictures.is_picture_name(by_name["Lentils"])
    assert by_name["Rice"] is None
    assert round_version(app, ids["round"]) == version + 1  # tomatoes are in the round
    assert "2 products have a new picture." in page(organiser.get(done.location))

    # The same list again without its photos: the pictures stay.
    again = import_list(organiser, ids, csv_text, {})
    assert again.status_code == 303
    assert stored(app, ids["product"]) == by_name["Tinned tomatoes"]


def test_a_price_list_naming_a_picture_not_chosen_or_not_a_picture_imports_nothing(site):
    app, ids = site
    organiser = signed_in(app, "org@oak.test")
    csv_text = ("name,unit,case_size,case_price,picture\n"
                "Tinned tomatoes,unit,12,10.00,tomatoes.jpg\n"
                "Lentils,1kg,10,15.00,lentils.png\n"
                "Beans,tin,24,9.00,beans.svg\n")

    refused = import_list(organiser, ids, csv_text, {
        "tomatoes.jpg": photo(), "beans.svg": b"<svg><script>alert(1)</script></svg>"})

    assert refused.status_code == 400
    text = page(refused)
    assert "Line 3: Choose the picture lentils.png with the price list" in text
    assert "Line 4: Picture beans.svg: SVG drawings are not taken" in text
    assert stored(app, ids["product"]) is None
    with app.app_context():
        assert db.session.query(Product).filter_by(name="Lentils").count() == 0
    folder = pictures.directory(app.instance_path)
    assert not folder.exists() or not list(folder.iterdir())


def test_the_tablet_may_fetch_pictures():
    from bulkbuy import web

    assert "media.picture" in web._TABLET_ENDPOINTS
