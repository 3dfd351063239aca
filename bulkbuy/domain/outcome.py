"""A whole round worked out at once: cases, units and every household's pence.

Used to show "what it is likely to cost" while a round is open, and by the
closing service to write statements. Pure: no framework imports.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from bulkbuy.domain.allocation import (
    FEE_BY_VALUE,
    FIRST_COME,
    Allocation,
    PledgeLine,
    allocate,
    household_positions,
    share_fee,
    share_product_cost,
)
from bulkbuy.domain.money import ceil_pence, unit_price


@dataclass(frozen=True)
class ItemInput:
    """One product of a round: its snapshot case size and price, and its pledge lines."""

    item_id: Hashable
    case_size: int
    case_price_pence: int
    lines: Sequence[PledgeLine]
    max_cases: int | None = None


@dataclass(frozen=True)
class RoundOutcome:
    """Per product: the allocation; per household: goods pence by product and fee pence.

    ``goods_total + fee_total`` equals the sum of every household's total, exactly.
    """

    allocations: dict[Any, Allocation]
    goods: dict[Any, dict[Any, int]]
    fees: dict[Any, int]
    goods_total: int
    fee_total: int

    def household_total(self, household_id: Hashable) -> int:
        """Pence the household would owe: its goods plus its fee share."""
        return sum(self.goods.get(household_id, {}).values()) + self.fees.get(household_id, 0)


@dataclass(frozen=True)
class ItemOutcome:
    """One product worked out alone: its allocation, what it costs (cases × case price),
    each household's share of that cost, and each household's earliest queue position
    among its lines. Depends on nothing but the product and its own lines."""

    item_id: Hashable
    allocation: Allocation
    cost_pence: int
    shares: dict[Any, int]
    positions: dict[Any, int]


def work_out_item(item: ItemInput, allocation_mode: str = FIRST_COME) -> ItemOutcome:
    """Allocate one product and share its cost by units (its part of work_out_round)."""
    allocation = allocate(item.case_size, item.lines, item.max_cases, allocation_mode)
    cost = allocation.cases * item.case_price_pence
    positions = household_positions(item.lines)
    shares = share_product_cost(cost, allocation.units, positions) if allocation.units else {}
    return ItemOutcome(item_id=item.item_id, allocation=allocation, cost_pence=cost,
                       shares=shares, positions=positions)


def combine_items(
    parts: Sequence[ItemOutcome],
    fee_pence: int,
    *,
    fee_mode: str = FEE_BY_VALUE,
) -> RoundOutcome:
    """The round from its products worked out alone: the fee shared over the households
    that receive anything, each placed by its earliest queue position in the round.
    Gives exactly what work_out_round gives for the same products and lines, however
    many of the parts were worked out earlier and kept."""
    round_positions: dict[Any, int] = {}
    for part in parts:
        for household, position in part.positions.items():
            known = round_positions.get(household)
            if known is None or position < known:
                round_positions[household] = position
    allocations: dict[Any, Allocation] = {}
    goods: dict[Any, dict[Any, int]] = {h: {} for h in round_positions}
    received: dict[Any, int] = dict.fromkeys(round_positions, 0)
    goods_total = 0
    for part in parts:
        allocations[part.item_id] = part.allocation
        goods_total += part.cost_pence
        for household, pence in part.shares.items():
            goods[household][part.item_id] = pence
            received[household] += part.allocation.units[household]
    goods_value = {h: sum(per_item.values()) for h, per_item in goods.items()}
    fees = share_fee(fee_pence, goods_value, round_positions, fee_mode, received=received)
    return RoundOutcome(
        allocations=allocations,
        goods=goods,
        fees=fees,
        goods_total=goods_total,
        fee_total=sum(fees.values()),
    )


def work_out_round(
    items: Sequence[ItemInput],
    fee_pence: int,
    *,
    fee_mode: str = FEE_BY_VALUE,
    allocation_mode: str = FIRST_COME,
) -> RoundOutcome:
    """Allocate every product and split every penny, as the round would close now.

    Each product's cost (cases × case price) is shared by units; the fee is
    shared over households that receive anything. Positions for the fee are
    each household's earliest queue position in the round. Does not apply
    any minimum order value: the caller decides whether the round fails.
    """
    return combine_items([work_out_item(item, allocation_mode) for item in items],
                         fee_pence, fee_mode=fee_mode)


def consented_maximum(
    wanted: Mapping[Any, tuple[int, int, int]],
    fee_pence: int,
    *,
    fee_mode: str = FEE_BY_VALUE,
    min_order_pence: int | None = None,
) -> int:
    """The most a household can be asked to pay for a round, in pence.

    ``wanted`` maps each product to (units wanted incl. tolerance, case
    size, case price). Goods: those units at the exact unit price,
    rounded up per product. Fee: with ``by_value`` and a minimum order value M, the
    fee × the household's maximum goods pence / M, rounded up and never
    more than the fee; otherwise the whole fee. Each part is rounded up
    separately, since each is shared out separately. A household wanting
    nothing can owe nothing.
    """
    if not any(units for units, _, _ in wanted.values()):
        return 0
    # Each product's share is rounded separately (to within 1p), so round each up.
    goods = sum(ceil_pence(units * unit_price(price, size)) for units, size, price in
                wanted.values())
    if fee_mode == FEE_BY_VALUE and min_order_pence:
        # The fee is shared by goods pence, which may be a penny or so over the exact
        # value per product: bound it with the rounded-up goods, not the exact ones.
        fee = min(Fraction(fee_pence), Fraction(fee_pence * goods, min_order_pence))
    else:
        fee = Fraction(fee_pence)
    return goods + ceil_pence(fee)
