"""Signing out ends the session everywhere: a copied session cookie replayed after
`POST /logout` opens no page and changes nothing (before, it kept working).
"""

from __future__ import annotations

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, PledgeLine, User
from tests import factories
from tests.pages import count


def replay(app, cookie: str):
    """A second browser that was given a copy of the session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def tomatoes(w):
    return next(i for i in w.round.items if i.name == "Tinned tomatoes")


def test_a_copied_session_cookie_stops_working_when_its_owner_signs_out(app, client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    copied = client.get_cookie("session").value
    thief = replay(app, copied)
    assert thief.get("/").status_code == 200  # the copy works while the session lives

    assert auth.logout().status_code == 302

    assert thief.get("/").status_code == 302
    assert thief.get("/").headers["Location"].startswith("/login")
    response = thief.post(f"/rounds/{w.round.id}/items/{tomatoes(w).id}",
                          data={"quantity": "3", "tolerance": "0"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert count(PledgeLine) == 0


def test_signing_out_ends_the_sessions_on_other_devices_too_and_is_audited(app, client, auth):
    factories.world(open_round=False)
    auth.login("r1@oak.test")
    phone = app.test_client()
    phone.post("/login", data={"email": "r1@oak.test", "password": factories.PASSWORD})
    assert phone.get("/").status_code == 200

    auth.logout()

    assert phone.get("/").status_code == 302
    user = db.session.scalar(select(User).where(User.email == "r1@oak.test"))
    ended = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "account.sessions_ended")).all()
    assert [(e.actor_id, e.subject_id) for e in ended] == [(user.id, user.id)]


def test_signing_in_again_after_signing_out_works(app, client, auth):
    factories.world(open_round=False)
    auth.login("r1@oak.test")
    auth.logout()

    auth.login("r1@oak.test")

    assert client.get("/").status_code == 200


def test_a_session_id_without_its_generation_is_signed_out(app, client, auth):
    factories.world(open_round=False)
    user = db.session.scalar(select(User).where(User.email == "r1@oak.test"))
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # the form sessions had before generations
        session["_fresh"] = True

    assert client.get("/").status_code == 302
