"""Security rules: CSRF, headers, cookies, passwords, sign-in limits, who may see what."""

from __future__ import annotations

import importlib.util
import stat
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from werkzeug.routing import Map

import bulkbuy
import config
from bulkbuy import create_app
from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Group, PledgeLine, Product, Round, Supplier, User, utcnow
from bulkbuy.services import rounds
from tests import factories
from tests.conftest import make_app
from tests.pages import count, csrf_token_in, page


def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "no session cookie was set"
    return cookies[0]


@pytest.fixture
def app_with(db_url):
    """Build an app with settings the test fixture turns off (real CSRF, real rate limit).

    Unlike the `app` fixture, its app context is pushed only while a test sets up
    or checks data (`with app.app_context():`). Requests then each get their own
    context and `g`, as in production: inside one pushed context every request
    shares `g`, and Flask-WTF would remember an earlier request's valid token.
    """
    made = []

    def build(**overrides):
        app = make_app(db_url, **overrides)
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- CSRF -------------------------------------------------------------------------------------

def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(app_with):
    app = app_with(WTF_CSRF_ENABLED=True)
    with app.app_context():
        w = factories.world()
        url = f"/rounds/{w.round.id}/items/{w.round.items[0].id}"
    client = app.test_client()

    no_token = client.post("/login", data={"email": "r1@oak.test", "password": "password123"})
    assert no_token.status_code == 400
    assert client.get("/").status_code == 302  # still signed out

    token = csrf_token_in(client.get("/login"))
    signed_in = client.post(
        "/login", data={"email": "r1@oak.test", "password": "password123", "csrf_token": token}
    )
    assert signed_in.status_code == 302

    for forged in ({}, {"csrf_token": "not-the-token"}):
        response = client.post(url, data={"quantity": "3", "tolerance": "0", **forged})
        assert response.status_code == 400
        text = page(response)
        assert "We could not save that" in text
        assert "Nothing was changed" in text
    with app.app_context():
        assert count(PledgeLine) == 0

    token = csrf_token_in(client.get(url.split("/items/")[0]))
    accepted = client.post(url, data={"quantity": "3", "tolerance": "0", "csrf_token": token})
    assert accepted.status_code == 303
    with app.app_context():
        assert count(PledgeLine) == 1


# --- Headers -----------------------------------------------------------------------------------

def csp_directives(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def test_every_response_carries_the_security_headers(client, auth):
    w = factories.world()
    item = w.round.items[0]
    responses = {"sign-in page": client.get("/login"), "unknown page": client.get("/nowhere")}
    auth.login("r1@oak.test")
    responses |= {
        "home": client.get("/"),
        "round page": client.get(f"/rounds/{w.round.id}"),
        "my orders": client.get("/my-orders"),
        "forbidden page": client.get(f"/organise/{w.group.id}"),
        "redirect after saving": client.post(
            f"/rounds/{w.round.id}/items/{item.id}", data={"quantity": "1"}
        ),
        "error page": client.post(
            f"/rounds/{w.round.id}/items/{item.id}", data={"quantity": "abc"}
        ),
        "stylesheet": client.get("/static/css/app.css"),
    }

    for name, response in responses.items():
        headers = response.headers
        csp = csp_directives(headers.get("Content-Security-Policy", ""))
        script_src = csp.get("script-src", csp.get("default-src"))
        assert script_src, name
        assert "'unsafe-inline'" not in script_src, name
        assert "'unsafe-eval'" not in script_src, name
        assert csp.get("frame-ancestors") == ["'none'"], name
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("Referrer-Policy") in (
            "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"
        ), name
        response.close()


def test_pages_showing_a_households_orders_are_never_cached(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    client.post(
        f"/rounds/{w.round.id}/items/{w.round.items[0].id}", data={"quantity": "2"}
    )

    for url in (f"/rounds/{w.round.id}", "/my-orders", "/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response.headers.get("Cache-Control", ""), url


# --- Cookies -----------------------------------------------------------------------------------

def test_the_session_cookie_is_httponly_and_samesite_lax(client, auth):
    factories.world(open_round=False)

    cookie = session_cookie(auth.login("r1@oak.test"))

    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_production_config_sends_cookies_only_over_https(monkeypatch, tmp_path):
    """config.Config as deployed: BULKBUY_ENV and SESSION_COOKIE_SECURE not set."""
    monkeypatch.delenv("BULKBUY_ENV", raising=False)
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    # A fresh copy of config.py, read with that environment; `config` itself is untouched.
    spec = importlib.util.spec_from_file_location("config_as_deployed", config.__file__)
    deployed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deployed)
    production = deployed.Config

    assert production.SESSION_COOKIE_SECURE is True
    assert production.REMEMBER_COOKIE_SECURE is True
    assert production.SESSION_COOKIE_HTTPONLY is True
    assert production.SESSION_COOKIE_SAMESITE == "Lax"

    app = create_app(
        production,
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.sqlite'}",
         "SECRET_KEY": "production-like-test-key"},
    )
    # The sign-in page stores its CSRF token in the session, so it sets the cookie.
    cookie = session_cookie(app.test_client().get("/login"))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


# --- Passwords and sign-in ------------------------------------------------------------------------

def test_passwords_are_stored_only_as_argon2id_hashes(app):
    factories.world(open_round=False)

    users = db.session.scalars(select(User)).all()

    assert users
    for user in users:
        assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert factories.PASSWORD not in user.password_hash
        assert PasswordHasher().verify(user.password_hash, factories.PASSWORD)


def test_sign_in_attempts_are_rate_limited(app_with):
    app = app_with(LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        factories.world(open_round=False)
    client = app.test_client()

    for _ in range(3):
        response = client.post("/login", data={"email": "r1@oak.test", "password": "guess-123"})
        assert response.status_code == 200
        assert "That email and password do not match" in page(response)
    blocked = client.post("/login", data={"email": "r1@oak.test", "password": "password123"})

    assert blocked.status_code == 429
    assert "Too many tries" in page(blocked)
    assert "Retry-After" in blocked.headers
    assert client.get("/").status_code == 302  # the right password did not get through
    assert client.get("/login").status_code == 200  # the page itself still shows


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        " //evil.example/",
    ],
)
def test_signing_in_never_redirects_off_site(client, target):
    factories.world(open_round=False)

    response = client.post(
        "/login?next=" + quote(target, safe=""),
        data={"email": "r1@oak.test", "password": "password123"},
    )

    assert response.status_code == 302
    location = response.headers["Location"]
    # What a browser would do with it: backslashes count as slashes, tabs are dropped.
    as_browser = location.replace("\\", "/").replace("\t", "").strip()
    parts = urlsplit(as_browser)
    assert not parts.scheme and not parts.netloc, location
    assert not as_browser.startswith("//"), location


def test_signing_in_follows_a_next_page_on_this_site(client):
    w = factories.world()

    response = client.post(
        f"/login?next=/rounds/{w.round.id}",
        data={"email": "r1@oak.test", "password": "password123"},
    )

    assert response.headers["Location"] == f"/rounds/{w.round.id}"


# --- Who may see what --------------------------------------------------------------------------

def organiser_routes(url_map: Map, ids: dict[str, int]):
    """(method, path) for every GET and POST route of the organiser area."""
    adapter = url_map.bind("localhost")
    for rule in url_map.iter_rules():
        if not rule.endpoint.startswith("organiser."):
            continue
        missing = rule.arguments - ids.keys()
        assert not missing, f"{rule.rule}: add an id for {sorted(missing)} to this test"
        path = adapter.build(rule.endpoint, {name: ids[name] for name in rule.arguments})
        for method in ("GET", "POST"):
            if method in rule.methods:
                yield method, path


def test_a_resident_gets_403_from_every_organiser_page_and_changes_nothing(app, client, auth):
    w = factories.world()
    draft = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Draft", closes_at=utcnow() + timedelta(days=3)),
        created_by=w.organiser, now=utcnow(),
    )
    db.session.commit()
    ids = {
        "group_id": w.group.id, "supplier_id": w.supplier.id, "product_id": w.products[0].id,
        "round_id": draft.id, "item_id": draft.items[0].id,
        "household_id": w.households[1].id, "statement_id": 1, "cash_id": 1, "session_id": 1,
        "payment_id": 1, "user_id": w.residents[1].id, "invite_id": 1, "membership_id": 1,
        "chart": "money",  # the impact report's charts
    }
    invite_code = w.group.invite_code
    routes = list(organiser_routes(app.url_map, ids))
    assert len(routes) >= 15
    before = [count(m) for m in (Supplier, Product, Round, AuditEntry)]
    anything = {
        "name": "Sneaky", "unit_description": "tin", "case_size": "1", "case_price": "0.01",
        "contact": "", "title": "Sneaky", "products": [str(p.id) for p in w.products],
        "closes_at": (utcnow() + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M"),
        "require_round_approval": "y",
    }

    auth.login("r1@oak.test")
    for method, path in routes:
        response = client.open(path, method=method, data=anything if method == "POST" else None)
        assert response.status_code == 403, (method, path)
        assert "This page is for organisers" in page(response)

    assert [count(m) for m in (Supplier, Product, Round, AuditEntry)] == before
    db.session.expire_all()
    group = db.session.get(Group, w.group.id)
    assert (group.invite_code, group.require_round_approval) == (invite_code, False)
    assert db.session.get(Round, draft.id).status == "draft"

    # The group's organiser is not refused, so the 403s above are about the role.
    # (Some pages answer 404 for a round in the wrong state, such as a draft's order sheet.)
    auth.login("org@oak.test")
    statuses = {path: client.get(path).status_code for method, path in routes if method == "GET"}
    assert not [path for path, status in statuses.items() if status in (403, 500)]
    assert statuses[f"/organise/{w.group.id}"] == 200
    assert statuses[f"/organise/{w.group.id}/suppliers/{w.supplier.id}"] == 200


def test_someone_outside_the_group_gets_404_for_its_round(client, auth):
    oak = factories.world()
    factories.world(name="Elm Court")
    item = oak.round.items[0]

    for outsider in ("r1@elm.test", "org@elm.test"):
        auth.login(outsider)
        assert client.get(f"/rounds/{oak.round.id}").status_code == 404
        response = client.post(f"/rounds/{oak.round.id}/items/{item.id}", data={"quantity": "2"})
        assert response.status_code == 404
        assert client.get(f"/groups/{oak.group.id}/rounds/new").status_code == 404
        assert client.get(f"/organise/{oak.group.id}").status_code == 404
    assert count(PledgeLine) == 0


def test_another_groups_organiser_gets_404_from_every_organiser_route_and_changes_nothing(
        app, client, auth):
    """Every GET and POST route of the organiser area, with Oak's ids, asked by Elm's
    organiser: 404 (so Oak's ids tell nothing), and nothing written."""
    oak = factories.world()
    factories.world(name="Elm Court")
    statement = 1
    ids = {
        "group_id": oak.group.id, "supplier_id": oak.supplier.id,
        "product_id": oak.products[0].id, "round_id": oak.round.id,
        "item_id": oak.round.items[0].id, "household_id": oak.households[0].id,
        "statement_id": statement, "cash_id": 1, "session_id": 1, "payment_id": 1,
        "user_id": oak.residents[0].id, "invite_id": 1, "membership_id": 1,
        "chart": "money",  # the impact report's charts
    }
    routes = [(method, path) for method, path in organiser_routes(app.url_map, ids)
              if path.startswith(f"/organise/{oak.group.id}")]  # not the list of one's groups
    assert len(routes) >= 60
    before = [count(m) for m in (Supplier, Product, Round, AuditEntry)]

    auth.login("org@elm.test")
    answers = {(method, path): client.open(path, method=method, data={}).status_code
               for method, path in routes}

    assert {key: status for key, status in answers.items() if status != 404} == {}
    assert [count(m) for m in (Supplier, Product, Round, AuditEntry)] == before


def test_a_site_admin_can_manage_groups_and_a_resident_cannot(client, auth):
    factories.world(open_round=False)
    factories.user("admin@site.test", "Site Admin", admin=True)
    db.session.commit()

    auth.login("r1@oak.test")
    refused = client.get("/admin/groups")
    assert refused.status_code == 403
    groups_before = count(Group)
    assert client.post("/admin/groups", data={
        "name": "Sneaky Estate", "timezone": "Europe/London",
        "organiser_email": "r1@oak.test",
    }).status_code == 403
    assert count(Group) == groups_before

    auth.login("admin@site.test")
    allowed = client.get("/admin/groups")
    assert allowed.status_code == 200
    assert "Oak Estate" in page(allowed)


def test_pages_need_sign_in(client):
    w = factories.world()

    for url in ("/", f"/rounds/{w.round.id}", "/my-orders", f"/organise/{w.group.id}",
                "/admin/groups"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.headers["Location"]).path == "/login", url


# --- The secret key ----------------------------------------------------------------------------

def test_the_secret_key_is_generated_once_into_instance_and_only_the_owner_can_read_it(
    tmp_path,
):
    first = bulkbuy._instance_secret_key(tmp_path)
    second = bulkbuy._instance_secret_key(tmp_path)

    key_file = Path(tmp_path) / "secret_key"
    assert first == second
    assert len(first) >= 32
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_each_instance_gets_its_own_secret_key(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    assert bulkbuy._instance_secret_key(tmp_path / "a") != bulkbuy._instance_secret_key(
        tmp_path / "b"
    )
