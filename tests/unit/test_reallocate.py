"""Delivery day: sharing out what arrived (``reallocate``), by example and by property."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.allocation import (
    PledgeLine,
    allocate,
    household_positions,
    reallocate,
)

PROPERTY = settings(max_examples=200, deadline=None)

modes = st.sampled_from(["first_come", "pro_rata"])

# --- examples -------------------------------------------------------------------


def six_tins():
    """6 tins in one case: A wants 4 (first in the queue), B wants 2."""
    lines = [PledgeLine("A", 1, 4, 0), PledgeLine("B", 2, 2, 0)]
    return lines, allocate(6, lines)


def test_first_come_when_4_of_6_tins_arrive_a_keeps_4_and_b_gets_none():
    lines, allocation = six_tins()
    result = reallocate(lines, allocation, 4)
    assert result.units == {"A": 4, "B": 0}
    assert result.line_units == {1: 4, 2: 0}
    assert result.cases == 1
    assert result.spare == 0


def test_pro_rata_when_4_of_6_tins_arrive_a_keeps_3_and_b_keeps_1():
    # Exact shares 4 × 4/6 = 2⅔ and 4 × 2/6 = 1⅓: the spare tin goes to the larger remainder.
    lines, allocation = six_tins()
    assert reallocate(lines, allocation, 4, "pro_rata").units == {"A": 3, "B": 1}


def test_pro_rata_a_tin_two_households_could_equally_keep_goes_to_the_earlier():
    lines = [PledgeLine("B", 2, 2, 0), PledgeLine("A", 1, 2, 0)]
    allocation = allocate(4, lines, mode="pro_rata")
    assert reallocate(lines, allocation, 3, "pro_rata").units == {"A": 2, "B": 1}


def test_first_come_takes_back_from_the_latest_line_even_a_households_own():
    # A raised its order later (line 3): those units are the first to go.
    lines = [PledgeLine("A", 1, 3, 0), PledgeLine("B", 2, 3, 0), PledgeLine("A", 3, 2, 0)]
    allocation = allocate(8, lines)
    result = reallocate(lines, allocation, 6)
    assert result.units == {"A": 3, "B": 3}
    assert result.line_units == {1: 3, 2: 3, 3: 0}


def test_first_come_an_earlier_line_keeps_its_extra_units_before_a_later_line_keeps_any():
    # A: 1 wanted + up to 3 more, took 2 more to fill the case of 6; B wanted 3.
    lines = [PledgeLine("A", 1, 1, 3), PledgeLine("B", 2, 3, 0)]
    allocation = allocate(6, lines)
    assert allocation.units == {"A": 3, "B": 3}
    result = reallocate(lines, allocation, 5)
    assert result.units == {"A": 3, "B": 2}
    assert result.tolerance_units == {"A": 2, "B": 0}


def test_units_taken_back_from_a_line_come_off_its_extra_units_first():
    lines = [PledgeLine("A", 1, 1, 3), PledgeLine("B", 2, 3, 0)]
    allocation = allocate(6, lines, mode="pro_rata")
    result = reallocate(lines, allocation, 3, "pro_rata")
    # A keeps 3 × 3/6 = 1.5 -> 2 (earlier on the tie), one of them its extra.
    assert result.units == {"A": 2, "B": 1}
    assert result.tolerance_units == {"A": 1, "B": 0}


def test_a_household_that_gets_nothing_is_still_in_the_result():
    lines, allocation = six_tins()
    result = reallocate(lines, allocation, 0, "pro_rata")
    assert result.units == {"A": 0, "B": 0}
    assert result.tolerance_units == {"A": 0, "B": 0}


def test_when_everything_arrives_nothing_changes():
    lines = [PledgeLine("A", 1, 1, 3), PledgeLine("B", 2, 3, 2), PledgeLine("A", 3, 2, 0)]
    for mode in ("first_come", "pro_rata"):
        allocation = allocate(4, lines, mode=mode)
        assert reallocate(lines, allocation, 8, mode) == allocation


def test_first_come_surplus_goes_to_extra_units_in_queue_order_and_the_rest_is_spare():
    lines = [PledgeLine("A", 1, 4, 2), PledgeLine("B", 2, 2, 2)]
    allocation = allocate(6, lines)
    assert allocation.units == {"A": 4, "B": 2}
    result = reallocate(lines, allocation, 9)
    assert result.units == {"A": 6, "B": 3}
    assert result.tolerance_units == {"A": 2, "B": 1}
    assert result.spare == 0
    result = reallocate(lines, allocation, 12)
    assert result.units == {"A": 6, "B": 4}
    assert result.spare == 2


def test_pro_rata_surplus_is_shared_by_what_each_household_still_wants():
    lines = [PledgeLine("A", 1, 4, 2), PledgeLine("B", 2, 2, 4)]
    allocation = allocate(6, lines, mode="pro_rata")
    # 3 extra over still-wanted 2 (A) and 4 (B): 1 and 2.
    assert reallocate(lines, allocation, 9, "pro_rata").units == {"A": 5, "B": 4}


def test_surplus_fills_what_households_wanted_before_their_extra_units():
    # At close only 2 boxes of 4 could be had: B went short of what it wanted.
    lines = [PledgeLine("A", 1, 6, 2), PledgeLine("B", 2, 6, 0)]
    allocation = allocate(4, lines, max_cases=2)
    assert allocation.units == {"A": 6, "B": 2}
    assert reallocate(lines, allocation, 10).units == {"A": 6, "B": 4}
    allocation = allocate(4, lines, max_cases=2, mode="pro_rata")
    assert allocation.units == {"A": 4, "B": 4}
    assert reallocate(lines, allocation, 10, "pro_rata").units == {"A": 5, "B": 5}


@pytest.mark.parametrize(
    ("lines", "received", "mode"),
    [
        ([PledgeLine("A", 1, 4, 0), PledgeLine("B", 2, 2, 0)], -1, "first_come"),
        ([PledgeLine("A", 1, 4, 0), PledgeLine("B", 2, 2, 0)], 4, "lottery"),
        ([PledgeLine("A", 1, 4, 0), PledgeLine("B", 9, 2, 0)], 4, "first_come"),
        ([PledgeLine("A", 1, 4, 0)], 4, "pro_rata"),
        ([PledgeLine("A", 1, 4, 0), PledgeLine("B", 2, 1, 0)], 4, "first_come"),
        ([PledgeLine("A", 1, 4, 0), PledgeLine("A", 2, 2, 0)], 4, "first_come"),
    ],
    ids=[
        "negative received",
        "unknown mode",
        "a line the allocation does not know",
        "a line of the allocation is missing",
        "more units than the line asked for",
        "units that do not add up per household",
    ],
)
def test_reallocate_refuses_what_does_not_match(lines, received, mode):
    _, allocation = six_tins()
    with pytest.raises(ValueError):
        reallocate(lines, allocation, received, mode)


# --- properties -------------------------------------------------------------------


@st.composite
def closed_products(draw):
    """One product's lines (up to 5 households, unique queue positions) and its allocation."""
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, 4),  # household
                st.integers(0, 15),  # quantity
                st.integers(0, 15),  # tolerance
            ),
            max_size=12,
        )
    )
    positions = draw(
        st.lists(st.integers(1, 1000), min_size=len(raw), max_size=len(raw), unique=True)
    )
    lines = [
        PledgeLine(f"h{household}", pos, q, t)
        for (household, q, t), pos in zip(raw, positions, strict=True)
    ]
    mode = draw(modes)
    allocation = allocate(
        draw(st.integers(1, 12)), lines, draw(st.none() | st.integers(0, 6)), mode
    )
    return lines, allocation, mode


@st.composite
def short_deliveries(draw):
    lines, allocation, mode = draw(closed_products())
    received = draw(st.integers(0, sum(allocation.units.values())))
    return lines, allocation, mode, received


@st.composite
def surplus_deliveries(draw):
    lines, allocation, mode = draw(closed_products())
    received = sum(allocation.units.values()) + draw(st.integers(1, 40))
    return lines, allocation, mode, received


def queue(lines):
    return sorted(lines, key=lambda line: line.queue_pos)


def check_consistent(lines, allocation, result):
    """What holds for any delivery: every household present, lines add up, tolerance fits."""
    assert result.cases == allocation.cases
    assert set(result.units) == set(allocation.units)
    assert set(result.tolerance_units) == set(allocation.units)
    assert set(result.line_units) == {line.queue_pos for line in lines}
    for household, units in result.units.items():
        own = [line for line in lines if line.household_id == household]
        assert units == sum(result.line_units[line.queue_pos] for line in own)
        assert 0 <= result.tolerance_units[household] <= units
        assert units - result.tolerance_units[household] <= sum(line.quantity for line in own)
    for line in lines:
        assert 0 <= result.line_units[line.queue_pos] <= line.quantity + line.tolerance


@PROPERTY
@given(short_deliveries())
def test_short_exactly_what_arrived_is_given_out_and_nobody_gets_more(case):
    lines, allocation, mode, received = case
    result = reallocate(lines, allocation, received, mode)
    check_consistent(lines, allocation, result)
    assert sum(result.units.values()) == received
    assert result.spare == 0
    for household, units in result.units.items():
        assert units <= allocation.units[household]
        assert result.tolerance_units[household] <= allocation.tolerance_units[household]
    for pos, units in result.line_units.items():
        assert units <= allocation.line_units[pos]


@PROPERTY
@given(short_deliveries())
def test_first_come_short_takes_units_back_from_the_latest_lines_first(case):
    lines, allocation, _, received = case
    result = reallocate(lines, allocation, received, "first_come")
    ordered = queue(lines)
    for i, line in enumerate(ordered):
        if result.line_units[line.queue_pos] > 0:
            assert all(
                result.line_units[earlier.queue_pos] == allocation.line_units[earlier.queue_pos]
                for earlier in ordered[:i]
            )


@PROPERTY
@given(short_deliveries())
def test_pro_rata_short_each_household_keeps_its_share_to_within_a_unit(case):
    lines, allocation, _, received = case
    result = reallocate(lines, allocation, received, "pro_rata")
    allocated = sum(allocation.units.values())
    positions = household_positions(lines)
    for household, units in result.units.items():
        exact = Fraction(allocation.units[household] * received, allocated) if allocated else 0
        assert exact - 1 < units < exact + 1
    for a in result.units:
        for b in result.units:
            before_a, before_b = allocation.units[a], allocation.units[b]
            if before_a > before_b or (before_a == before_b and positions[a] < positions[b]):
                assert result.units[a] >= result.units[b]
    # Laid on each household's lines in queue order.
    ordered = queue(lines)
    for i, line in enumerate(ordered):
        if result.line_units[line.queue_pos] > 0:
            for earlier in ordered[:i]:
                if earlier.household_id == line.household_id:
                    kept = result.line_units[earlier.queue_pos]
                    assert kept == allocation.line_units[earlier.queue_pos]


@PROPERTY
@given(surplus_deliveries())
def test_surplus_nobody_loses_and_what_nobody_wants_is_spare(case):
    lines, allocation, mode, received = case
    result = reallocate(lines, allocation, received, mode)
    check_consistent(lines, allocation, result)
    wanted = sum(line.quantity + line.tolerance for line in lines)
    given_out = sum(result.units.values())
    assert given_out == min(received, wanted)
    assert result.spare == received - given_out
    for pos, units in result.line_units.items():
        assert units >= allocation.line_units[pos]
    # Extra units only once every line has what it wanted for sure.
    if any(result.tolerance_units[h] > allocation.tolerance_units[h] for h in result.units):
        for line in lines:
            assert result.line_units[line.queue_pos] >= line.quantity


@PROPERTY
@given(surplus_deliveries())
def test_first_come_surplus_goes_in_queue_order_quantity_before_tolerance(case):
    lines, allocation, _, received = case
    result = reallocate(lines, allocation, received, "first_come")
    ordered = queue(lines)
    gained = {
        line.queue_pos: result.line_units[line.queue_pos] - allocation.line_units[line.queue_pos]
        for line in ordered
    }
    for i, line in enumerate(ordered):
        got = result.line_units[line.queue_pos]
        if gained[line.queue_pos] and got <= line.quantity:
            # A later line gained units it wanted for sure: every earlier one has its own.
            assert all(result.line_units[e.queue_pos] >= e.quantity for e in ordered[:i])
        if gained[line.queue_pos] and got > line.quantity:
            assert all(
                result.line_units[e.queue_pos] == e.quantity + e.tolerance for e in ordered[:i]
            )


@PROPERTY
@given(surplus_deliveries())
def test_pro_rata_surplus_stays_within_a_unit_of_proportional_to_what_is_still_wanted(case):
    lines, allocation, _, received = case
    result = reallocate(lines, allocation, received, "pro_rata")
    extra = received - sum(allocation.units.values())
    still_q, still_t = {}, {}
    for line in lines:
        have = allocation.line_units[line.queue_pos]
        h = line.household_id
        still_q[h] = still_q.get(h, 0) + max(0, line.quantity - have)
        still_t[h] = still_t.get(h, 0) + line.quantity + line.tolerance - max(have, line.quantity)
    for_q = min(extra, sum(still_q.values()))
    for_t = min(extra - for_q, sum(still_t.values()))
    for household in still_q:
        gained = result.units[household] - allocation.units[household]
        exact = Fraction(0)
        if for_q:
            exact += Fraction(for_q * still_q[household], sum(still_q.values()))
        if for_t:
            exact += Fraction(for_t * still_t[household], sum(still_t.values()))
        assert exact - 2 < gained < exact + 2  # within a unit in each of the two rounds


@PROPERTY
@given(closed_products())
def test_everything_arriving_changes_nothing(case):
    lines, allocation, mode = case
    assert reallocate(lines, allocation, sum(allocation.units.values()), mode) == allocation


@PROPERTY
@given(
    short_deliveries() | surplus_deliveries(),
    st.randoms(use_true_random=False),
)
def test_reallocation_does_not_depend_on_the_order_of_the_lines(case, random):
    lines, allocation, mode, received = case
    shuffled = list(lines)
    random.shuffle(shuffled)
    assert reallocate(shuffled, allocation, received, mode) == reallocate(
        lines, allocation, received, mode
    )


@PROPERTY
@given(closed_products(), st.integers(1, 50), st.integers(1, 2000))
def test_a_line_the_allocation_does_not_know_is_refused(case, received, pos):
    lines, allocation, mode = case
    if pos in allocation.line_units:
        pos = max(allocation.line_units) + 1
    with pytest.raises(ValueError):
        reallocate([*lines, PledgeLine("h0", pos, 1, 0)], allocation, received, mode)

