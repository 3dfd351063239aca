"""The impact report (issue #17 point 2), on SQLite and PostgreSQL: each round's totals
kept at close and brought up to date at delivery and at a cancel after close; the
report's period, zeros, the "fewer than 5" rule, the CSV's formula guard, the charts,
and who may see it.

Oak Estate's round (tests/integration/helpers/three_flats.py): Flat 1 and Flat 2 pledge
6 tins each (£5 of goods), Flat 3 a case of rice (£31.50); a £3 fee split equally. Tins
cost £1.20 a tin in the shops, rice £1.50 a bag.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import delete, select

from bulkbuy.extensions import db
from bulkbuy.models import Membership, Round, RoundImpact, Statement
from bulkbuy.services import closing, delivery, impact, rounds, solidarity
from bulkbuy.services.payments import cash, refunds
from tests import factories
from tests.integration.helpers.closing_checks import pledge
from tests.integration.helpers.three_flats import AFTER, T0, oak

PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}


def _shop_prices(w) -> None:
    for item in w.round.items:
        item.retail_price_pence = {"Tinned tomatoes": 120, "Rice": 150}[item.name]
    db.session.commit()


def _close(w, at=AFTER) -> None:
    closing.close_round(w.round.id, at)
    db.session.commit()
    db.session.expire_all()


def _kept(w) -> RoundImpact:
    db.session.expire_all()
    return db.session.get(RoundImpact, w.round.id)


def _login(client, email: str) -> None:
    client.post("/login", data={"email": email, "password": factories.PASSWORD})


def _page(client, w, **args) -> tuple[int, str]:
    response = client.get(f"/organise/{w.group.id}/impact", query_string=args)
    return response.status_code, response.get_data(as_text=True)


def _url(w, tail: str = "") -> str:
    return f"/organise/{w.group.id}/impact{tail}"


# --- the kept totals ---------------------------------------------------------------


def test_closing_writes_the_rounds_totals_from_its_bills(app):
    w = oak()
    _shop_prices(w)
    _close(w)
    kept = _kept(w)
    assert (kept.outcome, kept.failed_reason, kept.households, kept.new_households) == \
        ("ran", None, 3, 3)
    assert (kept.goods_pence, kept.fees_pence) == (500 + 500 + 3150, 300)
    # 6 tins at £1.20 = £7.20 for £5, twice; 25 bags at £1.50 = £37.50 for £31.50.
    assert kept.saving_pence == 2 * (720 - 500) + (3750 - 3150)
    assert kept.assisted_households == 0
    assert kept.closed_at == AFTER


def test_the_pots_help_and_a_helpers_typing_are_kept(app):
    w = oak()
    solidarity.record_donation(w.group, 5000, "Grant", actor=w.organiser, now=T0)
    solidarity.set_supported(w.group, w.households[0], True, actor=w.organiser, now=T0)
    db.session.commit()
    # The worker typed Flat 2's order at the drop-in.
    from bulkbuy.services import pledges
    item = next(i for i in w.round.items if i.name == "Tinned tomatoes")
    pledges.set_pledge(item, w.households[1], 7, 0, entered_by=w.worker,
                       now=T0 + timedelta(hours=5), max_units=999)
    db.session.commit()
    _close(w)
    kept = _kept(w)
    helped = db.session.scalar(select(Statement.pot_pence).where(
        Statement.round_id == w.round.id, Statement.household_id == w.households[0].id))
    assert helped > 0 and kept.pot_pence == helped
    assert kept.assisted_households == 1


def test_a_failed_round_is_kept_with_why(app):
    w = oak()
    w.round.min_order_pence = 1_000_000
    db.session.commit()
    _close(w)
    kept = _kept(w)
    assert (kept.outcome, kept.failed_reason, kept.households, kept.goods_pence) == \
        ("failed", "below_minimum", 3, 0)


def test_saving_what_arrived_brings_the_totals_up_to_date(app):
    w = oak()
    _shop_prices(w)
    _close(w)
    rnd = db.session.get(Round, w.round.id)
    rounds.mark_ordered(rnd, reference=None, expected_on=(AFTER + timedelta(days=2)).date(),
                        actor=w.organiser, now=AFTER)
    db.session.commit()
    tins = next(i for i in rnd.items if i.name == "Tinned tomatoes")
    delivery.record_delivery(rnd, [delivery.Arrived(tins.id, 6, 0)], [], None,
                             drawn_version=rnd.delivery_version, actor=w.organiser,
                             now=AFTER + timedelta(days=2))
    db.session.commit()
    kept = _kept(w)
    bills = db.session.scalars(select(Statement).where(Statement.round_id == w.round.id)).all()
    assert kept.goods_pence == sum(b.goods_pence for b in bills) < 500 + 500 + 3150
    assert kept.fees_pence == sum(b.fee_pence for b in bills)


def test_a_cancel_after_close_takes_the_round_out_of_the_sums(app, client):
    w = oak()
    _close(w)
    refunds.cancel_closed_round(db.session.get(Round, w.round.id), actor=w.organiser,
                                now=AFTER + timedelta(hours=1))
    db.session.commit()
    kept = _kept(w)
    assert (kept.outcome, kept.failed_reason) == ("cancelled", "cancelled_after_close")
    found = impact.report(w.group, PERIOD, AFTER)
    assert found.totals.rounds_run == 0 and found.totals.spent_pence == 0
    assert found.not_ahead == {"cancelled_after_close": 1}


def test_a_household_is_new_once_then_returning(app):
    w = oak()
    _close(w)
    second = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Second", closes_at=AFTER + timedelta(days=7)),
        created_by=w.organiser, now=AFTER)
    rounds.open_round(second, actor=w.organiser, now=AFTER)
    db.session.commit()
    pledge(w, 0, "Rice", 25, now=AFTER + timedelta(hours=1), rnd=second)
    closing.close_round(second.id, AFTER + timedelta(days=8))
    db.session.commit()
    kept = db.session.get(RoundImpact, second.id)
    assert (kept.households, kept.new_households) == (1, 0)


def test_the_backfill_writes_what_the_close_would_have(app, runner):
    w = oak()
    _shop_prices(w)
    _close(w)
    before = _kept(w)
    wanted = {c.name: getattr(before, c.name) for c in RoundImpact.__table__.columns
              if c.name != "updated_at"}
    db.session.execute(delete(RoundImpact))
    db.session.commit()
    result = runner.invoke(args=["impact-backfill"])
    assert result.exit_code == 0, result.output
    assert "1 round(s)" in result.output
    after = _kept(w)
    assert {c: getattr(after, c) for c in wanted} == wanted
    assert "0 round(s)" in runner.invoke(args=["impact-backfill"]).output


# --- the report --------------------------------------------------------------------


def _big_round(residents: int = 6):
    """A group whose `residents` households each pledge 6 tins; closed."""
    w = factories.world(residents=residents, now=T0, closes_in=timedelta(days=3))
    for number in range(residents):
        pledge(w, number, "Tinned tomatoes", 6, now=T0 + timedelta(minutes=number))
    _shop_prices(w)
    _close(w, T0 + timedelta(days=3, minutes=1))
    return w


def test_the_report_shows_the_periods_figures(app, client):
    w = _big_round(6)
    bill = db.session.scalars(select(Statement).where(Statement.round_id == w.round.id)
                              .order_by(Statement.id)).first()
    cash.record_cash(bill, 100, "R1", actor=w.worker, now=T0 + timedelta(days=4))
    solidarity.record_donation(w.group, 2500, "Grant", actor=w.organiser, now=T0)
    db.session.commit()
    found = impact.report(w.group, PERIOD, T0 + timedelta(days=5))
    assert found.households.value == 6 and found.new.value == 6
    assert found.totals.rounds_run == 1
    assert found.totals.spent_pence == 6 * 500
    assert found.totals.saving_pence == 6 * (720 - 500)
    assert found.saved_per_household_pence == 220
    assert found.pot_in_pence == 2500
    assert found.cash_bills.kind == "fewer" and found.cash_percent is None
    _login(client, w.organiser.email)
    status, html = _page(client, w, **PERIOD)
    assert status == 200
    assert "£13.20" in html  # 6 × £2.20 saved
    assert "fewer than 5" in html


def test_counts_under_five_are_never_shown(app, client):
    w = oak()
    _close(w)
    found = impact.report(w.group, PERIOD, AFTER)
    assert found.households.kind == "fewer" and found.new.kind == "fewer"
    assert found.returning.kind in ("exact", "hidden") and found.returning.value in (0, None)
    assert all(s.households.chartable is None for s in found.steps)
    _login(client, w.organiser.email)
    status, html = _page(client, w, **PERIOD)
    assert status == 200
    assert "fewer than 5" in html
    rows = list(csv.reader(io.StringIO(client.get(_url(w, ".csv"),
                                                  query_string=PERIOD).get_data(as_text=True))))
    households = dict(r for r in rows if len(r) == 2)["Households taking part"]
    assert households == "fewer than 5"
    # The chart draws no bar for a step under 5.
    svg = client.get(_url(w, "/households.svg"), query_string=PERIOD).get_data(as_text=True)
    assert 'class="rect reactive' not in svg


def test_a_period_without_rounds_shows_zeros(app, client):
    w = oak()
    _close(w)
    _login(client, w.organiser.email)
    status, html = _page(client, w, **{"from": "2020-01-01", "to": "2020-12-31"})
    assert status == 200
    assert "£0" in html
    found = impact.report(w.group, {"from": "2020-01-01", "to": "2020-12-31"}, AFTER)
    assert found.totals.rounds_run == 0 and found.households.value == 0
    assert client.get(_url(w, "/money.svg"),
                      query_string={"from": "2020-01-01", "to": "2020-12-31"}).status_code == 200


def test_the_period_chooses_the_rounds(app):
    w = oak()
    _close(w)
    assert impact.report(w.group, {"from": "2026-03-14", "to": "2026-04-30"},
                         AFTER).totals.rounds_run == 0
    assert impact.report(w.group, {"from": "2026-03-13", "to": "2026-03-13"},
                         AFTER).totals.rounds_run == 1
    # The default: the 12 months up to today.
    assert impact.report(w.group, {}, AFTER + timedelta(days=30)).totals.rounds_run == 1
    assert impact.report(w.group, {}, AFTER + timedelta(days=400)).totals.rounds_run == 0


def test_bad_dates_get_a_clear_message(app, client):
    w = oak()
    _login(client, w.organiser.email)
    for args, words in (({"from": "yesterday"}, "Enter a date like 2026-03-14."),
                        ({"from": "2026-02-30"}, "Enter a date like 2026-03-14."),
                        ({"to": "1999-01-01"}, "between the years 2000 and 2100"),
                        ({"from": "2026-05-01", "to": "2026-04-01"}, "after it")):
        status, html = _page(client, w, **args)
        assert status == 400 and words in html, args
        assert client.get(_url(w, ".csv"), query_string=args).status_code == 400
        assert client.get(_url(w, "/money.svg"), query_string=args).status_code == 400


def test_csv_cells_are_guarded_against_formulas(app, client):
    w = _big_round(6)
    # Dearer than the shops: a negative saving, "-£…", must not be read as a formula.
    db.session.execute(delete(RoundImpact))
    for item in db.session.get(Round, w.round.id).items:
        item.retail_price_pence = 10
    db.session.commit()
    impact.backfill(T0 + timedelta(days=4))
    db.session.commit()
    _login(client, w.organiser.email)
    response = client.get(_url(w, ".csv"), query_string=PERIOD)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    cells = [cell for row in rows for cell in row]
    assert "'-£10.80" in " ".join(cells) or any(c.startswith("'-") for c in cells)
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)


def test_the_charts_are_svg_images_with_their_own_policy(app, client):
    w = _big_round(6)
    _login(client, w.organiser.email)
    for name in ("households", "money"):
        response = client.get(_url(w, f"/{name}.svg"), query_string=PERIOD)
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        assert "script-src" not in response.headers["Content-Security-Policy"]
        assert "<script" not in response.get_data(as_text=True)
    svg = client.get(_url(w, "/households.svg"), query_string=PERIOD).get_data(as_text=True)
    assert svg.count('class="rect reactive') == 1  # one month, 6 households
    assert client.get(_url(w, "/pie.svg")).status_code == 404


def test_staff_see_it_residents_do_not_and_another_group_gets_404(app, client):
    w = oak()
    other = factories.world(name="Elm Court", prefix="elm-", open_round=False)
    _close(w)
    for who, wanted in ((w.organiser, 200), (w.worker, 200), (w.residents[0], 403),
                        (other.organiser, 404)):
        client.post("/logout")
        _login(client, who.email)
        for tail in ("", ".csv", "/households.svg"):
            assert client.get(_url(w, tail)).status_code == wanted, (who.email, tail)
    assert db.session.scalar(select(Membership.role).where(
        Membership.user_id == w.worker.id)) == "worker"
