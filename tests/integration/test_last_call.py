"""Last call to fill a box (#16): a day before a round closes, a box one or two units short
is called out once, by e-mail to the households that ordered it or would take more, each
in its language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import Household, LastCall, OutboxMessage, User
from bulkbuy.services import last_call, pledges
from tests import factories
from tests.pages import count

T0 = datetime(2027, 3, 10, 9, tzinfo=UTC)
DEADLINE = T0 + timedelta(days=3)
DAY_BEFORE = DEADLINE - timedelta(hours=20)


def tins_world(residents=4):
    # Tinned tomatoes: 12 a case for £10 (84p each; 93p with no shop price set below).
    w = factories.world(residents=residents, now=T0, closes_in=DEADLINE - T0)
    tins = next(i for i in w.round.items if i.name == "Tinned tomatoes")
    tins.retail_price_pence = 92
    db.session.commit()
    return w, tins


def pledge(w, n, item, quantity, tolerance=0):
    pledges.set_pledge(item, w.households[n], quantity, tolerance, entered_by=w.residents[n],
                       now=T0, max_units=100)
    db.session.commit()


def mail(prefix="last-call:"):
    db.session.expire_all()
    return {m.to_address: m for m in db.session.scalars(select(OutboxMessage))
            if m.key.startswith(prefix)}


def test_a_box_two_short_is_called_once_to_who_ordered_or_would_take_more(app):
    w, tins = tins_world()
    pledge(w, 0, tins, 6)
    pledge(w, 1, tins, 4)
    # Flats 3 and 4 ordered nothing.
    # Two days before: nothing yet.
    assert sweeps.sweep_last_calls(DEADLINE - timedelta(days=2)) == 0
    assert count(LastCall) == 0

    assert sweeps.sweep_last_calls(DAY_BEFORE) == 1
    call = db.session.scalar(select(LastCall))
    assert (call.round_item_id, call.units_short, call.saving_per_unit_pence) == (
        tins.id, 2, 92 - 83)
    sent = mail()
    assert sorted(sent) == ["r1@oak.test", "r2@oak.test"]
    body = sent["r1@oak.test"].body
    assert sent["r1@oak.test"].subject == "Tinned tomatoes: 2 more fill a box"
    assert "Test round: 2 more Tinned tomatoes (unit) fill a box." in body
    assert "each costs £0.83, not £0.92 in the shop: it saves everyone £0.09 on each one" in body
    assert "/rounds/" in body

    # Again, and again later: never twice.
    assert sweeps.sweep_last_calls(DAY_BEFORE + timedelta(minutes=5)) == 0
    assert sweeps.sweep_last_calls(DEADLINE - timedelta(hours=1)) == 0
    assert count(LastCall) == 1
    assert len(mail()) == 2


def test_tolerance_counts_and_the_households_saying_they_would_take_more_get_it(app):
    w, tins = tins_world()
    pledge(w, 0, tins, 10)
    pledge(w, 1, tins, 0, 1)  # would take one more, ordered none
    assert sweeps.sweep_last_calls(DAY_BEFORE) == 1
    assert db.session.scalar(select(LastCall.units_short)) == 1
    assert sorted(mail()) == ["r1@oak.test", "r2@oak.test"]
    assert mail()["r2@oak.test"].subject == "Tinned tomatoes: 1 more fills a box"


def test_three_short_a_full_box_or_nothing_ordered_get_no_call(app):
    w, tins = tins_world()
    rice = next(i for i in w.round.items if i.name == "Rice")
    pledge(w, 0, tins, 12)  # full
    pledge(w, 1, rice, 22)  # 3 short of 25
    assert sweeps.sweep_last_calls(DAY_BEFORE) == 0
    assert count(LastCall) == 0 and mail() == {}


def test_no_shop_price_words_it_without_a_saving(app):
    w, tins = tins_world()
    tins.retail_price_pence = None
    db.session.commit()
    pledge(w, 0, tins, 11)
    assert sweeps.sweep_last_calls(DAY_BEFORE) == 1
    body = mail()["r1@oak.test"].body
    assert "1 more Tinned tomatoes (unit) fills a box." in body
    assert "saves" not in body and "shop" not in body
    assert db.session.scalar(select(LastCall.saving_per_unit_pence)) == 0


def test_each_household_in_its_own_language(app, monkeypatch):
    import flask_babel

    from bulkbuy.services import emails

    w, tins = tins_world()
    pledge(w, 0, tins, 5)
    pledge(w, 1, tins, 5)
    pledge(w, 2, tins, 0, 1)
    db.session.get(Household, w.households[0].id).locale = "pl"
    db.session.get(User, w.residents[1].id).locale = "ro"
    db.session.commit()
    seen = {}
    original = emails.EmailTemplate.render

    def spy(self, **context):
        seen[context["name"]] = str(flask_babel.get_locale())
        return original(self, **context)

    monkeypatch.setattr(emails.EmailTemplate, "render", spy)
    assert sweeps.sweep_last_calls(DAY_BEFORE) == 1
    assert seen == {"Resident 1": "pl", "Resident 2": "ro", "Resident 3": "en"}
    assert set(mail()) == {"r1@oak.test", "r2@oak.test", "r3@oak.test"}


def test_the_units_short_rule():
    assert last_call.units_short(12, 0, 0) == 0  # nothing started
    assert last_call.units_short(12, 10, 0) == 2
    assert last_call.units_short(12, 10, 1) == 1
    assert last_call.units_short(12, 10, 2) == 0  # tolerance fills it
    assert last_call.units_short(12, 24, 5) == 0  # full
    assert last_call.units_short(12, 35, 0) == 1
    assert last_call.units_short(12, 35, 0, max_cases=2) == 0  # no more cases allowed
    assert last_call.units_short(1, 3, 0) == 0


def test_a_call_another_sweep_made_at_the_same_moment_is_not_made_or_mailed_again(app):
    w, tins = tins_world()
    pledge(w, 0, tins, 10)
    # Another sweep's insert, committed first: this one meets the unique round item.
    db.session.add(LastCall(round_id=w.round.id, round_item_id=tins.id, units_short=2,
                            saving_per_unit_pence=9, created_at=DAY_BEFORE))
    db.session.commit()
    assert sweeps.sweep_last_calls(DAY_BEFORE) == 0
    assert count(LastCall) == 1 and mail() == {}


def test_open_last_calls_for_the_tablet(app):
    w, tins = tins_world()
    pledge(w, 0, tins, 11)
    sweeps.sweep_last_calls(DAY_BEFORE)
    calls = last_call.open_last_calls(w.group.id, DAY_BEFORE)
    assert [(c.product, c.units_short, c.saving_per_unit_pence) for c in calls] == [
        ("Tinned tomatoes", 1, 9)]
    assert last_call.open_last_calls(w.group.id, DEADLINE + timedelta(minutes=1)) == []


def test_the_tablet_start_screen_lists_last_calls_and_drop_ins(client, auth):
    from datetime import time

    from bulkbuy.services import drop_ins
    from tests.pages import page

    w, tins = tins_world()
    now = datetime.now(UTC)
    # A round closing within a day, from now (the page reads the clock).
    w.round.closes_at = now + timedelta(hours=20)
    db.session.commit()
    pledges.set_pledge(tins, w.households[0], 11, 0, entered_by=w.residents[0], now=now,
                       max_units=100)
    drop_ins.add_weekly(w.group, place="Oak House", weekday=1, starts=time(10),
                        ends=time(12), actor=w.organiser, now=now)
    db.session.commit()
    assert sweeps.sweep_last_calls(now) == 1
    auth.login(w.worker.email)
    text = page(client.get("/tablet/start"))
    assert "Tinned tomatoes (Test round): 1 more fills a box." in text
    assert "It saves everyone £0.09 on each one." in text
    assert "Next drop-ins (Oak Estate):" in text and "Oak House" in text


def test_the_round_page_shows_an_open_last_call_until_the_box_fills(client, auth):
    from tests.pages import page

    w, tins = tins_world()
    now = datetime.now(UTC)
    w.round.closes_at = now + timedelta(hours=20)
    db.session.commit()
    pledges.set_pledge(tins, w.households[0], 11, 0, entered_by=w.residents[0], now=now,
                       max_units=100)
    db.session.commit()
    auth.login(w.residents[1].email)
    path = f"/rounds/{w.round.id}"
    text = page(client.get(path))
    assert "Boxes nearly full" not in text
    # The call is made after the page was kept: the kept copy is not shown again.
    assert sweeps.sweep_last_calls(now) == 1
    text = page(client.get(path))
    assert "Boxes nearly full" in text
    assert f'href="#item-{tins.id}">1 more Tinned tomatoes (unit) fills a box.</a>' in text
    assert "It saves everyone £0.09 on each one." in text
    # Filled since: no longer asked for.
    pledges.set_pledge(tins, w.households[1], 1, 0, entered_by=w.residents[1], now=now,
                       max_units=100)
    db.session.commit()
    text = page(client.get(path))
    assert "Boxes nearly full" not in text and "fills a box" not in text
