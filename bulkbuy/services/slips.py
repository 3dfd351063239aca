"""Printed slips: a household's round on paper, in its own language, for households
that cannot be reached by e-mail (no member with an e-mail: an assisted household) or
that asked for paper (`households.paper_slips`).

A slip says what the household ordered and, once the round closed, what it gets, what
changed when the delivery came and why, what it pays (after credit, pot help and time
credits: the statement My orders shows), by when, how (a card link as a QR code, or cash
at a drop-in), and when and where to collect. An open round's slip says what it ordered
and when ordering closes.

Each slip's words are worked out in the household's language (`flask_babel.force_locale`
of `households.locale`, English when it has none). `round_slips` costs a fixed number of
queries, whatever the number of households: the one-statement reading is done once per
language among the households (at most len(i18n.LANGUAGES)), never once per household.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import flask_babel
from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import exists, func, select

from bulkbuy import i18n
from bulkbuy.domain.drop_ins import DropInTime
from bulkbuy.domain.labels import natural_key
from bulkbuy.domain.statuses import FINISHED_ROUNDS, OPEN_TO_PAYMENT, RoundStatus
from bulkbuy.extensions import db
from bulkbuy.models import (
    DeliveryNotice,
    Group,
    Household,
    Membership,
    PledgeLine,
    Round,
    RoundItem,
    Statement,
    User,
)
from bulkbuy.qr import qr_svg
from bulkbuy.services import ServiceError, credits, drop_ins, statements
from bulkbuy.services.notifications import _pay_url
from bulkbuy.services.packing import PaymentDue, payment_due
from bulkbuy.services.payments import saved_cards

#: Which households `round_slips` gives a slip: those that need paper, or all of the round's.
WHICH = ("paper", "all")
#: How many drop-in times a slip lists at most.
DROP_INS_SHOWN = 3


class NotFound(ServiceError):
    """No such household or round in this group (a page answers 404)."""


@dataclass(frozen=True)
class OrderedLine:
    """One product a household ordered in an open round: how many, and how many more it
    would take to fill a box."""

    name: str
    unit: str
    quantity: int
    tolerance: int


@dataclass(frozen=True)
class Slip:
    """One household's slip for one round, its words already in `locale`."""

    household: Household
    round: Round
    group: Group
    #: The language the slip is in (households.locale, else English), and its direction.
    locale: str
    direction: str
    #: The round is open (before close): the slip lists `ordered` and the closing time.
    is_open: bool
    ordered: list[OrderedLine] = field(default_factory=list)
    #: The statement as My orders shows it (lines with reasons, changes, saving); None
    #: while the round is open, or when the household got nothing.
    statement: statements.ExplainedStatement | None = None
    #: What is still to pay or owed back (the packing slip's reading); None while open.
    payment: PaymentDue | None = None
    #: The end of the payment window (round.pay_by); None while open.
    pay_by: datetime | None = None
    #: The card page's link and its QR code (SVG), when the household can pay by card
    #: there (cards are on, it has a member who can sign in, and money is still due).
    pay_url: str | None = None
    pay_qr: Markup | None = None
    #: Drop-ins before the deadline (the closing time, or the payment deadline).
    drop_ins: list[DropInTime] = field(default_factory=list)
    #: Card money sent back because the delivery changed the bill (the notices' sum).
    card_back_pence: int = 0
    #: "Your bill changed" notices for this round's statement.
    bill_changed: bool = False
    #: Credit the group keeps for the household's next order.
    credit_pence: int = 0
    #: The household has a member with an e-mail (else it only hears by paper).
    has_email: bool = False

    @property
    def closes_at(self) -> datetime:
        return self.round.closes_at

    @property
    def collection_place(self) -> str | None:
        return self.round.collection_place

    @property
    def collection_time(self) -> str | None:
        return self.round.collection_time

    @property
    def expected_delivery_on(self) -> date | None:
        return self.round.expected_delivery_on

    @property
    def still_to_pay_pence(self) -> int:
        return self.payment.still_to_pay_pence if self.payment else 0


def _has_email():
    """SQL: the household has a member (not erased) with an e-mail address."""
    return exists().where(
        Membership.household_id == Household.id,
        Membership.user_id == User.id,
        User.erased_at.is_(None),
    )


def needs_paper():
    """SQL: the household needs its slips on paper (no e-mail, or it asked for paper)."""
    return Household.paper_slips.is_(True) | ~_has_email()


def _round(group_id: int, round_id: int) -> Round:
    rnd = db.session.get(Round, round_id)
    if rnd is None or rnd.group_id != group_id:
        raise NotFound(_l("That round is not in this group."))
    if rnd.status != RoundStatus.OPEN and rnd.status not in FINISHED_ROUNDS:
        raise NotFound(_l("That round has no slips."))
    return rnd


def _households(rnd: Round, household_ids: list[int] | None, which: str
                ) -> list[tuple[Household, bool]]:
    """(household, has an e-mail) of the round's households (those that ordered while
    open; those with a statement after close), in natural order of labels: one query."""
    if rnd.status == RoundStatus.OPEN:
        in_round = exists().where(PledgeLine.round_id == rnd.id,
                                  PledgeLine.household_id == Household.id)
    else:
        in_round = exists().where(Statement.round_id == rnd.id,
                                  Statement.household_id == Household.id)
    query = select(Household, _has_email().label("has_email")).where(
        Household.group_id == rnd.group_id, Household.removed_at.is_(None), in_round)
    if household_ids is not None:
        query = query.where(Household.id.in_(household_ids))
    if which == "paper":
        query = query.where(needs_paper())
    rows = db.session.execute(query).all()
    return sorted(((h, bool(e)) for h, e in rows), key=lambda r: (natural_key(r[0].label),
                                                                  r[0].id))


def _ordered(rnd: Round, household_ids: list[int]) -> dict[int, list[OrderedLine]]:
    """Each household's pledges in the open round, summed per product: one query."""
    found: dict[int, list[OrderedLine]] = defaultdict(list)
    if not household_ids:
        return found
    for household_id, name, unit, quantity, tolerance in db.session.execute(
        select(PledgeLine.household_id, RoundItem.name, RoundItem.unit_description,
               func.sum(PledgeLine.quantity), func.sum(PledgeLine.tolerance))
        .join(RoundItem, PledgeLine.round_item_id == RoundItem.id)
        .where(PledgeLine.round_id == rnd.id, PledgeLine.household_id.in_(household_ids))
        .group_by(PledgeLine.household_id, RoundItem.id, RoundItem.name,
                  RoundItem.unit_description)
        .order_by(RoundItem.name)
    ):
        if quantity or tolerance:
            found[household_id].append(OrderedLine(name, unit, int(quantity),
                                                   int(tolerance or 0)))
    return found


def _notices(statement_ids: list[int]) -> dict[int, int]:
    """Statement id -> card money sent back, for statements with a "bill changed"
    notice: one query."""
    if not statement_ids:
        return {}
    return {sid: int(back or 0) for sid, back in db.session.execute(
        select(DeliveryNotice.statement_id, func.sum(DeliveryNotice.card_back_pence))
        .where(DeliveryNotice.statement_id.in_(statement_ids))
        .group_by(DeliveryNotice.statement_id))}


def _locale(household: Household) -> str:
    return i18n.or_default(household.locale)


def _slips(rnd: Round, found: list[tuple[Household, bool]], now: datetime,
           one_household: int | None = None) -> list[Slip]:
    if not found:
        return []
    group = rnd.group
    ids = [h.id for h, _e in found]
    credit = credits.balances(ids)
    if rnd.status == RoundStatus.OPEN:
        deadline = rnd.closes_at
    else:
        deadline = rnd.pay_by
    times = drop_ins.upcoming(group.id, now, until=deadline, limit=DROP_INS_SHOWN)
    if rnd.status == RoundStatus.OPEN:
        ordered = _ordered(rnd, ids)
        return [Slip(household, rnd, group, _locale(household),
                     i18n.direction(household.locale), True, ordered.get(household.id, []),
                     drop_ins=times, credit_pence=credit.get(household.id, 0),
                     has_email=has_email)
                for household, has_email in found]
    # The statements' words (reasons, changes) in each household's language: read once
    # per language among them.
    by_locale: dict[str, set[int]] = defaultdict(set)
    for household, _e in found:
        by_locale[_locale(household)].add(household.id)
    explained: dict[int, statements.ExplainedStatement] = {}
    for code, members in by_locale.items():
        with flask_babel.force_locale(code):
            for s in statements.statements_for(rnd, one_household):
                if s.household.id in members:
                    explained[s.household.id] = s
    notices = _notices([s.statement.id for s in explained.values()])
    cards = saved_cards.cards_on(current_app.config)
    slips = []
    for household, has_email in found:
        s = explained.get(household.id)
        payment = payment_due(s.statement) if s else None
        url = qr = None
        if (s and cards and has_email and payment is not None
                and payment.still_to_pay_pence > 0
                and s.statement.payment_status in OPEN_TO_PAYMENT):
            url = _pay_url(s.statement)
            with flask_babel.force_locale(_locale(household)):
                qr = qr_svg(url, title=flask_babel.gettext("QR code of the link to pay by card"))
        slips.append(Slip(
            household, rnd, group, _locale(household), i18n.direction(household.locale),
            False, statement=s, payment=payment, pay_by=rnd.pay_by, pay_url=url, pay_qr=qr,
            drop_ins=times, card_back_pence=notices.get(s.statement.id, 0) if s else 0,
            bill_changed=bool(s) and s.statement.id in notices,
            credit_pence=credit.get(household.id, 0), has_email=has_email))
    return slips


def household_slip(group_id: int, household_id: int, round_id: int, now: datetime) -> Slip:
    """The slip of one household of the group for one of its rounds (open or finished),
    whether or not the household needs paper. Raises NotFound (a page: 404) for a
    household or round of another group, a draft, cancelled or failed round, or a
    household not in the round (no order while open, no statement after close)."""
    rnd = _round(group_id, round_id)
    household = db.session.get(Household, household_id)
    if household is None or household.group_id != group_id:
        raise NotFound(_l("That household is not in this group."))
    found = _households(rnd, [household_id], "all")
    if not found:
        raise NotFound(_l("That household has nothing in this round."))
    return _slips(rnd, found, now, one_household=household_id)[0]


def round_slips(group_id: int, round_id: int, now: datetime, which: str = "paper"
                ) -> list[Slip]:
    """A slip for each household of the round that needs paper (`which="paper"`: no
    member with an e-mail, or `paper_slips` set) or for every household of the round
    (`which="all"`), in natural order of labels. Raises NotFound for another group's
    round (or one with no slips: draft, cancelled, failed). A fixed number of queries
    (about eight, plus one reading of the statements per language among them)."""
    if which not in WHICH:
        which = "paper"
    rnd = _round(group_id, round_id)
    return _slips(rnd, _households(rnd, None, which), now)


def render(slip: Slip, timezone: str) -> Markup:
    """One slip's HTML (slips/_slip.html) with its words in the slip's language; pages
    of slips call it through the template global `slip_html`."""
    from flask import render_template

    with flask_babel.force_locale(slip.locale):
        return Markup(render_template("slips/_slip.html", slip=slip,  # noqa: S704
                                      timezone=timezone))
