"""Case progress: how full each box is, in plain words."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.allocation import cases_to_order
from bulkbuy.domain.progress import CaseFill, case_fill, describe_fill


def test_a_started_case_shows_how_many_more_fill_it():
    assert case_fill(12, 9, 0) == CaseFill(
        case_size=12, full_cases=0, in_next=9, to_fill=3, tolerance_covers_next=False
    )


def test_nothing_started_means_nothing_to_fill():
    fill = case_fill(12, 24, 5)
    assert (fill.full_cases, fill.in_next, fill.to_fill) == (2, 0, 0)
    assert not fill.tolerance_covers_next


def test_tolerance_that_completes_the_started_case_is_flagged():
    assert case_fill(12, 9, 3).tolerance_covers_next
    assert not case_fill(12, 9, 2).tolerance_covers_next
    assert not case_fill(12, 0, 20).tolerance_covers_next  # tolerance never starts a box


@pytest.mark.parametrize(
    ("quantity", "words"),
    [
        (0, "No orders yet — 12 fill a case"),
        (9, "9 of 12 — 3 more fill it"),
        (11, "11 of 12 — 1 more fills it"),
        (12, "1 case full"),
        (36, "3 cases full"),
        (14, "1 case full. 2 of 12 towards the next case — 10 more fill it"),
        (35, "2 cases full. 11 of 12 towards the next case — 1 more fills it"),
    ],
)
def test_fill_is_described_in_plain_words(quantity, words):
    assert describe_fill(case_fill(12, quantity, 0)) == words


def test_a_box_of_one_uses_the_singular():
    assert describe_fill(case_fill(1, 0, 0)) == "No orders yet — 1 fills a case"


def test_describe_fill_can_be_translated_with_an_ngettext():
    calls = []

    def ngettext(singular, plural, num, **variables):
        calls.append(singular)
        variables.setdefault("num", num)
        return ("[" + (singular if num == 1 else plural) + "]") % variables

    assert describe_fill(case_fill(12, 9, 0), ngettext) == "[9 of 12 — 3 more fill it]"
    assert calls == ["%(have)d of %(size)d — %(num)d more fills it"]


@pytest.mark.parametrize("args", [(0, 1, 0), (12, -1, 0), (12, 1, -1)])
def test_case_fill_refuses_impossible_numbers(args):
    with pytest.raises(ValueError):
        case_fill(*args)


@settings(max_examples=500, deadline=None)
@given(st.integers(1, 50), st.integers(0, 500), st.integers(0, 100))
def test_progress_agrees_with_the_cases_that_would_be_ordered(case_size, quantity, tolerance):
    fill = case_fill(case_size, quantity, tolerance)
    assert fill.cases_if_closed_now == cases_to_order(case_size, quantity, tolerance)
    assert fill.full_cases * case_size + fill.in_next == quantity
    assert 0 <= fill.in_next < case_size
    assert fill.to_fill == (case_size - fill.in_next if fill.in_next else 0)
    words = describe_fill(fill)
    assert "  " not in words
    assert len(words.split()) <= 25  # reading age 9: short sentences
