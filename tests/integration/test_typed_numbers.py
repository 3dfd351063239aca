"""One parser for every number a person types (round page and tablet alike): digits
of any script are read ("٣" is 3, as an Arabic or Hindi phone keyboard types it);
spaces around are fine; signs, separators and decimals are refused. Before, the
tablet took "1_0" and " 4 " through int() while the round page refused "٣".
"""

from __future__ import annotations

import pytest

from bulkbuy.validation import whole_number
from tests import factories
from tests.integration.test_bad_input import pledge, tomatoes
from tests.integration.test_tablet import oak as oak  # noqa: F401 - the tablet's fixture
from tests.integration.test_tablet import take_turn, tap, written
from tests.pages import lines_of, page

READ_AS = [("3", 3), (" 4 ", 4), ("٣", 3), ("३", 3), ("১২", 12), ("０７", 7)]
REFUSED = ["1_0", "1,0", "+3", "-1", "1.5", "3 4", "", "abc", "1e3"]


@pytest.mark.parametrize(("typed", "number"), READ_AS)
def test_digits_of_any_script_are_read(typed, number):
    assert whole_number(typed, "Number", maximum=999) == number


@pytest.mark.parametrize("typed", REFUSED)
def test_signs_separators_and_decimals_are_refused(typed):
    with pytest.raises(ValueError):
        whole_number(typed, "Number", maximum=999)


def test_the_round_page_takes_digits_of_another_script(client, auth):
    w = factories.world()
    auth.login("r1@oak.test")

    assert pledge(client, w, "٣").status_code == 303

    assert [quantity for _pos, quantity, _tolerance in lines_of(w.households[0].id)] == [3]


@pytest.mark.parametrize(("typed", "number"), READ_AS)
def test_the_tablet_reads_a_typed_quantity_as_the_round_page_does(client, oak, typed, number):
    take_turn(client, oak.households[0], "1234")

    assert tap(client, tomatoes(oak), typed).status_code == 303

    assert [quantity for _pos, quantity, _tolerance in lines_of(oak.households[0].id)] == [number]


@pytest.mark.parametrize("typed", ["1_0", "+3", "1.5", ""])
def test_the_tablet_refuses_what_the_round_page_refuses_and_changes_nothing(client, oak, typed):
    take_turn(client, oak.households[0], "1234")
    before = written()

    response = tap(client, tomatoes(oak), typed)

    assert response.status_code == 303
    assert written() == before
    assert "You can have from 0 to 999." in page(client.get("/tablet/order"))
