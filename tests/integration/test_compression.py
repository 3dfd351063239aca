"""Pages, stylesheets and scripts go gzipped to a browser that takes gzip (bulkbuy/
compression.py): the same bytes once unzipped; never for a browser that does not ask,
a small body, a picture, or a HEAD; COMPRESS_LEVEL=0 turns it off."""

from __future__ import annotations

import gzip
import re

from bulkbuy.extensions import db
from tests import factories

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def test_a_page_goes_gzipped_and_unzips_to_the_same_page(client, app):
    plain = client.get("/login")
    zipped = client.get("/login", headers=GZIP)

    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert "Accept-Encoding" in plain.headers["Vary"]
    page = gzip.decompress(zipped.data).decode()
    # The CSRF token differs between two requests; the rest is the same page.
    token = re.compile(r'name="csrf_token" type="hidden" value="[^"]+"')
    assert token.sub("", page) == token.sub("", plain.get_data(as_text=True))
    assert len(zipped.data) < len(plain.data) / 2


def test_the_stylesheet_goes_gzipped_with_its_own_etag(client):
    url = re.search(r'href="(/static/css/app\.css[^"]*)"',
                    client.get("/login").get_data(as_text=True)).group(1)
    plain = client.get(url)
    zipped = client.get(url, headers=GZIP)

    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["Cache-Control"] == plain.headers["Cache-Control"]
    if plain.headers.get("ETag"):
        assert zipped.headers["ETag"] != plain.headers["ETag"]
    plain.close()
    zipped.close()


def test_not_for_a_head_a_small_body_an_error_or_when_turned_off(client, app):
    assert "Content-Encoding" not in client.head("/login", headers=GZIP).headers
    health = client.get("/healthz", headers=GZIP)  # a few bytes of JSON
    assert "Content-Encoding" not in health.headers
    assert "Content-Encoding" not in client.get("/no-such-page", headers=GZIP).headers

    app.config["COMPRESS_LEVEL"] = 0
    assert "Content-Encoding" not in client.get("/login", headers=GZIP).headers


def test_a_signed_in_page_unzips_to_what_the_resident_sees(client, auth):
    world = factories.world()
    db.session.commit()
    auth.login(world.residents[0].email)

    zipped = client.get(f"/rounds/{world.round.id}", headers=GZIP)

    assert zipped.headers["Content-Encoding"] == "gzip"
    assert world.round.title in gzip.decompress(zipped.data).decode()
