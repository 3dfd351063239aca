"""Shared-tablet sessions: a worker's tablet, residents' turns, PINs and assisted households.

Tokens are random (secrets.token_urlsafe) and only their SHA-256 is stored.
A resident's turn ends on Done, after the idle limit, when the next person
starts, or when the worker ends the session; an ended turn is never found
again, whatever the browser kept. PIN failures and lockouts are stored, and
every PIN and helper action is in the audit log.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import and_, bindparam, case, literal, null, or_, select, update
from sqlalchemy.orm import joinedload

from bulkbuy import validation
from bulkbuy.domain import statuses
from bulkbuy.domain.labels import natural_key
from bulkbuy.extensions import db
from bulkbuy.models import Group, Household, TabletSession, TabletVisit, User
from bulkbuy.models.types import UTCDateTime
from bulkbuy.services import ServiceError, accounts, audit, time_credits, writes

PIN_PATTERN = re.compile(r"^[0-9]{4}$")
MAX_PIN_ATTEMPTS = 5
PIN_LOCK = timedelta(minutes=15)


# Built once: the tablet's list asks these on every load, and building a statement costs
# more than SQLite takes to answer it (SQLAlchemy caches only the compiled form).
_OPEN_SESSION = select(TabletSession).where(
    TabletSession.token_hash == bindparam("token_hash"),
    TabletSession.worker_id == bindparam("worker_id"), TabletSession.ended_at.is_(None))
_OPEN_VISIT = select(TabletVisit).options(joinedload(TabletVisit.household)).where(
    TabletVisit.token_hash == bindparam("token_hash"),
    TabletVisit.tablet_session_id == bindparam("session_id"), TabletVisit.ended_at.is_(None))
_OPEN_VISITS = select(TabletVisit).where(
    TabletVisit.tablet_session_id == bindparam("session_id"), TabletVisit.ended_at.is_(None))
# The session and its open turn in one query (the pledge screen asks both on every load).
_OPEN_SESSION_AND_VISIT = (
    select(TabletSession, TabletVisit)
    .outerjoin(TabletVisit, (TabletVisit.tablet_session_id == TabletSession.id)
               & (TabletVisit.token_hash == bindparam("turn_hash"))
               & TabletVisit.ended_at.is_(None))
    .options(joinedload(TabletVisit.household))
    .where(TabletSession.token_hash == bindparam("token_hash"),
           TabletSession.worker_id == bindparam("worker_id"),
           TabletSession.ended_at.is_(None)))
_HOUSEHOLDS_VERSION = select(Group.households_version).where(
    Group.id == bindparam("group_id"))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


# --- the worker's session ------------------------------------------------------------------


def start_session(group: Group, worker: User, now: datetime) -> tuple[TabletSession, str]:
    """Start a tablet session for the group; returns it and its token (for a cookie).

    The caller has checked that the worker is staff of this group. Audited.
    """
    token = new_token()
    session = TabletSession(token_hash=_hash(token), group_id=group.id, worker_id=worker.id,
                            started_at=now)
    db.session.add(session)
    db.session.flush()
    audit.record("tablet.started", actor=worker, group_id=group.id, subject=session)
    return session, token


def session_for(token: str | None, worker_id: int | None) -> TabletSession | None:
    """The open tablet session with this token, started by this worker, or None."""
    if not token or worker_id is None:
        return None
    return db.session.scalar(_OPEN_SESSION, {"token_hash": _hash(token),
                                             "worker_id": worker_id})


def end_session(session: TabletSession, now: datetime) -> None:
    """End the session and any resident's turn still open in it. Audited. The worker's
    time is logged for their own household of the group (time_credits.log_dropin)."""
    end_open_visits(session, "session_ended", now)
    session.ended_at = now
    audit.record("tablet.ended", actor=session.worker, group_id=session.group_id,
                 subject=session)
    time_credits.log_dropin(session, now)  # the worker's own household earns the time


def households(group_id: int) -> list[Household]:
    """The group's households, by block then label, numbers in them in number order
    ("Flat 2" before "Flat 10"); homes with no block last (only labels are shown on the
    tablet)."""
    homes = db.session.scalars(select(Household).where(Household.group_id == group_id,
                                                       Household.removed_at.is_(None)))
    return sorted(homes, key=lambda h: (h.block is None, natural_key(h.block or ""),
                                        natural_key(h.label), h.id))


def households_version(group_id: int) -> int:
    """The group's households_version, which the database bumps whenever a household is
    added, removed, renamed or moves block (for the tablet list's kept copy)."""
    return db.session.scalar(_HOUSEHOLDS_VERSION, {"group_id": group_id}) or 0


def household_in(session: TabletSession, household_id) -> Household:
    """The session's group's household with this id, or ServiceError (no other group's)."""
    wanted = validation.record_id(household_id)
    household = db.session.get(Household, wanted) if wanted is not None else None
    if (household is None or household.group_id != session.group_id
            or household.removed_at is not None):
        raise ServiceError(_l("We could not find that household. Tap your flat on the list."))
    return household


# --- a resident's turn ---------------------------------------------------------------------


@dataclass(frozen=True)
class PinResult:
    visit: TabletVisit | None
    token: str | None
    message: str | None = None


def check_pin(session: TabletSession, household: Household, pin: str, now: datetime, *,
              locale: str | None = None) -> PinResult:
    """Start the household's turn if the PIN is right (in `locale`, the language picked
    for it: see start_visit); otherwise say why, plainly.

    A PIN that is not 4 numbers counts as no attempt. A wrong PIN counts;
    the 5th wrong one locks the PIN for 15 minutes (logged). However many tries
    arrive at once, at most 5 PINs are checked per lock period: each try takes
    its place in one guarded UPDATE before the (slow) check, and a try that
    finds the PIN locked is refused unchecked, right PIN or not (no hash is
    computed for it, nor for a PIN that is not 4 numbers). A refusal is an
    answer, not an error: the request commits it like a success, so failures
    are kept (never run this inside `undone_on_error`).
    """
    if _locked(household, now):
        return PinResult(None, None, _locked_message(household, now))
    pin = (pin or "").strip()
    if not PIN_PATTERN.match(pin):
        return PinResult(None, None, _("Enter the 4 numbers of your PIN."))
    if not household.pin_hash:
        return PinResult(None, None, _("This household has no PIN yet. Ask a helper."))
    tries = _take_a_try(household, now)
    if tries is None:  # locked by a try sent at the same moment
        return PinResult(None, None, _locked_message(household, now))
    if accounts.check_secret(household.pin_hash, pin):
        household.pin_failed_attempts = 0
        household.pin_locked_until = None
        if accounts.needs_rehash(household.pin_hash):  # PASSWORD_HASH_METHOD changed
            household.pin_hash = accounts.hash_secret(pin)
        visit, token = start_visit(session, household, "pin", now, locale=locale)
        return PinResult(visit, token)
    if tries >= MAX_PIN_ATTEMPTS:
        audit.record("pin.locked", actor=None, group_id=household.group_id,
                     household_id=household.id, subject=household,
                     tablet_session=session.id)
        return PinResult(None, None, _("That PIN was wrong 5 times, so it is locked for "
                                       "15 minutes. Ask a helper."))
    audit.record("pin.failed", actor=None, group_id=household.group_id,
                 household_id=household.id, subject=household, tablet_session=session.id)
    left = MAX_PIN_ATTEMPTS - tries
    return PinResult(None, None, ngettext(
        "That PIN is not right. You can try %(num)s more time.",
        "That PIN is not right. You can try %(num)s more times.", left))


def _locked(household: Household, now: datetime) -> bool:
    return household.pin_locked_until is not None and household.pin_locked_until > now


def _locked_message(household: Household, now: datetime) -> str:
    until = household.pin_locked_until or now
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return _("This PIN is locked for %(minutes)s more minutes after 5 wrong tries. "
             "Ask a helper.", minutes=minutes)


def _take_a_try(household: Household, now: datetime) -> int | None:
    """Count one more try of this household's PIN, locking it at the 5th, in one
    guarded UPDATE; returns this try's number, or None when the PIN is locked.

    The row stays locked (PostgreSQL) or the database (SQLite) until the request
    commits, so tries sent at once are counted one after another. A lock that
    has ended starts the count again.
    """
    expired = and_(Household.pin_locked_until.is_not(None), Household.pin_locked_until <= now)
    tries = case((expired, 1), else_=Household.pin_failed_attempts + 1)
    taken = db.session.execute(
        update(Household)
        .where(Household.id == household.id,
               or_(Household.pin_locked_until.is_(None), Household.pin_locked_until <= now))
        .values(pin_failed_attempts=tries,
                pin_locked_until=case(
                    (tries >= MAX_PIN_ATTEMPTS, literal(now + PIN_LOCK, UTCDateTime)),
                    else_=null()))
        .returning(Household.pin_failed_attempts)
        .execution_options(synchronize_session=False)).scalar()
    db.session.refresh(household)
    return taken


def helper_confirms(session: TabletSession, household: Household, password: str,
                    now: datetime, *, locale: str | None = None) -> tuple[TabletVisit, str]:
    """The worker knows this person: their password starts the turn without a PIN (in
    `locale`, as start_visit).

    Also unlocks a locked PIN. Audited. Raises ServiceError for a wrong password.
    """
    worker = session.worker
    if accounts.authenticate(worker.email, password or "") is None:
        raise ServiceError(_l("That is not the helper's password."))
    household.pin_failed_attempts = 0
    household.pin_locked_until = None
    audit.record("tablet.helper_confirmed", actor=worker, group_id=household.group_id,
                 household_id=household.id, subject=household, tablet_session=session.id)
    return start_visit(session, household, "worker", now, locale=locale)


def helper_password_refused(session: TabletSession, household: Household) -> None:
    """Log a wrong helper's password given for a household, as wrong PINs are: someone
    at the tablet may be guessing the worker's password. Called after the refused
    `helper_confirms` was undone, so the entry stays when the request commits."""
    audit.record("tablet.helper_password_wrong", actor=session.worker,
                 group_id=household.group_id, household_id=household.id, subject=household,
                 tablet_session=session.id)


def start_visit(session: TabletSession, household: Household, verified_by: str,
                now: datetime, *, locale: str | None = None) -> tuple[TabletVisit, str]:
    """Start a turn (ending anyone else's still open on this tablet), shown in `locale`,
    the language the resident picked before it (a code of i18n.LANGUAGES, already
    normalised by the page: tablet.state.pending_locale; None is English); the language
    ends with the turn."""
    end_open_visits(session, "replaced", now)
    token = new_token()
    visit = TabletVisit(tablet_session_id=session.id, household_id=household.id,
                        token_hash=_hash(token), verified_by=verified_by, started_at=now,
                        last_seen_at=now, locale=locale)
    db.session.add(visit)
    db.session.flush()
    return visit, token


def session_and_visit(token: str | None, worker_id: int | None, turn_token: str | None
                      ) -> tuple[TabletSession | None, TabletVisit | None]:
    """session_for's answer and the open turn with `turn_token` in that session (not yet
    checked for idleness: see live_visit), in one query."""
    if not token or worker_id is None:
        return None, None
    if not turn_token:
        return session_for(token, worker_id), None
    row = db.session.execute(_OPEN_SESSION_AND_VISIT, {
        "token_hash": _hash(token), "worker_id": worker_id,
        "turn_hash": _hash(turn_token)}).first()
    return (row[0], row[1]) if row is not None else (None, None)


def live_visit(visit: TabletVisit | None, now: datetime, idle: timedelta
               ) -> TabletVisit | None:
    """The turn, unless it was left idle longer than `idle`: then it is ended here
    (reason "idle") and None is returned."""
    if visit is None:
        return None
    if visit.last_seen_at + idle < now:
        end_visit(visit, "idle", visit.last_seen_at + idle)
        return None
    return visit


def current_visit(session: TabletSession | None, token: str | None, now: datetime,
                  idle: timedelta) -> TabletVisit | None:
    """The open turn with this token in this session, or None.

    A turn idle longer than `idle` is ended here (reason "idle") and not returned.
    """
    if session is None or not token:
        return None
    visit = db.session.scalar(_OPEN_VISIT, {"token_hash": _hash(token),
                                            "session_id": session.id})
    return live_visit(visit, now, idle)


#: A turn's last-seen time is written at most this often (reads of the order page
#: would otherwise each be a write); far below any idle limit.
TOUCH_EVERY = timedelta(seconds=5)


def touch(visit: TabletVisit, now: datetime, *, always: bool = False) -> bool:
    """Note that the resident is still there (at most every TOUCH_EVERY unless `always`);
    returns True if that changed the row."""
    if not always and now - visit.last_seen_at < TOUCH_EVERY:
        return False
    visit.last_seen_at = now
    return True


def end_visit(visit: TabletVisit, reason: str, now: datetime) -> bool:
    """End one turn, once (a guarded UPDATE); False if it had already ended."""
    result = db.session.execute(
        update(TabletVisit)
        .where(TabletVisit.id == visit.id, TabletVisit.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(visit)
    return result.rowcount == 1


def end_turns_for_next_person(session: TabletSession, now: datetime, idle: timedelta) -> int:
    """The list is showing: end any turn still open, as "idle" (at the moment it went
    idle) when it was left longer than `idle`, else as "done". Returns how many."""
    open_turns = db.session.scalars(_OPEN_VISITS, {"session_id": session.id}).all()
    ended = 0
    for visit in open_turns:
        if visit.last_seen_at + idle < now:
            ended += end_visit(visit, "idle", visit.last_seen_at + idle)
        else:
            ended += end_visit(visit, "done", now)
    return ended


def end_open_visits(session: TabletSession, reason: str, now: datetime) -> int:
    """End every turn still open on this tablet; returns how many (reads first, so
    showing the list writes nothing when no turn is open)."""
    open_one = db.session.scalar(select(TabletVisit.id).where(
        TabletVisit.tablet_session_id == session.id, TabletVisit.ended_at.is_(None)).limit(1))
    if open_one is None:
        return 0
    result = db.session.execute(
        update(TabletVisit)
        .where(TabletVisit.tablet_session_id == session.id, TabletVisit.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


# --- PINs and assisted households ----------------------------------------------------------


def set_pin(household: Household, pin: str, *, actor: User, now: datetime) -> None:
    """Set or reset a household's 4-number PIN (and unlock it). Audited; the PIN is hashed."""
    pin = (pin or "").strip()
    if not PIN_PATTERN.match(pin):
        raise ServiceError(_l("A PIN is 4 numbers, like 2580."), field="pin")
    household.pin_hash = accounts.hash_secret(pin)
    household.pin_failed_attempts = 0
    household.pin_locked_until = None
    audit.record("pin.set", actor=actor, group_id=household.group_id,
                 household_id=household.id, subject=household)


def create_assisted_household(group: Group, label: str, block: str | None, pin: str, *,
                              actor: User, now: datetime) -> Household:
    """A household with no e-mail and no card, that uses the tablet with its PIN. Audited."""
    label = accounts.clean_household_label(label, field="label")
    taken = _l("There is already a household with that name. Choose another.")
    if accounts.find_household(group, label) is not None:
        raise ServiceError(taken, field="label")
    accounts.refuse_mixed_alphabets(label, field="label")
    household = Household(group_id=group.id, label=label, block=block or None,
                          is_assisted=True, created_at=now)
    writes.add_or_refuse(household, taken, field="label")
    set_pin(household, pin, actor=actor, now=now)
    audit.record("household.assisted_created", actor=actor, group_id=group.id,
                 household_id=household.id, subject=household)
    return household


# --- the worker's session sheet ------------------------------------------------------------


@dataclass(frozen=True)
class PledgeChange:
    at: datetime
    household: Household
    item_name: str
    #: The round the product was ordered in (several may be open at one drop-in).
    round_title: str
    before: int
    after: int


@dataclass(frozen=True)
class SessionSheet:
    session: TabletSession
    visits: list[TabletVisit]
    changes: list[PledgeChange]
    cash_taken: list  # CashPayment
    cash_due: list  # Statement

    @property
    def cash_taken_pence(self) -> int:
        """Cash in the box from this session: entries reversed as mistakes do not count."""
        return sum(c.amount_pence for c in self.cash_taken if c.reversed_at is None)

    @property
    def cash_due_pence(self) -> int:
        return sum(s.total_pence - s.paid_pence for s in self.cash_due)


def session_sheet(session: TabletSession, now: datetime) -> SessionSheet:
    """Who took a turn, what was ordered for whom, what cash was taken and is still due."""
    import json

    from bulkbuy.models import AuditEntry, CashPayment, Round, RoundItem, Statement

    until = session.ended_at or now
    visits = list(db.session.scalars(
        select(TabletVisit).where(TabletVisit.tablet_session_id == session.id)
        .order_by(TabletVisit.started_at, TabletVisit.id)))
    # Only what was done on this tablet (audit.context in the tablet's routes), not what
    # the same worker did on another device meanwhile.
    done_here = [
        (entry, details) for entry in db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.action.in_(("pledge.changed", "cash.recorded")),
                AuditEntry.actor_id == session.worker_id,
                AuditEntry.group_id == session.group_id,
                AuditEntry.at >= session.started_at, AuditEntry.at <= until)
            .order_by(AuditEntry.at, AuditEntry.id))
        if (details := json.loads(entry.details or "{}")).get("tablet_session_id")
        == session.id]
    entries = [entry for entry, _d in done_here if entry.action == "pledge.changed"]
    cash_ids = [d.get("cash_payment_id") for entry, d in done_here
                if entry.action == "cash.recorded"]
    items = {i.id: i for i in db.session.scalars(
        select(RoundItem).options(joinedload(RoundItem.round)).where(
            RoundItem.id.in_({e.subject_id for e in entries if e.subject_id})))
    } if entries else {}
    homes = {h.id: h for h in households(session.group_id)}
    changes = []
    for entry in entries:
        details = json.loads(entry.details or "{}")
        item = items.get(entry.subject_id)
        changes.append(PledgeChange(
            at=entry.at, household=homes.get(entry.household_id),
            item_name=item.name if item else "?",
            round_title=item.round.title if item else "?",
            before=(details.get("before") or {}).get("quantity", 0),
            after=(details.get("after") or {}).get("quantity", 0)))
    cash_taken = list(db.session.scalars(
        select(CashPayment).where(CashPayment.id.in_([i for i in cash_ids if i]))
        .order_by(CashPayment.recorded_at))) if cash_ids else []
    visited = {v.household_id for v in visits}
    cash_due = list(db.session.scalars(
        select(Statement).join(Round, Statement.round_id == Round.id).where(
            Statement.household_id.in_(visited),
            Statement.payment_status.in_(statuses.OPEN_TO_PAYMENT),
            Round.status.in_(statuses.FINISHED_ROUNDS))
        .order_by(Statement.household_id))) if visited else []
    return SessionSheet(session, visits, changes, cash_taken, cash_due)
