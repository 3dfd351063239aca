"""Gifts to the solidarity pot (domain.pot_gifts): round-ups and fixed amounts, within
the household's card consent. Examples, then Hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkbuy.domain.pot_gifts import (
    FIXED,
    ROUND_UP,
    GiftChoice,
    check_gift_amount,
    consent_maximum,
    gift_within,
    round_up_gift,
    wanted_gift,
)

pence = st.integers(min_value=0, max_value=10_000_000)
choices = st.one_of(
    st.none(), st.just(GiftChoice(ROUND_UP)),
    st.builds(GiftChoice, st.just(FIXED), st.integers(min_value=1, max_value=2000)))


def test_a_round_up_takes_the_bill_to_the_next_pound():
    assert round_up_gift(1263) == 37
    assert round_up_gift(1201) == 99
    assert round_up_gift(1299) == 1


def test_a_bill_already_in_whole_pounds_rounds_up_by_nothing():
    assert round_up_gift(1200) == 0
    assert round_up_gift(0) == 0


def test_a_fixed_gift_is_its_amount_whatever_the_bill():
    assert wanted_gift(GiftChoice(FIXED, 50), 1263) == 50
    assert wanted_gift(GiftChoice(FIXED, 200), 0) == 200


def test_the_consent_maximum_includes_the_gift_on_the_largest_bill():
    assert consent_maximum(None, 1263) == 1263
    assert consent_maximum(GiftChoice(ROUND_UP), 1263) == 1300
    assert consent_maximum(GiftChoice(FIXED, 100), 1263) == 1363


def test_a_gift_that_would_go_over_the_consent_is_trimmed_to_fit():
    gift = gift_within(GiftChoice(FIXED, 200), 1263, 150)
    assert (gift.pence, gift.wanted_pence, gift.trimmed) == (150, 200, True)
    full = gift_within(GiftChoice(ROUND_UP), 1263, 37)
    assert (full.pence, full.trimmed) == (37, False)


def test_no_room_or_less_than_none_means_no_gift():
    assert gift_within(GiftChoice(FIXED, 200), 1263, 0).pence == 0
    assert gift_within(GiftChoice(FIXED, 200), 1263, -40).pence == 0


def test_cash_has_no_consent_limit():
    assert gift_within(GiftChoice(FIXED, 500), 1263, None).pence == 500
    assert gift_within(None, 1263, None).pence == 0


def test_a_gift_over_the_cap_or_below_zero_is_refused():
    assert check_gift_amount(2000, 2000) is None
    assert check_gift_amount(0, 2000) is None
    assert check_gift_amount(2001, 2000) == "over_cap"
    assert check_gift_amount(-1, 2000) == "negative"


def test_nonsense_choices_are_refused():
    with pytest.raises(ValueError):
        GiftChoice("tip")
    with pytest.raises(ValueError):
        GiftChoice(FIXED, 0)
    with pytest.raises(ValueError):
        GiftChoice(ROUND_UP, 5)
    with pytest.raises(TypeError):
        GiftChoice(FIXED, 1.5)
    with pytest.raises(ValueError):
        round_up_gift(-1)
    with pytest.raises(TypeError):
        gift_within(GiftChoice(ROUND_UP), 100, 1.0)


@given(pence)
def test_property_a_round_up_makes_whole_pounds_with_under_a_pound(bill):
    gift = round_up_gift(bill)
    assert 0 <= gift <= 99
    assert (bill + gift) % 100 == 0


@given(choices, pence, st.integers(min_value=-10_000, max_value=10_000_000))
def test_property_a_gift_is_never_negative_and_never_past_the_consent(choice, bill, room):
    gift = gift_within(choice, bill, room)
    assert 0 <= gift.pence <= gift.wanted_pence
    assert gift.pence <= max(0, room)
    if choice is None:
        assert gift.pence == 0


@given(choices, pence, pence)
def test_property_every_bill_up_to_the_largest_fits_in_the_consent_with_its_whole_gift(
        choice, a, b):
    smaller, largest = sorted((a, b))
    maximum = consent_maximum(choice, largest)
    gift = gift_within(choice, smaller, maximum - smaller)
    assert not gift.trimmed
    assert smaller + gift.pence <= maximum


@given(choices, pence, pence, pence, pence, pence)
def test_property_the_statement_still_sums_with_the_gift(choice, goods, fee, pot, credit,
                                                         room):
    pot = min(pot, goods + fee)
    credit = min(credit, goods + fee - pot)
    bill = goods + fee - pot - credit
    gift = gift_within(choice, bill, room)
    pays = bill + gift.pence
    assert pays == goods + fee - pot - credit + gift.pence
    assert pays - gift.pence == bill >= 0
