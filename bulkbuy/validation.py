"""Checking what people type, with messages in plain words.

Each function returns the clean value or raises ValueError whose message
can be shown as it is.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\t\r\n\u2028\u2029]")
_DIGITS = re.compile(r"[0-9]{1,12}", re.ASCII)


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
            raise ValueError(f"Enter {label.lower()}")
        return None
    if len(text) > max_length:
        raise ValueError(f"{label} must be {max_length} characters or fewer")
    if _CONTROL.search(text) or (not multiline and _LINE_BREAKS.search(text)):
        raise ValueError(f"{label} has characters we cannot use")
    return text


def whole_number(value: str | None, label: str, *, minimum: int = 0, maximum: int) -> int:
    """A whole number typed by a person, from `minimum` to `maximum`.

    Refuses blanks, signs, decimals, letters and anything out of range with
    a message naming `label`. Very long digit strings are refused before
    conversion.
    """
    text = (value or "").strip()
    if not text:
        raise ValueError(f"Enter {label.lower()}")
    if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
        raise ValueError(f"{label} cannot be less than {minimum}")
    if not _DIGITS.fullmatch(text):
        if len(text) > 12 and text.isdigit():
            raise ValueError(f"{label} must be {maximum} or less")
        raise ValueError(f"{label} must be a whole number, like 2")
    number = int(text)
    if number < minimum:
        raise ValueError(f"{label} must be at least {minimum}")
    if number > maximum:
        raise ValueError(f"{label} must be {maximum} or less")
    return number
