"""Printed slips (issue #16, point 3): a household that cannot be reached by e-mail (or
asked for paper) gets its round on one page, in its own language: what it ordered, what
it gets, what changed and why, what it pays, by when, how (a QR code of the card page,
or cash at a drop-in) and when and where to collect.

The world: Flats 1 and 2 (people with e-mails) and Flat 3, an assisted household with no
e-mail whose language is Polish, each four tins (a box of 12 at £12: £4 each). Flat 2
asked for paper slips. A weekly drop-in on every weekday at the Community room."""

from __future__ import annotations

import re
from datetime import time, timedelta

import flask_babel
import pytest
from sqlalchemy import event, select

from bulkbuy.extensions import db
from bulkbuy.models import Statement, utcnow
from bulkbuy.services import closing, delivery, drop_ins, pledges, rounds, slips, tablet
from bulkbuy.services.payments import cash as cash_service
from tests import factories
from tests.pages import page


def _slip_world(*, close: bool = True, order: bool = True):
    w = factories.world(products=(("Tinned tomatoes", 12, 1200), ("Rice", 25, 3150)))
    now = utcnow()
    flat3 = tablet.create_assisted_household(w.group, "Flat 3", None, "2468",
                                             actor=w.organiser, now=now)
    flat3.locale = "pl"
    w.households[1].paper_slips = True
    w.round.collection_place = "Oak Hall"
    w.round.collection_time = "Saturday 10am to 12pm"
    for weekday in range(7):
        drop_ins.add_weekly(w.group, place="Community room", weekday=weekday,
                            starts=time(10), ends=time(12), actor=w.organiser, now=now)
    db.session.commit()
    tins = next(i for i in w.round.items if i.name == "Tinned tomatoes")
    for household, person in ((w.households[0], w.residents[0]),
                              (w.households[1], w.residents[1]), (flat3, w.worker)):
        pledges.set_pledge(tins, household, 4, 0, entered_by=person, now=now, max_units=999)
    db.session.commit()
    w.extra.update(flat3=flat3, tins=tins)
    if close:
        assert closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
        db.session.commit()
        if order:
            rounds.mark_ordered(w.round, reference="PO-1",
                                expected_on=(w.round.closes_at + timedelta(days=2)).date(),
                                actor=w.organiser, now=w.round.closes_at)
            db.session.commit()
    return w


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _slips_in(text: str) -> dict[str, str]:
    """Each printed slip's words (tags dropped), by the household label in its heading."""
    found = {}
    for slip in re.findall(r'<article class="paper-slip".*?</article>', text, re.S):
        label = re.search(r'<h2 class="paper-slip-household"[^>]*>(.*?)</h2>', slip).group(1)
        found[label] = _words(slip)
    return found


def _statement(w, household) -> Statement:
    return db.session.scalar(select(Statement).where(
        Statement.round_id == w.round.id, Statement.household_id == household.id))


def test_a_round_prints_slips_for_households_without_email_or_that_asked_for_paper(app):
    w = _slip_world()

    found = slips.round_slips(w.group.id, w.round.id, utcnow())

    assert [s.household.label for s in found] == ["Flat 2", "Flat 3"]
    assert [s.household.label for s in slips.round_slips(w.group.id, w.round.id, utcnow(),
                                                         which="all")] == [
        "Flat 1", "Flat 2", "Flat 3"]


def test_a_slip_says_what_was_ordered_got_paid_by_when_how_and_where_to_collect(
        client, auth):
    w = _slip_world()
    auth.login(w.worker.email)

    text = page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/slips"))
    slip = _slips_in(text)["Flat 2"]  # English; cards are off here

    assert "Tinned tomatoes" in slip and "You asked for" in slip and "You get" in slip
    pay_by = db.session.get(type(w.round), w.round.id).pay_by
    assert "Please pay £4 by" in slip
    from bulkbuy.formatting import when
    assert when(pay_by, "Europe/London") in slip
    assert "In cash, at a drop-in:" in slip and "Community room" in slip
    assert "Delivery expected on" in slip
    assert "Collect from: Oak Hall, Saturday 10am to 12pm" in slip
    # Cards are off (and Flat 3 has nobody who can sign in): no card link.
    assert "<svg" not in text and "/pay/" not in text
    assert 'data-print hidden' in text and "js/print.js" in text


def test_a_household_that_can_pay_by_card_gets_the_pay_link_as_a_qr_code(client, auth,
                                                                         monkeypatch):
    monkeypatch.setattr(slips.saved_cards, "cards_on", lambda config: True)
    w = _slip_world()
    auth.login(w.organiser.email)
    flat2 = w.households[1]

    text = page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/slips/{flat2.id}"))

    statement = _statement(w, flat2)
    assert f"/pay/{statement.id}" in text
    assert "<svg" in text and "QR code of the link to pay by card" in text
    assert "Or in cash, at a drop-in:" in _words(text)


def test_what_changed_when_the_delivery_came_is_on_the_slip_with_why(client, auth):
    w = _slip_world()
    statement = _statement(w, w.extra["flat3"])
    cash_service.record_cash(statement, 400, "R-1", actor=w.worker, now=utcnow())
    db.session.commit()
    tins = w.extra["tins"]
    delivery.record_delivery(w.round, [delivery.Arrived(tins.id, 12, 3)], [], None,
                             drawn_version=w.round.delivery_version, actor=w.organiser,
                             now=utcnow())
    w.extra["flat3"].locale = None  # English words, to read (the language: below)
    db.session.commit()
    auth.login(w.worker.email)

    slip = _slips_in(page(client.get(
        f"/organise/{w.group.id}/rounds/{w.round.id}/slips/{w.extra['flat3'].id}")))["Flat 3"]

    assert "What changed when the delivery came" in slip
    assert "did not arrive or came damaged" in slip
    assert "Your bill changed when the delivery came" in slip
    assert "We owe you" in slip  # it paid £4 in cash and now gets less
    assert "Please pay" not in slip


def test_an_open_rounds_slip_says_what_was_ordered_and_when_ordering_closes(client, auth):
    w = _slip_world(close=False)
    w.extra["flat3"].locale = None  # English words, to read (the language: below)
    db.session.commit()
    auth.login(w.worker.email)

    slip = _slips_in(page(client.get(
        f"/organise/{w.group.id}/rounds/{w.round.id}/slips/{w.extra['flat3'].id}")))["Flat 3"]

    assert "What you ordered 4 × Tinned tomatoes (unit)" in slip
    assert "Ordering closes" in slip
    assert "To change your order, come to a drop-in:" in slip
    assert "Please pay" not in slip


def test_a_slip_is_in_the_households_language(client, auth):
    w = _slip_world()
    auth.login(w.worker.email)

    text = page(client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/slips"))

    assert re.search(r'<article class="paper-slip" lang="pl" dir="ltr"', text)
    with flask_babel.force_locale("pl"):
        polish = flask_babel.gettext("What you ordered and what you get")
    assert polish != "What you ordered and what you get" and polish in text
    assert re.search(r'<article class="paper-slip" lang="en" dir="ltr"', text)
    assert re.search(r'<html lang="en"', text)  # the page around them: the worker's


def test_a_right_to_left_households_slip_runs_right_to_left(app):
    w = _slip_world()
    w.extra["flat3"].locale = "ur"
    db.session.commit()

    slip = slips.household_slip(w.group.id, w.extra["flat3"].id, w.round.id, utcnow())
    with app.test_request_context():
        html = str(slips.render(slip, "Europe/London"))

    assert (slip.locale, slip.direction) == ("ur", "rtl")
    assert 'lang="ur" dir="rtl"' in html


def test_a_slips_words_are_those_of_its_language_in_force(app, monkeypatch):
    """The mechanism, without depending on what the catalogues hold yet: every word the
    slip's template and service translate goes through the slip's language."""
    w = _slip_world()
    seen = set()
    real = flask_babel.get_translations

    def spy():
        seen.add(str(flask_babel.get_locale()))
        return real()

    monkeypatch.setattr(flask_babel, "get_translations", spy)
    monkeypatch.setattr("bulkbuy.web.flask_babel.get_translations", spy)
    slip = slips.household_slip(w.group.id, w.extra["flat3"].id, w.round.id, utcnow())
    with app.test_request_context():
        slips.render(slip, "Europe/London")

    assert "pl" in seen


def test_a_slip_for_another_groups_household_or_round_is_not_found(client, auth):
    w = _slip_world()
    other = factories.world(name="Elm Court", prefix="elm-")
    flat3 = w.extra["flat3"]
    auth.login(other.organiser.email)

    assert client.get(f"/organise/{other.group.id}/rounds/{w.round.id}/slips").status_code \
        == 404
    assert client.get(f"/organise/{other.group.id}/rounds/{other.round.id}/slips/"
                      f"{flat3.id}").status_code == 404
    assert client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/slips").status_code \
        == 404
    with pytest.raises(slips.NotFound):
        slips.household_slip(other.group.id, flat3.id, w.round.id, utcnow())
    with pytest.raises(slips.NotFound):
        slips.household_slip(w.group.id, flat3.id, other.round.id, utcnow())


def test_a_residents_cannot_print_slips(client, auth):
    w = _slip_world()
    auth.login(w.residents[0].email)

    assert client.get(f"/organise/{w.group.id}/rounds/{w.round.id}/slips").status_code \
        == 403


def test_slips_for_a_round_cost_the_same_queries_for_many_households(app):
    w = _slip_world()

    def queries_for_round() -> int:
        counted = []
        listener = lambda *args: counted.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            db.session.expire_all()
            with app.test_request_context():
                slips.round_slips(w.group.id, w.round.id, utcnow(), which="all")
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(counted)

    few = queries_for_round()
    # Twelve households, in the same two languages, ordering in a new round like this one.
    now = utcnow()
    rnd = rounds.create_round(w.group, w.supplier, w.products,
                              rounds.RoundDetails(title="Bigger",
                                                  closes_at=now + timedelta(days=1)),
                              created_by=w.organiser, now=now)
    rounds.open_round(rnd, actor=w.organiser, now=now)
    tins = next(i for i in rnd.items if i.name == "Tinned tomatoes")
    for n in range(4, 16):
        home = tablet.create_assisted_household(w.group, f"Flat {n}", None, "2468",
                                                actor=w.organiser, now=now)
        home.locale = "pl" if n == 4 else None  # as many languages as before
        pledges.set_pledge(tins, home, 2, 0, entered_by=w.worker, now=now, max_units=999)
    db.session.commit()
    assert closing.close_round(rnd.id, rnd.closes_at + timedelta(seconds=1))
    db.session.commit()
    w.round = rnd

    many = queries_for_round()

    assert many == few
