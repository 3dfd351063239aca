"""Recording what households have paid. Cash first; cards come with the Stripe work.

Our database is the record of what each household owes and has paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from bulkbuy.extensions import db
from bulkbuy.models import CashPayment, Household, Statement, User
from bulkbuy.services import ServiceError, audit


def record_cash(
    statement: Statement,
    amount_pence: int,
    receipt_number: str,
    *,
    actor: User,
    now: datetime,
) -> CashPayment:
    """Record cash taken for a statement; part payments allowed, never more than is owed.

    The paid total moves in one guarded UPDATE, so two workers recording at
    once can never take a statement past its total, and a receipt number is
    used once per group, so a form sent twice records once. Audited.
    """
    if amount_pence <= 0:
        raise ServiceError("Enter an amount more than £0.", field="amount")
    group_id = statement.round.group_id
    used = db.session.scalar(
        select(CashPayment.id).where(
            CashPayment.group_id == group_id, CashPayment.receipt_number == receipt_number
        )
    )
    if used is not None:
        raise ServiceError("That receipt number is already recorded.", field="receipt")
    result = db.session.execute(
        update(Statement)
        .where(
            Statement.id == statement.id,
            # Not while a card charge is under way ("charging"): one of the two would
            # be more than is owed.
            Statement.payment_status.in_(("due", "needs_action")),
            Statement.paid_pence + amount_pence <= Statement.total_pence,
        )
        .values(paid_pence=Statement.paid_pence + amount_pence)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(statement)
        if statement.payment_status == "charging":
            raise ServiceError("A card payment is being taken for this right now. "
                               "Look again in a minute.", field="amount")
        if statement.payment_status not in ("due", "needs_action"):
            raise ServiceError("Nothing is owed on this any more.", field="amount")
        raise ServiceError("That is more than they still owe.", field="amount")
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.paid_pence == Statement.total_pence)
        .values(payment_status="paid", needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    payment = CashPayment(
        group_id=group_id, statement_id=statement.id, amount_pence=amount_pence,
        receipt_number=receipt_number, recorded_by_id=actor.id, recorded_at=now,
    )
    db.session.add(payment)
    audit.record(
        "cash.recorded", actor=actor, group_id=group_id, household_id=statement.household_id,
        subject=statement, amount_pence=amount_pence, receipt_number=receipt_number,
    )
    db.session.flush()
    db.session.refresh(statement)
    return payment


@dataclass(frozen=True)
class PaymentRow:
    statement: Statement
    household: Household

    @property
    def outstanding_pence(self) -> int:
        return self.statement.total_pence - self.statement.paid_pence


@dataclass(frozen=True)
class RoundPayments:
    rows: list[PaymentRow]
    owed_pence: int
    paid_pence: int

    @property
    def outstanding_pence(self) -> int:
        return self.owed_pence - self.paid_pence


def round_payments(round_id: int) -> RoundPayments:
    """Every statement of a round with what is paid and outstanding, and the totals."""
    rows = [
        PaymentRow(statement, household)
        for statement, household in db.session.execute(
            select(Statement, Household)
            .join(Household, Statement.household_id == Household.id)
            .where(Statement.round_id == round_id)
            .order_by(Household.label)
        )
    ]
    return RoundPayments(
        rows=rows,
        owed_pence=sum(r.statement.total_pence for r in rows),
        paid_pence=sum(r.statement.paid_pence for r in rows),
    )
