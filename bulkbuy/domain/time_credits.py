"""Time credits: hours a resident gives the group, taken off their delivery-fee share.

The rule (issue #17 point 4): a household earns one credit for every
``minutes_per_credit`` minutes it volunteers; at close, the group's rule turns
credits into pence off that household's share of the delivery fee.

Choices, all exact integer arithmetic (never a float):

* Whole credits only, and never part of one: a household uses
  ``min(credits available, limit // pence_per_credit)`` credits, where
  ``limit = min(its fee share, the most per round)``; its reduction is exactly
  ``credits used × pence_per_credit``. So a reduction is always a whole multiple
  of ``pence_per_credit``, never above the fee share or the cap, and a fee share
  (or cap) smaller than one credit's worth takes nothing off: the household keeps
  its credit rather than spend all of it on part of its value.
* Only the household's own fee share goes down. The others' fee shares are as
  today (the fee is shared exactly as before); the group pays the reduced part,
  as a discount it gives (services.time_credits records it on the bill).
* ``pence_per_credit == 0`` is the rule switched off: nothing is taken off and
  no credit is used.
* Minutes short of a whole credit are carried to the household's next logged
  time (:func:`credits_for_minutes`), so no minute given is lost.

Results never depend on the order of the input.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any


def _check_count(name: str, value: object, minimum: int = 0) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number (int), not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum} (got {value})")
    return value


@dataclass(frozen=True)
class FeeReduction:
    """What time credits take off each household's fee share, and the credits used.

    Both dicts hold only households with something taken off (reduction > 0).
    ``reduction_pence[h] == credits_used[h] * pence_per_credit``.
    """

    reduction_pence: dict[Any, int]
    credits_used: dict[Any, int]

    @property
    def total_pence(self) -> int:
        """What the group pays in all, as a discount."""
        return sum(self.reduction_pence.values())


def fee_with_credits(
    fee_shares: Mapping[Hashable, int],
    credits_available: Mapping[Hashable, int],
    pence_per_credit: int,
    most_per_round: int | None = None,
) -> FeeReduction:
    """Take each household's credits off its own fee share, in whole credits.

    For each household of ``fee_shares``: credits used =
    ``min(available, min(fee share, most_per_round) // pence_per_credit)`` and
    reduction = credits used × ``pence_per_credit``. A household missing from
    ``credits_available`` has none. ``most_per_round`` (pence, None: no cap) is the
    most taken off one household's fee in one round.

    Promises: no reduction exceeds the household's fee share or the cap; credits used
    never exceed what is available; each reduction is a whole multiple of
    ``pence_per_credit``; other households' shares are untouched; the result does not
    depend on the order of the input. ``pence_per_credit == 0`` takes nothing off.
    Raises TypeError / ValueError on non-int or negative numbers.
    """
    _check_count("pence_per_credit", pence_per_credit)
    if most_per_round is not None:
        _check_count("most_per_round", most_per_round)
    for household, fee in fee_shares.items():
        _check_count(f"fee share of {household!r}", fee)
    for household, credits in credits_available.items():
        _check_count(f"credits of {household!r}", credits)
    reductions: dict[Any, int] = {}
    used: dict[Any, int] = {}
    if pence_per_credit == 0:
        return FeeReduction(reductions, used)
    for household, fee in fee_shares.items():
        limit = fee if most_per_round is None else min(fee, most_per_round)
        credits = min(credits_available.get(household, 0), limit // pence_per_credit)
        if credits > 0:
            used[household] = credits
            reductions[household] = credits * pence_per_credit
    return FeeReduction(reductions, used)


def credits_for_minutes(carried_minutes: int, minutes: int, minutes_per_credit: int
                        ) -> tuple[int, int]:
    """Whole credits earned by ``minutes`` more, with ``carried_minutes`` left over from
    before: returns ``(credits, minutes carried on)``, where ``credits *
    minutes_per_credit + carried on == carried_minutes + minutes`` and the minutes
    carried on are fewer than ``minutes_per_credit``. Raises on a non-int, a negative
    number, or ``minutes_per_credit`` below 1."""
    _check_count("carried_minutes", carried_minutes)
    _check_count("minutes", minutes)
    _check_count("minutes_per_credit", minutes_per_credit, 1)
    return divmod(carried_minutes + minutes, minutes_per_credit)
