"""What a bill saved compared with shop prices: the rules, then properties."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.savings import (
    MORE,
    SAME,
    SAVED,
    Saving,
    SavingLine,
    round_saving,
    saving,
)

PROPERTY = settings(max_examples=150, deadline=None)


# --- the rules -----------------------------------------------------------------------------


def test_the_saving_is_what_the_shop_would_charge_less_what_the_bill_charges():
    # 3 tins at 95p in the shop (285p) for 180p; 2 bags of rice at £2.10 (420p) for 315p.
    bill = saving([(3, 180, 95), (2, 315, 210)])
    assert bill.saved_pence == (285 - 180) + (420 - 315) == 210
    assert bill.kind == SAVED and bill.shown and not bill.may_be_more


def test_a_product_without_a_shop_price_is_left_out_and_counted():
    bill = saving([(3, 180, 95), (1, 500, None)])
    assert bill.saved_pence == 105
    assert bill.lines_without_price == 1
    assert bill.may_be_more  # "Some products have no shop price, so the saving may be more."


def test_a_product_dearer_than_the_shop_counts_against_the_saving():
    bill = saving([(2, 300, 100), (1, 50, 80)])  # 100p more on the first, 30p less on the other
    assert bill.saved_pence == -70
    assert bill.kind == MORE and bill.more_pence == 70


def test_a_bill_that_cost_what_the_shops_charge_says_the_same():
    assert saving([(4, 400, 100)]).kind == SAME


def test_with_no_shop_price_at_all_there_is_nothing_to_say():
    bill = saving([(1, 500, None), (2, 100, None)])
    assert not bill.shown and not bill.may_be_more
    assert bill.lines_without_price == 2


def test_a_product_the_household_gets_none_of_is_not_compared():
    bill = saving([(0, 0, 95), (0, 0, None), (1, 60, 95)])
    assert bill == Saving(saved_pence=35, lines_with_price=1, lines_without_price=0)


def test_an_empty_bill_says_nothing():
    assert saving([]) == Saving() and not Saving().shown


def test_lines_may_be_given_as_saving_lines():
    assert saving([SavingLine(units=2, amount_pence=100, shop_unit_pence=75)]).saved_pence == 50


def test_the_round_saving_adds_up_the_bills():
    one = saving([(3, 180, 95)])
    two = saving([(2, 315, 210), (1, 500, None)])
    assert round_saving([one, two]) == Saving(210, 2, 1)
    assert round_saving([]) == Saving()


@pytest.mark.parametrize("line", [(1.0, 100, 90), (1, 100.5, 90), (1, 100, 0.9), (True, 1, 1)])
def test_only_whole_pence_and_units_are_taken(line):
    with pytest.raises(TypeError):
        saving([line])


@pytest.mark.parametrize("line", [(-1, 100, 90), (1, -100, 90), (1, 100, -90)])
def test_negative_counts_are_refused(line):
    with pytest.raises(ValueError):
        saving([line])


# --- properties ----------------------------------------------------------------------------

lines = st.tuples(st.integers(0, 500), st.integers(0, 10**6),
                  st.none() | st.integers(0, 10**5))
bills = st.lists(st.lists(lines, max_size=8), max_size=6)


@PROPERTY
@given(bills)
def test_the_round_saving_is_the_sum_of_the_bills_and_of_all_lines_at_once(round_bills):
    total = round_saving(saving(bill) for bill in round_bills)
    assert total.saved_pence == sum(saving(bill).saved_pence for bill in round_bills)
    assert total == saving([line for bill in round_bills for line in bill])


@PROPERTY
@given(st.lists(lines, max_size=15), st.randoms())
def test_the_order_of_lines_changes_nothing(bill, rnd):
    shuffled = list(bill)
    rnd.shuffle(shuffled)
    assert saving(shuffled) == saving(bill)


@PROPERTY
@given(st.lists(lines, max_size=15), st.lists(
    st.tuples(st.integers(0, 500), st.integers(0, 10**6), st.none()), max_size=5))
def test_lines_without_a_price_change_only_the_count(bill, unpriced):
    with_them = saving(bill + unpriced)
    without = saving(bill)
    assert with_them.saved_pence == without.saved_pence
    assert with_them.lines_with_price == without.lines_with_price
    assert with_them.lines_without_price == (
        without.lines_without_price + sum(1 for units, _a, _s in unpriced if units))


@PROPERTY
@given(st.lists(lines, max_size=15))
def test_the_saving_is_whole_pence_and_exactly_the_formula(bill):
    result = saving(bill)
    assert type(result.saved_pence) is int
    assert result.saved_pence == sum(u * s - a for u, a, s in bill if u and s is not None)
    assert result.kind == (SAVED if result.saved_pence > 0
                           else SAME if result.saved_pence == 0 else MORE)
    assert result.more_pence == max(-result.saved_pence, 0)
