"""Pledge queue: raising appends at the back, lowering trims the newest lines first."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.pledge_queue import (
    PledgeChange,
    QueueLine,
    apply_pledge_change,
    plan_pledge_change,
    totals,
)

PROPERTY = settings(max_examples=500, deadline=None)

LINES = [QueueLine("first", 3, 2, 1), QueueLine("second", 8, 3, 2)]


def test_totals_add_up_quantity_and_tolerance():
    assert totals(LINES) == (5, 3)
    assert totals([]) == (0, 0)


def test_a_first_pledge_is_one_new_line():
    assert plan_pledge_change([], 4, 2) == PledgeChange(append=(4, 2))


def test_raising_quantity_appends_only_the_added_units_at_the_back():
    change = plan_pledge_change(LINES, 7, 3)
    assert change == PledgeChange(append=(2, 0))


def test_raising_both_appends_one_line_carrying_both_additions():
    assert plan_pledge_change(LINES, 6, 5) == PledgeChange(append=(1, 2))


def test_lowering_quantity_trims_the_newest_line_first():
    change = plan_pledge_change(LINES, 4, 3)
    assert change == PledgeChange(updates={"second": (2, 2)})


def test_lowering_past_the_newest_line_reaches_earlier_lines():
    change = plan_pledge_change(LINES, 1, 3)
    assert change == PledgeChange(updates={"first": (1, 1), "second": (0, 2)})


def test_lowering_tolerance_trims_the_newest_tolerance_first():
    change = plan_pledge_change(LINES, 5, 2)
    assert change == PledgeChange(updates={"second": (3, 1)})


def test_a_line_left_with_nothing_is_deleted_not_updated():
    change = plan_pledge_change(LINES, 2, 1)
    assert change == PledgeChange(deletes=("second",))


def test_lowering_to_nothing_deletes_every_line():
    change = plan_pledge_change(LINES, 0, 0)
    assert change == PledgeChange(deletes=("first", "second"))


def test_raising_one_and_lowering_the_other_does_both():
    change = plan_pledge_change(LINES, 7, 1)
    assert change == PledgeChange(append=(2, 0), updates={"second": (3, 0)})
    change = plan_pledge_change(LINES, 3, 6)
    assert change == PledgeChange(append=(0, 3), updates={"second": (1, 2)})


def test_no_change_writes_nothing():
    change = plan_pledge_change(LINES, 5, 3)
    assert change == PledgeChange()
    assert change.is_empty


def test_newest_is_by_queue_position_not_list_order():
    change = plan_pledge_change(list(reversed(LINES)), 4, 3)
    assert change == PledgeChange(updates={"second": (2, 2)})


@pytest.mark.parametrize(
    ("lines", "quantity", "tolerance"),
    [
        (LINES, -1, 0),
        (LINES, 0, -1),
        ([QueueLine("x", 1, -1, 0)], 1, 0),
        ([QueueLine("x", 1, 1, 0), QueueLine("x", 2, 1, 0)], 1, 0),
        ([QueueLine("x", 1, 1, 0), QueueLine("y", 1, 1, 0)], 1, 0),
    ],
    ids=["negative quantity", "negative tolerance", "negative line", "same id", "same position"],
)
def test_plan_refuses_bad_input(lines, quantity, tolerance):
    with pytest.raises(ValueError):
        plan_pledge_change(lines, quantity, tolerance)


def test_applying_a_change_keeps_earlier_lines_in_place():
    change = plan_pledge_change(LINES, 1, 6)
    after = apply_pledge_change(LINES, change, new_line_id="third", new_queue_pos=12)
    assert after == [
        QueueLine("first", 3, 1, 1),
        QueueLine("second", 8, 0, 2),
        QueueLine("third", 12, 0, 3),
    ]


def test_a_new_line_must_join_the_back_of_the_queue():
    with pytest.raises(ValueError):
        apply_pledge_change(LINES, PledgeChange(append=(1, 0)), "third", new_queue_pos=5)


# --- properties ---------------------------------------------------------------


@st.composite
def household_lines(draw):
    amounts = draw(
        st.lists(
            st.tuples(st.integers(0, 8), st.integers(0, 8)).filter(lambda qt: qt != (0, 0)),
            max_size=6,
        )
    )
    positions = sorted(
        draw(
            st.lists(st.integers(1, 500), min_size=len(amounts), max_size=len(amounts), unique=True)
        )
    )
    lines = [
        QueueLine(f"line{i}", pos, q, t)
        for i, ((q, t), pos) in enumerate(zip(amounts, positions, strict=True))
    ]
    return draw(st.permutations(lines))


targets = st.integers(0, 60)


@PROPERTY
@given(household_lines(), targets, targets)
def test_after_a_change_the_totals_are_what_was_asked_for(lines, quantity, tolerance):
    change = plan_pledge_change(lines, quantity, tolerance)
    after = apply_pledge_change(lines, change, "new", 1000)
    assert totals(after) == (quantity, tolerance)


@PROPERTY
@given(household_lines(), targets, targets)
def test_surviving_lines_keep_their_place_and_never_gain(lines, quantity, tolerance):
    change = plan_pledge_change(lines, quantity, tolerance)
    after = apply_pledge_change(lines, change, "new", 1000)
    before = {line.line_id: line for line in lines}
    for line in after:
        if line.line_id == "new":
            continue
        old = before[line.line_id]
        assert line.queue_pos == old.queue_pos
        assert line.quantity <= old.quantity
        assert line.tolerance <= old.tolerance
    assert not set(change.updates) & set(change.deletes)
    assert all(qt != (0, 0) for qt in change.updates.values())
    assert change.append != (0, 0)


@PROPERTY
@given(household_lines(), targets, targets)
def test_an_earlier_line_never_loses_units_while_a_later_one_keeps_some(lines, quantity, tolerance):
    change = plan_pledge_change(lines, quantity, tolerance)
    after = {line.line_id: line for line in apply_pledge_change(lines, change, "new", 1000)}
    gone = QueueLine(None, 0, 0, 0)
    ordered = sorted(lines, key=lambda line: line.queue_pos)
    for i, earlier in enumerate(ordered):
        now = after.get(earlier.line_id, gone)
        for later in ordered[i + 1 :]:
            later_now = after.get(later.line_id, gone)
            if now.quantity < earlier.quantity:
                assert later_now.quantity == 0
            if now.tolerance < earlier.tolerance:
                assert later_now.tolerance == 0


@PROPERTY
@given(household_lines(), targets, targets)
def test_a_raise_adds_one_line_and_a_lowering_adds_none(lines, quantity, tolerance):
    have_q, have_t = totals(lines)
    change = plan_pledge_change(lines, quantity, tolerance)
    if quantity > have_q or tolerance > have_t:
        assert change.append == (max(0, quantity - have_q), max(0, tolerance - have_t))
    else:
        assert change.append is None
    after = apply_pledge_change(lines, change, "new", 1000)
    assert plan_pledge_change(after, quantity, tolerance).is_empty
