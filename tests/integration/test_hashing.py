"""Password and PIN hashing (#18): new hashes use PASSWORD_HASH_METHOD (Argon2id at
OWASP's minimum); a hash made before (Werkzeug's scrypt) or with other parameters still
signs in and is made again with today's; the tablet's PIN page is
limited per tablet session (PIN_RATE_LIMIT) so it cannot be used to burn CPU, and a
locked PIN is refused before any hash is computed."""

from __future__ import annotations

import functools
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from bulkbuy.extensions import db
from bulkbuy.models import Household, TabletVisit, utcnow
from bulkbuy.services import accounts
from tests import factories
from tests.integration.test_security import app_with  # noqa: F401 - the fixture, by name
from tests.integration.test_tablet import PINS, STILL_LOCKED, enter_pin, fresh, with_pins
from tests.pages import page

#: Werkzeug's default ("scrypt" = N=2^15, r=8, p=1): how every hash was made before #18.
OLD_METHOD = "scrypt:32768:8:1"
#: How today's hashes begin (PASSWORD_HASH_METHOD "argon2id:19456:2:1").
TODAYS = "$argon2id$v=19$m=19456,t=2,p=1$"


@functools.cache
def _old_hash(secret: str) -> str:
    """`secret` hashed as before #18 (once per run: it is the slow one)."""
    return generate_password_hash(secret, method="scrypt")


def _method(secret_hash: str) -> str:
    return secret_hash.split("$", 1)[0]


def _sign_in(client, email, password=factories.PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def test_an_old_default_hash_still_signs_in_and_is_made_again_with_todays_method(
        app, client):
    factories.world(open_round=False)
    user = accounts.find_user("r1@oak.test")
    user.password_hash = _old_hash(factories.PASSWORD)
    db.session.commit()
    assert _method(user.password_hash) == OLD_METHOD

    assert _sign_in(client, "r1@oak.test").status_code in (302, 303)

    made_again = fresh(user).password_hash
    assert app.config["PASSWORD_HASH_METHOD"] == "argon2id:19456:2:1"
    assert made_again.startswith(TODAYS)
    assert PasswordHasher().verify(made_again, factories.PASSWORD)
    client.post("/logout")
    assert _sign_in(client, "r1@oak.test").status_code in (302, 303)
    assert fresh(user).password_hash == made_again  # already today's: left alone


def test_a_wrong_password_leaves_an_old_hash_as_it_was(app, client):
    factories.world(open_round=False)
    user = accounts.find_user("r1@oak.test")
    old = user.password_hash = _old_hash(factories.PASSWORD)
    db.session.commit()

    assert _sign_in(client, "r1@oak.test", "not-the-password").status_code == 200
    assert fresh(user).password_hash == old


def test_new_hashes_use_the_configured_method(app_with_settings):
    app_with_settings(PASSWORD_HASH_METHOD="scrypt:4096:8:1")  # cheap, for the test
    # A password of this test's own: the tests' hashes are kept per password.
    user = accounts.create_user("new@oak.test", "New", "hashing-test-4096")
    assert _method(user.password_hash) == "scrypt:4096:8:1"
    assert _method(accounts.hash_secret("4096-pin-test")) == "scrypt:4096:8:1"
    assert not accounts.needs_rehash(user.password_hash)
    assert accounts.needs_rehash(generate_password_hash("x", method="scrypt:8192:8:1"))
    assert accounts.needs_rehash(TODAYS + "c2FsdHNhbHQ$aGFzaA")  # another method now


def test_argon2id_parameters_are_read_from_the_setting(app_with_settings):
    app_with_settings(PASSWORD_HASH_METHOD="argon2id:8192:1:1")
    made = accounts.hash_secret("argon2-test-8192")
    assert made.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert accounts.check_secret(made, "argon2-test-8192")
    assert not accounts.check_secret(made, "something else")
    assert not accounts.needs_rehash(made)
    assert accounts.needs_rehash(_old_hash("argon2-test-8192"))


def test_the_pin_page_answers_429_after_the_configured_number_per_tablet(app_with):  # noqa: F811
    app = app_with(PIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        w = with_pins(factories.world())
        home_id, group_id = w.households[1].id, w.group.id
    tablet = app.test_client()
    _sign_in(tablet, "worker@oak.test")
    assert tablet.post("/tablet/start", data={"group_id": str(group_id)}).status_code == 303

    def pin(client, number):
        return client.post("/tablet/pin", data={"household_id": str(home_id), "pin": number})

    for wrong in ("0001", "0002", "0003"):
        assert pin(tablet, wrong).status_code == 400
    refused = pin(tablet, PINS[1])
    assert refused.status_code == 429 and "Too many tries" in page(refused)
    with app.app_context():
        assert db.session.scalar(select(TabletVisit)) is None  # not checked, not started
        assert fresh_attempts(home_id) == 3

    # Another tablet session (the organiser's tablet, from the same address) has its own count.
    other = app.test_client()
    _sign_in(other, "org@oak.test")
    assert other.post("/tablet/start", data={"group_id": str(group_id)}).status_code == 303
    assert pin(other, PINS[1]).status_code == 303


def fresh_attempts(household_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Household, household_id).pin_failed_attempts


def test_the_pin_page_is_limited_per_network_address_over_its_tablets(app_with):  # noqa: F811
    app = app_with(LOGIN_ADDRESS_RATE_LIMIT="4 per minute")
    with app.app_context():
        w = with_pins(factories.world())
        home_id, group_id = w.households[1].id, w.group.id
    tablets = []
    for email in ("worker@oak.test", "org@oak.test"):
        client = app.test_client()
        _sign_in(client, email)
        assert client.post("/tablet/start", data={"group_id": str(group_id)}).status_code == 303
        tablets.append(client)

    answers = [tablets[n % 2].post("/tablet/pin", data={"household_id": str(home_id),
                                                        "pin": "0000"}).status_code
               for n in range(5)]
    assert answers == [400, 400, 400, 400, 429]


def test_a_locked_pin_is_refused_before_any_hash_is_computed(app, client, auth, monkeypatch):
    w = with_pins(factories.world())
    home = w.households[0]
    auth.login(w.worker.email)
    assert client.post("/tablet/start", data={"group_id": str(w.group.id)}).status_code == 303
    home.pin_failed_attempts = 5
    home.pin_locked_until = utcnow() + timedelta(minutes=15)
    db.session.commit()
    # A spy, not a mock: the real functions still run; it counts hashes computed.
    hashed: list[str] = []
    real_check, real_hash = accounts.check_secret, accounts.hash_secret
    monkeypatch.setattr(accounts, "check_secret",
                        lambda h, s: hashed.append("check") or real_check(h, s))
    monkeypatch.setattr(accounts, "hash_secret",
                        lambda s: hashed.append("hash") or real_hash(s))

    for pin in ("0000", PINS[0]):  # a wrong one and the right one
        refused = enter_pin(client, home, pin)
        assert refused.status_code == 400 and STILL_LOCKED.search(page(refused))
    assert hashed == []
    again = fresh(home)
    assert again.pin_failed_attempts == 5 and again.pin_locked_until is not None
    assert db.session.scalar(select(TabletVisit)) is None


def test_a_right_pin_with_an_old_hash_starts_the_turn_and_is_made_again(app, client, auth):
    w = with_pins(factories.world())
    home = w.households[0]
    home.pin_hash = _old_hash(PINS[0])
    db.session.commit()
    auth.login(w.worker.email)
    client.post("/tablet/start", data={"group_id": str(w.group.id)})

    assert enter_pin(client, home, PINS[0]).status_code == 303
    made_again = fresh(home).pin_hash
    assert made_again.startswith(TODAYS)
    assert accounts.check_secret(made_again, PINS[0])
