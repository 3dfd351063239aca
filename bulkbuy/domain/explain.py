"""Why a household gets what it gets: one plain sentence per statement line.

Pure: takes the numbers of one product and one household, returns words
(our word for the supplier's case is "case"). `gettext` may be flask_babel's.
"""

from __future__ import annotations

from collections.abc import Callable


def _plain(text: str, **values: object) -> str:
    return text % values


def explain_line(
    *,
    asked: int,
    offered_extra: int,
    units: int,
    extra_units: int,
    case_size: int,
    cases: int,
    total_asked: int,
    max_cases: int | None = None,
    allocation_mode: str = "first_come",
    gettext: Callable[..., str] = _plain,
) -> str:
    """One sentence saying why `units` were given for `asked` (+ `offered_extra`).

    `total_asked` is the whole round's quantity for the product; `cases`
    were ordered; `extra_units` of `units` came from the household's offer
    to take more to fill a case.
    """
    _ = gettext
    if cases == 0:
        if max_cases == 0:
            return _("This product could not be ordered this time, so you pay nothing for it.")
        return _("The case did not fill, so you pay nothing for it.")
    if units >= asked and extra_units > 0:
        return _("You get %(n)s extra to fill a case, as you offered.", n=extra_units)
    if units >= asked:
        return _("You get all you asked for.")
    if allocation_mode == "pro_rata":
        return _("There was not enough for every order, so everyone got a fair share.")
    capped = max_cases is not None and cases == max_cases and total_asked > cases * case_size
    if capped:
        return _(
            "Only %(cases)s cases could be ordered, so the latest orders got fewer.",
            cases=cases,
        )
    short = case_size - (total_asked - cases * case_size) if total_asked > cases * case_size \
        else 0
    if short > 0:
        return _(
            "The last case was %(short)s short, so the latest orders got fewer.", short=short
        )
    return _("Not every order fitted in whole cases, so you get fewer.")
