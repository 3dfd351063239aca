"""Delivery day: statements follow the goods that were handed over.

What arrived is shared out with :func:`bulkbuy.domain.allocation.reallocate`;
here each product's cost is scaled to the units handed over and shared
again, substitutes are charged, and the round fee is shared again. The
rules are in docs/domain-rules.md ("Delivery day"). Exact integer pence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from bulkbuy.domain.allocation import share_fee, share_product_cost
from bulkbuy.domain.money import round_half_up_pence


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be at least 0 (got {value})")
    return value


def cost_after_delivery(cost_pence: int, allocated_units: int, handed_over_units: int) -> int:
    """A product's cost scaled to the units handed over, in whole pence.

    ``cost_pence`` is what its cases cost at close (cases × case price) for
    ``allocated_units``. Promises: cost × handed over / allocated, rounded
    half up, exactly; the whole cost when everything arrived, 0 when
    nothing did. Surplus units (more handed over than allocated) are charged
    at the same price per unit, so the result may be above ``cost_pence``.
    Raises ValueError on negatives, and on a positive cost with 0 units
    allocated (there is no price per unit to scale by).
    """
    _check_count("cost_pence", cost_pence)
    _check_count("allocated_units", allocated_units)
    _check_count("handed_over_units", handed_over_units)
    if allocated_units == 0:
        if cost_pence > 0:
            raise ValueError(f"a cost of {cost_pence}p cannot be for 0 units")
        return 0
    return round_half_up_pence(Fraction(cost_pence * handed_over_units, allocated_units))


@dataclass(frozen=True)
class ProductOutcome:
    """One product after delivery.

    ``cost_pence``: what its cases cost at close; ``allocated``: units per
    household at close; ``handed_over``: units per household now (from
    ``reallocate``). ``positions``: each household's position for this
    product (its earliest queue position among the product's lines, as at
    close); ``None`` uses the round positions given to :func:`restate`.
    Pass them to get exactly the close-time split when nothing changed.
    """

    item_id: Any
    cost_pence: int
    allocated: Mapping[Any, int]
    handed_over: Mapping[Any, int]
    positions: Mapping[Any, int] | None = None


@dataclass(frozen=True)
class SubstituteOutcome:
    """A substitute product: ``units`` per household at ``unit_pence`` (whole pence) each."""

    item_id: Any
    unit_pence: int
    units: Mapping[Any, int]


@dataclass(frozen=True)
class Restatement:
    """Statements after delivery.

    ``goods``: item id -> household -> pence (products and substitutes);
    ``fee``: household -> its share of the round fee; ``totals``: household
    -> goods + fee. Every household is in ``fee``, ``totals`` and each
    item's ``goods`` (0 where nothing).
    """

    goods: dict[Any, dict[Any, int]]
    fee: dict[Any, int]
    totals: dict[Any, int]


def _by_position(keys: Iterable[Any], positions: Mapping[Any, int]) -> list[Any]:
    """Keys earliest position first; refuses a missing or shared position."""
    keys = list(keys)
    missing = [k for k in keys if k not in positions]
    if missing:
        raise ValueError(f"no position for {missing!r}")
    ordered = sorted(keys, key=lambda k: positions[k])
    for before, after in zip(ordered, ordered[1:], strict=False):
        if positions[before] == positions[after]:
            raise ValueError(f"{before!r} and {after!r} have the same position")
    return ordered


def share_substitute(
    units: int, lost: Mapping[Any, int], positions: Mapping[Any, int]
) -> tuple[dict[Any, int], int]:
    """Give out ``units`` of a substitute to the households that lost units.

    One for one: each household gets at most the units it ``lost`` of the
    product the substitute replaces, earliest position first. Returns
    (units per household, every key of ``lost`` with 0 where none; spare
    units nobody gets). Raises ValueError on negatives, and on a household
    that lost units with no position (or the same position as another).
    """
    _check_count("units", units)
    for household, count in lost.items():
        _check_count(f"units lost by {household!r}", count)
    given = dict.fromkeys(lost, 0)
    left = units
    for household in _by_position([h for h, count in lost.items() if count > 0], positions):
        given[household] = min(lost[household], left)
        left -= given[household]
    return given, left


def restate(
    products: Iterable[ProductOutcome],
    substitutes: Iterable[SubstituteOutcome],
    fee_pence: int,
    fee_mode: str,
    positions: Mapping[Any, int],
) -> Restatement:
    """Work every household's statement out again from what it was handed over.

    Each product costs :func:`cost_after_delivery` (its close-time cost
    scaled to the units handed over), shared by units handed over with
    ``share_product_cost`` (largest remainder, a spare penny paid by the
    later position); a substitute costs its unit price × units. The fee is
    shared again with ``share_fee`` over the new goods values, counting as
    received a household's units now (products and substitutes): a
    household that gets nothing pays no fee. ``positions`` are the round
    positions (earliest queue position in the round), used for the fee and
    for products that bring none of their own.

    Promises: each product's shares add up exactly to its scaled cost; the
    fee shares add up to the fee when anybody gets anything (else all 0);
    totals = goods + fee; nobody pays for a product they get none of. When
    everything arrived (handed over = allocated, no substitutes) the result
    is exactly the close-time split. Surplus units are charged at the
    close-time price per unit. The result does not depend on input order.

    How far a household's pence for a product can move: with p the
    close-time price per unit (cost / allocated units), its new share
    differs from its old one by p × (units now − units at close) to within
    2.5p, exclusive. Both shares are within 1p of exact (largest
    remainder) and the scaled cost is rounded by up to ½p, spread over the
    units handed over. So a household whose units did not change pays
    within 2p of before (2p does happen: the penny it did not pay at close
    can fall to it now, on top of the ½p of rounding); one with fewer units
    pays less than before once what it lost is worth 2.5p or more, no more
    than before once it is worth 1.5p or more, and never more than 2p over
    before (only for goods under ½p a unit).
    Raises ValueError on negatives, an unknown fee mode, two items with the
    same id, a household with no position, and handed-over units for a
    product whose cost was for no units.
    """
    products = list(products)
    substitutes = list(substitutes)
    _check_count("fee_pence", fee_pence)
    ids = [p.item_id for p in products] + [s.item_id for s in substitutes]
    if len(set(ids)) != len(ids):
        raise ValueError("two products or substitutes have the same item id")

    households: list[Any] = list(
        dict.fromkeys(
            [
                *(h for p in products for h in (*p.allocated, *p.handed_over)),
                *(h for s in substitutes for h in s.units),
            ]
        )
    )
    goods: dict[Any, dict[Any, int]] = {}
    units_now = dict.fromkeys(households, 0)
    for product in products:
        for household, count in [*product.allocated.items(), *product.handed_over.items()]:
            _check_count(f"units of {household!r}", count)
        handed = {h: product.handed_over.get(h, 0) for h in households}
        cost = cost_after_delivery(
            product.cost_pence, sum(product.allocated.values()), sum(handed.values())
        )
        product_positions = positions if product.positions is None else {
            **positions, **product.positions
        }
        goods[product.item_id] = share_product_cost(cost, handed, product_positions)
        for household, count in handed.items():
            units_now[household] += count
    for substitute in substitutes:
        _check_count("unit_pence", substitute.unit_pence)
        shares = dict.fromkeys(households, 0)
        for household, count in substitute.units.items():
            shares[household] = substitute.unit_pence * _check_count(
                f"substitute units of {household!r}", count
            )
            units_now[household] += count
        goods[substitute.item_id] = shares

    goods_value = {h: sum(per_item[h] for per_item in goods.values()) for h in households}
    fee = share_fee(fee_pence, goods_value, positions, fee_mode, received=units_now)
    totals = {h: goods_value[h] + fee[h] for h in households}
    return Restatement(goods=goods, fee=fee, totals=totals)
