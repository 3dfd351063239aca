"""Delivery day: statements follow the goods handed over, by example and by property."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.allocation import PledgeLine, household_positions, share_fee, share_product_cost
from bulkbuy.domain.delivery import (
    ProductOutcome,
    SubstituteOutcome,
    cost_after_delivery,
    restate,
    share_substitute,
)
from bulkbuy.domain.outcome import ItemInput, work_out_round

PROPERTY = settings(max_examples=200, deadline=None)

# --- examples -------------------------------------------------------------------

TINS = ProductOutcome("tins", 498, {"A": 4, "B": 2}, {"A": 4, "B": 2})  # 6 tins at 83p
POSITIONS = {"A": 1, "B": 2, "C": 3}


@pytest.mark.parametrize(
    ("cost", "allocated", "handed_over", "pence"),
    [
        (498, 6, 6, 498),  # all arrived
        (498, 6, 4, 332),  # 4 of 6 at 83p
        (498, 6, 0, 0),  # none arrived
        (1000, 12, 11, 917),  # 916⅔ rounds to 917
        (5, 2, 1, 3),  # 2½ rounds half up
        (1000, 12, 1, 83),  # 83⅓ rounds down
        (498, 6, 8, 664),  # 2 surplus tins at the same 83p
        (0, 0, 0, 0),
    ],
)
def test_cost_after_delivery_is_the_cost_of_the_units_handed_over(
    cost, allocated, handed_over, pence
):
    assert cost_after_delivery(cost, allocated, handed_over) == pence


@pytest.mark.parametrize("args", [(-1, 6, 6), (498, -1, 0), (498, 6, -1), (498, 0, 0)])
def test_cost_after_delivery_refuses_impossible_numbers(args):
    with pytest.raises(ValueError):
        cost_after_delivery(*args)


def test_2_of_6_tins_did_not_arrive_the_household_that_lost_them_pays_1_66_less():
    before = restate([TINS], [], 0, "by_value", POSITIONS)
    short = ProductOutcome("tins", 498, {"A": 4, "B": 2}, {"A": 4, "B": 0})
    after = restate([short], [], 0, "by_value", POSITIONS)
    assert before.goods == {"tins": {"A": 332, "B": 166}}
    assert after.goods == {"tins": {"A": 332, "B": 0}}
    assert before.totals["B"] - after.totals["B"] == 166


def test_a_household_that_gets_nothing_pays_no_share_of_the_fee():
    short = ProductOutcome("tins", 498, {"A": 4, "B": 2}, {"A": 4, "B": 0})
    result = restate([short], [], 300, "equal", POSITIONS)
    assert result.fee == {"A": 300, "B": 0}
    assert result.totals == {"A": 632, "B": 0}


def test_the_fee_is_shared_again_by_the_new_goods_values():
    short = ProductOutcome("tins", 498, {"A": 4, "B": 2}, {"A": 3, "B": 2})
    result = restate([short], [], 100, "by_value", POSITIONS)
    assert result.goods == {"tins": {"A": 249, "B": 166}}
    assert result.fee == {"A": 60, "B": 40}
    assert result.totals == {"A": 309, "B": 206}


def test_a_substitute_is_charged_at_its_unit_price_and_counts_as_received():
    short = ProductOutcome("tins", 498, {"A": 4, "B": 2}, {"A": 4, "B": 0})
    beans = SubstituteOutcome("beans", 90, {"B": 2})
    result = restate([short], [beans], 100, "equal", POSITIONS)
    assert result.goods == {"tins": {"A": 332, "B": 0}, "beans": {"A": 0, "B": 180}}
    assert result.fee == {"A": 50, "B": 50}
    assert result.totals == {"A": 382, "B": 230}


def test_substitutes_go_to_who_lost_units_earliest_first_one_for_one():
    given_out, spare = share_substitute(3, {"C": 2, "A": 0, "B": 2}, POSITIONS)
    assert given_out == {"A": 0, "B": 2, "C": 1}
    assert spare == 0
    given_out, spare = share_substitute(6, {"C": 2, "A": 0, "B": 2}, POSITIONS)
    assert given_out == {"A": 0, "B": 2, "C": 2}
    assert spare == 2


def test_share_substitute_refuses_a_household_with_no_position():
    with pytest.raises(ValueError):
        share_substitute(1, {"D": 1}, POSITIONS)


def test_every_household_is_in_every_result():
    tins = ProductOutcome("tins", 498, {"A": 4, "B": 2}, {"A": 4, "B": 2})
    rice = ProductOutcome("rice", 300, {"C": 3}, {"C": 0})
    result = restate([tins, rice], [], 90, "by_value", POSITIONS)
    assert result.goods == {"tins": {"A": 332, "B": 166, "C": 0}, "rice": {"A": 0, "B": 0, "C": 0}}
    assert result.fee == {"A": 60, "B": 30, "C": 0}
    assert set(result.totals) == {"A", "B", "C"}


def test_a_household_whose_units_did_not_change_can_pay_up_to_2p_more():
    # 109p for 100 units (1.09p each). Ours keeps all 41 of its units; the nine
    # others keep 1 each. Before, ours paid 44p (44.69 exact: its spare penny went to
    # larger remainders). Now 50 units cost 54.5p -> 55p: ours 45.1 exact, and with
    # ten remainders of 0.1 the one spare penny is the latest position's: 46p.
    others = {i: n for i, n in enumerate([8, 8, 8, 9, 9, 9, 2, 5, 1])}
    allocated = {"ours": 41, **others}
    handed = {"ours": 41, **dict.fromkeys(others, 1)}
    positions = {"ours": 100, **{i: i + 1 for i in others}}
    before = restate([ProductOutcome("x", 109, allocated, allocated)], [], 0, "equal", positions)
    after = restate([ProductOutcome("x", 109, allocated, handed)], [], 0, "equal", positions)
    assert before.goods["x"]["ours"] == 44
    assert after.goods["x"]["ours"] == 46


def test_product_positions_keep_the_close_time_penny_where_it_was():
    # Round positions: A before B. For this product B pledged first, so at close A paid
    # the spare penny; with the product's own positions it still does.
    tins = ProductOutcome("tins", 1001, {"A": 1, "B": 1}, {"A": 1, "B": 1}, {"A": 5, "B": 4})
    assert restate([tins], [], 0, "equal", POSITIONS).goods == {"tins": {"A": 501, "B": 500}}


@pytest.mark.parametrize(
    ("products", "substitutes", "fee"),
    [
        ([TINS], [], -1),
        ([TINS, TINS], [], 0),
        ([TINS], [SubstituteOutcome("tins", 90, {"A": 1})], 0),
        ([ProductOutcome("x", 10, {"A": -1}, {"A": 0})], [], 0),
        ([ProductOutcome("x", 10, {"A": 0}, {"A": 1})], [], 0),
        ([ProductOutcome("x", 10, {"D": 1}, {"D": 1})], [], 0),
        ([TINS], [SubstituteOutcome("beans", -1, {"A": 1})], 0),
    ],
    ids=[
        "negative fee",
        "two products with the same id",
        "a substitute with a product's id",
        "negative units",
        "a cost for no units",
        "a household with no position",
        "negative substitute price",
    ],
)
def test_restate_refuses_what_cannot_be(products, substitutes, fee):
    with pytest.raises(ValueError):
        restate(products, substitutes, fee, "by_value", POSITIONS)


# --- properties -------------------------------------------------------------------

HOUSEHOLDS = ["h0", "h1", "h2", "h3", "h4", "h5"]


@st.composite
def deliveries(draw, changes=True):
    """Products of a round at close and on delivery day, some short, some with surplus."""
    households = draw(st.lists(st.sampled_from(HOUSEHOLDS), min_size=1, max_size=6, unique=True))
    round_positions = dict(
        zip(households, draw(st.permutations(range(1, len(households) + 1))), strict=True)
    )
    products = []
    for item in range(draw(st.integers(1, 3))):
        allocated = {h: draw(st.integers(0, 12)) for h in households if draw(st.booleans())}
        cost = draw(st.integers(0, 6000)) if sum(allocated.values()) else 0
        handed = dict(allocated)
        if changes:
            for h in handed:
                handed[h] = draw(st.sampled_from([handed[h], 0, draw(st.integers(0, 15))]))
        positions = dict(
            zip(allocated, draw(st.permutations(range(10, 10 + len(allocated)))), strict=True)
        )
        products.append(ProductOutcome(f"p{item}", cost, allocated, handed, positions))
    substitutes = []
    if changes and draw(st.booleans()):
        units = {h: draw(st.integers(0, 3)) for h in households}
        substitutes.append(SubstituteOutcome("sub", draw(st.integers(0, 500)), units))
    fee = draw(st.integers(0, 3000))
    fee_mode = draw(st.sampled_from(["by_value", "equal"]))
    return products, substitutes, fee, fee_mode, round_positions


def present(products, substitutes):
    """Every household any product was allocated to or any substitute went to."""
    return {h for p in products for h in p.allocated} | {h for s in substitutes for h in s.units}


def close_time(product):
    """The close-time split of one product, as the closing service makes it."""
    return share_product_cost(product.cost_pence, product.allocated, product.positions)


@PROPERTY
@given(deliveries())
def test_every_penny_is_accounted_for(case):
    products, substitutes, fee, fee_mode, positions = case
    result = restate(products, substitutes, fee, fee_mode, positions)
    households = present(products, substitutes)
    anybody_gets_anything = False
    for product in products:
        shares = result.goods[product.item_id]
        assert set(shares) == households
        handed = sum(product.handed_over.values())
        assert sum(shares.values()) == cost_after_delivery(
            product.cost_pence, sum(product.allocated.values()), handed
        )
        anybody_gets_anything |= handed > 0
        for household, share in shares.items():
            if product.handed_over.get(household, 0) == 0:
                assert share == 0
    for substitute in substitutes:
        for household in households:
            units = substitute.units.get(household, 0)
            assert result.goods["sub"][household] == units * substitute.unit_pence
            anybody_gets_anything |= units > 0
    assert set(result.fee) == set(result.totals) == households
    assert sum(result.fee.values()) == (fee if anybody_gets_anything else 0)
    for household in households:
        goods = sum(shares[household] for shares in result.goods.values())
        assert result.totals[household] == goods + result.fee[household]


@PROPERTY
@given(deliveries(changes=False))
def test_when_everything_arrives_the_statements_are_those_of_the_close(case):
    products, _, fee, fee_mode, positions = case
    result = restate(products, [], fee, fee_mode, positions)
    households = present(products, [])
    goods_value = dict.fromkeys(households, 0)
    received = dict.fromkeys(households, 0)
    for product in products:
        before = close_time(product)
        for household in households:
            assert result.goods[product.item_id][household] == before.get(household, 0)
            goods_value[household] += before.get(household, 0)
            received[household] += product.allocated.get(household, 0)
    assert result.fee == share_fee(fee, goods_value, positions, fee_mode, received=received)


@PROPERTY
@given(deliveries())
def test_a_households_pence_move_with_its_units_to_within_2_5p(case):
    products, substitutes, fee, fee_mode, positions = case
    result = restate(products, substitutes, fee, fee_mode, positions)
    for product in products:
        allocated_total = sum(product.allocated.values())
        if not allocated_total:
            continue
        price = Fraction(product.cost_pence, allocated_total)
        before = close_time(product)
        for household, had in product.allocated.items():
            now = product.handed_over[household]
            change = result.goods[product.item_id][household] - before[household]
            assert abs(change - price * (now - had)) < Fraction(5, 2)
            if now == had:
                assert abs(change) <= 2
            if now < had:
                assert change <= 2
                if price * (had - now) >= Fraction(3, 2):
                    assert change <= 0
                if price * (had - now) >= Fraction(5, 2):
                    assert change < 0


@PROPERTY
@given(deliveries(), st.randoms(use_true_random=False))
def test_restatement_does_not_depend_on_input_order(case, random):
    products, substitutes, fee, fee_mode, positions = case

    def shuffled(mapping):
        items = list(mapping.items())
        random.shuffle(items)
        return dict(items)

    reordered = [
        ProductOutcome(
            p.item_id, p.cost_pence, shuffled(p.allocated), shuffled(p.handed_over),
            shuffled(p.positions),
        )
        for p in products
    ]
    random.shuffle(reordered)
    substitutes2 = [SubstituteOutcome(s.item_id, s.unit_pence, shuffled(s.units))
                    for s in substitutes]
    assert restate(reordered, substitutes2, fee, fee_mode, shuffled(positions)) == restate(
        products, substitutes, fee, fee_mode, positions
    )


@PROPERTY
@given(
    st.integers(0, 30),
    st.dictionaries(st.sampled_from(HOUSEHOLDS), st.integers(0, 8), min_size=1),
    st.permutations(range(len(HOUSEHOLDS))),
)
def test_substitutes_go_one_for_one_earliest_first(units, lost, order):
    positions = dict(zip(HOUSEHOLDS, order, strict=True))
    given_out, spare = share_substitute(units, lost, positions)
    assert set(given_out) == set(lost)
    assert sum(given_out.values()) + spare == units
    for household, count in given_out.items():
        assert 0 <= count <= lost[household]
        if count:
            for other in lost:
                if positions[other] < positions[household]:
                    assert given_out[other] == lost[other]
    if spare:
        assert given_out == lost


@PROPERTY
@given(
    st.lists(st.tuples(st.sampled_from(HOUSEHOLDS), st.integers(0, 9), st.integers(0, 4)),
             max_size=8),
    st.integers(1, 12),
    st.integers(0, 5000),
    st.integers(0, 3000),
    st.sampled_from(["by_value", "equal"]),
)
def test_nothing_changed_restates_exactly_what_the_round_closed_with(
    raw, case_size, price, fee, fee_mode
):
    lines = [PledgeLine(h, pos, q, t) for pos, (h, q, t) in enumerate(raw, start=1)]
    outcome = work_out_round([ItemInput("tins", case_size, price, lines)], fee, fee_mode=fee_mode)
    allocation = outcome.allocations["tins"]
    product = ProductOutcome(
        "tins", allocation.cases * price, allocation.units, allocation.units,
        household_positions(lines),
    )
    result = restate([product], [], fee, fee_mode, household_positions(lines))
    for household in allocation.units:
        assert result.goods["tins"][household] == outcome.goods[household].get("tins", 0)
        assert result.fee[household] == outcome.fees[household]
        assert result.totals[household] == outcome.household_total(household)
