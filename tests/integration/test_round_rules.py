"""Round rules at the edges: deadlines, cancelling, one-line names, and what households see."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import OutboxMessage, Round, utcnow
from bulkbuy.services import ServiceError, closing, pledges, rounds
from tests import factories


def _past_deadline(w):
    db.session.execute(
        update(Round).where(Round.id == w.round.id)
        .values(closes_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    return db.session.get(Round, w.round.id, populate_existing=True)


def test_an_open_round_past_its_deadline_cannot_be_cancelled_before_the_sweep_closes_it(app):
    w = factories.world()
    rnd = _past_deadline(w)
    with pytest.raises(ServiceError):
        rounds.cancel_round(rnd, actor=w.organiser, now=utcnow())
    db.session.rollback()
    assert closing.close_round(rnd.id, utcnow()) is not None
    db.session.commit()
    assert db.session.get(Round, rnd.id, populate_existing=True).status == "closed"


def test_a_draft_whose_deadline_passed_gets_a_new_one_and_can_open(app):
    w = factories.world(open_round=False)
    rnd = rounds.create_round(
        w.group, w.supplier, w.products,
        rounds.RoundDetails(title="Late draft", closes_at=utcnow() + timedelta(hours=1)),
        created_by=w.organiser, now=utcnow() - timedelta(hours=2),
    )
    db.session.commit()
    later = utcnow() + timedelta(days=2)
    rounds.extend_round(rnd, later, actor=w.organiser, now=utcnow() + timedelta(hours=3))
    rounds.open_round(rnd, actor=w.organiser, now=utcnow() + timedelta(hours=3))
    db.session.commit()
    assert db.session.get(Round, rnd.id, populate_existing=True).status == "open"


def test_a_closing_time_more_than_a_year_away_is_refused(app):
    w = factories.world()
    with pytest.raises(ServiceError, match="within the next year"):
        rounds.extend_round(w.round, utcnow() + timedelta(days=400), actor=w.organiser,
                            now=utcnow())


def test_cancelling_tells_every_household_that_ordered_and_keeps_it_on_their_page(
    client, auth
):
    w = factories.world()
    item = w.round.items[0]
    pledges.set_pledge(item, w.households[0], 2, 0, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    rounds.cancel_round(w.round, actor=w.organiser, now=utcnow())
    db.session.commit()
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert [m.to_address for m in messages] == ["r1@oak.test"]
    assert "was cancelled" in messages[0].subject
    auth.login("r1@oak.test")
    home = client.get("/").get_data(as_text=True)
    assert "Test round" in home and "Cancelled" in home
    auth.logout()
    auth.login("r2@oak.test")  # ordered nothing: not listed
    assert "Test round" not in client.get("/").get_data(as_text=True)


def test_a_failed_round_stays_on_the_page_of_households_that_ordered(client, auth):
    w = factories.world()
    db.session.execute(update(Round).where(Round.id == w.round.id).values(min_order_pence=10**6))
    db.session.commit()
    item = w.round.items[0]
    pledges.set_pledge(item, w.households[0], 2, 0, entered_by=w.residents[0], now=utcnow(),
                       max_units=999)
    db.session.commit()
    assert closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1)).status \
        == "failed"
    db.session.commit()
    auth.login("r1@oak.test")
    home = client.get("/").get_data(as_text=True)
    assert "Did not go ahead" in home
    page = client.get(f"/rounds/{w.round.id}").get_data(as_text=True)
    assert "This round did not go ahead" in page


@pytest.mark.parametrize("title", ["Rice\nBcc: someone@example.org", "Rice\rand tins", "A\tB"])
def test_a_line_break_in_a_round_title_is_refused(client, auth, title):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    before = db.session.scalar(select(Round.id).order_by(Round.id.desc()).limit(1))
    response = client.post(
        f"/organise/{w.group.id}/rounds/new?supplier={w.supplier.id}",
        data={"title": title, "products": [str(w.products[0].id)],
              "closes_at": (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
              "fee_split": "by_value", "allocation_mode": "first_come"},
    )
    assert "has characters we cannot use" in response.get_data(as_text=True)
    assert db.session.scalar(select(Round.id).order_by(Round.id.desc()).limit(1)) == before


def test_a_csv_row_whose_code_and_name_point_at_two_products_is_reported_not_a_crash(
    client, auth
):
    import io

    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    rice, tomatoes = sorted(w.products, key=lambda p: p.name)
    rice.supplier_code = "AAA"
    db.session.commit()
    csv_text = f"name,unit,case_size,case_price,code\n{tomatoes.name},tin,12,9.99,AAA\n"
    response = client.post(
        f"/organise/{w.group.id}/suppliers/{w.supplier.id}/import",
        data={"file": (io.BytesIO(csv_text.encode()), "prices.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Line 2: Code AAA belongs to Rice" in response.get_data(as_text=True)
    db.session.expire_all()
    assert rice.name == "Rice" and tomatoes.case_price_pence == 1000
