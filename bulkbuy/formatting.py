"""Showing times and money the way people read them, in the language in force.

English is written out by hand ("Friday 14 March, 6pm", "£6.20": see `when`, `day` and
domain.money.format_pence); every other language is Babel's (CLDR) way of writing a
weekday, day and month, a time and an amount of pounds in it (always with '£': "12,50 £"
in Polish). The language in force is Flask-Babel's (the request's, or
`with flask_babel.force_locale(code):`); English outside an app. What Babel needs per
language is worked out once per process.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import flask_babel
from babel import Locale
from babel.dates import DateTimePattern, match_skeleton, parse_pattern
from babel.numbers import NumberPattern
from babel.numbers import parse_pattern as parse_number_pattern
from flask import g, has_app_context
from flask_babel import gettext as _

from bulkbuy.domain.money import format_pence


@dataclass(frozen=True)
class _Patterns:
    """How one language writes days, times, pounds and numbers (Babel's patterns)."""

    locale: Locale
    day: DateTimePattern  # weekday, day and month: 'EEEE, d MMMM' in Polish
    day_with_year: DateTimePattern
    time: DateTimePattern  # 'HH:mm' in Polish
    day_and_time: str  # '{1}, {0}': the day ({1}) and the time ({0}) together
    money: NumberPattern  # the language's currency pattern with '£' for its symbol
    number: NumberPattern


#: Left-to-right isolate: in a right-to-left sentence, an amount or a clock time written
#: with Latin digits and signs ('£12.50', '2:25 PM') keeps its own order ('12.50£' and
#: 'PM 2:25' otherwise), whatever words stand around it.
_LTR_ISOLATE, _POP_ISOLATE = "\u2066", "\u2069"


def _isolated(locale: Locale, text: str) -> str:
    """`text` isolated left to right in a right-to-left language; as it is otherwise."""
    if locale.character_order == "right-to-left":
        return f"{_LTR_ISOLATE}{text}{_POP_ISOLATE}"
    return text


def _whole_weekday(pattern: DateTimePattern) -> DateTimePattern:
    """The skeleton's pattern with the weekday written in full ('E' -> 'EEEE'), outside
    quoted text."""
    parts = pattern.pattern.split("'")
    parts[::2] = [re.sub("E+", "EEEE", part) for part in parts[::2]]
    return parse_pattern("'".join(parts))


def _with_pound_sign(pattern: NumberPattern) -> NumberPattern:
    """The currency pattern with the currency sign ('¤') written as '£', outside quoted
    text: Babel's data has no '£' for pounds in some languages (Polish and Romanian
    write 'GBP'), but residents everywhere here see '£' on their receipts and in shops.
    '#,##0.00\xa0¤' (Polish) -> "#,##0.00\xa0'£'"."""
    parts = pattern.pattern.split("'")
    parts[::2] = [re.sub("¤+", "'£'", part) for part in parts[::2]]
    return parse_number_pattern("'".join(parts))


@functools.lru_cache(maxsize=32)
def _patterns(locale: Locale) -> _Patterns:
    skeletons = locale.datetime_skeletons

    def skeleton(wanted: str) -> DateTimePattern:
        return _whole_weekday(skeletons[match_skeleton(wanted, skeletons)])

    return _Patterns(
        locale=locale,
        day=skeleton("MMMMEEEEd"),
        day_with_year=skeleton("yMMMMEEEEd"),
        time=locale.time_formats["short"],
        day_and_time=str(locale.datetime_formats["medium"]),
        money=_with_pound_sign(locale.currency_formats["standard"]),
        number=locale.decimal_formats[None],
    )


def _other_language() -> _Patterns | None:
    """Babel's patterns for the language in force, or None for English (the hand-written
    forms). Called for every amount on a page and in a round's e-mails, so it first reads
    the locale where Flask-Babel keeps it (what `get_locale` returns once it has been
    worked out), and asks `get_locale` only when it is not there."""
    try:
        locale = g._flask_babel.babel_locale
    except (AttributeError, RuntimeError):  # not worked out yet; no app
        locale = None
    if locale is None:
        if not has_app_context():
            return None
        locale = flask_babel.get_locale()
        if locale is None:
            return None
    if locale.language == "en":
        return None
    return _patterns(locale)


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
    other = _other_language()
    if other is not None:
        with_year = abs(dt - (now or datetime.now(UTC))) > YEAR_SHOWN_BEYOND
        on = (other.day_with_year if with_year else other.day).apply(at, other.locale)
        return other.day_and_time.format(
            _isolated(other.locale, other.time.apply(at, other.locale)), on)
    hour = at.hour % 12 or 12
    suffix = "am" if at.hour < 12 else "pm"
    clock = f"{hour}{suffix}" if at.minute == 0 else f"{hour}:{at.minute:02d}{suffix}"
    if at.minute == 0 and at.hour in (0, 12):
        clock = _("midnight") if at.hour == 0 else _("midday")
    now = now or datetime.now(UTC)
    year = f" {at.year}" if abs(dt - now) > YEAR_SHOWN_BEYOND else ""
    return f"{at:%A} {at.day} {at:%B}{year}, {clock}"


def clock(at: datetime | time | None) -> str:
    """A time of day as people say it: '6pm', '6:30pm', 'midday', 'midnight' in English;
    the language's own short time ('18:00') in the others; '' for None."""
    if at is None:
        return ""
    other = _other_language()
    if other is not None:
        return _isolated(other.locale, other.time.apply(at, other.locale))
    if at.minute == 0 and at.hour in (0, 12):
        return _("midnight") if at.hour == 0 else _("midday")
    hour = at.hour % 12 or 12
    suffix = "am" if at.hour < 12 else "pm"
    return f"{hour}{suffix}" if at.minute == 0 else f"{hour}:{at.minute:02d}{suffix}"


def day(value: date | None, now: datetime | None = None) -> str:
    """A day as people say it, 'Friday 14 March', with the year when it is more than
    about five months from today (as `when` does); '' for None."""
    if value is None:
        return ""
    today = (now or datetime.now(UTC)).date()
    with_year = abs(value - today) > YEAR_SHOWN_BEYOND
    other = _other_language()
    if other is not None:
        return (other.day_with_year if with_year else other.day).apply(value, other.locale)
    year = f" {value.year}" if with_year else ""
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
    """Pence as pounds: '£6.20' in English (domain.money.format_pence), the language's
    own way with the sign '£' in another ('6,20 £' in Polish and Romanian); '' for
    None. Never through a float."""
    if amount is None:
        return ""
    other = _other_language()
    if other is None:
        return format_pence(amount)
    return _money(other.locale, amount)


@functools.lru_cache(maxsize=4096)
def _money(locale: Locale, amount: int) -> str:
    """Babel's pounds for `amount` pence in `locale` (kept: Babel takes ~10 µs, and a
    page shows the same prices again and again)."""
    return _isolated(locale, _patterns(locale).money.apply(Decimal(amount) / 100, locale))


def number(count: int | None) -> str:
    """A whole number with the language's thousands separator ('12,345'; '12 345' in
    Polish); '' for None."""
    if count is None:
        return ""
    other = _other_language()
    if other is None:
        return f"{count:,}"
    return _isolated(other.locale, other.number.apply(count, other.locale))


def pence_input(amount: int | None) -> str:
    """Pence as a plain number of pounds for a form field: 1250 -> '12.50'; '' for None."""
    return "" if amount is None else f"{amount // 100}.{amount % 100:02d}"


def csv_safe(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (CSV injection): text starting
    with = + - @, a tab or a carriage return gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
