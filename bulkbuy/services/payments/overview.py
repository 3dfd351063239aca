"""The round's payments page: what each household paid by card and in cash, what is
outstanding or needs the resident, and an estimate of the card fees. Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bulkbuy.domain import statuses
from bulkbuy.domain.labels import natural_key
from bulkbuy.extensions import db
from bulkbuy.models import (
    CardConsent,
    CardPayment,
    CardRefund,
    CashPayment,
    Household,
    SavedCard,
    Statement,
    WriteOff,
    utcnow,
)
from bulkbuy.services.payments import charge_sweep, refunds

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
    #: Of `cash_pence`, what was handed back (a cancelled round's).
    cash_returned_pence: int = 0
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

    @property
    def cash_to_return_pence(self) -> int:
        """Cash taken for a cancelled round's statement not yet handed back."""
        return sum(c.amount_pence for c in self.cash_to_return)


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
    statements_ = sorted(db.session.execute(
        select(Statement, Household)
        .join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id == round_id)
    ), key=lambda row: (natural_key(row[1].label), row[1].id))  # "Flat 2" before "Flat 10"
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
        .where(Statement.round_id == round_id, WriteOff.undone_at.is_(None)))}
    refund_failed_for = set(db.session.scalars(
        select(CardRefund.card_payment_id)
        .join(CardPayment, CardRefund.card_payment_id == CardPayment.id)
        .where(CardPayment.round_id == round_id, CardRefund.status == "failed")))
    cash: dict[int, list[CashPayment]] = {}
    for payment in db.session.scalars(
        select(CashPayment).join(Statement, CashPayment.statement_id == Statement.id)
        # A reversed entry was a mistake: it never counts (the household's receipts
        # page lists it, marked).
        .where(Statement.round_id == round_id, CashPayment.reversed_at.is_(None))
        .order_by(CashPayment.id)
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
                (a, refunds.refund_still_owed(a)) for a in tried
                if a.id in refund_failed_for and refunds.refund_still_owed(a) > 0),
            cash_to_return=tuple(c for c in taken if c.returned_at is None)
            if statement.payment_status == "cancelled" else (),
            cash_returned_pence=sum(c.amount_pence for c in taken
                                    if c.returned_at is not None),
            card=cards.get(household.id),
            consent_pence=consents.get(household.id),
            last_attempt=tried[-1] if tried else None,
            written_off=written_off.get(statement.id),
            sweep_will_charge=charge_sweep.would_charge(
                statement, cards.get(household.id), consents.get(household.id),
                sum(a.amount_pence - a.refunded_pence for a in tried
                    if a.status == "succeeded")),
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
