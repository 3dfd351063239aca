"""Two-step sign-in: setting it up with a code from the stored secret, signing in with a
code after the password (never the same code twice; recovery codes once each; limited;
the waiting sign-in ends after 5 minutes or 10 wrong codes), turning it off, and groups
that require it of their staff."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Household, RecoveryCode, TabletSession, User
from tests import factories
from tests.pages import count, page

START = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def clock():
    """A stopped clock at the start of a 30-second time step; tests move it on."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def _code(email: str, *, step_offset: int = 0) -> str:
    totp = pyotp.TOTP(_user(email).totp_secret)
    return totp.at(datetime.now(UTC), counter_offset=step_offset)


def _actions(email: str) -> list[str]:
    db.session.expire_all()
    user = _user(email)
    return list(db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.actor_id == user.id, AuditEntry.action.like("account.%"),
        AuditEntry.action != "account.sessions_ended").order_by(AuditEntry.id)))


def _turn_on(client, auth, email: str) -> list[str]:
    """Sign in, set two-step sign-in up with the app's code, sign out; the recovery codes."""
    auth.login(email)
    assert client.post("/account/two-step", data={"action": "start"}).status_code == 303
    shown = client.get("/account/two-step")
    secret = _user(email).totp_secret
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in page(shown)
    assert "<svg" in page(shown)
    done = client.post("/account/two-step", data={"action": "confirm", "code": _code(email)})
    assert done.status_code == 200
    codes = re.findall(r"\b[a-z]{4}-[a-z]{4}-[a-z]{4}\b", page(done))
    assert len(set(codes)) == 10
    auth.logout()
    return codes


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_setting_up_needs_a_current_code_then_sign_in_asks_for_one(app, client, auth, clock):
    factories.world(open_round=False)
    auth.login("worker@oak.test")
    client.post("/account/two-step", data={"action": "start"})
    wrong = client.post("/account/two-step", data={"action": "confirm", "code": "000000"})
    assert wrong.status_code == 400 and "That code did not work" in page(wrong)
    assert _user("worker@oak.test").totp_enabled_at is None
    auth.logout()

    codes = _turn_on(client, auth, "worker@oak.test")
    user = _user("worker@oak.test")
    assert user.totp_enabled_at is not None
    stored = set(db.session.scalars(select(RecoveryCode.code_hash)
                                    .where(RecoveryCode.user_id == user.id)))
    assert len(stored) == 10 and not any(code in stored for code in codes)  # hashes only
    assert _actions("worker@oak.test") == ["account.two_step_on"]

    asked = client.post("/login?next=/my-orders",
                        data={"email": "worker@oak.test", "password": factories.PASSWORD})
    assert asked.status_code == 303 and asked.headers["Location"].endswith("/login/two-step")
    assert not _signed_in(client)  # the password alone does not sign in
    refused = client.post("/login/two-step", data={"code": "123456"})
    assert refused.status_code == 400 and "That code did not work" in page(refused)
    assert not _signed_in(client)

    clock.shift(30)
    through = client.post("/login/two-step", data={"code": _code("worker@oak.test")})
    assert through.status_code == 303 and through.headers["Location"] == "/my-orders"
    assert _signed_in(client)


def test_a_code_is_never_accepted_twice(app, client, auth, clock):
    factories.world(open_round=False)
    _turn_on(client, auth, "org@oak.test")
    # The code that turned it on is used up.
    auth.login("org@oak.test")
    again = client.post("/login/two-step", data={"code": _code("org@oak.test")})
    assert again.status_code == 400 and "used already" in page(again)

    nxt = _code("org@oak.test", step_offset=1)  # the next step's code, early: still fine
    assert client.post("/login/two-step", data={"code": nxt}).status_code == 303
    auth.logout()
    clock.shift(30)  # now that code is the current one, but it was used
    auth.login("org@oak.test")
    replay = client.post("/login/two-step", data={"code": nxt})
    assert replay.status_code == 400 and "used already" in page(replay)
    assert not _signed_in(client)


def test_a_recovery_code_works_once(app, client, auth, clock):
    factories.world(open_round=False)
    codes = _turn_on(client, auth, "org@oak.test")

    auth.login("org@oak.test")
    used = client.post("/login/two-step", data={"code": " " + codes[3].upper() + " "})
    assert used.status_code == 303
    home = client.get("/")
    assert home.status_code == 200 and "You have 9 left" in page(home)
    auth.logout()

    auth.login("org@oak.test")
    again = client.post("/login/two-step", data={"code": codes[3]})
    assert again.status_code == 400 and not _signed_in(client)
    assert _actions("org@oak.test") == ["account.two_step_on", "account.recovery_code_used"]


def test_code_tries_are_limited_per_account(app_with_settings, clock):
    app = app_with_settings(TWO_STEP_RATE_LIMIT="3 per minute")
    factories.world(open_round=False)
    client = app.test_client()
    from tests.conftest import Auth
    auth = Auth(client)
    _turn_on(client, auth, "org@oak.test")

    auth.login("org@oak.test")
    clock.shift(30)
    for _ in range(3):
        assert client.post("/login/two-step", data={"code": "000000"}).status_code == 400
    blocked = client.post("/login/two-step", data={"code": _code("org@oak.test")})
    assert blocked.status_code == 429 and not _signed_in(client)

    other = app.test_client()  # the same account from another browser: still limited
    Auth(other).login("org@oak.test")
    assert other.post("/login/two-step",
                      data={"code": _code("org@oak.test")}).status_code == 429


def test_the_waiting_sign_in_ends_after_5_minutes(app, client, auth, clock):
    factories.world(open_round=False)
    _turn_on(client, auth, "org@oak.test")
    auth.login("org@oak.test")
    clock.shift(5 * 60 + 1)

    late = client.post("/login/two-step", data={"code": _code("org@oak.test")})
    assert late.status_code == 303 and late.headers["Location"].endswith("/login")
    assert not _signed_in(client)
    assert "more than 5 minutes" in page(client.get("/login"))


def test_ten_wrong_codes_in_a_row_go_back_to_the_password(app, client, auth, clock):
    factories.world(open_round=False)
    _turn_on(client, auth, "org@oak.test")
    auth.login("org@oak.test")
    clock.shift(30)
    for _ in range(9):
        assert client.post("/login/two-step", data={"code": "000000"}).status_code == 400
    tenth = client.post("/login/two-step", data={"code": "000000"})
    assert tenth.status_code == 303 and tenth.headers["Location"].endswith("/login")
    right = client.post("/login/two-step", data={"code": _code("org@oak.test")})
    assert right.status_code == 303 and right.headers["Location"].endswith("/login")
    assert not _signed_in(client)


def test_turning_off_needs_the_password_and_a_code(app, client, auth, clock):
    factories.world(open_round=False)
    _turn_on(client, auth, "r1@oak.test")  # anyone may turn it on, residents too
    auth.login("r1@oak.test")
    clock.shift(30)
    client.post("/login/two-step", data={"code": _code("r1@oak.test")})
    clock.shift(30)

    no_password = client.post("/account/two-step", data={
        "action": "off", "password": "wrong-one", "code": _code("r1@oak.test")})
    assert no_password.status_code == 400 and "not your password" in page(no_password)
    no_code = client.post("/account/two-step", data={
        "action": "off", "password": factories.PASSWORD, "code": "000000"})
    assert no_code.status_code == 400
    assert _user("r1@oak.test").totp_enabled_at is not None

    off = client.post("/account/two-step", data={
        "action": "off", "password": factories.PASSWORD, "code": _code("r1@oak.test")})
    assert off.status_code == 303
    user = _user("r1@oak.test")
    assert user.totp_enabled_at is None and user.totp_secret is None
    assert db.session.scalars(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id)).first() is None
    assert _actions("r1@oak.test")[-1] == "account.two_step_off"
    auth.logout()
    assert auth.login("r1@oak.test").status_code == 302  # the password alone again


def test_new_recovery_codes_replace_the_old_ones(app, client, auth, clock):
    factories.world(open_round=False)
    old = _turn_on(client, auth, "org@oak.test")
    auth.login("org@oak.test")
    client.post("/login/two-step", data={"code": old[0]})

    clock.shift(30)
    renewed = client.post("/account/two-step",
                          data={"action": "renew", "code": _code("org@oak.test")})
    assert renewed.status_code == 200
    new = re.findall(r"\b[a-z]{4}-[a-z]{4}-[a-z]{4}\b", page(renewed))
    assert len(set(new)) == 10 and not set(new) & set(old)
    auth.logout()
    auth.login("org@oak.test")
    assert client.post("/login/two-step", data={"code": old[1]}).status_code == 400
    assert client.post("/login/two-step", data={"code": new[1]}).status_code == 303


def test_a_group_that_requires_it_sends_its_staff_to_set_it_up(app, client, auth, clock):
    world = factories.world(open_round=False)
    gid = world.group.id
    households = f"/organise/{gid}/households"
    auth.login("org@oak.test")
    saved = client.post(f"/organise/{gid}/settings", data={
        "name": "Oak Estate", "require_two_step": "y"})
    assert saved.status_code == 303
    db.session.expire_all()
    assert world.group.require_two_step is True
    details = db.session.scalar(select(AuditEntry.details).where(
        AuditEntry.action == "group.settings_changed").order_by(AuditEntry.id.desc()))
    assert '"setting": "require_two_step"' in details
    # The organiser who turned it on is asked too.
    assert client.get(f"/organise/{gid}").headers["Location"].startswith("/account/two-step")
    auth.logout()

    auth.login("worker@oak.test")
    sent = client.get(households)
    assert sent.status_code == 303
    assert sent.headers["Location"] == f"/account/two-step?next=/organise/{gid}/households"
    told = client.get(sent.headers["Location"])
    assert "Oak Estate asks its organisers and workers to use two-step sign-in" in page(told)
    # A form sent from a staff page does nothing either.
    assert client.post(f"{households}/assisted", data={
        "label": "Flat 9", "pin": "4321"}).status_code == 303
    assert db.session.scalar(select(Household).where(Household.label == "Flat 9")) is None
    client.post("/account/two-step", data={"action": "start", "next": households})
    done = client.post("/account/two-step", data={
        "action": "confirm", "code": _code("worker@oak.test"), "next": households})
    assert f'href="{households}"' in done.get_data(as_text=True)  # "Continue" goes back
    assert client.get(households).status_code == 200
    auth.logout()

    auth.login("r1@oak.test")  # residents are not asked
    assert client.get("/").status_code == 200
    assert client.get(households).status_code == 403


def test_the_settings_form_of_an_older_page_leaves_the_rule_alone(app, client, auth, clock):
    world = factories.world(open_round=False)
    world.group.require_two_step = True
    db.session.commit()
    _turn_on(client, auth, "org@oak.test")  # (the organiser has it, so may open the pages)
    auth.login("org@oak.test")
    client.post("/login/two-step", data={"code": _code("org@oak.test", step_offset=1)})
    client.post(f"/organise/{world.group.id}/settings", data={"require_round_approval": "y"})
    db.session.expire_all()
    assert world.group.require_two_step is True and world.group.require_round_approval


def test_a_worker_without_two_step_cannot_start_the_tablet_of_a_group_that_requires_it(
        client, auth):
    w = factories.world()
    w.group.require_two_step = True
    db.session.commit()
    auth.login(w.worker.email)

    answer = client.post("/tablet/start", data={"group_id": w.group.id})

    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/account/two-step")
    assert count(TabletSession) == 0
