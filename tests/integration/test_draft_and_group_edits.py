"""A draft round can be changed with the round form, and nothing but a draft; a group
can be renamed on its settings, its name unique across groups whatever the case (#13,
item 13)."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bulkbuy.extensions import db
from bulkbuy.models import AuditEntry, Group, Round, RoundItem, utcnow
from bulkbuy.services import accounts, catalogue, rounds
from tests import factories
from tests.pages import page

LONDON = ZoneInfo("Europe/London")


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def local_input(days: int) -> str:
    when = (utcnow() + timedelta(days=days)).astimezone(LONDON).replace(
        hour=18, minute=0, second=0, microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M")


def draft(w) -> Round:
    rnd = rounds.create_round(
        w.group, w.supplier, w.products[:1],
        rounds.RoundDetails(title="Spring tins", closes_at=utcnow() + timedelta(days=5),
                            delivery_fee_pence=500),
        created_by=w.organiser, now=utcnow())
    db.session.commit()
    return rnd


def form_data(w, **changes) -> dict:
    data = {"title": "Spring tins and rice", "products": [str(p.id) for p in w.products],
            "closes_at": local_input(7), "opens_at": "", "delivery_fee": "7.50",
            "min_order": "", "fee_split": "equal", "allocation_mode": "pro_rata",
            "collection_place": "Hall", "collection_time": "Sat 10am", "notes": "",
            "payment_days": "4"}
    data.update(changes)
    return data


def test_a_draft_round_is_changed_with_the_round_form_and_its_products_copied_afresh(
        client, auth):
    w = factories.world(open_round=False)
    rnd = draft(w)
    rice = next(p for p in w.products if p.name == "Rice")
    catalogue.save_product(w.supplier, catalogue.ProductFields("Rice", "unit", 20, 2800),
                           actor=w.organiser, product=rice)
    db.session.commit()
    auth.login(w.organiser.email)
    edit = f"/organise/{w.group.id}/rounds/{rnd.id}/edit"

    shown = page(client.get(edit))
    assert 'value="Spring tins"' in shown and 'value="5.00"' in shown
    assert "Change this draft" in page(client.get(f"/organise/{w.group.id}/rounds/{rnd.id}"))

    response = client.post(edit, data=form_data(w))
    assert response.status_code == 303
    changed = fresh(Round, rnd.id)
    assert changed.status == "draft"
    assert (changed.title, changed.delivery_fee_pence, changed.fee_split,
            changed.allocation_mode, changed.payment_days) == (
        "Spring tins and rice", 750, "equal", "pro_rata", 4)
    items = {i.name: (i.case_size, i.case_price_pence) for i in db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == rnd.id))}
    assert items == {"Tinned tomatoes": (12, 1000), "Rice": (20, 2800)}
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "round.edited"))


def test_only_a_draft_can_be_changed(client, auth):
    w = factories.world()  # its round is open
    auth.login(w.organiser.email)
    edit = f"/organise/{w.group.id}/rounds/{w.round.id}/edit"
    assert client.get(edit).status_code == 303
    response = client.post(edit, data=form_data(w), follow_redirects=True)
    assert "Only a draft round can be changed" in page(response)
    assert fresh(Round, w.round.id).title == "Test round"


def test_a_draft_opened_meanwhile_is_not_changed_by_the_use_case(app):
    w = factories.world(open_round=False)
    rnd = draft(w)
    rounds.open_round(rnd, actor=w.organiser, now=utcnow())
    db.session.commit()
    details = rounds.RoundDetails(title="Changed", closes_at=utcnow() + timedelta(days=6))
    try:
        rounds.edit_draft(fresh(Round, rnd.id), w.products, details, actor=w.organiser,
                          now=utcnow())
    except rounds.ServiceError as error:
        assert "Only a draft round" in error.message
    else:
        raise AssertionError("an open round was changed")
    db.session.rollback()
    assert fresh(Round, rnd.id).title == "Spring tins"


def test_a_group_is_renamed_on_its_settings_and_the_change_audited(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)
    response = client.post(f"/organise/{w.group.id}/settings",
                           data={"name": "Oak Estate Buyers"}, follow_redirects=True)
    assert "Settings saved." in page(response)
    assert fresh(Group, w.group.id).name == "Oak Estate Buyers"
    entry = db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "group.settings_changed"))
    details = json.loads(entry.details)
    assert (details["setting"], details["before"], details["after"]) == (
        "name", "Oak Estate", "Oak Estate Buyers")


def test_a_group_cannot_take_another_groups_name_in_any_case(client, auth):
    w = factories.world(open_round=False)
    accounts.create_group("Elm Court", "Europe/London", w.organiser, actor=None)
    db.session.commit()
    auth.login(w.organiser.email)
    response = client.post(f"/organise/{w.group.id}/settings",
                           data={"name": "ELM COURT", "require_round_approval": "y"})
    assert response.status_code == 400
    assert "There is already a group with that name." in page(response)
    group = fresh(Group, w.group.id)
    assert (group.name, group.require_round_approval) == ("Oak Estate", False)
