"""Times and money in each language: English exactly as it always was, every other
language as Babel (CLDR) writes it, always with the sign '£' for pounds, and no amount of
pence lost on the way."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import flask_babel
import pytest
from babel.dates import format_time
from babel.numbers import format_currency
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from bulkbuy import formatting, i18n
from bulkbuy.domain.money import format_shown_unit_price, format_unit_price, shown_unit_price

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SIX_PM = datetime(2026, 3, 14, 18, 0, tzinfo=UTC)  # 6pm in London (GMT)


@pytest.fixture(scope="module")
def app():
    app = Flask(__name__)
    flask_babel.Babel(app, locale_selector=lambda: "en")
    return app


def _in(app, code, fn, *args, **kwargs):
    with app.test_request_context("/"), flask_babel.force_locale(code):
        return fn(*args, **kwargs)


def test_english_is_unchanged(app):
    assert _in(app, "en", formatting.when, SIX_PM, "Europe/London", NOW) == \
        "Saturday 14 March, 6pm"
    assert _in(app, "en", formatting.when, datetime(2026, 3, 14, 18, 30, tzinfo=UTC),
               "Europe/London", NOW) == "Saturday 14 March, 6:30pm"
    assert _in(app, "en", formatting.when, SIX_PM, "Europe/London",
               datetime(2025, 1, 1, tzinfo=UTC)) == "Saturday 14 March 2026, 6pm"
    assert _in(app, "en", formatting.day, date(2026, 3, 14), NOW) == "Saturday 14 March"
    assert _in(app, "en", formatting.pence, 123456) == "£1,234.56"
    assert _in(app, "en", formatting.pence, 600) == "£6"
    assert _in(app, "en", formatting.pence, -120) == "-£1.20"
    assert _in(app, "en", formatting.number, 12345) == "12,345"
    # Outside any app: English too.
    assert formatting.pence(45) == "£0.45"
    assert formatting.when(SIX_PM, "Europe/London", NOW) == "Saturday 14 March, 6pm"


def test_polish_days_times_and_money_are_babels(app):
    assert _in(app, "pl", formatting.when, SIX_PM, "Europe/London", NOW) == \
        "sobota, 14 marca, 18:00"
    assert _in(app, "pl", formatting.day, date(2026, 3, 14), NOW) == "sobota, 14 marca"
    assert _in(app, "pl", formatting.day, date(2026, 9, 14), NOW).endswith("2026")
    # Babel writes "1 234,56 GBP" in Polish: residents see the language's own pattern,
    # with the sign '£'.
    assert _in(app, "pl", formatting.pence, 123456) == "1\xa0234,56\xa0£"
    assert _in(app, "pl", formatting.pence, 1250) == "12,50\xa0£"
    assert _in(app, "pl", formatting.number, 12345) == "12\xa0345"


def test_urdu_days_times_and_money_are_babels(app):
    text = _in(app, "ur", formatting.when, SIX_PM, "Europe/London", NOW)
    assert "مارچ" in text  # March
    assert format_time(datetime(2026, 3, 14, 18, 0, tzinfo=UTC), "short", tzinfo=UTC,
                       locale="ur") in text
    # Isolated left to right (U+2066 ... U+2069): in an Urdu sentence the amount and the
    # time keep their own order ('£12.50', not '12.50£').
    assert _in(app, "ur", formatting.pence, 5) == \
        "\u2066" + format_currency(Decimal("0.05"), "GBP", locale="ur") + "\u2069"
    assert _in(app, "ur", formatting.pence, 1250) == "\u2066£12.50\u2069"
    assert _in(app, "ur", formatting.clock, time(18, 0)).startswith("\u2066")
    assert "\u2066" not in _in(app, "pl", formatting.pence, 1250)


def test_romanian_money_has_the_pound_sign(app):
    assert _in(app, "ro", formatting.pence, 1250) == "12,50\xa0£"
    assert _in(app, "ro", formatting.pence, 123456) == "1.234,56\xa0£"
    assert _in(app, "ro", formatting.pence, -120) == "-1,20\xa0£"


def test_none_is_empty_in_every_language(app):
    for code in i18n.LANGUAGES:
        assert _in(app, code, formatting.pence, None) == ""
        assert _in(app, code, formatting.when, None, "Europe/London") == ""
        assert _in(app, code, formatting.day, None) == ""
        assert _in(app, code, formatting.number, None) == ""


@given(st.integers(min_value=-10**10, max_value=10**10), st.sampled_from(list(i18n.LANGUAGES)))
def test_any_amount_formats_and_keeps_its_digits(app, pence, code):
    text = _in(app, code, formatting.pence, pence)
    digits = re.sub(r"\D", "", text)
    pounds, rest = divmod(abs(pence), 100)
    # English leaves off ".00" for whole pounds; every other language shows two places.
    expected = str(pounds) if (code == "en" and rest == 0) else f"{pounds}{rest:02d}"
    assert digits == expected
    assert (pence < 0) == ("-" in text)
    assert "£" in text
    assert "GBP" not in text


def test_a_unit_price_in_another_language_uses_its_money_and_words(app):
    def polish_about(text, **values):
        assert text == "about %(price)s"  # the words translators are given
        return f"ok. {values['price']}"

    shown = _in(app, "pl", format_unit_price, 1000, 12, money=formatting.pence,
                gettext=polish_about)
    assert shown == "ok. 0,83\xa0£"
    assert _in(app, "pl", format_unit_price, 600, 12, money=formatting.pence,
               gettext=polish_about) == "0,50\xa0£"
    # English, with the app's words and money, is exactly what it always was.
    assert _in(app, "en", format_unit_price, 1000, 12, money=formatting.pence,
               gettext=flask_babel.gettext) == "about £0.83"
    assert _in(app, "en", format_unit_price, 7200, 12, money=formatting.pence,
               gettext=flask_babel.gettext) == "£6"


@given(st.integers(0, 10**7), st.integers(1, 500))
def test_a_unit_price_kept_as_numbers_is_shown_as_before(case_price, case_size):
    assert format_shown_unit_price(*shown_unit_price(case_price, case_size)) == \
        format_unit_price(case_price, case_size)
