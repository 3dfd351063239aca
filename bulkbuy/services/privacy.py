"""A household's data in its own hands (UK GDPR): the download of everything we keep
about it, its members' requests to erase it, and staff erasing it.

Erasing takes away the names, e-mail addresses, the PIN and the free text about the
household; the money records (statements, payments, refunds, credits) stay for the
group's accounts, under the household's new neutral name. Nothing here commits.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _ln
from sqlalchemy import delete, func, or_, select, update

from bulkbuy.domain.money import format_pence
from bulkbuy.domain.statuses import (
    COLLECTING_ROUNDS,
    OWED,
    UNANSWERED_ATTEMPTS,
    UNANSWERED_REFUNDS,
    RoundStatus,
    StatementStatus,
)
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    BagHandover,
    CardPayment,
    CardRefund,
    CashPayment,
    CashReturn,
    ErasureRequest,
    Group,
    Household,
    HouseholdCredit,
    Invite,
    Membership,
    OutboxMessage,
    PendingJoin,
    PledgeLine,
    RecoveryCode,
    Round,
    RoundItem,
    SavedCard,
    SpareDisposal,
    Statement,
    StatementLine,
    TimeCreditEntry,
    User,
    WriteOff,
)
from bulkbuy.services import ServiceError, accounts, audit, credits

#: What replaces free text about an erased household (staff's notes, a neighbour's name).
ERASED_TEXT = "(erased)"
#: Rounds in which a household's orders are still being taken.
_ORDERING_ROUNDS = (RoundStatus.DRAFT, RoundStatus.PENDING_APPROVAL, RoundStatus.OPEN)


# --- Whose data -------------------------------------------------------------------------------

def households_of(user: User) -> list[Membership]:
    """The user's memberships that belong to a household (one per group), by group name."""
    return list(db.session.scalars(
        select(Membership).join(Group, Group.id == Membership.group_id)
        .where(Membership.user_id == user.id, Membership.household_id.is_not(None))
        .order_by(Group.name, Membership.id)))


def _membership_of(user: User, household_id: int | None) -> Membership | None:
    return next((m for m in households_of(user) if m.household_id == household_id), None)


# --- The download -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """One file of the download: a CSV's columns and rows (and the same in the JSON)."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple]

    def records(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _money(pence: int | None) -> tuple[int | None, str]:
    """Integer pence and the same as people read it."""
    return pence, "" if pence is None else format_pence(pence)


def _household_tables(household: Household) -> list[Table]:
    """Everything kept about one household, as tables (a fixed number of queries)."""
    hid = household.id
    members = db.session.execute(
        select(User.id, User.name, User.email, Membership.role, Membership.created_at)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.household_id == hid).order_by(User.id)).all()
    member_ids = {m.id for m in members}
    card = db.session.scalar(select(SavedCard.status).where(SavedCard.household_id == hid))
    tables = [
        Table("household", ("id", "name", "block", "group", "created_at", "drop_in_pin_set",
                            "card_saved", "erased_at"),
              [(hid, household.label, household.block, household.group.name,
                household.created_at, household.pin_hash is not None, card == "saved",
                household.erased_at)]),
        Table("members", ("name", "email", "role", "joined_at"),
              [(m.name, m.email, m.role, m.created_at) for m in members]),
    ]
    pledges = db.session.execute(
        select(PledgeLine, RoundItem.name, Round.id, Round.title)
        .join(RoundItem, RoundItem.id == PledgeLine.round_item_id)
        .join(Round, Round.id == PledgeLine.round_id)
        .where(PledgeLine.household_id == hid).order_by(PledgeLine.id)).all()
    tables.append(Table(
        "pledges", ("id", "round_id", "round", "product", "quantity", "extra_to_fill_a_case",
                    "created_at", "entered_by_your_household"),
        [(p.id, rid, title, product, p.quantity, p.tolerance, p.created_at,
          p.entered_by_id in member_ids) for p, product, rid, title in pledges]))
    statements = db.session.execute(
        select(Statement, Round.title).join(Round, Round.id == Statement.round_id)
        .where(Statement.household_id == hid).order_by(Statement.id)).all()
    statement_ids = [s.id for s, _title in statements]
    tables.append(Table(
        "statements", ("id", "round_id", "round", "goods_pence", "goods", "fee_pence", "fee",
                       "total_pence", "total", "paid_pence", "paid", "owed_back_pence",
                       "owed_back", "payment_status", "created_at"),
        [(s.id, s.round_id, title, *_money(s.goods_pence), *_money(s.fee_pence),
          *_money(s.total_pence), *_money(s.paid_pence), *_money(s.owed_back_pence),
          s.payment_status, s.created_at) for s, title in statements]))
    of_statements = StatementLine.statement_id.in_(statement_ids)
    lines = db.session.execute(
        select(StatementLine, RoundItem.name)
        .join(RoundItem, RoundItem.id == StatementLine.round_item_id)
        .where(of_statements).order_by(StatementLine.id)).all() if statement_ids else []
    tables.append(Table(
        "statement_lines", ("statement_id", "product", "quantity", "extra_to_fill_a_case",
                            "units", "units_from_extra", "amount_pence", "amount"),
        [(line.statement_id, product, line.quantity, line.tolerance, line.units,
          line.tolerance_units, *_money(line.amount_pence)) for line, product in lines]))
    cash = _of_statements(CashPayment, statement_ids)
    tables.append(Table(
        "cash_payments", ("id", "statement_id", "amount_pence", "amount", "receipt_number",
                          "recorded_at", "returned_at", "reversed_at", "reversal_reason"),
        [(c.id, c.statement_id, *_money(c.amount_pence), c.receipt_number, c.recorded_at,
          c.returned_at, c.reversed_at, c.reversal_reason) for c in cash]))
    returns = _of_statements(CashReturn, statement_ids)
    tables.append(Table(
        "cash_handed_back", ("id", "statement_id", "amount_pence", "amount", "recorded_at"),
        [(r.id, r.statement_id, *_money(r.amount_pence), r.recorded_at) for r in returns]))
    write_offs = _of_statements(WriteOff, statement_ids)
    tables.append(Table(
        "written_off", ("id", "statement_id", "amount_pence", "amount", "reason",
                        "recorded_at", "undone_at"),
        [(w.id, w.statement_id, *_money(w.amount_pence), w.reason, w.recorded_at,
          w.undone_at) for w in write_offs]))
    # Stripe's ids of each payment and refund, never anything about the card itself.
    card_payments = list(db.session.scalars(
        select(CardPayment).where(CardPayment.household_id == hid).order_by(CardPayment.id)))
    tables.append(Table(
        "card_payments", ("id", "statement_id", "attempt", "amount_pence", "amount", "status",
                          "stripe_payment_intent", "used_for_the_bill_pence",
                          "refunded_pence", "error_code", "created_at"),
        [(p.id, p.statement_id, p.attempt, *_money(p.amount_pence), p.status,
          p.payment_intent_id, p.credited_pence, p.refunded_pence, p.error_code,
          p.created_at) for p in card_payments]))
    refunds = list(db.session.scalars(
        select(CardRefund).join(CardPayment, CardPayment.id == CardRefund.card_payment_id)
        .where(CardPayment.household_id == hid).order_by(CardRefund.id)))
    tables.append(Table(
        "card_refunds", ("id", "card_payment_id", "amount_pence", "amount", "reason", "status",
                         "stripe_refund", "created_at"),
        [(r.id, r.card_payment_id, *_money(r.amount_pence), r.reason, r.status, r.refund_id,
          r.created_at) for r in refunds]))
    kept = list(db.session.scalars(
        select(HouseholdCredit).where(HouseholdCredit.household_id == hid)
        .order_by(HouseholdCredit.id)))
    tables.append(Table(
        "money_kept_for_next_order", ("id", "amount_pence", "amount", "reason",
                                      "statement_id", "recorded_at"),
        [(k.id, *_money(k.amount_pence), k.reason, k.statement_id, k.recorded_at)
         for k in kept]))
    # Time given and credits used, taken back or given back (services.time_credits).
    time_entries = list(db.session.scalars(
        select(TimeCreditEntry).where(TimeCreditEntry.household_id == hid)
        .order_by(TimeCreditEntry.id)))
    tables.append(Table(
        "time_credits", ("id", "credits", "minutes", "reason", "statement_id", "note",
                         "recorded_by", "recorded_at"),
        [(t.id, t.credits, t.minutes, t.reason, t.statement_id, t.note,
          _who(t.recorded_by_id, member_ids), t.recorded_at) for t in time_entries]))
    entries = list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.household_id == hid).order_by(AuditEntry.id)))
    tables.append(Table(
        "log", ("id", "at", "action", "done_by", "about", "about_id", "details"),
        [(e.id, e.at, e.action, _who(e.actor_id, member_ids), e.subject_type, e.subject_id,
          e.details) for e in entries]))
    return tables


def _who(actor_id: int | None, member_ids: set[int]) -> str:
    """Who did a logged thing, without naming staff."""
    if actor_id is None:
        return "automatic"
    return "your household" if actor_id in member_ids else "group staff"


def _of_statements(model, statement_ids: list[int]) -> list:
    if not statement_ids:
        return []
    return list(db.session.scalars(
        select(model).where(model.statement_id.in_(statement_ids)).order_by(model.id)))


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_text(v) for v in row])
    return out.getvalue()


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_text)


def _readme(households: list[Household]) -> str:
    lines = [
        gettext("Everything bulkbuy keeps about you and your household."),
        "",
        gettext("account.json: your name, e-mail address and when you joined."),
        gettext("Each household has a folder. In it, data.json has everything, and each "
                "CSV file (for a spreadsheet) has one part:"),
        gettext("household, members, pledges (what you asked for), statements and "
                "statement_lines (your bills), cash_payments, card_payments, card_refunds, "
                "cash_handed_back, written_off, money_kept_for_next_order, and log (what "
                "was done about your household, and when)."),
        gettext("time_credits: time your household gave the group, and the credits "
                "used, given back or taken back."),
        gettext("Money is in pence (like 1250) and as you read it (like £12.50)."),
        gettext("We never keep your card number. Card payments show only Stripe's "
                "reference for each payment."),
    ]
    if not households:
        lines.append(gettext("You are not part of a household, so there is only your "
                             "account."))
    return "\n".join(lines) + "\n"


def data_download(user: User, *, now: datetime) -> bytes:
    """A zip of everything kept about `user` and each household they belong to (one
    folder per household), as JSON and CSV. Audited, once per household."""
    memberships = households_of(user)
    households = [m.household for m in memberships]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(households))
        archive.writestr("account.json", _json({
            "name": user.name, "email": user.email, "created_at": user.created_at,
            "two_step_sign_in": user.totp_enabled_at is not None,
            "downloaded_at": now}))
        for household in households:
            folder = f"household-{household.id}"
            tables = _household_tables(household)
            archive.writestr(f"{folder}/data.json", _json(
                {t.name: (t.records()[0] if t.name == "household" else t.records())
                 for t in tables}))
            for table in tables:
                archive.writestr(f"{folder}/{table.name}.csv", _csv(table))
    for household in households:
        audit.record("data.downloaded", actor=user, group_id=household.group_id,
                     household_id=household.id, subject=household)
    if not households:
        audit.record("data.downloaded", actor=user, group_id=None, subject=user)
    return buffer.getvalue()


# --- Asking for erasure -----------------------------------------------------------------------

def requests_of(user: User) -> dict[int, ErasureRequest]:
    """The latest erasure request of each of the user's households (by household id)."""
    ids = [m.household_id for m in households_of(user)]
    if not ids:
        return {}
    latest: dict[int, ErasureRequest] = {}
    for req in db.session.scalars(select(ErasureRequest).where(
            ErasureRequest.household_id.in_(ids)).order_by(ErasureRequest.id)):
        latest[req.household_id] = req
    return latest


def ask_for_erasure(user: User, household_id: int | None, *, confirmed: bool,
                    now: datetime) -> ErasureRequest:
    """Record that `user` asks for their household's data to be erased. Refuses a
    household they are not in, a request not confirmed, and a second request while one
    waits. Audited."""
    member = _membership_of(user, household_id)
    if member is None:
        raise ServiceError(_l("Choose your household."), field="household_id")
    if not confirmed:
        raise ServiceError(_l("Tick the box to say you understand."), field="confirm")
    # Two clicks at once ask once: the household's row is the lock (SQLite serialises).
    db.session.execute(select(Household.id).where(Household.id == household_id)
                       .with_for_update())
    if _pending(household_id) is not None:
        raise ServiceError(_l("You have already asked. Staff will look at it soon."),
                           field="confirm")
    req = ErasureRequest(household_id=household_id, requested_by_id=user.id,
                         requested_at=now)
    db.session.add(req)
    db.session.flush()
    audit.record("erasure.requested", actor=user, group_id=member.group_id,
                 household_id=household_id, subject=req)
    return req


def _pending(household_id: int) -> ErasureRequest | None:
    return db.session.scalar(select(ErasureRequest).where(
        ErasureRequest.household_id == household_id, ErasureRequest.outcome.is_(None)))


# --- Staff deciding ---------------------------------------------------------------------------

def money_left(household_id: int) -> list[str]:
    """Why the household's money is not settled, in words for staff (empty: settled).
    Settled means: no statement still owed (due, charging, needing the resident),
    nothing owed back, no money kept for its next order, no card payment or refund
    waiting for Stripe, no cash of a cancelled round still to hand back, and no orders
    in a round that is still taking them."""
    reasons = []
    statements = select(Statement.id).where(Statement.household_id == household_id)
    owing = db.session.scalar(select(func.count()).select_from(Statement).where(
        Statement.household_id == household_id, Statement.payment_status.in_(OWED)))
    if owing:
        reasons.append(_ln("It still owes money for %(num)s round.",
                           "It still owes money for %(num)s rounds.", owing))
    owed_back = db.session.scalar(select(func.coalesce(func.sum(Statement.owed_back_pence),
                                                       0)).where(
        Statement.household_id == household_id)) or 0
    if owed_back > 0:
        reasons.append(_l("The group still holds %(amount)s to give back to it.",
                          amount=format_pence(owed_back)))
    balance = credits.balance(household_id)
    if balance != 0:
        reasons.append(_l("It has %(amount)s kept for its next order.",
                          amount=format_pence(balance)))
    if db.session.scalar(select(CardPayment.id).where(
            CardPayment.household_id == household_id,
            CardPayment.status.in_(UNANSWERED_ATTEMPTS)).limit(1)) is not None:
        reasons.append(_l("A card payment is not finished yet."))
    if db.session.scalar(select(CardRefund.id).join(
            CardPayment, CardPayment.id == CardRefund.card_payment_id).where(
            CardPayment.household_id == household_id,
            CardRefund.status.in_(UNANSWERED_REFUNDS)).limit(1)) is not None:
        reasons.append(_l("A refund to its card is not finished yet."))
    if db.session.scalar(select(CashPayment.id).join(
            Statement, Statement.id == CashPayment.statement_id).where(
            CashPayment.statement_id.in_(statements),
            Statement.payment_status == StatementStatus.CANCELLED,
            CashPayment.returned_at.is_(None), CashPayment.reversed_at.is_(None))
            .limit(1)) is not None:
        reasons.append(_l("Cash for a cancelled round has not been handed back yet."))
    if db.session.scalar(select(PledgeLine.id).join(Round, Round.id == PledgeLine.round_id)
                         .where(PledgeLine.household_id == household_id,
                                Round.status.in_(_ORDERING_ROUNDS)).limit(1)) is not None:
        reasons.append(_l("It has orders in a round that is still open."))
    if db.session.scalar(select(Statement.id).join(Round, Round.id == Statement.round_id)
                         .where(Statement.household_id == household_id,
                                Round.status.in_([str(s) for s in COLLECTING_ROUNDS]))
                         .limit(1)) is not None:
        reasons.append(_l("A round it ordered in is not finished: its bill can still "
                          "change when the delivery is recorded."))
    return [str(reason) for reason in reasons]


@dataclass(frozen=True)
class PendingRequest:
    request: ErasureRequest
    household: Household
    requested_by: str
    #: Why it cannot be erased yet (empty: it can).
    blockers: list[str]


@dataclass(frozen=True)
class ErasureRequests:
    pending: list[PendingRequest]
    #: The latest decided requests, newest first.
    decided: list[tuple[ErasureRequest, Household]]


#: How many decided requests the staff page lists.
RECENT_DECIDED = 20


def erasure_requests(group: Group) -> ErasureRequests:
    """The group's requests waiting for staff (each with what stops erasing it now),
    and the latest decided ones."""
    rows = db.session.execute(
        select(ErasureRequest, Household, User.name)
        .join(Household, Household.id == ErasureRequest.household_id)
        .join(User, User.id == ErasureRequest.requested_by_id)
        .where(Household.group_id == group.id, ErasureRequest.outcome.is_(None))
        .order_by(ErasureRequest.requested_at, ErasureRequest.id)).all()
    decided = db.session.execute(
        select(ErasureRequest, Household)
        .join(Household, Household.id == ErasureRequest.household_id)
        .where(Household.group_id == group.id, ErasureRequest.outcome.is_not(None))
        .order_by(ErasureRequest.decided_at.desc(), ErasureRequest.id.desc())
        .limit(RECENT_DECIDED)).all()
    return ErasureRequests(
        pending=[PendingRequest(req, household, name, money_left(household.id))
                 for req, household, name in rows],
        decided=[(req, household) for req, household in decided])


def pending_request_of(group: Group, household_id: int) -> ErasureRequest | None:
    """The waiting request of this household of `group`, or None."""
    req = _pending(household_id)
    if req is None or req.household.group_id != group.id:
        return None
    return req


def _decide(req: ErasureRequest, outcome: str, reason: str | None, *, actor: User,
            now: datetime) -> None:
    """Mark the request decided, once (a guarded UPDATE: two staff at once decide once)."""
    done = db.session.execute(
        update(ErasureRequest)
        .where(ErasureRequest.id == req.id, ErasureRequest.outcome.is_(None))
        .values(outcome=outcome, reason=reason, decided_by_id=actor.id, decided_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise ServiceError(_l("Someone else has just decided this request. Nothing was "
                              "changed."))
    db.session.refresh(req)


def refuse_erasure(req: ErasureRequest, reason: str | None, *, actor: User,
                   now: datetime) -> None:
    """Staff refuse the request, with a reason the household is shown. Audited."""
    if not reason:
        raise ServiceError(_l("Say why, so the household knows."), field="reason")
    _decide(req, "refused", reason, actor=actor, now=now)
    audit.record("erasure.refused", actor=actor, group_id=req.household.group_id,
                 household_id=req.household_id, subject=req)


def confirm_erasure(req: ErasureRequest, *, actor: User, now: datetime) -> Household:
    """Staff erase the household of this request: refused while its money is not
    settled either way (see money_left). Audited, without the erased data."""
    blockers = money_left(req.household_id)
    if blockers:
        raise ServiceError(_l("Not erased: its money is not settled. %(why)s",
                              why=" ".join(blockers)), field="confirm")
    _decide(req, "erased", None, actor=actor, now=now)
    return erase_household(req.household, actor=actor, now=now, request=req)


def erase_household(household: Household, *, actor: User, now: datetime,
                    request: ErasureRequest | None = None) -> Household:
    """Take away the household's personal data; keep its money records under a neutral
    name. Each member whose only household this is (and who has no other role) loses
    their name, e-mail, password, two-step secrets and sessions; every membership of
    the household ends. Free text about it (staff's notes, neighbours' names, audit
    details naming it or its members) is replaced."""
    hid = household.id
    db.session.scalar(select(Household).where(Household.id == hid).with_for_update()
                      .execution_options(populate_existing=True))  # waits for a join
    memberships = list(db.session.scalars(
        select(Membership).where(Membership.household_id == hid)))
    people = {m.user_id: m.user for m in memberships}
    # Someone with another group, or a staff role, keeps their account (and its name).
    staying = set(db.session.scalars(select(Membership.user_id).where(
        Membership.user_id.in_(people),
        or_(Membership.household_id.is_(None), Membership.household_id != hid,
            Membership.role != "member")))) if people else set()
    leaving = [u for uid, u in people.items() if uid not in staying and not u.is_site_admin]
    # The block is not personal (many homes share it) and is left alone.
    terms = [t for t in [household.label] + [
        text for u in leaving for text in (u.name, u.email)] if t]
    _scrub_audit_details(household, {u.id for u in leaving}, terms)
    _scrub_free_text(household, leaving, terms, now)

    household.label = _erased_label(household)
    household.block = None
    household.pin_hash = None
    household.pin_failed_attempts = 0
    household.pin_locked_until = None
    household.erased_at = now
    household.removed_at = now  # off every list; its history stays for the books
    for membership in memberships:
        if membership.role == "member":
            db.session.delete(membership)
        else:
            membership.household_id = None  # staff stay staff, of no household
    db.session.flush()
    for user in leaving:
        _erase_user(user, now)
    audit.record("household.erased", actor=actor, group_id=household.group_id,
                 household_id=hid, subject=household,
                 erasure_request_id=request.id if request else None,
                 accounts_erased=len(leaving))
    return household


def _erased_label(household: Household) -> str:
    label = f"Erased household {household.id}"
    taken = accounts.find_household(household.group, label)
    suffix = 1
    while taken is not None and taken.id != household.id:
        suffix += 1
        label = f"Erased household {household.id}-{suffix}"
        taken = accounts.find_household(household.group, label)
    return label


def _erase_user(user: User, now: datetime) -> None:
    user.name = "Erased"
    user.email = f"erased-{user.id}@invalid"
    user.password_hash = accounts.hash_secret(secrets.token_urlsafe(32))
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.erased_at = now
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    accounts.end_sessions(user, reason="erased")


def _scrub_free_text(household: Household, people: Iterable[User], terms: list,
                     now: datetime) -> None:
    """Free text that may name the household or its members."""
    hid = household.id
    emails = [u.email for u in people]
    statements = select(Statement.id).where(Statement.household_id == hid)
    db.session.execute(update(CashPayment).where(
        CashPayment.statement_id.in_(statements), CashPayment.reversal_reason.is_not(None))
        .values(reversal_reason=ERASED_TEXT).execution_options(synchronize_session=False))
    db.session.execute(update(BagHandover).where(BagHandover.household_id == hid)
                       .values(collected_by_name=None)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(BagHandover).where(
        BagHandover.household_id == hid, BagHandover.reason.is_not(None))
        .values(reason=ERASED_TEXT).execution_options(synchronize_session=False))
    db.session.execute(update(Invite).where(Invite.household_id == hid)
                       .values(email=None).execution_options(synchronize_session=False))
    db.session.execute(update(Invite).where(
        Invite.household_id == hid, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False))
    # Spare units sold or given to them, as the worker typed it (not linked by id).
    for disposal in db.session.scalars(select(SpareDisposal).where(
            SpareDisposal.group_id == household.group_id,
            or_(SpareDisposal.buyer.is_not(None), SpareDisposal.reason.is_not(None)))):
        if _names_any(disposal.buyer, terms):
            disposal.buyer = None
        if _names_any(disposal.reason, terms):
            disposal.reason = ERASED_TEXT
    # The card stays at Stripe's side only: nothing card-like is kept here.
    db.session.execute(update(SavedCard).where(SavedCard.household_id == hid).values(
        brand=None, last4=None, payment_method_id=None, setup_intent_id=None,
        status="pending").execution_options(synchronize_session=False))
    invite_keys = [f"household-invite:{i}" for i in db.session.scalars(
        select(Invite.id).where(Invite.household_id == hid))]
    change_keys = [OutboxMessage.key.startswith(f"email-change-confirm:{u.id}:")
                   for u in people]
    db.session.execute(update(TimeCreditEntry).where(
        TimeCreditEntry.household_id == hid, TimeCreditEntry.note.is_not(None))
        .values(note=ERASED_TEXT).execution_options(synchronize_session=False))
    db.session.execute(update(ErasureRequest).where(
        ErasureRequest.household_id == hid, ErasureRequest.reason.is_not(None))
        .values(reason=ERASED_TEXT).execution_options(synchronize_session=False))
    if emails or invite_keys or change_keys:
        if emails:
            db.session.execute(delete(PendingJoin).where(PendingJoin.email.in_(emails)))
        # Kept (their keys stop a message being queued again), but emptied and never sent:
        # those to their addresses, the invites into the household, and confirmations
        # of an address change they asked for.
        for message in db.session.scalars(select(OutboxMessage).where(or_(
                OutboxMessage.to_address.in_(emails), OutboxMessage.key.in_(invite_keys),
                *change_keys))):
            message.to_address = "erased@invalid"
            message.subject = ERASED_TEXT
            message.body = ""
            message.sent_at = message.sent_at or now


def _patterns(terms: Iterable[str]) -> list[re.Pattern]:
    """A term matches as a whole word (or the whole text), ignoring case."""
    return [re.compile(r"(?<!\w)" + re.escape(t.strip()) + r"(?!\w)", re.IGNORECASE)
            for t in terms if t and t.strip()]


def _names_any(text: str | None, terms: Iterable[str]) -> bool:
    return bool(text) and any(p.search(text) for p in _patterns(terms))


def _scrub_audit_details(household: Household, user_ids: set[int], terms: list[str]) -> None:
    """In the group's audit entries (and the site-wide ones) that name the household or
    its leaving members: in the entries about them (the household's, theirs as actor or
    subject) every detail naming them becomes ERASED_TEXT; in other households' entries
    only a detail that is exactly one of their names does (so "Anna" erased leaves
    "Anna's neighbour helped" in someone else's entry alone). Figures and ids stay."""
    if not terms:
        return
    # Details are JSON, which writes letters beyond ASCII as \\u escapes: look for both.
    forms = {form for t in terms for form in (t, json.dumps(t)[1:-1])}
    likes = [AuditEntry.details.ilike(f"%{_escape_like(form)}%", escape="\\")
             for form in forms]
    patterns = _patterns(terms)
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.details.is_not(None),
        or_(AuditEntry.group_id == household.group_id, AuditEntry.group_id.is_(None)),
        or_(*likes)))
    exact = {t.strip().casefold() for t in terms}
    for entry in entries:
        own = (entry.household_id == household.id or entry.actor_id in user_ids
               or (entry.subject_type, entry.subject_id) == ("Household", household.id)
               or (entry.subject_type == "User" and entry.subject_id in user_ids))
        try:
            details = json.loads(entry.details)
        except ValueError:
            if own:
                entry.details = json.dumps({"details": ERASED_TEXT})
            continue
        cleaned = _scrub_value(details, patterns) if own else _scrub_exact(details, exact)
        if cleaned != details:
            entry.details = json.dumps(cleaned, sort_keys=True, default=str)


def _scrub_value(value, patterns: list[re.Pattern]):
    if isinstance(value, str):
        return ERASED_TEXT if any(p.search(value) for p in patterns) else value
    if isinstance(value, dict):
        return {k: _scrub_value(v, patterns) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, patterns) for v in value]
    return value


def _scrub_exact(value, exact: set[str]):
    if isinstance(value, str):
        return ERASED_TEXT if value.strip().casefold() in exact else value
    if isinstance(value, dict):
        return {k: _scrub_exact(v, exact) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_exact(v, exact) for v in value]
    return value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
