"""Time credits (issue #17 point 4): time given earns credits (entered by staff, or
logged when a worker's drop-in ends), and at close the group's rule takes them off the
household's own delivery-fee share, to the penny, on SQLite and PostgreSQL.

Oak Estate's round: tins (12 a case, £10) and rice (25 a case, £31.50), a £3 fee split
equally. Flat 1 and Flat 2 pledge 6 tins each (£5 of goods); Flat 3 a case of rice.
Every bill has a £1 fee.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    Membership,
    Round,
    Statement,
    TimeCreditEntry,
    TimeCreditSettings,
)
from bulkbuy.services import closing, dropin, settlement, solidarity, tablet, time_credits
from tests import factories
from tests.integration.helpers.closing_checks import statements_of
from tests.integration.helpers.three_flats import AFTER, T0, oak


def give(w, number: int, minutes: int, reason: str = "packing") -> TimeCreditEntry:
    entry = time_credits.record_time(w.group, w.households[number], minutes, reason, None,
                                     actor=w.worker, now=T0)
    db.session.commit()
    return entry


def rule(w, pence: int, *, minutes: int = 60, most: int | None = None) -> None:
    time_credits.save_rule(w.group, minutes, pence, most, actor=w.organiser, now=T0)
    db.session.commit()


def close(w) -> dict[int, Statement]:
    closing.close_round(w.round.id, AFTER)
    db.session.commit()
    db.session.expire_all()
    return statements_of(w.round.id)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def the_books(w) -> settlement.Books:
    return settlement.books(db.session.get(Round, w.round.id))


# --- staff enter time; who may ------------------------------------------------------


def test_a_worker_enters_time_and_it_earns_whole_credits_the_rest_carried(app, client,
                                                                          auth):
    w = factories.world(open_round=False)
    auth.login(w.worker.email)
    url = f"/organise/{w.group.id}/time-credits"
    flat1 = w.households[0]

    response = client.post(url, data={"household": str(flat1.id), "reason": "packing",
                                      "minutes": "150", "note": "Sam packed bags"})
    assert response.status_code == 303
    assert client.post(url, data={"household": str(flat1.id), "reason": "other",
                                  "minutes": "30", "note": ""}).status_code == 303

    entries = db.session.scalars(select(TimeCreditEntry).order_by(TimeCreditEntry.id)).all()
    assert [(e.reason, e.minutes, e.credits, e.carried_minutes, e.recorded_by_id)
            for e in entries] == [("packing", 150, 2, 30, w.worker.id),
                                  ("other", 30, 1, 0, w.worker.id)]
    assert time_credits.balance(flat1.id) == 3
    assert count(AuditEntry, AuditEntry.action == "time_credits.earned") == 2
    page = client.get(url).get_data(as_text=True)
    assert "Sam packed bags" in page and "3 credits" in page
    assert 'id="rule"' not in page  # workers enter time; only organisers set the rule


@pytest.mark.parametrize("form", [
    {"household": "", "reason": "packing", "minutes": "60"},
    {"household": "{flat}", "reason": "used", "minutes": "60"},
    {"household": "{flat}", "reason": "dropin_helper", "minutes": "60"},
    {"household": "{flat}", "reason": "packing", "minutes": "0"},
    {"household": "{flat}", "reason": "packing", "minutes": "1.5"},
    {"household": "{flat}", "reason": "packing", "minutes": "961"},
])
def test_bad_time_shows_a_message_and_changes_nothing(app, client, auth, form):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    data = {k: v.replace("{flat}", str(w.households[0].id)) for k, v in form.items()}

    response = client.post(f"/organise/{w.group.id}/time-credits", data=data)

    assert response.status_code == 400
    assert "There is a problem" in response.get_data(as_text=True)
    assert count(TimeCreditEntry) == 0


def test_a_household_of_another_group_cannot_be_given_time(app, client, auth):
    w = factories.world(open_round=False)
    elm = factories.world(name="Elm Court", open_round=False)
    auth.login(w.organiser.email)

    response = client.post(f"/organise/{w.group.id}/time-credits",
                           data={"household": str(elm.households[0].id),
                                 "reason": "packing", "minutes": "60"})

    assert response.status_code == 400 and count(TimeCreditEntry) == 0


def test_residents_get_403_and_other_groups_404(app, client, auth):
    w = factories.world(open_round=False)
    elm = factories.world(name="Elm Court", open_round=False)
    url = f"/organise/{w.group.id}/time-credits"
    form = {"household": str(w.households[0].id), "reason": "packing", "minutes": "60"}

    auth.login(w.residents[0].email)
    assert client.get(url).status_code == 403
    assert client.post(url, data=form).status_code == 403
    assert client.post(f"{url}/rule", data={"minutes_per_credit": "60",
                                            "pence_per_credit": "1"}).status_code == 403
    auth.login(elm.organiser.email)
    assert client.get(url).status_code == 404
    assert client.post(url, data=form).status_code == 404
    assert count(TimeCreditEntry) == 0


def test_only_organisers_set_the_rule(app, client, auth):
    w = factories.world(open_round=False)
    url = f"/organise/{w.group.id}/time-credits/rule"
    form = {"minutes_per_credit": "30", "pence_per_credit": "0.50", "most_per_round": "2"}

    auth.login(w.worker.email)
    assert client.post(url, data=form).status_code == 403
    assert db.session.get(TimeCreditSettings, w.group.id) is None
    auth.login(w.organiser.email)
    assert client.post(url, data={**form, "minutes_per_credit": "0"}).status_code == 400
    assert client.post(url, data=form).status_code == 303

    assert time_credits.rule(w.group.id) == time_credits.Rule(30, 50, 200)
    assert count(AuditEntry, AuditEntry.action == "time_credits.rule_changed") == 1
    assert "Each credit takes £0.50 off" in client.get(
        f"/organise/{w.group.id}/time-credits").get_data(as_text=True)


# --- drop-in help, logged from the tablet ------------------------------------------


def test_a_worker_who_lives_in_a_household_earns_their_drop_in_when_it_ends(app):
    w = factories.world(open_round=False)
    member = db.session.scalar(select(Membership).where(Membership.user_id == w.worker.id))
    member.household_id = w.households[1].id
    db.session.commit()
    session, _token = tablet.start_session(w.group, w.worker, T0)
    db.session.commit()

    dropin.leave_tablet(session, factories.PASSWORD, T0 + timedelta(hours=2, minutes=40))
    db.session.commit()

    entry = db.session.scalar(select(TimeCreditEntry))
    assert (entry.household_id, entry.reason, entry.minutes, entry.credits,
            entry.carried_minutes, entry.tablet_session_id) == (
        w.households[1].id, "dropin_helper", 160, 2, 40, session.id)
    # Logged once per session, however often it is asked.
    assert time_credits.log_dropin(session, T0 + timedelta(hours=5)) is None
    assert count(TimeCreditEntry) == 1


def test_a_worker_without_a_household_logs_nothing(app):
    w = factories.world(open_round=False)
    session, _token = tablet.start_session(w.group, w.worker, T0)
    tablet.end_session(session, T0 + timedelta(hours=2))
    db.session.commit()
    assert count(TimeCreditEntry) == 0


def test_a_tablet_left_on_overnight_logs_at_most_eight_hours(app):
    w = factories.world(open_round=False)
    member = db.session.scalar(select(Membership).where(Membership.user_id == w.worker.id))
    member.household_id = w.households[0].id
    session, _token = tablet.start_session(w.group, w.worker, T0)
    tablet.end_session(session, T0 + timedelta(hours=20))
    db.session.commit()
    assert db.session.scalar(select(TimeCreditEntry.minutes)) == 8 * 60


# --- at close --------------------------------------------------------------------------


def test_at_close_credits_come_off_the_households_own_fee_share(app):
    w = oak()
    give(w, 0, 120)  # Flat 1: 2 credits
    give(w, 2, 300)  # Flat 3: 5 credits, more than its £1 share needs
    rule(w, 40)

    statements = close(w)
    flat1, flat2, flat3 = (statements[h.id] for h in w.households)

    # Whole credits only: 2 × 40p off Flat 1; Flat 3's £1 share takes 2 (80p), not 3.
    assert [s.fee_pence for s in (flat1, flat2, flat3)] == [100, 100, 100]
    assert [s.time_credit_pence for s in (flat1, flat2, flat3)] == [80, 0, 80]
    assert [s.paid_pence for s in (flat1, flat2, flat3)] == [80, 0, 80]
    assert [s.total_pence for s in (flat1, flat2, flat3)] == [600, 600, 3250]
    assert [s.payment_status for s in (flat1, flat2, flat3)] == ["due"] * 3
    assert time_credits.balance(w.households[0].id) == 0
    assert time_credits.balance(w.households[2].id) == 3
    used = db.session.execute(select(TimeCreditEntry.household_id, TimeCreditEntry.credits,
                                     TimeCreditEntry.statement_id)
                              .where(TimeCreditEntry.reason == "used")).all()
    assert sorted(used) == sorted([(w.households[0].id, -2, flat1.id),
                                   (w.households[2].id, -2, flat3.id)])
    books = the_books(w)
    assert books.balanced and books.time_credit_pence == 160
    assert books.fees_pence == 300 and books.deficit_pence == 160


def test_the_most_per_round_caps_what_comes_off(app):
    w = oak()
    give(w, 0, 600)
    rule(w, 25, most=60)

    statements = close(w)

    assert statements[w.households[0].id].time_credit_pence == 50  # 2 whole credits
    assert time_credits.balance(w.households[0].id) == 8


def test_with_the_rule_off_nothing_changes(app):
    w = oak()
    give(w, 0, 600)

    statements = close(w)

    assert all(s.time_credit_pence == 0 and s.paid_pence == 0 for s in statements.values())
    assert time_credits.balance(w.households[0].id) == 10
    assert count(TimeCreditEntry, TimeCreditEntry.reason == "used") == 0
    assert the_books(w).balanced


def test_the_pot_never_pays_what_credits_already_covered(app):
    w = oak()
    give(w, 0, 120)
    rule(w, 40)
    solidarity.record_donation(w.group, 10_000, "Grant", actor=w.organiser, now=T0)
    solidarity.save_rule(w.group, 100, None, actor=w.organiser, now=T0)
    solidarity.set_supported(w.group, w.households[0], True, actor=w.organiser, now=T0)
    db.session.commit()

    flat1 = close(w)[w.households[0].id]

    assert (flat1.time_credit_pence, flat1.pot_pence) == (80, 520)
    assert (flat1.paid_pence, flat1.total_pence, flat1.payment_status) == (600, 600, "paid")
    assert solidarity.balance(w.group.id) == 10_000 - 520
    books = the_books(w)
    assert books.balanced and books.pot_used_pence == 520 and books.time_credit_pence == 80


def test_a_cancelled_round_gives_the_credits_back(app):
    from bulkbuy.services.payments import refunds

    w = oak()
    give(w, 0, 120)
    rule(w, 40)
    close(w)
    rnd = db.session.get(Round, w.round.id)

    refunds.cancel_closed_round(rnd, actor=w.organiser, now=AFTER)  # gives them back
    assert time_credits.give_back_used(rnd, AFTER) == 0  # once
    db.session.commit()
    assert time_credits.balance(w.households[0].id) == 2


def test_a_short_delivery_gives_credits_back_as_whole_credits_before_any_cash(app):
    """Flat 2 used 2 credits (80p) off its £1 fee share and paid £2 cash; then its six
    tins did not arrive, so its bill is nothing: the 2 credits go back to its time, and
    only the cash comes back as money."""
    from bulkbuy.services import delivery, rounds
    from bulkbuy.services.payments import cash

    w = oak()
    give(w, 1, 120)
    rule(w, 40)
    statements = close(w)
    flat2 = statements[w.households[1].id]
    cash.record_cash(flat2, 200, "R-1", actor=w.worker, now=AFTER)
    rnd = db.session.get(Round, w.round.id)
    rounds.mark_ordered(rnd, reference="PO-1", expected_on=(AFTER + timedelta(days=2)).date(),
                        actor=w.organiser, now=AFTER)
    db.session.commit()
    tins = next(i for i in rnd.items if i.name == "Tinned tomatoes")
    rice = next(i for i in rnd.items if i.name == "Rice")
    delivery.record_delivery(rnd, [delivery.Arrived(tins.id, 12, 6),
                                   delivery.Arrived(rice.id, 25, 0)], [], None,
                             drawn_version=rnd.delivery_version, actor=w.organiser, now=AFTER)
    db.session.commit()

    db.session.expire_all()
    flat2 = statements_of(w.round.id)[w.households[1].id]
    assert (flat2.total_pence, flat2.time_credit_pence, flat2.paid_pence,
            flat2.owed_back_pence) == (0, 0, 0, 200)
    assert time_credits.balance(w.households[1].id) == 2
    assert the_books(w).balanced


# --- what the household sees ------------------------------------------------------------


def test_the_household_sees_its_time_and_its_bill_says_what_came_off(app, client, auth):
    w = oak()
    give(w, 0, 120)
    rule(w, 40)
    close(w)
    auth.login(w.residents[0].email)

    home = client.get("/").get_data(as_text=True)
    bill = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)

    assert "Time you gave" in home and "Packing on delivery day (120 minutes)" in home
    assert "Taken off your share of the delivery fee" in home
    assert "Taken off for time you gave" in bill and "£0.80" in bill
    assert "credit" not in home.split("Time you gave", 1)[1].split("</table>", 1)[0].lower()


def test_a_household_with_no_time_given_and_the_rule_off_sees_nothing(app, client, auth):
    w = factories.world(open_round=False)
    auth.login(w.residents[0].email)
    assert "Time you gave" not in client.get("/").get_data(as_text=True)
