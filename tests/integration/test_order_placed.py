"""Placing the order: the organiser marks a closed round ordered with the supplier's
reference and the day delivery is expected; every household that gets something is told
(e-mail, its round page, My orders, the tablet). Bad input and empty rounds are refused
with nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.formatting import day as day_filter
from bulkbuy.models import AuditEntry, OutboxMessage, Round, utcnow
from bulkbuy.services import ServiceError, closing, pledges, rounds, tablet
from tests import factories
from tests.integration.helpers.closing_checks import pledge
from tests.integration.test_tablet import start_tablet, take_turn
from tests.pages import count, page

ASSISTED_PIN = "4321"


def _closed(*, empty: bool = False) -> factories.World:
    """Flat 1 gets a case of tins; Flat 2 asked for 3 rice and gets none; Flat 3 ordered
    nothing; Flat 9 (assisted, no e-mail) gets a case of tins. Closed."""
    now = utcnow()
    w = factories.world(residents=3, now=now)
    assisted = tablet.create_assisted_household(w.group, "Flat 9", None, ASSISTED_PIN,
                                                actor=w.organiser, now=now)
    db.session.commit()
    w.extra["assisted"] = assisted
    if not empty:
        pledge(w, 0, "Tinned tomatoes", 12, now=now)
        pledge(w, 1, "Rice", 3, now=now)
        tins = next(i for i in w.round.items if i.name == "Tinned tomatoes")
        pledges.set_pledge(tins, assisted, 12, 0, entered_by=w.worker, now=now, max_units=99)
        db.session.commit()
    assert closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1)).status \
        == "closed"
    db.session.commit()
    return w


def _written(round_id: int) -> tuple:
    db.session.expire_all()
    rnd = db.session.get(Round, round_id)
    return (rnd.status, rnd.supplier_reference, rnd.expected_delivery_on, rnd.ordered_at,
            count(AuditEntry), count(OutboxMessage))


def _ordered_mail() -> list[tuple[str, str]]:
    return [(m.to_address, m.subject) for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.startswith("round-ordered:"))
        .order_by(OutboxMessage.id))]


def _entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_marking_ordered_keeps_reference_day_and_who_and_tells_households_that_get_some(app):
    w = _closed()
    rnd = w.round
    day = rounds.closed_on(rnd) + timedelta(days=5)
    now = utcnow()

    rounds.mark_ordered(rnd, reference="  PO-123 ", expected_on=day, actor=w.organiser,
                        now=now)
    db.session.commit()

    db.session.expire_all()
    assert (rnd.status, rnd.supplier_reference, rnd.expected_delivery_on) == (
        "ordered", "PO-123", day)
    assert (rnd.ordered_at, rnd.ordered_by_id) == (now, w.organiser.id)
    [entry] = _entries("round.ordered")
    assert entry.actor_id == w.organiser.id
    assert f'"expected_on": "{day.isoformat()}"' in entry.details
    assert '"reference": "PO-123"' in entry.details
    # Flat 1 only: Flat 2 gets nothing, Flat 3 ordered nothing, Flat 9 has no e-mail.
    assert _ordered_mail() == [
        ("r1@oak.test", f"Test round is ordered: delivery expected on {day_filter(day)}")]

    # Sent again (a second click, a second organiser): refused, nothing more written.
    before = _written(rnd.id)
    with pytest.raises(ServiceError, match="not waiting to be ordered"):
        rounds.mark_ordered(rnd, reference=None, expected_on=day, actor=w.organiser,
                            now=utcnow())
    assert _written(rnd.id) == before


def test_the_reference_is_optional_the_day_is_not_and_bad_ones_are_refused(app):
    w = _closed()
    rnd = w.round
    closed_on, latest = rounds.closed_on(rnd), rounds.latest_delivery_day(rnd)
    assert closed_on + timedelta(days=180) <= latest <= closed_on + timedelta(days=184)
    before = _written(rnd.id)
    refused = [
        (None, None, "Enter the day"),
        ("PO-1", closed_on - timedelta(days=1), "cannot be before orders closed"),
        ("PO-1", latest + timedelta(days=1), "within 6 months"),
        ("x" * 81, closed_on, "80 characters or fewer"),
        ("PO\n1", closed_on, "characters we cannot use"),
    ]
    for reference, day, words in refused:
        with pytest.raises(ServiceError, match=words):
            rounds.mark_ordered(rnd, reference=reference, expected_on=day,
                                actor=w.organiser, now=utcnow())
        assert _written(rnd.id) == before, (reference, day)

    rounds.mark_ordered(rnd, reference="   ", expected_on=latest, actor=w.organiser,
                        now=utcnow())
    db.session.commit()
    assert _written(rnd.id)[:3] == ("ordered", None, latest)


def test_a_round_with_nothing_to_order_is_refused_cancel_it_instead(app):
    w = _closed(empty=True)
    before = _written(w.round.id)
    with pytest.raises(ServiceError, match="Cancel the round instead"):
        rounds.mark_ordered(w.round, reference="PO-1",
                            expected_on=rounds.closed_on(w.round), actor=w.organiser,
                            now=utcnow())
    assert _written(w.round.id) == before


def test_moving_the_delivery_day_tells_households_again_once_per_change(app):
    w = _closed()
    rnd = w.round
    first = rounds.closed_on(rnd) + timedelta(days=3)
    rounds.mark_ordered(rnd, reference=None, expected_on=first, actor=w.organiser,
                        now=utcnow())
    db.session.commit()
    second = first + timedelta(days=2)

    rounds.change_expected_delivery(rnd, second, actor=w.organiser, now=utcnow())
    db.session.commit()
    before = _written(rnd.id)
    with pytest.raises(ServiceError, match="already set"):
        rounds.change_expected_delivery(rnd, second, actor=w.organiser, now=utcnow())
    assert _written(rnd.id) == before
    rounds.change_expected_delivery(rnd, first, actor=w.organiser, now=utcnow())
    db.session.commit()

    assert [subject for _to, subject in _ordered_mail()] == [
        f"Test round is ordered: delivery expected on {day_filter(d)}"
        for d in (first, second, first)]
    assert [(e.details.count(first.isoformat()), e.details.count(second.isoformat()))
            for e in _entries("round.delivery_moved")] == [(1, 1), (1, 1)]


def _order_page(client, w):
    return client.get(f"/organise/{w.group.id}/rounds/{w.round.id}")


def test_the_organiser_places_the_order_and_every_household_that_gets_something_sees_the_day(
        client, auth):
    w = _closed()
    day = rounds.closed_on(w.round) + timedelta(days=4)
    url = f"/organise/{w.group.id}/rounds/{w.round.id}/ordered"
    auth.login(w.organiser.email)
    assert 'name="expected_on"' in page(_order_page(client, w))
    before = _written(w.round.id)

    for form, words in (
        ({"reference": "PO-77", "expected_on": "2027-02-30"}, "Enter a real date"),
        ({"reference": "PO-77", "expected_on": ""}, "Enter the day the supplier"),
        ({"reference": "PO-77",
          "expected_on": (day - timedelta(days=30)).isoformat()}, "before orders closed"),
    ):
        response = client.post(url, data=form)
        shown = page(response)
        assert response.status_code == 400 and "There is a problem" in shown
        assert words in shown and 'value="PO-77"' in shown
        assert f'value="{form["expected_on"]}"' in shown
        assert _written(w.round.id) == before

    response = client.post(url, data={"reference": "PO-77", "expected_on": day.isoformat()})
    assert response.status_code == 303
    shown = page(_order_page(client, w))
    assert "Ordered on" in shown and "PO-77" in shown
    assert f"Delivery expected on {day_filter(day)}." in shown
    auth.logout()

    expected = f"Delivery expected on {day_filter(day)}."
    auth.login("r1@oak.test")
    assert expected in page(client.get(f"/rounds/{w.round.id}"))
    assert expected in page(client.get("/my-orders"))
    auth.logout()
    auth.login("r2@oak.test")  # asked for rice, gets none
    assert expected not in page(client.get(f"/rounds/{w.round.id}"))
    assert expected not in page(client.get("/my-orders"))
    auth.logout()

    start_tablet(client, auth, w)
    take_turn(client, w.extra["assisted"], ASSISTED_PIN)
    assert expected in page(client.get("/tablet/order"))


def test_an_empty_round_cannot_be_marked_ordered_from_its_page(client, auth):
    w = _closed(empty=True)
    auth.login(w.organiser.email)
    assert "I have placed the order" not in page(_order_page(client, w))
    before = _written(w.round.id)
    response = client.post(f"/organise/{w.group.id}/rounds/{w.round.id}/ordered",
                           data={"expected_on": rounds.closed_on(w.round).isoformat()})
    assert response.status_code == 303
    assert "Cancel the round instead" in page(client.get(response.headers["Location"]))
    assert _written(w.round.id) == before
