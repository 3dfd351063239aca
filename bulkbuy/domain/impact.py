"""The impact report's sums and its privacy rule: pure, exact integer pence.

Rules (tests/unit/test_impact.py reads as these):

- **No household is identifiable.** A count of households from 1 to 4 is never shown:
  it is "fewer than 5" (``Count.kind == FEWER``). 0 is shown as 0. When two counts add
  up to a total that is shown (new and returning households), hiding one is not enough
  (the total less the other would give it away): the other is then not shown either
  (``Count.kind == HIDDEN``; ``split``).
- A share (cash, helped at the tablet) is shown as a whole percent only when its count
  may be shown (5 or more); otherwise it is "fewer than 5" as well.
- **Totals are sums.** The period's totals are the sums of its rounds' totals (rounds
  that went ahead; failed and cancelled rounds are counted apart, with why), so they never
  depend on the order the rounds come in.
- Per household: the total shared over the households, rounded to the nearest penny
  (halves away from zero); 0 when there are none.
- A period of up to 13 months is charted by month, a longer one by year.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

#: The smallest count of households ever shown as a number (besides 0).
SHOWN_FROM = 5

#: Count.kind
EXACT = "exact"
FEWER = "fewer"
HIDDEN = "hidden"


@dataclass(frozen=True)
class Count:
    """A count as it may be shown: exactly (EXACT, value), "fewer than 5" (FEWER), or
    not at all, as it would give a hidden one away (HIDDEN); value is None unless EXACT."""

    kind: str
    value: int | None

    @property
    def chartable(self) -> int | None:
        """The value a chart may draw: None unless the count is shown exactly."""
        return self.value if self.kind == EXACT else None


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {type(value).__name__}")
    return value


def shown(count: int) -> Count:
    """A household count as it may be shown: 1 to 4 is "fewer than 5"."""
    _whole("count", count)
    if count < 0:
        raise ValueError("a count cannot be negative")
    if 0 < count < SHOWN_FROM:
        return Count(FEWER, None)
    return Count(EXACT, count)


def split(part: int, rest: int) -> tuple[Count, Count]:
    """Two counts that add up to a total that is shown (the total itself is shown with
    ``shown``): when one is "fewer than 5", the other is hidden too, so the first
    cannot be worked out from the total."""
    a, b = shown(part), shown(rest)
    if a.kind == FEWER and b.kind == EXACT:
        b = Count(HIDDEN, None)
    elif b.kind == FEWER and a.kind == EXACT:
        a = Count(HIDDEN, None)
    return a, b


def share_percent(part: int, whole: int) -> int | None:
    """`part` of `whole` as a whole percent (halves up), or None when `part` may not be
    shown (1 to 4) or there is no whole."""
    _whole("part", part)
    _whole("whole", whole)
    if whole <= 0 or shown(part).kind != EXACT:
        return None
    if not 0 <= part <= whole:
        raise ValueError("a share must be between none and all")
    return (200 * part + whole) // (2 * whole)


def per_household(total_pence: int, households: int) -> int:
    """`total_pence` shared over `households`, to the nearest penny (halves away from
    zero); 0 when there are no households."""
    _whole("total_pence", total_pence)
    _whole("households", households)
    if households <= 0:
        return 0
    sign = -1 if total_pence < 0 else 1
    return sign * ((2 * abs(total_pence) + households) // (2 * households))


@dataclass(frozen=True)
class RoundFigures:
    """One round's kept totals (see bulkbuy.models.impact.RoundImpact)."""

    outcome: str  # "ran", "failed" or "cancelled"
    failed_reason: str | None = None
    households: int = 0
    new_households: int = 0
    assisted_households: int = 0
    goods_pence: int = 0
    fees_pence: int = 0
    saving_pence: int = 0
    unpriced_lines: int = 0
    pot_pence: int = 0
    time_credit_pence: int = 0


@dataclass(frozen=True)
class Totals:
    """The period's sums over its rounds. `bills` counts a household once per round it
    had a bill in (rounds that went ahead)."""

    rounds_run: int = 0
    not_ahead: dict[str, int] = field(default_factory=dict)
    bills: int = 0
    new_households: int = 0
    assisted_bills: int = 0
    goods_pence: int = 0
    fees_pence: int = 0
    saving_pence: int = 0
    unpriced_lines: int = 0
    pot_pence: int = 0
    time_credit_pence: int = 0

    @property
    def spent_pence(self) -> int:
        return self.goods_pence + self.fees_pence

    @property
    def rounds_not_ahead(self) -> int:
        return sum(self.not_ahead.values())


def totals(rounds: Iterable[RoundFigures]) -> Totals:
    """The sums of rounds that went ahead, and how many did not and why."""
    run = bills = new = assisted = goods = fees = saved = unpriced = pot = credit = 0
    not_ahead: Counter[str] = Counter()
    for r in rounds:
        if r.outcome != "ran":
            not_ahead[r.failed_reason or r.outcome] += 1
            continue
        run += 1
        bills += _whole("households", r.households)
        new += _whole("new_households", r.new_households)
        assisted += _whole("assisted_households", r.assisted_households)
        goods += _whole("goods_pence", r.goods_pence)
        fees += _whole("fees_pence", r.fees_pence)
        saved += _whole("saving_pence", r.saving_pence)
        unpriced += _whole("unpriced_lines", r.unpriced_lines)
        pot += _whole("pot_pence", r.pot_pence)
        credit += _whole("time_credit_pence", r.time_credit_pence)
    return Totals(run, dict(sorted(not_ahead.items())), bills, new, assisted, goods, fees,
                  saved, unpriced, pot, credit)


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, kept within the month it lands in (31 Jan + 1 month
    is 28 or 29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def by_month(first: date, last: date) -> bool:
    """Whether the period from `first` to `last` is charted by month (up to 13 months)
    rather than by year."""
    return (last.year * 12 + last.month) - (first.year * 12 + first.month) < 13


def buckets(first: date, last: date) -> list[str]:
    """The chart's steps over the period, oldest first: "2026-03" months or "2026" years."""
    if last < first:
        return []
    if by_month(first, last):
        keys, at = [], date(first.year, first.month, 1)
        while at <= last:
            keys.append(f"{at.year:04d}-{at.month:02d}")
            at = add_months(at, 1)
        return keys
    return [f"{year:04d}" for year in range(first.year, last.year + 1)]


def bucket_of(day: date, monthly: bool) -> str:
    """The step `day` falls in."""
    return f"{day.year:04d}-{day.month:02d}" if monthly else f"{day.year:04d}"
