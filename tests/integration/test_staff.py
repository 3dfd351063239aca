"""A group's staff: organisers invite community workers and co-organisers with a
single-use link (e-mailed, or shown with a QR code), change and remove roles (never the
last organiser), the site admin makes a group with an invite for its first organiser
(nobody types a password for someone else), and staff can add their own household.
"""

from __future__ import annotations

import re
from datetime import timedelta

import time_machine
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    Group,
    Household,
    Invite,
    Membership,
    OutboxMessage,
    PledgeLine,
    User,
    utcnow,
)
from bulkbuy.services import invites
from tests import factories
from tests.pages import count, page

LINK = re.compile(r"http://[^\s<\"]+/invite/staff/[A-Za-z0-9_-]+")


def invite_link(client, w, role="worker", email="") -> str:
    response = client.post(f"/organise/{w.group.id}/staff/invite",
                           data={"role": role, "email": email})
    assert response.status_code == 200, page(response)
    assert "<svg" in page(response)  # the QR code, inline
    return LINK.search(page(response)).group(0)


def path_of(link: str) -> str:
    return link.split("5000", 1)[1] if "5000" in link else "/" + link.split("/", 3)[3]


def membership(email: str, group: Group) -> Membership | None:
    db.session.expire_all()
    return db.session.scalar(select(Membership).join(User).where(
        User.email == email, Membership.group_id == group.id))


def actions(name: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == name)))


def test_the_staff_page_lists_organisers_and_workers(client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")

    shown = page(client.get(f"/organise/{w.group.id}/staff"))

    assert "Olive Organiser" in shown and "worker@oak.test" in shown
    assert "Community worker" in shown
    assert "r1@oak.test" not in shown  # residents are not staff


def test_an_invite_by_email_queues_the_link_and_it_makes_a_new_worker(app, client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")

    response = client.post(f"/organise/{w.group.id}/staff/invite",
                           data={"role": "worker", "email": "Nia@Oak.test"})

    assert response.status_code == 303
    mail = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.to_address == "nia@oak.test"))
    link = LINK.search(mail.body).group(0)
    assert "community worker" in mail.subject
    assert "Withdraw invite" in page(client.get(f"/organise/{w.group.id}/staff"))
    assert [e.group_id for e in actions("staff.invited")] == [w.group.id]

    newcomer = app.test_client()
    assert "Join Oak Estate as a community worker" in page(newcomer.get(path_of(link)))
    joined = newcomer.post(path_of(link), data={
        "name": "Nia", "email": "nia@oak.test", "password": "longenough1",
        "password_again": "longenough1"})

    assert joined.status_code == 303
    member = membership("nia@oak.test", w.group)
    assert (member.role, member.household_id) == ("worker", None)
    assert newcomer.get("/").status_code == 200  # signed in
    assert newcomer.get(path_of(link)).status_code == 404  # used: it works once


def test_a_shown_link_makes_an_existing_member_organiser_keeping_their_household(
        app, client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    link = invite_link(client, w, role="organiser")
    resident = app.test_client()
    resident.post("/login", data={"email": "r1@oak.test", "password": factories.PASSWORD})

    assert "Join Oak Estate as an organiser" in page(resident.get(path_of(link)))
    accepted = resident.post(path_of(link))

    assert accepted.status_code == 303
    assert accepted.headers["Location"] == f"/organise/{w.group.id}"
    member = membership("r1@oak.test", w.group)
    assert (member.role, member.household_id) == ("organiser", w.households[0].id)
    assert db.session.scalar(select(Invite)).used_by_id == member.user_id


def test_a_new_account_with_a_known_address_is_told_to_sign_in_first(app, client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    link = path_of(invite_link(client, w))
    users = count(User)

    refused = app.test_client().post(link, data={
        "name": "Someone", "email": "r1@oak.test", "password": "longenough1",
        "password_again": "longenough1"})

    assert refused.status_code == 400
    assert "Sign in first" in page(refused)
    assert f"/login?next={link}" in page(refused).replace("%2F", "/")
    assert count(User) == users and membership("r1@oak.test", w.group).role == "member"
    assert invites.waiting(link.rsplit("/", 1)[1], utcnow()) is not None  # still usable
    owner = app.test_client()
    signed_in = owner.post(f"/login?next={link}", data={"email": "r1@oak.test",
                                                       "password": factories.PASSWORD})
    assert signed_in.headers["Location"] == link  # back to the invite
    assert owner.post(link).status_code == 303
    assert membership("r1@oak.test", w.group).role == "worker"


def test_passwords_that_differ_or_are_short_are_refused(app, client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    link = path_of(invite_link(client, w))
    newcomer = app.test_client()

    differ = newcomer.post(link, data={"name": "Nia", "email": "nia@oak.test",
                                       "password": "longenough1", "password_again": "other123"})
    short = newcomer.post(link, data={"name": "Nia", "email": "nia@oak.test",
                                      "password": "short", "password_again": "short"})

    assert differ.status_code == short.status_code == 400
    assert "not the same" in page(differ) and "at least 8" in page(short)
    assert db.session.scalar(select(User).where(User.email == "nia@oak.test")) is None


def test_used_expired_withdrawn_and_tampered_links_change_nothing(app, client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    used = path_of(invite_link(client, w))
    expired = path_of(invite_link(client, w))
    withdrawn = path_of(invite_link(client, w))
    worker = app.test_client()
    worker.post("/login", data={"email": "worker@oak.test", "password": factories.PASSWORD})
    assert worker.post(used).status_code == 303
    target = db.session.scalar(select(Invite).order_by(Invite.id.desc()))
    assert client.post(f"/organise/{w.group.id}/staff/invites/{target.id}/withdraw"
                       ).status_code == 303
    resident = app.test_client()
    resident.post("/login", data={"email": "r1@oak.test", "password": factories.PASSWORD})

    with time_machine.travel(utcnow() + timedelta(days=8)):
        assert resident.post(expired).status_code == 404
    for link in (used, withdrawn, used[:-3] + "xyz", "/invite/staff/" + "a" * 200):
        answer = resident.post(link)
        assert answer.status_code == 404, link
        assert "expired, was used already or was withdrawn" in page(answer)
        assert app.test_client().post(link, data={
            "name": "X", "email": "x@oak.test", "password": "longenough1",
            "password_again": "longenough1"}).status_code == 404
    assert membership("r1@oak.test", w.group).role == "member"
    assert db.session.scalar(select(User).where(User.email == "x@oak.test")) is None


def test_a_resident_gets_403_and_another_groups_organiser_404(client, auth):
    w = factories.world(open_round=False)
    factories.world(name="Elm Court", open_round=False)
    worker = membership("worker@oak.test", w.group)
    invite, _token = invites.create(w.group, kind="staff", role="worker", actor=w.organiser,
                                    now=utcnow())
    db.session.commit()
    base = f"/organise/{w.group.id}/staff"
    posts = [(f"{base}/invite", {"role": "organiser"}),
             (f"{base}/invites/{invite.id}/withdraw", {}),
             (f"{base}/{worker.id}/role", {"role": "organiser"}),
             (f"{base}/{worker.id}/remove", {}),
             (f"{base}/household", {"household": "Flat 99"})]
    before = (count(Invite), count(AuditEntry), count(Household))

    for who, status in (("r1@oak.test", 403), ("worker@oak.test", 403), ("org@elm.test", 404)):
        auth.login(who)
        assert client.get(base).status_code == status, who
        for url, data in posts:
            assert client.post(url, data=data).status_code == status, (who, url)

    assert (count(Invite), count(AuditEntry), count(Household)) == before
    assert membership("worker@oak.test", w.group).role == "worker"
    assert db.session.get(Invite, invite.id).revoked_at is None


def test_the_last_organiser_can_be_neither_lowered_nor_removed(client, auth):
    w = factories.world(open_round=False)
    me = membership("org@oak.test", w.group)
    auth.login("org@oak.test")

    lowered = client.post(f"/organise/{w.group.id}/staff/{me.id}/role", data={"role": "worker"})
    removed = client.post(f"/organise/{w.group.id}/staff/{me.id}/remove")

    assert lowered.status_code == removed.status_code == 400
    assert "at least one organiser" in page(lowered)
    assert membership("org@oak.test", w.group).role == "organiser"
    assert actions("staff.role_changed") == actions("staff.removed") == []


def test_a_lowered_role_ends_that_persons_sessions_and_is_audited(app, client, auth):
    w = factories.world(open_round=False)
    worker = membership("worker@oak.test", w.group)
    their_phone = app.test_client()
    their_phone.post("/login", data={"email": "worker@oak.test",
                                     "password": factories.PASSWORD})
    assert their_phone.get("/").status_code == 200
    auth.login("org@oak.test")

    raised = client.post(f"/organise/{w.group.id}/staff/{worker.id}/role",
                         data={"role": "organiser"})
    assert raised.status_code == 303
    assert their_phone.get(f"/organise/{w.group.id}/staff").status_code == 200  # still in
    lowered = client.post(f"/organise/{w.group.id}/staff/{worker.id}/role",
                          data={"role": "worker"})

    assert lowered.status_code == 303
    assert membership("worker@oak.test", w.group).role == "worker"
    assert their_phone.get("/").status_code == 302
    changes = [(e.details, e.actor_id) for e in actions("staff.role_changed")]
    assert len(changes) == 2 and all(actor == w.organiser.id for _d, actor in changes)
    assert [e.details for e in actions("account.sessions_ended")] == [
        '{"reason": "role_changed"}']


def test_removing_a_worker_without_a_household_ends_their_membership(client, auth):
    w = factories.world(open_round=False)
    worker = membership("worker@oak.test", w.group)
    auth.login("org@oak.test")

    assert client.post(f"/organise/{w.group.id}/staff/{worker.id}/remove").status_code == 303

    assert membership("worker@oak.test", w.group) is None
    assert len(actions("staff.removed")) == 1


def test_a_removed_organiser_with_a_household_stays_a_resident(app, client, auth):
    w = factories.world(open_round=False)
    resident = membership("r1@oak.test", w.group)
    resident.role = "organiser"
    db.session.commit()
    auth.login("org@oak.test")

    assert client.post(f"/organise/{w.group.id}/staff/{resident.id}/role",
                       data={"role": "member"}).status_code == 303

    kept = membership("r1@oak.test", w.group)
    assert (kept.role, kept.household_id) == ("member", w.households[0].id)


def test_the_admin_makes_a_group_and_an_invite_for_its_first_organiser(app, client, auth):
    factories.user("admin@site.test", "Ada Admin", admin=True)
    db.session.commit()
    auth.login("admin@site.test")
    users = count(User)

    emailed = client.post("/admin/groups", data={
        "name": "Birch Court", "timezone": "Europe/London", "organiser_email": "bo@birch.test"})
    shown = client.post("/admin/groups", data={
        "name": "Ash Row", "timezone": "Europe/London", "organiser_email": ""})

    assert emailed.status_code == 303 and shown.status_code == 200
    assert "<svg" in page(shown)
    assert count(User) == users  # nobody typed a password for anyone
    birch = db.session.scalar(select(Group).where(Group.name == "Birch Court"))
    assert db.session.scalar(select(Membership).where(Membership.group_id == birch.id)) is None
    mail = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.to_address == "bo@birch.test"))
    assert "organise Birch Court" in mail.subject
    newcomer = app.test_client()
    assert newcomer.post(path_of(LINK.search(mail.body).group(0)), data={
        "name": "Bo", "email": "bo@birch.test", "password": "longenough1",
        "password_again": "longenough1"}).headers["Location"] == f"/organise/{birch.id}"
    assert membership("bo@birch.test", birch).role == "organiser"
    ash = db.session.scalar(select(Group).where(Group.name == "Ash Row"))
    assert db.session.scalar(select(Invite).where(Invite.group_id == ash.id)).email is None


def test_an_organiser_adds_their_own_household_and_pledges(client, auth):
    w = factories.world()
    auth.login("org@oak.test")
    tomatoes = next(i for i in w.round.items if i.name == "Tinned tomatoes")
    url = f"/rounds/{w.round.id}/items/{tomatoes.id}"
    client.post(url, data={"quantity": "2", "tolerance": "0"})
    assert count(PledgeLine) == 0  # no household yet: cannot order

    taken = client.post(f"/organise/{w.group.id}/staff/household", data={"household": "flat 1"})
    added = client.post(f"/organise/{w.group.id}/staff/household", data={"household": "Flat 7"})

    assert taken.status_code == 400 and "already on the list" in page(taken)
    assert added.status_code == 303
    member = membership("org@oak.test", w.group)
    assert member.role == "organiser" and member.household.label == "Flat 7"
    assert client.post(url, data={"quantity": "2", "tolerance": "0"}).status_code == 303
    assert count(PledgeLine) == 1
    assert len(actions("group.household_added")) == 1


def test_a_worker_joins_a_household_with_the_groups_invite_code(client, auth):
    w = factories.world(open_round=False)
    auth.login("worker@oak.test")

    client.post(f"/join/{w.group.invite_code}", data={"household": "Flat 8"})

    member = membership("worker@oak.test", w.group)
    assert member.role == "worker" and member.household.label == "Flat 8"


def test_an_organiser_removed_cannot_come_back_with_a_link_they_made(client, auth):
    """Their open invites stop working when their role goes; and a link whose maker is no
    longer an organiser gives nothing, whoever follows it."""
    w = factories.world(open_round=False)
    second = factories.user("org2@oak.test", "Second Organiser")
    db.session.add(Membership(user_id=second.id, group_id=w.group.id, role="organiser"))
    db.session.commit()
    auth.login("org2@oak.test")
    shown = page(client.post(f"/organise/{w.group.id}/staff/invite",
                             data={"role": "organiser", "email": ""}))
    link = re.search(r"https?://[^/\s\"<]+(/invite/staff/[A-Za-z0-9_-]+)", shown).group(1)
    auth.login("org@oak.test")
    membership = db.session.scalar(select(Membership).where(Membership.user_id == second.id))
    assert client.post(f"/organise/{w.group.id}/staff/{membership.id}/remove").status_code \
        == 303

    auth.login("org2@oak.test")
    client.post(link)

    db.session.expire_all()
    assert db.session.scalar(select(Membership).where(Membership.user_id == second.id)) is None
    assert db.session.scalar(select(Invite.revoked_at).where(
        Invite.created_by_id == second.id)) is not None
