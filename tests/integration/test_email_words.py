"""Every e-mail, word for word: the templates in bulkbuy/templates/email/ give exactly
the text the e-mails had when they were written in code (plain text: a name with
`<`, `&` or `%` in it stays as typed)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from bulkbuy.extensions import db
from bulkbuy.formatting import YEAR_SHOWN_BEYOND
from bulkbuy.models import OutboxMessage, PledgeLine, Statement, utcnow
from bulkbuy.services import closing, emails, notifications
from tests import factories
from tests.integration.helpers.closing_checks import pledge
from tests.integration.test_mail import AFTER, T0

TITLE = "Veg & <tins> 50%"
ANN = "Ann 100% O'Brien <b>"


def _closed_round() -> factories.World:
    w = factories.world(residents=3, now=T0, closes_in=timedelta(days=3))
    w.round.delivery_fee_pence = 600
    w.round.title = TITLE
    w.residents[0].name = ANN
    db.session.commit()
    pledge(w, 0, "Tinned tomatoes", 8, now=T0)
    pledge(w, 1, "Tinned tomatoes", 4, now=T0)
    pledge(w, 1, "Rice", 3, now=T0)
    assert closing.close_round(w.round.id, AFTER).status == "closed"
    db.session.commit()
    return w


def _mail(prefix: str) -> list[tuple[str, str, str]]:
    """(to, subject, body) of the outbox messages whose key starts with `prefix`, by address."""
    return [(m.to_address, m.subject, m.body) for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.key.startswith(prefix))
        .order_by(OutboxMessage.to_address))]


def test_the_round_results_word_for_word(app):
    w = _closed_round()
    url = f"http://127.0.0.1:5000/rounds/{w.round.id}"
    assert _mail("round-result:") == [
        ("r1@oak.test", f"What you get from {TITLE}",
         f"Hello {ANN},\n\nOrders for {TITLE} are closed. This is what you get:\n\n"
         "Tinned tomatoes: you asked for 8, you get 8, £6.67\nYour share of delivery: £4\n\n"
         f"You owe £10.67.\n\nSee the details: {url}"),
        ("r2@oak.test", f"What you get from {TITLE}",
         f"Hello Resident 2,\n\nOrders for {TITLE} are closed. This is what you get:\n\n"
         "Rice: you asked for 3, you get 0, £0\n"
         "Tinned tomatoes: you asked for 4, you get 4, £3.33\nYour share of delivery: £2\n\n"
         f"You owe £5.33.\n\nSee the details: {url}"),
    ]


def test_a_failed_a_cancelled_round_and_a_reminder_word_for_word(app):
    w = _closed_round()
    url = f"http://127.0.0.1:5000/rounds/{w.round.id}"
    w.round.min_order_pence = 12345
    notifications.queue_round_failed(w.round, [w.households[0].id])
    notifications.queue_round_cancelled(w.round, AFTER)
    db.session.commit()
    assert _mail("round-failed:") == [(
        "r1@oak.test", f"{TITLE} did not go ahead",
        f"Hello {ANN},\n\n{TITLE} did not go ahead. The orders did not reach £123.45.\n"
        f"Nobody pays anything, and nothing will be delivered.\n\n{url}")]
    assert _mail("round-cancelled:")[0] == (
        "r1@oak.test", f"{TITLE} was cancelled",
        f"Hello {ANN},\n\n{TITLE} was cancelled. Nobody pays anything, and nothing will be "
        "delivered.\nIf you already paid, you get all of it back: to your card, or in cash "
        f"at a drop-in session.\n\n{url}")

    w.round.status, w.round.closes_at = "open", AFTER + timedelta(hours=3)
    db.session.execute(delete(PledgeLine).where(PledgeLine.household_id != w.households[0].id))
    db.session.commit()
    assert notifications.queue_reminders(AFTER) == 1
    # A date more than about five months from today (the clock's) is shown with its year.
    year = "" if abs(w.round.closes_at - utcnow()) <= YEAR_SHOWN_BEYOND else " 2026"
    assert _mail("reminder:") == [
        (f"r{n}@oak.test", f"Last day to order: {TITLE}",
         f"Hello Resident {n},\n\n{TITLE} closes Friday 13 March{year}, 12:01pm. You have not "
         f"ordered anything yet.\nOrder here: {url}")
        for n in (2, 3)]


def test_a_card_payment_that_needs_the_resident_word_for_word(app):
    w = _closed_round()
    statement = db.session.scalars(
        select(Statement).where(Statement.household_id == w.households[0].id)).one()
    why = {
        "authentication": "Your bank wants you to confirm the payment.",
        "declined": "Your card did not work.",
        "over_consent": "It is more than you agreed we could take from your card.",
        "anything else": "We could not take the payment from your card.",
    }
    for reason in why:
        notifications.queue_payment_needs_action(statement, reason, AFTER)
    db.session.commit()
    for reason, words in why.items():
        assert _mail(f"payment-needs-action:{statement.id}:{reason}:") == [(
            "r1@oak.test", f"Please pay for {TITLE}",
            f"Hello {ANN},\n\nYou owe £10.67 for {TITLE}.\n{words}\n"
            "Please pay on this page. You can use another card there:\n\n"
            f"http://127.0.0.1:5000/pay/{statement.id}\n\nOr pay in cash at a drop-in session.")]


def test_render_email_gives_the_subject_and_body(app):
    assert emails.render_email(
        "round_cancelled", name="Bo", round_title="Rice", url="http://x/rounds/1"
    ) == ("Rice was cancelled",
          "Hello Bo,\n\nRice was cancelled. Nobody pays anything, and nothing will be "
          "delivered.\nIf you already paid, you get all of it back: to your card, or in cash "
          "at a drop-in session.\n\nhttp://x/rounds/1")
