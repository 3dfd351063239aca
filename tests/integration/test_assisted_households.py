"""Households with no e-mail and no card, set up by staff, who order on the tablet with a PIN.

Staff (organisers and community workers of the group) add them and set or
reset their PINs on the households page; nobody else can.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Household, utcnow
from bulkbuy.services import accounts, tablet
from tests import factories
from tests.pages import count, page

A_PIN = "A PIN is 4 numbers, like 2580."
SCRIPT = '<script>alert("hi")</script>'


def households_url(w: factories.World) -> str:
    return f"/organise/{w.group.id}/households"


def add(client, w, label="Flat 40", block="Birch Block", pin="2468"):
    return client.post(f"{households_url(w)}/assisted",
                       data={"label": label, "block": block, "pin": pin})


def set_pin(client, w, household, pin):
    return client.post(f"{households_url(w)}/{household.id}/pin", data={"pin": pin})


def written() -> dict[str, int]:
    return {"households": count(Household), "audit": count(AuditEntry)}


def audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def fresh(household: Household) -> Household:
    db.session.expire_all()
    return db.session.get(Household, household.id)


@pytest.fixture(params=["organiser", "worker"])
def staff(request, client, auth):
    """Oak Estate, with its organiser or its community worker signed in (both may do it all)."""
    w = factories.world()
    auth.login(getattr(w, request.param).email)
    w.extra["staff"] = getattr(w, request.param)
    return w


def test_staff_add_a_household_with_no_email_that_has_a_hashed_pin(client, staff):
    response = add(client, staff, label="Flat 40", block="Birch Block", pin="2468")

    assert response.status_code == 303
    assert response.headers["Location"] == households_url(staff)
    home = db.session.scalar(select(Household).where(Household.label == "Flat 40"))
    assert (home.group_id, home.block, home.is_assisted) == (staff.group.id, "Birch Block", True)
    assert (home.pin_failed_attempts, home.pin_locked_until) == (0, None)
    assert home.pin_hash.startswith("$argon2id$")  # a salted hash, never the digits
    assert accounts.check_secret(home.pin_hash, "2468")
    actor = staff.extra["staff"].id
    for action in ("household.assisted_created", "pin.set"):
        assert [(e.actor_id, e.household_id, e.group_id) for e in audit(action)] == [
            (actor, home.id, staff.group.id)], action
    shown = page(client.get(households_url(staff)))
    assert "Flat 40 added. They can use the tablet with their PIN." in shown
    assert "Helped by a worker (no e-mail, no card)" in shown


def test_an_added_household_takes_a_turn_on_the_tablet_with_its_pin(client, auth, app):
    w = factories.world()
    auth.login(w.worker.email)
    add(client, w, label="Flat 40", block="", pin="2468")
    home = db.session.scalar(select(Household).where(Household.label == "Flat 40"))
    assert home.block is None  # an empty block is no block

    client.post("/tablet/start", data={"group_id": w.group.id})
    assert "Flat 40" in page(client.get("/tablet/"))
    response = client.post("/tablet/pin", data={"household_id": home.id, "pin": "2468"})
    assert response.status_code == 303 and response.headers["Location"] == "/tablet/order"


@pytest.mark.parametrize("label", ["Flat 1", "flat 1", "  FLAT 1  "])
def test_a_label_already_used_in_the_group_is_refused_and_nothing_is_written(
        client, staff, label):
    before = written()

    response = add(client, staff, label=label)

    assert response.status_code == 400
    assert "There is already a household with that name. Choose another." in page(response)
    assert written() == before


def test_the_same_label_in_another_group_is_fine(client, staff):
    other = factories.world(name="Ash Lane", prefix="ash-")
    tablet.create_assisted_household(other.group, "Flat 40", None, "1357",
                                     actor=other.organiser, now=utcnow())
    db.session.commit()

    assert add(client, staff, label="Flat 40").status_code == 303


def test_a_bad_pin_is_refused_and_nothing_is_written(client, staff):
    before = written()

    for pin in ("12a4", "123", "12345", "", "    ", "12.4", "١٢٣٤"):
        response = add(client, staff, label="Flat 40", pin=pin)

        assert response.status_code == 400, pin
        text = page(response)
        assert A_PIN in text, pin
        assert 'id="label-new" name="label" value="Flat 40"' in text, pin  # kept as typed
        assert 'id="pin-new" name="pin" value=""' in text, pin  # ... but never the PIN
    assert written() == before
    assert db.session.scalar(select(Household).where(Household.label == "Flat 40")) is None


def test_a_bad_label_or_block_is_refused_and_nothing_is_written(client, staff):
    before = written()

    for label, block, message in (
        ("", "", "Enter name"),
        ("   ", "", "Enter name"),
        ("x" * 61, "", "Name must be 60 characters or fewer"),
        ("Flat\n40", "", "Name has characters we cannot use"),
        ("Flat 40", "b" * 61, "Block must be 60 characters or fewer"),
    ):
        response = add(client, staff, label=label, block=block)

        assert response.status_code == 400, label
        assert message in page(response), label
    assert written() == before


def test_html_in_a_label_is_shown_as_text(client, staff):
    assert add(client, staff, label=SCRIPT).status_code == 303

    raw = client.get(households_url(staff)).get_data(as_text=True)
    assert SCRIPT not in raw
    assert f"<h2>{escape(SCRIPT)}</h2>" in raw
    home = db.session.scalar(select(Household).where(Household.is_assisted.is_(True)))
    assert home.label == SCRIPT  # kept as typed; pages escape it


def test_html_in_a_label_is_shown_as_text_on_the_tablet(client, auth):
    w = factories.world()
    tablet.create_assisted_household(w.group, SCRIPT, SCRIPT, "2468", actor=w.worker,
                                     now=utcnow())
    db.session.commit()
    auth.login(w.worker.email)
    client.post("/tablet/start", data={"group_id": w.group.id})

    raw = client.get("/tablet/").get_data(as_text=True)
    assert SCRIPT not in raw
    assert f'class="tile">{escape(SCRIPT)}</button>' in raw


def test_setting_a_new_pin_unlocks_a_locked_household(client, staff):
    home = staff.households[0]
    tablet.set_pin(home, "1111", actor=staff.organiser, now=utcnow())
    home.pin_failed_attempts = 3
    home.pin_locked_until = utcnow() + timedelta(minutes=10)
    db.session.commit()
    old_hash = home.pin_hash
    assert "PIN locked until" in page(client.get(households_url(staff)))

    response = set_pin(client, staff, home, "9753")

    assert response.status_code == 303
    assert response.headers["Location"] == f"{households_url(staff)}#household-{home.id}"
    home = fresh(home)
    assert (home.pin_locked_until, home.pin_failed_attempts) == (None, 0)
    assert home.pin_hash != old_hash and home.pin_hash.startswith("$argon2id$")
    assert accounts.check_secret(home.pin_hash, "9753")
    assert not accounts.check_secret(home.pin_hash, "1111")
    assert [(e.actor_id, e.household_id) for e in audit("pin.set")][-1] == (
        staff.extra["staff"].id, home.id)
    shown = page(client.get(households_url(staff)))
    assert "New PIN set for Flat 1." in shown and "PIN locked until" not in shown


def test_a_household_with_an_account_can_be_given_a_pin_too(client, staff):
    home = staff.households[1]
    assert fresh(home).pin_hash is None

    assert set_pin(client, staff, home, "8642").status_code == 303
    assert accounts.check_secret(fresh(home).pin_hash, "8642")
    assert fresh(home).is_assisted is False


def test_a_bad_new_pin_is_refused_and_the_old_one_and_the_lock_stay(client, staff):
    home = staff.households[0]
    tablet.set_pin(home, "1111", actor=staff.organiser, now=utcnow())
    locked_until = utcnow() + timedelta(minutes=10)
    home.pin_locked_until = locked_until
    db.session.commit()
    old_hash = home.pin_hash
    before = written()

    for pin in ("12a4", "123", "", "12345"):
        response = set_pin(client, staff, home, pin)

        assert response.status_code == 400, pin
        assert A_PIN in page(response), pin
    home = fresh(home)
    assert (home.pin_hash, home.pin_locked_until) == (old_hash, locked_until)
    assert written() == before


def test_another_groups_household_is_not_found(client, staff):
    elm = factories.world(name="Elm Court", prefix="elm-")
    theirs = elm.households[0]
    before = written()

    # Their household under our group's address, and their group's address.
    assert set_pin(client, staff, theirs, "2468").status_code == 404
    assert client.post(f"/organise/{elm.group.id}/households/{theirs.id}/pin",
                       data={"pin": "2468"}).status_code == 404
    assert add(client, elm, label="Flat 40").status_code == 404
    assert client.get(households_url(elm)).status_code == 404
    assert set_pin(client, staff, type("Gone", (), {"id": 999999})(), "2468").status_code == 404

    assert written() == before
    assert fresh(theirs).pin_hash is None


def test_a_resident_cannot_add_households_or_set_pins(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    before = written()

    assert client.get(households_url(w)).status_code == 403
    assert add(client, w, label="Flat 40").status_code == 403
    assert set_pin(client, w, w.households[0], "2468").status_code == 403
    assert set_pin(client, w, w.households[1], "2468").status_code == 403

    assert written() == before
    assert fresh(w.households[0]).pin_hash is None


def test_signed_out_people_are_sent_to_sign_in(client):
    w = factories.world()
    before = written()

    for response in (client.get(households_url(w)), add(client, w),
                     set_pin(client, w, w.households[0], "2468")):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    assert written() == before


def test_a_refused_form_says_error_in_the_page_title(client, staff):
    """docs/pages.md, "Errors": the <title> of a page showing a problem starts "Error: "
    (screen readers announce the title first)."""
    for response in (add(client, staff, label="Flat 1"),
                     add(client, staff, label="Flat 40", pin="12a4"),
                     set_pin(client, staff, staff.households[0], "123")):
        assert response.status_code == 400
        assert "There is a problem" in page(response)
        title = re.search(r"<title>(.*?)</title>", page(response), re.S).group(1)
        assert title.startswith("Error: "), title


# --- a household sets its own PIN (DESIGN: "set in its profile, or by a worker") ----------


def own_pin(client, group_id, pin="2580", again=None, password=factories.PASSWORD):
    return client.post(f"/groups/{group_id}/pin", data={
        "pin": pin, "pin_again": pin if again is None else again, "password": password})


def test_a_resident_sets_their_households_drop_in_pin_with_their_password(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")
    assert "Set your drop-in PIN" in page(client.get("/my-orders"))
    assert "has no PIN yet" in page(client.get(f"/groups/{w.group.id}/pin"))

    response = own_pin(client, w.group.id, "2580")

    assert response.status_code == 303 and response.headers["Location"] == "/my-orders"
    home = db.session.get(Household, w.households[0].id)
    db.session.refresh(home)
    assert home.pin_hash.startswith("$argon2id$") and accounts.check_secret(home.pin_hash, "2580")
    assert [(e.actor_id, e.household_id) for e in audit("pin.set")] == [
        (w.residents[0].id, home.id)]
    assert "Your drop-in PIN is saved." in page(client.get("/my-orders"))


@pytest.mark.parametrize(("typed", "message"), [
    ({"pin": "12a4"}, "A PIN is 4 numbers, like 2580."),
    ({"pin": "123"}, "A PIN is 4 numbers, like 2580."),
    ({"pin": "2580", "again": "2581"}, "The two PINs are not the same. Type it again."),
    ({"pin": "2580", "password": "not-mine"}, "That is not your password."),
])
def test_a_pin_that_is_not_right_is_refused_and_nothing_changes(client, auth, typed, message):
    w = factories.world()
    auth.login("r1@oak.test")
    before = db.session.get(Household, w.households[0].id).pin_hash

    response = own_pin(client, w.group.id, **typed)

    assert response.status_code == 400
    assert message in page(response)
    assert re.search(r"<title>Error:", response.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(Household, w.households[0].id).pin_hash == before
    assert audit("pin.set") == []


def test_only_members_with_a_household_have_a_pin_page(client, auth):
    w = factories.world()
    other = factories.world(name="Elm Court", prefix="elm-")
    auth.login("r1@oak.test")
    assert client.get(f"/groups/{other.group.id}/pin").status_code == 404
    assert own_pin(client, other.group.id).status_code == 404
    auth.login(w.worker.email)  # a worker of the group, with no household of their own
    assert client.get(f"/groups/{w.group.id}/pin").status_code == 404


def test_the_households_page_is_searched_and_paged_in_number_order(client, auth):
    """#13 item 23: a big estate's households are found by name or block, 50 a page,
    "Flat 2" before "Flat 10"; a search that finds nothing says so."""
    w = factories.world(residents=1)
    for number in range(2, 61):
        tablet.create_assisted_household(w.group, f"Flat {number}",
                                         "Birch House" if number % 2 else "Oak House",
                                         "2468", actor=w.organiser, now=utcnow())
    db.session.commit()
    auth.login(w.organiser.email)
    names = lambda response: re.findall(r'<li class="household-row"[^>]*>\s*<h2>(.*?)</h2>',  # noqa: E731
                                        page(response))

    first = client.get(households_url(w))
    assert "60 households." in page(first) and "Page 1 of 2." in page(first)
    assert names(first) == [f"Flat {n}" for n in range(1, 51)]
    assert names(client.get(households_url(w) + "?page=2")) == [
        f"Flat {n}" for n in range(51, 61)]
    assert names(client.get(households_url(w) + "?page=99")) == [
        f"Flat {n}" for n in range(51, 61)]  # past the end: the last page

    found = client.get(households_url(w) + "?q=%20flat%20%205")
    assert names(found) == ["Flat 5", *(f"Flat {n}" for n in range(50, 60))]
    assert "11 households match “flat 5”." in page(found)
    by_block = client.get(households_url(w) + "?q=birch")
    assert names(by_block) == [f"Flat {n}" for n in range(3, 61, 2)]
    none = client.get(households_url(w) + "?q=Elm")
    assert "No household matches." in page(none) and names(none) == []


def test_a_bad_pin_shows_that_household_with_its_message_whatever_page_it_is_on(
        client, auth):
    w = factories.world(residents=1)
    for number in range(2, 61):
        tablet.create_assisted_household(w.group, f"Flat {number}", None, "2468",
                                         actor=w.organiser, now=utcnow())
    db.session.commit()
    auth.login(w.worker.email)
    far = db.session.scalar(select(Household).where(Household.label == "Flat 57"))
    pin_before = far.pin_hash

    response = set_pin(client, w, far, "12")

    assert response.status_code == 400
    text = page(response)
    assert A_PIN in text
    assert f'href="#pin-{far.id}"' in text and f'id="pin-{far.id}"' in text
    assert fresh(far).pin_hash == pin_before
