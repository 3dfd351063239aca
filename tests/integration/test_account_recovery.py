"""Account recovery: a forgotten password is reset through a link e-mailed to the account's
address (the form answering every address the same way); a signed-in person changes
their password or e-mail address on their account page; staff send a household's member
a reset link. The links are signed, work once and go out of date."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import time_machine
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, OutboxMessage, User, utcnow
from bulkbuy.services import accounts, recovery
from tests import factories
from tests.pages import count, page

NEW = "brand-new-secret-1"


def mail_to(address: str, kind: str = "") -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == address,
                                    OutboxMessage.key.startswith(kind))
        .order_by(OutboxMessage.id)))


def link_in(message: OutboxMessage, path: str) -> str:
    found = re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", message.body)
    assert found, message.body
    return found.group(1)


def reset_link_for(email: str) -> str:
    return link_in(mail_to(email, "password-reset:")[-1], "/password/reset/")


def forgot(client, email: str, address: str = "127.0.0.1"):
    return client.post("/password/forgot", data={"email": email},
                       environ_base={"REMOTE_ADDR": address})


def choose(client, link: str, password: str = NEW, again: str | None = None):
    return client.post(link, data={"password": password,
                                   "password_again": password if again is None else again})


def password_of(email: str) -> str:
    db.session.expire_all()
    return db.session.scalar(select(User.password_hash).where(User.email == email))


def signs_in(app, email: str, password: str) -> bool:
    response = app.test_client().post("/login", data={"email": email, "password": password})
    return response.status_code == 302


def actions(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- A forgotten password ---------------------------------------------------------------------

def test_a_password_is_reset_through_the_e_mailed_link(app, client):
    factories.world(open_round=False)
    asked = forgot(client, "R1@oak.test ")
    assert (asked.status_code, asked.headers["Location"]) == (303, "/password/forgot/sent")
    link = reset_link_for("r1@oak.test")

    shown = client.get(link)
    assert shown.status_code == 200 and "Choose a new password" in page(shown)
    mistyped = choose(client, link, NEW, "something-else-9")
    assert mistyped.status_code == 400 and "The two passwords are not the same" in page(mistyped)
    assert choose(client, link, "short").status_code == 400
    done = choose(client, link)

    assert (done.status_code, done.headers["Location"]) == (303, "/login")
    assert "Your password is changed." in page(client.get("/login"))
    assert signs_in(app, "r1@oak.test", NEW)
    assert not signs_in(app, "r1@oak.test", factories.PASSWORD)
    [notice] = mail_to("r1@oak.test", "password-changed:")
    assert notice.subject == "Your password was changed"
    assert len(actions("account.password_reset")) == 1


def test_a_known_and_an_unknown_address_get_byte_identical_answers(client):
    factories.world(open_round=False)

    known = forgot(client, "r1@oak.test")
    unknown = forgot(client, "nobody@oak.test")

    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    assert known.get_data() == unknown.get_data()
    assert client.get(known.headers["Location"]).get_data() == \
        client.get(unknown.headers["Location"]).get_data()
    assert [m.to_address for m in mail_to("r1@oak.test")] == ["r1@oak.test"]
    assert count(OutboxMessage) == 1  # nothing for the unknown address


def test_a_known_and_an_unknown_address_take_about_as_long(client):
    """The answer's timing does not tell either: the same work (a token signed, the
    e-mail rendered) whether or not the address has an account. Seven tries each, taken
    in turn (so a busy moment of the machine falls on both), and the quickest of each
    compared (waiting only ever adds time): within a factor of three ("the same order"),
    a margin wide enough for a busy machine, narrow enough to catch a path that skips
    the work. (The known address also writes its e-mail to the outbox: about 1.4 times
    on a quiet machine. Medians of tries taken one address after the other once gave
    3.5 on a busy PostgreSQL, whose commits were slow just then.)"""
    factories.world(open_round=False)
    forgot(client, "nobody@oak.test")  # warm up: templates compiled, connections open
    times: dict[str, list[float]] = {"r1@oak.test": [], "nobody@oak.test": []}
    for _ in range(7):
        for email, taken in times.items():
            started = time.perf_counter()
            assert forgot(client, email).status_code == 303
            taken.append(time.perf_counter() - started)
    known, unknown = min(times["r1@oak.test"]), min(times["nobody@oak.test"])

    assert 1 / 3 < known / unknown < 3, f"known {known * 1000:.1f} ms, unknown " \
        f"{unknown * 1000:.1f} ms"


def test_a_link_out_of_date_changes_nothing(client):
    factories.world(open_round=False)
    forgot(client, "r1@oak.test")
    link = reset_link_for("r1@oak.test")
    before = password_of("r1@oak.test")

    with time_machine.travel(utcnow() + timedelta(hours=1, minutes=1), tick=False):
        shown = client.get(link)
        assert shown.status_code == 404
        assert "This link has expired or was used already" in page(shown)
        assert 'href="/password/forgot"' in page(shown)
        assert choose(client, link).status_code == 404

    assert password_of("r1@oak.test") == before


def test_a_link_works_once(app, client):
    factories.world(open_round=False)
    forgot(client, "r1@oak.test")
    link = reset_link_for("r1@oak.test")
    assert choose(client, link).status_code == 303
    after = password_of("r1@oak.test")

    again = choose(client, link, "another-secret-2")

    assert again.status_code == 404 and "expired or was used already" in page(again)
    assert client.get(link).status_code == 404
    assert password_of("r1@oak.test") == after and signs_in(app, "r1@oak.test", NEW)


def test_a_changed_or_forged_link_changes_nothing(app, client):
    w = factories.world(open_round=False)
    forgot(client, "r1@oak.test")
    link = reset_link_for("r1@oak.test")
    token = link.rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    r1 = w.residents[0]
    # Signed with the e-mail change links' salt, or for someone else's password: refused.
    other_salt = recovery._serializer(recovery.EMAIL_SALT).dumps(
        {"u": r1.id, "p": recovery._fingerprint(r1.password_hash)})
    wrong_print = recovery._serializer(recovery.RESET_SALT).dumps(
        {"u": r1.id, "p": "0" * 16})
    before = password_of("r1@oak.test")

    for bad in (tampered, other_salt, wrong_print, "x" * 600, "not-a-token"):
        assert client.get(f"/password/reset/{bad}").status_code == 404, bad
        assert choose(client, f"/password/reset/{bad}").status_code == 404, bad

    assert password_of("r1@oak.test") == before
    assert not actions("account.password_reset")


def test_a_reset_signs_out_every_other_session(app, client):
    factories.world(open_round=False)
    phone = app.test_client()
    phone.post("/login", data={"email": "r1@oak.test", "password": factories.PASSWORD})
    assert phone.get("/").status_code == 200

    forgot(client, "r1@oak.test")
    assert choose(client, reset_link_for("r1@oak.test")).status_code == 303

    assert phone.get("/").status_code == 302
    assert phone.get("/").headers["Location"].startswith("/login")


def test_too_many_requests_are_refused_and_send_nothing_more(app_with_settings):
    app = app_with_settings(RESET_RATE_LIMIT="2 per minute",
                            RESET_ADDRESS_RATE_LIMIT="4 per minute")
    factories.world(open_round=False)
    client = app.test_client()

    assert [forgot(client, "r1@oak.test").status_code for _ in range(2)] == [303, 303]
    refused = forgot(client, " R1@oak.test")
    assert refused.status_code == 429 and "Too many tries" in page(refused)
    assert len(mail_to("r1@oak.test")) == 2

    # Other addresses from the same network address, up to its own limit.
    assert forgot(client, "r2@oak.test").status_code == 303
    assert forgot(client, "org@oak.test").status_code == 303
    assert forgot(client, "worker@oak.test").status_code == 429
    assert forgot(client, "worker@oak.test", address="10.0.0.9").status_code == 303
    assert count(OutboxMessage) == 5


# --- Your account -----------------------------------------------------------------------------

def change(client, current: str, new: str = NEW, again: str | None = None):
    return client.post("/account/password", data={
        "current_password": current, "new_password": new,
        "new_password_again": new if again is None else again})


def test_the_account_page_shows_who_you_are(client, auth):
    factories.world(open_round=False)
    assert client.get("/account").status_code == 302  # signed out: to sign in
    auth.login("r1@oak.test")

    shown = client.get("/account")

    assert shown.status_code == 200
    assert "Resident 1" in page(shown) and "r1@oak.test" in page(shown)
    assert 'href="/account"' in page(client.get("/"))


def test_changing_the_password_needs_the_current_one_and_keeps_only_this_session(
        app, client, auth):
    factories.world(open_round=False)
    auth.login("r1@oak.test")
    phone = app.test_client()
    phone.post("/login", data={"email": "r1@oak.test", "password": factories.PASSWORD})
    before = password_of("r1@oak.test")

    wrong = change(client, "not-my-password")
    assert wrong.status_code == 400 and "That is not your password now" in page(wrong)
    assert change(client, factories.PASSWORD, NEW, "other-secret-3").status_code == 400
    assert password_of("r1@oak.test") == before and phone.get("/").status_code == 200

    done = change(client, factories.PASSWORD)

    assert (done.status_code, done.headers["Location"]) == (303, "/account")
    assert client.get("/account").status_code == 200  # this browser stays signed in
    assert phone.get("/").status_code == 302  # the other one is signed out
    assert signs_in(app, "r1@oak.test", NEW)
    assert len(mail_to("r1@oak.test", "password-changed:")) == 1
    assert len(actions("account.password_changed")) == 1


def test_an_old_reset_link_stops_working_once_the_password_is_changed(client, auth):
    factories.world(open_round=False)
    forgot(client, "r1@oak.test")
    link = reset_link_for("r1@oak.test")
    auth.login("r1@oak.test")
    assert change(client, factories.PASSWORD).status_code == 303

    assert client.get(link).status_code == 404


def ask_email(client, new: str, password: str = factories.PASSWORD):
    return client.post("/account/email", data={"new_email": new, "email_password": password})


def test_a_new_address_is_used_only_once_its_link_is_followed_and_the_old_one_is_told(
        app, client, auth):
    factories.world(open_round=False)
    auth.login("r1@oak.test")
    assert ask_email(client, "r1@oak.test").status_code == 400  # the same address
    assert ask_email(client, "nia@new.test", "wrong-password").status_code == 400
    assert count(OutboxMessage) == 0

    asked = ask_email(client, "Nia@New.test")

    assert asked.status_code == 303
    [told] = mail_to("r1@oak.test", "email-change-asked:")
    assert "asked to use a new e-mail address" in told.body
    assert "/account/email/confirm/" not in told.body  # the link goes to the new address only
    [confirm] = mail_to("nia@new.test", "email-change-confirm:")
    link = link_in(confirm, "/account/email/confirm/")
    assert accounts.find_user("r1@oak.test") is not None  # nothing changed yet
    shown = app.test_client().get(link)  # opened on a phone, signed out (or a mail scanner)
    assert shown.status_code == 200 and "nia@new.test" in page(shown)
    assert accounts.find_user("nia@new.test") is None

    done = client.post(link)

    assert (done.status_code, done.headers["Location"]) == (303, "/account")
    db.session.expire_all()
    assert accounts.find_user("nia@new.test").name == "Resident 1"
    assert accounts.find_user("r1@oak.test") is None
    assert len(actions("account.email_changed")) == 1
    assert client.post(link).status_code == 404  # once
    assert signs_in(app, "nia@new.test", factories.PASSWORD)


def test_an_address_taken_meanwhile_is_refused_and_one_taken_already_gets_no_link(
        client, auth):
    factories.world(open_round=False)
    auth.login("r1@oak.test")
    assert ask_email(client, "r2@oak.test").status_code == 303  # the same answer...
    assert mail_to("r2@oak.test") == []  # ...but no link to someone else's inbox
    ask_email(client, "nia@new.test")
    link = link_in(mail_to("nia@new.test")[-1], "/account/email/confirm/")
    factories.user("nia@new.test", "Nia")
    db.session.commit()

    refused = client.post(link)

    assert refused.status_code == 400
    assert "There is already an account with this address" in page(refused)
    assert accounts.find_user("r1@oak.test") is not None
    assert not actions("account.email_changed")


def test_an_e_mail_link_out_of_date_changes_nothing(client, auth):
    factories.world(open_round=False)
    auth.login("r1@oak.test")
    ask_email(client, "nia@new.test")
    link = link_in(mail_to("nia@new.test")[-1], "/account/email/confirm/")

    with time_machine.travel(utcnow() + timedelta(hours=24, minutes=1), tick=False):
        assert client.post(link).status_code == 404

    assert accounts.find_user("nia@new.test") is None


# --- Staff send a member a link ---------------------------------------------------------------

def send_link(client, w, household, user):
    return client.post(f"/organise/{w.group.id}/households/{household.id}/members/"
                       f"{user.id}/reset-link")


def test_staff_send_a_member_a_reset_link_without_seeing_it(app, client, auth):
    w = factories.world(open_round=False)
    r1, flat1 = w.residents[0], w.households[0]
    auth.login("org@oak.test")
    listed = client.get(f"/organise/{w.group.id}/households")
    assert page(listed).count("a link to choose a new password") == 2  # one per resident

    sent = send_link(client, w, flat1, r1)

    assert sent.status_code == 303
    shown = page(client.get(sent.headers["Location"]))
    assert "We sent Resident 1 a link to choose a new password" in shown
    assert "/password/reset/" not in shown
    link = reset_link_for("r1@oak.test")
    entry = actions("account.reset_link_sent")[-1]
    assert (entry.actor_id, entry.group_id, entry.subject_id) == (
        w.organiser.id, w.group.id, r1.id)
    assert choose(app.test_client(), link).status_code == 303
    assert signs_in(app, "r1@oak.test", NEW)


def test_a_reset_link_is_refused_to_residents_other_groups_and_other_households(
        client, auth):
    w = factories.world(open_round=False)
    elm = factories.world(name="Elm Court", open_round=False)
    r1, r2 = w.residents
    flat1, flat2 = w.households

    auth.login("r2@oak.test")
    assert send_link(client, w, flat1, r1).status_code == 403
    auth.login("org@elm.test")
    assert send_link(client, w, flat1, r1).status_code == 404
    auth.login("worker@oak.test")
    assert send_link(client, w, flat1, r2).status_code == 404  # r2 is not of Flat 1
    assert send_link(client, w, elm.households[0], elm.residents[0]).status_code == 404
    assert send_link(client, w, flat1, w.organiser).status_code == 404

    assert count(OutboxMessage) == 0
    assert send_link(client, w, flat2, r2).status_code == 303  # a worker may
    assert len(mail_to("r2@oak.test", "password-reset:")) == 1
