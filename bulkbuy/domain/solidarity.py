"""The solidarity pot: how much of a round's bills it pays, and for whom.

The rule (issue #17): at close, as far as the pot's balance goes, it pays
supported households' delivery-fee shares first, then a set share of their
goods, up to a cap per household per round; when the pot cannot cover
everything it is shared by largest remainder, the earlier queue position
taking a penny two households could equally take.

Everything is exact integer pence; the goods share is a Fraction. Nothing
here touches a float, and results never depend on the order of the input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from bulkbuy.domain.money import split_pence


def _check_pence(name: str, value: object) -> int:
    """Return ``value`` if it is a whole number (not a bool) of at least 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number (int), not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} cannot be negative (got {value})")
    return value


@dataclass(frozen=True)
class Claim:
    """What one supported household owes in the round, before the pot helps.

    ``position`` is the household's queue position (smaller = earlier; e.g.
    its earliest pledge line, as ``allocation.household_positions`` gives);
    ``fee_pence`` is its share of the round's fees; ``goods_pence`` is what
    its goods cost. Raises TypeError / ValueError on non-int or negative
    pence.
    """

    household_id: int
    position: int
    fee_pence: int
    goods_pence: int

    def __post_init__(self) -> None:
        if isinstance(self.position, bool) or not isinstance(self.position, int):
            raise TypeError(f"position must be an int, not {type(self.position).__name__}")
        _check_pence("fee_pence", self.fee_pence)
        _check_pence("goods_pence", self.goods_pence)


@dataclass(frozen=True)
class PotRule:
    """How much the pot will pay one supported household in one round.

    ``goods_share``: the share of the household's goods the pot pays at most,
    an exact Fraction (or the int 0 or 1) from 0 to 1: ``Fraction(1, 2)`` is
    "up to half". ``cap_pence``: the most the pot pays one household in one
    round, its fee help included; ``None`` is no cap. Raises TypeError on a
    float share or non-int cap, ValueError on a share outside [0, 1] or a
    negative cap.
    """

    goods_share: Fraction
    cap_pence: int | None = None

    def __post_init__(self) -> None:
        share = self.goods_share
        if isinstance(share, bool) or not isinstance(share, int | Fraction):
            raise TypeError(f"goods_share must be a Fraction or int, not {type(share).__name__}")
        if not 0 <= share <= 1:
            raise ValueError(f"goods_share must be from 0 to 1 (got {share})")
        if self.cap_pence is not None:
            _check_pence("cap_pence", self.cap_pence)


@dataclass(frozen=True)
class PotHelp:
    """What the pot pays towards one household's bill: its fee part and goods part."""

    fee_pence: int = 0
    goods_pence: int = 0

    @property
    def total_pence(self) -> int:
        return self.fee_pence + self.goods_pence


NO_HELP = PotHelp()


@dataclass(frozen=True)
class PotShare:
    """The outcome of :func:`share_pot`.

    ``helps``: every claimed household's help (``NO_HELP`` where it gets
    nothing), in position order. ``wanted_pence``: what the pot would pay if
    it had enough; ``spent_pence``: what it pays, ``min(balance,
    wanted_pence)``; ``left_pence``: its balance afterwards.
    """

    helps: Mapping[int, PotHelp]
    wanted_pence: int
    spent_pence: int
    left_pence: int

    @property
    def covered_all(self) -> bool:
        """True when every supported household got all the help the rule allows."""
        return self.spent_pence == self.wanted_pence

    def help_for(self, household_id: int) -> PotHelp:
        """The help for ``household_id``; ``NO_HELP`` for a household that made no claim."""
        return self.helps.get(household_id, NO_HELP)


def wanted_help(claim: Claim, rule: PotRule) -> PotHelp:
    """The most the pot pays ``claim`` under ``rule``, if the balance allows.

    Fee first: ``min(fee, cap)``. Then goods: ``floor(goods × goods_share)``
    (rounded down, so the pot never pays over the set share), limited so
    fee help + goods help stays within the cap.
    """
    cap = rule.cap_pence
    fee = claim.fee_pence if cap is None else min(claim.fee_pence, cap)
    goods = math.floor(claim.goods_pence * Fraction(rule.goods_share))
    if cap is not None:
        goods = min(goods, cap - fee)
    return PotHelp(fee_pence=fee, goods_pence=goods)


def _share_step(amount: int, wants: dict[int, int], tie_order: list[int]) -> dict[int, int]:
    """Give ``amount`` (at most the total want) by largest remainder over ``wants``.

    Sharing at most the total want never gives anybody more than its own:
    a share is the floor of amount × want / total (below the want when
    amount < total) plus at most one penny.
    """
    total = sum(wants.values())
    if amount >= total:
        return dict(wants)
    return split_pence(amount, wants, tie_order=tie_order)


def share_pot(balance_pence: int, claims: Iterable[Claim], rule: PotRule) -> PotShare:
    """Share the pot's ``balance_pence`` over the supported households' ``claims``.

    Only supported households are claimed; each at most once. Steps:

    1. Fees. Each household wants ``min(fee, cap)``. If the balance covers
       all of it, all is paid; otherwise the whole balance is shared in
       proportion to what each wants, by largest remainder, the earlier
       position taking a penny on equal remainders, and no goods help is
       paid at all.
    2. Goods, with what is left once every fee want is paid. Each
       household wants ``floor(goods × goods_share)``, cut so that its fee
       help + goods help is at most the cap. If what is left covers it all,
       all is paid; otherwise what is left is shared the same way as in
       step 1, in proportion to the goods wants.

    Promises: whole pence; nobody gets more than it wants (so fee help ≤
    fee, goods help ≤ floor(goods × share) ≤ goods, help ≤ cap); the pot
    spends exactly ``min(balance, wanted)`` and never goes below 0; the
    result does not depend on the order of ``claims``. More balance never
    lowers the total spent, but largest remainder can (rarely) give one
    household a penny less out of a larger balance (the "Alabama
    paradox"); never more than 1p less, per step.

    Raises TypeError / ValueError on a non-int or negative balance and on
    two claims with the same household or the same position.
    """
    _check_pence("balance_pence", balance_pence)
    ordered = sorted(claims, key=lambda claim: claim.position)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.position == after.position:
            raise ValueError(f"two claims have position {after.position}")
    households = [claim.household_id for claim in ordered]
    if len(set(households)) != len(households):
        raise ValueError("a household is claimed more than once")

    wants = {claim.household_id: wanted_help(claim, rule) for claim in ordered}
    fee_wants = {h: want.fee_pence for h, want in wants.items()}
    goods_wants = {h: want.goods_pence for h, want in wants.items()}
    fee_total = sum(fee_wants.values())
    wanted = fee_total + sum(goods_wants.values())

    fee_help = _share_step(balance_pence, fee_wants, households)
    if balance_pence > fee_total:
        goods_help = _share_step(balance_pence - fee_total, goods_wants, households)
    else:
        goods_help = dict.fromkeys(households, 0)

    helps = {h: PotHelp(fee_pence=fee_help[h], goods_pence=goods_help[h]) for h in households}
    spent = sum(help_.total_pence for help_ in helps.values())
    return PotShare(
        helps=helps, wanted_pence=wanted, spent_pence=spent, left_pence=balance_pence - spent
    )


def apply_to_bill(goods_pence: int, fee_pence: int, help_: PotHelp) -> int:
    """What the household still pays: goods + fee − the pot's help.

    Raises ValueError on negatives or on help larger than the part it
    pays (fee help over the fee, goods help over the goods), so the
    result is never below 0.
    """
    _check_pence("goods_pence", goods_pence)
    _check_pence("fee_pence", fee_pence)
    _check_pence("help fee_pence", help_.fee_pence)
    _check_pence("help goods_pence", help_.goods_pence)
    if help_.fee_pence > fee_pence:
        raise ValueError(f"fee help {help_.fee_pence} is more than the fee {fee_pence}")
    if help_.goods_pence > goods_pence:
        raise ValueError(f"goods help {help_.goods_pence} is more than the goods {goods_pence}")
    return goods_pence + fee_pence - help_.total_pence
