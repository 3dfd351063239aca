"""What a new user tripped over (#13): forms that keep what was typed, the stepper acting on
the box, the words of a cancelled round, "case" for the supplier's case, dates and
the rule for how soon a round may close."""

from __future__ import annotations

import re
from datetime import timedelta

from bulkbuy.extensions import db
from bulkbuy.models import utcnow
from tests import factories


def _value_of(html: str, field_id: str) -> str:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', html).group(0)
    found = re.search(r'value="([^"]*)"', tag)
    return found.group(1) if found else ""


def _tomatoes(w):
    return next(i for i in w.round.items if i.name == "Tinned tomatoes")   # 12 a case, £10


# --- 1. the round form keeps its times after an error --------------------------------------


def test_the_round_form_keeps_its_times_after_an_error(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    closes = "2026-12-12T18:00"
    opens = "2026-12-10T09:30"
    url = f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}"
    form = {"title": "", "products": [str(w.products[0].id)], "closes_at": closes,
            "opens_at": opens, "fee_split": "by_value", "allocation_mode": "first_come",
            "payment_days": "0"}
    html = client.post(url, data=form).get_data(as_text=True)
    assert "Enter a number of days" in html
    assert _value_of(html, "closes_at") == closes
    assert _value_of(html, "opens_at") == opens

    auth.logout()
    auth.login(w.residents[0].email)
    html = client.post(f"/groups/{w.group.id}/rounds/new?supplier={w.supplier.id}",
                       data={"title": "", "products": [str(w.products[0].id)],
                             "closes_at": closes}).get_data(as_text=True)
    assert _value_of(html, "closes_at") == closes


# --- 2. − and + act on the number in the box --------------------------------------------


def test_plus_and_minus_act_on_the_typed_quantity_and_a_resent_tap_is_harmless(client, auth):
    from bulkbuy.services import residents

    w = factories.world()
    auth.login(w.residents[0].email)
    item = w.round.items[0]
    url = f"/rounds/{w.round.id}/items/{item.id}"

    def saved() -> int:
        db.session.expire_all()
        board = residents.round_contents(w.round, w.households[0].id)
        return next(v.my_quantity for v in board.items if v.item.id == item.id)

    plus = {"quantity": "5", "tolerance": "0", "step": "1"}
    assert client.post(url, data=plus).status_code == 303
    assert saved() == 6
    client.post(url, data=plus)                        # the same tap sent again
    assert saved() == 6
    client.post(url, data={"quantity": "9", "tolerance": "0", "step": "-1"})
    assert saved() == 8
    client.post(url, data={"quantity": "0", "tolerance": "0", "step": "-1"})
    assert saved() == 0
    client.post(url, data={"quantity": "", "tolerance": "0", "step": "1"})
    assert saved() == 1
    bad = client.post(url, data={"quantity": "lots", "tolerance": "0", "step": "1"})
    assert bad.status_code == 400 and saved() == 1
    page = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert 'name="step" value="1"' in page and 'name="step" value="-1"' in page
    assert "set_quantity" not in page


# --- 20. a resident's round is open a day at least; no "last day" for a short round --------


def test_a_resident_round_must_stay_open_a_day_an_organisers_may_be_shorter(client, auth):
    from sqlalchemy import func, select

    from bulkbuy.models import Round

    w = factories.world(open_round=False)
    auth.login(w.residents[0].email)
    rounds_before = db.session.scalar(select(func.count(Round.id)))
    soon = (utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/groups/{w.group.id}/rounds/new?supplier={w.supplier.id}",
                           data={"title": "Quick rice", "products": [str(w.products[0].id)],
                                 "closes_at": soon})
    html = response.get_data(as_text=True)
    assert "at least a day to order" in html
    assert db.session.scalar(select(func.count(Round.id))) == rounds_before

    auth.logout()
    auth.login(w.organiser.email)
    response = client.post(f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}",
                           data={"title": "Quick rice", "products": [str(w.products[0].id)],
                                 "closes_at": soon, "fee_split": "by_value",
                                 "allocation_mode": "first_come", "payment_days": "3"})
    assert response.status_code == 303
    assert db.session.scalar(select(func.count(Round.id))) == rounds_before + 1


def test_no_last_day_reminder_for_a_round_that_opened_less_than_a_day_before_it_closes(app):
    from bulkbuy.services import notifications, rounds

    now = utcnow()
    short = factories.world(closes_in=timedelta(hours=10), now=now)
    long_ = factories.world(name="Elm Court", closes_in=timedelta(hours=30),
                            now=now - timedelta(hours=8))
    assert notifications.queue_reminders(now) == 1
    db.session.expire_all()
    assert short.round.reminder_queued_at is None
    assert long_.round.reminder_queued_at is not None
    # A draft made long ago but opened late counts from when it opened.
    late = rounds.create_round(
        short.group, short.supplier, short.products,
        rounds.RoundDetails(title="Late", closes_at=now + timedelta(hours=5)),
        created_by=short.organiser, now=now - timedelta(days=3))
    rounds.open_round(late, actor=short.organiser, now=now - timedelta(hours=1))
    db.session.commit()
    assert notifications.queue_reminders(now) == 0


# --- 6. a cancelled round says what happens to money paid, and shows no collection ---------


def test_a_cancelled_round_says_money_paid_comes_back_and_hides_the_collection(client, auth):
    from bulkbuy.services import pledges, rounds

    w = factories.world()
    w.round.collection_place = "the community hall"
    pledges.set_pledge(w.round.items[0], w.households[0], 2, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=99)
    db.session.commit()
    auth.login(w.residents[0].email)
    assert "Collect from:" in client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    rounds.cancel_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()
    html = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert "This round was cancelled." in html
    assert "goes back to your card" in html and "hands back cash" in html
    assert "Collect from:" not in html and "community hall" not in html


# --- 16. no likely cost for a round below its minimum ---------------------------------------


def test_my_orders_says_a_round_below_its_minimum_would_not_go_ahead(client, auth):
    from bulkbuy.services import pledges

    w = factories.world()
    w.round.min_order_pence = 5000
    pledges.set_pledge(_tomatoes(w), w.households[0], 12, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=99)   # one case of tomatoes: £10.00
    db.session.commit()
    auth.login(w.residents[0].email)
    html = client.get("/my-orders").get_data(as_text=True)
    assert "Likely cost" not in html
    assert ("If orders closed now the round would not go ahead: it needs £40 more of "
            "orders.") in html
    w.round.min_order_pence = 1000
    db.session.commit()
    assert "Likely cost if the round closed now: £10" in (
        client.get("/my-orders").get_data(as_text=True))


# --- 18. sentences about paying keep their spaces -----------------------------------------


def test_pay_by_and_the_card_note_are_separate_sentences_on_the_home_page(client, auth):
    from sqlalchemy import select, update

    from bulkbuy.models import Round, Statement
    from bulkbuy.services import closing, pledges

    w = factories.world()
    pledges.set_pledge(_tomatoes(w), w.households[0], 12, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=99)
    db.session.execute(update(Round).where(Round.id == w.round.id)
                       .values(closes_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    closing.close_round(w.round.id, utcnow())
    db.session.execute(update(Statement).where(Statement.round_id == w.round.id)
                       .values(payment_status="needs_action"))
    db.session.commit()
    assert db.session.scalar(select(Statement.id).where(Statement.round_id == w.round.id))
    auth.login(w.residents[0].email)
    html = client.get("/").get_data(as_text=True)
    assert "Please pay by" in html
    assert re.search(r"you still owe £10\.\s+Please pay by [^<]*\.\s+<strong>Your card", html)
    mine = client.get("/my-orders").get_data(as_text=True)  # the closed round's card there
    assert re.search(r"Please pay by [^<]*\.\s+<strong>Your card payment needs you", mine)
    assert not re.search(r"\.(Please|<strong>Your)", mine)


# --- 15. midnight, midday, and the year when a date is far off ------------------------------


def test_dates_say_midnight_and_midday_and_the_year_when_far_off(app):
    from datetime import UTC, datetime

    from bulkbuy.formatting import when

    today = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert when(datetime(2027, 1, 4, 0, 0, tzinfo=UTC), "Europe/London", today) == (
        "Monday 4 January, midnight")
    assert when(datetime(2026, 12, 12, 12, 0, tzinfo=UTC), "Europe/London", today) == (
        "Saturday 12 December, midday")
    assert when(datetime(2026, 12, 12, 18, 30, tzinfo=UTC), "Europe/London", today) == (
        "Saturday 12 December, 6:30pm")
    assert when(datetime(2027, 12, 10, 18, 0, tzinfo=UTC), "Europe/London", today) == (
        "Friday 10 December 2027, 6pm")
    assert when(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), "Europe/London", today) == (
        "Tuesday 10 March 2026, 9am")
    assert when(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), "Europe/London",
                datetime(2026, 4, 1, tzinfo=UTC)) == "Tuesday 10 March, 9am"


# --- 21. an organiser with no supplier yet is given the link to add one ----------------------


def test_with_no_supplier_an_organiser_gets_a_link_to_add_one_a_resident_is_told_to_ask(
    client, auth
):
    from bulkbuy.services import accounts

    organiser = factories.user("org@birch.test", "Olive Organiser")
    group = accounts.create_group("Birch Row", "Europe/London", organiser, actor=None)
    resident = factories.user("r1@birch.test", "Resident 1")
    accounts.join_group(group, resident, "Flat 1")
    db.session.commit()
    add = f'href="/organise/{group.id}/suppliers/new"'
    auth.login(organiser.email)
    for url in (f"/organise/{group.id}/rounds/new", f"/groups/{group.id}/rounds/new"):
        html = client.get(url).get_data(as_text=True)
        assert add in html and "Ask an organiser" not in html
    auth.logout()
    auth.login(resident.email)
    html = client.get(f"/groups/{group.id}/rounds/new").get_data(as_text=True)
    assert "Ask an organiser to add one." in html and add not in html


# --- 14. "case" for the supplier's case -------------------------------------------------


def test_our_words_say_case_for_the_suppliers_case(client, auth):
    w = factories.world()
    auth.login(w.residents[0].email)
    html = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert "case of 12" in html and "No orders yet — 12 fill a case" in html
    assert "Help fill a case" in html
    assert not re.search(r"\bbox(es)?\b", html.replace("checkbox", ""))
    auth.logout()
    auth.login(w.organiser.email)
    form = client.get(f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}")
    text = form.get_data(as_text=True)
    assert "Tinned tomatoes (unit, case of 12)" in text and "When a case is short" in text
