"""A closed round's money: payments, cash taken and handed back, write-offs, refunds."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from bulkbuy import access
from bulkbuy.domain.money import format_pence
from bulkbuy.models import utcnow
from bulkbuy.organiser import bp
from bulkbuy.organiser.common import (
    CLOSED_STATUSES,
    _closed_round,
    _organiser,
    _round,
    _staff,
)
from bulkbuy.services import (
    ServiceError,
    credits,
    solidarity,
    statements,
)
from bulkbuy.services.payments import attempts, overview, refunds
from bulkbuy.services.payments import cash as cash_service
from bulkbuy.services.payments import saved_cards as cards
from bulkbuy.transactions import undone_on_error
from bulkbuy.validation import clean_text, optional_pounds, parse_pounds


@bp.route("/<int:group_id>/rounds/<int:round_id>/payments")
@login_required
def round_payments(group_id: int, round_id: int):
    group, _member = _staff(group_id)
    rnd = _round(group, round_id)
    if rnd.status not in CLOSED_STATUSES and not (
        rnd.status == "cancelled" and rnd.goods_total_pence is not None
    ):
        abort(404)
    return _render_payments(group, rnd)


def _render_payments(group, rnd, errors=None, typed=None, status=200):
    return render_template(
        "organiser/payments.html", group=group, round=rnd,
        payments=overview.round_payments(rnd.id), sheet=statements.order_sheet(rnd),
        cards_on=cards.cards_configured(current_app.config),
        is_organiser=access.membership(group.id).role == "organiser",
        minimum_pence=cards.MINIMUM_CHARGE_PENCE,
        overdue=rnd.pay_by is not None and utcnow() > rnd.pay_by
        and rnd.status != "cancelled",
        errors=errors or {}, typed=typed or {}, title=_("Payments: %(round)s", round=rnd.title),
    ), status


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/<int:statement_id>/write-off",
    methods=["GET", "POST"],
)
@login_required
def write_off(group_id: int, round_id: int, statement_id: int):
    """The group covers what a household still owes (or waives an amount too small for
    a card): an organiser's decision, recorded as the round's deficit. A page asks first
    ("Yes, write off £X for Flat 3"); only its form, sent with confirm=yes, writes off."""
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    statement = cash_service.statement_of_round(rnd.id, statement_id)
    if statement is None:
        abort(404)
    reason = (request.form if request.method == "POST" else request.args).get("reason", "")
    back = (url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id)
            + f"#statement-{statement.id}")
    if request.method == "GET" or request.form.get("confirm") != "yes":
        if statement.payment_status not in ("due", "needs_action"):
            flash(_("Nothing is owed on this any more."), "error")
            return redirect(back, 303)
        return render_template(
            "organiser/write_off_confirm.html", group=group, round=rnd, statement=statement,
            reason=reason, owed_pence=statement.total_pence - statement.paid_pence,
            pot_pence=solidarity.balance(group.id),
            back=back, title=_("Write off what %(household)s owes?",
                               household=statement.household.label))
    if request.form.get("from_pot") == "yes":
        # The group's solidarity pot pays it (never below zero), not the round's deficit.
        try:
            with undone_on_error():
                paid = solidarity.pay_write_off(statement, actor=current_user, now=utcnow())
        except ServiceError as error:
            flash(error.message, "error")
        else:
            flash(_("The solidarity pot paid %(amount)s for %(household)s.",
                    amount=format_pence(paid), household=statement.household.label),
                  "success")
        return redirect(back, 303)
    try:
        with undone_on_error():
            written = cash_service.write_off(statement, reason, actor=current_user,
                                             now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("Written off: %(amount)s for %(household)s.",
                amount=format_pence(written.amount_pence), household=statement.household.label),
              "success")
    return redirect(back, 303)


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/<int:statement_id>/write-off/undo",
    methods=["POST"],
)
@login_required
def undo_write_off(group_id: int, round_id: int, statement_id: int):
    """Undo a write-off made by mistake, while nothing depends on it (an organiser)."""
    group = _organiser(group_id)
    rnd = _closed_round(group, round_id)
    statement = cash_service.statement_of_round(rnd.id, statement_id)
    if statement is None:
        abort(404)
    try:
        with undone_on_error():
            written = cash_service.undo_write_off(statement, actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("Write-off undone: %(household)s owes %(amount)s again.",
                amount=format_pence(written.amount_pence), household=statement.household.label),
              "success")
    return redirect(url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id)
                    + f"#statement-{statement.id}", 303)


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/cash/<int:cash_id>/reverse",
    methods=["GET", "POST"],
)
@login_required
def reverse_cash(group_id: int, round_id: int, cash_id: int):
    """Reverse a cash entry made by mistake (organisers and workers), saying why. The
    entry is kept and marked; its amount is owed again."""
    group, _member = _staff(group_id)
    rnd = _round(group, round_id)
    cash = cash_service.cash_payment_of_round(group.id, rnd.id, cash_id)
    if cash is None:
        abort(404)
    household = cash.statement.household
    errors: dict[str, str] = {}
    reason_text = request.form.get("reason", "")
    if request.method == "POST":
        try:
            reason = clean_text(reason_text, _("Why it is a mistake"),
                                max_length=cash_service.REVERSAL_REASON_MAX, multiline=True)
        except ValueError as error:
            errors["reason"] = str(error)
        if not errors:
            try:
                with undone_on_error():
                    statement = cash_service.reverse_cash(cash, reason, actor=current_user,
                                                          now=utcnow())
            except ServiceError as error:
                errors[error.field or "reason"] = error.message
            else:
                flash(_("Reversed: %(amount)s cash (receipt %(receipt)s). %(household)s "
                        "owes %(left)s.", amount=format_pence(cash.amount_pence),
                        receipt=cash.receipt_number, household=household.label,
                        left=format_pence(statement.total_pence - statement.paid_pence)),
                      "success")
                return redirect(url_for("organiser.household_receipts", group_id=group.id,
                                        household_id=household.id), 303)
    return render_template(
        "organiser/reverse_cash.html", group=group, round=rnd, cash=cash,
        household=household, errors=errors, reason=reason_text,
        title=_("Reverse a cash entry"),
    ), 400 if errors else 200


@bp.route("/<int:group_id>/households/<int:household_id>/receipts")
@login_required
def household_receipts(group_id: int, household_id: int):
    """A household's cash receipts and write-offs, round by round (organisers and
    workers): reversed and handed-back entries shown."""
    group, member = _staff(group_id)
    household = cash_service.household_of_group(group.id, household_id)
    if household is None:
        abort(404)
    return render_template(
        "organiser/receipts.html", group=group, household=household,
        rounds=cash_service.household_receipts(household),
        is_organiser=member.role == "organiser",
        title=_("Receipts: %(household)s", household=household.label),
    )


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/card/<int:payment_id>/refund-again",
    methods=["POST"],
)
@login_required
def refund_again(group_id: int, round_id: int, payment_id: int):
    """Ask Stripe again for a refund it refused (an organiser's decision)."""
    group = _organiser(group_id)
    rnd = _round(group, round_id)
    payment = attempts.card_payment_of_round(rnd.id, payment_id)
    if payment is None:
        abort(404)
    try:
        with undone_on_error():
            refund = refunds.retry_failed_refund(payment, actor=current_user,
                                                       now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        # A card payment's household is its statement's.
        flash(_("Asked again: %(amount)s goes back to the card of %(household)s.",
                amount=format_pence(refund.amount_pence),
                household=payment.statement.household.label),
              "success")
    return redirect(url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id),
                    303)


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/cash/<int:cash_id>/returned",
    methods=["POST"],
)
@login_required
def cash_returned(group_id: int, round_id: int, cash_id: int):
    group, _member = _staff(group_id)
    rnd = _round(group, round_id)
    cash = cash_service.cash_payment_of_round(group.id, rnd.id, cash_id)
    if cash is None:
        abort(404)
    try:
        with undone_on_error():
            cash_service.record_cash_returned(cash, actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(_("Recorded: %(amount)s handed back.", amount=format_pence(cash.amount_pence)),
              "success")
    return redirect(url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id),
                    303)


@bp.route("/<int:group_id>/rounds/<int:round_id>/payments/<int:statement_id>/owed-back",
          methods=["POST"])
@login_required
def settle_owed_back(group_id: int, round_id: int, statement_id: int):
    """What the group holds for a household after a short delivery: handed back in cash
    now, or kept off its next bill (the household chooses, with a worker)."""
    group, _member = _staff(group_id)
    rnd = _closed_round(group, round_id)
    statement = cash_service.statement_of_round(rnd.id, statement_id)
    if statement is None:
        abort(404)
    choice = request.form.get("choice")
    back = ("organiser.collection" if request.form.get("back") == "collection"
            else "organiser.round_payments")
    if choice not in ("cash", "credit"):
        flash(_("Choose cash back, or keeping it for their next order."), "error")
    else:
        try:
            with undone_on_error():
                if choice == "cash":
                    done = credits.hand_back(statement, actor=current_user, now=utcnow())
                else:
                    done = credits.keep_as_credit(statement, actor=current_user, now=utcnow())
        except ServiceError as error:
            flash(error.message, "error")
        else:
            flash(_("Recorded: %(amount)s handed back in cash.",
                    amount=format_pence(done.amount_pence)) if choice == "cash" else
                  _("Recorded: %(amount)s kept for their next order.",
                    amount=format_pence(done.amount_pence)), "success")
    return redirect(url_for(back, group_id=group.id, round_id=rnd.id)
                    + f"#statement-{statement.id}", 303)


@bp.route(
    "/<int:group_id>/rounds/<int:round_id>/payments/<int:statement_id>/cash", methods=["POST"]
)
@login_required
def record_cash(group_id: int, round_id: int, statement_id: int):
    group, _member = _staff(group_id)
    rnd = _closed_round(group, round_id)
    statement = cash_service.statement_of_round(rnd.id, statement_id)
    if statement is None:
        abort(404)
    errors: dict[str, str] = {}
    amount_text = request.form.get("amount", "")
    receipt_text = request.form.get("receipt", "")
    gift_text = request.form.get("gift", "")
    try:
        amount = parse_pounds(amount_text)
    except ValueError as error:
        errors["amount"] = str(error)
    try:
        gift = optional_pounds(gift_text) or 0
    except ValueError as error:
        errors["gift"] = str(error)
    try:
        receipt = clean_text(receipt_text, _("Receipt number"), max_length=40)
    except ValueError as error:
        errors["receipt"] = str(error)
    if not errors:
        try:
            with undone_on_error():
                cash_service.record_cash(statement, amount, receipt, actor=current_user,
                                         now=utcnow(), gift_pence=gift)
        except ServiceError as error:
            errors[error.field or "amount"] = error.message
    if errors:
        typed = {"amount": amount_text, "receipt": receipt_text, "gift": gift_text}
        return _render_payments(group, rnd, {statement_id: errors}, {statement_id: typed}, 400)
    flash(_("Cash recorded: %(amount)s from %(household)s.", amount=format_pence(amount),
            household=statement.household.label), "success")
    if gift:
        flash(_("And %(gift)s for the solidarity pot. Thank you!", gift=format_pence(gift)),
              "success")
    return redirect(
        url_for("organiser.round_payments", group_id=group.id, round_id=rnd.id)
        + f"#statement-{statement.id}", 303,
    )
