"""Finishing a round: one balance for the group's books, checked to the penny, and the
move from delivered to complete once every bag and every bill is done with.

The check, per statement and for the round (money in pence):

    money received = card money in (succeeded payments' amounts)
                     − refunded to cards (asked of Stripe or done; a failed refund gives
                       its amount back, so it is not counted)
                     + cash in (entries not reversed) − cash handed back
                     + spare sold (the cash taken for spare units)
                     + cash gifts to the solidarity pot (handed over beside the cash)
    money received + credit from earlier rounds used on these bills
                   + what the group's solidarity pot paid on these bills
                   + what time credits took off these bills' fee shares (the group's
                     discount, services.time_credits)
        = paid on the bills + cash held for households (owed back, or a cancelled
          bill's cash not yet handed back) + kept as credit for a later round
          + card money a failed refund still owes back
          + spare sold, kept by the group (units sold × the price each)
          + gifts to the solidarity pot it keeps (a card's ride on its charge)

Both sides are worked out from different rows or columns (payments, refunds, cash
entries, the credit ledger and the cash taken for spare units on one side; the
statements' own paid and owed-back figures, and spare units sold at their price, on the
other), so a figure changed behind the app's back shows as a difference, with the
households whose money does not add up.

Spare units are no household's: their cash is money in that pays no bill. The group
keeps it towards the supplier's invoice, so it comes off the group's deficit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select, update

from bulkbuy.domain import statuses
from bulkbuy.domain.labels import natural_key
from bulkbuy.domain.statuses import AttemptStatus, RoundStatus, StatementStatus
from bulkbuy.extensions import db
from bulkbuy.formatting import pence
from bulkbuy.models import (
    CardPayment,
    CardRefund,
    CashPayment,
    CashReturn,
    Household,
    HouseholdCredit,
    Round,
    RoundItem,
    SolidarityEntry,
    SpareDisposal,
    Statement,
    User,
    WriteOff,
)
from bulkbuy.services import ServiceError, audit, collection
from bulkbuy.services.payments import overview, refunds

#: Rounds whose books can be seen: delivered (being finished) and complete.
SHOWN_ROUNDS = (RoundStatus.DELIVERED, RoundStatus.COMPLETE)
#: A statement is done with in one of these (and with nothing owed back).
DONE_STATEMENTS = (StatementStatus.PAID, StatementStatus.SETTLED, StatementStatus.CANCELLED)


@dataclass(frozen=True)
class Figure:
    """One line of the books: what it is, in words, and its pence (None: not known,
    like an invoice nobody typed in). Money going out is negative."""

    key: str
    label: LazyString
    pence: int | None


@dataclass(frozen=True)
class Mismatch:
    """A household whose money does not add up: money in less what is accounted for."""

    household: Household
    difference_pence: int


@dataclass(frozen=True)
class Books:
    """Every figure of a round's books, and whether they balance."""

    round: Round
    goods_pence: int
    fees_pence: int
    #: What households owe in all (goods + fees), cancelled bills left out.
    bills_pence: int
    #: Still owed on bills not yet paid or settled.
    outstanding_pence: int
    card_in_pence: int
    #: Refunded to cards (asked of Stripe or done), as a positive number.
    card_refunded_pence: int
    cash_in_pence: int
    #: Cash handed back (a cancelled round's, and what was owed back after a delivery).
    cash_handed_back_pence: int
    credits_used_pence: int
    #: Cash taken for spare units (units nobody's bag has), and the same sales as units
    #: sold × the price each: where that money is now (kept by the group).
    spare_sold_pence: int
    spare_kept_pence: int
    paid_pence: int
    #: Cash the group holds for households, to hand back or keep as credit.
    cash_held_pence: int
    credits_issued_pence: int
    #: Card money a failed refund still owes back.
    card_still_owed_pence: int
    #: Card refunds Stripe has not yet confirmed.
    refunds_waiting: int
    written_off_pence: int
    invoice_pence: int | None
    card_fee_estimate_pence: int
    #: What the group's solidarity pot paid on these bills at close (part of paid_pence).
    pot_used_pence: int = 0
    #: What households' time credits took off their fee shares at close (part of
    #: paid_pence): the group pays it, as a discount.
    time_credit_pence: int = 0
    #: Gifts to the solidarity pot the pot keeps: with card charges (part of card money
    #: in) and handed over with cash (in the cash tin, beside cash in).
    card_gifts_pence: int = 0
    cash_gifts_pence: int = 0
    #: Households whose own money does not add up (empty when the books balance).
    mismatches: list[Mismatch] = field(default_factory=list)
    #: What is left before the round can be finished, in plain words (empty: nothing).
    left: list[str] = field(default_factory=list)

    @property
    def received_pence(self) -> int:
        """Money received for the round, after what went back."""
        return (self.card_in_pence - self.card_refunded_pence + self.cash_in_pence
                - self.cash_handed_back_pence + self.spare_sold_pence
                + self.cash_gifts_pence)

    @property
    def money_in_pence(self) -> int:
        """One side of the check: money received, credit from earlier rounds used, and
        what the solidarity pot paid."""
        return (self.received_pence + self.credits_used_pence + self.pot_used_pence
                + self.time_credit_pence)

    @property
    def accounted_pence(self) -> int:
        """The other side: where that money is now."""
        return (self.paid_pence + self.cash_held_pence + self.credits_issued_pence
                + self.card_still_owed_pence + self.spare_kept_pence
                + self.card_gifts_pence + self.cash_gifts_pence)

    @property
    def difference_pence(self) -> int:
        """Money in less what is accounted for: 0 when the books balance."""
        return self.money_in_pence - self.accounted_pence

    @property
    def balanced(self) -> bool:
        return self.difference_pence == 0

    @property
    def invoice_above_bills_pence(self) -> int:
        """What the supplier's invoice asks above what households pay (0 if not above)."""
        return max(0, (self.invoice_pence or 0) - self.bills_pence) \
            if self.invoice_pence is not None else 0

    @property
    def invoice_below_bills_pence(self) -> int:
        """What households pay above the supplier's invoice (0 if not above)."""
        return max(0, self.bills_pence - self.invoice_pence) \
            if self.invoice_pence is not None else 0

    @property
    def deficit_pence(self) -> int:
        """What the group covers from its own funds: write-offs, what time credits took
        off fee shares, and an invoice above what households pay, less what spare units
        sold for (never below 0). Shown, never charged to anyone."""
        return max(0, self.written_off_pence + self.invoice_above_bills_pence
                   + self.time_credit_pence
                   - self.spare_kept_pence)

    @property
    def sections(self) -> list[tuple[LazyString, list[Figure]]]:
        """The figures as the page and the CSV show them, in order, under headings."""
        return [
            (_l("What households owe"), [
                Figure("goods", _l("Goods"), self.goods_pence),
                Figure("fees", _l("Delivery fees"), self.fees_pence),
                Figure("bills", _l("Households' bills in all"), self.bills_pence),
                Figure("outstanding", _l("Still to pay"), self.outstanding_pence),
            ]),
            (_l("Money in and out"), [
                Figure("card_in", _l("Card payments in"), self.card_in_pence),
                Figure("card_refunded", _l("Refunded to cards"), -self.card_refunded_pence),
                Figure("cash_in", _l("Cash in"), self.cash_in_pence),
                Figure("cash_handed_back", _l("Cash handed back"),
                       -self.cash_handed_back_pence),
                Figure("spare_sold", _l("Spare sold (cash for units nobody ordered)"),
                       self.spare_sold_pence),
                # Shown only for a round with cash gifts to the pot.
                *([Figure("cash_gifts", _l("Cash gifts to the solidarity pot (in the cash "
                                           "tin)"), self.cash_gifts_pence)]
                  if self.cash_gifts_pence else []),
                Figure("received", _l("Money received for the round"),
                       self.received_pence),
                Figure("credits_used", _l("Credit from earlier rounds used on these bills"),
                       self.credits_used_pence),
                # Shown only for a round the pot paid towards.
                *([Figure("pot_used", _l("Paid by the group's solidarity pot"),
                          self.pot_used_pence)] if self.pot_used_pence else []),
                *([Figure("time_credits", _l("Taken off fee shares for time given"),
                          self.time_credit_pence)] if self.time_credit_pence else []),
                Figure("money_in", _l("Money in"), self.money_in_pence),
            ]),
            (_l("Where that money is now"), [
                Figure("paid", _l("Paid on households' bills"), self.paid_pence),
                Figure("cash_held", _l("Cash held for households, to hand back or keep "
                                       "as credit"), self.cash_held_pence),
                Figure("credits_issued", _l("Kept as credit for a later round"),
                       self.credits_issued_pence),
                Figure("card_still_owed", _l("Card money still to go back (a refund did "
                                             "not go through)"),
                       self.card_still_owed_pence),
                Figure("spare_kept", _l("Spare sold, kept by the group towards the "
                                        "supplier's invoice"), self.spare_kept_pence),
                # Shown only for a round with gifts to the pot (card and cash).
                *([Figure("pot_gifts", _l("Gifts to the solidarity pot"),
                          self.card_gifts_pence + self.cash_gifts_pence)]
                  if self.card_gifts_pence or self.cash_gifts_pence else []),
                Figure("accounted", _l("Accounted for"), self.accounted_pence),
                Figure("difference", _l("Difference (0 when the books balance)"),
                       self.difference_pence),
            ]),
            (_l("The supplier and what the group covers"), [
                Figure("invoice", _l("Supplier's invoice"), self.invoice_pence),
                Figure("invoice_above_bills", _l("Invoice above what households pay"),
                       self.invoice_above_bills_pence),
                Figure("invoice_below_bills", _l("Households pay above the invoice"),
                       self.invoice_below_bills_pence),
                Figure("written_off", _l("Written off"), self.written_off_pence),
                *([Figure("time_credits_covered", _l("Taken off fee shares for time given"),
                          self.time_credit_pence)] if self.time_credit_pence else []),
                Figure("spare_off_deficit", _l("Spare sold, taken off the deficit"),
                       -min(self.spare_kept_pence,
                            self.written_off_pence + self.invoice_above_bills_pence
                            + self.time_credit_pence)),
                Figure("deficit", _l("The group's deficit"), self.deficit_pence),
                Figure("card_fees", _l("Card fees (estimate)"),
                       self.card_fee_estimate_pence),
            ]),
        ]

    @property
    def figures(self) -> list[Figure]:
        """Every figure, in the order of `sections`."""
        return [figure for _heading, figures in self.sections for figure in figures]


def books(rnd: Round) -> Books:
    """The round's books: what households owe, money in and out, where it is now, the
    supplier's invoice and the group's deficit, with the check and the households whose
    money does not add up; for a delivered round, what is left before it can be
    finished. A fixed number of queries, however many households. Writes nothing."""
    rows = db.session.execute(
        select(Statement, Household).join(Household, Statement.household_id == Household.id)
        .where(Statement.round_id == rnd.id)).all()
    live = [s for s, _h in rows if s.payment_status != StatementStatus.CANCELLED]
    money_in: dict[int, int] = defaultdict(int)
    accounted: dict[int, int] = defaultdict(int)
    for statement, _household in rows:
        if statement.payment_status == StatementStatus.CANCELLED:
            continue  # its money is counted below: card money owed back, cash not returned
        accounted[statement.id] += statement.paid_pence + statement.owed_back_pence
        money_in[statement.id] += statement.pot_pence + statement.time_credit_pence

    card_in = card_refunded = card_still_owed = card_fees = 0
    for payment in db.session.scalars(
        select(CardPayment).where(CardPayment.round_id == rnd.id,
                                  CardPayment.status == AttemptStatus.SUCCEEDED)
    ):
        still_owed = refunds.refund_still_owed(payment)
        card_in += payment.amount_pence
        card_refunded += payment.refunded_pence
        card_still_owed += still_owed
        card_fees += overview.estimated_card_fee(payment.amount_pence)
        money_in[payment.statement_id] += payment.amount_pence - payment.refunded_pence
        accounted[payment.statement_id] += still_owed
    # Gifts to the pot the pot keeps (received less given back), by statement: a card's
    # is part of its charge; a cash gift was handed over beside the cash.
    card_gifts = cash_gifts = 0
    for statement_id, by_card, by_cash in db.session.execute(
        select(SolidarityEntry.statement_id,
               func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.card_payment_id.is_not(None)), 0),
               func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.cash_payment_id.is_not(None)), 0))
        .join(Statement, SolidarityEntry.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id,
               SolidarityEntry.reason.in_(("gift", "gift_given_back")))
        .group_by(SolidarityEntry.statement_id)
    ):
        card_gifts += by_card
        cash_gifts += by_cash
        accounted[statement_id] += by_card + by_cash
        money_in[statement_id] += by_cash
    refunds_waiting = db.session.scalar(
        select(func.count(CardRefund.id))
        .join(CardPayment, CardRefund.card_payment_id == CardPayment.id)
        .where(CardPayment.round_id == rnd.id,
               CardRefund.status.in_(statuses.UNANSWERED_REFUNDS))) or 0

    cancelled = {s.id for s, _h in rows if s.payment_status == StatementStatus.CANCELLED}
    cash_in = handed_back = cancelled_cash_held = 0
    # A reversed entry was a mistake: it never counts.
    for statement_id, amount, returned_at in db.session.execute(
        select(CashPayment.statement_id, CashPayment.amount_pence, CashPayment.returned_at)
        .join(Statement, CashPayment.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id, CashPayment.reversed_at.is_(None))
    ):
        cash_in += amount
        money_in[statement_id] += amount
        if returned_at is not None:
            handed_back += amount
            money_in[statement_id] -= amount
        elif statement_id in cancelled:
            cancelled_cash_held += amount
            accounted[statement_id] += amount
    for statement_id, amount in db.session.execute(
        select(CashReturn.statement_id, func.sum(CashReturn.amount_pence))
        .join(Statement, CashReturn.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id).group_by(CashReturn.statement_id)
    ):
        handed_back += amount
        money_in[statement_id] -= amount

    credits_used = credits_issued = 0
    for statement_id, reason, amount in db.session.execute(
        select(HouseholdCredit.statement_id, HouseholdCredit.reason,
               func.sum(HouseholdCredit.amount_pence))
        .join(Statement, HouseholdCredit.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id)
        .group_by(HouseholdCredit.statement_id, HouseholdCredit.reason)
    ):
        if reason == "used":
            credits_used -= amount  # used entries are negative
            money_in[statement_id] -= amount
        else:
            credits_issued += amount
            accounted[statement_id] += amount

    written_off = db.session.scalar(
        select(func.coalesce(func.sum(WriteOff.amount_pence), 0))
        .join(Statement, WriteOff.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id, WriteOff.undone_at.is_(None))) or 0

    # Spare sales: the cash taken (money in), and units × price each (where it is now).
    spare_sold, spare_kept = db.session.execute(
        select(func.coalesce(func.sum(SpareDisposal.cash_pence), 0),
               func.coalesce(func.sum(SpareDisposal.units * SpareDisposal.unit_pence), 0))
        .join(RoundItem, SpareDisposal.round_item_id == RoundItem.id)
        .where(RoundItem.round_id == rnd.id, SpareDisposal.kind == "sold")).one()

    mismatches = [
        Mismatch(household, money_in[statement.id] - accounted[statement.id])
        for statement, household in sorted(
            rows, key=lambda row: (natural_key(row[1].label), row[1].id))
        if money_in[statement.id] != accounted[statement.id]
    ]
    found = Books(
        round=rnd,
        goods_pence=sum(s.goods_pence for s in live),
        fees_pence=sum(s.fee_pence for s in live),
        bills_pence=sum(s.total_pence for s in live),
        outstanding_pence=sum(s.total_pence - s.paid_pence for s in live
                              if s.payment_status in statuses.OWED),
        card_in_pence=card_in, card_refunded_pence=card_refunded,
        cash_in_pence=cash_in, cash_handed_back_pence=handed_back,
        credits_used_pence=credits_used,
        spare_sold_pence=int(spare_sold), spare_kept_pence=int(spare_kept),
        paid_pence=sum(s.paid_pence for s in live),
        cash_held_pence=sum(s.owed_back_pence for s in live) + cancelled_cash_held,
        credits_issued_pence=credits_issued, card_still_owed_pence=card_still_owed,
        refunds_waiting=refunds_waiting, written_off_pence=written_off,
        invoice_pence=rnd.invoice_total_pence, card_fee_estimate_pence=card_fees,
        pot_used_pence=sum(s.pot_pence for s in live),
        time_credit_pence=sum(s.time_credit_pence for s in live),
        card_gifts_pence=int(card_gifts), cash_gifts_pence=int(cash_gifts),
        mismatches=mismatches,
    )
    if rnd.status == RoundStatus.DELIVERED:
        found = replace(found, left=_left_to_do(rnd, found, [s for s, _h in rows]))
    return found


def _left_to_do(rnd: Round, found: Books, statements: list[Statement]) -> list[str]:
    """What stops the round being finished, in plain words (empty: nothing)."""
    left = []
    bags = collection.board(rnd)
    if bags.left:
        left.append(ngettext("%(num)s bag not collected or given away",
                             "%(num)s bags not collected or given away", bags.left))
    owing = sum(1 for s in statements if s.payment_status not in DONE_STATEMENTS)
    if owing:
        left.append(ngettext("%(num)s household still owes money",
                             "%(num)s households still owe money", owing))
    if found.cash_held_pence:
        left.append(str(_l("%(amount)s of cash to hand back or keep as credit",
                           amount=pence(found.cash_held_pence))))
    if found.refunds_waiting:
        left.append(ngettext("%(num)s card refund not yet confirmed by Stripe",
                             "%(num)s card refunds not yet confirmed by Stripe",
                             found.refunds_waiting))
    if found.card_still_owed_pence:
        left.append(str(_l("%(amount)s of card refunds that did not go through",
                           amount=pence(found.card_still_owed_pence))))
    if not found.balanced:
        left.append(str(_l("the books do not balance (%(amount)s out)",
                           amount=pence(abs(found.difference_pence)))))
    return left


def finish_round(rnd: Round, *, actor: User, now: datetime) -> Books:
    """Mark a delivered round complete: only when every household's bag is collected or
    given away (a bag kept for later is not finished), every bill is paid, settled or
    cancelled with nothing owed back, no card refund is waiting or failed, and the books
    balance. Otherwise refused (ServiceError, nothing written), saying in plain words
    everything that is left. One guarded UPDATE from "delivered" at the delivery version
    read, so a delivery saved again meanwhile (which may move money) stops it. Audited
    with the round's main figures. Returns the books it finished with."""
    if rnd.status == RoundStatus.COMPLETE:
        raise ServiceError(_l("This round is already finished."))
    if rnd.status != RoundStatus.DELIVERED:
        raise ServiceError(_l("Only a round whose delivery has come in can be finished."))
    version = rnd.delivery_version
    found = books(rnd)
    if found.left:
        raise ServiceError(_l("The round cannot be finished yet: %(left)s.",
                              left="; ".join(found.left)))
    moved = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.status == RoundStatus.DELIVERED,
               Round.delivery_version == version)
        .values(status=RoundStatus.COMPLETE)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ServiceError(_l("This round changed a moment ago, so it was not finished. "
                              "Look at it again."))
    db.session.refresh(rnd)
    audit.record("round.completed", actor=actor, group_id=rnd.group_id, subject=rnd,
                 finished_at=now, bills_pence=found.bills_pence,
                 received_pence=found.received_pence,
                 written_off_pence=found.written_off_pence,
                 deficit_pence=found.deficit_pence, invoice_pence=found.invoice_pence)
    return found

