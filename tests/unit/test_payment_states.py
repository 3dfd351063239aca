"""The payment state tables (bulkbuy.domain.payment_states), as rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bulkbuy.domain.payment_states import (
    ATTEMPT,
    ATTEMPT_EVENT_FOR,
    REFUND,
    STATEMENT,
    TABLES,
    IllegalMove,
    move,
)
from bulkbuy.domain.statuses import OPEN_TO_PAYMENT, OWED, UNANSWERED_ATTEMPTS

ROOT = Path(__file__).resolve().parents[2]


def test_the_sweep_charges_a_due_statement():
    assert move(STATEMENT, "due", "sweep_charges") == "charging"


def test_a_paid_statement_cannot_be_charged_again():
    for event in ("sweep_charges", "resident_pays_by_card"):
        with pytest.raises(IllegalMove, match="paid"):
            move(STATEMENT, "paid", event)


def test_a_statement_needing_the_resident_is_paid_on_our_page_not_by_the_sweep():
    assert move(STATEMENT, "needs_action", "resident_pays_by_card") == "charging"
    with pytest.raises(IllegalMove):
        move(STATEMENT, "needs_action", "sweep_charges")


def test_cash_and_write_offs_are_refused_while_a_card_is_being_charged():
    for event in ("cash_pays_rest", "write_off"):
        with pytest.raises(IllegalMove):
            move(STATEMENT, "charging", event)
    assert STATEMENT.sources("cash_pays_rest") == OPEN_TO_PAYMENT
    assert STATEMENT.sources("write_off") == OPEN_TO_PAYMENT


def test_a_card_answer_credits_any_statement_still_owed():
    assert STATEMENT.sources("card_pays_rest") == OWED


def test_a_charge_stripe_never_acted_on_leaves_the_statement_owed_again():
    assert move(STATEMENT, "charging", "charge_undone") == "due"
    assert move(STATEMENT, "charging", "needs_resident") == "needs_action"


def test_a_cancelled_round_cancels_every_statement_once():
    assert set(STATEMENT.sources("round_cancelled")) == set(STATEMENT.states) - {"cancelled"}
    with pytest.raises(IllegalMove):
        move(STATEMENT, "cancelled", "round_cancelled")


def test_a_cancelled_statement_is_final():
    assert not [m for m in STATEMENT.moves if m.source == "cancelled"]


def test_a_succeeded_attempt_never_moves_again():
    for event in ATTEMPT.events():
        with pytest.raises(IllegalMove):
            move(ATTEMPT, "succeeded", event)


def test_a_late_success_outranks_any_earlier_no():
    for status in ("requires_action", "declined", "canceled", *UNANSWERED_ATTEMPTS):
        assert move(ATTEMPT, status, "succeeded") == "succeeded"


def test_a_definite_answer_is_never_forgotten_as_a_lost_one():
    for status in ("requires_action", "declined", "canceled"):
        with pytest.raises(IllegalMove):
            move(ATTEMPT, status, "answer_lost")


def test_only_an_unanswered_attempt_is_undone():
    assert ATTEMPT.sources("undone") == UNANSWERED_ATTEMPTS
    assert ATTEMPT.target("undone") == "canceled"


def test_every_reported_status_has_its_event():
    assert set(ATTEMPT_EVENT_FOR) == set(ATTEMPT.states)
    assert set(ATTEMPT_EVENT_FOR.values()) <= set(ATTEMPT.events())


def test_a_refund_is_marked_unknown_by_the_claim_that_takes_it_to_stripe():
    assert move(REFUND, "pending", "claimed") == "unknown"
    assert move(REFUND, "unknown", "claimed") == "unknown"


def test_a_failed_refund_is_final_and_is_asked_again_as_a_new_one():
    for event in REFUND.events():
        with pytest.raises(IllegalMove):
            move(REFUND, "failed", event)
    assert REFUND.initial == ("pending",)


def test_every_move_says_why_and_each_event_has_one_target():
    for table in TABLES:
        for m in table.moves:
            assert m.reason and len(m.reason) < 120
        for event in table.events():
            assert table.target(event) in table.states


def test_a_new_record_starts_only_where_its_table_says():
    assert STATEMENT.start("due") == "due"
    with pytest.raises(IllegalMove):
        ATTEMPT.start("succeeded")


def test_the_diagrams_in_docs_payments_md_are_the_tables():
    """Regenerate with `python scripts/payment_diagram.py --write`."""
    spec = importlib.util.spec_from_file_location(
        "payment_diagram", ROOT / "scripts" / "payment_diagram.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = (ROOT / "docs" / "payments.md").read_text(encoding="utf-8")
    assert script.with_diagrams(text) == text, (
        "docs/payments.md differs from the tables: python scripts/payment_diagram.py --write")


def test_a_reversed_cash_entry_leaves_the_statement_owed_again():
    assert move(STATEMENT, "paid", "cash_reversed") == "due"
    assert move(STATEMENT, "due", "cash_reversed") == "due"
    assert move(STATEMENT, "needs_action", "cash_reversed_card_waits") == "needs_action"
    # Not while a card is being charged, after a write-off, or once the round is cancelled
    # (the cash is handed back instead).
    for status in ("charging", "settled", "cancelled"):
        for event in ("cash_reversed", "cash_reversed_card_waits"):
            with pytest.raises(IllegalMove):
                move(STATEMENT, status, event)


def test_an_undone_write_off_leaves_the_statement_owed_again():
    assert move(STATEMENT, "settled", "write_off_undone") == "due"
    assert STATEMENT.sources("write_off_undone") == ("settled",)
    with pytest.raises(IllegalMove):
        move(STATEMENT, "cancelled", "write_off_undone")
