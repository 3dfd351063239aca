"""Reading a group's audit log: its entries newest first, narrowed by household, round,
person, kind and dates, a page at a time for the organiser's page or all at once (up to a
cap) for a spreadsheet. Entries are written by services.audit; nothing here writes.

Every filter is applied in SQL. The statements a page takes do not grow with the number
of entries: the choices for the filters (three), then one page of entries with what names
their round joined in.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased

from bulkbuy.extensions import db
from bulkbuy.formatting import csv_safe, local, pence
from bulkbuy.models import (
    AuditEntry,
    CashPayment,
    Group,
    Household,
    Round,
    RoundItem,
    Statement,
    User,
)
from bulkbuy.validation import optional_day, record_id

#: Entries on one page of the log.
PER_PAGE = 50
#: The most entries one spreadsheet holds (newest first); the note at its end says so.
CSV_MOST_ROWS = 50_000
#: How long the short details on the page may be.
SHORT_DETAILS = 120

#: Drop-in entries, the only ones a community worker sees: what was done at the drop-in
#: tablet. An entry is one when its action starts with one of `action_prefixes` (the
#: tablet session itself, PINs typed or set, households added to use the tablet) or when
#: its details carry one of `detail_keys`, the tablet session it was recorded in (orders
#: changed, cash taken, money held handed back at the tablet: services.dropin records them
#: within `audit.context(tablet_session_id=...)`, services.tablet names `tablet_session`).
#: Cash taken or orders changed elsewhere (the money pages, a resident at home) are not.
DROPIN_ENTRIES: Mapping[str, tuple[str, ...]] = {
    "action_prefixes": ("tablet.", "pin.", "household.assisted_created"),
    "detail_keys": ("tablet_session_id", "tablet_session"),
}

#: Each action in plain words; an action not here is shown by its name.
ACTION_WORDS: dict[str, str] = {
    "account.email_change_asked": _l("Asked to change their e-mail address"),
    "account.email_changed": _l("E-mail address changed"),
    "account.password_changed": _l("Password changed"),
    "account.password_reset": _l("Password reset from an e-mailed link"),
    "account.recovery_code_used": _l("Signed in with a recovery code"),
    "account.recovery_codes_renewed": _l("New recovery codes made"),
    "account.reset_asked": _l("Someone asked for a password reset link"),
    "account.reset_link_sent": _l("Password reset link sent"),
    "account.sessions_ended": _l("Signed out on every device"),
    "account.two_step_off": _l("Two-step sign-in turned off"),
    "account.two_step_on": _l("Two-step sign-in turned on"),
    "data.downloaded": _l("Household's data downloaded"),
    "erasure.refused": _l("Erasure of a household's data refused"),
    "erasure.requested": _l("Erasure of a household's data asked for"),
    "group.household_added": _l("Staff member's own household added"),
    "household.edited": _l("Household renamed or moved"),
    "household.erased": _l("Household's personal data erased"),
    "household.invite_used": _l("Someone joined a household by its invite link"),
    "household.language_set": _l("Household's language or paper news changed"),
    "drop_in.added": _l("Drop-in time added"),
    "drop_in.removed": _l("Drop-in time removed"),
    "product.picture_set": _l("Product picture changed"),
    "solidarity.gift": _l("Gift to the solidarity pot received"),
    "solidarity.gift_given_back": _l("Gift to the solidarity pot given back"),
    "solidarity.gift_trimmed": _l("Gift to the solidarity pot made smaller to fit the card's most"),
    "solidarity.write_off": _l("Write-off paid from the solidarity pot"),
    "time_credits.corrected": _l("Time credits taken back (given by mistake)"),
    "household.merged": _l("Two households merged"),
    "household.removed": _l("Household removed"),
    "invite.created": _l("Invite link made"),
    "staff.invite_withdrawn": _l("Staff invite withdrawn"),
    "staff.invited": _l("Staff member invited"),
    "staff.joined": _l("Staff member joined"),
    "staff.removed": _l("Staff role removed"),
    "staff.role_changed": _l("Staff role changed"),
    "bag.collected": _l("Bag collected"),
    "bag.given_away": _l("Bag given away"),
    "bag.kept": _l("Bag kept to collect later"),
    "card.consent": _l("Agreed to pay by saved card"),
    "card.paid": _l("Paid by card"),
    "card.refund_queued": _l("Card refund started"),
    "card.saved": _l("Card saved"),
    "cash.owed_back_returned": _l("Money held for the household handed back in cash"),
    "cash.recorded": _l("Cash taken"),
    "cash.returned": _l("Cash handed back"),
    "cash.reversed": _l("Cash entry corrected as a mistake"),
    "credit.given_back": _l("Money kept for next orders given back"),
    "credit.kept": _l("Money held kept for the next order"),
    "credit.used": _l("Money kept taken off a bill"),
    "group.created": _l("Group started"),
    "group.invite_reset": _l("New invite code made"),
    "group.join_asked": _l("Someone asked to join"),
    "group.joined": _l("Joined the group"),
    "group.settings_changed": _l("Group settings changed"),
    "household.assisted_created": _l("Household added for the drop-in"),
    "pin.failed": _l("Wrong PIN typed"),
    "pin.locked": _l("PIN locked after wrong tries"),
    "pin.set": _l("PIN set"),
    "pledge.changed": _l("Order changed"),
    "product.hidden": _l("Product hidden"),
    "product.saved": _l("Product saved"),
    "product.shown": _l("Product shown again"),
    "products.imported": _l("Price list imported"),
    "round.cancelled": _l("Round cancelled"),
    "round.cancelled_after_close": _l("Round cancelled after it closed"),
    "round.closed": _l("Round closed"),
    "round.completed": _l("Round finished"),
    "round.created": _l("Round made"),
    "round.delivery_moved": _l("Delivery day moved"),
    "round.delivery_recorded": _l("Delivery recorded"),
    "round.edited": _l("Round changed"),
    "round.extended": _l("Round given more time"),
    "round.failed": _l("Round did not go ahead"),
    "round.opened": _l("Round opened"),
    "round.ordered": _l("Order sent to the supplier"),
    "round.submitted": _l("Round sent for approval"),
    "solidarity.donation": _l("Money given to the solidarity pot"),
    "solidarity.help": _l("The solidarity pot paid towards a bill"),
    "solidarity.help_given_back": _l("The pot's help went back into the pot"),
    "solidarity.rule_changed": _l("The solidarity pot's rule changed"),
    "solidarity.supported": _l("Household supported by the solidarity pot"),
    "solidarity.unsupported": _l("Household no longer supported by the pot"),
    "spare.given_away": _l("Spare goods given away"),
    "spare.sold": _l("Spare goods sold"),
    "statement.restated": _l("Bill worked out again after delivery"),
    "statement.write_off_undone": _l("Write-off undone"),
    "statement.written_off": _l("Rest of a bill written off"),
    "supplier.created": _l("Supplier added"),
    "supplier.updated": _l("Supplier changed"),
    "tablet.ended": _l("Drop-in tablet stopped"),
    "time_credits.earned": _l("Time given recorded"),
    "time_credits.given_back": _l("Time credits given back"),
    "time_credits.rule_changed": _l("What time credits are worth changed"),
    "time_credits.used": _l("Time credits taken off a delivery share"),
    "tablet.helper_confirmed": _l("Helper let a household in on the tablet"),
    "tablet.helper_password_wrong": _l("Wrong helper password on the tablet"),
    "tablet.started": _l("Drop-in tablet started"),
    "write_off.restated": _l("Write-off worked out again after delivery"),
}

#: The kinds of entry (the part of the action before its dot) offered in the filter.
KIND_WORDS: dict[str, str] = {
    "account": _l("Accounts"),
    "bag": _l("Bags on collection day"),
    "card": _l("Card payments"),
    "cash": _l("Cash"),
    "credit": _l("Money kept for next orders"),
    "data": _l("Data downloads"),
    "erasure": _l("Erasure requests"),
    "group": _l("The group"),
    "invite": _l("Invite links"),
    "household": _l("Households"),
    "pin": _l("PINs"),
    "pledge": _l("Orders"),
    "product": _l("Products"),
    "products": _l("Price lists"),
    "round": _l("Rounds"),
    "solidarity": _l("Solidarity pot"),
    "spare": _l("Spare goods"),
    "staff": _l("Staff and invites"),
    "statement": _l("Bills"),
    "supplier": _l("Suppliers"),
    "tablet": _l("Drop-in tablet"),
    "time_credits": _l("Time given"),
    "write_off": _l("Write-offs"),
}

#: Details keys shown in words, in this order before any other; ids and bookkeeping keys
#: are left out of the short text.
_DETAIL_WORDS: dict[str, str] = {
    "amount_pence": _l("Amount"), "cash_pence": _l("Cash"), "receipt_number": _l("Receipt"),
    "before": _l("Before"), "after": _l("After"), "reason": _l("Reason"),
    "units": _l("Units"), "buyer": _l("Buyer"), "setting": _l("Setting"),
    "collected_by_name": _l("Collected by"), "still_owed_pence": _l("Still owed"),
}
_HIDDEN_DETAILS = frozenset({
    "tablet_session_id", "tablet_session", "cash_payment_id", "card_payment_id",
    "statement_id", "round_id", "round_item_id", "write_off_id", "delivery_version",
})

#: The person filter's value for entries no one signed in made (the scheduler, a command).
SYSTEM = "system"
_KIND = re.compile(r"[a-z_]{1,40}", re.ASCII)
_FILTER_NAMES = ("household", "round", "person", "kind", "from", "to")

# What names an entry's round, when its subject is not the round itself: a product of the
# round, a bill of the round, or cash paid against one (joined in the same statement).
_ITEM = aliased(RoundItem)
_BILL = aliased(Statement)
_CASH = aliased(CashPayment)
_PAID_BILL = aliased(Statement)


@dataclass(frozen=True)
class Filters:
    """The filters as checked: None where not asked for."""

    household_id: int | None = None
    round_id: int | None = None
    #: A user's id, SYSTEM for entries with no actor, or None for everyone.
    person: int | str | None = None
    kind: str | None = None
    since: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class Row:
    """One entry as shown."""

    at: datetime
    who: str
    what: str
    action: str
    household: str
    round: str
    details: str
    raw_details: str


@dataclass
class AuditLog:
    """A page (or a spreadsheet's worth) of the log, with the filters' choices. When
    `errors` is not empty (filter name: message), `rows` is empty."""

    rows: list[Row]
    page: int
    has_next: bool
    #: Only the first CSV_MOST_ROWS entries were read (spreadsheets only).
    truncated: bool
    dropin_only: bool
    households: list[Household]
    rounds: list[Round]
    people: list[User]
    kinds: list[tuple[str, str]]
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def choices(self) -> dict[str, list[tuple[int | str, str]]]:
        """(value, words) of each filter's options, by filter name."""
        return {
            "household": [(h.id, h.label) for h in self.households],
            "round": [(r.id, r.title) for r in self.rounds],
            "person": [(SYSTEM, _("The system"))] + [(p.id, p.name) for p in self.people],
            "kind": self.kinds,
        }

    @property
    def query(self) -> dict[str, str]:
        """The filters as typed, for links to other pages of the same view."""
        return {name: value for name, value in self.typed.items() if value}


def read_log(group: Group, args: Mapping[str, str], *, dropin_only: bool,
             everything: bool = False) -> AuditLog:
    """The group's entries matching the filters in `args` (the page's query parameters:
    household, round, person, kind, from, to, page), newest first: page `page` of
    PER_PAGE entries, or with `everything` up to CSV_MOST_ROWS of them. With
    `dropin_only` (a worker), only drop-in entries (DROPIN_ENTRIES), whatever is asked.

    A filter value that is not one of its choices, or not a date, is not used: the log
    comes back with no rows and a message in `errors` under the filter's name."""
    typed = {name: (args.get(name) or "").strip()[:40] for name in _FILTER_NAMES}
    seen = _visible(group.id, dropin_only)
    households = list(db.session.scalars(
        select(Household).where(Household.group_id == group.id).order_by(Household.label,
                                                                          Household.id)))
    rounds = list(db.session.scalars(
        select(Round).where(Round.group_id == group.id).order_by(Round.id.desc())))
    people = list(db.session.scalars(
        select(User).where(exists().where(AuditEntry.actor_id == User.id, *seen))
        .order_by(User.name, User.id)))
    kind = typed["kind"]
    kinds = sorted(((k, str(words)) for k, words in KIND_WORDS.items()), key=lambda k: k[1])
    if kind and kind not in KIND_WORDS and _KIND.fullmatch(kind):
        kinds.append((kind, kind))
    page = record_id(args.get("page")) or 1
    log = AuditLog([], page, False, False, dropin_only, households, rounds, people, kinds,
                   typed)
    filters = _checked(typed, group.timezone, log)
    if log.errors:
        return log
    if everything:
        most, offset = CSV_MOST_ROWS, 0
    else:
        most, offset = PER_PAGE, (page - 1) * PER_PAGE
    found = db.session.execute(
        _entries(seen, filters).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(most + 1).offset(offset)).all()
    if everything:
        log.truncated = len(found) > most
    else:
        log.has_next = len(found) > most
    names = {p.id: p.name for p in people}
    labels = {h.id: h.label for h in households}
    titles = {r.id: r.title for r in rounds}
    log.rows = [_row(found_row, names, labels, titles) for found_row in found[:most]]
    return log


def as_csv(log: AuditLog, timezone: str) -> str:
    """The log's rows as a spreadsheet (UTF-8 text, a header row, times in `timezone`),
    with a last line saying so when it was cut at CSV_MOST_ROWS. A cell a spreadsheet
    would run as a formula starts with an apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("When (%(zone)s)", zone=timezone), _("Who"), _("What"), _("Action"),
                     _("Household"), _("Round"), _("Details"), _("All details")])
    for row in log.rows:
        writer.writerow([csv_safe(cell) for cell in (
            f"{local(row.at, timezone):%Y-%m-%d %H:%M:%S}", row.who, row.what, row.action,
            row.household, row.round, row.details, row.raw_details)])
    if log.truncated:
        writer.writerow([_("Only the newest %(n)s entries are here. Choose dates to get "
                           "the older ones.", n=f"{CSV_MOST_ROWS:,}")])
    return out.getvalue()


def _visible(group_id: int, dropin_only: bool) -> list:
    """The conditions every entry shown meets: the group's, and drop-in ones only when
    `dropin_only`."""
    seen = [AuditEntry.group_id == group_id]
    if dropin_only:
        seen.append(or_(
            *(AuditEntry.action.startswith(prefix, autoescape=True)
              for prefix in DROPIN_ENTRIES["action_prefixes"]),
            *(AuditEntry.details.contains(f'"{key}": ', autoescape=True)
              for key in DROPIN_ENTRIES["detail_keys"])))
    return seen


def _checked(typed: dict[str, str], timezone: str, log: AuditLog) -> Filters:
    """The filters from what was typed; a message in `log.errors` for each bad one."""
    errors = log.errors
    household_id = round_id = person = None
    if typed["household"]:
        household_id = record_id(typed["household"])
        if household_id not in {h.id for h in log.households}:
            errors["household"] = _("Choose a household from the list.")
    if typed["round"]:
        round_id = record_id(typed["round"])
        if round_id not in {r.id for r in log.rounds}:
            errors["round"] = _("Choose a round from the list.")
    if typed["person"] == SYSTEM:
        person = SYSTEM
    elif typed["person"]:
        person = record_id(typed["person"])
        if person not in {p.id for p in log.people}:
            errors["person"] = _("Choose a person from the list.")
    kind = typed["kind"] or None
    if kind is not None and not _KIND.fullmatch(kind):
        errors["kind"] = _("Choose a kind of entry from the list.")
    since = before = None
    zone = ZoneInfo(timezone)
    first = optional_day(typed["from"], "from", errors)
    last = optional_day(typed["to"], "to", errors)
    if first is not None:
        since = datetime.combine(first, time(), zone)
    if last is not None:
        before = datetime.combine(last + timedelta(days=1), time(), zone)
    if first is not None and last is not None and last < first:
        errors["to"] = _("The last day must be the same as the first day or after it.")
    return Filters(household_id, round_id, person, kind, since, before)


def _entries(seen: list, filters: Filters):
    """The matching entries' columns, with the round named by a product, a bill or a
    cash payment as subject (outer joins: an entry naming none still shows)."""
    query = (
        select(AuditEntry.at, AuditEntry.actor_id, AuditEntry.household_id,
               AuditEntry.action, AuditEntry.subject_type, AuditEntry.subject_id,
               AuditEntry.details, _ITEM.round_id, _BILL.round_id, _PAID_BILL.round_id)
        .outerjoin(_ITEM, and_(AuditEntry.subject_type == "RoundItem",
                               _ITEM.id == AuditEntry.subject_id))
        .outerjoin(_BILL, and_(AuditEntry.subject_type == "Statement",
                               _BILL.id == AuditEntry.subject_id))
        .outerjoin(_CASH, and_(AuditEntry.subject_type == "CashPayment",
                               _CASH.id == AuditEntry.subject_id))
        .outerjoin(_PAID_BILL, _PAID_BILL.id == _CASH.statement_id)
        .where(*seen))
    if filters.household_id is not None:
        query = query.where(AuditEntry.household_id == filters.household_id)
    if filters.round_id is not None:
        wanted = filters.round_id
        query = query.where(or_(
            and_(AuditEntry.subject_type == "Round", AuditEntry.subject_id == wanted),
            _ITEM.round_id == wanted, _BILL.round_id == wanted, _PAID_BILL.round_id == wanted,
            # Details are JSON written with json.dumps' own separators (services.audit).
            AuditEntry.details.contains(f'"round_id": {wanted},'),
            AuditEntry.details.contains(f'"round_id": {wanted}}}')))
    if filters.person == SYSTEM:
        query = query.where(AuditEntry.actor_id.is_(None))
    elif filters.person is not None:
        query = query.where(AuditEntry.actor_id == filters.person)
    if filters.kind is not None:
        query = query.where(AuditEntry.action.startswith(f"{filters.kind}.", autoescape=True))
    if filters.since is not None:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.before is not None:
        query = query.where(AuditEntry.at < filters.before)
    return query


def _row(found, names: dict[int, str], labels: dict[int, str],
         titles: dict[int, str]) -> Row:
    (at, actor_id, household_id, action, subject_type, subject_id, raw,
     item_round, bill_round, paid_round) = found
    try:
        details = json.loads(raw) if raw else {}
    except ValueError:
        details = {}
    if not isinstance(details, dict):
        details = {}
    round_id = (subject_id if subject_type == "Round" else
                item_round or bill_round or paid_round or details.get("round_id"))
    return Row(
        at=at,
        who=names.get(actor_id, "") if actor_id is not None else _("The system"),
        what=str(ACTION_WORDS.get(action, action)),
        action=action,
        household=labels.get(household_id, "") if household_id is not None else "",
        round=titles.get(round_id, "") if isinstance(round_id, int) else "",
        details=short_details(details),
        raw_details=raw or "",
    )


def short_details(details: dict) -> str:
    """An entry's details in a few words ("Amount: £5.00; Receipt: R12"), ids left out,
    cut to SHORT_DETAILS characters."""
    parts = []
    known = list(_DETAIL_WORDS)
    for key, value in sorted(details.items(), key=lambda kv: (
            known.index(kv[0]) if kv[0] in known else len(known), kv[0])):
        if key in _HIDDEN_DETAILS or value is None or value == "":
            continue
        words = str(_DETAIL_WORDS.get(key, key.replace("_", " ").capitalize()))
        parts.append(f"{words}: {_value(key, value)}")
    text = "; ".join(parts)
    return text if len(text) <= SHORT_DETAILS else text[:SHORT_DETAILS - 1] + "…"


def _value(key: str, value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_value(k, v)}" for k, v in value.items())
    if key.endswith("_pence") and isinstance(value, int) and not isinstance(value, bool):
        return pence(value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)
