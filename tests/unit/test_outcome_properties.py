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


@settings(max_examples=300, deadline=None)
@given(rounds(), st.data())
def test_a_round_put_together_from_products_worked_out_alone_is_the_round(case, data):
    """What My orders does while a round is open (round_view.round_likely): each product
    kept as worked out alone, one product's lines changed and only it worked out again,
    the parts put together in any order: the same pence for everyone as working out the
    whole changed round at once, as the close does."""
    from bulkbuy.domain.outcome import combine_items, work_out_item

    items, fee, fee_mode, mode, _minimum = case
    items = [ItemInput(i.item_id, i.case_size, i.case_price_pence, i.lines,
                       data.draw(st.one_of(st.none(), st.integers(0, 4)))) for i in items]
    kept = {item.item_id: work_out_item(item, mode) for item in items}
    changed = data.draw(st.sampled_from(items))
    lines = [PledgeLine(line.household_id, line.queue_pos, line.quantity + extra, line.tolerance)
             for line, extra in zip(changed.lines, data.draw(st.lists(
                 st.integers(0, 5), min_size=len(changed.lines),
                 max_size=len(changed.lines))), strict=True)]
    if lines and data.draw(st.booleans()):  # a household raises its pledge: a second line
        last = max(line.queue_pos for item in items for line in item.lines)
        lines.append(PledgeLine(data.draw(st.sampled_from(lines)).household_id, last + 1,
                                data.draw(st.integers(1, 9)), 0))
    now = [ItemInput(i.item_id, i.case_size, i.case_price_pence, lines, i.max_cases)
           if i.item_id == changed.item_id else i for i in items]
    kept[changed.item_id] = work_out_item(now[items.index(changed)], mode)
    order = data.draw(st.permutations([i.item_id for i in items]))

    together = combine_items([kept[item_id] for item_id in order], fee, fee_mode=fee_mode)

    assert together == work_out_round(now, fee, fee_mode=fee_mode, allocation_mode=mode)
    assert together.goods_total + together.fee_total == sum(
        together.household_total(h) for h in together.goods)
