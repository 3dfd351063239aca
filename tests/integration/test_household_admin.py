"""Staff looking after households: a new name or block, merging two after a preview,
removing one, and an invite link that brings a person into one household."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    Household,
    HouseholdCredit,
    Invite,
    Membership,
    OutboxMessage,
    PledgeLine,
    Round,
    Statement,
    User,
    utcnow,
)
from bulkbuy.services import closing, household_admin, invites, pledges, rounds, tablet
from tests import factories
from tests.pages import count, page

MONEY = "still owes money for a round, or is owed money back, or has money kept for later"


def url(w, household, action="") -> str:
    return f"/organise/{w.group.id}/households/{household.id}{action}"


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def audits(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def lines(household_id: int, round_id: int) -> list[tuple[int, int, int, int]]:
    """(round item, queue position, quantity, tolerance) of a household's lines."""
    db.session.expire_all()
    return [(x.round_item_id, x.queue_pos, x.quantity, x.tolerance) for x in db.session.scalars(
        select(PledgeLine).where(PledgeLine.household_id == household_id,
                                 PledgeLine.round_id == round_id)
        .order_by(PledgeLine.queue_pos))]


def item(rnd: Round, name: str):
    return next(i for i in rnd.items if i.name == name)


def pledge(w, household, rnd, name, quantity, tolerance=0, *, now=None):
    pledges.set_pledge(item(rnd, name), household, quantity, tolerance,
                       entered_by=w.organiser, now=now or utcnow(), max_units=999)
    db.session.commit()


def past_round(w, *, paid: bool) -> Round:
    """A finished round in which Flats 1 and 2 each ordered 6 tins (one case): their
    statements are paid (settled) when `paid`, else still owed."""
    start = utcnow() - timedelta(days=10)
    rnd = rounds.create_round(w.group, w.supplier, w.products,
                              rounds.RoundDetails(title="Last month",
                                                  closes_at=start + timedelta(days=3)),
                              created_by=w.organiser, now=start)
    rounds.open_round(rnd, actor=w.organiser, now=start)
    for household in w.households[:2]:
        pledge(w, household, rnd, "Tinned tomatoes", 6, now=start)
    closing.close_round(rnd.id, start + timedelta(days=3, minutes=1))
    if paid:
        for statement in db.session.scalars(select(Statement).where(Statement.round_id == rnd.id)):
            statement.paid_pence = statement.total_pence
            statement.payment_status = "paid"
        # Delivered and finished (as settlement.finish_round leaves it): no bill can change.
        db.session.get(Round, rnd.id).status = "complete"
    db.session.commit()
    return rnd


@pytest.fixture(params=["organiser", "worker"])
def staff(request, client, auth):
    w = factories.world()
    auth.login(getattr(w, request.param).email)
    w.extra["staff"] = getattr(w, request.param)
    return w


@pytest.fixture
def organiser(client, auth):
    w = factories.world()
    auth.login(w.organiser.email)
    return w


# --- rename, block ---------------------------------------------------------------------


def test_staff_give_a_household_a_new_name_and_block(client, staff):
    home = staff.households[0]

    response = client.post(url(staff, home, "/edit"), data={"label": "  Flat 1A ",
                                                            "block": "Birch Block"})

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"#household-{home.id}")
    home = fresh(Household, home.id)
    assert (home.label, home.block) == ("Flat 1A", "Birch Block")
    [entry] = audits("household.edited")
    assert (entry.actor_id, entry.household_id) == (staff.extra["staff"].id, home.id)
    assert '"before": {"block": null, "label": "Flat 1"}' in entry.details
    shown = page(client.get(f"/organise/{staff.group.id}/households"))
    assert "Saved: Flat 1A." in shown and "Birch Block" in shown
    assert ("Merge into another household" in shown) == (staff.extra["staff"] == staff.organiser)


def test_a_name_another_household_has_is_refused_and_nothing_changes(client, organiser):
    home = organiser.households[0]

    response = client.post(url(organiser, home, "/edit"), data={"label": "FLAT  2",
                                                                "block": "Birch Block"})

    assert response.status_code == 400
    assert "There is already a household with that name. Choose another." in page(response)
    home = fresh(Household, home.id)
    assert (home.label, home.block) == ("Flat 1", None)
    assert audits("household.edited") == []
    # A new way of writing its own name is no clash.
    assert client.post(url(organiser, home, "/edit"),
                       data={"label": "flat 1", "block": ""}).status_code == 303
    assert fresh(Household, home.id).label == "flat 1"


# --- merging ---------------------------------------------------------------------------


def test_the_merge_preview_shows_the_combined_orders_and_the_merge_does_just_that(
        client, organiser):
    w = organiser
    kept, merged = w.households
    history = past_round(w, paid=True)
    rnd = w.round
    pledge(w, kept, rnd, "Tinned tomatoes", 5)
    pledge(w, merged, rnd, "Tinned tomatoes", 4, 2)
    pledge(w, merged, rnd, "Rice", 3)
    pledge(w, kept, rnd, "Tinned tomatoes", 12)  # 7 more: a later line of the kept one
    before = sorted(lines(kept.id, rnd.id) + lines(merged.id, rnd.id), key=lambda x: x[1])
    version = rnd.pledge_version

    shown = page(client.get(url(w, merged, f"/merge?into={kept.id}")))

    assert "Merge Flat 2 into Flat 1?" in shown
    tomatoes = re.search(r"Tinned tomatoes</th>(.*?)</tr>", shown, re.S).group(1)
    assert re.findall(r'class="num">([^<]*)<', tomatoes) == [
        "12", "4 (+2 to fill a case)", "16 (+2 to fill a case)"]
    assert "Resident 2" in shown  # moves over
    assert "1 bill of a past round stays with Flat 2, for the books." in shown
    preview = household_admin.merge_preview(kept, merged)
    expected = {i.id: row.combined for r in preview.rounds for i, row in r.rows}

    response = client.post(url(w, merged, "/merge"), data={"into": kept.id})

    assert response.status_code == 303
    after = lines(kept.id, rnd.id)
    assert after == before  # every line, its place kept, now the kept household's
    assert lines(merged.id, rnd.id) == []
    totals: dict[int, tuple[int, int]] = {}
    for item_id, _pos, q, t in after:
        totals[item_id] = (totals.get(item_id, (0, 0))[0] + q, totals.get(item_id, (0, 0))[1] + t)
    assert totals == expected
    assert fresh(Round, rnd.id).pledge_version > version
    merged_now = fresh(Household, merged.id)
    assert merged_now.removed_at is not None and merged_now.merged_into_id == kept.id
    assert merged_now.label == f"Removed household {merged.id}"
    membership = db.session.scalar(select(Membership).where(
        Membership.user_id == w.residents[1].id))
    assert membership.household_id == kept.id
    # The finished round's bills stay where they were.
    assert {s.household_id for s in db.session.scalars(
        select(Statement).where(Statement.round_id == history.id))} == {kept.id, merged.id}
    [entry] = audits("household.merged")
    assert (entry.household_id, entry.actor_id) == (kept.id, w.organiser.id)
    assert '"merged_label": "Flat 2"' in entry.details
    listing = page(client.get(f"/organise/{w.group.id}/households"))
    assert "Merged. Flat 2 is now part of Flat 1." in listing
    assert "Flat 2" not in listing.replace("Merged. Flat 2", "")
    assert [h.id for h in tablet.households(w.group.id)] == [kept.id]


def test_merging_is_refused_while_money_is_owed(client, organiser):
    w = organiser
    kept, merged = w.households
    past_round(w, paid=False)

    shown = page(client.get(url(w, merged, f"/merge?into={kept.id}")))
    assert MONEY in shown and "Yes, merge" not in shown
    response = client.post(url(w, merged, "/merge"), data={"into": kept.id})

    assert response.status_code == 400
    assert MONEY in page(response)
    assert fresh(Household, merged.id).removed_at is None
    assert audits("household.merged") == []


def test_the_merge_page_offers_the_other_households(client, organiser):
    w = organiser
    shown = page(client.get(url(w, w.households[1], "/merge")))
    assert f'<option value="{w.households[0].id}">Flat 1</option>' in shown
    assert client.get(url(w, w.households[1], f"/merge?into={w.households[1].id}")
                      ).status_code == 404


# --- removing --------------------------------------------------------------------------


def test_removing_withdraws_open_orders_and_keeps_the_books(client, organiser):
    w = organiser
    home = w.households[1]
    history = past_round(w, paid=True)
    pledge(w, home, w.round, "Rice", 3)
    version = fresh(Round, w.round.id).pledge_version

    response = client.post(url(w, home, "/remove"), data={"confirm": "yes"})

    assert response.status_code == 303
    assert lines(home.id, w.round.id) == []
    assert fresh(Round, w.round.id).pledge_version > version
    home = fresh(Household, home.id)
    assert home.removed_at is not None and home.label == f"Removed household {home.id}"
    assert db.session.scalar(select(Statement).where(
        Statement.round_id == history.id, Statement.household_id == home.id)) is not None
    assert db.session.scalar(select(Membership).where(
        Membership.user_id == w.residents[1].id)) is None
    [entry] = audits("household.removed")
    assert '"label": "Flat 2"' in entry.details and '"pledges_withdrawn": 1' in entry.details
    listing = page(client.get(f"/organise/{w.group.id}/households"))
    assert "Flat 2 is off the list." in listing and "1 household." in listing
    assert [h.id for h in tablet.households(w.group.id)] == [w.households[0].id]
    assert client.post(url(w, home, "/edit"), data={"label": "x"}).status_code == 404


def _owes(w, home):
    past_round(w, paid=False)


def _owed_back(w, home):
    rnd = past_round(w, paid=True)
    statement = db.session.scalar(select(Statement).where(
        Statement.round_id == rnd.id, Statement.household_id == home.id))
    statement.owed_back_pence = 50
    db.session.commit()


def _kept_for_later(w, home):
    db.session.add(HouseholdCredit(group_id=w.group.id, household_id=home.id,
                                   amount_pence=120, reason="owed_back"))
    db.session.commit()


@pytest.mark.parametrize("money", [_owes, _owed_back, _kept_for_later])
def test_removing_is_refused_while_money_is_owed_either_way(client, organiser, money):
    w = organiser
    home = w.households[1]
    money(w, home)
    pledge(w, home, w.round, "Rice", 3)

    response = client.post(url(w, home, "/remove"), data={"confirm": "yes"})

    assert response.status_code == 400
    assert MONEY in page(response)
    assert fresh(Household, home.id).removed_at is None
    assert len(lines(home.id, w.round.id)) == 1


def test_removing_or_merging_waits_until_a_paid_round_is_finished(client, organiser):
    """Paid, but the delivery is not recorded yet: the bill can still change (money back
    to the household, or more to pay), so the household stays until the round is done."""
    w = organiser
    home, other = w.households[0], w.households[1]
    rnd = past_round(w, paid=True)
    db.session.get(Round, rnd.id).status = "ordered"
    db.session.commit()

    removed = client.post(url(w, home, "/remove"), data={"confirm": "yes"})
    merged = client.post(url(w, home, "/merge"), data={"into": other.id})

    assert removed.status_code == merged.status_code == 400
    assert "not finished yet" in page(removed) and "not finished yet" in page(merged)
    assert fresh(Household, home.id).removed_at is None


def test_removing_needs_the_box_ticked(client, organiser):
    home = organiser.households[1]
    response = client.post(url(organiser, home, "/remove"), data={})
    assert response.status_code == 400
    assert "Tick the box" in page(response)
    assert fresh(Household, home.id).removed_at is None


# --- invite links ----------------------------------------------------------------------


def _token(response) -> str:
    return re.search(r"/invite/household/([\w-]+)", page(response)).group(1)


def test_an_invite_link_makes_an_account_in_that_household(client, auth, staff):
    w = staff
    assisted = tablet.create_assisted_household(w.group, "Flat 9", None, "2468",
                                                actor=w.worker, now=utcnow())
    db.session.commit()
    history = past_round(w, paid=True)
    statement = db.session.scalar(select(Statement).where(Statement.round_id == history.id))
    statement.household_id = assisted.id  # one of its past bills (kept through the join)
    db.session.commit()
    pin_hash = assisted.pin_hash

    response = client.post(url(w, assisted, "/invite"), data={"email": "new@oak.test"})

    assert response.status_code == 200
    shown = page(response)
    assert "This is the only time the link is shown." in shown and "<svg" in shown
    token = _token(response)
    [mail] = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.to_address == "new@oak.test")).all()
    assert f"/invite/household/{token}" in mail.body
    auth.logout()
    assert "Join Flat 9 in Oak Estate" in page(client.get(f"/invite/household/{token}"))

    response = client.post(f"/invite/household/{token}", data={
        "name": "Nia New", "email": "new@oak.test", "password": "password123",
        "password_again": "password123"})

    assert response.status_code == 303
    user = db.session.scalar(select(User).where(User.email == "new@oak.test"))
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert (membership.group_id, membership.role, membership.household_id) == (
        w.group.id, "member", assisted.id)
    assisted = fresh(Household, assisted.id)
    assert assisted.pin_hash == pin_hash and assisted.is_assisted is False
    assert fresh(Statement, statement.id).household_id == assisted.id
    assert "You are part of Flat 9" in page(client.get("/", follow_redirects=True))
    # Used once: the link no longer works, and nothing more is made.
    auth.logout()
    again = client.post(f"/invite/household/{token}", data={
        "name": "Other", "email": "other@oak.test", "password": "password123",
        "password_again": "password123"})
    assert again.status_code == 404
    assert "This invite link has expired, was used already" in page(again)
    assert count(User) == 5


def test_two_different_passwords_are_refused(client, organiser):
    w = organiser
    invite, token = invites.create(w.group, kind="household", actor=w.organiser,
                                   now=utcnow(), household=w.households[0])
    db.session.commit()
    client.post("/logout")
    response = client.post(f"/invite/household/{token}", data={
        "name": "Nia", "email": "nia@oak.test", "password": "password123",
        "password_again": "password124"})
    assert response.status_code == 400
    assert "The two passwords are different." in page(response)
    assert fresh(Invite, invite.id).used_at is None


@pytest.mark.parametrize("how", ["expired", "tampered", "withdrawn"])
def test_a_link_that_no_longer_works_changes_nothing(client, organiser, how):
    w = organiser
    made = utcnow() - (timedelta(days=8) if how == "expired" else timedelta(0))
    invite, token = invites.create(w.group, kind="household", actor=w.organiser, now=made,
                                   household=w.households[0])
    if how == "withdrawn":
        invites.revoke(invite, utcnow())
    db.session.commit()
    if how == "tampered":
        token = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    client.post("/logout")
    users = count(User)

    assert client.get(f"/invite/household/{token}").status_code == 404
    response = client.post(f"/invite/household/{token}", data={
        "name": "Nia", "email": "nia@oak.test", "password": "password123",
        "password_again": "password123"})

    assert response.status_code == 404
    assert "This link does not work" in page(response)
    assert count(User) == users


def test_someone_in_another_household_of_the_group_is_refused(client, auth, organiser):
    w = organiser
    invite, token = invites.create(w.group, kind="household", actor=w.organiser,
                                   now=utcnow(), household=w.households[1])
    db.session.commit()
    auth.logout()
    auth.login(w.residents[0].email)

    response = client.post(f"/invite/household/{token}")

    assert response.status_code == 400
    assert "You are already in another household in Oak Estate." in page(response)
    assert fresh(Invite, invite.id).used_at is None
    membership = db.session.scalar(select(Membership).where(
        Membership.user_id == w.residents[0].id))
    assert membership.household_id == w.households[0].id


def test_a_signed_in_person_from_elsewhere_joins_with_one_button(client, auth, organiser):
    w = organiser
    other = factories.world(name="Elm Estate", prefix="e", open_round=False)
    invite, token = invites.create(w.group, kind="household", actor=w.organiser,
                                   now=utcnow(), household=w.households[1])
    db.session.commit()
    auth.logout()
    auth.login(other.residents[0].email)

    assert client.post(f"/invite/household/{token}").status_code == 303

    membership = db.session.scalar(select(Membership).where(
        Membership.user_id == other.residents[0].id, Membership.group_id == w.group.id))
    assert (membership.role, membership.household_id) == ("member", w.households[1].id)


def test_a_bad_address_for_the_invite_is_shown_next_to_its_field(client, staff):
    home = staff.households[0]
    response = client.post(url(staff, home, "/invite"), data={"email": "not an address"})
    assert response.status_code == 400
    assert f'id="email-{home.id}-error"' in response.get_data(as_text=True)
    assert count(Invite) == 0


# --- who may ---------------------------------------------------------------------------


def test_residents_get_403_workers_may_not_merge_or_remove_other_groups_404(client, auth):
    w = factories.world()
    other = factories.world(name="Elm Estate", prefix="e", open_round=False)
    home, neighbour = w.households
    posts = [("/edit", {"label": "Flat 7"}), ("/merge", {"into": neighbour.id}),
             ("/remove", {"confirm": "yes"}), ("/invite", {})]

    auth.login(w.residents[0].email)
    for action, data in posts:
        assert client.post(url(w, home, action), data=data).status_code == 403, action
    assert client.get(url(w, home, f"/merge?into={neighbour.id}")).status_code == 403

    auth.logout()
    auth.login(w.worker.email)
    assert client.get(url(w, home, f"/merge?into={neighbour.id}")).status_code == 403
    assert client.post(url(w, home, "/remove"), data={"confirm": "yes"}).status_code == 403
    assert "Merge into another household" not in page(
        client.get(f"/organise/{w.group.id}/households"))

    auth.logout()
    auth.login(other.organiser.email)
    for action, data in posts:
        assert client.post(url(w, home, action), data=data).status_code == 404, action
    assert fresh(Household, home.id).label == "Flat 1"
    assert fresh(Household, home.id).removed_at is None
