"""Money the group holds for a household after a short delivery: handed back in cash, or
kept as a credit; and each household's credit ledger, taken off its next bill.

The ledger is entries (positive in, negative used) whose sum, the balance, is never
negative: a credit is only used by a guarded write that re-checks the balance.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import CashReturn, HouseholdCredit, Round, Statement, User
from bulkbuy.services import ServiceError, audit


def _take_owed_back(statement: Statement) -> int:
    """Clear what the group holds for the household on this statement (once: a guarded
    UPDATE from the amount read). Returns the pence; ServiceError when there is none or
    someone else just did it."""
    db.session.refresh(statement)
    amount = statement.owed_back_pence
    if amount <= 0:
        raise ServiceError(_l("Nothing is owed back to this household for this round."))
    moved = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.owed_back_pence == amount)
        .values(owed_back_pence=0)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise ServiceError(_l("Someone else has just settled this. Nothing was changed."))
    db.session.refresh(statement)
    return amount


def hand_back(statement: Statement, *, actor: User, now: datetime) -> CashReturn:
    """Record that a worker handed back, in cash, what the group held for the household
    on this statement. Once. Audited."""
    amount = _take_owed_back(statement)
    returned = CashReturn(statement_id=statement.id, amount_pence=amount,
                          recorded_by_id=actor.id, recorded_at=now)
    db.session.add(returned)
    audit.record("cash.owed_back_returned", actor=actor, group_id=statement.round.group_id,
                 household_id=statement.household_id, subject=statement, amount_pence=amount)
    return returned


def keep_as_credit(statement: Statement, *, actor: User, now: datetime) -> HouseholdCredit:
    """The household keeps what the group held for it as a credit, taken off its next
    bill. Once. Audited."""
    amount = _take_owed_back(statement)
    credit = HouseholdCredit(group_id=statement.round.group_id,
                             household_id=statement.household_id, amount_pence=amount,
                             reason="owed_back", statement_id=statement.id,
                             recorded_by_id=actor.id, recorded_at=now)
    db.session.add(credit)
    audit.record("credit.kept", actor=actor, group_id=statement.round.group_id,
                 household_id=statement.household_id, subject=statement, amount_pence=amount)
    return credit


def balance(household_id: int) -> int:
    """The household's credit, in pence (never negative)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(HouseholdCredit.amount_pence), 0))
        .where(HouseholdCredit.household_id == household_id)) or 0


def balances(household_ids: Iterable[int]) -> dict[int, int]:
    """Credit per household (only those with some), one query."""
    ids = list(household_ids)
    if not ids:
        return {}
    return {h: b for h, b in db.session.execute(
        select(HouseholdCredit.household_id, func.sum(HouseholdCredit.amount_pence))
        .where(HouseholdCredit.household_id.in_(ids))
        .group_by(HouseholdCredit.household_id)).all() if b and b > 0}


def apply_to_new_statements(rnd: Round, now: datetime) -> int:
    """At close: each household's credit pays first towards its new statement of `rnd`
    (before any card charge), as far as it goes. Returns how many statements it paid
    towards. Each use is a ledger entry, written only while the balance covers it (the
    household's credit rows are locked on PostgreSQL; SQLite serialises writers)."""
    in_credit = [h for h, b in db.session.execute(
        select(HouseholdCredit.household_id, func.sum(HouseholdCredit.amount_pence))
        .where(HouseholdCredit.household_id.in_(
            select(Statement.household_id).where(Statement.round_id == rnd.id)))
        .group_by(HouseholdCredit.household_id)).all() if b and b > 0]
    if not in_credit:
        return 0  # one query for a round where nobody has credit
    owing = {s.household_id: s for s in db.session.scalars(
        select(Statement).where(Statement.round_id == rnd.id,
                                Statement.household_id.in_(in_credit),
                                Statement.payment_status == StatementStatus.DUE))}
    applied = 0
    for household_id in sorted(owing):
        db.session.scalars(select(HouseholdCredit.id).where(
            HouseholdCredit.household_id == household_id).with_for_update()).all()
        held = balance(household_id)
        statement = owing[household_id]
        use = min(held, statement.total_pence - statement.paid_pence)
        if use <= 0:
            continue
        db.session.add(HouseholdCredit(group_id=rnd.group_id, household_id=household_id,
                                       amount_pence=-use, reason="used",
                                       statement_id=statement.id, recorded_at=now))
        statement.paid_pence += use
        if statement.paid_pence == statement.total_pence:
            statement.payment_status = STATEMENT.move(statement.payment_status,
                                                      "credit_pays_rest")
        audit.record("credit.used", actor=None, group_id=rnd.group_id,
                     household_id=household_id, subject=statement, amount_pence=use)
        applied += 1
    db.session.flush()
    return applied


def give_back_used(rnd: Round, now: datetime) -> int:
    """A closed round was cancelled: every household's credit used on its statements goes
    back to its ledger (an entry in, of the same pence), kept for its next round. Called
    once, by the cancel (itself a guarded, once-only move). Returns the pence given back."""
    used = db.session.execute(
        select(HouseholdCredit.household_id, HouseholdCredit.statement_id,
               func.sum(HouseholdCredit.amount_pence))
        .join(Statement, HouseholdCredit.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id, HouseholdCredit.reason == "used")
        .group_by(HouseholdCredit.household_id, HouseholdCredit.statement_id)).all()
    given = 0
    for household_id, statement_id, total in used:
        if not total:
            continue
        db.session.add(HouseholdCredit(group_id=rnd.group_id, household_id=household_id,
                                       amount_pence=-total, reason="owed_back",
                                       statement_id=statement_id, recorded_at=now))
        audit.record("credit.given_back", actor=None, group_id=rnd.group_id,
                     household_id=household_id, amount_pence=-total,
                     statement_id=statement_id)
        given += -total
    db.session.flush()
    return given
