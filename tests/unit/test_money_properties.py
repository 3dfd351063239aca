"""Property tests: splits are exact and fair; formatting and parsing agree."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.money import (
    ceil_pence,
    format_pence,
    format_unit_price,
    parse_pounds,
    split_pence,
)

PROPERTY = settings(max_examples=500, deadline=None)

exact_weights = st.integers(0, 1000) | st.builds(Fraction, st.integers(0, 1000), st.integers(1, 50))


@st.composite
def weights_and_tie_order(draw):
    keys = draw(st.lists(st.integers(0, 50), min_size=1, max_size=8, unique=True))
    weights = dict(
        zip(
            keys, draw(st.lists(exact_weights, min_size=len(keys), max_size=len(keys))), strict=True
        )
    )
    if not any(weights.values()):
        weights[keys[0]] = 1
    tie_order = draw(st.permutations(keys))
    return weights, tie_order


@PROPERTY
@given(weights_and_tie_order(), st.integers(0, 10**9))
def test_split_sums_exactly_and_each_share_is_within_a_penny(split, total):
    weights, tie_order = split
    shares = split_pence(total, weights, tie_order)
    assert set(shares) == set(weights)
    assert sum(shares.values()) == total
    weight_sum = sum(weights.values(), Fraction(0))
    for key, share in shares.items():
        exact = total * Fraction(weights[key]) / weight_sum
        assert exact - 1 < share < exact + 1
        if weights[key] == 0:
            assert share == 0


@PROPERTY
@given(weights_and_tie_order(), st.integers(0, 10**6))
def test_spare_pennies_go_by_largest_remainder_then_tie_order(split, total):
    weights, tie_order = split
    shares = split_pence(total, weights, tie_order)
    weight_sum = sum(weights.values(), Fraction(0))
    exact = {k: total * Fraction(w) / weight_sum for k, w in weights.items()}
    extra = {k: shares[k] - int(exact[k]) for k in weights}  # exact >= 0 so int() floors
    remainder = {k: exact[k] - int(exact[k]) for k in weights}
    assert all(e in (0, 1) for e in extra.values())
    rank = {k: i for i, k in enumerate(tie_order)}
    for a in weights:
        for b in weights:
            if extra[a] == 1 and extra[b] == 0:
                # a was preferred: a larger remainder, or an equal one and earlier in tie_order
                assert remainder[a] > remainder[b] or (
                    remainder[a] == remainder[b] and rank[a] < rank[b]
                )


@PROPERTY
@given(weights_and_tie_order(), st.integers(0, 10**6), st.randoms(use_true_random=False))
def test_split_does_not_depend_on_the_order_of_the_weights(split, total, random):
    weights, tie_order = split
    items = list(weights.items())
    random.shuffle(items)
    assert split_pence(total, dict(items), tie_order) == split_pence(total, weights, tie_order)


@PROPERTY
@given(st.integers(0, 100_000_000))
def test_formatted_pence_parse_back_to_the_same_pence(pence):
    shown = format_pence(pence)
    assert parse_pounds(shown) == pence
    assert parse_pounds(f"{pence // 100}.{pence % 100:02d}") == pence


@PROPERTY
@given(st.integers(-(10**9), 10**9))
def test_negative_amounts_show_a_minus_before_the_pound_sign(pence):
    shown = format_pence(pence)
    assert shown.startswith("-£") == (pence < 0)
    assert shown.lstrip("-") == format_pence(abs(pence))


@PROPERTY
@given(st.integers(0, 10**7), st.integers(1, 500))
def test_unit_price_is_exact_or_says_about_and_is_within_half_a_penny(case_price, case_size):
    shown = format_unit_price(case_price, case_size)
    exact = Fraction(case_price, case_size)
    assert shown.startswith("about ") == (exact.denominator != 1)
    pence = parse_pounds(shown.removeprefix("about "))
    assert -Fraction(1, 2) < pence - exact <= Fraction(1, 2)


@PROPERTY
@given(st.fractions(min_value=0, max_value=10**6))
def test_ceil_pence_never_rounds_a_maximum_down(value):
    assert value <= ceil_pence(value) < value + 1


@PROPERTY
@given(st.text(max_size=20))
def test_parse_pounds_gives_pence_in_range_or_a_plain_error(text):
    try:
        pence = parse_pounds(text)
    except ValueError as error:
        assert str(error)[0].isupper()
    else:
        assert isinstance(pence, int)
        assert 0 <= pence <= 100_000_000
