"""Creating buying rounds and moving them through their life.

Every status change is one guarded UPDATE (compare-and-set on the status),
so two requests or processes can never make the same change twice.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from bulkbuy.extensions import db
from bulkbuy.models import Group, Product, Round, RoundItem, Supplier, User
from bulkbuy.services import ServiceError, audit, notifications, writes
from bulkbuy.validation import clean_text

#: The longest a round may stay open for orders.
MAX_ROUND_LENGTH = timedelta(days=366)


@dataclass(frozen=True)
class RoundDetails:
    """What a person fills in to set up a round. Money in pence, times aware."""

    title: str
    closes_at: datetime
    delivery_fee_pence: int = 0
    min_order_pence: int | None = None
    fee_split: str = "by_value"
    allocation_mode: str = "first_come"
    collection_place: str | None = None
    collection_time: str | None = None
    notes: str | None = None
    opens_at: datetime | None = None
    #: Days households have to pay after the close (the payment window).
    payment_days: int = 3
    #: The form's one-time token (see start_round); None when there is no form.
    submission: str | None = None


def transition(round_id: int, from_statuses: Iterable[str], to_status: str, **values) -> bool:
    """Move a round to `to_status` if and only if it is in one of `from_statuses`.

    Returns whether this call made the change. Exactly one of any number of
    racing callers gets True.
    """
    result = db.session.execute(
        update(Round)
        .where(Round.id == round_id, Round.status.in_(tuple(from_statuses)))
        .values(status=to_status, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    return result.rowcount == 1


def round_of_group(group_id: int, round_id: int) -> Round | None:
    """The round with this id if it is the group's, else None."""
    rnd = db.session.get(Round, round_id)
    return rnd if rnd is not None and rnd.group_id == group_id else None


def rounds_of_group(group_id: int) -> list[Round]:
    """Every round of the group, the latest deadline first."""
    return list(db.session.scalars(
        select(Round).where(Round.group_id == group_id).order_by(Round.closes_at.desc())
    ))


def create_round(
    group: Group,
    supplier: Supplier,
    products: Sequence[Product],
    details: RoundDetails,
    *,
    created_by: User,
    now: datetime,
    status: str = "draft",
) -> Round:
    """Add a round for `group` buying `products` from `supplier`, in `status`.

    Each product's case size and price are copied into the round, so later
    edits to the catalogue do not change it. Refuses products of another
    supplier, an empty product list and a deadline that has passed.
    """
    _check_round(group, supplier, products, details, now)
    rnd = Round(
        group_id=group.id,
        supplier_id=supplier.id,
        status=status,
        created_by_id=created_by.id,
        created_at=now,
        submission_token=details.submission,
        **_detail_values(details),
    )
    db.session.add(rnd)
    db.session.flush()
    for product in products:
        db.session.add(RoundItem(round_id=rnd.id, product_id=product.id, **_snapshot(product)))
    audit.record("round.created", actor=created_by, group_id=group.id, subject=rnd, status=status)
    db.session.flush()
    return rnd


def _check_round(group: Group, supplier: Supplier, products: Sequence[Product],
                 details: RoundDetails, now: datetime) -> None:
    """Refuse (ServiceError) what no round may have: another group's supplier, no
    products or another supplier's or hidden ones, a deadline past or over a year away,
    an opening time after the deadline."""
    if supplier.group_id != group.id:
        raise ServiceError(_l("That supplier is not in this group."))
    if not products:
        raise ServiceError(_l("Choose at least one product."))
    if any(p.supplier_id != supplier.id or not p.active for p in products):
        raise ServiceError(_l("Choose products from this supplier's list."))
    if details.closes_at <= now:
        raise ServiceError(_l("Choose a closing time in the future."))
    if details.closes_at > now + MAX_ROUND_LENGTH:
        raise ServiceError(_l("Choose a closing time within the next year."))
    if details.opens_at is not None and details.opens_at >= details.closes_at:
        raise ServiceError(_l("The round must open before it closes."))


def edit_draft(rnd: Round, products: Sequence[Product], details: RoundDetails, *,
               actor: User, now: datetime) -> None:
    """Change a draft round: its details as `details` gives them (its form's one-time
    token is kept) and its products, copied afresh from `products` as the catalogue has
    them now. The same rules as a new round (`create_round`). Refuses (ServiceError) a
    round that is not a draft, even one opened or cancelled at the same moment: the
    change is one UPDATE guarded on the status. Audited ("round.edited")."""
    supplier = rnd.supplier
    _check_round(rnd.group, supplier, products, details, now)
    result = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.status == "draft")
        .values(**_detail_values(details))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if result.rowcount != 1:
        raise ServiceError(_l("Only a draft round can be changed. This one is no longer a "
                              "draft."))
    db.session.execute(
        delete(RoundItem).where(RoundItem.round_id == rnd.id)
        .execution_options(synchronize_session=False))
    for product in products:
        db.session.add(RoundItem(round_id=rnd.id, product_id=product.id, **_snapshot(product)))
    db.session.flush()
    db.session.expire_all()
    audit.record("round.edited", actor=actor, group_id=rnd.group_id, subject=rnd,
                 products=len(products))


def _detail_values(details: RoundDetails) -> dict:
    """The round's columns a person fills in, from `details` (for a new round and a
    changed draft alike; the form's one-time token is not among them)."""
    return {
        "title": details.title,
        "closes_at": details.closes_at,
        "opens_at": details.opens_at,
        "delivery_fee_pence": details.delivery_fee_pence,
        "min_order_pence": details.min_order_pence,
        "fee_split": details.fee_split,
        "allocation_mode": details.allocation_mode,
        "collection_place": details.collection_place,
        "collection_time": details.collection_time,
        "notes": details.notes,
        "payment_days": details.payment_days,
    }


def _snapshot(product: Product) -> dict:
    return {
        "name": product.name,
        "unit_description": product.unit_description,
        "case_size": product.case_size,
        "case_price_pence": product.case_price_pence,
        "retail_price_pence": product.retail_price_pence,
        "supplier_code": product.supplier_code,
    }


def open_round(rnd: Round, *, actor: User | None, now: datetime) -> None:
    """Open a draft or approved round for pledges, refreshing its product snapshot.

    From here on the round's case sizes and prices no longer follow the catalogue.
    `opens_at` becomes the moment it opened (`now`): a scheduled time until then, the
    time it opened after (the reminder goes only to rounds open a day or more).
    """
    if rnd.closes_at <= now:
        raise ServiceError(_l("The closing time has passed. Set a later one first."))
    items = db.session.scalars(select(RoundItem).where(RoundItem.round_id == rnd.id)).all()
    if not transition(rnd.id, ("draft", "pending_approval"), "open", opens_at=now):
        raise ServiceError(_l("This round cannot be opened now."))
    for item in items:
        for key, value in _snapshot(item.product).items():
            setattr(item, key, value)
    audit.record("round.opened", actor=actor, group_id=rnd.group_id, subject=rnd)


#: The supplier's reference for an order is at most this long.
SUPPLIER_REFERENCE_LENGTH = 80
#: The expected delivery may be at most this many months after the day orders closed.
LONGEST_DELIVERY_MONTHS = 6


def mark_ordered(rnd: Round, *, reference: str | None, expected_on: date | None,
                 actor: User, now: datetime) -> None:
    """Record that a closed round has been ordered from the supplier, with the supplier's
    reference (optional: some give none) and the day they expect to deliver (required).

    Once only: one guarded UPDATE from "closed". Refuses (ServiceError, nothing written)
    a round in any other status, a round whose order has nothing in it (cancel it
    instead), a missing date, a date before the day orders closed (in the group's zone)
    or more than LONGEST_DELIVERY_MONTHS after it, and a reference that is too long.
    Audited with the reference and date; every household that gets something and has an
    e-mail address is told the date (notifications.queue_round_ordered).
    """
    if rnd.status != "closed":
        raise ServiceError(_l("This round is not waiting to be ordered."))
    if not _has_cases(rnd):
        raise ServiceError(_l("Nobody gets anything from this round, so there is nothing to "
                              "order. Cancel the round instead."))
    reference = _clean_reference(reference)
    _check_expected_on(rnd, expected_on)
    if not transition(rnd.id, ("closed",), "ordered", supplier_reference=reference,
                      expected_delivery_on=expected_on, ordered_at=now,
                      ordered_by_id=actor.id):
        raise ServiceError(_l("This round is not waiting to be ordered."))
    audit.record("round.ordered", actor=actor, group_id=rnd.group_id, subject=rnd,
                 reference=reference, expected_on=expected_on.isoformat())
    notifications.queue_round_ordered(rnd, now)


def change_expected_delivery(rnd: Round, expected_on: date | None, *, actor: User,
                             now: datetime) -> None:
    """Move an ordered round's expected delivery day (suppliers reschedule).

    Only while the round is "ordered" and only to a different day within the same limits
    as mark_ordered (ServiceError otherwise, nothing written). One guarded UPDATE on the
    status and the old day, so of two changes at once from the same day one wins.
    Audited with both days; households that get something are told the new day once.
    """
    if rnd.status != "ordered" or rnd.expected_delivery_on is None:
        raise ServiceError(_l("The delivery day can only change while the round is ordered "
                              "and not yet delivered."))
    _check_expected_on(rnd, expected_on)
    old = rnd.expected_delivery_on
    if expected_on == old:
        raise ServiceError(_l("That is the day already set. Choose a different day."),
                           field="expected_on")
    result = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.status == "ordered",
               Round.expected_delivery_on == old)
        .values(expected_delivery_on=expected_on)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if result.rowcount != 1:
        raise ServiceError(_l("The delivery day was changed by someone else just now. "
                              "Look at it again."))
    audit.record("round.delivery_moved", actor=actor, group_id=rnd.group_id, subject=rnd,
                 before=old.isoformat(), after=expected_on.isoformat())
    notifications.queue_round_ordered(rnd, now)


def _has_cases(rnd: Round) -> bool:
    return db.session.scalar(
        select(RoundItem.id).where(RoundItem.round_id == rnd.id, RoundItem.cases_ordered > 0)
        .limit(1)
    ) is not None


def _clean_reference(reference: str | None) -> str | None:
    try:
        return clean_text(reference, str(_l("Supplier's reference")),
                          max_length=SUPPLIER_REFERENCE_LENGTH, required=False)
    except ValueError as error:
        raise ServiceError(str(error), field="reference") from None


def closed_on(rnd: Round) -> date:
    """The day orders closed, in the group's time zone."""
    closed = rnd.closed_at or rnd.closes_at
    return closed.astimezone(ZoneInfo(rnd.group.timezone)).date()


def latest_delivery_day(rnd: Round) -> date:
    """The latest expected delivery day allowed: LONGEST_DELIVERY_MONTHS after the close
    (the month's last day when that month is shorter)."""
    first = closed_on(rnd)
    months = first.month - 1 + LONGEST_DELIVERY_MONTHS
    year, month = first.year + months // 12, months % 12 + 1
    return date(year, month, min(first.day, calendar.monthrange(year, month)[1]))


def _check_expected_on(rnd: Round, expected_on: date | None) -> None:
    if expected_on is None:
        raise ServiceError(_l("Enter the day the supplier expects to deliver."),
                           field="expected_on")
    if expected_on < closed_on(rnd):
        raise ServiceError(_l("The delivery day cannot be before orders closed."),
                           field="expected_on")
    if expected_on > latest_delivery_day(rnd):
        raise ServiceError(_l("Choose a delivery day within %(n)s months of the close.",
                              n=LONGEST_DELIVERY_MONTHS), field="expected_on")


#: Who starts a round decides its settings: an organiser's details are kept as given; a
#: resident's round takes the group's usual money settings and no schedule.
STARTED_BY_ORGANISER = "organiser"
STARTED_BY_RESIDENT = "resident"

#: A resident's round stays open at least this long, so neighbours have a day to see it
#: and order (and the day-before reminder makes sense). Organisers may choose shorter.
SHORTEST_RESIDENT_ROUND = timedelta(hours=24)


def start_round(group: Group, supplier: Supplier, products: Sequence[Product],
                details: RoundDetails, *, started_by: str, user: User,
                now: datetime) -> tuple[Round, str]:
    """A new round of `group`, the one use case for organisers and residents.

    An organiser's (`started_by=STARTED_BY_ORGANISER`) is saved as a draft with the
    details as given; they open it when ready. A resident's takes no delivery fee,
    no minimum, fees by value, first come, no schedule and 3 days to pay (those are
    organisers' choices, whatever `details` carries), must close at least
    SHORTEST_RESIDENT_ROUND after it starts, and is opened at once, or
    sent for approval when the group asks. Returns the round and its status.
    Raises ServiceError when the rules refuse it.

    The same form sent again (`details.submission` already used, by a double click or
    a retry, even at the same moment) makes nothing new and returns the round it made.
    """
    if started_by not in (STARTED_BY_ORGANISER, STARTED_BY_RESIDENT):
        raise ValueError(f"started_by must be {STARTED_BY_ORGANISER!r} or "
                         f"{STARTED_BY_RESIDENT!r}")
    made_before = _round_of_submission(details.submission)
    if made_before is not None:
        return made_before, made_before.status
    if started_by == STARTED_BY_RESIDENT:
        if details.closes_at < now + SHORTEST_RESIDENT_ROUND:
            raise ServiceError(_l("Give your neighbours at least a day to order: choose a "
                                  "closing time 24 hours or more from now."),
                               field="closes_at")
        details = replace(
            details, delivery_fee_pence=0, min_order_pence=None, fee_split="by_value",
            allocation_mode="first_come", opens_at=None, payment_days=3,
        )
    try:
        with writes.savepoint():
            rnd = create_round(group, supplier, products, details, created_by=user, now=now)
    except IntegrityError:
        made_at_once = _round_of_submission(details.submission)
        if made_at_once is None:
            raise
        return made_at_once, made_at_once.status
    if started_by == STARTED_BY_ORGANISER:
        return rnd, rnd.status
    return rnd, submit_for_approval_or_open(rnd, actor=user, now=now)


def _round_of_submission(token: str | None) -> Round | None:
    if not token:
        return None
    return db.session.scalar(select(Round).where(Round.submission_token == token))


def submit_for_approval_or_open(rnd: Round, *, actor: User, now: datetime) -> str:
    """A resident's new round: open it, or wait for an organiser if the group asks."""
    if rnd.group.require_round_approval:
        if not transition(rnd.id, ("draft",), "pending_approval"):
            raise ServiceError(_l("This round cannot be sent for approval now."))
        audit.record("round.submitted", actor=actor, group_id=rnd.group_id, subject=rnd)
        return "pending_approval"
    open_round(rnd, actor=actor, now=now)
    return "open"


def _before_close(now: datetime):
    """Rounds not yet closed: drafts and pending ones, and open ones before their deadline."""
    return or_(
        Round.status.in_(("draft", "pending_approval")),
        and_(Round.status == "open", Round.closes_at > now),
    )


def extend_round(rnd: Round, new_closes_at: datetime, *, actor: User, now: datetime) -> None:
    """Move the deadline later. Only before the round closes, and only later.

    A draft or a round waiting for approval may get a new deadline even when
    its old one has passed; an open round only until its deadline.
    """
    if new_closes_at <= now or new_closes_at <= rnd.closes_at:
        raise ServiceError(_l("Choose a closing time later than the current one."))
    if new_closes_at > now + MAX_ROUND_LENGTH:
        raise ServiceError(_l("Choose a closing time within the next year."))
    old = rnd.closes_at
    result = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.closes_at == old, _before_close(now))
        .values(closes_at=new_closes_at)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if result.rowcount != 1:
        raise ServiceError(_l("This round has closed, so its deadline cannot change."))
    audit.record(
        "round.extended", actor=actor, group_id=rnd.group_id, subject=rnd,
        before=old.isoformat(), after=new_closes_at.isoformat(),
    )


def cancel_round(rnd: Round, *, actor: User, now: datetime) -> None:
    """Cancel a round that has not closed yet (an open one only before its deadline).

    Nobody is charged for it; every household that ordered is told.
    """
    result = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, _before_close(now))
        .values(status="cancelled", closed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    if result.rowcount != 1:
        raise ServiceError(_l("This round has closed. Only an organiser can deal with it now."))
    audit.record("round.cancelled", actor=actor, group_id=rnd.group_id, subject=rnd)
    notifications.queue_round_cancelled(rnd, now)


def open_scheduled_rounds(now: datetime) -> int:
    """Open every draft round whose scheduled opening time has come. Returns how many."""
    due = db.session.scalars(
        select(Round).where(
            Round.status == "draft", Round.opens_at.is_not(None), Round.opens_at <= now,
            Round.closes_at > now,
        )
    ).all()
    opened = 0
    for rnd in due:
        try:
            open_round(rnd, actor=None, now=now)
            opened += 1
        except ServiceError:
            continue
    return opened
