"""The demo's localstripe (`make run`) keeps what it holds across a restart.

`make run` starts localstripe with a state file in instance/, so a card saved in the
demo is still there the next day. These start the real localstripe twice on one file.
"""

from __future__ import annotations

import pytest
import requests
import stripe

from devtools import localstripe_server
from devtools.localstripe_server import TEST_KEY, LocalstripeServer

pytestmark = pytest.mark.skipif(not localstripe_server.is_installed(),
                                reason="localstripe is not installed")


def client_for(base_url: str, session: requests.Session) -> stripe.StripeClient:
    return stripe.StripeClient(TEST_KEY, base_addresses={"api": base_url},
                               http_client=stripe.RequestsClient(session=session),
                               max_network_retries=0)


def make_customers(base_url: str, count: int) -> list[str]:
    with requests.Session() as session:
        client = client_for(base_url, session)
        return [client.v1.customers.create(params={"email": f"household{n}@example.org"}).id
                for n in range(count)]


def customer_ids(base_url: str) -> set[str]:
    with requests.Session() as session:
        return {c.id for c in client_for(base_url, session).v1.customers.list(
            params={"limit": 100}).auto_paging_iter()}


@pytest.mark.parametrize("count", [30, 1010], ids=["small", "over-1000-objects"])
def test_a_restarted_localstripe_still_holds_what_it_held(tmp_path, count):
    """Past 1000 objects, unpickling the state used to write the state file while reading
    it (localstripe saves on every change), and the demo's cards were lost."""
    state = tmp_path / "localstripe.pickle"
    with LocalstripeServer(state_file=str(state)) as first:
        made = set(make_customers(first, count))

    with LocalstripeServer(state_file=str(state)) as second:
        assert customer_ids(second) == made
        [another] = make_customers(second, 1)

    with LocalstripeServer(state_file=str(state)) as third:
        assert customer_ids(third) == made | {another}


def test_without_a_state_file_each_localstripe_starts_empty(tmp_path):
    with LocalstripeServer() as first:
        make_customers(first, 2)
    with LocalstripeServer() as second:
        assert customer_ids(second) == set()
