"""Cash taken for a statement, cash handed back, and what the group writes off.

Our database is the record of what each household owes and has paid. A
statement moves only as `bulkbuy.domain.payment_states.STATEMENT` allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bulkbuy.adapters.stripe_gateway import MINIMUM_CHARGE_PENCE
from bulkbuy.domain.payment_states import STATEMENT, move
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import (
    CashPayment,
    Household,
    Round,
    SpareDisposal,
    Statement,
    User,
    WriteOff,
)
from bulkbuy.models.closing import WRITE_OFF_REASONS
from bulkbuy.services import ServiceError, audit, solidarity


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
    gift_pence: int = 0,
) -> CashPayment:
    """Record cash taken for a statement; part payments allowed, never more than is owed.

    `gift_pence`: handed over beside it as a gift to the group's solidarity pot (at most
    the config's cap), which the pot receives with this payment.

    The paid total moves in one guarded UPDATE, so two workers recording at
    once can never take a statement past its total, and a receipt number is
    used once per group, so a form sent twice records once. Audited.
    """
    if amount_pence <= 0:
        raise ServiceError(_l("Enter an amount more than £0."), field="amount")
    solidarity.check_cash_gift(gift_pence)
    group_id = statement.round.group_id
    used = db.session.scalar(
        select(CashPayment.id).where(
            CashPayment.group_id == group_id, CashPayment.receipt_number == receipt_number
        )
    )
    if used is not None:
        if db.session.get(CashPayment, used).reversed_at is not None:
            raise ServiceError(_l("That receipt number was on an entry that was reversed. "
                                  "Add a letter to it, like %(example)s.",
                                  example=receipt_number + "b"), field="receipt")
        raise ServiceError(_l("That receipt number is already recorded."), field="receipt")
    if db.session.scalar(select(SpareDisposal.id).where(
            SpareDisposal.group_id == group_id,
            SpareDisposal.receipt_number == receipt_number)) is not None:
        # One receipt book: the number was used for spare units sold after a delivery.
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
    if gift_pence:
        solidarity.receive_cash_gift(statement, payment.id, gift_pence, actor=actor, now=now)
    elif statement.payment_status == StatementStatus.PAID:
        solidarity.drop_unpaid_card_gift(statement)  # paid in cash: no card gift to come
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
    # A write-off that was undone keeps its row (one per statement): writing off again
    # makes it current once more, with the new amount and reason.
    written = db.session.scalar(select(WriteOff).where(WriteOff.statement_id == statement.id))
    fields = {"amount_pence": owed, "reason": reason, "recorded_by_id": actor.id,
              "recorded_at": now, "undone_at": None, "undone_by_id": None}
    if written is None:
        written = WriteOff(group_id=statement.round.group_id, statement_id=statement.id,
                           **fields)
        db.session.add(written)
    else:
        for name, value in fields.items():
            setattr(written, name, value)
    db.session.flush()
    db.session.refresh(statement)
    solidarity.drop_unpaid_card_gift(statement)  # settled without the card: no gift to come
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
    if payment.reversed_at is not None:
        raise ServiceError(_l("That cash entry was reversed: there is nothing to hand back."))
    result = db.session.execute(
        update(CashPayment)
        .where(CashPayment.id == payment.id, CashPayment.returned_at.is_(None),
               CashPayment.reversed_at.is_(None))
        .values(returned_at=now, returned_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ServiceError(_l("That cash is already recorded as handed back."))
    audit.record("cash.returned", actor=actor, group_id=payment.group_id,
                 household_id=statement.household_id, subject=payment,
                 amount_pence=payment.amount_pence, receipt_number=payment.receipt_number)
    # Its gift to the pot goes back too (hand it back with it), unless the pot spent it.
    solidarity.give_back_cash_gift(payment.id, now, actor=actor)


#: Longest reason for reversing a cash entry (the column's size).
REVERSAL_REASON_MAX = 200


def reverse_cash(payment: CashPayment, reason: str, *, actor: User,
                 now: datetime) -> Statement:
    """Reverse a cash entry recorded by mistake (staff of the group), with the reason in
    the person's words. The entry is kept, marked reversed; its amount no longer counts
    as paid, and the statement moves back as the table allows (`cash_reversed`: paid or
    due -> due; `cash_reversed_card_waits`: needs_action stays). Audited.

    Refused, changing nothing: an entry already reversed or handed back, a cancelled
    round's (hand it back instead), a statement partly written off (undo that first) or
    being charged by card, cash whose gift to the solidarity pot the pot has spent.
    Twice at once reverses once (guarded UPDATEs).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_l("Say why this cash entry is a mistake."), field="reason")
    if len(reason) > REVERSAL_REASON_MAX:
        raise ServiceError(_l("Keep the reason to %(n)s characters or fewer.",
                              n=REVERSAL_REASON_MAX), field="reason")
    db.session.refresh(payment)
    statement = db.session.get(Statement, payment.statement_id)
    db.session.refresh(statement)
    if payment.reversed_at is not None:
        raise ServiceError(_l("That cash entry is already reversed."))
    if payment.returned_at is not None:
        raise ServiceError(_l("That cash was handed back, so it cannot be reversed."))
    current = statement.payment_status
    if current == StatementStatus.CANCELLED:
        raise ServiceError(_l("The round was cancelled: hand the cash back and record that "
                              "instead."))
    if current == StatementStatus.CHARGING:
        raise ServiceError(_l("A card payment is being taken for this right now. "
                              "Look again in a minute."))
    if current == StatementStatus.SETTLED:
        raise ServiceError(_l("The rest of this was written off. Undo the write-off first, "
                              "then reverse the cash."))
    if solidarity.cash_gift_spent_pence(payment.id) > 0:
        # Reversed, the pot would keep a gift that never came: it has spent it already.
        raise ServiceError(_l("The gift to the solidarity pot that came with this cash has "
                              "already been spent, so this entry cannot be reversed. "
                              "Speak to an organiser."))
    event = ("cash_reversed_card_waits" if current == StatementStatus.NEEDS_ACTION
             else "cash_reversed")
    target = move(STATEMENT, current, event)
    marked = db.session.execute(
        update(CashPayment)
        .where(CashPayment.id == payment.id, CashPayment.reversed_at.is_(None),
               CashPayment.returned_at.is_(None))
        .values(reversed_at=now, reversed_by_id=actor.id, reversal_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:
        raise ServiceError(_l("That cash entry is already reversed."))
    moved = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id, Statement.payment_status == current,
               Statement.paid_pence >= payment.amount_pence)
        .values(paid_pence=Statement.paid_pence - payment.amount_pence,
                payment_status=target)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        # Something else moved the statement meanwhile; the caller undoes the mark too.
        raise ServiceError(_l("This changed a moment ago. Look at it again."))
    audit.record("cash.reversed", actor=actor, group_id=payment.group_id,
                 household_id=statement.household_id, subject=payment,
                 amount_pence=payment.amount_pence, receipt_number=payment.receipt_number,
                 reason=reason, statement_id=statement.id)
    solidarity.give_back_cash_gift(payment.id, now, actor=actor)  # the gift was a mistake too
    db.session.flush()
    db.session.refresh(payment)
    db.session.refresh(statement)
    return statement


def current_write_off(statement: Statement) -> WriteOff | None:
    """The write-off standing on a statement (not undone), if any."""
    return db.session.scalar(select(WriteOff).where(WriteOff.statement_id == statement.id,
                                                    WriteOff.undone_at.is_(None)))


def undo_write_off(statement: Statement, *, actor: User, now: datetime) -> WriteOff:
    """Undo a write-off made by mistake (an organiser): what it covered is owed again
    (`write_off_undone`: settled -> due). Only while nothing depends on it: the statement
    is still settled with exactly what was paid when it was written off (no card money
    came, the round was not cancelled). The row is kept, marked undone. Once (guarded
    UPDATEs). Audited."""
    db.session.refresh(statement)
    written = current_write_off(statement)
    if written is None:
        raise ServiceError(_l("There is no write-off to undo here."))
    paid_then = statement.total_pence - written.amount_pence
    if (statement.payment_status not in STATEMENT.sources("write_off_undone")
            or statement.paid_pence != paid_then):
        raise ServiceError(_l("Something changed on this since it was written off (a "
                              "payment, or the round was cancelled), so it cannot be undone."))
    marked = db.session.execute(
        update(WriteOff)
        .where(WriteOff.id == written.id, WriteOff.undone_at.is_(None))
        .values(undone_at=now, undone_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    moved = db.session.execute(
        update(Statement)
        .where(Statement.id == statement.id,
               Statement.payment_status.in_(STATEMENT.sources("write_off_undone")),
               Statement.paid_pence == paid_then)
        .values(payment_status=STATEMENT.target("write_off_undone"))
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1 or moved.rowcount != 1:
        raise ServiceError(_l("That write-off is already undone."))
    audit.record("statement.write_off_undone", actor=actor, group_id=written.group_id,
                 household_id=statement.household_id, subject=statement,
                 amount_pence=written.amount_pence, reason=written.reason,
                 write_off_id=written.id)
    db.session.flush()
    db.session.refresh(written)
    db.session.refresh(statement)
    return written


@dataclass(frozen=True)
class RoundReceipts:
    """One closed round of a household: its statement, cash entries and write-off."""

    round: Round
    statement: Statement
    cash: tuple[CashPayment, ...]
    write_off: WriteOff | None


def household_of_group(group_id: int, household_id: int) -> Household | None:
    """The household with this id if it is the group's, else None."""
    household = db.session.get(Household, household_id)
    return household if household is not None and household.group_id == group_id else None


def household_receipts(household: Household) -> list[RoundReceipts]:
    """Every closed round of the household's group it has a statement in, newest first:
    the cash taken (with receipt numbers; reversed and handed-back entries included and
    marked) and any write-off, standing or undone. Writes nothing."""
    found = db.session.execute(
        select(Statement, Round).join(Round, Statement.round_id == Round.id)
        .where(Statement.household_id == household.id,
               Round.group_id == household.group_id)
        .order_by(Round.closed_at.desc(), Round.id.desc())
    ).all()
    ids = [s.id for s, _r in found]
    cash: dict[int, list[CashPayment]] = {}
    written: dict[int, WriteOff] = {}
    if ids:
        for payment in db.session.scalars(
            select(CashPayment).where(CashPayment.statement_id.in_(ids))
            .order_by(CashPayment.recorded_at, CashPayment.id)
        ):
            cash.setdefault(payment.statement_id, []).append(payment)
        written = {w.statement_id: w for w in db.session.scalars(
            select(WriteOff).where(WriteOff.statement_id.in_(ids)))}
    return [RoundReceipts(rnd, statement, tuple(cash.get(statement.id, ())),
                          written.get(statement.id)) for statement, rnd in found]
