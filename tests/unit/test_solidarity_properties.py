"""Property tests: the solidarity pot's invariants hold for any claims and balance."""

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.solidarity import Claim, PotRule, apply_to_bill, share_pot, wanted_help

PROPERTY = settings(max_examples=200, deadline=None)

balances = st.integers(0, 20_000)


@st.composite
def claim_lists(draw, max_claims=6):
    """Claims of distinct households at distinct (not necessarily dense) positions."""
    households = draw(st.lists(st.integers(1, 50), max_size=max_claims, unique=True))
    positions = draw(
        st.lists(
            st.integers(0, 1000), min_size=len(households), max_size=len(households), unique=True
        )
    )
    return [
        Claim(h, pos, draw(st.integers(0, 1500)), draw(st.integers(0, 8000)))
        for h, pos in zip(households, positions, strict=True)
    ]


@st.composite
def rules(draw):
    share = draw(
        st.sampled_from([0, 1, Fraction(1, 2), Fraction(1, 3)])
        | st.builds(Fraction, st.integers(0, 7), st.just(7))
    )
    cap = draw(st.none() | st.integers(0, 3000))
    return PotRule(goods_share=share, cap_pence=cap)


@PROPERTY
@given(balances, claim_lists(), rules())
def test_the_pot_never_goes_negative_and_spends_what_it_can(balance, claims, rule):
    share = share_pot(balance, claims, rule)
    assert 0 <= share.spent_pence <= balance
    assert share.left_pence == balance - share.spent_pence >= 0
    assert share.spent_pence == sum(h.total_pence for h in share.helps.values())
    assert share.spent_pence == min(balance, share.wanted_pence)
    assert set(share.helps) == {claim.household_id for claim in claims}


@PROPERTY
@given(balances, claim_lists(), rules())
def test_nobody_gets_more_than_it_owes_the_share_or_the_cap(balance, claims, rule):
    share = share_pot(balance, claims, rule)
    for claim in claims:
        help_ = share.helps[claim.household_id]
        assert 0 <= help_.fee_pence <= claim.fee_pence
        assert 0 <= help_.goods_pence <= math.floor(claim.goods_pence * Fraction(rule.goods_share))
        assert help_.total_pence <= claim.fee_pence + claim.goods_pence
        if rule.cap_pence is not None:
            assert help_.total_pence <= rule.cap_pence


@PROPERTY
@given(balances, claim_lists(), rules())
def test_fees_come_first(balance, claims, rule):
    share = share_pot(balance, claims, rule)
    if any(h.goods_pence for h in share.helps.values()):
        for claim in claims:
            want = wanted_help(claim, rule)
            assert share.helps[claim.household_id].fee_pence == want.fee_pence


@PROPERTY
@given(claim_lists(), rules(), st.integers(0, 5000))
def test_everyone_gets_all_they_want_when_the_pot_covers_it(claims, rule, extra):
    wanted = {c.household_id: wanted_help(c, rule) for c in claims}
    balance = sum(w.total_pence for w in wanted.values()) + extra
    share = share_pot(balance, claims, rule)
    assert share.helps == wanted
    assert share.covered_all
    assert share.left_pence == extra


@PROPERTY
@given(balances, claim_lists(), rules())
def test_statements_and_the_order_still_add_up(balance, claims, rule):
    share = share_pot(balance, claims, rule)
    pays = {
        c.household_id: apply_to_bill(c.goods_pence, c.fee_pence, share.helps[c.household_id])
        for c in claims
    }
    for claim in claims:
        help_ = share.helps[claim.household_id]
        assert pays[claim.household_id] == claim.goods_pence + claim.fee_pence - help_.total_pence
        assert pays[claim.household_id] >= 0
    # Supplier order plus fees = what households pay + what the pot pays.
    owed = sum(c.goods_pence + c.fee_pence for c in claims)
    assert sum(pays.values()) + share.spent_pence == owed


@PROPERTY
@given(balances, claim_lists(), rules(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_of_the_claims(balance, claims, rule, rnd):
    shuffled = list(claims)
    rnd.shuffle(shuffled)
    assert share_pot(balance, shuffled, rule) == share_pot(balance, claims, rule)


@PROPERTY
@given(balances, st.integers(1, 3000), claim_lists(), rules())
def test_more_balance_never_gives_anyone_more_than_a_penny_less(balance, more, claims, rule):
    # Largest remainder is not monotonic (test_solidarity: the Alabama paradox),
    # but the pot spends no less and each step can cost a household at most 1p.
    before = share_pot(balance, claims, rule)
    after = share_pot(balance + more, claims, rule)
    assert after.spent_pence >= before.spent_pence
    for h, was in before.helps.items():
        now = after.helps[h]
        assert now.fee_pence >= was.fee_pence - 1
        assert now.goods_pence >= was.goods_pence - 1
        assert now.total_pence >= was.total_pence - 1
