"""A household's data in its hands: the download (everything of its own, nothing of
another household, nothing of a card), the privacy page, and the audit log's keeping."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CardPayment,
    CardRefund,
    HouseholdCredit,
    SavedCard,
    Statement,
    utcnow,
)
from bulkbuy.services import accounts, audit, closing, pledges, retention
from bulkbuy.services.payments import cash
from tests import factories
from tests.pages import count, page


def closed_world():
    """r1 (Flat 1) and r2 (Flat 2) each get 6 of 12 tins at £10 a box: £5 each. r1 paid
    £2 in cash, £3 by card (£1 of it refunded), has a saved card and £1 kept."""
    w = factories.world(products=(("Tinned tomatoes", 12, 1000),))
    item = w.round.items[0]
    for household, person in zip(w.households, w.residents, strict=True):
        pledges.set_pledge(item, household, 6, 0, entered_by=person, now=utcnow(),
                           max_units=999)
    db.session.commit()
    closing.close_round(w.round.id, w.round.closes_at + timedelta(seconds=1))
    db.session.commit()
    mine, theirs = (db.session.scalar(select(Statement).where(Statement.household_id == h.id))
                    for h in w.households)
    cash.record_cash(mine, 200, "R-MINE", actor=w.worker, now=utcnow())
    cash.record_cash(theirs, 500, "R-THEIRS", actor=w.worker, now=utcnow())
    h1 = w.households[0]
    db.session.add(SavedCard(household_id=h1.id, customer_id="cus_SECRETCUSTOMER",
                             payment_method_id="pm_SECRETMETHOD", brand="visa",
                             last4="4242", status="saved", saved_at=utcnow()))
    paid = CardPayment(statement_id=mine.id, round_id=w.round.id, household_id=h1.id,
                       attempt=1, idempotency_key="key-mine-1", amount_pence=300,
                       status="succeeded", payment_intent_id="pi_MINE", credited_pence=300,
                       refunded_pence=100)
    db.session.add(paid)
    db.session.flush()
    db.session.add(CardRefund(card_payment_id=paid.id, amount_pence=100, reason="overpaid",
                              idempotency_key="refund-mine-1", status="succeeded",
                              refund_id="re_MINE"))
    db.session.add(HouseholdCredit(group_id=w.group.id, household_id=h1.id,
                                   amount_pence=100, reason="owed_back",
                                   statement_id=mine.id))
    db.session.commit()
    return w, mine, theirs


def download(client):
    response = client.post("/my/data.zip")
    assert response.status_code == 200
    return response, zipfile.ZipFile(io.BytesIO(response.data))


def rows(archive, name):
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_the_zip_holds_the_households_own_records_and_nothing_else(client, auth):
    w, mine, _theirs = closed_world()
    h1 = w.households[0]
    auth.login("r1@oak.test")

    response, archive = download(client)

    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    folder = f"household-{h1.id}"
    assert {n.split("/")[0] for n in archive.namelist()} == {"README.txt", "account.json",
                                                            folder}
    assert rows(archive, f"{folder}/household.csv")[0]["name"] == "Flat 1"
    assert rows(archive, f"{folder}/household.csv")[0]["card_saved"] == "yes"
    assert [(m["name"], m["email"]) for m in rows(archive, f"{folder}/members.csv")] == [
        ("Resident 1", "r1@oak.test")]
    assert [(p["product"], p["quantity"]) for p in rows(archive, f"{folder}/pledges.csv")] == [
        ("Tinned tomatoes", "6")]
    statement = rows(archive, f"{folder}/statements.csv")[0]
    assert (statement["total_pence"], statement["total"]) == ("500", "£5")
    assert [line["units"] for line in rows(archive, f"{folder}/statement_lines.csv")] == ["6"]
    assert [(c["amount_pence"], c["amount"], c["receipt_number"])
            for c in rows(archive, f"{folder}/cash_payments.csv")] == [("200", "£2", "R-MINE")]
    card = rows(archive, f"{folder}/card_payments.csv")
    assert [(c["amount_pence"], c["stripe_payment_intent"]) for c in card] == [("300",
                                                                               "pi_MINE")]
    assert [r["stripe_refund"] for r in rows(archive, f"{folder}/card_refunds.csv")] == [
        "re_MINE"]
    kept = rows(archive, f"{folder}/money_kept_for_next_order.csv")
    assert [(k["amount_pence"], k["amount"]) for k in kept] == [("100", "£1")]
    assert "cash.recorded" in {e["action"] for e in rows(archive, f"{folder}/log.csv")}
    data = json.loads(archive.read(f"{folder}/data.json"))
    assert data["household"]["name"] == "Flat 1"
    assert data["statements"][0]["paid_pence"] == 200
    assert json.loads(archive.read("account.json"))["email"] == "r1@oak.test"

    everything = b"".join(archive.read(name) for name in archive.namelist())
    for secret in (b"Flat 2", b"r2@oak.test", b"Resident 2", b"R-THEIRS",
                   b"cus_SECRETCUSTOMER", b"pm_SECRETMETHOD", b"visa", b"last4"):
        assert secret not in everything, secret
    downloaded = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "data.downloaded")).all()
    assert [(e.actor_id, e.household_id) for e in downloaded] == [(w.residents[0].id, h1.id)]


def test_a_member_of_two_groups_gets_a_folder_per_household(client, auth):
    w = factories.world(open_round=False)
    elm = factories.world(name="Elm Court", prefix="elm-", open_round=False)
    second = accounts.join_group(elm.group, w.residents[0], "House 5")
    db.session.commit()
    auth.login("r1@oak.test")

    _response, archive = download(client)

    folders = {n.split("/")[0] for n in archive.namelist() if "/" in n}
    assert folders == {f"household-{w.households[0].id}", f"household-{second.household_id}"}
    assert count(AuditEntry) >= 2


def test_the_data_page_explains_the_download_and_the_zip_is_posted(client, auth):
    factories.world(open_round=False)
    auth.login("r1@oak.test")

    response = client.get("/my/data")
    text = page(response)
    assert response.status_code == 200
    assert "Download my data" in text and "Ask us to erase it" in text
    assert "/privacy" in text
    assert client.get("/my/data.zip").status_code == 405
    assert "/my/data" in page(client.get("/my-orders"))


def test_signed_out_people_are_sent_to_sign_in_for_their_data(client):
    factories.world(open_round=False)
    assert client.get("/my/data").status_code == 302
    assert client.post("/my/data.zip").status_code == 302


def test_the_privacy_page_is_open_to_everyone_and_linked_in_the_footer(client, auth):
    factories.world(open_round=False)

    response = client.get("/privacy")

    text = page(response)
    assert response.status_code == 200
    assert "730 days" in text and "6 years" in text
    assert 'href="/privacy"' in client.get("/login").get_data(as_text=True)


def test_the_retention_sweep_deletes_only_entries_older_than_the_setting(app):
    w = factories.world(open_round=False)
    now = utcnow()
    for age in (731, 800, 729, 0):
        audit.record("test.aged", actor=None, group_id=w.group.id,
                     note=str(age)).at = now - timedelta(days=age)
    db.session.commit()
    assert app.config["AUDIT_RETENTION_DAYS"] == 730

    assert sweeps.sweep_audit_retention(now) == 2
    assert sweeps.sweep_audit_retention(now) == 0

    left = {json.loads(e.details)["note"] for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "test.aged"))}
    assert left == {"729", "0"}
    assert (sweeps.sweep_audit_retention, 3600) in sweeps.periodic_jobs(app.config)


def test_the_retention_sweep_works_in_batches(app):
    w = factories.world(open_round=False)
    now = utcnow()
    for _n in range(5):
        audit.record("test.aged", actor=None, group_id=w.group.id).at = now - timedelta(
            days=40)
    db.session.commit()

    assert retention.delete_old_audit_entries(now, 30, batch=2) == 2
    db.session.commit()
    assert sweeps.sweep_audit_retention(now, days=30) == 3
    assert retention.delete_old_audit_entries(now, 0) == 0  # never the whole log


def test_staff_without_a_household_get_their_account_only(client, auth):
    w = factories.world(open_round=False)
    auth.login(w.organiser.email)

    assert "You are not part of a household" in page(client.get("/my/data"))
    assert "You are not part of a household" in page(client.get("/my/data/erase-request"))
    _response, archive = download(client)

    assert sorted(archive.namelist()) == ["README.txt", "account.json"]
    assert json.loads(archive.read("account.json"))["email"] == "org@oak.test"
