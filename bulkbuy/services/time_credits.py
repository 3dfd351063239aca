"""Time credits (issue #17 point 4): time a resident gives the group earns credits, and
the group's rule turns them into pence off that household's delivery-fee share.

Choices:

* Earning: staff (organisers and workers) enter time given for a household (packing on
  delivery day, or other help); a worker's drop-in on the tablet is logged for the
  worker's own household of the group when the session ends (`log_dropin`, called by
  services.tablet.end_session), once per session, at most MAX_DROPIN_MINUTES (a tablet
  left signed in overnight is not a day's help). One credit per `minutes_per_credit`
  minutes, whole credits only: minutes short of a credit are carried to the household's
  next time given (`TimeCreditEntry.carried_minutes`), so no minute is lost.
* Only organisers set the rule (`TimeCreditSettings`); none, or 0 pence a credit: off.
* At close, before the solidarity pot and before money kept from an earlier round (so
  neither pays what time credits already cover): `apply_at_close` takes credits off each
  new bill's fee share as `domain.time_credits.fee_with_credits` says (whole credits;
  never below zero; the others' shares unchanged). The group pays the reduced part as a
  discount: it is recorded on the bill as `time_credit_pence`, counted as paid (as the
  pot's help is: `paid_pence`), and the books count it as money in, "taken off for time
  given" (services.settlement). One ledger entry of −credits used per bill.
* The ledger's balance is never negative: credits are only used while the household's
  entries are locked (PostgreSQL; SQLite serialises writers) and the balance read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.domain.statuses import StatementStatus
from bulkbuy.domain.time_credits import credits_for_minutes, fee_with_credits
from bulkbuy.extensions import db
from bulkbuy.models import (
    Group,
    Household,
    Membership,
    Round,
    Statement,
    TabletSession,
    TimeCreditEntry,
    TimeCreditSettings,
    User,
)
from bulkbuy.models.time_credits import EARNED_REASONS
from bulkbuy.services import ServiceError, audit

#: The most minutes one entry of time given may be (16 hours): a typing slip otherwise.
MAX_MINUTES = 16 * 60
#: The most minutes one drop-in session logs: a tablet left signed in is not help given.
MAX_DROPIN_MINUTES = 8 * 60
#: The most one credit may be worth, and the most per round (£1,000): a typing slip.
MAX_PENCE = 100_000
#: Ledger entries shown on the staff page and to the household, newest first.
SHOWN_ENTRIES = 200
#: What staff may enter by hand (drop-in help is logged from the tablet).
STAFF_REASONS = ("packing", "other")


@dataclass(frozen=True)
class Rule:
    """The group's rule as it is now (defaults when none is saved: off)."""

    minutes_per_credit: int = 60
    pence_per_credit: int = 0
    most_per_round_pence: int | None = None

    @property
    def on(self) -> bool:
        return self.pence_per_credit > 0


@dataclass(frozen=True)
class StaffPage:
    """Everything the staff page shows."""

    rule: Rule
    #: The group's households (removed ones left out), by name, with their balances.
    households: list[tuple[Household, int]]
    entries: list[TimeCreditEntry]


@dataclass(frozen=True)
class HouseholdTime:
    """What a household sees of its own time credits."""

    household: Household
    balance: int
    rule: Rule
    entries: list[TimeCreditEntry]

    @property
    def worth_pence(self) -> int:
        """What the balance would take off fee shares at today's rule."""
        return self.balance * self.rule.pence_per_credit


def rule(group_id: int) -> Rule:
    """The group's rule (no settings yet: 60 minutes a credit, worth nothing)."""
    settings = db.session.get(TimeCreditSettings, group_id)
    if settings is None:
        return Rule()
    return Rule(settings.minutes_per_credit, settings.pence_per_credit,
                settings.most_per_round_pence)


def balance(household_id: int) -> int:
    """The household's credits (never negative)."""
    return int(db.session.scalar(
        select(func.coalesce(func.sum(TimeCreditEntry.credits), 0))
        .where(TimeCreditEntry.household_id == household_id)) or 0)


def balances(group_id: int) -> dict[int, int]:
    """Credits per household of the group (only those with any), one query."""
    return {h: int(b) for h, b in db.session.execute(
        select(TimeCreditEntry.household_id, func.sum(TimeCreditEntry.credits))
        .where(TimeCreditEntry.group_id == group_id)
        .group_by(TimeCreditEntry.household_id)).all() if b}


def _entries(*where) -> list[TimeCreditEntry]:
    return list(db.session.scalars(
        select(TimeCreditEntry).where(*where)
        .order_by(TimeCreditEntry.recorded_at.desc(), TimeCreditEntry.id.desc())
        .limit(SHOWN_ENTRIES)))


def staff_page(group: Group) -> StaffPage:
    """The rule, each household's balance, and the latest entries of the group."""
    held = balances(group.id)
    homes = db.session.scalars(
        select(Household).where(Household.group_id == group.id,
                                Household.removed_at.is_(None))
        .order_by(Household.label_key, Household.id))
    return StaffPage(rule=rule(group.id), households=[(h, held.get(h.id, 0)) for h in homes],
                     entries=_entries(TimeCreditEntry.group_id == group.id))


def household_time(user: User) -> list[HouseholdTime]:
    """For each household the user belongs to whose group has time given or a rule on:
    its balance, the rule, and its entries. Empty when there is nothing to show."""
    shown = []
    for member in db.session.scalars(
            select(Membership).where(Membership.user_id == user.id,
                                     Membership.household_id.is_not(None))
            .order_by(Membership.group_id)):
        household = member.household
        entries = _entries(TimeCreditEntry.household_id == household.id)
        group_rule = rule(member.group_id)
        if entries or group_rule.on:
            shown.append(HouseholdTime(household, balance(household.id), group_rule,
                                       entries))
    return shown


def _lock_entries(household_id: int) -> None:
    """Hold the household's ledger rows for this transaction (PostgreSQL), so two writers
    never read the same balance or carry."""
    db.session.scalars(select(TimeCreditEntry.id).where(
        TimeCreditEntry.household_id == household_id).with_for_update()).all()


def _carried(household_id: int) -> int:
    """Minutes the household gave that did not yet make a whole credit."""
    return int(db.session.scalar(
        select(TimeCreditEntry.carried_minutes)
        .where(TimeCreditEntry.household_id == household_id,
               TimeCreditEntry.reason.in_(EARNED_REASONS))
        .order_by(TimeCreditEntry.id.desc()).limit(1)) or 0)


def _earn(group_id: int, household_id: int, minutes: int, reason: str, *,
          note: str | None, actor: User | None, now: datetime,
          tablet_session_id: int | None = None) -> TimeCreditEntry:
    _lock_entries(household_id)
    credits, carried = credits_for_minutes(_carried(household_id), minutes,
                                           rule(group_id).minutes_per_credit)
    entry = TimeCreditEntry(group_id=group_id, household_id=household_id, credits=credits,
                            minutes=minutes, carried_minutes=carried, reason=reason,
                            tablet_session_id=tablet_session_id, note=note,
                            recorded_by_id=actor.id if actor else None, recorded_at=now)
    db.session.add(entry)
    db.session.flush()
    audit.record("time_credits.earned", actor=actor, group_id=group_id,
                 household_id=household_id, subject=entry, minutes=minutes,
                 credits=credits, reason=reason, note=note)
    return entry


def record_time(group: Group, household: Household, minutes: int, reason: str,
                note: str | None, *, actor: User, now: datetime) -> TimeCreditEntry:
    """Staff enter time a household gave (packing or other help): it earns whole credits
    at the group's minutes per credit, the rest carried. Audited. ServiceError for a
    household not in the group, an unknown kind of help, or minutes not from 1 to
    MAX_MINUTES."""
    if household.group_id != group.id or household.removed_at is not None:
        raise ServiceError(_l("That household is not in this group."), field="household")
    if reason not in STAFF_REASONS:
        raise ServiceError(_l("Choose what they did."), field="reason")
    if not 1 <= minutes <= MAX_MINUTES:
        raise ServiceError(_l("Enter from 1 to %(most)s minutes.", most=MAX_MINUTES),
                           field="minutes")
    return _earn(group.id, household.id, minutes, reason, note=note, actor=actor, now=now)


#: Longest reason for a correction (the note column's size).
CORRECTION_NOTE_MAX = 200


def correct_credits(group: Group, household: Household, credits: int, note: str | None,
                    *, actor: User, now: datetime) -> TimeCreditEntry:
    """Staff take back credits entered by mistake: one 'correction' entry of −credits,
    with the reason in their words. Never below zero: the household's entries are locked
    (PostgreSQL; SQLite serialises writers) and the balance read again first. The minutes
    carried to the next credit are left as they are. Audited. ServiceError, changing
    nothing, for a household not in the group, no reason, or credits not from 1 to the
    household's balance."""
    if household.group_id != group.id or household.removed_at is not None:
        raise ServiceError(_l("That household is not in this group."), field="household")
    note = (note or "").strip()
    if not note:
        raise ServiceError(_l("Say why these credits were a mistake."), field="note")
    if len(note) > CORRECTION_NOTE_MAX:
        raise ServiceError(_l("Keep the reason to %(n)s characters or fewer.",
                              n=CORRECTION_NOTE_MAX), field="note")
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 1:
        raise ServiceError(_l("Enter how many credits to take back: 1 or more."),
                           field="credits")
    _lock_entries(household.id)
    held = balance(household.id)
    if credits > held:
        raise ServiceError(_l("%(household)s has %(held)s credits: you cannot take back "
                              "more than that.", household=household.label, held=held),
                           field="credits")
    entry = TimeCreditEntry(group_id=group.id, household_id=household.id, credits=-credits,
                            carried_minutes=0, reason="correction", note=note,
                            recorded_by_id=actor.id, recorded_at=now)
    db.session.add(entry)
    db.session.flush()
    audit.record("time_credits.corrected", actor=actor, group_id=group.id,
                 household_id=household.id, subject=entry, credits=credits, note=note,
                 balance_before=held)
    return entry


def log_dropin(session: TabletSession, now: datetime) -> TimeCreditEntry | None:
    """A worker's tablet session has ended: when the worker belongs to a household of the
    session's group, the whole minutes from start to end (at most MAX_DROPIN_MINUTES) are
    logged as drop-in help for that household. Once per session; None when nothing is
    logged (no household, under a minute, or logged already)."""
    household_id = db.session.scalar(
        select(Membership.household_id)
        .join(Household, Membership.household_id == Household.id)
        .where(Membership.user_id == session.worker_id,
               Membership.group_id == session.group_id,
               Household.removed_at.is_(None)))
    if household_id is None:
        return None
    ended = session.ended_at or now
    minutes = min(int((ended - session.started_at).total_seconds()) // 60,
                  MAX_DROPIN_MINUTES)
    if minutes < 1:
        return None
    if db.session.scalar(select(TimeCreditEntry.id).where(
            TimeCreditEntry.tablet_session_id == session.id)) is not None:
        return None
    return _earn(session.group_id, household_id, minutes, "dropin_helper", note=None,
                 actor=session.worker, now=now, tablet_session_id=session.id)


def save_rule(group: Group, minutes_per_credit: int, pence_per_credit: int,
              most_per_round_pence: int | None, *, actor: User,
              now: datetime) -> TimeCreditSettings:
    """Set how many minutes earn a credit (1 to MAX_MINUTES), what a credit takes off a
    household's fee share (0: off; at most MAX_PENCE) and the most per round (None: its
    whole share). Audited."""
    if not 1 <= minutes_per_credit <= MAX_MINUTES:
        raise ServiceError(_l("Enter from 1 to %(most)s minutes.", most=MAX_MINUTES),
                           field="minutes_per_credit")
    if not 0 <= pence_per_credit <= MAX_PENCE:
        raise ServiceError(_l("Enter from £0.00 to £1,000.00."), field="pence_per_credit")
    if most_per_round_pence is not None and not 0 <= most_per_round_pence <= MAX_PENCE:
        raise ServiceError(_l("Enter from £0.00 to £1,000.00, or leave it empty."),
                           field="most_per_round")
    settings = db.session.get(TimeCreditSettings, group.id)
    before = rule(group.id)
    if settings is None:
        settings = TimeCreditSettings(group_id=group.id)
        db.session.add(settings)
    settings.minutes_per_credit = minutes_per_credit
    settings.pence_per_credit = pence_per_credit
    settings.most_per_round_pence = most_per_round_pence
    settings.updated_by_id = actor.id
    settings.updated_at = now
    db.session.flush()
    audit.record("time_credits.rule_changed", actor=actor, group_id=group.id,
                 minutes_before=before.minutes_per_credit,
                 pence_before=before.pence_per_credit,
                 most_before_pence=before.most_per_round_pence,
                 minutes_after=minutes_per_credit, pence_after=pence_per_credit,
                 most_after_pence=most_per_round_pence)
    return settings


def apply_at_close(rnd: Round, now: datetime) -> int:
    """At close, first of all: each household's credits come off its own fee share on
    its new bill of `rnd`, as `domain.time_credits.fee_with_credits` says under the
    group's rule. What comes off is paid onto the bill by the group (paid_pence and
    time_credit_pence); a bill covered whole moves to paid. One ledger entry of −credits
    per bill, written after locking the household's entries and reading its balance
    again. Returns the pence taken off in all (0 when the rule is off)."""
    group_rule = rule(rnd.group_id)
    if not group_rule.on:
        return 0  # one query for a group whose rule is off
    holding = [h for h, b in db.session.execute(
        select(TimeCreditEntry.household_id, func.sum(TimeCreditEntry.credits))
        .where(TimeCreditEntry.group_id == rnd.group_id)
        .group_by(TimeCreditEntry.household_id)).all() if b and b > 0]
    if not holding:
        return 0  # a big round where nobody gave time costs two queries, not two a bill
    statements = {s.household_id: s for s in db.session.scalars(
        select(Statement).where(Statement.round_id == rnd.id,
                                Statement.household_id.in_(holding),
                                Statement.payment_status == StatementStatus.DUE,
                                Statement.fee_pence >= group_rule.pence_per_credit))}
    available = {}
    for household_id in sorted(statements):
        _lock_entries(household_id)
        available[household_id] = max(0, balance(household_id))
    reduction = fee_with_credits(
        {h: s.fee_pence - s.time_credit_pence for h, s in statements.items()},
        available, group_rule.pence_per_credit, group_rule.most_per_round_pence)
    for household_id in sorted(reduction.reduction_pence):
        taken = reduction.reduction_pence[household_id]
        used = reduction.credits_used[household_id]
        statement = statements[household_id]
        statement.time_credit_pence += taken
        statement.paid_pence += taken
        if statement.paid_pence == statement.total_pence:
            statement.payment_status = STATEMENT.move(statement.payment_status,
                                                      "credit_pays_rest")
        db.session.add(TimeCreditEntry(
            group_id=rnd.group_id, household_id=household_id, credits=-used,
            reason="used", statement_id=statement.id, recorded_at=now))
        audit.record("time_credits.used", actor=None, group_id=rnd.group_id,
                     household_id=household_id, subject=statement, credits=used,
                     amount_pence=taken)
    db.session.flush()
    return reduction.total_pence


def give_back_used(rnd: Round, now: datetime) -> int:
    """A closed round was cancelled: the credits used on its bills go back to each
    household's ledger (one entry in per bill). To be called once, by the cancel (itself
    a guarded, once-only move). Returns the credits given back."""
    used = db.session.execute(
        select(TimeCreditEntry.household_id, TimeCreditEntry.statement_id,
               func.sum(TimeCreditEntry.credits))
        .join(Statement, TimeCreditEntry.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id,
               TimeCreditEntry.reason.in_(("used", "given_back")))
        .group_by(TimeCreditEntry.household_id, TimeCreditEntry.statement_id)).all()
    given = 0
    for household_id, statement_id, total in used:
        if not total or total >= 0:
            continue
        db.session.add(TimeCreditEntry(group_id=rnd.group_id, household_id=household_id,
                                       credits=-total, reason="given_back",
                                       statement_id=statement_id, recorded_at=now))
        audit.record("time_credits.given_back", actor=None, group_id=rnd.group_id,
                     household_id=household_id, credits=-total, statement_id=statement_id)
        given += -total
    db.session.flush()
    return given
