"""Drop-in times (#16): organisers add weekly and one-off drop-ins and remove them;
`upcoming` gives the next ones in one query, removed ones left out; another group's
organiser gets 404s."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, DropInSession, utcnow
from bulkbuy.services import ServiceError
from bulkbuy.services import drop_ins as drop_in_service
from tests import factories
from tests.pages import count, page

NOW = datetime(2027, 3, 3, 9, tzinfo=UTC)  # a Wednesday


def weekly(w, weekday=1, place="Community room, Oak House", starts=time(10), ends=time(12),
           note=None):
    row = drop_in_service.add_weekly(w.group, place=place, weekday=weekday, starts=starts,
                                     ends=ends, note=note, actor=w.organiser, now=NOW)
    db.session.commit()
    return row


def test_upcoming_mixes_weekly_and_one_off_and_leaves_out_removed_and_other_groups(app):
    w = factories.world(open_round=False)
    other = factories.world(name="Elm Court", open_round=False, prefix="elm-")
    weekly(w)
    drop_in_service.add_once(w.group, place="Library", on_date=date(2027, 3, 5),
                             starts=time(14), ends=time(15, 30), actor=w.organiser, now=NOW)
    gone = weekly(w, weekday=2, place="Gone")
    weekly(other, weekday=0, place="Elm hall")
    drop_in_service.remove(w.group, gone.id, actor=w.organiser, now=NOW)
    db.session.commit()

    found = drop_in_service.upcoming(w.group.id, NOW)
    assert [(t.place, t.starts_at.date(), t.starts_at.hour) for t in found] == [
        ("Library", date(2027, 3, 5), 14),
        ("Community room, Oak House", date(2027, 3, 9), 10),
        ("Community room, Oak House", date(2027, 3, 16), 10),
    ]
    assert found[0].ends_at.minute == 30
    assert drop_in_service.upcoming(w.group.id, NOW, until=datetime(2027, 3, 6, tzinfo=UTC),
                                    limit=10)[0].place == "Library"
    assert len(drop_in_service.upcoming(w.group.id, NOW, limit=1)) == 1
    assert drop_in_service.upcoming(other.group.id, NOW)[0].place == "Elm hall"
    actions = db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.group_id == w.group.id, AuditEntry.action.like("drop_in.%"))).all()
    assert sorted(actions) == ["drop_in.added"] * 3 + ["drop_in.removed"]


def test_upcoming_with_no_drop_ins_is_empty(app):
    w = factories.world(open_round=False)
    assert drop_in_service.upcoming(w.group.id, NOW) == []


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"place": "  "}, "place", "Say where the drop-in is."),
    ({"place": "x" * 201}, "place", "Keep the place to 200 characters or fewer."),
    ({"weekday": 7}, "weekday", "Choose the day of the week."),
    ({"weekday": None}, "weekday", "Choose the day of the week."),
    ({"ends": time(9)}, "ends", "The end time must be after the start time."),
    ({"ends": time(10)}, "ends", "The end time must be after the start time."),
    ({"note": "n" * 201}, "note", "Keep the note to 200 characters or fewer."),
])
def test_bad_weekly_drop_ins_are_refused(app, fields, field, words):
    w = factories.world(open_round=False)
    given = {"place": "Oak House", "weekday": 1, "starts": time(10), "ends": time(12),
             **fields}
    with pytest.raises(ServiceError) as refused:
        drop_in_service.add_weekly(w.group, **given, actor=w.organiser, now=NOW)
    assert (refused.value.field, refused.value.message) == (field, words)
    db.session.rollback()
    assert count(DropInSession) == 0


def test_a_one_off_in_the_past_is_refused_but_today_is_fine(app):
    w = factories.world(open_round=False)
    with pytest.raises(ServiceError) as refused:
        drop_in_service.add_once(w.group, place="Library", on_date=date(2027, 3, 2),
                                 starts=time(10), ends=time(11), actor=w.organiser, now=NOW)
    assert refused.value.field == "date"
    drop_in_service.add_once(w.group, place="Library", on_date=date(2027, 3, 3),
                             starts=time(10), ends=time(11), actor=w.organiser, now=NOW)
    db.session.commit()
    assert count(DropInSession) == 1


def test_the_organiser_page_adds_shows_and_removes(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    base = f"/organise/{w.group.id}/drop-in-times"
    assert "Drop-in times" in page(client.get(f"/organise/{w.group.id}"))
    text = page(client.get(base))
    assert "No drop-in times yet" in text

    refused = client.post(base, data={"kind": "weekly", "weekday": "1", "starts": "10:00",
                                      "ends": "09:00", "place": "Oak House", "note": ""})
    assert refused.status_code == 400
    assert "The end time must be after the start time." in page(refused)
    assert 'value="Oak House"' in page(refused)
    refused = client.post(base, data={"kind": "weekly", "weekday": "", "starts": "ten",
                                      "ends": "12:00", "place": "Oak House", "note": ""})
    assert refused.status_code == 400
    assert "Choose the day of the week." in page(refused)
    assert "Enter the time it starts, like 10:00." in page(refused)
    assert count(DropInSession) == 0

    added = client.post(base, data={"kind": "weekly", "weekday": "1", "starts": "10:00",
                                    "ends": "12:00", "place": "Community room, Oak House",
                                    "note": "Side door"})
    assert added.status_code == 303
    far = date(datetime.now(UTC).year + 1, 6, 1)
    added = client.post(base, data={"kind": "once", "date": far.strftime("%d/%m/%Y"),
                                    "starts": "18.30", "ends": "20", "place": "Library",
                                    "note": ""})
    assert added.status_code == 303
    text = page(client.get(base))
    assert "Drop-in time added." in text
    assert "Every Tuesday, 10:00 to 12:00, Community room, Oak House (Side door)" in text
    assert "Drop-in: Tuesday" in text and "10am to midday, Community room, Oak House" in text
    assert "18:30 to 20:00, Library" in text

    row = db.session.scalar(select(DropInSession).where(DropInSession.place == "Library"))
    removed = client.post(f"{base}/{row.id}/remove")
    assert removed.status_code == 303
    text = page(client.get(base))
    assert "Removed: Library." in text and "18:30 to 20:00, Library" not in text
    assert client.post(f"{base}/{row.id}/remove").status_code == 404


def test_another_groups_organiser_and_residents_get_404_or_403(client, auth):
    w = factories.world(open_round=False)
    other = factories.world(name="Elm Court", open_round=False, prefix="elm-")
    row = weekly(w)
    base = f"/organise/{w.group.id}/drop-in-times"
    auth.login(other.organiser.email)
    assert client.get(base).status_code == 404
    assert client.post(f"{base}/{row.id}/remove").status_code == 404
    assert client.post(base, data={"kind": "weekly", "weekday": "1", "starts": "10:00",
                                   "ends": "12:00", "place": "X"}).status_code == 404
    # Its own page with the other group's session id: 404 too.
    assert client.post(f"/organise/{other.group.id}/drop-in-times/{row.id}/remove"
                       ).status_code == 404
    auth.login(w.residents[0].email)
    assert client.get(base).status_code in (403, 404)
    db.session.expire_all()
    assert db.session.get(DropInSession, row.id).removed_at is None


def test_the_reminder_names_the_next_drop_in_before_the_deadline(app):
    from bulkbuy.models import OutboxMessage
    from bulkbuy.services import notifications
    from tests.integration.test_closing import DEADLINE, make_world

    w = make_world(residents=2)
    # Thursday 2pm, the day before the Friday 9am deadline; and one after it.
    drop_in_service.add_weekly(w.group, place="Oak House", weekday=3, starts=time(14),
                               ends=time(16), actor=w.organiser, now=NOW)
    drop_in_service.add_weekly(w.group, place="Too late", weekday=4, starts=time(10),
                               ends=time(11), actor=w.organiser, now=NOW)
    db.session.commit()
    assert notifications.queue_reminders(DEADLINE - timedelta(hours=23)) == 1
    db.session.commit()
    bodies = db.session.scalars(select(OutboxMessage.body)).all()
    assert len(bodies) == 2
    for body in bodies:
        assert (f"/rounds/{w.round.id}\n\nOr order in person at the drop-in: "
                "Thursday 12 March") in body
        assert body.endswith(", 2pm, Oak House.")
        assert "Too late" not in body


def test_my_orders_pay_and_pin_pages_name_the_next_drop_ins(client, auth):
    w = factories.world()
    weekly(w, weekday=1, place="Community room, Oak House")
    auth.login(w.residents[0].email)
    assert "Drop-in: Tuesday" in page(client.get("/my-orders"))
    assert "10am to midday, Community room, Oak House" in page(client.get("/my-orders"))
    pin = page(client.get(f"/groups/{w.group.id}/pin"))
    assert "Next drop-ins:" in pin and "Community room, Oak House" in pin


def test_pages_say_what_they_said_before_with_no_drop_ins(client, auth):
    w = factories.world()
    auth.login(w.residents[0].email)
    assert "Drop-in:" not in page(client.get("/my-orders"))
    assert "Next drop-ins" not in page(client.get(f"/groups/{w.group.id}/pin"))


# --- the round page, home, the save-card page and e-mails (#16 point 4) ---------------------

LONDON = ZoneInfo("Europe/London")


def local(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=LONDON)


def test_the_round_page_lists_drop_ins_before_the_deadline_and_its_kept_copy_follows(
        client, auth):
    from bulkbuy import fragment_cache

    start = utcnow()
    tomorrow = (start.astimezone(LONDON) + timedelta(days=1)).date()
    w = factories.world(closes_in=timedelta(days=5), now=start)
    library = drop_in_service.add_once(w.group, place="Library", on_date=tomorrow,
                                       starts=time(10), ends=time(12), actor=w.organiser,
                                       now=start)
    drop_in_service.add_once(w.group, place="After the deadline",
                             on_date=tomorrow + timedelta(days=6), starts=time(10),
                             ends=time(12), actor=w.organiser, now=start)
    db.session.commit()
    auth.login(w.residents[0].email)
    path = f"/rounds/{w.round.id}"

    with time_machine.travel(local(tomorrow, time(8)), tick=False):
        text = page(client.get(path))
        assert "Next drop-ins:" in text and "10am to midday, Library" in text
        assert "After the deadline" not in text
        kept = len(fragment_cache.round_pages._entries)
        assert kept >= 1
        assert "Library" in page(client.get(path))  # the kept copy
        assert len(fragment_cache.round_pages._entries) == kept

        # Added: a new key, the page shows it.
        weekly(w, weekday=tomorrow.weekday(), place="Oak House", starts=time(14),
               ends=time(15))
        text = page(client.get(path))
        assert "Library" in text and "2pm to 3pm, Oak House" in text

        # Removed: gone from the page at once.
        drop_in_service.remove(w.group, library.id, actor=w.organiser, now=start)
        db.session.commit()
        text = page(client.get(path))
        assert "Library" not in text and "Oak House" in text

        drop_in_service.add_once(w.group, place="Library", on_date=tomorrow,
                                 starts=time(10), ends=time(12), actor=w.organiser, now=start)
        db.session.commit()
        assert "Library" in page(client.get(path))

    # Still under way: listed. Ended: gone, with nothing in the database changed.
    with time_machine.travel(local(tomorrow, time(11, 59)), tick=False):
        assert "Library" in page(client.get(path))
    with time_machine.travel(local(tomorrow, time(12, 1)), tick=False):
        text = page(client.get(path))
        assert "Library" not in text and "2pm to 3pm, Oak House" in text


def test_a_round_page_with_no_drop_ins_says_what_it_said(client, auth):
    w = factories.world()
    auth.login(w.residents[0].email)
    text = page(client.get(f"/rounds/{w.round.id}"))
    assert "You pay in cash at a drop-in." in text and "Next drop-ins" not in text


def test_a_finished_round_with_money_to_pay_lists_the_next_drop_ins(client, auth):
    from tests.integration.test_closing import close, make_world

    w = make_world()
    tins = next(i for i in w.round.items if i.name == "Tinned tomatoes")
    from bulkbuy.services import pledges
    pledges.set_pledge(tins, w.households[0], 12, 0, entered_by=w.residents[0],
                       now=w.round.created_at, max_units=100)
    db.session.commit()
    weekly(w, weekday=1, place="Oak House")
    close(w.round.id)
    auth.login(w.residents[0].email)
    text = page(client.get(f"/rounds/{w.round.id}"))
    assert "Or pay in cash at a drop-in session." in text
    assert "Drop-in: Tuesday" in text and "10am to midday, Oak House" in text
    # Nothing owed (another household ordered nothing): no list.
    auth.login(w.residents[1].email)
    assert "Drop-in:" not in page(client.get(f"/rounds/{w.round.id}"))


def test_the_payment_and_cancelled_e_mails_name_the_next_drop_ins(app):
    from bulkbuy.formatting import YEAR_SHOWN_BEYOND
    from bulkbuy.models import Statement
    from bulkbuy.services import notifications
    from tests.integration.test_email_words import AFTER, _closed_round, _mail

    w = _closed_round()
    drop_in_service.add_weekly(w.group, place="Oak House & hall", weekday=1, starts=time(10),
                               ends=time(12), note="Side door", actor=w.organiser, now=AFTER)
    db.session.commit()
    statement = db.session.scalars(
        select(Statement).where(Statement.household_id == w.households[0].id)).one()
    notifications.queue_payment_needs_action(statement, "declined", AFTER)
    notifications.queue_round_cancelled(w.round, AFTER)
    db.session.commit()

    # A date more than about five months from today (the clock's) is shown with its year.
    year = "" if abs(AFTER - utcnow()) <= YEAR_SHOWN_BEYOND else " 2026"
    times = (f"Drop-in: Tuesday 17 March{year}, 10am to midday, Oak House & hall (Side door)\n"
             f"Drop-in: Tuesday 24 March{year}, 10am to midday, Oak House & hall (Side door)")
    [(_to, _subject, body)] = _mail(f"payment-needs-action:{statement.id}:")
    assert body.endswith(f"\n\nOr pay in cash at a drop-in session.\n{times}")
    body = _mail("round-cancelled:")[0][2]
    assert body.endswith(f"or in cash at a drop-in session.\n{times}\n\n"
                         f"http://127.0.0.1:5000/rounds/{w.round.id}")


def test_the_home_page_names_the_next_drop_ins(client, auth):
    w = factories.world()
    auth.login(w.residents[0].email)
    assert "Drop-in:" not in page(client.get("/"))
    weekly(w, weekday=1, place="Community room, Oak House")
    text = page(client.get("/"))
    assert "Next drop-ins:" in text
    assert "Drop-in: Tuesday" in text and "10am to midday, Community room, Oak House" in text


def test_the_save_card_page_names_the_next_drop_ins(card_app):
    from bulkbuy.services import pledges

    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    pledges.set_pledge(w.round.items[0], w.households[0], 6, 0, entered_by=w.residents[0],
                       now=utcnow(), max_units=999)
    db.session.commit()
    weekly(w, weekday=1, place="Community room, Oak House")
    client = card_app.test_client()
    client.post("/login", data={"email": w.residents[0].email, "password": "password123"})
    response = client.post(f"/rounds/{w.round.id}/pay-by-card", data={"agree": "yes"})
    assert response.status_code == 200
    text = page(response)
    assert "Save your card" in text
    assert "Or pay in cash at a drop-in session." in text
    assert "10am to midday, Community room, Oak House" in text
