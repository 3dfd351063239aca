"""The sentence on each statement line says why a household gets what it gets."""

from bulkbuy.domain.explain import explain_line


def test_a_box_that_did_not_fill_costs_nothing():
    text = explain_line(asked=3, offered_extra=0, units=0, extra_units=0, case_size=12,
                        cases=0, total_asked=9)
    assert text == "The case did not fill, so you pay nothing for it."


def test_a_full_order_says_so():
    assert explain_line(asked=3, offered_extra=2, units=3, extra_units=0, case_size=12,
                        cases=1, total_asked=12) == "You get all you asked for."


def test_extra_units_taken_to_fill_a_box_are_named():
    text = explain_line(asked=2, offered_extra=2, units=4, extra_units=2, case_size=4,
                        cases=1, total_asked=2)
    assert text == "You get 2 extra to fill a case, as you offered."


def test_the_last_box_short_explains_fewer_units():
    # case size 5, pledges 4 then 2: one box; the later household gets 1 of 2.
    text = explain_line(asked=2, offered_extra=0, units=1, extra_units=0, case_size=5,
                        cases=1, total_asked=6)
    assert text == "The last case was 4 short, so the latest orders got fewer."


def test_a_cap_on_boxes_is_named():
    text = explain_line(asked=5, offered_extra=0, units=2, extra_units=0, case_size=6,
                        cases=2, total_asked=20, max_cases=2)
    assert text == "Only 2 cases could be ordered, so the latest orders got fewer."


def test_a_fair_share_is_explained_as_such_in_pro_rata_rounds():
    # boxes of 10, A asks 10 and B asks 5: one box, shared 7 and 3.
    text = explain_line(asked=10, offered_extra=0, units=7, extra_units=0, case_size=10,
                        cases=1, total_asked=15, allocation_mode="pro_rata")
    assert text == "There was not enough for every order, so everyone got a fair share."
