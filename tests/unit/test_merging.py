"""Merging two households' pledges: every line kept with its place, quantities summed."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.merging import Line, MergedLine, ProductRow, merge_pledges, preview

PROPERTY = settings(max_examples=300, deadline=None)

KEPT = [Line("k1", "rice", 3, 2, 0), Line("k2", "beans", 9, 1, 1)]
MERGED = [Line("m1", "rice", 5, 4, 2), Line("m2", "oil", 1, 1, 0)]


def test_every_line_becomes_the_kept_households_in_queue_order():
    assert merge_pledges(KEPT, MERGED) == [
        MergedLine("m2", "oil", 1, 1, 0, moved=True),
        MergedLine("k1", "rice", 3, 2, 0, moved=False),
        MergedLine("m1", "rice", 5, 4, 2, moved=True),
        MergedLine("k2", "beans", 9, 1, 1, moved=False),
    ]


def test_the_preview_sums_each_product_and_lists_it_by_its_earliest_place():
    assert preview(KEPT, MERGED) == [
        ProductRow("oil", (0, 0), (1, 0), (1, 0)),
        ProductRow("rice", (2, 0), (4, 2), (6, 2)),
        ProductRow("beans", (1, 1), (0, 0), (1, 1)),
    ]


def test_nothing_to_merge_gives_nothing():
    assert merge_pledges([], []) == []
    assert preview([], []) == []


@pytest.mark.parametrize("bad", [
    [Line("x", "rice", 1, -1, 0)], [Line("x", "rice", 1, 1, -2)], [Line("x", "rice", -1, 1, 0)],
])
def test_negative_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        merge_pledges(KEPT, bad)


def test_a_queue_position_or_line_used_twice_is_refused():
    with pytest.raises(ValueError, match="queue position"):
        merge_pledges(KEPT, [Line("m9", "rice", 3, 1, 0)])
    with pytest.raises(ValueError, match="line_id"):
        merge_pledges(KEPT, [Line("k1", "rice", 30, 1, 0)])


def test_numbers_that_are_not_whole_are_refused():
    with pytest.raises(TypeError):
        merge_pledges([Line("x", "rice", 1, 1.5, 0)], [])
    with pytest.raises(TypeError):
        merge_pledges([Line("x", "rice", 1, True, 0)], [])


@st.composite
def two_households(draw):
    """Lines of two households, with queue positions unique across both."""
    count = draw(st.integers(0, 12))
    positions = draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count,
                              unique=True))
    lines = [Line(f"line{n}", draw(st.sampled_from("abc")), pos, draw(st.integers(0, 50)),
                  draw(st.integers(0, 50))) for n, pos in enumerate(positions)]
    split = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    kept = [line for line, theirs in zip(lines, split, strict=True) if not theirs]
    merged = [line for line, theirs in zip(lines, split, strict=True) if theirs]
    return kept, merged


def _units(lines) -> Counter:
    totals: Counter = Counter()
    for line in lines:
        totals[(line.product, "quantity")] += line.quantity
        totals[(line.product, "tolerance")] += line.tolerance
    return totals


@PROPERTY
@given(two_households())
def test_units_pledged_per_product_are_unchanged(households):
    kept, merged = households
    assert _units(merge_pledges(kept, merged)) == _units(kept) + _units(merged)
    for row in preview(kept, merged):
        assert row.combined == (row.kept[0] + row.merged[0], row.kept[1] + row.merged[1])


@PROPERTY
@given(two_households(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_lines(households, random):
    kept, merged = households
    shuffled_kept, shuffled_merged = list(kept), list(merged)
    random.shuffle(shuffled_kept)
    random.shuffle(shuffled_merged)
    assert merge_pledges(shuffled_kept, shuffled_merged) == merge_pledges(kept, merged)
    assert preview(shuffled_kept, shuffled_merged) == preview(kept, merged)


@PROPERTY
@given(two_households())
def test_nothing_is_negative_and_every_line_keeps_its_place(households):
    kept, merged = households
    result = merge_pledges(kept, merged)
    assert all(line.quantity >= 0 and line.tolerance >= 0 for line in result)
    assert [line.queue_pos for line in result] == sorted(line.queue_pos for line in result)
    before = {line.line_id: (line.product, line.queue_pos, line.quantity, line.tolerance)
              for line in kept + merged}
    assert {line.line_id: (line.product, line.queue_pos, line.quantity, line.tolerance)
            for line in result} == before
    assert {line.line_id for line in result if line.moved} == {line.line_id for line in merged}
