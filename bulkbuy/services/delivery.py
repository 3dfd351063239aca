"""Delivery day: what arrived is recorded, shared out again, and every statement follows
the goods, with a line per change and money moved once per change.

Saving what arrived is one guarded change (`rounds.delivery_version`). Each save works
from the close-time allocation and what arrived *now* (not from the previous save), so
entering it twice changes nothing, and changing it later moves only the new difference:
statements are compared with what they say now, and money follows the difference.

Money, per statement, when its total goes down below what was paid: card money first
goes back to the card (a partial refund of each card payment, latest first, never more
than it paid towards the statement; the payment sweep asks Stripe), and what is left
was cash, which the group now holds for the household (`owed_back_pence`) until a worker
hands it back or the household keeps it as a credit. When the total goes up (surplus or
a substitute), what is newly owed is charged by the sweep as usual (within the card's
consented maximum; above it the household is asked).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from bulkbuy.domain import statuses
from bulkbuy.domain.allocation import PledgeLine as DomainLine
from bulkbuy.domain.allocation import allocate, household_positions, reallocate
from bulkbuy.domain.delivery import ProductOutcome, SubstituteOutcome, restate, share_substitute
from bulkbuy.domain.outcome import consented_maximum
from bulkbuy.domain.payment_states import STATEMENT
from bulkbuy.domain.statuses import AttemptStatus, StatementStatus
from bulkbuy.extensions import db
from bulkbuy.formatting import pence
from bulkbuy.models import (
    CardConsent,
    CardPayment,
    DeliveryNotice,
    ItemReceipt,
    PledgeLine,
    Product,
    Round,
    RoundItem,
    SolidarityEntry,
    Statement,
    StatementAdjustment,
    StatementLine,
    TimeCreditEntry,
    User,
    WriteOff,
)
from bulkbuy.services import ServiceError, audit, bulk, impact, notifications, solidarity

# The module, not its function: refunds imports impact, which imports statements, which
# imports this module (a cycle that a name imported from a half-loaded module breaks).
from bulkbuy.services.payments import refunds as refund_service

#: Rounds whose delivery can be recorded (again).
RECEIVABLE = (statuses.RoundStatus.ORDERED, statuses.RoundStatus.DELIVERED)
#: Most units of one product (or its substitute) a form may say arrived.
MOST_UNITS = 99_999
#: Most pence a substitute unit or an invoice may be.
MOST_PENCE = 10_000_000


@dataclass(frozen=True)
class Arrived:
    """What arrived of one of the round's products, in units."""

    item_id: int
    arrived: int
    damaged: int = 0
    #: The case price on the invoice when the supplier changed it (pence); None: as ordered.
    case_price_pence: int | None = None


@dataclass(frozen=True)
class Substitute:
    """Units the supplier sent in place of a product: one of the supplier's products
    (`product_id`), or a new line (`name`, `unit_description`); priced per unit."""

    for_item_id: int
    units: int
    unit_pence: int | None
    product_id: int | None = None
    name: str | None = None
    unit_description: str | None = None


@dataclass(frozen=True)
class ReceiveLine:
    """One product on the receive page: what was ordered, what was saved as arrived."""

    item: RoundItem
    ordered_units: int
    arrived: int | None
    damaged: int
    #: The case price on the invoice, when saved as changed.
    case_price_pence: int | None
    substitute: RoundItem | None
    substitute_units: int
    #: Units that arrived usable but are in nobody's bag (more than was ordered), once
    #: saved; and of the substitute.
    spare: int = 0
    substitute_spare: int = 0


@dataclass(frozen=True)
class ReceivePage:
    round: Round
    lines: list[ReceiveLine]
    #: Pence we expect the supplier to charge for what arrived (goods + delivery fee).
    expected_pence: int
    #: Products of the supplier not in the round: what a substitute may be.
    substitute_choices: list[Product]


@dataclass
class DeliveryResult:
    """What one save changed."""

    statements_changed: int = 0
    refunds_queued: int = 0
    owed_back_pence: int = 0
    spare: dict[int, int] = field(default_factory=dict)


def original_items(rnd: Round) -> list[RoundItem]:
    """The round's products as ordered (substitutes left out), in the order sheet's order."""
    return [i for i in rnd.items if i.substitute_for_id is None]


def receive_page(rnd: Round) -> ReceivePage:
    """The receive page: each product ordered (some cases) with what was ordered and what
    was saved."""
    items = [i for i in original_items(rnd) if i.cases_ordered]
    receipts = {r.round_item_id: r for r in db.session.scalars(
        select(ItemReceipt).join(RoundItem, ItemReceipt.round_item_id == RoundItem.id)
        .where(RoundItem.round_id == rnd.id))}
    # The latest substitute of each product is the one sent now (an earlier one, replaced,
    # has no units); how many were sent is its receipt.
    subs = {i.substitute_for_id: i for i in _substitute_items(rnd)
            if receipts.get(i.id) is not None and receipts[i.id].arrived_units > 0}
    handed = dict(db.session.execute(
        select(StatementLine.round_item_id, func.sum(StatementLine.units))
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id)
        .group_by(StatementLine.round_item_id)).all())
    lines = []
    for item in items:
        receipt = receipts.get(item.id)
        sub = subs.get(item.id)
        lines.append(ReceiveLine(
            item=item, ordered_units=(item.cases_ordered or 0) * item.case_size,
            arrived=receipt.arrived_units if receipt else None,
            damaged=receipt.damaged_units if receipt else 0,
            case_price_pence=receipt.case_price_pence if receipt else None,
            substitute=sub,
            substitute_units=receipts[sub.id].arrived_units if sub else 0,
            spare=receipt.usable_units - int(handed.get(item.id) or 0) if receipt else 0,
            substitute_spare=receipts[sub.id].arrived_units - int(handed.get(sub.id) or 0)
            if sub else 0,
        ))
    in_round = {i.product_id for i in rnd.items}
    choices = [p for p in db.session.scalars(
        select(Product).where(Product.supplier_id == rnd.supplier_id)
        .order_by(Product.name).limit(500)) if p.id not in in_round]
    expected = db.session.scalar(
        select(func.coalesce(func.sum(Statement.total_pence), 0))
        .where(Statement.round_id == rnd.id))
    return ReceivePage(rnd, lines, expected, choices)


def record_delivery(rnd: Round, arrived: list[Arrived], substitutes: list[Substitute],
                    invoice_total_pence: int | None, *, drawn_version: int, actor: User,
                    now: datetime) -> DeliveryResult:
    """Save what arrived for an ordered (or already delivered) round and restate every
    statement from it. One guarded change: the save is refused (ServiceError, nothing
    written) when someone else saved since the form was drawn (`drawn_version`), when
    the round is not waiting for its delivery, or when a number is impossible (field
    names: "arrived-<item>", "damaged-<item>", "sub_units-<item>", "sub_price-<item>",
    "sub_product-<item>", "invoice"). Products left out of `arrived` are taken to have
    arrived in full. The round becomes delivered. Audited; households whose bill
    changed are told. Returns what changed."""
    items = {i.id: i for i in original_items(rnd)}
    given = _checked_arrivals(items, arrived)
    subs = _checked_substitutes(rnd, items, substitutes)
    if invoice_total_pence is not None and not 0 <= invoice_total_pence <= MOST_PENCE:
        raise ServiceError(_l("Enter the invoice total in pounds, like 182.40."),
                           field="invoice")
    if rnd.status not in RECEIVABLE:
        raise ServiceError(_l("Only a round marked as ordered can have its delivery "
                              "recorded."))
    claimed = db.session.execute(
        update(Round)
        .where(Round.id == rnd.id, Round.status.in_(RECEIVABLE),
               Round.delivery_version == drawn_version)
        .values(delivery_version=drawn_version + 1, status=statuses.RoundStatus.DELIVERED,
                received_at=now, received_by_id=actor.id,
                invoice_total_pence=invoice_total_pence)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise ServiceError(_l("Someone else saved what arrived a moment ago, so nothing "
                              "was changed. Check what they saved below, then save again "
                              "if it needs changing."))
    db.session.refresh(rnd)
    _save_receipts(items, given, actor, now)
    sub_items = _save_substitutes(rnd, items, subs, actor, now)
    result = _restate_round(rnd, items, given, sub_items, now)
    impact.record(rnd, now)  # the impact report's totals, from the restated bills
    audit.record("round.delivery_recorded", actor=actor, group_id=rnd.group_id, subject=rnd,
                 version=rnd.delivery_version, invoice_total_pence=invoice_total_pence,
                 arrived={str(k): list(v) for k, v in sorted(given.items())},
                 substitutes={str(k): [s.units, s.unit_pence] for k, (_i, s) in
                              sorted(sub_items.items())},
                 statements_changed=result.statements_changed,
                 refunds_queued=result.refunds_queued)
    return result


def _checked_arrivals(items: dict[int, RoundItem],
                      arrived: list[Arrived]) -> dict[int, tuple[int, int, int | None]]:
    """(arrived, damaged, invoice case price or None) per product, every product of the
    round included."""
    given: dict[int, tuple[int, int, int | None]] = {}
    for entry in arrived:
        if entry.item_id not in items:
            raise ServiceError(_l("That product is not in this round."))
        if not 0 <= entry.arrived <= MOST_UNITS:
            raise ServiceError(_l("Enter how many arrived, from 0 to %(most)s.",
                                  most=f"{MOST_UNITS:,}"), field=f"arrived-{entry.item_id}")
        if not 0 <= entry.damaged <= entry.arrived:
            raise ServiceError(_l("Damaged cannot be more than arrived, or below 0."),
                               field=f"damaged-{entry.item_id}")
        price = entry.case_price_pence
        if price is not None and not 0 <= price <= MOST_PENCE:
            raise ServiceError(_l("Enter the invoice's price for a case, like 10.50."),
                               field=f"price-{entry.item_id}")
        if price == items[entry.item_id].case_price_pence:
            price = None  # as ordered
        given[entry.item_id] = (entry.arrived, entry.damaged, price)
    for item_id, item in items.items():
        given.setdefault(item_id, ((item.cases_ordered or 0) * item.case_size, 0, None))
    return given


def _checked_substitutes(rnd: Round, items: dict[int, RoundItem],
                         substitutes: list[Substitute]) -> dict[int, Substitute]:
    """At most one substitute per product, each with a price and a known product."""
    checked: dict[int, Substitute] = {}
    in_round = {i.product_id: i for i in rnd.items}
    for sub in substitutes:
        if sub.for_item_id not in items:
            raise ServiceError(_l("That product is not in this round."))
        if sub.for_item_id in checked:
            raise ServiceError(_l("Enter one substitute for each product."),
                               field=f"sub_product-{sub.for_item_id}")
        if not 1 <= sub.units <= MOST_UNITS:
            raise ServiceError(_l("Enter how many were sent instead, from 1 to %(most)s.",
                                  most=f"{MOST_UNITS:,}"), field=f"sub_units-{sub.for_item_id}")
        if sub.unit_pence is None or not 0 < sub.unit_pence <= MOST_PENCE:
            raise ServiceError(_l("Enter the price of one substitute, like 0.85."),
                               field=f"sub_price-{sub.for_item_id}")
        if sub.product_id is not None:
            product = db.session.get(Product, sub.product_id)
            taken = in_round.get(sub.product_id)
            if product is None or product.supplier_id != rnd.supplier_id or (
                    taken is not None and taken.substitute_for_id != sub.for_item_id):
                raise ServiceError(_l("Choose one of the supplier's products that is not "
                                      "already in this round."),
                                   field=f"sub_product-{sub.for_item_id}")
        elif not sub.name:
            raise ServiceError(_l("Choose the product sent instead, or type its name."),
                               field=f"sub_product-{sub.for_item_id}")
        checked[sub.for_item_id] = sub
    return checked


def _save_receipts(items: dict[int, RoundItem], given: dict[int, tuple],
                   actor: User, now: datetime) -> None:
    saved = {r.round_item_id: r for r in db.session.scalars(
        select(ItemReceipt).where(ItemReceipt.round_item_id.in_(list(items))))}
    for item_id, (arrived, damaged, *price) in given.items():
        receipt = saved.get(item_id)
        if receipt is None:
            receipt = ItemReceipt(round_item_id=item_id)
            db.session.add(receipt)
        receipt.arrived_units, receipt.damaged_units = arrived, damaged
        receipt.case_price_pence = price[0] if price else None
        receipt.recorded_by_id, receipt.recorded_at = actor.id, now


def _save_substitutes(rnd: Round, items: dict[int, RoundItem], subs: dict[int, Substitute],
                      actor: User, now: datetime) -> dict[int, tuple[RoundItem, Substitute]]:
    """The round item of each substitute, priced per unit (a product's first substitute
    makes it; a new line becomes a hidden product of the supplier, or the supplier's
    product of that name). How many were sent is kept as the item's receipt. A
    substitute no longer sent keeps its item; the restatement gives it no units."""
    sub_items = _substitute_items(rnd)
    made: dict[int, tuple[RoundItem, Substitute]] = {}
    for for_id, sub in subs.items():
        product_id = sub.product_id
        if product_id is None:
            product = db.session.scalar(select(Product).where(
                Product.supplier_id == rnd.supplier_id, Product.name == sub.name[:100]))
            if product is None:
                product = Product(supplier_id=rnd.supplier_id, name=sub.name[:100],
                                  unit_description=(sub.unit_description or "")[:100],
                                  case_size=1, case_price_pence=sub.unit_pence, active=False)
                db.session.add(product)
                db.session.flush()
            elif any(i.product_id == product.id and i.substitute_for_id != for_id
                     for i in rnd.items):
                raise ServiceError(_l("Choose one of the supplier's products that is not "
                                      "already in this round."),
                                   field=f"sub_product-{for_id}")
            product_id = product.id
        item = next((i for i in sub_items if i.substitute_for_id == for_id
                     and i.product_id == product_id), None)
        if item is None:
            source = db.session.get(Product, product_id)
            item = RoundItem(round_id=rnd.id, product_id=product_id, name=source.name,
                             unit_description=source.unit_description, case_size=1,
                             case_price_pence=sub.unit_pence, cases_ordered=0,
                             retail_price_pence=source.retail_price_pence,
                             substitute_for_id=for_id)
            db.session.add(item)
            db.session.flush()
        item.case_price_pence = sub.unit_pence
        made[for_id] = (item, sub)
    _save_receipts({item.id: item for item, _sub in made.values()},
                   {item.id: (sub.units, 0) for item, sub in made.values()}, actor, now)
    return made


def _substitute_items(rnd: Round) -> list[RoundItem]:
    return list(db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == rnd.id,
                                RoundItem.substitute_for_id.is_not(None))
        .order_by(RoundItem.id)))


def _restate_round(rnd: Round, items: dict[int, RoundItem], given: dict[int, tuple],
                   sub_items: dict[int, tuple[RoundItem, Substitute]],
                   now: datetime) -> DeliveryResult:
    rows = db.session.execute(
        select(PledgeLine.household_id, PledgeLine.round_item_id, PledgeLine.queue_pos,
               PledgeLine.quantity, PledgeLine.tolerance)
        .where(PledgeLine.round_id == rnd.id)).all()
    lines_by_item: dict[int, list[DomainLine]] = defaultdict(list)
    for row in rows:
        lines_by_item[row.round_item_id].append(
            DomainLine(row.household_id, row.queue_pos, row.quantity, row.tolerance))
    ordered_items = sorted(items.values(), key=lambda i: i.id)
    # What each household got at close (the allocation alone: its pence are restated).
    at_close = {item.id: allocate(item.case_size, lines_by_item.get(item.id, ()),
                                  item.max_cases, rnd.allocation_mode)
                for item in ordered_items}
    round_positions = household_positions(line for ls in lines_by_item.values() for line in ls)

    products, new_units, tolerance_units = [], {}, {}
    lost: dict[int, dict[int, int]] = {}
    spare: dict[int, int] = {}
    for item in ordered_items:
        allocation = at_close[item.id]
        arrived, damaged, new_price = given[item.id]
        now_given = reallocate(lines_by_item.get(item.id, ()), allocation, arrived - damaged,
                               rnd.allocation_mode)
        new_units[item.id] = now_given.units
        tolerance_units[item.id] = now_given.tolerance_units
        spare[item.id] = now_given.spare
        lost[item.id] = {h: u - now_given.units.get(h, 0) for h, u in allocation.units.items()
                         if u > now_given.units.get(h, 0)}
        price = item.case_price_pence if new_price is None else new_price
        products.append(ProductOutcome(
            item.id, allocation.cases * price, allocation.units,
            now_given.units, household_positions(lines_by_item.get(item.id, ()))))
    substitutes = []
    for for_id, (sub_item, sub) in sub_items.items():
        units, left = share_substitute(sub.units, lost.get(for_id, {}), round_positions)
        new_units[sub_item.id] = units
        tolerance_units[sub_item.id] = {}
        spare[sub_item.id] = left
        substitutes.append(SubstituteOutcome(sub_item.id, sub.unit_pence, units))
    sent_now = {item.id for item, _sub in sub_items.values()}
    for old in _substitute_items(rnd):
        if old.id in sent_now:
            continue
        # A substitute no longer sent (or replaced by another product): nobody gets it.
        db.session.execute(update(ItemReceipt).where(ItemReceipt.round_item_id == old.id)
                           .values(arrived_units=0, damaged_units=0)
                           .execution_options(synchronize_session=False))
        new_units[old.id] = {}
        tolerance_units[old.id] = {}
        substitutes.append(SubstituteOutcome(old.id, old.case_price_pence, {}))
    restated = restate(products, substitutes, rnd.delivery_fee_pence, rnd.fee_split,
                       round_positions)
    raised = {item_id for item_id, (_a, _d, price) in given.items()
              if price is not None and price > items[item_id].case_price_pence}
    if raised:
        _within_consent(rnd, restated, raised, items, lines_by_item)
    result = DeliveryResult(spare=spare)
    _write_restatement(rnd, restated, new_units, tolerance_units, result, now)
    return result


def _within_consent(rnd: Round, restated, raised: set[int], items: dict[int, RoundItem],
                    lines_by_item: dict[int, list[DomainLine]]) -> None:
    """A supplier's price rise is shared only within what each household agreed to: the
    most it was shown when it ordered (every unit it would take at the round's prices,
    and the biggest share of delivery). What a household's bill would go over that by
    comes off its share of the risen products (it pays that much less) and is the
    group's deficit: the settling-up page shows the invoice above what households pay.
    Changes `restated` in place."""
    wanted: dict[int, dict[int, tuple[int, int, int]]] = defaultdict(dict)
    for item_id, lines in lines_by_item.items():
        item = items.get(item_id)
        if item is None:
            continue
        for line in lines:
            units, size, price = wanted[line.household_id].get(
                item_id, (0, item.case_size, item.case_price_pence))
            wanted[line.household_id][item_id] = (units + line.quantity + line.tolerance,
                                                  size, price)
    for household, total in restated.totals.items():
        most = consented_maximum(wanted.get(household, {}), rnd.delivery_fee_pence,
                                 fee_mode=rnd.fee_split, min_order_pence=rnd.min_order_pence)
        over = total - most
        for item_id in sorted(raised):
            if over <= 0:
                break
            share = restated.goods.get(item_id, {})
            cut = min(over, share.get(household, 0))
            if cut > 0:
                share[household] -= cut
                restated.totals[household] -= cut
                over -= cut


def _write_restatement(rnd, restated, new_units, tolerance_units, result: DeliveryResult,
                       now: datetime) -> None:
    """Lines, adjustments and statements as bulk statements; money per changed statement."""
    statements = {s.household_id: s for s in db.session.execute(
        select(Statement.id, Statement.household_id, Statement.goods_pence,
               Statement.fee_pence, Statement.total_pence, Statement.paid_pence,
               Statement.payment_status, Statement.owed_back_pence,
               Statement.needs_action_reason, Statement.pot_pence,
               Statement.time_credit_pence, Statement.gift_pence)
        .where(Statement.round_id == rnd.id)).all()}
    by_statement = {s.id: s for s in statements.values()}
    current = {(line.statement_id, line.round_item_id): line for line in db.session.execute(
        select(StatementLine.id, StatementLine.statement_id, StatementLine.round_item_id,
               StatementLine.units, StatementLine.amount_pence)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(Statement.round_id == rnd.id)).all()}
    version = rnd.delivery_version
    line_updates, line_inserts, adjustments = [], [], []
    new_goods: dict[int, int] = defaultdict(int)
    for item_id, per_household in restated.goods.items():
        units_now = new_units.get(item_id, {})
        for household_id, pence_now in per_household.items():
            statement = statements.get(household_id)
            if statement is None:
                continue
            units = units_now.get(household_id, 0)
            new_goods[statement.id] += pence_now
            line = current.get((statement.id, item_id))
            before = (line.units, line.amount_pence) if line else (0, 0)
            if before == (units, pence_now):
                continue
            tol = tolerance_units.get(item_id, {}).get(household_id, 0)
            if line is None:
                line_inserts.append({"statement_id": statement.id, "round_item_id": item_id,
                                     "quantity": 0, "tolerance": 0, "units": units,
                                     "tolerance_units": tol, "amount_pence": pence_now})
            else:
                line_updates.append({"id": line.id, "units": units, "tolerance_units": tol,
                                     "amount_pence": pence_now})
            adjustments.append({"statement_id": statement.id, "round_item_id": item_id,
                                "delivery_version": version, "units_before": before[0],
                                "units_after": units, "pence_before": before[1],
                                "pence_after": pence_now, "created_at": now})
    changed = []
    for household_id, statement in statements.items():
        goods = new_goods.get(statement.id, 0)
        fee = restated.fee.get(household_id, 0)
        if fee != statement.fee_pence:
            adjustments.append({"statement_id": statement.id, "round_item_id": None,
                                "delivery_version": version, "units_before": 0,
                                "units_after": 0, "pence_before": statement.fee_pence,
                                "pence_after": fee, "created_at": now})
        if (goods, fee) != (statement.goods_pence, statement.fee_pence):
            changed.append((statement, goods, fee))
    bulk.update_rows(StatementLine.__table__, line_updates,
                     set_=("units", "tolerance_units", "amount_pence"))
    bulk.insert_rows(StatementLine.__table__, line_inserts)
    bulk.insert_rows(StatementAdjustment.__table__, adjustments)
    moved = _move_money(rnd, [(by_statement[st.id], goods, fee) for st, goods, fee in changed],
                        result, now) if changed else {}
    result.statements_changed = len(changed)
    db.session.flush()
    db.session.expire_all()
    if moved:
        # The e-mails are rendered by the notification sweep (queue_delivery_news): a big
        # round's save changes thousands of bills, and the save should stay quick.
        bulk.insert_rows(DeliveryNotice.__table__, [
            {"statement_id": statement_id, "delivery_version": version,
             "card_back_pence": card_back, "created_at": now}
            for statement_id, (card_back, _cash_back) in moved.items()])


def queue_delivery_news(now: datetime) -> int:
    """Put in the outbox, once, the e-mails owed for bills that delivery saves changed
    (the DeliveryNotice rows not yet queued). The notices are claimed first (marked
    queued, guarded on not being so already), so two sweeps at once queue each once. A
    bill changed by several saves since the last sweep gets one e-mail with every
    change and its bill as it is now. Returns how many statements' news was queued."""
    claimed = db.session.execute(
        update(DeliveryNotice).where(DeliveryNotice.queued_at.is_(None))
        .values(queued_at=now)
        .returning(DeliveryNotice.statement_id, DeliveryNotice.delivery_version,
                   DeliveryNotice.card_back_pence)
        .execution_options(synchronize_session=False)).all()
    if not claimed:
        return 0
    rounds = dict(db.session.execute(
        select(Statement.id, Statement.round_id)
        .where(Statement.id.in_({n.statement_id for n in claimed}))).all())
    by_round: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for notice in claimed:
        by_round[rounds[notice.statement_id]][notice.statement_id].append(notice)
    for round_id, notices in sorted(by_round.items()):
        _tell_households(db.session.get(Round, round_id), notices, now)
    return len(rounds)


def _tell_households(rnd: Round, notices: dict[int, list], now: datetime) -> None:
    """E-mail each household whose bill changed (`notices` by statement id) what
    changed, in words, and what its bill is now."""
    items = {i.id: i for i in db.session.scalars(
        select(RoundItem).where(RoundItem.round_id == rnd.id))}
    versions = {statement_id: {n.delivery_version for n in told}
                for statement_id, told in notices.items()}
    words: dict[int, list[str]] = defaultdict(list)
    # Plain rows: a big round's save changes thousands of bills.
    for adjustment in db.session.execute(
        select(StatementAdjustment.statement_id, StatementAdjustment.round_item_id,
               StatementAdjustment.delivery_version,
               StatementAdjustment.units_before, StatementAdjustment.units_after,
               StatementAdjustment.pence_before, StatementAdjustment.pence_after)
        .where(StatementAdjustment.statement_id.in_(list(notices)),
               StatementAdjustment.delivery_version.in_(
                   sorted(set().union(*versions.values()))))
        .order_by(StatementAdjustment.id)
    ):
        if adjustment.delivery_version in versions[adjustment.statement_id]:
            # Worded when the e-mail is written: each household's in its own language.
            words[adjustment.statement_id].append(WordedLater(describe, adjustment, items))
    bills, newest = {}, {}
    for statement in db.session.execute(
        select(Statement.id, Statement.household_id, Statement.total_pence,
               Statement.paid_pence, Statement.payment_status, Statement.owed_back_pence)
        .where(Statement.id.in_(list(notices)))
    ):
        newest[statement.household_id] = max(versions[statement.id])
        bills[statement.household_id] = {
            "changes": words.get(statement.id, []), "total_pence": statement.total_pence,
            "card_back_pence": sum(n.card_back_pence for n in notices[statement.id]),
            "owed_back_pence": statement.owed_back_pence,
            "still_to_pay_pence": statement.total_pence - statement.paid_pence
            if statement.payment_status in statuses.OPEN_TO_PAYMENT else 0,
        }
    notifications.queue_delivery_changed(rnd, bills, newest, now)


@dataclass
class _Card:
    """One succeeded card payment of a changed statement, as read and as it will be."""

    id: int
    household_id: int
    amount: int
    credited_read: int
    refunded_read: int
    credited: int
    refunded: int


def _move_money(rnd: Round, changed: list[tuple], result: DeliveryResult,
                now: datetime) -> dict[int, tuple[int, int]]:
    """Set each changed statement's new total and move its money once: card money back
    to the card, cash held for the household, or the new amount owed. `changed` holds
    (statement row, goods, fee). Returns, per statement id, (pence going back to the
    card, change in cash held for the household).

    Written for big rounds: the card payments and write-offs are read in one query each
    (the payments locked), and payments, refunds, statements and audit entries are
    written in bulk, every UPDATE guarded on the values read, so the save is refused
    (nothing written) if a payment moved meanwhile."""
    ids = [statement.id for statement, _goods, _fee in changed]
    cards: dict[int, list[_Card]] = defaultdict(list)
    for row in db.session.execute(
        select(CardPayment.id, CardPayment.statement_id, CardPayment.household_id,
               CardPayment.amount_pence, CardPayment.credited_pence,
               CardPayment.refunded_pence)
        .where(CardPayment.statement_id.in_(ids),
               CardPayment.status == AttemptStatus.SUCCEEDED)
        .order_by(CardPayment.id).with_for_update()
    ):
        cards[row.statement_id].append(_Card(
            row.id, row.household_id, row.amount_pence, row.credited_pence,
            row.refunded_pence, row.credited_pence, row.refunded_pence))
    # What of each charge is a gift the pot keeps: never the bill's money.
    gifts = solidarity.card_gifts_kept(
        card.id for statement_cards in cards.values() for card in statement_cards)
    write_offs = {w.statement_id: w for w in db.session.scalars(
        select(WriteOff).where(WriteOff.statement_id.in_(ids), WriteOff.undone_at.is_(None)))}
    consents = _consents_over(rnd, [s for s, _goods, _fee in changed])
    credits_used = _time_credits_used([s for s, _goods, _fee in changed])
    gifts_in = solidarity.gifts_received(s.id for s, _goods, _fee in changed if s.gift_pence)
    refunds: list[tuple[_Card, int]] = []
    statement_rows, audits, pot_entries, time_entries = [], [], [], []
    moved: dict[int, tuple[int, int]] = {}
    for statement, goods, fee in changed:
        total = goods + fee
        paid = statement.paid_pence
        status = statement.payment_status
        charging = status == StatementStatus.CHARGING
        excess = max(0, paid - total) if not charging else 0
        # What the solidarity pot paid goes back to the pot first, then card money to
        # the card, and the rest is cash held for the household.
        pot_back = min(excess, statement.pot_pence)
        if pot_back:
            pot_entries.append({
                "group_id": rnd.group_id, "amount_pence": pot_back,
                "reason": "help_given_back", "statement_id": statement.id,
                "household_id": statement.household_id, "recorded_at": now})
        # Then time given: whole credits back to the household's ledger, at the pence a
        # credit was worth when they were used on this bill.
        time_back, credits_back = 0, 0
        used = credits_used.get(statement.id, 0)
        if excess > pot_back and used > 0:
            per_credit = statement.time_credit_pence // used
            credits_back = min(used, (excess - pot_back) // per_credit) if per_credit else 0
            time_back = credits_back * per_credit
            if credits_back:
                time_entries.append({
                    "group_id": rnd.group_id, "household_id": statement.household_id,
                    "credits": credits_back, "carried_minutes": 0, "reason": "given_back",
                    "statement_id": statement.id, "recorded_at": now})
        card_back = 0
        for card in reversed(cards.get(statement.id, ())) \
                if excess > pot_back + time_back else ():
            take = min(excess - pot_back - time_back - card_back, card.credited)
            if take <= 0:
                continue
            card.credited -= take
            card.refunded += take
            refunds.append((card, take))
            card_back += take
        cash_back = excess - pot_back - time_back - card_back
        paid_now = paid - excess
        # Card money whose refund Stripe refused is still with the group, and cash held
        # from an earlier save: both pay first towards a bill that has gone up again.
        card_again = 0
        for card in cards.get(statement.id, ()) if not charging else ():
            use = min(total - paid_now - card_again,
                      card.amount - card.credited - card.refunded - gifts.get(card.id, 0))
            if use > 0:
                card.credited += use
                card_again += use
        paid_now += card_again
        held_used = min(statement.owed_back_pence, max(0, total - paid_now)) \
            if not charging else 0
        paid_now += held_used
        write_off = write_offs.get(statement.id) \
            if status == StatementStatus.SETTLED else None
        if write_off is not None:
            # The group covers the rest: it covers the new rest (none left: undone).
            rest = total - paid_now
            audits.append(dict(action="write_off.restated", household_id=statement.household_id,
                               subject=write_off, before=write_off.amount_pence,
                               after=max(rest, 0)))
            if rest > 0:
                write_off.amount_pence = rest
            else:
                write_off.undone_at = now
        event = _event(status, total, paid_now,
                       covered=write_off is not None and total > paid_now)
        if event is None and statement.id in consents and paid_now < total:
            kept = sum(c.amount - c.refunded for c in cards.get(statement.id, ()))
            if total - paid_now + kept <= consents[statement.id]:
                event = "delivery_within_consent"
        moves = event is not None and status in STATEMENT.sources(event)
        # A bill the delivery leaves with nothing more to pay will never be charged, so a
        # card gift still to come with that charge is dropped: the bill shows only gifts
        # the pot received (as when a bill is paid in cash or written off).
        gift = statement.gift_pence
        if moves and gift and event in ("delivery_paid_up", "delivery_nothing_to_pay"):
            gift = gifts_in.get(statement.id, 0)
        statement_rows.append({
            "id": statement.id, "read_paid_pence": paid,
            "read_owed_back_pence": statement.owed_back_pence,
            "read_payment_status": status, "goods_pence": goods,
            "fee_pence": fee, "total_pence": total, "paid_pence": paid_now,
            "owed_back_pence": statement.owed_back_pence + cash_back - held_used,
            "payment_status": STATEMENT.target(event) if moves else status,
            "needs_action_reason": None if moves else statement.needs_action_reason,
            "pot_pence": statement.pot_pence - pot_back,
            "time_credit_pence": statement.time_credit_pence - time_back,
            "gift_pence": gift})
        result.owed_back_pence += cash_back - held_used
        audits.append(dict(action="statement.restated", household_id=statement.household_id,
                           statement_id=statement.id, delivery_version=rnd.delivery_version,
                           total_before=statement.total_pence, total_after=total,
                           card_back_pence=card_back, cash_owed_back_pence=cash_back,
                           pot_back_pence=pot_back, time_credits_back=credits_back,
                           card_held_used_pence=card_again))
        moved[statement.id] = (card_back, cash_back - held_used)
    came_in = _l("A payment for this round came in while saving, so nothing was changed. "
                 "Save again.")
    touched = [c for cs in cards.values() for c in cs
               if (c.credited, c.refunded) != (c.credited_read, c.refunded_read)]
    if bulk.update_rows(
            CardPayment.__table__,
            [{"id": c.id, "credited_pence": c.credited, "refunded_pence": c.refunded,
              "read_credited_pence": c.credited_read, "read_refunded_pence": c.refunded_read}
             for c in touched],
            set_=("credited_pence", "refunded_pence"),
            guards=("credited_pence", "refunded_pence")) != len(touched):
        raise ServiceError(came_in)
    result.refunds_queued += refund_service.insert_refunds(
        [(card.id, card.household_id, amount) for card, amount in refunds],
        reason="delivery_changed", group_id=rnd.group_id, now=now)
    if bulk.update_rows(
            Statement.__table__, statement_rows,
            set_=("goods_pence", "fee_pence", "total_pence", "paid_pence", "owed_back_pence",
                  "payment_status", "needs_action_reason", "pot_pence",
                  "time_credit_pence", "gift_pence"),
            # A bill the charge sweep claimed meanwhile (charging) is left to its charge.
            guards=("paid_pence", "owed_back_pence", "payment_status")) != len(statement_rows):
        raise ServiceError(came_in)
    bulk.insert_rows(SolidarityEntry.__table__, pot_entries)
    bulk.insert_rows(TimeCreditEntry.__table__, time_entries)
    audit.record_many(audits, group_id=rnd.group_id)
    return moved


def _time_credits_used(statements: list) -> dict[int, int]:
    """Statement id → the time credits still used on it (used, less any given back), for
    the statements on which time given took something off (one query, or none)."""
    ids = [s.id for s in statements if s.time_credit_pence]
    if not ids:
        return {}
    return {statement_id: -total for statement_id, total in db.session.execute(
        select(TimeCreditEntry.statement_id, func.sum(TimeCreditEntry.credits))
        .where(TimeCreditEntry.statement_id.in_(ids),
               TimeCreditEntry.reason.in_(("used", "given_back")))
        .group_by(TimeCreditEntry.statement_id)) if total and total < 0}


def _consents_over(rnd: Round, statements: list) -> dict[int, int]:
    """For the statements that wait for the resident because their bill went over what
    the household agreed its card may pay: statement id → that most (one query)."""
    waiting = {s.household_id: s.id for s in statements
               if s.payment_status == StatementStatus.NEEDS_ACTION
               and s.needs_action_reason == "over_consent"}
    if not waiting:
        return {}
    return {waiting[household_id]: most for household_id, most in db.session.execute(
        select(CardConsent.household_id, CardConsent.max_pence)
        .where(CardConsent.round_id == rnd.id, CardConsent.household_id.in_(list(waiting))))}


def _event(status: str, total: int, paid: int, *, covered: bool) -> str | None:
    """The statement's move when its total is now `total` with `paid` paid: none while a
    charge is in flight (its answer credits what is owed and refunds the rest) or while a
    write-off still covers the rest (`covered`)."""
    if status == StatementStatus.CHARGING or covered:
        return None
    if total == 0 and paid == 0:
        return "delivery_nothing_to_pay"
    if paid == total:
        return "delivery_paid_up"
    if status in (StatementStatus.PAID, StatementStatus.SETTLED) and paid < total:
        return "delivery_owes_more"
    return None


def _active_write_off(statement_id: int) -> WriteOff | None:
    """The write-off standing on the statement (an organiser decided the group covers
    the rest), if any."""
    return db.session.scalar(select(WriteOff).where(
        WriteOff.statement_id == statement_id, WriteOff.undone_at.is_(None)))


def changes_of(statement: Statement) -> list[tuple[str, int]]:
    """The statement's changes since close, newest save last, as (plain words, pence:
    negative is less to pay): one line per product (and the fee) that changed."""
    return changes_by_statement([statement.id]).get(statement.id, [])


def changes_by_statement(statement_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """`changes_of` for many statements at once (two queries, one more when any changed)."""
    if not statement_ids:
        return {}
    rows = db.session.scalars(
        select(StatementAdjustment).where(StatementAdjustment.statement_id.in_(statement_ids))
        .order_by(StatementAdjustment.delivery_version, StatementAdjustment.id)).all()
    if not rows:
        return {}
    items = {i.id: i for i in db.session.scalars(select(RoundItem).where(
        RoundItem.round_id.in_(select(Statement.round_id)
                               .where(Statement.id.in_(statement_ids)))))}
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for adjustment in rows:
        found[adjustment.statement_id].append((describe(adjustment, items),
                                               adjustment.change_pence))
    return found


def units_at_close(statement_ids: list[int]) -> dict[tuple[int, int], int]:
    """(statement id, product id): the units the statement gave at close, for each product
    a delivery changed (the first change's "before")."""
    first: dict[tuple[int, int], int] = {}
    for row in db.session.execute(
        select(StatementAdjustment.statement_id, StatementAdjustment.round_item_id,
               StatementAdjustment.units_before)
        .where(StatementAdjustment.statement_id.in_(statement_ids),
               StatementAdjustment.round_item_id.is_not(None))
        .order_by(StatementAdjustment.id)
    ):
        first.setdefault((row.statement_id, row.round_item_id), row.units_before)
    return first


class WordedLater:
    """Words made when they are shown (`str()`), in the language in force then: what a
    save changed is told to each household in its own language."""

    __slots__ = ("_make", "_args")

    def __init__(self, make, *args):
        self._make, self._args = make, args

    def __str__(self) -> str:
        return self._make(*self._args)


def describe(adjustment, items: dict[int, RoundItem]) -> str:
    """One change (a StatementAdjustment, or a row of its columns) in plain words, with its
    amount ("2 of 6 Tinned tomatoes did not arrive or came damaged: −£1.66"); `items`:
    the round's products by id."""
    change = adjustment.pence_after - adjustment.pence_before
    money = ("−" if change < 0 else "+") + pence(abs(change))
    item = items.get(adjustment.round_item_id)
    before, after = adjustment.units_before, adjustment.units_after
    if item is None:
        return _("Your share of the delivery cost changed: %(money)s", money=money)
    if item.substitute_for_id is not None:
        original = items[item.substitute_for_id].name
        if after > before:
            return _("%(n)s %(name)s sent instead of %(original)s: %(money)s",
                     n=after - before, name=item.name, original=original, money=money)
        return _("%(n)s fewer %(name)s sent instead of %(original)s: %(money)s",
                 n=before - after, name=item.name, original=original, money=money)
    if after < before:
        return _("%(lost)s of %(before)s %(name)s did not arrive or came damaged: "
                 "%(money)s", lost=before - after, before=before, name=item.name,
                 money=money)
    if after > before:
        return _("%(n)s more %(name)s arrived than expected: %(money)s",
                 n=after - before, name=item.name, money=money)
    if abs(change) > 2:
        return _("The supplier's price for %(name)s changed: %(money)s",
                 name=item.name, money=money)
    return _("%(name)s: your share of its cost changed by a penny or two as others' "
             "goods changed: %(money)s", name=item.name, money=money)
