"""Payments through pages and services, each read as a rule:

1. the organiser's payments page says, per household, how it paid (card, cash), what
   needs the resident and what is still owed, and adds it all up;
2. a household with no saved card pays on its own /pay page through the real routes
   (against localstripe), and is charged once;
3. cash handed back after a closed round is cancelled is recorded once, audited, and
   refused on a round that was not cancelled;
4. our own check after Stripe.js reads the PaymentIntent from Stripe and ignores what
   the browser claims: still requires_action means nothing is credited;
5. an expired card (Stripe's documented 402 card_error "expired_card", from the
   FakeStripe of test_stripe_documented_responses) needs the resident, who is told once.

Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import func, select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import (
    AuditEntry,
    CardPayment,
    CashPayment,
    OutboxMessage,
    Round,
    SavedCard,
    Statement,
    utcnow,
)
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import saved_cards as cards
from tests import factories, stripe_helpers
from tests.integration.test_card_charging import (
    attempts_of,
    stripe_payment_intents,
    succeeded_per_household,
)
from tests.integration.test_stripe_documented_responses import (
    FakeStripe,
    fake_stripe,  # noqa: F401 - the fixture, used by name below
    one_card_round_on_the_fake,
)
from tests.pages import page
from tests.stripe_helpers import CARD_NEEDS_AUTH, CARD_OK, closed_card_round

# --- helpers ----------------------------------------------------------------------------------


def login(client, email: str):
    response = client.post("/login", data={"email": email, "password": factories.PASSWORD})
    assert response.status_code in (302, 303), "could not sign in"
    return response


def sweep(app, now):
    return sweeps.sweep_payments(now, config=app.config)


def reread(model, row_id: int):
    db.session.expire_all()
    return db.session.get(model, row_id)


def card_of_statement(html_text: str, statement_id: int) -> str:
    """The words of one household's card on the payments page, tags stripped, spaces folded."""
    found = re.search(rf'<li class="card" id="statement-{statement_id}">(.*?)</li>',
                      html_text, re.DOTALL)
    assert found, f"no card for statement {statement_id} on the page"
    return words(found.group(1))


def words(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def audits(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def payments_url(w) -> str:
    return f"/organise/{w.group.id}/rounds/{w.round.id}/payments"


# --- 1: the organiser's payments page -----------------------------------------------------------


def test_the_payments_page_says_per_household_how_it_paid_and_adds_it_up(card_app, localstripe):
    """Four households owe £5 each: Flat 1 paid by card (the sweep), Flat 2's card needs
    3-D Secure, Flat 3 paid in cash, Flat 4 has paid nothing and has no card."""
    w, (by_card, needs, in_cash, unpaid) = closed_card_round(
        residents=4, numbers=(CARD_OK, CARD_NEEDS_AUTH, None, None), units=6)
    result = sweep(card_app, utcnow())
    assert (result.charged, result.needs_action) == (1, 1)
    cash_service.record_cash(in_cash, 500, "R-100", actor=w.worker, now=utcnow())
    db.session.commit()
    client = card_app.test_client()
    login(client, w.organiser.email)

    response = client.get(payments_url(w))

    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    text = words(raw)
    assert ("Households owe £20 in all. Paid so far: £10 (cards £5, cash £5). "
            "Still to pay: £10.") in text
    assert "The supplier order with delivery comes to £20." in text
    assert "1 household(s) need to act on a card payment." in text
    # One card payment of £5: 1.5% (7.5p, up to 8p) + 20p.
    assert ("Card fees (estimate at Stripe's standard 1.5% + 20p): £0.28. "
            "The group pays these.") in text
    assert "cash only" not in text

    card = card_of_statement(raw, by_card.id)
    assert "Flat 1" in card and "Owes £5. Paid £5. Paid" in card
    assert "By card: £5." in card
    assert "In cash" not in card and "Not paid" not in card and "Needs action" not in card

    card = card_of_statement(raw, needs.id)
    assert "Flat 2" in card and "Owes £5. Paid £0. Needs action: £5" in card
    assert "Their bank wants them to confirm the payment." in card
    assert "By card" not in card and "In cash" not in card

    card = card_of_statement(raw, in_cash.id)
    assert "Flat 3" in card and "Owes £5. Paid £5. Paid" in card
    assert "In cash: £5." in card
    assert "By card" not in card and "Not paid" not in card

    card = card_of_statement(raw, unpaid.id)
    assert "Flat 4" in card and "Owes £5. Paid £0. Not paid: £5" in card
    assert "No card: cash." in card
    assert "By card" not in card and "In cash" not in card and "Needs action" not in card
    # Cash can still be taken from the two that owe, and not from the two that paid.
    assert (f"/payments/{needs.id}/cash" in raw, f"/payments/{unpaid.id}/cash" in raw) == (
        True, True)
    assert (f"/payments/{by_card.id}/cash" in raw, f"/payments/{in_cash.id}/cash" in raw) == (
        False, False)


# --- 2: paying on our own page with a card typed in there ----------------------------------------


def test_a_household_without_a_card_pays_on_its_own_page_and_is_charged_once(
        card_app, localstripe):
    w, (mine, neighbours) = closed_card_round(residents=2, numbers=(None, None), units=6)
    household = w.households[0]
    assert cards.card_of(household.id) is None
    client = card_app.test_client()
    login(client, w.residents[0].email)

    text = page(client.get(f"/pay/{mine.id}"))
    assert "Still to pay: £5." in text
    assert "Pay by card" in text
    assert "Pay with another card" not in text and "soon" not in text

    # "Pay by card": a SetupIntent for a card typed in now, posted back to /charge.
    response = client.post(f"/pay/{mine.id}/new-card")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "You will pay £5 now." in page(response) and "Pay £5" in page(response)
    assert f'action="/pay/{mine.id}/charge"' in body
    secret = re.search(r'data-secret="([^"]+)"', body).group(1)
    card = db.session.scalar(select(SavedCard).where(SavedCard.household_id == household.id))
    assert card.status == "pending" and secret.startswith(f"{card.setup_intent_id}_secret_")
    setup_intent_id = card.setup_intent_id

    # What Stripe.js does in the browser: the card goes to Stripe, which confirms the
    # SetupIntent. Then the page posts the SetupIntent's id to our /charge.
    stripe = stripe_helpers._client()
    pm = stripe.v1.payment_methods.create(params={"type": "card", "card": {
        "number": CARD_OK, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    assert stripe.v1.setup_intents.confirm(
        setup_intent_id, params={"payment_method": pm.id}).status == "succeeded"
    answer = client.post(f"/pay/{mine.id}/charge", data={
        "setup_intent": setup_intent_id, "next": f"/pay/{mine.id}"})

    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/pay/{mine.id}")
    text = page(client.get(f"/pay/{mine.id}"))
    assert "Thank you. You have paid £5." in text and "Paid in full. Thank you." in text
    statement = reread(Statement, mine.id)
    assert (statement.payment_status, statement.paid_pence) == ("paid", 500)
    [attempt] = attempts_of(statement)
    assert (attempt.attempt, attempt.kind, attempt.status, attempt.amount_pence,
            attempt.credited_pence) == (1, "on_session", "succeeded", 500, 500)
    card = reread(SavedCard, card.id)
    assert (card.status, card.payment_method_id, card.last4) == ("saved", pm.id, "4242")

    # Pressed again (a double click, the back button): nothing more is taken.
    again = client.post(f"/pay/{mine.id}/charge", data={"setup_intent": setup_intent_id})
    assert again.status_code == 303
    assert "There is nothing to pay by card on this now." in page(client.get(f"/pay/{mine.id}"))
    assert succeeded_per_household(localstripe) == {household.id: 1}
    [pi] = stripe_payment_intents(localstripe)
    assert (pi.id, pi.amount, pi.status) == (attempt.payment_intent_id, 500, "succeeded")
    assert reread(Statement, mine.id).paid_pence == 500
    # The neighbour, who did nothing, still owes and was charged nothing.
    assert (reread(Statement, neighbours.id).payment_status,
            reread(Statement, neighbours.id).paid_pence) == ("due", 0)


# --- 3: cash handed back after a cancelled round --------------------------------------------------


def _closed_cash_round():
    """Two households owe £5 each (6 of 12 tins at £10 a box), no cards; the round is
    closed."""
    return closed_card_round(residents=2, numbers=(None, None), units=6)


def _take_cash(client, w, statement, amount: str, receipt: str) -> CashPayment:
    response = client.post(f"{payments_url(w)}/{statement.id}/cash",
                           data={"amount": amount, "receipt": receipt})
    assert response.status_code == 303, page(response)
    db.session.expire_all()
    return db.session.scalar(select(CashPayment).where(CashPayment.receipt_number == receipt))


def test_cash_handed_back_after_cancelling_is_recorded_once_and_audited(client, auth):
    w, (first, second) = _closed_cash_round()
    auth.login(w.organiser.email)
    whole = _take_cash(client, w, first, "5", "R-1")
    part = _take_cash(client, w, second, "2", "R-2")
    assert client.post(f"/organise/{w.group.id}/rounds/{w.round.id}/cancel-after-close"
                       ).status_code == 303
    assert reread(Round, w.round.id).status == "cancelled"
    text = page(client.get(payments_url(w)))
    assert "This round was cancelled after it closed." in text
    assert "I handed back £5 cash (receipt R-1)" in text
    assert "I handed back £2 cash (receipt R-2)" in text
    returned_url = f"{payments_url(w)}/cash/{whole.id}/returned"

    answer = client.post(returned_url)

    assert answer.status_code == 303 and answer.headers["Location"].endswith(payments_url(w))
    text = page(client.get(payments_url(w)))
    assert "Recorded: £5 handed back." in text
    assert "I handed back £5 cash (receipt R-1)" not in text
    assert "I handed back £2 cash (receipt R-2)" in text  # the other is still to hand back
    whole = reread(CashPayment, whole.id)
    assert whole.returned_at is not None and whole.returned_by_id == w.organiser.id
    returned_at = whole.returned_at
    [entry] = audits("cash.returned")
    assert (entry.actor_id, entry.group_id, entry.household_id, entry.subject_type,
            entry.subject_id) == (w.organiser.id, w.group.id, w.households[0].id,
                                  "CashPayment", whole.id)
    assert '"amount_pence": 500' in entry.details and '"receipt_number": "R-1"' in entry.details
    assert reread(CashPayment, part.id).returned_at is None

    # Pressed again: nothing changes, and the page says why.
    again = client.post(returned_url)

    assert again.status_code == 303
    assert "That cash is already recorded as handed back." in page(client.get(payments_url(w)))
    whole = reread(CashPayment, whole.id)
    assert (whole.returned_at, whole.returned_by_id) == (returned_at, w.organiser.id)
    assert len(audits("cash.returned")) == 1


def test_cash_of_a_round_that_was_not_cancelled_is_not_recorded_as_handed_back(client, auth):
    w, (first, _second) = _closed_cash_round()
    auth.login(w.worker.email)
    cash = _take_cash(client, w, first, "5", "R-9")
    assert "I handed back" not in page(client.get(payments_url(w)))

    answer = client.post(f"{payments_url(w)}/cash/{cash.id}/returned")

    assert answer.status_code == 303
    assert "Cash is handed back only when a round is cancelled." in page(
        client.get(payments_url(w)))
    cash = reread(CashPayment, cash.id)
    assert (cash.returned_at, cash.returned_by_id) == (None, None)
    assert audits("cash.returned") == []
    statement = reread(Statement, first.id)
    assert (statement.payment_status, statement.paid_pence) == ("paid", 500)
    assert reread(Round, w.round.id).status == "closed"


# --- 4: our check reads Stripe, not the browser ----------------------------------------------


def test_the_check_after_stripe_js_credits_nothing_while_stripe_still_wants_3d_secure(
        card_app, localstripe):
    w, (statement,) = closed_card_round(residents=1, numbers=(CARD_NEEDS_AUTH,), units=12)
    sweep(card_app, utcnow())
    [attempt] = attempts_of(statement)
    assert attempt.status == "requires_action" and attempt.payment_intent_id
    client = card_app.test_client()
    login(client, w.residents[0].email)
    assert "Confirm with my bank" in page(client.get(f"/pay/{statement.id}"))

    # The browser says it went well (as Stripe.js's return would); Stripe says otherwise.
    answer = client.post(f"/pay/{statement.id}/check", data={
        "payment_intent": attempt.payment_intent_id, "redirect_status": "succeeded",
        "status": "succeeded"})

    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/pay/{statement.id}")
    [pi] = stripe_payment_intents(localstripe)
    assert (pi.id, pi.status) == (attempt.payment_intent_id, "requires_action")
    statement = reread(Statement, statement.id)
    assert (statement.payment_status, statement.needs_action_reason, statement.paid_pence) == (
        "needs_action", "authentication", 0)
    [attempt] = attempts_of(statement)
    assert (attempt.status, attempt.credited_pence) == ("requires_action", 0)
    assert audits("card.paid") == []
    text = page(client.get(f"/pay/{statement.id}"))
    assert "Thank you" not in text and "Paid in full" not in text
    assert "Your bank wants you to confirm this payment." in text
    assert "Confirm with my bank" in text
    assert succeeded_per_household(localstripe) == {}


# --- 5: an expired card (Stripe's documented answer) ----------------------------------------------


def expired_card(fake: FakeStripe, params: dict) -> tuple[int, dict]:
    """Stripe's answer to a charge of an expired card: HTTP 402, a card_error with code
    expired_card, and the PaymentIntent (requires_payment_method) in the error."""
    error = {"type": "card_error", "code": "expired_card", "param": "exp_month",
             "message": "Your card has expired.",
             "doc_url": "https://stripe.com/docs/error-codes/expired-card"}
    pi = fake.payment_intent(params, "requires_payment_method", error)
    return 402, {"error": {**error, "payment_intent": pi}}


def test_an_expired_card_needs_the_resident_with_its_code_recorded_and_one_email(
        card_app, fake_stripe):  # noqa: F811 - the imported fixture
    w, statement = one_card_round_on_the_fake(card_app, fake_stripe)
    fake_stripe.expired_card = lambda params: expired_card(fake_stripe, params)
    fake_stripe.answer = fake_stripe.expired_card
    now = utcnow()

    result = sweep(card_app, now)

    assert (result.charged, result.needs_action, result.unknown) == (0, 1, 0)
    statement = reread(Statement, statement.id)
    assert (statement.payment_status, statement.needs_action_reason, statement.paid_pence) == (
        "needs_action", "declined", 0)
    [attempt] = attempts_of(statement)
    assert (attempt.status, attempt.payment_intent_id, attempt.error_code,
            attempt.credited_pence) == ("declined", "pi_fake1", "expired_card", 0)
    resident = w.residents[0]
    mails = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.key.startswith(f"payment-needs-action:{statement.id}:"))).all()
    assert [(m.key, m.to_address) for m in mails] == [
        (f"payment-needs-action:{statement.id}:declined:{resident.id}", resident.email)]
    assert f"/pay/{statement.id}" in mails[0].body

    # Later sweeps neither charge the expired card again nor tell the household again.
    later = sweep(card_app, now + timedelta(hours=1))

    assert (later.charged, later.needs_action, later.looked_up) == (0, 0, 0)
    assert len([r for r in fake_stripe.requests if r[0] == "POST"]) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.to_address == resident.email,
        OutboxMessage.key.startswith("payment-needs-action:"))) == 1
    assert [a.attempt for a in attempts_of(statement)] == [1]
    assert db.session.scalar(select(func.count()).select_from(CardPayment)) == 1
