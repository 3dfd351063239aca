"""Residents paying by card: agreeing and saving a card, and our "complete payment" page.

Card numbers go from Stripe.js straight to Stripe; these views only ever see
SetupIntent and PaymentIntent ids, and read every outcome from Stripe itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy import access
from bulkbuy.domain.money import format_pence
from bulkbuy.models import Membership, Statement, utcnow
from bulkbuy.payments import bp
from bulkbuy.redirects import same_site_path
from bulkbuy.services import ServiceError
from bulkbuy.services.payments import pay_now as paying
from bulkbuy.services.payments import saved_cards as cards
from bulkbuy.transactions import commit_now, undone_on_error
from bulkbuy.validation import parse_pounds


def _cards_on() -> bool:
    return cards.cards_on(current_app.config)


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _with_stripe_csp(response):
    """Let this page load Stripe.js and let it talk to Stripe (and nothing else new)."""
    config = current_app.config
    js = _origin(config.get("STRIPE_JS_URL")) or "https://js.stripe.com"
    api = _origin(config.get("STRIPE_API_BASE")) or "https://api.stripe.com"
    connect = " ".join(dict.fromkeys(["'self'", js, api]))
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {js}; style-src 'self'; "
        f"img-src 'self' data:; connect-src {connect}; frame-src {js} https://hooks.stripe.com; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    return response


def _card_page(template: str, status: int = 200, **context):
    response = current_app.make_response((render_template(
        template, stripe_key=current_app.config["STRIPE_PUBLISHABLE_KEY"],
        stripe_js_url=current_app.config["STRIPE_JS_URL"], **context), status))
    return _with_stripe_csp(response)


def _member_with_household(group_id: int) -> Membership:
    """The signed-in user's membership of the group; 404 unless it has a household."""
    member = access.membership(group_id)
    if member.household_id is None:
        abort(404)
    return member


# --- agreeing to pay by card, and saving a card -------------------------------------------

#: The gifts to the solidarity pot offered as buttons (pence); "other" is typed.
GIFT_AMOUNTS = (50, 100, 200)


def gift_from_form(form) -> tuple[str | None, int | None]:
    """The gift chosen on the consent form ("gift": none, round_up, a pence amount from
    GIFT_AMOUNTS, or other with "gift_amount" typed in pounds) as (kind, fixed pence).
    ValueError in plain words for a typed amount that is not money."""
    choice = form.get("gift", "none")
    if choice in ("", "none"):
        return None, None
    if choice == "round_up":
        return "round_up", None
    if choice == "other":
        return "fixed", parse_pounds(form.get("gift_amount", ""))
    if choice.isdigit() and int(choice) in GIFT_AMOUNTS:
        return "fixed", int(choice)
    raise ValueError(_("Choose a gift from the list."))


@bp.route("/rounds/<int:round_id>/pay-by-card", methods=["POST"])
@login_required
def pay_by_card(round_id: int):
    """Agree to be charged up to today's most; then save a card if there is none."""
    rnd = paying.round_or_none(round_id)
    if rnd is None:
        abort(404)
    member = _member_with_household(rnd.group_id)
    back = url_for("resident.my_orders") + f"#round-{rnd.id}"
    if not _cards_on():
        flash(_("Card payments are not set up here. Please pay in cash."), "error")
        return redirect(back, 303)
    if request.form.get("agree") != "yes":
        flash(_("Tick the box to agree, then press the button again."), "error")
        return redirect(back, 303)
    try:
        gift_kind, gift_pence = gift_from_form(request.form)
    except ValueError as error:
        flash(str(error), "error")
        return redirect(back, 303)
    try:
        with undone_on_error():
            agreed = paying.agree_to_pay_by_card(current_app.config, rnd, member.household_id,
                                                 user=current_user, now=utcnow(),
                                                 gift_kind=gift_kind,
                                                 gift_fixed_pence=gift_pence)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(back, 303)
    if agreed.card is not None:
        flash(_("Done. We will take the exact amount from your card ending %(last4)s "
                "when orders close. It will be no more than %(most)s.",
                last4=agreed.card.last4 or "····", most=format_pence(agreed.consent.max_pence)),
              "success")
        return redirect(back, 303)
    return _card_page(
        "payments/save_card.html", client_secret=agreed.client_secret,
        action=url_for("payments.card_saved"), next_url=back,
        most_pence=agreed.consent.max_pence, round=rnd, drop_ins=agreed.drop_ins,
        title=_("Save your card"),
    )


@bp.route("/card/saved", methods=["POST"])
@login_required
def card_saved():
    """Stripe.js saved a card: read the SetupIntent from Stripe and keep the card."""
    setup_intent_id = request.form.get("setup_intent", "")
    back = same_site_path(request.form.get("next"), url_for("resident.my_orders"))
    household = paying.household_saving_card(setup_intent_id)
    if household is None:
        flash(str(cards.NOT_SAVED), "error")
        return redirect(back, 303)
    member = _member_with_household(household.group_id)
    if member.household_id != household.id:  # only a household saves its own card
        flash(str(cards.NOT_SAVED), "error")
        return redirect(back, 303)
    try:
        with undone_on_error():
            cards.finish_saving_card(current_app.config, household, setup_intent_id,
                                     user=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(back, 303)
    flash(_("Your card is saved. We take the money when orders close."), "success")
    return redirect(back, 303)


# --- our "complete payment" page ----------------------------------------------------------


def _statement(statement_id: int) -> Statement:
    """The statement if it is the signed-in resident's household's own, else 404."""
    statement = paying.statement_or_none(statement_id)
    if statement is None:
        abort(404)
    member = access.membership(statement.round.group_id)
    if member.household_id != statement.household_id:
        abort(404)
    return statement


@bp.route("/pay/<int:statement_id>")
@login_required
def pay(statement_id: int):
    statement = _statement(statement_id)
    page = paying.pay_page(current_app.config, statement)
    return _card_page(
        "payments/pay.html", statement=statement, round=statement.round,
        attempt=page.attempt, card=page.card, confirm_secret=page.confirm_secret,
        owed_pence=page.owed_pence, cards_on=page.cards_on, minimum_pence=page.minimum_pence,
        chargeable=page.chargeable, will_charge=page.will_charge, drop_ins=page.drop_ins,
        title=_("Pay for %(round)s", round=statement.round.title),
    )


@bp.route("/pay/<int:statement_id>/new-card", methods=["POST"])
@login_required
def pay_new_card(statement_id: int):
    """Start paying with a card typed in now (a new SetupIntent; the card is kept)."""
    statement = _statement(statement_id)
    back = url_for("payments.pay", statement_id=statement.id)
    if not paying.open_to_card_payment(current_app.config, statement):
        return redirect(back, 303)
    try:
        with undone_on_error():
            new_card = paying.start_new_card(current_app.config, statement,
                                             user=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(back, 303)
    return _card_page(
        "payments/save_card.html", client_secret=new_card.client_secret,
        drop_ins=new_card.drop_ins,
        action=url_for("payments.pay_charge", statement_id=statement.id), next_url=back,
        pay_pence=statement.total_pence - statement.paid_pence, round=statement.round,
        title=_("Pay by card"),
    )


@bp.route("/pay/<int:statement_id>/charge", methods=["POST"])
@login_required
def pay_charge(statement_id: int):
    """Charge the saved card now (after saving a new one here, if one was just typed in)."""
    statement = _statement(statement_id)
    back = url_for("payments.pay", statement_id=statement.id)
    if not _cards_on():
        return redirect(back, 303)
    try:
        with undone_on_error():
            attempt = paying.pay_with_card_now(
                current_app.config, statement, request.form.get("setup_intent"),
                user=current_user, now=utcnow(), commit=commit_now)
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(back, 303)
    if attempt.status == "succeeded":
        flash(_("Thank you. You have paid %(amount)s.",
                amount=format_pence(attempt.amount_pence)), "success")
    elif attempt.status == "declined":
        flash(_("Your card did not work. Nothing was taken. Try another card, or pay in cash."),
              "error")
    return redirect(back, 303)


@bp.route("/pay/<int:statement_id>/check", methods=["POST"])
@login_required
def pay_check(statement_id: int):
    """After Stripe.js asked the bank: read the payment's status from Stripe itself."""
    statement = _statement(statement_id)
    paid = paying.check_latest_attempt(current_app.config, statement, now=utcnow())
    if paid is not None:
        flash(_("Thank you. You have paid %(amount)s.",
                amount=format_pence(paid.amount_pence)), "success")
    return redirect(url_for("payments.pay", statement_id=statement.id), 303)
