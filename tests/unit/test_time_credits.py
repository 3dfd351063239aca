"""Time credits: the examples that pin each rule, and its properties (Hypothesis)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkbuy.domain.time_credits import credits_for_minutes, fee_with_credits

# --- examples ------------------------------------------------------------------


def test_three_credits_at_a_pound_take_three_pounds_off_a_five_pound_share():
    cut = fee_with_credits({1: 500, 2: 500}, {1: 3}, 100, None)
    assert cut.reduction_pence == {1: 300}
    assert cut.credits_used == {1: 3}
    assert cut.total_pence == 300


def test_a_share_is_never_taken_below_zero_and_spare_credits_are_kept():
    cut = fee_with_credits({1: 250}, {1: 10}, 100, None)
    # Whole credits only: 2 credits take £2 off; the 50p left is paid as usual, and the
    # household keeps 8 credits rather than spend one on 50p.
    assert cut.reduction_pence == {1: 200}
    assert cut.credits_used == {1: 2}


def test_a_share_below_one_credit_takes_nothing_off():
    assert fee_with_credits({1: 99}, {1: 5}, 100, None).reduction_pence == {}


def test_the_most_per_round_caps_the_reduction_in_whole_credits():
    cut = fee_with_credits({1: 1000}, {1: 10}, 100, 350)
    assert cut.reduction_pence == {1: 300}
    assert cut.credits_used == {1: 3}


def test_the_rule_off_takes_nothing():
    cut = fee_with_credits({1: 500}, {1: 10}, 0, None)
    assert cut.reduction_pence == {} and cut.credits_used == {} and cut.total_pence == 0


def test_households_without_credits_or_without_a_bill_are_left_alone():
    cut = fee_with_credits({1: 500, 2: 500}, {3: 4, 2: 0}, 100, None)
    assert cut.reduction_pence == {}


@pytest.mark.parametrize("bad", [1.5, True, "100", None])
def test_only_whole_numbers_are_taken(bad):
    with pytest.raises(TypeError):
        fee_with_credits({1: 500}, {1: 1}, bad, None)
    with pytest.raises(TypeError):
        fee_with_credits({1: bad}, {1: 1}, 100, None)


@pytest.mark.parametrize("args", [({1: -1}, {1: 1}, 100, None), ({1: 5}, {1: -1}, 100, None),
                                  ({1: 5}, {1: 1}, -1, None), ({1: 5}, {1: 1}, 100, -1)])
def test_negative_numbers_are_refused(args):
    with pytest.raises(ValueError):
        fee_with_credits(*args)


def test_minutes_earn_whole_credits_and_carry_the_rest():
    assert credits_for_minutes(0, 150, 60) == (2, 30)
    assert credits_for_minutes(30, 40, 60) == (1, 10)
    assert credits_for_minutes(0, 59, 60) == (0, 59)
    with pytest.raises(ValueError):
        credits_for_minutes(0, 60, 0)
    with pytest.raises(TypeError):
        credits_for_minutes(0, 1.5, 60)


# --- properties ----------------------------------------------------------------

households = st.integers(min_value=1, max_value=30)
fees = st.dictionaries(households, st.integers(min_value=0, max_value=5000), max_size=12)
held = st.dictionaries(households, st.integers(min_value=0, max_value=60), max_size=12)
pence_per_credit = st.integers(min_value=0, max_value=700)
caps = st.none() | st.integers(min_value=0, max_value=3000)


@given(fees, held, pence_per_credit, caps)
def test_never_above_the_share_the_cap_or_the_credits_held(fee_shares, available, ppc, cap):
    cut = fee_with_credits(fee_shares, available, ppc, cap)
    assert set(cut.reduction_pence) == set(cut.credits_used) <= set(fee_shares)
    for household, taken in cut.reduction_pence.items():
        used = cut.credits_used[household]
        assert 0 < taken <= fee_shares[household]
        assert cap is None or taken <= cap
        assert 0 < used <= available.get(household, 0)
        # Whole credits, never part of one: exact multiples of a credit's worth.
        assert taken == used * ppc
    assert cut.total_pence == sum(cut.reduction_pence.values())


@given(fees, held, pence_per_credit, caps)
def test_each_household_takes_as_many_whole_credits_as_fit(fee_shares, available, ppc, cap):
    cut = fee_with_credits(fee_shares, available, ppc, cap)
    if ppc == 0:
        assert cut.reduction_pence == {}
        return
    for household, fee in fee_shares.items():
        limit = fee if cap is None else min(fee, cap)
        used = cut.credits_used.get(household, 0)
        # One more credit would overshoot the limit, or there is none left.
        assert used == available.get(household, 0) or (used + 1) * ppc > limit


@given(fees, held, pence_per_credit, caps, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_input(fee_shares, available, ppc,
                                                              cap, rnd):
    shuffled_fees = list(fee_shares.items())
    shuffled_held = list(available.items())
    rnd.shuffle(shuffled_fees)
    rnd.shuffle(shuffled_held)
    assert fee_with_credits(dict(shuffled_fees), dict(shuffled_held), ppc, cap) == \
        fee_with_credits(fee_shares, available, ppc, cap)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000),
       st.integers(min_value=1, max_value=600))
def test_no_minute_is_lost(carried, minutes, per_credit):
    credits, carried_on = credits_for_minutes(carried, minutes, per_credit)
    assert credits * per_credit + carried_on == carried + minutes
    assert 0 <= carried_on < per_credit
