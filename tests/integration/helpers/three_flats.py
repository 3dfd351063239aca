"""The round the solidarity pot and time credit tests share: Oak Estate's tins (12 a
case, £10) and rice (25 a case, £31.50), a £3 delivery fee split equally. Flat 1 and
Flat 2 pledge 6 tins each (£5 of goods), Flat 1 first; Flat 3 a case of rice. Every bill
has a £1 fee. The round closes at DEADLINE; AFTER is the close's `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bulkbuy.extensions import db
from tests import factories
from tests.integration.helpers.closing_checks import pledge

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(days=3)
AFTER = DEADLINE + timedelta(minutes=1)


def oak(**kwargs) -> factories.World:
    """Oak Estate with the three flats' pledges (see the module's docstring)."""
    w = factories.world(residents=3, now=T0, closes_in=DEADLINE - T0, **kwargs)
    w.round.delivery_fee_pence = 300
    w.round.fee_split = "equal"
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 6, now=T0)
    pledge(w, 1, "Tinned tomatoes", 6, now=T0 + timedelta(hours=1))
    pledge(w, 2, "Rice", 25, now=T0 + timedelta(hours=2))
    return w
