"""The group's solidarity pot: donations in, help out at close, to the penny.

The pot is a ledger (`SolidarityEntry`: positive in, negative out) whose sum, the
balance, is never negative: money only goes out at close (`apply_at_close`), which
locks the group's row and reads the balance again under that lock, so two rounds of
one group closing at once never spend the same pence (SQLite serialises writers).

At close, supported households' bills are shared the pot by `domain.solidarity` (fees
first, then a share of goods up to a cap, largest remainder when the pot is short). The
help is paid onto each bill as credit is (`statements.paid_pence`, and how much of that
came from the pot in `statements.pot_pence`): a bill the pot covers whole is paid. The
household pays total − pot. Who is supported is private to staff and the household.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.domain.solidarity import Claim, PotRule, share_pot
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.extensions import db
from bulkbuy.models import (
    Group,
    Household,
    Round,
    SolidarityEntry,
    SolidaritySettings,
    Statement,
    SupportedHousehold,
    User,
)
from bulkbuy.services import ServiceError, audit

#: The most one donation may be (£100,000): a typing slip, not a grant.
MAX_DONATION_PENCE = 10_000_000
#: Entries shown on the pot page, newest first.
SHOWN_ENTRIES = 200


@dataclass(frozen=True)
class PotTotals:
    """What went into the pot, what went out (a positive number), and what is left."""

    in_pence: int
    out_pence: int

    @property
    def balance_pence(self) -> int:
        return self.in_pence - self.out_pence


@dataclass(frozen=True)
class PotPage:
    """Everything the organiser's pot page shows."""

    totals: PotTotals
    entries: list[SolidarityEntry]
    goods_share_percent: int
    cap_pence: int | None
    #: The group's households (removed ones left out), by name, and whether each is
    #: supported.
    households: list[tuple[Household, bool]]


def totals(group_id: int) -> PotTotals:
    """The pot's money in and out, one query."""
    money_in, money_out = db.session.execute(
        select(func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.amount_pence > 0), 0),
               func.coalesce(func.sum(SolidarityEntry.amount_pence)
                             .filter(SolidarityEntry.amount_pence < 0), 0))
        .where(SolidarityEntry.group_id == group_id)).one()
    return PotTotals(int(money_in), -int(money_out))


def balance(group_id: int) -> int:
    """The pot's balance in pence (never negative)."""
    return int(db.session.scalar(
        select(func.coalesce(func.sum(SolidarityEntry.amount_pence), 0))
        .where(SolidarityEntry.group_id == group_id)) or 0)


def rule(group_id: int) -> PotRule:
    """The group's rule: its share of goods as an exact fraction and its cap (no
    settings yet: fees only, no cap)."""
    settings = db.session.get(SolidaritySettings, group_id)
    if settings is None:
        return PotRule(goods_share=Fraction(0))
    return PotRule(goods_share=Fraction(settings.goods_share_percent, 100),
                   cap_pence=settings.cap_pence)


def supported_ids(group_id: int) -> set[int]:
    """Ids of the households the group's pot supports now."""
    return set(db.session.scalars(
        select(SupportedHousehold.household_id)
        .where(SupportedHousehold.group_id == group_id,
               SupportedHousehold.unmarked_at.is_(None))))


def pot_page(group: Group) -> PotPage:
    """The balance, totals, latest entries, rule and households of the group's pot."""
    settings = db.session.get(SolidaritySettings, group.id)
    entries = list(db.session.scalars(
        select(SolidarityEntry).where(SolidarityEntry.group_id == group.id)
        .order_by(SolidarityEntry.recorded_at.desc(), SolidarityEntry.id.desc())
        .limit(SHOWN_ENTRIES)))
    supported = supported_ids(group.id)
    homes = db.session.scalars(
        select(Household).where(Household.group_id == group.id,
                                Household.removed_at.is_(None))
        .order_by(Household.label_key, Household.id))
    return PotPage(
        totals=totals(group.id), entries=entries,
        goods_share_percent=settings.goods_share_percent if settings else 0,
        cap_pence=settings.cap_pence if settings else None,
        households=[(h, h.id in supported) for h in homes])


def record_donation(group: Group, amount_pence: int, note: str | None, *, actor: User,
                    now: datetime) -> SolidarityEntry:
    """Put a donation into the group's pot. Audited. ServiceError for an amount that is
    not above 0 or is over MAX_DONATION_PENCE."""
    if amount_pence <= 0:
        raise ServiceError(_l("Enter an amount above £0.00."), field="amount")
    if amount_pence > MAX_DONATION_PENCE:
        raise ServiceError(_l("That is more than £100,000. Check the amount."),
                           field="amount")
    entry = SolidarityEntry(group_id=group.id, amount_pence=amount_pence, reason="donation",
                            note=note, recorded_by_id=actor.id, recorded_at=now)
    db.session.add(entry)
    db.session.flush()
    audit.record("solidarity.donation", actor=actor, group_id=group.id, subject=entry,
                 amount_pence=amount_pence, note=note)
    return entry


def save_rule(group: Group, goods_share_percent: int, cap_pence: int | None, *,
              actor: User, now: datetime) -> SolidaritySettings:
    """Set how much the pot pays a supported household in a round: a share of its goods
    (0–100 %) after its fee, and a cap per round (None: no cap). Audited."""
    if not 0 <= goods_share_percent <= 100:
        raise ServiceError(_l("The share of goods must be from 0 to 100."), field="share")
    if cap_pence is not None and cap_pence < 0:
        raise ServiceError(_l("The most per household cannot be below £0.00."), field="cap")
    settings = db.session.get(SolidaritySettings, group.id)
    before = (settings.goods_share_percent, settings.cap_pence) if settings else (0, None)
    if settings is None:
        settings = SolidaritySettings(group_id=group.id)
        db.session.add(settings)
    settings.goods_share_percent = goods_share_percent
    settings.cap_pence = cap_pence
    settings.updated_by_id = actor.id
    settings.updated_at = now
    db.session.flush()
    audit.record("solidarity.rule_changed", actor=actor, group_id=group.id,
                 share_before=before[0], cap_before_pence=before[1],
                 share_after=goods_share_percent, cap_after_pence=cap_pence)
    return settings


def set_supported(group: Group, household: Household, supported: bool, *, actor: User,
                  now: datetime) -> bool:
    """Mark the household as one the pot supports, or no longer. Returns whether anything
    changed (marking twice changes nothing). Audited when it changes."""
    if household.group_id != group.id or household.removed_at is not None:
        raise ServiceError(_l("That household is not in this group."))
    row = db.session.scalar(select(SupportedHousehold).where(
        SupportedHousehold.household_id == household.id).with_for_update())
    is_now = row is not None and row.unmarked_at is None
    if is_now == supported:
        return False
    if supported:
        if row is None:
            row = SupportedHousehold(group_id=group.id, household_id=household.id)
            db.session.add(row)
        row.marked_by_id, row.marked_at, row.unmarked_at = actor.id, now, None
    else:
        row.unmarked_at = now
    db.session.flush()
    audit.record("solidarity.supported" if supported else "solidarity.unsupported",
                 actor=actor, group_id=group.id, household_id=household.id)
    return True


def _locked_balance(group_id: int) -> int:
    """The balance, read while this transaction holds the group's row."""
    # FOR NO KEY UPDATE: closes wait for each other, but not for rows that merely refer
    # to the group (their KEY SHARE locks), which a close already holds.
    db.session.execute(select(Group.id).where(Group.id == group_id)
                       .with_for_update(key_share=True))
    return balance(group_id)


def apply_at_close(rnd: Round, now: datetime) -> int:
    """At close, before credit: the pot pays towards the new bills of `rnd` of the
    households it supports, as `domain.solidarity.share_pot` shares its balance. Each
    bill's help is paid onto it (paid_pence and pot_pence); a bill covered whole moves
    to paid. One ledger entry out per bill. Returns the pence spent (never more than the
    balance, read under a lock of the group's row)."""
    supported = supported_ids(rnd.group_id)
    if not supported:
        return 0  # one query for a group whose pot supports nobody
    statements = {s.household_id: s for s in db.session.scalars(
        select(Statement).where(Statement.round_id == rnd.id,
                                Statement.household_id.in_(supported),
                                Statement.payment_status == StatementStatus.DUE))}
    if not statements:
        return 0
    held = _locked_balance(rnd.group_id)
    if held <= 0:
        return 0
    # The fee share left after time credits (services.time_credits, applied first).
    claims = [Claim(s.household_id, s.position, s.fee_pence - s.time_credit_pence,
                    s.goods_pence)
              for s in statements.values()]
    share = share_pot(held, claims, rule(rnd.group_id))
    for household_id in sorted(share.helps):
        help_ = share.helps[household_id].total_pence
        if help_ <= 0:
            continue
        statement = statements[household_id]
        statement.pot_pence += help_
        statement.paid_pence += help_
        if statement.paid_pence == statement.total_pence:
            statement.payment_status = STATEMENT.move(statement.payment_status,
                                                      "pot_pays_rest")
        db.session.add(SolidarityEntry(
            group_id=rnd.group_id, amount_pence=-help_, reason="round_help",
            statement_id=statement.id, household_id=household_id, recorded_at=now))
        audit.record("solidarity.help", actor=None, group_id=rnd.group_id,
                     household_id=household_id, subject=statement, amount_pence=help_,
                     fee_help_pence=share.helps[household_id].fee_pence)
    db.session.flush()
    return share.spent_pence


def give_back_help(rnd: Round, now: datetime) -> int:
    """A closed round was cancelled: what the pot paid on its bills goes back into the
    pot (one entry in per bill, of the same pence). To be called once, by the cancel
    (itself a guarded, once-only move). Returns the pence given back."""
    helped = db.session.execute(
        select(SolidarityEntry.statement_id, SolidarityEntry.household_id,
               func.sum(SolidarityEntry.amount_pence))
        .join(Statement, SolidarityEntry.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id,
               SolidarityEntry.reason.in_(("round_help", "help_given_back")))
        .group_by(SolidarityEntry.statement_id, SolidarityEntry.household_id)).all()
    given = 0
    for statement_id, household_id, total in helped:
        if not total or total >= 0:
            continue
        db.session.add(SolidarityEntry(group_id=rnd.group_id, amount_pence=-total,
                                       reason="help_given_back", statement_id=statement_id,
                                       household_id=household_id, recorded_at=now))
        audit.record("solidarity.help_given_back", actor=None, group_id=rnd.group_id,
                     household_id=household_id, amount_pence=-total,
                     statement_id=statement_id)
        given += -total
    db.session.flush()
    return given
