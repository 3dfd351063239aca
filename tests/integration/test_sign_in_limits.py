"""Sign-in limits: per account (whatever the address) and, higher, per network address, so
residents on a community centre's shared wifi do not use up each other's tries."""

from __future__ import annotations

from tests import factories
from tests.integration.test_security import app_with  # noqa: F401 - the fixture, by name
from tests.pages import page

WRONG = "guess-123"


def _try(client, email, password=WRONG, address="10.0.0.1"):
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_many_residents_from_one_address_each_sign_in(app_with):  # noqa: F811
    app = app_with(LOGIN_RATE_LIMIT="2 per minute", LOGIN_ADDRESS_RATE_LIMIT="30 per minute")
    with app.app_context():
        factories.world(open_round=False, residents=8)

    for number in range(1, 9):
        client = app.test_client()
        assert _try(client, f"r{number}@oak.test").status_code == 200  # a typo first
        signed_in = _try(client, f"r{number}@oak.test", factories.PASSWORD)
        assert signed_in.status_code in (302, 303), f"resident {number} was refused"


def test_one_account_is_limited_whatever_the_address(app_with):  # noqa: F811
    app = app_with(LOGIN_RATE_LIMIT="3 per minute", LOGIN_ADDRESS_RATE_LIMIT="30 per minute")
    with app.app_context():
        factories.world(open_round=False)
    client = app.test_client()

    for n in range(3):
        assert _try(client, "r1@oak.test", address=f"10.0.1.{n}").status_code == 200
    blocked = _try(client, " R1@Oak.test ", factories.PASSWORD, address="10.0.2.1")

    assert blocked.status_code == 429
    assert "Too many tries" in page(blocked)
    assert client.get("/").status_code == 302  # the right password did not get through
    assert _try(client, "r2@oak.test", factories.PASSWORD,
                address="10.0.2.1").status_code in (302, 303)  # another account is not


def test_one_address_has_a_higher_ceiling_over_every_account(app_with):  # noqa: F811
    app = app_with(LOGIN_RATE_LIMIT="3 per minute", LOGIN_ADDRESS_RATE_LIMIT="5 per minute")
    with app.app_context():
        factories.world(open_round=False)
    client = app.test_client()

    for n in range(5):
        assert _try(client, f"nobody{n}@oak.test").status_code == 200
    assert _try(client, "r1@oak.test", factories.PASSWORD).status_code == 429
    assert _try(client, "r1@oak.test", factories.PASSWORD,
                address="10.0.9.9").status_code in (302, 303)
