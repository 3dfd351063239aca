"""Property: nobody's statement is ever more than the maximum they consented to."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bulkbuy.domain.allocation import PledgeLine
from bulkbuy.domain.outcome import ItemInput, consented_maximum, work_out_round


@st.composite
def rounds(draw):
    households = list(range(draw(st.integers(1, 6))))
    items = []
    queue = 0
    for item_id in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, 12))
        price = draw(st.integers(0, 5000))
        lines = []
        for household in households:
            if draw(st.booleans()):
                queue += draw(st.integers(1, 3))
                lines.append(PledgeLine(household, queue, draw(st.integers(0, 15)),
                                        draw(st.integers(0, 6))))
        lines = [line for line in lines if line.quantity or line.tolerance]
        items.append(ItemInput(item_id, size, price, lines))
    fee = draw(st.integers(0, 3000))
    fee_mode = draw(st.sampled_from(["by_value", "equal"]))
    mode = draw(st.sampled_from(["first_come", "pro_rata"]))
    minimum = draw(st.one_of(st.none(), st.integers(1, 20000)))
    return items, fee, fee_mode, mode, minimum


@settings(max_examples=500, deadline=None)
@given(rounds())
def test_no_statement_exceeds_the_consented_maximum(case):
    items, fee, fee_mode, mode, minimum = case
    outcome = work_out_round(items, fee, fee_mode=fee_mode, allocation_mode=mode)
    if minimum is not None and outcome.goods_total < minimum:
        return  # the round fails: nobody pays anything
    households = {line.household_id for item in items for line in item.lines}
    for household in households:
        wanted = {
            item.item_id: (
                sum(x.quantity + x.tolerance for x in item.lines if x.household_id == household),
                item.case_size,
                item.case_price_pence,
            )
            for item in items
        }
        most = consented_maximum(wanted, fee, fee_mode=fee_mode, min_order_pence=minimum)
        assert outcome.household_total(household) <= most
