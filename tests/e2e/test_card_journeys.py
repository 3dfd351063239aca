"""Paying by card, in Debian's Chromium, against localstripe (a fake Stripe and Stripe.js).

The live server here (`card_live_server`, tests/e2e/conftest.py) has Stripe
settings pointing at one localstripe for the run, whose signed webhooks go to
the server's /stripe/webhook. localstripe's Stripe.js renders plain text
inputs inside #card-element (placeholders number, exp_month, exp_year, cvc,
postal_code) and, for 3-D Secure, a box with "Complete authentication" /
"Fail authentication" buttons added to <body>.

Every page visited gets `check_page` (axe, 44px targets, 320px reflow), the
card pages with the fake card fields too. Only while localstripe's 3-D Secure
box is open are its two buttons left out of the 44px check (FAKE_3DS_BUTTONS
says why). Every page's console is watched: a Content Security Policy
violation, or an uncaught script error, fails the journey.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from bulkbuy import sweeps
from bulkbuy.extensions import db
from bulkbuy.models import CardPayment, Round, SavedCard, Statement, utcnow
from bulkbuy.services.payments import saved_cards as cards
from bulkbuy.sweeps import sweep_rounds
from tests import factories, stripe_helpers
from tests.e2e.conftest import check_no_horizontal_scroll, check_page, check_target_sizes, scan

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the `chromium` fixture then skips (fails when CI=true) and says why
    Page = expect = None

PASSWORD = factories.PASSWORD
TOMATOES = (("Tinned tomatoes", 12, 1000),)   # 12 a box, £10 a box

#: localstripe's 3-D Secure box (a <div> it adds to <body>, with no id or class).
#: Its two buttons are 21px tall. It stands in for the bank's own page, which real
#: Stripe.js shows in Stripe's iframe (its sizes are the bank's, not ours), so the
#: 44px check leaves out these two buttons, and nothing else. axe and the 320px
#: check run on everything, the box included. The fake card fields inside
#: #card-element pass every check, so nothing there is left out.
FAKE_3DS_BUTTONS = ("Complete authentication", "Fail authentication")

#: Reported by the page itself, so no violation is missed even if Chromium words
#: its console message differently.
_REPORT_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""


# --- pages, console and checks ----------------------------------------------------------------

class Console:
    """Console errors, CSP reports and uncaught errors of one page."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _message(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def assert_clean(self) -> None:
        csp = [e for e in self.errors
               if "Content Security Policy" in e or "CSP violation" in e]
        assert not csp, "Content Security Policy violations:\n" + "\n".join(csp)
        uncaught = [e for e in self.errors if e.startswith("uncaught:")]
        assert not uncaught, "uncaught script errors:\n" + "\n".join(uncaught)


def open_page(card_context) -> tuple[Page, Console]:
    context = card_context()
    context.add_init_script(_REPORT_CSP)
    page = context.new_page()
    return page, Console(page)


def check_page_under_fake_3ds_box(page: Page) -> None:
    """`check_page` while localstripe's 3-D Secure box is open (see FAKE_3DS_BUTTONS).

    The box's buttons (localstripe's, not ours: too small for axe's target-size
    rule, depending on how the box happens to lay out) are made `visibility: hidden`
    (which keeps the layout as it is) while axe scans and the targets are measured,
    then shown again.
    """
    hidden = page.evaluate("""(names) => {
      const found = [...document.querySelectorAll('body > div > button')]
        .filter((b) => names.includes(b.textContent));
      for (const b of found) b.style.visibility = 'hidden';
      return found.length;
    }""", list(FAKE_3DS_BUTTONS))
    assert hidden == len(FAKE_3DS_BUTTONS), "localstripe's 3-D Secure box is not open"
    try:
        scan(page)
        check_target_sizes(page)
    finally:
        page.evaluate("""(names) => {
          for (const b of document.querySelectorAll('body > div > button')) {
            if (names.includes(b.textContent)) b.style.visibility = '';
          }
        }""", list(FAKE_3DS_BUTTONS))
    check_no_horizontal_scroll(page)


# --- steps ------------------------------------------------------------------------------------

def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your rounds")


def type_card(page: Page, number: str) -> None:
    """Type a test card into localstripe's fake card fields (12/34, CVC 123)."""
    fields = page.locator("#card-element")
    for placeholder, value in (("number", number), ("exp_month", "12"), ("exp_year", "34"),
                               ("cvc", "123"), ("postal_code", "E1 6AN")):
        fields.locator(f"input[placeholder={placeholder}]").fill(value)


def closed_round_with_card(live_app, number: str) -> dict:
    """One resident (r1@oak.test) ordered a box of tomatoes (£10), saved `number` and
    agreed to pay by card; the round has closed; the payment sweep has run."""
    with live_app.app_context():
        w, (statement,) = stripe_helpers.closed_card_round(
            residents=1, numbers=(number,), units=12)
        swept = sweeps.sweep_payments(utcnow(), config=current_app.config)
        found = {"round_id": w.round.id, "statement_id": statement.id,
                 "needs_action": swept.needs_action, "errors": swept.errors}
        db.session.remove()
    return found


def statement_status(live_app, statement_id: int) -> tuple[str, str | None, int, int]:
    with live_app.app_context():
        s = db.session.get(Statement, statement_id)
        found = (s.payment_status, s.needs_action_reason, s.total_pence, s.paid_pence)
        db.session.remove()
    return found


def _statement_id(live_app, round_id: int, household_id: int) -> int:
    with live_app.app_context():
        found = db.session.scalar(select(Statement.id).where(
            Statement.round_id == round_id, Statement.household_id == household_id))
        db.session.remove()
    return found


# --- journeys ---------------------------------------------------------------------------------

def test_resident_saves_a_card_and_is_shown_as_paid(card_live_app, card_context):
    with card_live_app.app_context():
        w = factories.world(residents=1, products=TOMATOES)
        round_id, item_id = w.round.id, w.round.items[0].id
        household_id = w.households[0].id
        db.session.remove()

    page, console = open_page(card_context)
    sign_in(page, "r1@oak.test")
    page.goto(f"/rounds/{round_id}")
    page.locator(f"#quantity-{item_id}").fill("12")
    page.locator(f"#item-{item_id}").get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("You want 12 of Tinned tomatoes. Saved.")
    page.get_by_role("link", name="Check my order").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    section = page.locator(f"#round-{round_id}")
    expect(section).to_contain_text("The most it can cost: £10")
    expect(section).not_to_contain_text("You pay by card")
    check_page(page)                                   # my orders, before
    section.get_by_label(re.compile(r"^I agree: when orders close")).check()
    section.get_by_role("button", name="Pay by card").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Save your card")
    expect(page.get_by_text("When orders close, we work out what you owe.")).to_be_visible()
    expect(page.get_by_text("It will be no more than £10.")).to_be_visible()
    expect(page.locator("#card-element input")).to_have_count(5)   # Stripe.js mounted
    check_page(page)                                   # the card page
    console.assert_clean()
    with card_live_app.app_context():
        consent = cards.consent_of(round_id, household_id)
        assert consent is not None and consent.max_pence == 1000
        db.session.remove()

    type_card(page, "4242")                            # a typing slip: Stripe says no
    page.get_by_role("button", name="Save card").click()
    expect(page.locator("#stripe-message")).to_contain_text(
        "Nothing was taken. Please check the card and try again.")  # words from the page
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your card")
    console.assert_clean()

    type_card(page, stripe_helpers.CARD_OK)
    page.get_by_role("button", name="Save card").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    expect(page).to_have_url(re.compile(rf"/my-orders#round-{round_id}$"))
    expect(page.get_by_role("status")).to_have_text(
        "Your card is saved. We take the money when orders close.")
    expect(section).to_contain_text(
        "You pay by card (ending 4242). We take no more than £10.")
    expect(section.get_by_role("button", name=re.compile("^Pay by card"))).to_have_count(0)
    check_page(page)                                   # my orders, paying by card
    console.assert_clean()
    with card_live_app.app_context():
        card = db.session.scalar(select(SavedCard).where(SavedCard.household_id == household_id))
        assert (card.status, card.last4) == ("saved", "4242")
        db.session.remove()

    # The deadline passes: the round sweep closes it, the payment sweep charges the card.
    with card_live_app.app_context():
        closes_at = db.session.get(Round, round_id).closes_at
        swept = sweep_rounds(closes_at + timedelta(minutes=1))
        assert [result.round_id for result in swept.closed] == [round_id]
        paid = sweeps.sweep_payments(closes_at + timedelta(minutes=2),
                                       config=current_app.config)
        assert (paid.charged, paid.errors) == (1, [])
        db.session.remove()
    status, _reason, total, paid_pence = statement_status(
        card_live_app, _statement_id(card_live_app, round_id, household_id))
    assert (status, total, paid_pence) == ("paid", 1000, 1000)

    page.goto(f"/rounds/{round_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Test round")
    expect(page.get_by_role("row", name=re.compile("^Paid in full"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Pay now"))).to_have_count(0)
    expect(page.get_by_text("Your card payment needs you.")).to_have_count(0)
    check_page(page)                                   # the closed round, paid
    page.get_by_role("navigation").get_by_role("link", name="Rounds").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your rounds")
    expect(page.get_by_role("heading", name="To pay")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("^Pay now"))).to_have_count(0)
    check_page(page)                                   # home, nothing to pay
    console.assert_clean()


def test_bank_asks_the_resident_to_confirm_a_card_payment(card_live_app, card_context):
    made = closed_round_with_card(card_live_app, stripe_helpers.CARD_NEEDS_AUTH)
    assert (made["needs_action"], made["errors"]) == (1, [])
    statement_id = made["statement_id"]
    assert statement_status(card_live_app, statement_id)[:2] == ("needs_action",
                                                                 "authentication")

    page, console = open_page(card_context)
    sign_in(page, "r1@oak.test")
    to_pay = page.get_by_role("listitem").filter(has_text="Test round: you still owe £10.")
    expect(to_pay).to_contain_text("Your card payment needs you.")
    check_page(page)                                   # home, a payment needs them
    to_pay.get_by_role("link", name="Pay now for Test round").click()

    expect(page).to_have_url(re.compile(rf"/pay/{statement_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay for your order")
    expect(page.get_by_text("Still to pay: £10.")).to_be_visible()
    expect(page.get_by_text("Your bank wants you to confirm this payment.")).to_be_visible()
    confirm = page.get_by_role("button", name="Confirm with my bank")
    expect(confirm).to_be_visible()
    check_page(page)                                   # pay page, needs the bank
    console.assert_clean()
    confirm.click()

    complete = page.get_by_role("button", name="Complete authentication")
    expect(complete).to_be_visible()                   # localstripe's 3-D Secure box
    expect(page.locator("#stripe-message")).to_have_text("Please wait…")
    check_page_under_fake_3ds_box(page)                # the bank's box open
    complete.click()

    expect(page).to_have_url(re.compile(rf"/pay/{statement_id}$"))
    expect(page.locator("#pay-state")).to_have_text("Paid in full. Thank you.")
    # (No check of the "Thank you. You have paid £10." message here: localstripe's
    # webhook, 1 s after the payment, may settle it before our page's own check.)
    expect(page.get_by_role("button", name="Confirm with my bank")).to_have_count(0)
    check_page(page)                                   # pay page, paid
    console.assert_clean()
    assert statement_status(card_live_app, statement_id)[0] == "paid"
    with card_live_app.app_context():
        attempt = db.session.scalar(select(CardPayment).where(
            CardPayment.statement_id == statement_id).order_by(CardPayment.attempt.desc()))
        assert (attempt.status, attempt.amount_pence) == ("succeeded", 1000)
        db.session.remove()

    page.get_by_role("navigation").get_by_role("link", name="Rounds").click()
    expect(page.get_by_role("link", name=re.compile("^Pay now"))).to_have_count(0)
    expect(page.get_by_text("Your card payment needs you.")).to_have_count(0)


def test_resident_pays_with_another_card_after_a_decline(card_live_app, card_context):
    made = closed_round_with_card(card_live_app, stripe_helpers.CARD_DECLINED_ON_CHARGE)
    assert (made["needs_action"], made["errors"]) == (1, [])
    statement_id = made["statement_id"]
    assert statement_status(card_live_app, statement_id)[:2] == ("needs_action", "declined")

    page, console = open_page(card_context)
    sign_in(page, "r1@oak.test")
    page.goto(f"/pay/{statement_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pay for your order")
    expect(page.get_by_text("Your card did not work. Nothing was taken.")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm with my bank")).to_have_count(0)
    check_page(page)                                   # pay page, declined
    page.get_by_role("button", name="Pay with another card").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Pay by card")
    expect(page.get_by_text("You will pay £10 now.")).to_be_visible()
    expect(page.locator("#card-element input")).to_have_count(5)
    check_page(page)                                   # card page, paying now
    console.assert_clean()
    type_card(page, stripe_helpers.CARD_OK)
    page.get_by_role("button", name="Pay £10").click()

    expect(page).to_have_url(re.compile(rf"/pay/{statement_id}$"))
    expect(page.locator("#pay-state")).to_have_text("Paid in full. Thank you.")
    expect(page.get_by_role("status")).to_have_text("Thank you. You have paid £10.")
    check_page(page)                                   # pay page, paid
    console.assert_clean()
    assert statement_status(card_live_app, statement_id)[0] == "paid"
    with card_live_app.app_context():
        card = cards.card_of(db.session.get(Statement, statement_id).household_id)
        assert card.last4 == "4242"                    # the new card is kept
        db.session.remove()
