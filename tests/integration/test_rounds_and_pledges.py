"""Rounds and pledges through the real pages: the queue, the round's life, joining,
importing price lists and the CLI commands."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bulkbuy.demo import DEMO_GROUP
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    Group,
    Household,
    Membership,
    PledgeLine,
    Product,
    Round,
    RoundItem,
    User,
    utcnow,
)
from tests import factories
from tests.pages import count, join_as_new, lines_of, page

LONDON = ZoneInfo("Europe/London")


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def amounts(lines):
    return [(q, t) for _, q, t in lines]


def tomatoes(w):
    return next(i for i in w.round.items if i.name == "Tinned tomatoes")


def pledge(client, w, quantity, tolerance=0):
    return client.post(
        f"/rounds/{w.round.id}/items/{tomatoes(w).id}",
        data={"quantity": str(quantity), "tolerance": str(tolerance)},
    )


def local_input(when: datetime) -> str:
    """A datetime-local field value, in the group's zone (Europe/London)."""
    return when.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


def in_days(days: int, hour: int = 18) -> datetime:
    """`days` from now at `hour`:00 London time, as an aware datetime."""
    return (utcnow() + timedelta(days=days)).astimezone(LONDON).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )


# --- The pledge queue -------------------------------------------------------------------------

def test_raising_a_pledge_adds_a_line_at_the_back_of_the_queue(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    pledge(client, w, 3)
    auth.login("r2@oak.test")
    pledge(client, w, 2)
    auth.login("r1@oak.test")

    assert pledge(client, w, 5).status_code == 303

    mine = lines_of(w.households[0].id)
    [(neighbour_pos, _, _)] = lines_of(w.households[1].id)
    assert amounts(mine) == [(3, 0), (2, 0)]
    first_pos, added_pos = mine[0][0], mine[1][0]
    assert first_pos < neighbour_pos < added_pos  # the first 3 keep their place
    assert "You want 5 of" in page(client.get(f"/rounds/{w.round.id}"))


def test_lowering_a_pledge_trims_the_newest_lines_first(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    pledge(client, w, 3, 1)
    pledge(client, w, 5, 2)  # a second line (2, 1)
    [(first_pos, _, _), (second_pos, _, _)] = lines_of(w.households[0].id)

    pledge(client, w, 4, 2)
    assert lines_of(w.households[0].id) == [(first_pos, 3, 1), (second_pos, 1, 1)]

    pledge(client, w, 4, 1)  # less tolerance: taken from the newest line too
    assert lines_of(w.households[0].id) == [(first_pos, 3, 1), (second_pos, 1, 0)]

    pledge(client, w, 2, 1)  # the newest line goes; the oldest keeps its place
    assert lines_of(w.households[0].id) == [(first_pos, 2, 1)]


def test_withdrawing_to_nothing_removes_every_line(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    pledge(client, w, 3, 1)
    pledge(client, w, 6, 2)

    response = pledge(client, w, 0, 0)

    assert response.status_code == 303
    assert lines_of(w.households[0].id) == []
    round_page = page(client.get(f"/rounds/{w.round.id}"))
    assert "You do not want any" in round_page
    assert "No orders yet" in round_page


def test_pledge_changes_are_audited_with_who_and_for_which_household(client, auth):
    w = factories.world()
    item = tomatoes(w)
    auth.login("r1@oak.test")

    pledge(client, w, 4, 1)
    pledge(client, w, 2, 0)
    pledge(client, w, 2, 0)  # no change: nothing to log

    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "pledge.changed").order_by(AuditEntry.id)
    ).all()
    assert len(entries) == 2
    for entry in entries:
        assert entry.actor_id == w.residents[0].id
        assert entry.household_id == w.households[0].id
        assert entry.group_id == w.group.id
        assert (entry.subject_type, entry.subject_id) == ("RoundItem", item.id)
    assert json.loads(entries[0].details) == {
        "before": {"quantity": 0, "tolerance": 0}, "after": {"quantity": 4, "tolerance": 1},
    }
    assert json.loads(entries[1].details) == {
        "before": {"quantity": 4, "tolerance": 1}, "after": {"quantity": 2, "tolerance": 0},
    }


# --- An organiser's round ---------------------------------------------------------------------

def round_form(w, closes_at: datetime, **changes) -> dict:
    data = {
        "title": "Spring stock-up",
        "products": [str(p.id) for p in w.products],
        "closes_at": local_input(closes_at),
        "opens_at": "",
        "delivery_fee": "2.50",
        "min_order": "40",
        "fee_split": "equal",
        "allocation_mode": "pro_rata",
        "collection_place": "Community hall",
        "collection_time": "Saturday 10am to 12pm",
        "notes": "Bring a bag",
    }
    data.update(changes)
    return data


def organiser_creates_round(client, w, closes_at, **changes) -> Round:
    response = client.post(
        f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}",
        data=round_form(w, closes_at, **changes),
    )
    assert response.status_code == 303, page(response)
    db.session.expire_all()
    return db.session.scalars(select(Round).order_by(Round.id.desc())).first()


def test_an_organiser_saves_a_new_round_as_a_draft_with_what_they_chose(client, auth):
    w = factories.world(open_round=False)
    closes_at = in_days(10)
    auth.login("org@oak.test")

    rnd = organiser_creates_round(client, w, closes_at)

    assert rnd.status == "draft"
    assert rnd.title == "Spring stock-up"
    assert rnd.closes_at == closes_at  # typed in London time, stored as the same instant
    assert (rnd.delivery_fee_pence, rnd.min_order_pence) == (250, 4000)
    assert (rnd.fee_split, rnd.allocation_mode) == ("equal", "pro_rata")
    assert (rnd.collection_place, rnd.collection_time, rnd.notes) == (
        "Community hall", "Saturday 10am to 12pm", "Bring a bag",
    )
    assert rnd.created_by_id == w.organiser.id
    assert sorted((i.name, i.case_size, i.case_price_pence) for i in rnd.items) == [
        ("Rice", 25, 3150), ("Tinned tomatoes", 12, 1000),
    ]
    dashboard = page(client.get(f"/organise/{w.group.id}"))
    assert "Spring stock-up" in dashboard
    assert "Not open yet" in dashboard


def test_residents_see_a_draft_round_only_once_the_organiser_opens_it(client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    rnd = organiser_creates_round(client, w, in_days(10))
    auth.login("r1@oak.test")
    assert client.get(f"/rounds/{rnd.id}").status_code == 404

    auth.login("org@oak.test")
    response = client.post(f"/organise/{w.group.id}/rounds/{rnd.id}/open")
    assert response.status_code == 303
    assert "The round is open." in page(client.get(response.headers["Location"]))
    assert fresh(Round, rnd.id).status == "open"

    auth.login("r1@oak.test")
    assert "Spring stock-up" in page(client.get("/"))
    round_page = page(client.get(f"/rounds/{rnd.id}"))
    assert "Order by" in round_page


def test_an_organiser_extends_the_deadline_of_an_open_round(client, auth):
    w = factories.world(closes_in=timedelta(days=2))
    auth.login("org@oak.test")
    later = in_days(6)

    response = client.post(f"/rounds/{w.round.id}/extend", data={"closes_at": local_input(later)})

    assert response.status_code == 303
    assert "The new closing time is saved." in page(client.get(response.headers["Location"]))
    assert fresh(Round, w.round.id).closes_at == later


def test_a_deadline_can_only_move_later(client, auth):
    w = factories.world(closes_in=timedelta(days=5))
    before = w.round.closes_at
    auth.login("org@oak.test")

    response = client.post(
        f"/rounds/{w.round.id}/extend", data={"closes_at": local_input(in_days(1))}
    )

    assert response.status_code == 400
    assert "Choose a closing time later than the current one." in page(response)
    assert fresh(Round, w.round.id).closes_at == before


def test_an_organiser_cancels_a_round_and_then_nobody_can_order(client, auth):
    w = factories.world()
    auth.login("org@oak.test")

    response = client.post(f"/rounds/{w.round.id}/cancel")

    assert response.status_code == 303
    assert "The round is cancelled. Nobody will pay for it." in page(
        client.get(response.headers["Location"])
    )
    assert fresh(Round, w.round.id).status == "cancelled"
    auth.login("r1@oak.test")
    assert pledge(client, w, 2).status_code == 409
    assert count(PledgeLine) == 0


# --- A resident's round -----------------------------------------------------------------------

def test_the_organiser_sets_the_payment_window_and_it_is_3_days_unless_they_do(
        client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")

    usual = organiser_creates_round(client, w, in_days(10))
    longer = organiser_creates_round(client, w, in_days(10), title="Later", payment_days="7")

    assert (usual.payment_days, longer.payment_days) == (3, 7)
    assert usual.pay_by is None  # until it closes
    usual.closed_at = usual.closes_at
    assert usual.pay_by == usual.closes_at + timedelta(days=3)


def test_a_payment_window_that_is_not_1_to_30_days_is_refused_and_nothing_is_saved(
        client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    before = count(Round)

    for typed in ("0", "31", "x", "2.5", "-3"):
        response = client.post(
            f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}",
            data=round_form(w, in_days(10), payment_days=typed))

        assert response.status_code != 303, typed  # the form again, with the message
        assert "Enter a number of days from 1 to 30, like 3" in page(response), typed
    assert count(Round) == before


def resident_starts_round(client, w, title="Rice for the block") -> tuple[Round, str]:
    response = client.post(
        f"/groups/{w.group.id}/rounds/new?supplier={w.supplier.id}",
        data={
            "title": title,
            "products": [str(w.products[1].id)],
            "closes_at": local_input(in_days(4)),
            "collection_place": "Flat 1",
        },
    )
    assert response.status_code == 303, page(response)
    db.session.expire_all()
    rnd = db.session.scalar(select(Round).where(Round.title == title))
    return rnd, page(client.get(response.headers["Location"]))


def test_a_resident_opens_a_round_from_the_catalogue_and_it_opens_at_once(client, auth):
    w = factories.world(open_round=False)
    auth.login("r1@oak.test")

    rnd, shown = resident_starts_round(client, w)

    assert rnd.status == "open"
    assert rnd.created_by_id == w.residents[0].id
    assert [i.name for i in rnd.items] == ["Rice"]
    assert "Your round is open. Tell your neighbours!" in shown
    auth.login("r2@oak.test")
    response = client.post(
        f"/rounds/{rnd.id}/items/{rnd.items[0].id}", data={"quantity": "5", "tolerance": "0"}
    )
    assert response.status_code == 303


def test_changing_the_groups_settings_is_audited_once_per_change(client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")

    for _ in range(2):  # the same value saved twice is one change
        client.post(f"/organise/{w.group.id}/settings", data={"require_round_approval": "y"})
    client.post(f"/organise/{w.group.id}/settings", data={})

    changes = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "group.settings_changed").order_by(AuditEntry.id)).all()
    assert [(e.actor_id, e.group_id) for e in changes] == [(w.organiser.id, w.group.id)] * 2
    assert [(json.loads(e.details)["before"], json.loads(e.details)["after"])
            for e in changes] == [
        (False, True), (True, False)]
    assert fresh(Group, w.group.id).require_round_approval is False


def test_a_residents_round_waits_for_approval_when_the_group_asks_for_it(client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    client.post(f"/organise/{w.group.id}/settings", data={"require_round_approval": "y"})
    assert fresh(Group, w.group.id).require_round_approval is True

    auth.login("r1@oak.test")
    rnd, shown = resident_starts_round(client, w)
    assert rnd.status == "pending_approval"
    assert "Your round is waiting for an organiser to approve it." in shown
    auth.login("r2@oak.test")
    assert client.get(f"/rounds/{rnd.id}").status_code == 404

    auth.login("org@oak.test")
    dashboard = page(client.get(f"/organise/{w.group.id}"))
    assert "Approve and open" in dashboard
    client.post(f"/organise/{w.group.id}/rounds/{rnd.id}/open")
    assert fresh(Round, rnd.id).status == "open"

    auth.login("r2@oak.test")
    assert client.get(f"/rounds/{rnd.id}").status_code == 200


def test_the_resident_who_opened_a_round_may_extend_or_cancel_it_and_others_may_not(
    client, auth
):
    w = factories.world(open_round=False)
    auth.login("r1@oak.test")
    rnd, _ = resident_starts_round(client, w)
    deadline = rnd.closes_at
    later = in_days(8)

    auth.login("r2@oak.test")
    assert client.post(
        f"/rounds/{rnd.id}/extend", data={"closes_at": local_input(later)}
    ).status_code == 403
    assert client.post(f"/rounds/{rnd.id}/cancel").status_code == 403
    assert "Cancel this round" not in page(client.get(f"/rounds/{rnd.id}"))
    after = fresh(Round, rnd.id)
    assert (after.status, after.closes_at) == ("open", deadline)

    auth.login("r1@oak.test")
    assert client.post(
        f"/rounds/{rnd.id}/extend", data={"closes_at": local_input(later)}
    ).status_code == 303
    assert fresh(Round, rnd.id).closes_at == later
    assert client.post(f"/rounds/{rnd.id}/cancel").status_code == 303
    assert fresh(Round, rnd.id).status == "cancelled"


def test_after_close_the_resident_who_opened_it_can_no_longer_extend_or_cancel(client, auth):
    w = factories.world(open_round=False)
    auth.login("r1@oak.test")
    rnd, _ = resident_starts_round(client, w)
    deadline = rnd.closes_at
    db.session.execute(update(Round).where(Round.id == rnd.id).values(status="closed"))
    db.session.commit()

    extended = client.post(
        f"/rounds/{rnd.id}/extend", data={"closes_at": local_input(in_days(8))}
    )
    assert extended.status_code == 400
    assert "This round has closed, so its deadline cannot change." in page(extended)

    cancelled = client.post(f"/rounds/{rnd.id}/cancel")
    assert cancelled.status_code == 303
    assert "This round has closed. Only an organiser can deal with it now." in page(
        client.get(cancelled.headers["Location"])
    )
    after = fresh(Round, rnd.id)
    assert (after.status, after.closes_at) == ("closed", deadline)


# --- The round keeps its own copy of the products ---------------------------------------------

def test_editing_a_product_after_the_round_opened_does_not_change_the_round(client, auth):
    w = factories.world()
    product = next(p for p in w.products if p.name == "Tinned tomatoes")
    auth.login("org@oak.test")

    response = client.post(
        f"/organise/{w.group.id}/suppliers/{w.supplier.id}/products/{product.id}",
        data={"name": "Chopped tomatoes", "unit_description": "400g tin", "case_size": "24",
              "case_price": "30.00"},
    )
    assert response.status_code == 303
    assert fresh(Product, product.id).case_size == 24

    item = fresh(RoundItem, tomatoes(w).id)
    assert (item.name, item.case_size, item.case_price_pence) == ("Tinned tomatoes", 12, 1000)
    auth.login("r1@oak.test")
    round_page = page(client.get(f"/rounds/{w.round.id}"))
    assert "Tinned tomatoes" in round_page
    assert "case of 12" in round_page
    assert "Chopped tomatoes" not in round_page


def test_a_draft_round_takes_the_prices_of_the_day_it_opens(client, auth):
    w = factories.world(open_round=False)
    product = next(p for p in w.products if p.name == "Tinned tomatoes")
    auth.login("org@oak.test")
    rnd = organiser_creates_round(client, w, in_days(10))

    client.post(
        f"/organise/{w.group.id}/suppliers/{w.supplier.id}/products/{product.id}",
        data={"name": "Tinned tomatoes", "unit_description": "400g tin", "case_size": "12",
              "case_price": "11.00"},
    )
    client.post(f"/organise/{w.group.id}/rounds/{rnd.id}/open")

    item = db.session.scalar(
        select(RoundItem).where(RoundItem.round_id == rnd.id, RoundItem.product_id == product.id)
    )
    assert item.case_price_pence == 1100


# --- My orders --------------------------------------------------------------------------------

def test_my_orders_shows_the_most_it_can_cost_and_the_likely_cost(client, auth):
    """Tins: a box of 12 for £10. Delivery £3, shared by value. Flat 1 wants 6 and would
    take 2 more; Flat 2 wants 6, so one box fills and each gets 6.

    Likely for Flat 1: half the box (£5) + half the delivery (£1.50) = £6.50.
    Most for Flat 1: 8 tins at 83⅓p = £6.666… rounded up to £6.67, + the whole £3 = £9.67.
    """
    w = factories.world()
    db.session.execute(
        update(Round).where(Round.id == w.round.id).values(delivery_fee_pence=300)
    )
    db.session.commit()
    auth.login("r1@oak.test")
    pledge(client, w, 6, 2)
    auth.login("r2@oak.test")
    pledge(client, w, 6, 0)
    auth.login("r1@oak.test")

    shown = page(client.get("/my-orders"))

    assert "Likely cost if the round closed now: £6.50" in shown
    assert "The most it can cost: £9.67" in shown
    assert "6 (+2 to fill a case)" in shown


def test_my_orders_is_empty_for_a_household_that_has_not_ordered(client, auth):
    factories.world()
    auth.login("r1@oak.test")

    assert "You have not ordered anything in an open round." in page(client.get("/my-orders"))


# --- Joining a group --------------------------------------------------------------------------

def join(client, code, household="Flat 9", email="nia@oak.test"):
    return client.post(
        f"/join/{code}",
        data={"name": "Nia", "household": household, "email": email, "password": "password123"},
    )


def test_joining_with_an_invite_code_makes_a_household_and_a_membership(client):
    w = factories.world(open_round=False)
    typed = " " + w.group.invite_code.lower() + " "

    found = client.post("/join", data={"code": typed})
    assert found.status_code == 302
    assert found.headers["Location"].endswith(f"/join/{w.group.invite_code}")
    joined = join_as_new(client, w.group.invite_code)

    assert joined.status_code == 303
    assert f"Welcome to {w.group.name}." in page(client.get(joined.headers["Location"]))
    user = db.session.scalar(select(User).where(User.email == "nia@oak.test"))
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership.group_id == w.group.id
    assert membership.role == "member"
    assert membership.household.label == "Flat 9"
    assert membership.household.group_id == w.group.id


def test_an_unknown_invite_code_gets_a_message(client):
    factories.world(open_round=False)

    response = client.post("/join", data={"code": "NOTACODE"})

    assert response.status_code == 200
    assert "We do not know that code." in page(response)


def test_a_household_name_already_on_the_list_is_refused(client):
    w = factories.world(open_round=False)
    users_before, homes_before = count(User), count(Household)

    response = join(client, w.group.invite_code, household="flat 1")

    assert response.status_code == 200
    assert "That name is already on the list." in page(response)
    assert (count(User), count(Household)) == (users_before, homes_before)
    assert client.get("/").status_code == 302  # not signed in


def test_a_new_invite_code_makes_the_old_one_stop_working(client, auth):
    w = factories.world(open_round=False)
    old = w.group.invite_code
    auth.login("org@oak.test")

    client.post(f"/organise/{w.group.id}/invite/reset")

    new = fresh(Group, w.group.id).invite_code
    assert new != old
    auth.logout()
    assert client.get(f"/join/{old}").status_code == 404
    assert join(client, old).status_code == 404
    assert client.get(f"/join/{new}").status_code == 200
    assert count(User) == 4


# --- Importing a price list -------------------------------------------------------------------

def import_csv(client, w, text: str):
    return client.post(
        f"/organise/{w.group.id}/suppliers/{w.supplier.id}/import",
        data={"file": (io.BytesIO(text.encode()), "prices.csv")},
        content_type="multipart/form-data",
    )


def products_by_id(w) -> dict[int, tuple]:
    db.session.expire_all()
    return {
        p.id: (p.name, p.case_size, p.case_price_pence, p.supplier_code)
        for p in db.session.scalars(select(Product).where(Product.supplier_id == w.supplier.id))
    }


def test_a_good_price_list_imports_matching_by_code_then_by_name(client, auth):
    w = factories.world(open_round=False)
    tomatoes_id = next(p.id for p in w.products if p.name == "Tinned tomatoes")
    rice_id = next(p.id for p in w.products if p.name == "Rice")
    auth.login("org@oak.test")

    first = import_csv(client, w, (
        "name,unit,case_size,case_price,retail_price,code\n"
        "Tinned tomatoes,400g tin,24,11.50,0.65,TOM24\n"
        "Chickpeas,400g tin,12,7.20,,CHK12\n"
    ))
    assert first.status_code == 303
    assert "Imported: 1 new, 1 updated." in page(client.get(first.headers["Location"]))

    second = import_csv(client, w, (
        "name,unit,case_size,case_price,code\n"
        "Chopped tomatoes,400g tin,24,10.56,TOM24\n"  # same code: the same product, renamed
        "RICE,1kg of rice,25,32.00,\n"  # no code: matched by name
    ))
    assert second.status_code == 303
    assert "Imported: 0 new, 2 updated." in page(client.get(second.headers["Location"]))

    products = products_by_id(w)
    assert len(products) == 3
    assert products[tomatoes_id] == ("Chopped tomatoes", 24, 1056, "TOM24")
    assert products[rice_id] == ("RICE", 25, 3200, None)
    assert ("Chickpeas", 12, 720, "CHK12") in products.values()


def test_a_price_list_with_bad_rows_names_each_line_and_imports_nothing(client, auth):
    w = factories.world(open_round=False)
    auth.login("org@oak.test")
    before = products_by_id(w)

    response = import_csv(client, w, (
        "name,unit,case_size,case_price\n"
        "Red lentils,1kg bag,10,18.90\n"
        "Porridge oats,1kg bag,0,12.90\n"
        "Plain flour,1.5kg bag,10,abc\n"
        "Rice,1kg,25,40.00\n"
    ))

    assert response.status_code == 400
    shown = page(response)
    assert "Nothing was imported" in shown
    assert "Line 3: Case size must be at least 1" in shown
    assert "Line 4: Enter an amount in pounds, like 12.50" in shown
    assert "Line 2:" not in shown and "Line 5:" not in shown
    assert products_by_id(w) == before


# --- Commands ---------------------------------------------------------------------------------

def totals() -> tuple[int, ...]:
    return tuple(count(m) for m in (Group, User, Household, Product, Round, PledgeLine))


def test_seed_demo_creates_the_demo_once(runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo data created." in first.output
    after_first = totals()
    assert db.session.scalar(select(Group.name)) == DEMO_GROUP
    assert after_first[0] == 1

    second = runner.invoke(args=["seed-demo"])

    assert second.exit_code == 0, second.output
    assert "Demo data already there; nothing added." in second.output
    assert totals() == after_first


def test_create_admin_makes_a_site_admin_who_can_manage_groups(runner, client, auth):
    result = runner.invoke(
        args=["create-admin", "--email", "Ada@Example.org", "--name", "Ada",
              "--password", "long-enough-pw"],
    )

    assert result.exit_code == 0, result.output
    assert "ada@example.org is a site admin." in result.output
    user = db.session.scalar(select(User).where(User.email == "ada@example.org"))
    assert user.is_site_admin is True
    auth.login("ada@example.org", "long-enough-pw")
    assert client.get("/admin/groups").status_code == 200


def test_create_admin_refuses_a_short_password(runner):
    result = runner.invoke(
        args=["create-admin", "--email", "ada@example.org", "--name", "Ada",
              "--password", "short"],
    )

    assert result.exit_code != 0
    assert "Use a password of at least 8 characters." in result.output
    assert count(User) == 0


def test_create_admin_promotes_an_existing_user(runner):
    factories.world(open_round=False)

    result = runner.invoke(
        args=["create-admin", "--email", "r1@oak.test", "--name", "Resident 1",
              "--password", "whatever-it-is"],
    )

    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "r1@oak.test"))
    assert user.is_site_admin is True
