"""Recording what households have paid. Cash first; cards come with the Stripe work.

Our database is the record of what each household owes and has paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bulkbuy.domain import statuses
from bulkbuy.extensions import db
from bulkbuy.models import (
    CardConsent,
    CardPayment,
    CardRefund,
    CashPayment,
    Household,
    SavedCard,
    Statement,
    User,
    WriteOff,
    utcnow,
)
from bulkbuy.models.closing import WRITE_OFF_REASONS
from bulkbuy.services import ServiceError, audit, card_payments, charging


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
            Statement.payment_status.in_(statuses.OPEN_TO_PAYMENT),
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
        if statement.payment_status not in statuses.OPEN_TO_PAYMENT:
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
    try:
        db.session.flush()
    except IntegrityError:
        # The same receipt recorded at the same moment elsewhere. The transaction cannot
        # go on: the caller rolls it back (transactions.undone_on_error).
        raise ServiceError("That receipt number is already recorded.", field="receipt") from None
    audit.record(
        "cash.recorded", actor=actor, group_id=group_id, household_id=statement.household_id,
        subject=statement, amount_pence=amount_pence, receipt_number=receipt_number,
        cash_payment_id=payment.id,
    )
    db.session.flush()
    db.session.refresh(statement)
    return payment


#: Stripe's published standard fee for UK cards (1.5% + 20p), for the organiser's
#: estimate only; the group absorbs card fees.
CARD_FEE_PER_MILLE = 15
CARD_FEE_FIXED_PENCE = 20


def estimated_card_fee(amount_pence: int) -> int:
    """Stripe's standard UK card fee on a payment, rounded up to the penny."""
    return -(-amount_pence * CARD_FEE_PER_MILLE // 1000) + CARD_FEE_FIXED_PENCE


@dataclass(frozen=True)
class PaymentRow:
    statement: Statement
    household: Household
    #: Pence credited from cards and from cash.
    card_pence: int = 0
    cash_pence: int = 0
    #: Card money given back (asked of Stripe) and cash handed back.
    card_refunded_pence: int = 0
    #: Card payments a failed refund left owing money back: (payment, pence still owed).
    failed_refunds: tuple = ()
    cash_to_return: tuple[CashPayment, ...] = ()
    card: SavedCard | None = None
    consent_pence: int | None = None
    last_attempt: CardPayment | None = None
    written_off: WriteOff | None = None
    #: Whether the payment sweep will take it from the saved card.
    sweep_will_charge: bool = False

    @property
    def no_answer_since(self) -> datetime | None:
        """When a card charge Stripe has still not answered (after NO_ANSWER_WARNING) was
        started; None otherwise. The sweep keeps asking; staff should know."""
        last = self.last_attempt
        if (self.statement.payment_status != "charging" or last is None
                or last.status not in statuses.UNANSWERED_ATTEMPTS
                or utcnow() - last.created_at < NO_ANSWER_WARNING):
            return None
        return last.created_at

    @property
    def outstanding_pence(self) -> int:
        if self.statement.payment_status in ("cancelled", "settled"):
            return 0
        return self.statement.total_pence - self.statement.paid_pence


#: A card charge with no answer from Stripe for this long is pointed out to staff.
NO_ANSWER_WARNING = timedelta(hours=1)


@dataclass(frozen=True)
class RoundPayments:
    rows: list[PaymentRow]
    owed_pence: int
    paid_pence: int
    card_pence: int = 0
    cash_pence: int = 0
    card_fee_estimate_pence: int = 0
    needs_action: int = 0
    #: What the group covers (written off): the round's deficit.
    written_off_pence: int = 0
    #: Households a failed refund left owed money back to their card.
    failed_refunds: int = 0

    @property
    def outstanding_pence(self) -> int:
        return sum(r.outstanding_pence for r in self.rows)


def round_payments(round_id: int) -> RoundPayments:
    """Every statement of a round: what is paid by card and by cash, what is outstanding
    or needs the resident, with totals and an estimate of the card fees the group bears."""
    statements_ = list(db.session.execute(
        select(Statement, Household)
        .join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id == round_id)
        .order_by(Household.label)
    ))
    household_ids = [h.id for _, h in statements_]
    cards = {c.household_id: c for c in db.session.scalars(
        select(SavedCard).where(SavedCard.household_id.in_(household_ids)))} \
        if household_ids else {}
    consents = dict(db.session.execute(
        select(CardConsent.household_id, CardConsent.max_pence)
        .where(CardConsent.round_id == round_id)).all())
    attempts: dict[int, list[CardPayment]] = {}
    for attempt in db.session.scalars(
        select(CardPayment).where(CardPayment.round_id == round_id)
        .order_by(CardPayment.attempt)
    ):
        attempts.setdefault(attempt.statement_id, []).append(attempt)
    written_off = {w.statement_id: w for w in db.session.scalars(
        select(WriteOff).join(Statement, WriteOff.statement_id == Statement.id)
        .where(Statement.round_id == round_id))}
    refund_failed_for = set(db.session.scalars(
        select(CardRefund.card_payment_id)
        .join(CardPayment, CardRefund.card_payment_id == CardPayment.id)
        .where(CardPayment.round_id == round_id, CardRefund.status == "failed")))
    cash: dict[int, list[CashPayment]] = {}
    for payment in db.session.scalars(
        select(CashPayment).join(Statement, CashPayment.statement_id == Statement.id)
        .where(Statement.round_id == round_id).order_by(CashPayment.id)
    ):
        cash.setdefault(payment.statement_id, []).append(payment)
    rows = []
    for statement, household in statements_:
        tried = attempts.get(statement.id, [])
        taken = cash.get(statement.id, [])
        rows.append(PaymentRow(
            statement, household,
            card_pence=sum(a.credited_pence for a in tried if a.status == "succeeded"),
            cash_pence=sum(c.amount_pence for c in taken),
            card_refunded_pence=sum(a.refunded_pence for a in tried),
            failed_refunds=tuple(
                (a, card_payments.refund_still_owed(a)) for a in tried
                if a.id in refund_failed_for and card_payments.refund_still_owed(a) > 0),
            cash_to_return=tuple(c for c in taken if c.returned_at is None)
            if statement.payment_status == "cancelled" else (),
            card=cards.get(household.id),
            consent_pence=consents.get(household.id),
            last_attempt=tried[-1] if tried else None,
            written_off=written_off.get(statement.id),
            sweep_will_charge=charging.would_charge(
                statement, cards.get(household.id), consents.get(household.id)),
        ))
    succeeded = [a for tried in attempts.values() for a in tried if a.status == "succeeded"]
    return RoundPayments(
        rows=rows,
        owed_pence=sum(r.statement.total_pence for r in rows
                       if r.statement.payment_status != "cancelled"),
        paid_pence=sum(r.statement.paid_pence for r in rows
                       if r.statement.payment_status != "cancelled"),
        card_pence=sum(r.card_pence for r in rows),
        cash_pence=sum(r.cash_pence for r in rows),
        card_fee_estimate_pence=sum(estimated_card_fee(a.amount_pence) for a in succeeded),
        needs_action=sum(1 for r in rows if r.statement.payment_status == "needs_action"),
        failed_refunds=sum(1 for r in rows if r.failed_refunds),
        written_off_pence=sum(w.amount_pence for w in written_off.values()),
    )


def write_off(statement: Statement, reason: str, *, actor: User, now: datetime) -> WriteOff:
    """An organiser decides the group covers what is still owed on a statement ("too_small":
    under Stripe's minimum card charge, waived; "group_covers": any amount). The statement
    is then settled, and the amount is the round's deficit. Once (a guarded UPDATE); not
    while a card charge is under way. Audited."""
    if reason not in WRITE_OFF_REASONS:
        raise ServiceError("Choose why the group covers this.")
    from bulkbuy.adapters.stripe_gateway import MINIMUM_CHARGE_PENCE

    db.session.refresh(statement)
    owed = statement.total_pence - statement.paid_pence
    if reason == "too_small" and owed >= MINIMUM_CHARGE_PENCE:
        raise ServiceError("This is not too small to pay by card.")
    moved = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id,
               Statement.payment_status.in_(statuses.OPEN_TO_PAYMENT),
               Statement.paid_pence == statement.paid_pence,
               Statement.paid_pence < Statement.total_pence)
        .values(payment_status="settled", needs_action_reason=None)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        db.session.refresh(statement)
        if statement.payment_status == "charging":
            raise ServiceError("A card payment is being taken for this right now. "
                               "Look again in a minute.")
        raise ServiceError("Nothing is owed on this any more.")
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
    if statement.payment_status != "cancelled":
        raise ServiceError("Cash is handed back only when a round is cancelled.")
    result = db.session.execute(
        update(CashPayment)
        .where(CashPayment.id == payment.id, CashPayment.returned_at.is_(None))
        .values(returned_at=now, returned_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ServiceError("That cash is already recorded as handed back.")
    audit.record("cash.returned", actor=actor, group_id=payment.group_id,
                 household_id=statement.household_id, subject=payment,
                 amount_pence=payment.amount_pence, receipt_number=payment.receipt_number)
