"""Money rules: exact pence, largest-remainder splits, formatting and parsing."""

from fractions import Fraction

import pytest

from bulkbuy.domain.money import (
    ceil_pence,
    format_pence,
    format_unit_price,
    parse_pounds,
    round_half_up_pence,
    split_pence,
    unit_price,
)

# --- split_pence ---------------------------------------------------------


def test_ten_pounds_three_ways_gives_the_spare_penny_to_the_first_key_by_default():
    assert split_pence(1000, {"a": 1, "b": 1, "c": 1}) == {"a": 334, "b": 333, "c": 333}


def test_tie_order_decides_who_takes_the_spare_penny_first():
    shares = split_pence(1000, {"a": 1, "b": 1, "c": 1}, tie_order=["c", "b", "a"])
    assert shares == {"a": 333, "b": 333, "c": 334}


def test_two_spare_pennies_go_to_the_first_two_in_tie_order():
    shares = split_pence(200, {"a": 1, "b": 1, "c": 1}, tie_order=["b", "c", "a"])
    assert shares == {"a": 66, "b": 67, "c": 67}


def test_largest_fractional_part_beats_tie_order():
    # Exact shares 33.33 and 66.67: b's fraction is larger, so b gets the penny
    # even though a comes first in tie_order.
    assert split_pence(100, {"a": 1, "b": 2}, tie_order=["a", "b"]) == {"a": 33, "b": 67}


def test_fraction_weights_are_exact():
    shares = split_pence(10, {"a": Fraction(1, 3), "b": Fraction(2, 3)})
    assert shares == {"a": 3, "b": 7}


def test_zero_weight_pays_nothing():
    assert split_pence(101, {"a": 0, "b": 1, "c": 1}) == {"a": 0, "b": 51, "c": 50}


def test_zero_total_gives_zeros_even_with_zero_weights():
    assert split_pence(0, {"a": 0, "b": 0}) == {"a": 0, "b": 0}
    assert split_pence(0, {}) == {}


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        (-1, {"a": 1}),
        (10, {"a": -1, "b": 2}),
        (10, {"a": 0, "b": 0}),
        (10, {}),
    ],
    ids=["negative total", "negative weight", "all zero weights", "no weights"],
)
def test_split_refuses_what_cannot_be_split(total, weights):
    with pytest.raises(ValueError):
        split_pence(total, weights)


def test_split_refuses_float_weights():
    with pytest.raises(TypeError):
        split_pence(10, {"a": 0.5, "b": 0.5})


def test_tie_order_must_name_every_key():
    with pytest.raises(ValueError, match="leaves out"):
        split_pence(10, {"a": 1, "b": 1}, tie_order=["a"])


# --- prices ----------------------------------------------------------------


def test_unit_price_is_exact():
    assert unit_price(1000, 12) == Fraction(250, 3)


@pytest.mark.parametrize(("price", "size"), [(-1, 12), (100, 0)])
def test_unit_price_refuses_negative_price_or_empty_case(price, size):
    with pytest.raises(ValueError):
        unit_price(price, size)


@pytest.mark.parametrize(
    ("pence", "shown"),
    [
        (620, "£6.20"),
        (600, "£6"),
        (83, "£0.83"),
        (45, "£0.45"),
        (5, "£0.05"),
        (0, "£0"),
        (-120, "-£1.20"),
        (-200, "-£2"),
        (123450, "£1,234.50"),
        (100000000, "£1,000,000"),
    ],
)
def test_format_pence_shows_pounds_as_residents_read_them(pence, shown):
    assert format_pence(pence) == shown


@pytest.mark.parametrize(
    ("case_price", "case_size", "shown"),
    [
        (600, 12, "£0.50"),
        (7200, 12, "£6"),
        (1000, 12, "about £0.83"),
        (1000, 3, "about £3.33"),
        (1, 2, "about £0.01"),  # half a penny rounds up
        (5, 2, "about £0.03"),
        (199, 2, "about £1"),
    ],
)
def test_unit_price_not_in_whole_pence_is_shown_as_about(case_price, case_size, shown):
    assert format_unit_price(case_price, case_size) == shown


def test_ceil_pence_rounds_a_consented_maximum_up():
    assert ceil_pence(Fraction(250, 3)) == 84
    assert ceil_pence(Fraction(84)) == 84
    assert ceil_pence(0) == 0


def test_round_half_up_pence_rounds_halves_up():
    assert round_half_up_pence(Fraction(5, 2)) == 3
    assert round_half_up_pence(Fraction(249, 100)) == 2


def test_no_float_gets_into_money():
    with pytest.raises(TypeError):
        ceil_pence(1.5)
    with pytest.raises(TypeError):
        format_pence(1.5)


# --- parse_pounds ----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "pence"),
    [
        ("12.50", 1250),
        ("£12.50", 1250),
        ("£ 12.50", 1250),
        ("12", 1200),
        ("12.5", 1250),
        (" 1,234.5 ", 123450),
        ("1,000,000", 100000000),
        (".50", 50),
        ("12.", 1200),
        ("0", 0),
        ("0.07", 7),
        ("007", 700),
    ],
)
def test_parse_pounds_accepts_what_people_type(typed, pence):
    assert parse_pounds(typed) == pence


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter an amount in pounds"),
        ("   ", "Enter an amount in pounds"),
        ("£", "Enter an amount in pounds"),
        ("twelve", "Enter an amount in pounds"),
        ("NaN", "Enter an amount in pounds"),
        ("inf", "Enter an amount in pounds"),
        ("-inf", "Enter an amount in pounds"),
        ("1e3", "Enter an amount in pounds"),
        ("12.5.0", "Enter an amount in pounds"),
        ("1,23,456", "Enter an amount in pounds"),
        ("-5", "cannot be less than £0"),
        ("-£5", "cannot be less than £0"),
        ("£-5.00", "cannot be less than £0"),
        ("12.505", "no more than 2 digits"),
        ("12,50", "Use a full stop for pence"),
        ("1000000.01", "£1,000,000 or less"),
        ("9" * 5000, "£1,000,000 or less"),
    ],
)
def test_parse_pounds_explains_what_it_cannot_accept(typed, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        parse_pounds(typed)
