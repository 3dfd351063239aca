"""Showing times and money the way people read them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from bulkbuy.domain.money import format_pence


def local(dt: datetime, timezone: str) -> datetime:
    """`dt` (aware) in the group's time zone."""
    return dt.astimezone(ZoneInfo(timezone))


#: A date further than this from today is shown with its year.
YEAR_SHOWN_BEYOND = timedelta(days=150)


def when(dt: datetime | None, timezone: str, now: datetime | None = None) -> str:
    """'Friday 14 March, 6pm', 'Friday 14 March, 6:30pm', 'Friday 14 March, midnight'
    or 'midday' in the group's zone; with the year ('Friday 14 March 2027, 6pm') when
    the date is more than about five months before or after `now` (default: today)."""
    if dt is None:
        return ""
    at = local(dt, timezone)
    hour = at.hour % 12 or 12
    suffix = "am" if at.hour < 12 else "pm"
    clock = f"{hour}{suffix}" if at.minute == 0 else f"{hour}:{at.minute:02d}{suffix}"
    if at.minute == 0 and at.hour in (0, 12):
        clock = _("midnight") if at.hour == 0 else _("midday")
    now = now or datetime.now(UTC)
    year = f" {at.year}" if abs(dt - now) > YEAR_SHOWN_BEYOND else ""
    return f"{at:%A} {at.day} {at:%B}{year}, {clock}"


def day(value: date | None, now: datetime | None = None) -> str:
    """A day as people say it, 'Friday 14 March', with the year when it is more than
    about five months from today (as `when` does); '' for None."""
    if value is None:
        return ""
    today = (now or datetime.now(UTC)).date()
    year = f" {value.year}" if abs(value - today) > YEAR_SHOWN_BEYOND else ""
    return f"{value:%A} {value.day} {value:%B}{year}"


def input_value(dt: datetime | None, timezone: str) -> str:
    """The value for an <input type="datetime-local"> in the group's zone."""
    if dt is None:
        return ""
    return local(dt, timezone).strftime("%Y-%m-%dT%H:%M")


def parse_local(text: str | None, timezone: str) -> datetime:
    """Parse a datetime-local value typed in the group's zone; aware result.

    Raises ValueError with a plain message when it is not a date and time.
    """
    value = (text or "").strip()
    if not value:
        raise ValueError(_("Enter a date and time"))
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(_("Enter a date and time, like 2026-03-14 18:00")) from None
    if naive.tzinfo is not None:
        raise ValueError(_("Enter a date and time, like 2026-03-14 18:00")) from None
    if not 2000 <= naive.year <= 2100:
        raise ValueError(_("Enter a date in the next year"))
    return naive.replace(tzinfo=ZoneInfo(timezone))


def pence(amount: int | None) -> str:
    return "" if amount is None else format_pence(amount)


def pence_input(amount: int | None) -> str:
    """Pence as a plain number of pounds for a form field: 1250 -> '12.50'; '' for None."""
    return "" if amount is None else f"{amount // 100}.{amount % 100:02d}"
