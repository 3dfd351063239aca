"""The solidarity pot: the examples that pin each rule of how it is shared."""

from fractions import Fraction

import pytest

from bulkbuy.domain.solidarity import (
    NO_HELP,
    Claim,
    PotHelp,
    PotRule,
    apply_to_bill,
    share_pot,
    wanted_help,
)

HALF = PotRule(goods_share=Fraction(1, 2))


def fees(share):
    return {h: help_.fee_pence for h, help_ in share.helps.items()}


def goods(share):
    return {h: help_.goods_pence for h, help_ in share.helps.items()}


# --- fees first, then goods --------------------------------------------------


def test_a_ten_pound_pot_pays_three_fees_then_shares_four_pounds_of_goods_fairly():
    # Fees £2 each; half their goods would be £5, £3 and £2: £10 wanted, £4 left.
    claims = [Claim(1, 1, 200, 1000), Claim(2, 2, 200, 600), Claim(3, 3, 200, 400)]
    share = share_pot(1000, claims, HALF)
    assert fees(share) == {1: 200, 2: 200, 3: 200}
    assert goods(share) == {1: 200, 2: 120, 3: 80}  # £4 in proportion 5 : 3 : 2
    assert share.spent_pence == 1000
    assert share.left_pence == 0
    assert share.wanted_pence == 1600
    assert not share.covered_all


def test_a_pot_too_small_for_the_fees_shares_them_and_the_earlier_household_wins_the_odd_penny():
    # £5 over three £2 fees: 166⅔p each; the two odd pennies go to positions 4 and 7.
    claims = [Claim(30, 9, 200, 500), Claim(10, 4, 200, 500), Claim(20, 7, 200, 500)]
    share = share_pot(500, claims, HALF)
    assert fees(share) == {10: 167, 20: 167, 30: 166}
    assert goods(share) == {10: 0, 20: 0, 30: 0}  # no goods help until every fee is paid
    assert share.left_pence == 0


def test_fees_are_shared_in_proportion_to_each_fee_when_the_pot_is_short():
    claims = [Claim(1, 1, 300, 0), Claim(2, 2, 100, 0)]
    assert fees(share_pot(200, claims, HALF)) == {1: 150, 2: 50}


def test_goods_help_is_shared_by_largest_remainder_with_the_earlier_position_on_ties():
    # Fees paid, 1p left for two equal goods wants: the earlier household gets it.
    claims = [Claim(2, 8, 100, 400), Claim(1, 5, 100, 400)]
    share = share_pot(201, claims, HALF)
    assert fees(share) == {1: 100, 2: 100}
    assert goods(share) == {1: 1, 2: 0}


def test_a_pot_that_covers_everything_pays_all_that_is_wanted_and_keeps_the_rest():
    claims = [Claim(1, 1, 200, 1000), Claim(2, 2, 150, 0)]
    share = share_pot(5000, claims, HALF)
    assert share.helps == {1: PotHelp(200, 500), 2: PotHelp(150, 0)}
    assert share.spent_pence == 850
    assert share.left_pence == 4150
    assert share.covered_all


def test_the_goods_share_rounds_down_to_whole_pence():
    # Half of 333p is 166½p: the pot pays 166p, never more than the set share.
    assert wanted_help(Claim(1, 1, 0, 333), HALF) == PotHelp(0, 166)
    assert wanted_help(Claim(1, 1, 0, 1000), PotRule(Fraction(1, 3))) == PotHelp(0, 333)


def test_an_empty_pot_pays_nothing():
    share = share_pot(0, [Claim(1, 1, 200, 1000)], HALF)
    assert share.helps == {1: NO_HELP}
    assert share.spent_pence == share.left_pence == 0


def test_no_supported_households_spends_nothing():
    share = share_pot(1000, [], HALF)
    assert share.helps == {}
    assert share.spent_pence == 0
    assert share.left_pence == 1000


def test_a_share_of_nothing_pays_only_fees():
    share = share_pot(1000, [Claim(1, 1, 200, 1000)], PotRule(goods_share=0))
    assert share.helps == {1: PotHelp(200, 0)}


# --- the cap -------------------------------------------------------------------


def test_the_cap_limits_a_household_fee_included():
    # Cap £5: fee £2 is paid, then goods help £3 (not the £5 half its goods would be).
    rule = PotRule(goods_share=Fraction(1, 2), cap_pence=500)
    claims = [Claim(1, 1, 200, 1000), Claim(2, 2, 200, 200)]
    share = share_pot(5000, claims, rule)
    assert share.helps == {1: PotHelp(200, 300), 2: PotHelp(200, 100)}
    assert share.left_pence == 5000 - 800


def test_a_cap_below_the_fee_pays_only_the_cap_of_the_fee():
    rule = PotRule(goods_share=1, cap_pence=150)
    assert share_pot(1000, [Claim(1, 1, 200, 1000)], rule).helps == {1: PotHelp(150, 0)}


def test_a_cap_of_nothing_pays_nothing():
    rule = PotRule(goods_share=1, cap_pence=0)
    assert share_pot(1000, [Claim(1, 1, 200, 1000)], rule).helps == {1: NO_HELP}


# --- what the household still pays ------------------------------------------------


def test_the_household_pays_goods_plus_fee_minus_the_pot_help():
    assert apply_to_bill(1000, 200, PotHelp(200, 300)) == 700
    assert apply_to_bill(1000, 200, NO_HELP) == 1200


def test_help_for_a_household_that_made_no_claim_is_nothing():
    share = share_pot(1000, [Claim(1, 1, 200, 0)], HALF)
    assert share.help_for(1) == PotHelp(200, 0)
    assert share.help_for(99) == NO_HELP


@pytest.mark.parametrize(
    "help_", [PotHelp(201, 0), PotHelp(0, 1001), PotHelp(-1, 0)], ids=["fee", "goods", "neg"]
)
def test_the_bill_refuses_help_above_what_is_owed(help_):
    with pytest.raises(ValueError):
        apply_to_bill(1000, 200, help_)


# --- what it refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: share_pot(-1, [], HALF),
        lambda: Claim(1, 1, -1, 0),
        lambda: Claim(1, 1, 0, -1),
        lambda: PotRule(Fraction(3, 2)),
        lambda: PotRule(Fraction(-1, 2)),
        lambda: PotRule(Fraction(1, 2), cap_pence=-1),
        lambda: share_pot(100, [Claim(1, 1, 0, 0), Claim(1, 2, 0, 0)], HALF),
        lambda: share_pot(100, [Claim(1, 1, 0, 0), Claim(2, 1, 0, 0)], HALF),
    ],
    ids=[
        "negative balance",
        "negative fee",
        "negative goods",
        "share above 1",
        "share below 0",
        "negative cap",
        "household twice",
        "position twice",
    ],
)
def test_impossible_inputs_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_floats_are_refused():
    with pytest.raises(TypeError):
        PotRule(0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        share_pot(10.0, [], HALF)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Claim(1, 1, 2.5, 0)  # type: ignore[arg-type]


# --- a known limit of largest remainder ---------------------------------------------


def test_more_balance_can_give_one_household_a_penny_less_the_alabama_paradox():
    # Fee wants 1p, 3p, 3p. A 3p pot gives 1p each; a 4p pot gives 0p, 2p, 2p.
    # Largest remainder is not monotonic; the loss is never more than 1p.
    claims = [Claim(1, 1, 1, 0), Claim(2, 2, 3, 0), Claim(3, 3, 3, 0)]
    assert fees(share_pot(3, claims, HALF)) == {1: 1, 2: 1, 3: 1}
    assert fees(share_pot(4, claims, HALF)) == {1: 0, 2: 2, 3: 2}
