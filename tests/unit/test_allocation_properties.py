"""Property tests: the allocation and cost-split invariants hold for any pledges."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.allocation import (
    PledgeLine,
    allocate,
    cases_to_order,
    household_positions,
    share_fee,
    share_product_cost,
)

PROPERTY = settings(max_examples=500, deadline=None)

case_sizes = st.integers(min_value=1, max_value=12)
modes = st.sampled_from(["first_come", "pro_rata"])
max_cases_values = st.none() | st.integers(min_value=0, max_value=6)


@st.composite
def pledge_lines(draw, max_lines=12):
    """Lines from up to 5 households with unique (not necessarily dense) queue positions."""
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, 4),  # household
                st.integers(0, 15),  # quantity
                st.integers(0, 15),  # tolerance
            ),
            max_size=max_lines,
        )
    )
    positions = draw(
        st.lists(st.integers(1, 1000), min_size=len(raw), max_size=len(raw), unique=True)
    )
    return [
        PledgeLine(f"h{household}", pos, q, t)
        for (household, q, t), pos in zip(raw, positions, strict=True)
    ]


def wants(lines):
    """Total (quantity, tolerance) per household."""
    result = {}
    for line in lines:
        q, t = result.get(line.household_id, (0, 0))
        result[line.household_id] = (q + line.quantity, t + line.tolerance)
    return result


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values, modes)
def test_allocated_units_sum_to_exactly_the_cases_ordered(case_size, lines, max_cases, mode):
    result = allocate(case_size, lines, max_cases, mode)
    total_q = sum(line.quantity for line in lines)
    total_t = sum(line.tolerance for line in lines)
    assert result.cases == cases_to_order(case_size, total_q, total_t, max_cases)
    assert sum(result.units.values()) == result.cases * case_size
    assert sum(result.line_units.values()) == result.cases * case_size
    assert set(result.units) == {line.household_id for line in lines}
    assert set(result.line_units) == {line.queue_pos for line in lines}
    for household, units in result.units.items():
        own = [line.queue_pos for line in lines if line.household_id == household]
        assert units == sum(result.line_units[pos] for pos in own)


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values, modes)
def test_nobody_gets_more_than_quantity_plus_tolerance(case_size, lines, max_cases, mode):
    result = allocate(case_size, lines, max_cases, mode)
    for line in lines:
        assert 0 <= result.line_units[line.queue_pos] <= line.quantity + line.tolerance
    for household, (q, t) in wants(lines).items():
        assert 0 <= result.tolerance_units[household] <= t
        assert result.units[household] - result.tolerance_units[household] <= q


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values, modes)
def test_everybody_gets_their_quantity_when_the_cases_cover_it(case_size, lines, max_cases, mode):
    result = allocate(case_size, lines, max_cases, mode)
    if result.cases * case_size >= sum(line.quantity for line in lines):
        for line in lines:
            assert result.line_units[line.queue_pos] >= line.quantity
    else:
        # A shortage: nobody gets any tolerance.
        assert not any(result.tolerance_units.values())


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values, modes)
def test_tolerance_never_starts_a_case_and_max_cases_is_respected(
    case_size, lines, max_cases, mode
):
    result = allocate(case_size, lines, max_cases, mode)
    total_q = sum(line.quantity for line in lines)
    assert result.cases * case_size < total_q + case_size  # at most the started case
    assert result.cases * case_size <= total_q + sum(line.tolerance for line in lines)
    if max_cases is not None:
        assert result.cases <= max_cases


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values)
def test_first_come_never_serves_a_later_unit_while_an_earlier_one_goes_short(
    case_size, lines, max_cases
):
    result = allocate(case_size, lines, max_cases, "first_come")
    ordered = sorted(lines, key=lambda line: line.queue_pos)
    got = [result.line_units[line.queue_pos] for line in ordered]
    from_quantity = [min(g, line.quantity) for g, line in zip(got, ordered, strict=True)]
    from_tolerance = [g - q for g, q in zip(got, from_quantity, strict=True)]
    all_quantity_met = all(
        q == line.quantity for q, line in zip(from_quantity, ordered, strict=True)
    )
    for i in range(len(ordered)):
        if from_quantity[i] > 0:
            assert all(from_quantity[j] == ordered[j].quantity for j in range(i))
        if from_tolerance[i] > 0:
            assert all_quantity_met
            assert all(from_tolerance[j] == ordered[j].tolerance for j in range(i))


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values)
def test_pro_rata_shares_stay_within_one_unit_of_proportional(case_size, lines, max_cases):
    result = allocate(case_size, lines, max_cases, "pro_rata")
    per_household = wants(lines)
    total_q = sum(q for q, _ in per_household.values())
    total_t = sum(t for _, t in per_household.values())
    available = result.cases * case_size
    for_quantity = min(available, total_q)
    for_tolerance = available - for_quantity
    for household, (q, t) in per_household.items():
        got_t = result.tolerance_units[household]
        got_q = result.units[household] - got_t
        if total_q:
            assert abs(got_q - Fraction(for_quantity * q, total_q)) < 1
        if total_t:
            assert abs(got_t - Fraction(for_tolerance * t, total_t)) < 1


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values)
def test_pro_rata_never_gives_less_to_a_bigger_or_earlier_equal_want(case_size, lines, max_cases):
    result = allocate(case_size, lines, max_cases, "pro_rata")
    per_household = wants(lines)
    positions = household_positions(lines)
    got = {
        h: (result.units[h] - result.tolerance_units[h], result.tolerance_units[h])
        for h in per_household
    }
    for a in per_household:
        for b in per_household:
            for phase in (0, 1):  # 0: quantity, 1: tolerance
                want_a, want_b = per_household[a][phase], per_household[b][phase]
                if want_a > want_b or (want_a == want_b and positions[a] < positions[b]):
                    assert got[a][phase] >= got[b][phase]


@PROPERTY
@given(case_sizes, pledge_lines(), max_cases_values, modes, st.randoms(use_true_random=False))
def test_allocation_does_not_depend_on_the_order_of_the_lines(
    case_size, lines, max_cases, mode, random
):
    shuffled = list(lines)
    random.shuffle(shuffled)
    assert allocate(case_size, shuffled, max_cases, mode) == allocate(
        case_size, lines, max_cases, mode
    )


# --- cost split -------------------------------------------------------------------


@st.composite
def units_and_positions(draw):
    households = draw(st.lists(st.sampled_from("ABCDEFGH"), min_size=1, max_size=8, unique=True))
    units = {h: draw(st.integers(0, 30)) for h in households}
    positions = dict(
        zip(
            households,
            draw(
                st.lists(
                    st.integers(1, 10_000),
                    min_size=len(households),
                    max_size=len(households),
                    unique=True,
                )
            ),
            strict=True,
        )
    )
    return units, positions


@PROPERTY
@given(units_and_positions(), st.integers(0, 10**7))
def test_product_cost_shares_add_up_to_the_price_to_the_penny(split, total):
    units, positions = split
    if total > 0 and not any(units.values()):
        units[next(iter(units))] = 1
    shares = share_product_cost(total, units, positions)
    assert sum(shares.values()) == total
    all_units = sum(units.values())
    for household, share in shares.items():
        exact = Fraction(total * units[household], all_units) if all_units else Fraction(0)
        assert abs(share - exact) < 1


@PROPERTY
@given(units_and_positions(), st.integers(1, 10**7))
def test_of_two_equal_households_the_later_never_pays_less(split, total):
    units, positions = split
    if not any(units.values()):
        units[next(iter(units))] = 1
    shares = share_product_cost(total, units, positions)
    for a in units:
        for b in units:
            if units[a] == units[b] and positions[a] < positions[b]:
                assert shares[a] <= shares[b]


@PROPERTY
@given(units_and_positions(), st.integers(0, 10**5), st.sampled_from(["by_value", "equal"]))
def test_fee_shares_add_up_and_only_receivers_pay(split, fee, mode):
    goods_value, positions = split
    shares = share_fee(fee, goods_value, positions, mode)
    receivers = [h for h, value in goods_value.items() if value > 0]
    assert set(shares) == set(goods_value)
    assert sum(shares.values()) == (fee if receivers else 0)
    for household, share in shares.items():
        if goods_value[household] == 0:
            assert share == 0
    if mode == "equal" and receivers:
        paid = [shares[h] for h in receivers]
        assert max(paid) - min(paid) <= 1
        for a in receivers:
            for b in receivers:
                if positions[a] < positions[b]:
                    assert shares[a] <= shares[b]
