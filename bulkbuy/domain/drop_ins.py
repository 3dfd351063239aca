"""When the group's drop-in sessions next happen: weekly ones (a weekday) and one-off ones
(a date), each from a clock time to a clock time in the group's time zone.

Pure: no database, no Flask. Clock times stay clock times across a change of the clocks
(a weekly 6pm is 6pm local time in March and in November), because each occurrence is built
from its local date and clock time, never by adding 7 days of seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Days a weekly session repeats after.
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class DropInRule:
    """One drop-in session as the organiser set it: weekly on `weekday` (0 = Monday) or
    once on `on_date` (exactly one of them), from `starts` to `ends` local clock time."""

    place: str
    starts: time
    ends: time
    weekday: int | None = None
    on_date: date | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if (self.weekday is None) == (self.on_date is None):
            raise ValueError("a drop-in is weekly or once, not both or neither")
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if self.ends <= self.starts:
            raise ValueError("a drop-in must end after it starts")


@dataclass(frozen=True)
class DropInTime:
    """One occurrence of a drop-in: aware datetimes in the group's time zone."""

    place: str
    starts_at: datetime
    ends_at: datetime
    note: str | None


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """`clock` on `day` in `zone`, aware. A clock time the clocks skip (1:30am on the
    night they go forward) becomes the real instant it names, shown in local time."""
    naive = datetime.combine(day, clock.replace(tzinfo=None))
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def _occurrence(rule: DropInRule, day: date, zone: ZoneInfo) -> DropInTime:
    return DropInTime(
        place=rule.place,
        starts_at=_at(day, rule.starts, zone),
        ends_at=_at(day, rule.ends, zone),
        note=rule.note,
    )


def next_times(
    rules: Iterable[DropInRule],
    timezone: str,
    now: datetime,
    *,
    until: datetime | None = None,
    limit: int = 3,
) -> list[DropInTime]:
    """The next drop-in times, soonest first.

    Promises: sorted by start (then end, then place); every one has not yet ended at `now`
    (one under way counts until it ends); none starts after `until` (when given); at most
    `limit` (none when `limit` < 1); the occurrences of a weekly rule are 7 days apart in
    local time at the same clock times. `now` and `until` must be aware.
    Raises ValueError on a naive `now`/`until`, ZoneInfoNotFoundError on an unknown zone.
    """
    if now.tzinfo is None or (until is not None and until.tzinfo is None):
        raise ValueError("now and until must be aware datetimes")
    if limit < 1:
        return []
    zone = ZoneInfo(timezone)
    # A session is on one local day (it ends after it starts, the same day), so one that is
    # under way or still to come is on today's local date or later.
    today = now.astimezone(zone).date()

    def wanted(found: DropInTime) -> bool:
        return found.ends_at > now and (until is None or found.starts_at <= until)

    found: list[DropInTime] = []
    for rule in rules:
        if rule.on_date is not None:
            if rule.on_date >= today:
                one = _occurrence(rule, rule.on_date, zone)
                if wanted(one):
                    found.append(one)
            continue
        assert rule.weekday is not None
        day = today + timedelta(days=(rule.weekday - today.weekday()) % 7)
        taken = 0
        # One extra week: today's session may already be over.
        for _ in range(limit + 1):
            one = _occurrence(rule, day, zone)
            if until is not None and one.starts_at > until:
                break
            if wanted(one):
                found.append(one)
                taken += 1
                if taken >= limit:
                    break
            day += WEEK
    found.sort(key=lambda t: (t.starts_at, t.ends_at, t.place))
    return found[:limit]
