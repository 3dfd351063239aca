"""Cash taken for a statement, cash handed back, and what the group writes off.

Our database is the record of what each household owes and has paid. A
statement moves only as `bulkbuy.domain.payment_states.STATEMENT` allows.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bulkbuy.adapters.stripe_gateway import MINIMUM_CHARGE_PENCE
from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import CashPayment, Statement, User, WriteOff
from bulkbuy.models.closing import WRITE_OFF_REASONS
from bulkbuy.services import ServiceError, audit


def statement_of_round(round_id: int, statement_id: int) -> Statement | None:
    """The statement with this id if it is one of the round's, else None."""
    statement = db.session.get(Statement, statement_id)
    return statement if statement is not None and statement.round_id == round_id else None


def cash_payment_of_round(group_id: int, round_id: int, cash_id: int) -> CashPayment | None:
    """The cash payment with this id if the group took it for one of the round's
    statements, else None."""
    cash = db.session.get(CashPayment, cash_id)
    if cash is None or cash.group_id != group_id or cash.statement.round_id != round_id:
        return None
    return cash


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
        raise ServiceError(_l("Enter an amount more than £0."), field="amount")
    group_id = statement.round.group_id
    used = db.session.scalar(
        select(CashPayment.id).where(
            CashPayment.group_id == group_id, CashPayment.receipt_number == receipt_number
        )
    )
    if used is not None:
        raise ServiceError(_l("That receipt number is already recorded."), field="receipt")
    result = db.session.execute(
        update(Statement)
        .where(
            Statement.id == statement.id,
            # Not while a card charge is under way ("charging"): one of the two would
            # be more than is owed.
            Statement.payment_status.in_(STATEMENT.sources("cash_pays_rest")),
            Statement.paid_pence + amount_pence <= Statement.total_pence,
        )
        .values(paid_pence=Statement.paid_pence + amount_pence)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(statement)
        if statement.payment_status == StatementStatus.CHARGING:
            raise ServiceError(_l("A card payment is being taken for this right now. "
                                  "Look again in a minute."), field="amount")
        if statement.payment_status not in STATEMENT.sources("cash_pays_rest"):
            raise ServiceError(_l("Nothing is owed on this any more."), field="amount")
        raise ServiceError(_l("That is more than they still owe."), field="amount")
    db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.paid_pence == Statement.total_pence,
               Statement.payment_status.in_(STATEMENT.sources("cash_pays_rest")))
        .values(payment_status=STATEMENT.target("cash_pays_rest"), needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    payment = CashPayment(
        group_id=group_id, statement_id=statement.id, amount_pence=amount_pence,
        receipt_number=receipt_number, recorded_by_id=actor.id, recorded_at=now,
    )
    db.session.add(payment)
    try:
        db.session.flush()
    except IntegrityError:
        # The same receipt recorded at the same moment elsewhere. The transaction cannot
        # go on: the caller rolls it back (transactions.undone_on_error).
        raise ServiceError(_l("That receipt number is already recorded."),
                           field="receipt") from None
    audit.record(
        "cash.recorded", actor=actor, group_id=group_id, household_id=statement.household_id,
        subject=statement, amount_pence=amount_pence, receipt_number=receipt_number,
        cash_payment_id=payment.id,
    )
    db.session.flush()
    db.session.refresh(statement)
    return payment


def write_off(statement: Statement, reason: str, *, actor: User, now: datetime) -> WriteOff:
    """An organiser decides the group covers what is still owed on a statement ("too_small":
    under Stripe's minimum card charge, waived; "group_covers": any amount). The statement
    is then settled, and the amount is the round's deficit. Once (a guarded UPDATE); not
    while a card charge is under way. Audited."""
    if reason not in WRITE_OFF_REASONS:
        raise ServiceError(_l("Choose why the group covers this."))
    db.session.refresh(statement)
    owed = statement.total_pence - statement.paid_pence
    if reason == "too_small" and owed >= MINIMUM_CHARGE_PENCE:
        raise ServiceError(_l("This is not too small to pay by card."))
    moved = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id,
               Statement.payment_status.in_(STATEMENT.sources("write_off")),
               Statement.paid_pence == statement.paid_pence,
               Statement.paid_pence < Statement.total_pence)
        .values(payment_status=STATEMENT.target("write_off"), needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        db.session.refresh(statement)
        if statement.payment_status == StatementStatus.CHARGING:
            raise ServiceError(_l("A card payment is being taken for this right now. "
                                  "Look again in a minute."))
        raise ServiceError(_l("Nothing is owed on this any more."))
    written = WriteOff(group_id=statement.round.group_id, statement_id=statement.id,
                       amount_pence=owed, reason=reason, recorded_by_id=actor.id,
                       recorded_at=now)
    db.session.add(written)
    db.session.flush()
    db.session.refresh(statement)
    audit.record("statement.written_off", actor=actor, group_id=written.group_id,
                 household_id=statement.household_id, subject=statement,
                 amount_pence=owed, reason=reason)
    return written


def record_cash_returned(payment: CashPayment, *, actor: User, now: datetime) -> None:
    """Record that cash taken for a cancelled round's statement was handed back. Audited.

    Once only (a guarded UPDATE); refuses cash of a statement that is not cancelled.
    """
    statement = db.session.get(Statement, payment.statement_id)
    if statement.payment_status != StatementStatus.CANCELLED:
        raise ServiceError(_l("Cash is handed back only when a round is cancelled."))
    result = db.session.execute(
        update(CashPayment)
        .where(CashPayment.id == payment.id, CashPayment.returned_at.is_(None))
        .values(returned_at=now, returned_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ServiceError(_l("That cash is already recorded as handed back."))
    audit.record("cash.returned", actor=actor, group_id=payment.group_id,
                 household_id=statement.household_id, subject=payment,
                 amount_pence=payment.amount_pence, receipt_number=payment.receipt_number)
