"""Staff take back time credits given by mistake: a negative 'correction' entry with a
reason, never more than the household holds; and time credits are in the household's
data download."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, TimeCreditEntry, utcnow
from bulkbuy.services import ServiceError, time_credits
from tests import factories
from tests.integration.test_household_data import download, rows


def world_with_credits():
    """Flat 1 was given 3 credits (180 minutes packing, 60 minutes a credit)."""
    w = factories.world(residents=2, open_round=False)
    time_credits.save_rule(w.group, 60, 100, None, actor=w.organiser, now=utcnow())
    time_credits.record_time(w.group, w.households[0], 180, "packing", "Packed bags",
                             actor=w.worker, now=utcnow())
    db.session.commit()
    return w


def correct_url(w) -> str:
    return f"/organise/{w.group.id}/time-credits/correct"


def test_staff_take_back_credits_given_by_mistake(app, client, auth):
    w = world_with_credits()
    flat1 = w.households[0]
    auth.login(w.worker.email)

    page = client.get(f"/organise/{w.group.id}/time-credits").get_data(as_text=True)
    assert "Credits to take back (at most 3)" in page
    answer = client.post(correct_url(w), data={"household": flat1.id, "credits": "2",
                                               "note": "Entered 180, meant 60"})
    assert answer.status_code == 303
    assert time_credits.balance(flat1.id) == 1
    entry = db.session.scalar(select(TimeCreditEntry).where(
        TimeCreditEntry.reason == "correction"))
    assert (entry.credits, entry.note, entry.recorded_by_id) == (-2, "Entered 180, meant 60",
                                                                  w.worker.id)
    assert db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "time_credits.corrected")).household_id == flat1.id
    page = client.get(f"/organise/{w.group.id}/time-credits").get_data(as_text=True)
    assert "Taken back: given by mistake: Entered 180, meant 60" in page

    # The household sees it in its own list and its data download.
    auth.logout()
    auth.login(w.residents[0].email)
    _response, archive = download(client)
    time_rows = rows(archive, f"household-{flat1.id}/time_credits.csv")
    assert [(r["credits"], r["reason"], r["recorded_by"]) for r in time_rows] == [
        ("3", "packing", "group staff"), ("-2", "correction", "group staff")]


@pytest.mark.parametrize("credits, note, words", [
    ("4", "Too many", "Flat 1 has 3 credits: you cannot take back more than that."),
    ("0", "Too few", "Credits to take back"),
    ("two", "Letters", "Credits to take back"),
    ("1", "", "Why they were a mistake"),
])
def test_a_correction_never_takes_the_balance_below_zero_and_needs_a_reason(
        app, client, auth, credits, note, words):
    w = world_with_credits()
    flat1 = w.households[0]
    auth.login(w.worker.email)
    answer = client.post(correct_url(w), data={"household": flat1.id, "credits": credits,
                                               "note": note})
    assert answer.status_code == 400
    assert words in answer.get_data(as_text=True)
    assert time_credits.balance(flat1.id) == 3
    assert db.session.scalar(select(TimeCreditEntry).where(
        TimeCreditEntry.reason == "correction")) is None


def test_the_service_refuses_another_groups_household_and_a_household_with_none(app):
    w = world_with_credits()
    other = factories.world(name="Elm Court", residents=1, open_round=False, prefix="elm-")
    with pytest.raises(ServiceError, match="not in this group"):
        time_credits.correct_credits(w.group, other.households[0], 1, "Oops",
                                     actor=w.organiser, now=utcnow())
    with pytest.raises(ServiceError, match="has 0 credits"):
        time_credits.correct_credits(w.group, w.households[1], 1, "Oops",
                                     actor=w.organiser, now=utcnow())
    db.session.rollback()
    # A correction of all of it leaves exactly none (the database allows it: reason
    # 'correction', negative).
    time_credits.correct_credits(w.group, w.households[0], 3, "All a mistake",
                                 actor=w.organiser, now=utcnow())
    db.session.commit()
    assert time_credits.balance(w.households[0].id) == 0


def test_a_resident_cannot_correct_credits(app, client, auth):
    w = world_with_credits()
    auth.login(w.residents[1].email)
    answer = client.post(correct_url(w), data={"household": w.households[0].id,
                                               "credits": "1", "note": "Mine now"})
    assert answer.status_code in (403, 404)
    assert time_credits.balance(w.households[0].id) == 3
