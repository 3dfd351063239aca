"""The join page never says whether an address already has an account (before: "There
is already an account with that e-mail address"). Everyone is told to check their
e-mail; a new address gets a link that makes the account, an existing one a note
saying so. The link works once, for a day, and only by its button.
"""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import Household, Membership, OutboxMessage, PendingJoin, User, utcnow
from tests import factories
from tests.pages import count, join_link_for, page, page_without_csrf


def ask(client, w, email, household="Flat 9", password="password123"):
    return client.post(f"/join/{w.group.invite_code}", data={
        "name": "Nia", "household": household, "email": email, "password": password})


def mail_to(address: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == address)))


def test_a_new_and_a_known_address_get_the_same_answer(client):
    w = factories.world(open_round=False)  # r1@oak.test has an account
    users = count(User)

    new = ask(client, w, "nia@oak.test")
    known = ask(client, w, "r1@oak.test", household="Flat 10")

    assert (new.status_code, new.headers["Location"]) == (
        known.status_code, known.headers["Location"]) == (303, f"/join/{w.group.invite_code}/sent")
    # The pages are the same but for the CSRF token of the footer's language picker.
    assert page_without_csrf(client.get(new.headers["Location"])) == \
        page_without_csrf(client.get(known.headers["Location"]))
    assert "Check your e-mail" in page(client.get(new.headers["Location"]))
    assert count(User) == users and count(Household) == 2  # nothing made yet


def test_the_owner_of_a_known_address_is_told_by_e_mail_and_nothing_changes(client):
    w = factories.world(open_round=False)
    ask(client, w, "R1@oak.test", household="Flat 10")

    [note] = mail_to("r1@oak.test")
    assert note.subject == "You already have an account"
    assert "Someone asked to join Oak Estate with this e-mail address" in note.body
    assert f"/join/{w.group.invite_code}" in note.body
    assert count(PendingJoin) == 0
    ask(client, w, "r1@oak.test", household="Flat 11")
    assert len(mail_to("r1@oak.test")) == 1  # at most one such note a day


def test_the_link_makes_the_account_and_household_once_and_signs_in(client):
    w = factories.world(open_round=False)
    ask(client, w, "nia@oak.test")
    link = join_link_for("nia@oak.test")

    shown = client.get(link)
    assert shown.status_code == 200 and "Finish joining Oak Estate" in page(shown)
    assert count(User) == 4  # opening the link (as a mail scanner does) makes nothing

    done = client.post(link)

    assert done.status_code == 303
    assert "Welcome to Oak Estate." in page(client.get("/"))
    user = db.session.scalar(select(User).where(User.email == "nia@oak.test"))
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert (membership.group_id, membership.household.label) == (w.group.id, "Flat 9")
    client.post("/logout")
    again = client.post(link)
    assert again.status_code == 404 and "This link does not work" in page(again)
    assert count(User) == 5


def test_a_link_out_of_date_does_not_work(client):
    w = factories.world(open_round=False)
    ask(client, w, "nia@oak.test")
    link = join_link_for("nia@oak.test")

    with time_machine.travel(utcnow() + timedelta(hours=24, minutes=1), tick=False):
        assert client.get(link).status_code == 404
        assert client.post(link).status_code == 404

    assert count(User) == 4


def test_an_address_that_got_an_account_meanwhile_is_refused_plainly(client):
    w = factories.world(open_round=False)
    ask(client, w, "nia@oak.test")
    ask(client, w, "nia@oak.test", household="Flat 12")  # asked twice: two links
    first = join_link_for("nia@oak.test")
    older = [m for m in mail_to("nia@oak.test") if first not in m.body]
    second = "/join/confirm/" + older[0].body.split("/join/confirm/")[1].split()[0]
    assert client.post(first).status_code == 303
    client.post("/logout")

    response = client.post(second)

    assert response.status_code == 400
    assert "There is already an account with this address." in page(response)
    assert count(User) == 5 and count(Household) == 3


def test_an_unknown_link_is_404(client):
    factories.world(open_round=False)
    assert client.get("/join/confirm/not-a-real-token").status_code == 404
    assert client.post("/join/confirm/" + "x" * 500).status_code == 404
