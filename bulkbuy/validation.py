"""Checking what people type, with messages in plain words.

Each function returns the clean value or raises ValueError whose message
can be shown as it is.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from bulkbuy.domain import money

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\t\r\n\u2028\u2029]")
_DIGITS = re.compile(r"[0-9]{1,12}", re.ASCII)
_ID = re.compile(r"[0-9]{1,10}", re.ASCII)

#: Row ids are 32-bit integer columns on every database we run on: a larger
#: number names no row, and must not reach the database (SQLite raises
#: OverflowError beyond 64 bits, PostgreSQL a DataError beyond 32).
MAX_ID = 2**31 - 1


def clean_text(
    value: str | None,
    label: str,
    *,
    max_length: int,
    required: bool = True,
    multiline: bool = False,
) -> str | None:
    """Trimmed text of at most `max_length` characters, without control characters
    (and, unless `multiline`, without tabs or line breaks: names and titles end up
    in e-mail subjects and one-line lists).

    Returns None for empty optional text. HTML is kept as typed: pages escape it.
    """
    text = (value or "").strip()
    if not text:
        if required:
            raise ValueError(_("Enter %(label)s", label=label.lower()))
        return None
    if len(text) > max_length:
        raise ValueError(_("%(label)s must be %(n)s characters or fewer", label=label,
                           n=max_length))
    if _CONTROL.search(text) or (not multiline and _LINE_BREAKS.search(text)):
        raise ValueError(_("%(label)s has characters we cannot use", label=label))
    return text


def whole_number(value: str | None, label: str, *, minimum: int = 0, maximum: int) -> int:
    """A whole number typed by a person, from `minimum` to `maximum`: the one parser
    for every number a person types (round page, tablet, forms).

    Digits of any script count ("٣" and "३" are 3, as a phone keyboard in Arabic or
    Hindi types them). Refuses blanks, signs, decimals, separators ("1_0", "1,000"),
    letters and anything out of range with a message naming `label`. Very long digit
    strings are refused before conversion.
    """
    text = _in_ascii_digits((value or "").strip())
    if not text:
        raise ValueError(_("Enter %(label)s", label=label.lower()))
    if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
        raise ValueError(_("%(label)s cannot be less than %(n)s", label=label, n=minimum))
    if not _DIGITS.fullmatch(text):
        if len(text) > 12 and text.isdigit():
            raise ValueError(_("%(label)s must be %(n)s or less", label=label, n=maximum))
        raise ValueError(_("%(label)s must be a whole number, like 2", label=label))
    number = int(text)
    if number < minimum:
        raise ValueError(_("%(label)s must be at least %(n)s", label=label, n=minimum))
    if number > maximum:
        raise ValueError(_("%(label)s must be %(n)s or less", label=label, n=maximum))
    return number


def _in_ascii_digits(text: str) -> str:
    """`text` with each decimal digit of another script written as 0-9."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def record_id(value) -> int | None:
    """The row id written in `value` (ASCII digits, 1 to MAX_ID), or None when
    `value` is missing, not such a number, or too large to name any row."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1 <= value <= MAX_ID else None
    text = (value or "").strip() if isinstance(value, str) else ""
    if not _ID.fullmatch(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def parse_pounds(text: str) -> int:
    """An amount typed in pounds, as pence (`domain.money.parse_pounds`), refused with a
    ValueError in the words of the person's language."""
    return money.parse_pounds(text, gettext=_)


def optional_pounds(text: str | None) -> int | None:
    """parse_pounds for a box that may be left empty: None when it is blank."""
    return parse_pounds(text) if (text or "").strip() else None


def email_address(value: str | None) -> str:
    """One e-mail address, as we store it (trimmed, lower-cased, its domain in
    the form mail servers use), or ValueError in plain words.

    Several addresses ("a@x.org,b@y.org"), a name with the address, spaces
    and missing parts are all refused; nothing is looked up on the network.
    """
    text = (value or "").strip()
    if not text:
        raise ValueError(_("Enter your email address"))
    try:
        # test_environment: also allow the reserved ".test" domain (ours in tests).
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        raise ValueError(_("Enter one email address, like name@example.com")) from None
    return checked.normalized.lower()


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def optional_day(text: str, name: str, errors: dict[str, str]) -> date | None:
    """A day typed as 2026-03-14 (a date box's value), or None when left empty; None with
    a plain message in `errors[name]` when it is not a day between 2000 and 2100."""
    if not text:
        return None
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        errors[name] = _("Enter a date like 2026-03-14.")
        return None
    if not 2000 <= day.year <= 2100:
        errors[name] = _("Enter a date between the years 2000 and 2100.")
        return None
    return day
