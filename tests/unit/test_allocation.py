"""Cases to order, allocation and cost split: the examples that pin each rule."""

import pytest

from bulkbuy.domain.allocation import (
    Allocation,
    PledgeLine,
    allocate,
    cases_to_order,
    household_positions,
    share_fee,
    share_product_cost,
)

# --- cases_to_order --------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "tolerance", "cases"),
    [(0, 5, 0), (2, 2, 1), (5, 3, 2), (2, 1, 0), (4, 0, 1), (8, 100, 2), (9, 2, 2)],
)
def test_tolerance_completes_a_case_but_never_starts_one(quantity, tolerance, cases):
    assert cases_to_order(4, quantity, tolerance) == cases


def test_max_cases_caps_the_order():
    assert cases_to_order(4, 20, 0, max_cases=3) == 3
    assert cases_to_order(4, 20, 0, max_cases=0) == 0
    assert cases_to_order(4, 7, 0, max_cases=3) == 1


@pytest.mark.parametrize(
    "args",
    [(0, 1, 0), (4, -1, 0), (4, 1, -1), (4, 1, 0, -1)],
    ids=["case size 0", "negative quantity", "negative tolerance", "negative max_cases"],
)
def test_cases_to_order_refuses_impossible_numbers(args):
    with pytest.raises(ValueError):
        cases_to_order(*args)


# --- allocate: first_come ----------------------------------------------------


def test_later_household_gets_what_is_left_of_the_case():
    # Case size 5, 6 units pledged in queue order 4 then 2: one case, and the
    # later household gets 1 of its 2.
    lines = [PledgeLine("A", 1, 4, 0), PledgeLine("B", 2, 2, 0)]
    result = allocate(5, lines)
    assert result.cases == 1
    assert result.units == {"A": 4, "B": 1}


def test_queue_order_not_list_order_decides_who_is_first():
    lines = [PledgeLine("B", 2, 2, 0), PledgeLine("A", 1, 4, 0)]
    assert allocate(5, lines).units == {"A": 4, "B": 1}


def test_tolerance_is_handed_out_in_queue_order_after_all_quantity():
    lines = [
        PledgeLine("A", 1, 1, 3),
        PledgeLine("B", 2, 2, 3),
        PledgeLine("C", 3, 3, 0),
    ]
    # q = 6, t = 6, size 8: one full case needs 2 units of tolerance: A's first.
    result = allocate(8, lines)
    assert result.cases == 1
    assert result.units == {"A": 3, "B": 2, "C": 3}
    assert result.tolerance_units == {"A": 2, "B": 0, "C": 0}


def test_a_case_that_does_not_fill_is_not_ordered_and_nobody_gets_any():
    lines = [PledgeLine("A", 1, 2, 0), PledgeLine("B", 2, 3, 1)]
    result = allocate(12, lines)
    assert result.cases == 0
    assert result.units == {"A": 0, "B": 0}
    assert result.line_units == {1: 0, 2: 0}


def test_every_household_that_pledged_is_in_the_units():
    lines = [PledgeLine("A", 1, 4, 0), PledgeLine("B", 2, 0, 3), PledgeLine("C", 3, 0, 0)]
    assert allocate(4, lines).units == {"A": 4, "B": 0, "C": 0}


def test_line_units_say_which_lines_got_the_units():
    lines = [
        PledgeLine("A", 1, 3, 0),
        PledgeLine("B", 2, 3, 0),
        PledgeLine("A", 3, 2, 0),  # A raised its pledge later
    ]
    result = allocate(6, lines)
    assert result.units == {"A": 3, "B": 3}
    assert result.line_units == {1: 3, 2: 3, 3: 0}


def test_max_cases_shortage_goes_to_the_earliest_pledges():
    lines = [PledgeLine("A", 1, 6, 0), PledgeLine("B", 2, 6, 0)]
    result = allocate(4, lines, max_cases=2)
    assert result.cases == 2
    assert result.units == {"A": 6, "B": 2}


def test_no_lines_orders_nothing():
    assert allocate(6, []) == Allocation(cases=0, units={}, line_units={}, tolerance_units={})


# --- allocate: pro_rata -----------------------------------------------------


def test_pro_rata_shares_a_shortage_in_proportion_to_quantity():
    lines = [PledgeLine("A", 1, 10, 0), PledgeLine("B", 2, 10, 0), PledgeLine("C", 3, 20, 0)]
    result = allocate(10, lines, max_cases=2, mode="pro_rata")
    assert result.units == {"A": 5, "B": 5, "C": 10}


def test_pro_rata_remainder_unit_goes_to_the_earlier_position():
    lines = [PledgeLine("B", 2, 2, 0), PledgeLine("A", 1, 2, 0)]
    result = allocate(3, lines, max_cases=1, mode="pro_rata")
    assert result.units == {"A": 2, "B": 1}


def test_pro_rata_household_position_is_its_earliest_line():
    lines = [
        PledgeLine("B", 2, 2, 0),
        PledgeLine("A", 1, 1, 0),
        PledgeLine("A", 5, 1, 0),
    ]
    result = allocate(3, lines, max_cases=1, mode="pro_rata")
    assert result.units == {"A": 2, "B": 1}
    assert result.line_units == {1: 1, 2: 1, 5: 1}


def test_pro_rata_shares_tolerance_in_proportion_to_tolerance():
    lines = [PledgeLine("A", 1, 5, 1), PledgeLine("B", 2, 4, 3)]
    # q = 9, t = 4, size 13: one case, all 4 tolerance units used.
    result = allocate(13, lines, mode="pro_rata")
    assert result.units == {"A": 6, "B": 7}
    # Only 2 of 4 tolerance units needed, size 11: split 1:3 -> 0.5 / 1.5.
    result = allocate(11, lines, mode="pro_rata")
    assert result.tolerance_units == {"A": 1, "B": 1}
    assert result.units == {"A": 6, "B": 5}


def test_pro_rata_lays_a_households_units_on_its_lines_in_queue_order():
    lines = [
        PledgeLine("A", 1, 2, 1),
        PledgeLine("B", 2, 5, 0),
        PledgeLine("A", 3, 2, 2),
    ]
    # q = 9, t = 3, size 10: A gets its 4 quantity and 1 tolerance.
    result = allocate(10, lines, mode="pro_rata")
    assert result.units == {"A": 5, "B": 5}
    assert result.line_units == {1: 3, 2: 5, 3: 2}


def test_both_modes_agree_when_everyone_gets_their_quantity():
    lines = [PledgeLine("A", 1, 3, 0), PledgeLine("B", 2, 5, 0)]
    assert allocate(4, lines).units == allocate(4, lines, mode="pro_rata").units


# --- allocate: refusals -----------------------------------------------------


@pytest.mark.parametrize(
    ("case_size", "lines", "mode"),
    [
        (4, [PledgeLine("A", 1, 1, 0), PledgeLine("B", 1, 1, 0)], "first_come"),
        (4, [PledgeLine("A", 1, -1, 0)], "first_come"),
        (4, [PledgeLine("A", 1, 1, -1)], "pro_rata"),
        (4, [PledgeLine("A", -1, 1, 0)], "first_come"),
        (0, [PledgeLine("A", 1, 1, 0)], "first_come"),
        (4, [PledgeLine("A", 1, 1, 0)], "lottery"),
    ],
    ids=[
        "same queue position",
        "negative quantity",
        "negative tolerance",
        "negative queue position",
        "case size 0",
        "unknown mode",
    ],
)
def test_allocate_refuses_bad_input(case_size, lines, mode):
    with pytest.raises(ValueError):
        allocate(case_size, lines, mode=mode)


# --- cost split ---------------------------------------------------------------


def test_household_position_is_its_earliest_queue_position():
    lines = [PledgeLine("A", 7, 1, 0), PledgeLine("B", 3, 1, 0), PledgeLine("A", 2, 1, 0)]
    assert household_positions(lines) == {"A": 2, "B": 3}


def test_ten_pounds_three_ways_the_latest_pledger_pays_the_spare_penny():
    shares = share_product_cost(1000, {"A": 1, "B": 1, "C": 1}, {"A": 1, "B": 2, "C": 3})
    assert shares == {"A": 333, "B": 333, "C": 334}


def test_spare_penny_follows_position_not_name():
    shares = share_product_cost(1000, {"A": 1, "B": 1, "C": 1}, {"A": 9, "B": 2, "C": 5})
    assert shares == {"A": 334, "B": 333, "C": 333}


def test_product_cost_is_shared_by_units_and_adds_up_to_the_case_price():
    # 2 cases at £7.00 = 1400p over 12 units: 116.67p a unit.
    shares = share_product_cost(1400, {"A": 5, "B": 4, "C": 3}, {"A": 1, "B": 2, "C": 3})
    assert sum(shares.values()) == 1400
    assert shares == {"A": 583, "B": 467, "C": 350}


def test_product_cost_of_nothing_costs_nothing():
    assert share_product_cost(0, {"A": 0, "B": 0}, {"A": 1, "B": 2}) == {"A": 0, "B": 0}


def test_product_cost_needs_everybodys_position():
    with pytest.raises(ValueError, match="no position"):
        share_product_cost(100, {"A": 1, "B": 1}, {"A": 1})


def test_fee_by_value_is_shared_in_proportion_to_goods_value():
    shares = share_fee(500, {"A": 2000, "B": 1000, "C": 0}, {"A": 1, "B": 2, "C": 3})
    assert shares == {"A": 333, "B": 167, "C": 0}


def test_fee_by_value_spare_penny_is_paid_by_the_later_position():
    shares = share_fee(101, {"A": 500, "B": 500}, {"A": 1, "B": 2})
    assert shares == {"A": 50, "B": 51}


def test_fee_equal_is_shared_per_household_that_received_anything():
    shares = share_fee(
        500, {"A": 2000, "B": 10, "C": 0, "D": 300}, {"A": 4, "B": 3, "C": 2, "D": 1}, "equal"
    )
    assert shares == {"A": 167, "B": 167, "C": 0, "D": 166}


def test_fee_equal_can_count_receivers_by_units():
    shares = share_fee(
        300, {"A": 100, "B": 0}, {"A": 1, "B": 2}, mode="equal", received={"A": 1, "B": 2}
    )
    assert shares == {"A": 150, "B": 150}


def test_fee_by_value_with_only_free_goods_is_shared_equally_among_receivers():
    shares = share_fee(301, {"A": 0, "B": 0}, {"A": 1, "B": 2}, received={"A": 1, "B": 1})
    assert shares == {"A": 150, "B": 151}


def test_fee_when_nobody_received_anything_is_nobodys():
    assert share_fee(500, {"A": 0, "B": 0}, {}) == {"A": 0, "B": 0}


def test_fee_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="unknown fee mode"):
        share_fee(100, {"A": 1}, {"A": 1}, mode="by_weight")
