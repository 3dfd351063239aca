"""Exact money: integer pence, largest-remainder splits, formatting and parsing.

Money is an ``int`` of pence everywhere. Exact intermediate values (a unit
price of 83⅓p) are :class:`fractions.Fraction`. Nothing here touches a float.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

#: The largest amount :func:`parse_pounds` accepts: £1,000,000, in pence.
MAX_PARSED_PENCE = 100_000_000


def _check_whole(name: str, value: object) -> int:
    """Return ``value`` if it is an int (not a bool); raise TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number (int), not {type(value).__name__}")
    return value


def _check_exact(name: str, value: object) -> Fraction:
    """Return ``value`` as a Fraction if it is an int or Fraction; floats are refused."""
    if isinstance(value, Fraction):
        return value
    return Fraction(_check_whole(name, value))


def split_pence(
    total: int,
    weights: Mapping[K, int | Fraction],
    tie_order: Sequence[K] | None = None,
) -> dict[K, int]:
    """Split ``total`` pence over ``weights`` by largest remainder.

    Promises: every key gets the floor of its exact share
    ``total * weight / sum(weights)``, then the pennies left over go one each
    to the keys with the largest fractional part. Keys whose fractional parts
    are equal take pennies in ``tie_order`` order (the first listed gets a
    penny first; keys it lists that are not in ``weights`` are ignored);
    ``None`` means sorted keys. The result has every key of
    ``weights``, sums to exactly ``total``, and each share is within 1p of
    (and strictly less than 1p above) the exact share. A key of weight 0
    gets 0.

    Raises ValueError on a negative total or weight, on a positive total
    whose weights are all zero (or empty), and on a ``tie_order`` that leaves
    out a key. A zero total gives zeros. Works for any whole quantity
    (units as well as pence).
    """
    _check_whole("total", total)
    if total < 0:
        raise ValueError(f"cannot split a negative total ({total})")
    exact_weights: dict[K, int | Fraction] = {}
    all_whole = True
    for key, weight in weights.items():
        if type(weight) is int:  # the usual case (units, pence): no Fraction needed
            w: int | Fraction = weight
        else:
            w = _check_exact(f"weight of {key!r}", weight)
            all_whole = False
        if w < 0:
            raise ValueError(f"weight of {key!r} is negative ({weight})")
        exact_weights[key] = w

    if tie_order is None:
        order: list[K] = sorted(exact_weights)  # type: ignore[type-var]
    else:
        order = list(dict.fromkeys(k for k in tie_order if k in exact_weights))
        listed = set(order)
        missing = [k for k in exact_weights if k not in listed]
        if missing:
            raise ValueError(f"tie_order leaves out {missing!r}")

    if total == 0:
        return {key: 0 for key in order}
    # Scale every weight to a whole number (exactly: by the common denominator),
    # so each share is total * w / sum in integers: floor and remainder at once.
    if all_whole:
        whole = exact_weights
    else:
        scale = math.lcm(*(Fraction(w).denominator for w in exact_weights.values()))
        whole = {key: int(w * scale) for key, w in exact_weights.items()}
    weight_sum = sum(whole.values())
    if weight_sum == 0:
        raise ValueError(f"cannot split {total} over weights that are all zero")

    floors: dict[K, int] = {}
    remainders: dict[K, int] = {}
    for key in order:
        floors[key], remainders[key] = divmod(total * whole[key], weight_sum)
    left = total - sum(floors.values())
    # sorted() is stable, so equal remainders keep tie_order order.
    for key in sorted(order, key=lambda k: -remainders[k])[:left]:
        floors[key] += 1
    return floors


def unit_price(case_price_pence: int, case_size: int) -> Fraction:
    """Return the exact price of one unit, in pence, as a Fraction.

    Raises ValueError on a negative case price or a case size below 1.
    """
    _check_whole("case_price_pence", case_price_pence)
    _check_whole("case_size", case_size)
    if case_price_pence < 0:
        raise ValueError(f"case price is negative ({case_price_pence})")
    if case_size < 1:
        raise ValueError(f"case size must be at least 1 (got {case_size})")
    return Fraction(case_price_pence, case_size)


def ceil_pence(value: Fraction | int) -> int:
    """Round an exact amount of pence up to whole pence (used for a consented maximum)."""
    return math.ceil(_check_exact("value", value))


def round_half_up_pence(value: Fraction | int) -> int:
    """Round an exact amount of pence to the nearest penny; halves go up (towards +inf)."""
    return math.floor(_check_exact("value", value) + Fraction(1, 2))


def format_pence(pence: int) -> str:
    """Show pence as pounds the way residents read them.

    Promises: "£6.20"; whole pounds without pence, "£6"; under a pound still
    in pounds, "£0.45"; thousands separated, "£1,234.50"; negative amounts
    with a leading minus, "-£1.20". Zero is "£0".
    """
    _check_whole("pence", pence)
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    if rest == 0:
        return f"{sign}£{pounds:,}"
    return f"{sign}£{pounds:,}.{rest:02d}"




_AMOUNT = re.compile(
    r"""
    (?P<pounds>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)?   # 12 or 1,234
    (?:\.(?P<pence>[0-9]*))?                        # .5 or .50
    """,
    re.VERBOSE | re.ASCII,
)


def _plain(text: str, **values: object) -> str:
    return text % values


def shown_unit_price(case_price_pence: int, case_size: int) -> tuple[int, bool]:
    """The price of one unit as shown: (pence, exact). Exact when it is a whole number
    of pence; otherwise the nearest penny, halves rounded up, and exact is False."""
    price = unit_price(case_price_pence, case_size)
    if price.denominator == 1:
        return price.numerator, True
    return round_half_up_pence(price), False


def format_shown_unit_price(pence: int, exact: bool, *,
                            money: Callable[[int], str] = format_pence,
                            gettext: Callable[..., str] = _plain) -> str:
    """A `shown_unit_price` in words: the amount (`money`, English's format_pence
    unless another language's is given), with "about" (through `gettext`, so it can be
    translated) when it is not exact."""
    if exact:
        return money(pence)
    return gettext("about %(price)s", price=money(pence))


def format_unit_price(case_price_pence: int, case_size: int, *,
                      money: Callable[[int], str] = format_pence,
                      gettext: Callable[..., str] = _plain) -> str:
    """Show the price of one unit: exact when whole pence, else "about" the nearest penny.

    Promises: "£0.50" when the unit price is a whole number of pence (and
    "£6" for whole pounds, as :func:`format_pence`); otherwise, e.g. 1000p
    for 12, "about £0.83", rounded half-up to the nearest penny. Another language's
    amounts and words with `money` and `gettext` (see `format_shown_unit_price`).
    """
    pence, exact = shown_unit_price(case_price_pence, case_size)
    return format_shown_unit_price(pence, exact, money=money, gettext=gettext)


def parse_pounds(text: str, gettext: Callable[..., str] = _plain) -> int:
    """Turn what someone typed as an amount of pounds into pence.

    Accepts "12", "12.5", "12.50", "£12.50", ".50", "12." and thousands
    separators in the right places ("1,234.50"), with spaces around.
    Promises an int number of pence from 0 to £1,000,000, or a ValueError
    whose message can be shown as it is: for empty text, non-numbers
    (including "NaN" and "inf"), negatives, more than 2 digits of pence,
    a comma used as a decimal point, and amounts over £1,000,000.
    Never goes through a float. The message is in English, or in the words
    `gettext` gives (flask_babel's: `bulkbuy.validation.parse_pounds` passes it).
    """
    _ = gettext
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    cleaned = text.strip()
    if not cleaned:
        raise ValueError(_("Enter an amount in pounds, like 12.50"))
    negative = False
    if cleaned[0] in "-\u2212":
        negative, cleaned = True, cleaned[1:].lstrip()
    if cleaned.startswith("£"):
        cleaned = cleaned[1:].lstrip()
    if cleaned[:1] in ("-", "\u2212"):
        negative, cleaned = True, cleaned[1:].lstrip()
    if cleaned.startswith("+"):
        cleaned = cleaned[1:]
    match = _AMOUNT.fullmatch(cleaned)
    if match is None or (match["pounds"] is None and not match["pence"]):
        if re.fullmatch(r"[0-9]+,[0-9]{1,2}", cleaned, re.ASCII):
            raise ValueError(_("Use a full stop for pence, like 12.50"))
        raise ValueError(_("Enter an amount in pounds, like 12.50"))
    if negative:
        raise ValueError(_("The amount cannot be less than £0"))
    pence_digits = match["pence"] or ""
    if len(pence_digits) > 2:
        raise ValueError(_("Enter pence with no more than 2 digits, like 12.50"))
    pound_digits = (match["pounds"] or "0").replace(",", "").lstrip("0") or "0"
    if len(pound_digits) > 7:  # checked before int(): no huge conversions
        raise ValueError(_("The amount must be £1,000,000 or less"))
    pounds = int(pound_digits)
    pence = pounds * 100 + int(pence_digits.ljust(2, "0"))
    if pence > MAX_PARSED_PENCE:
        raise ValueError(_("The amount must be £1,000,000 or less"))
    return pence
