"""Statuses are defined once (bulkbuy.domain.statuses) and the database allows exactly
those: the named sets the app asks about are made of them."""

from __future__ import annotations

import pytest

from bulkbuy.domain import statuses
from bulkbuy.domain.statuses import AttemptStatus, RefundStatus, RoundStatus, StatementStatus
from bulkbuy.models import CardPayment, CardRefund, Round, Statement


def _check_text(model, name: str) -> str:
    [check] = [c for c in model.__table__.constraints
               if c.name == f"ck_{model.__tablename__}_{name}"]
    return str(check.sqltext)


@pytest.mark.parametrize("model, column, enum", [
    (Round, "status", RoundStatus),
    (Statement, "payment_status", StatementStatus),
    (CardPayment, "status", AttemptStatus),
    (CardRefund, "status", RefundStatus),
])
def test_the_database_allows_exactly_the_domains_statuses(model, column, enum):
    name = "payment_status_known" if column == "payment_status" else "status_known"
    quoted = ", ".join(f"'{status.value}'" for status in enum)
    assert _check_text(model, name) == f"{column} IN ({quoted})"


@pytest.mark.parametrize("named, enum", [
    (statuses.FINISHED_ROUNDS, RoundStatus), (statuses.CHARGEABLE_ROUNDS, RoundStatus),
    (statuses.COLLECTING_ROUNDS, RoundStatus), (statuses.LISTED_ROUNDS, RoundStatus),
    (statuses.CANCELLABLE_AFTER_CLOSE, RoundStatus), (statuses.OWED, StatementStatus),
    (statuses.OPEN_TO_PAYMENT, StatementStatus),
    (statuses.UNANSWERED_ATTEMPTS, AttemptStatus), (statuses.FINAL_ATTEMPTS, AttemptStatus),
    (statuses.UNANSWERED_REFUNDS, RefundStatus),
])
def test_every_named_set_is_made_of_known_statuses(named, enum):
    assert named and all(isinstance(status, enum) for status in named)


def test_a_statement_open_to_payment_is_owed_and_cash_never_meets_a_charge_under_way():
    assert set(statuses.OPEN_TO_PAYMENT) < set(statuses.OWED)
    assert StatementStatus.CHARGING in statuses.OWED
    assert StatementStatus.CHARGING not in statuses.OPEN_TO_PAYMENT


def test_a_status_is_its_plain_string():
    assert RoundStatus.OPEN == "open" and str(StatementStatus.NEEDS_ACTION) == "needs_action"
    assert set(statuses.UNANSWERED_ATTEMPTS).isdisjoint(statuses.FINAL_ATTEMPTS)
    assert set(statuses.UNANSWERED_ATTEMPTS) | set(statuses.FINAL_ATTEMPTS) == set(
        AttemptStatus)
