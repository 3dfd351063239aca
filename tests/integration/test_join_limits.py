"""Joining has its own limit per network address, JOIN_RATE_LIMIT (before: the sign-in
limit, LOGIN_RATE_LIMIT): residents joining on a hall's shared wifi neither use up the
sign-in tries nor are held to them."""

from __future__ import annotations

from bulkbuy.models import PendingJoin, User
from tests import factories
from tests.pages import count, join_link_for, page

HALL = "10.0.0.1"


def _ask(client, w, number: int):
    return client.post(f"/join/{w.group.invite_code}", data={
        "name": f"Neighbour {number}", "household": f"Flat {100 + number}",
        "email": f"n{number}@oak.test", "password": "password123"},
        environ_base={"REMOTE_ADDR": HALL})


def _confirm(app, number: int):
    return app.test_client().post(join_link_for(f"n{number}@oak.test"),
                                  environ_base={"REMOTE_ADDR": HALL})


def _sign_in(client, email: str):
    return client.post("/login", data={"email": email, "password": factories.PASSWORD},
                       environ_base={"REMOTE_ADDR": HALL})


def test_a_low_join_limit_refuses_the_next_join_while_signing_in_still_works(
        app_with_settings):
    app = app_with_settings(JOIN_RATE_LIMIT="3 per minute", LOGIN_RATE_LIMIT="10 per minute",
                            LOGIN_ADDRESS_RATE_LIMIT="60 per minute")
    w = factories.world(open_round=False)
    client = app.test_client()

    for number in range(1, 4):
        assert _ask(client, w, number).status_code == 303
    refused = _ask(client, w, 4)

    assert refused.status_code == 429 and "Too many tries" in page(refused)
    assert count(PendingJoin) == 3  # the refused one wrote nothing
    for number in range(1, 4):  # the links count on their own, under the same limit
        assert _confirm(app, number).status_code == 303
    assert _confirm(app, 1).status_code == 429
    assert _sign_in(client, "r1@oak.test").status_code in (302, 303)


def test_a_low_sign_in_limit_does_not_limit_joining(app_with_settings):
    app = app_with_settings(LOGIN_RATE_LIMIT="2 per minute",
                            LOGIN_ADDRESS_RATE_LIMIT="2 per minute",
                            JOIN_RATE_LIMIT="30 per minute")
    w = factories.world(open_round=False)
    client = app.test_client()
    users = count(User)

    for number in range(1, 6):
        assert _ask(client, w, number).status_code == 303
    for number in range(1, 6):
        assert _confirm(app, number).status_code == 303

    assert count(User) == users + 5
