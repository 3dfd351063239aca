"""Gifts to the solidarity pot: "round my bill up to the next pound" or a fixed amount.

A household chooses its gift when it agrees its card maximum (or hands it over with
cash). With a card the gift lives inside that consent: the bill plus the gift never
goes over the agreed maximum, so a gift that would is trimmed to fit (to nothing if the
bill alone fills it). Everything is whole pence; nothing here touches a float.
"""

from __future__ import annotations

from dataclasses import dataclass

ROUND_UP = "round_up"
FIXED = "fixed"
GIFT_KINDS = (ROUND_UP, FIXED)


def _check_pence(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number (int), not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} cannot be negative (got {value})")
    return value


@dataclass(frozen=True)
class GiftChoice:
    """What the household chose: ``kind`` is ROUND_UP or FIXED; ``fixed_pence`` the
    amount of a FIXED gift (above 0), 0 for a round-up. Raises ValueError / TypeError."""

    kind: str
    fixed_pence: int = 0

    def __post_init__(self) -> None:
        if self.kind not in GIFT_KINDS:
            raise ValueError(f"unknown gift kind {self.kind!r}")
        _check_pence("fixed_pence", self.fixed_pence)
        if self.kind == FIXED and self.fixed_pence == 0:
            raise ValueError("a fixed gift must be above 0")
        if self.kind == ROUND_UP and self.fixed_pence:
            raise ValueError("a round-up has no fixed amount")


def round_up_gift(bill_pence: int) -> int:
    """Pence that take ``bill_pence`` up to the next whole pound: 0 when it already is
    whole pounds (and for a bill of 0), else 1 to 99."""
    _check_pence("bill_pence", bill_pence)
    return -bill_pence % 100


def wanted_gift(choice: GiftChoice, bill_pence: int) -> int:
    """The gift the choice asks for on a bill of ``bill_pence``, before any limit."""
    if choice.kind == ROUND_UP:
        return round_up_gift(bill_pence)
    _check_pence("bill_pence", bill_pence)
    return choice.fixed_pence


def consent_maximum(choice: GiftChoice | None, most_bill_pence: int) -> int:
    """The card maximum a household agrees to: its largest possible bill plus the gift
    on that bill (a round-up of the largest bill never takes a smaller bill past it:
    every bill up to it rounds up to at most the same whole pound)."""
    _check_pence("most_bill_pence", most_bill_pence)
    if choice is None:
        return most_bill_pence
    return most_bill_pence + wanted_gift(choice, most_bill_pence)


@dataclass(frozen=True)
class Gift:
    """The gift on one bill: ``pence`` given, and ``trimmed`` when the consent made it
    smaller than the choice asked for (the household is told)."""

    pence: int
    wanted_pence: int

    @property
    def trimmed(self) -> bool:
        return self.pence < self.wanted_pence


def gift_within(choice: GiftChoice | None, bill_pence: int, room_pence: int | None) -> Gift:
    """The gift on a bill of ``bill_pence`` (what the household itself pays, after any
    help) when at most ``room_pence`` more may be taken beside the bill (a card: the
    agreed maximum minus the bill minus what its card paid before; None: no limit,
    cash handed over). Never below 0, never above the room."""
    _check_pence("bill_pence", bill_pence)
    if choice is None:
        return Gift(0, 0)
    wanted = wanted_gift(choice, bill_pence)
    if room_pence is None:
        return Gift(wanted, wanted)
    if isinstance(room_pence, bool) or not isinstance(room_pence, int):
        raise TypeError("room_pence must be an int or None")
    return Gift(min(wanted, max(0, room_pence)), wanted)


def check_gift_amount(pence: int, cap_pence: int) -> str | None:
    """Why a gift of ``pence`` cannot be taken ("negative", "over_cap"), or None when it
    can (0 is no gift)."""
    if isinstance(pence, bool) or not isinstance(pence, int):
        raise TypeError("pence must be an int")
    if pence < 0:
        return "negative"
    if pence > cap_pence:
        return "over_cap"
    return None
