"""How full each case is, as residents see it while a round is open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bulkbuy.domain.allocation import cases_to_order

#: Signature of ``flask_babel.ngettext``: (singular, plural, num, **variables) -> str,
#: with ``num`` also available to the format string.
NGetText = Callable[..., str]


@dataclass(frozen=True)
class CaseFill:
    """Progress of one product towards whole cases.

    ``full_cases``: cases completely filled by quantity. ``in_next``: units
    of quantity towards the next case (0 to case_size - 1). ``to_fill``: units
    still needed to fill that case, ``case_size - in_next`` when it is
    started, else 0 (nothing started means nothing to fill yet).
    ``tolerance_covers_next``: the started case would be completed by
    tolerance, so closing now would order it.
    """

    case_size: int
    full_cases: int
    in_next: int
    to_fill: int
    tolerance_covers_next: bool

    @property
    def cases_if_closed_now(self) -> int:
        """Cases that would be ordered if the round closed now (no max_cases cap)."""
        return self.full_cases + (1 if self.tolerance_covers_next else 0)


def case_fill(case_size: int, quantity: int, tolerance: int) -> CaseFill:
    """Return the progress for total ``quantity`` and ``tolerance`` of one product.

    Promises fields consistent with :func:`cases_to_order`:
    ``cases_if_closed_now == cases_to_order(case_size, quantity, tolerance)``.
    Raises ValueError on negative numbers or a case size below 1.
    """
    cases = cases_to_order(case_size, quantity, tolerance)
    full_cases, in_next = divmod(quantity, case_size)
    return CaseFill(
        case_size=case_size,
        full_cases=full_cases,
        in_next=in_next,
        to_fill=case_size - in_next if in_next else 0,
        tolerance_covers_next=cases > full_cases,
    )


def _english_ngettext(singular: str, plural: str, num: int, **variables: object) -> str:
    """English plural choice, called like ``flask_babel.ngettext``."""
    variables.setdefault("num", num)
    return (singular if num == 1 else plural) % variables


def describe_fill(fill: CaseFill, ngettext: NGetText = _english_ngettext) -> str:
    """Say in plain words how full the supplier's cases are (our word: "case"; "box" may
    be a product's own pack, in the organiser's unit description).

    Promises one of:
    "No orders yet — 12 fill a case";
    "9 of 12 — 3 more fill it";
    "1 case full" / "3 cases full";
    "1 case full. 2 of 12 towards the next case — 10 more fill it".
    Pass ``flask_babel.ngettext`` to translate; the default is English.
    """
    size, have = fill.case_size, fill.in_next
    if fill.full_cases == 0 and have == 0:
        return ngettext(
            "No orders yet — %(num)d fills a case", "No orders yet — %(num)d fill a case", size
        )
    if fill.full_cases == 0:
        return ngettext(
            "%(have)d of %(size)d — %(num)d more fills it",
            "%(have)d of %(size)d — %(num)d more fill it",
            fill.to_fill,
            have=have,
            size=size,
        )
    full = ngettext("%(num)d case full", "%(num)d cases full", fill.full_cases)
    if have == 0:
        return full
    towards = ngettext(
        "%(have)d of %(size)d towards the next case — %(num)d more fills it",
        "%(have)d of %(size)d towards the next case — %(num)d more fill it",
        fill.to_fill,
        have=have,
        size=size,
    )
    return f"{full}. {towards}"
