"""bulkbuy.domain.impact: the impact report's privacy rule and sums (see its docstring)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkbuy.domain import impact as rules
from bulkbuy.domain.impact import EXACT, FEWER, HIDDEN, Count, RoundFigures

# --- examples ----------------------------------------------------------------------


@pytest.mark.parametrize(("count", "wanted"), [
    (0, Count(EXACT, 0)), (1, Count(FEWER, None)), (4, Count(FEWER, None)),
    (5, Count(EXACT, 5)), (2000, Count(EXACT, 2000)),
])
def test_counts_from_1_to_4_are_fewer_than_5(count, wanted):
    assert rules.shown(count) == wanted


def test_a_count_is_a_whole_number_of_zero_or_more():
    with pytest.raises(TypeError):
        rules.shown(2.0)
    with pytest.raises(TypeError):
        rules.shown(True)
    with pytest.raises(ValueError):
        rules.shown(-1)


def test_hiding_one_of_two_hides_the_other():
    assert rules.split(3, 47) == (Count(FEWER, None), Count(HIDDEN, None))
    assert rules.split(47, 3) == (Count(HIDDEN, None), Count(FEWER, None))
    assert rules.split(2, 3) == (Count(FEWER, None), Count(FEWER, None))
    assert rules.split(0, 12) == (Count(EXACT, 0), Count(EXACT, 12))
    assert rules.split(6, 12) == (Count(EXACT, 6), Count(EXACT, 12))


def test_shares_are_whole_percents_of_shown_counts():
    assert rules.share_percent(5, 8) == 63  # 62.5 rounds up
    assert rules.share_percent(4, 8) is None
    assert rules.share_percent(0, 8) == 0
    assert rules.share_percent(5, 0) is None


def test_per_household_rounds_to_the_nearest_penny():
    assert rules.per_household(1000, 3) == 333
    assert rules.per_household(1001, 2) == 501  # 500.5 → 501
    assert rules.per_household(-1001, 2) == -501
    assert rules.per_household(1000, 0) == 0


def test_totals_add_up_rounds_that_went_ahead_and_count_the_others():
    found = rules.totals([
        RoundFigures("ran", None, 10, 4, 2, 5000, 300, 700, 1, 200, 50),
        RoundFigures("failed", "below_minimum", 3),
        RoundFigures("ran", None, 8, 1, 0, 4000, 300, -100),
        RoundFigures("cancelled", "cancelled_after_close", 9, 9, 0, 9999, 999, 999),
    ])
    assert (found.rounds_run, found.bills, found.new_households, found.assisted_bills) == \
        (2, 18, 5, 2)
    assert (found.goods_pence, found.fees_pence, found.spent_pence) == (9000, 600, 9600)
    assert found.saving_pence == 600 and found.pot_pence == 200
    assert found.not_ahead == {"below_minimum": 1, "cancelled_after_close": 1}
    assert rules.totals([]) == rules.Totals()


def test_a_year_is_charted_by_month_and_longer_by_year():
    assert rules.buckets(date(2025, 12, 20), date(2026, 12, 19))[:2] == ["2025-12", "2026-01"]
    assert len(rules.buckets(date(2025, 12, 20), date(2026, 12, 19))) == 13
    assert rules.buckets(date(2021, 1, 1), date(2025, 12, 31)) == \
        ["2021", "2022", "2023", "2024", "2025"]
    assert rules.buckets(date(2026, 2, 1), date(2026, 1, 1)) == []
    assert rules.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert rules.add_months(date(2026, 3, 15), -12) == date(2025, 3, 15)


# --- properties --------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=100_000)


@given(counts)
def test_a_count_from_1_to_4_is_never_shown(count):
    found = rules.shown(count)
    assert found.value not in (1, 2, 3, 4)
    assert found.chartable not in (1, 2, 3, 4)
    assert found.value in (None, count)


@given(counts, counts)
def test_a_hidden_count_cannot_be_worked_out_from_the_total(part, rest):
    a, b = rules.split(part, rest)
    for count in (a, b):
        assert count.value not in (1, 2, 3, 4)
    if FEWER in (a.kind, b.kind):
        # Whatever is shown exactly, with the total, never pins the hidden one down.
        assert not (a.kind == EXACT and b.kind != EXACT and rest > 0)
        assert not (b.kind == EXACT and a.kind != EXACT and part > 0)


@given(counts, counts)
def test_a_share_never_gives_a_small_count_away(part, extra):
    percent = rules.share_percent(part, part + extra)
    if 0 < part < 5:
        assert percent is None
    elif part + extra > 0:
        assert 0 <= percent <= 100


figures = st.builds(
    RoundFigures,
    outcome=st.sampled_from(("ran", "failed", "cancelled")),
    failed_reason=st.sampled_from((None, "below_minimum", "cancelled_after_close")),
    households=counts, new_households=counts, assisted_households=counts,
    goods_pence=counts, fees_pence=counts,
    saving_pence=st.integers(min_value=-100_000, max_value=100_000),
    pot_pence=counts, time_credit_pence=counts,
)


@given(st.lists(figures, max_size=30), st.randoms())
def test_totals_are_sums_whatever_the_order(rounds, random):
    found = rules.totals(rounds)
    ran = [r for r in rounds if r.outcome == "ran"]
    assert found.rounds_run == len(ran)
    assert found.rounds_not_ahead == len(rounds) - len(ran)
    assert found.spent_pence == sum(r.goods_pence + r.fees_pence for r in ran)
    assert found.saving_pence == sum(r.saving_pence for r in ran)
    assert found.bills == sum(r.households for r in ran)
    shuffled = list(rounds)
    random.shuffle(shuffled)
    assert rules.totals(shuffled) == found


@given(st.integers(min_value=-10**9, max_value=10**9), st.integers(min_value=1, max_value=10**6))
def test_per_household_is_the_nearest_penny(total, households):
    each = rules.per_household(total, households)
    assert abs(each * households - total) * 2 <= households
